//! Answer to kata trust::sealed_memfd: Share bytes the receiver can trust: a sealed memfd over SCM_RIGHTS.
//!
//! The model answer to the question: `solutions/interview/q7_untrusted_memory.md`.
//!
//! The sender writes the bytes into an anonymous file (`memfd_create`) and seals it against every
//! change before it passes the descriptor; the receiver checks the seals before it maps the file,
//! so nothing the sender does afterwards can change or remove the pages it reads.

use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Write};
use std::num::NonZeroUsize;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::mman::{self, MapFlags, ProtFlags};
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, UnixAddr, recvmsg, sendmsg};

/// The longest name `memfd_create` takes: 249 bytes (`man 2 memfd_create`: "limited to 249
/// bytes, excluding the terminating null byte"; the kernel's `MFD_NAME_MAX_LEN`, 255 less the
/// `memfd:` prefix it adds).
pub const MAX_MEMFD_NAME: usize = 249;

/// Writes `data` into a new memfd called `name`, seals it against shrinking, growing, writing
/// and further sealing, and sends it over `over` (one `SCM_RIGHTS` descriptor with one byte of
/// data). Nothing stays open here: the receiver's descriptor keeps the file alive.
///
/// The bytes are written with `write(2)`, not through a shared mapping: `F_SEAL_WRITE` is
/// refused with `EBUSY` while a writable shared mapping of the file exists (`man 2 fcntl`, File
/// Sealing). `send` uses `MSG_NOSIGNAL`, so a receiver that has gone is `BrokenPipe`, not SIGPIPE.
///
/// Errors: a name with a NUL or longer than [`MAX_MEMFD_NAME`] is `InvalidInput`, before anything is
/// made; the rest as the kernel says.
pub fn share_sealed(over: &UnixStream, name: &str, data: &[u8]) -> io::Result<()> {
    if name.len() > MAX_MEMFD_NAME || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is no memfd name: at most {MAX_MEMFD_NAME} bytes, and no NUL"),
        ));
    }
    // MFD_ALLOW_SEALING: without it a memfd starts with F_SEAL_SEAL and can never be sealed.
    let mut file = File::from(memfd_create(name, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)?);
    file.write_all(data)?;
    let seals = SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE | SealFlag::F_SEAL_SEAL;
    fcntl(&file, FcntlArg::F_ADD_SEALS(seals))?;
    let fds = [file.as_raw_fd()];
    let rights = [ControlMessage::ScmRights(&fds)];
    loop {
        match sendmsg::<UnixAddr>(over.as_raw_fd(), &[IoSlice::new(b"M")], &rights, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Bytes another process shared with [`share_sealed`], mapped read-only where they are: the
/// memfd's pages, with no copy. Dropping it unmaps them.
#[derive(Debug)]
pub struct Sealed {
    /// The mapping, or `None` for an empty file (a mapping of 0 bytes is `EINVAL`).
    map: Option<(NonNull<u8>, NonZeroUsize)>,
}

/// The seals without which no byte of a memfd can be trusted: with any one missing, its owner
/// can still change the bytes, or shrink the file under the mapping so that reading it is SIGBUS.
const REQUIRED: [(SealFlag, &str); 3] = [
    (SealFlag::F_SEAL_SHRINK, "F_SEAL_SHRINK"),
    (SealFlag::F_SEAL_GROW, "F_SEAL_GROW"),
    (SealFlag::F_SEAL_WRITE, "F_SEAL_WRITE"),
];

/// Receives one memfd sent with [`share_sealed`] and maps it, after checking that it cannot change:
/// its seals (`F_GET_SEALS`) must hold `F_SEAL_SHRINK`, `F_SEAL_GROW` and `F_SEAL_WRITE`, and it
/// may hold at most `max_len` bytes. Seals can only be added, never removed, so once they are
/// seen they hold for good.
///
/// Errors, after closing every descriptor that came: the peer closed without sending →
/// `UnexpectedEof`; no descriptor, more than one, or a file larger than `max_len` →
/// `InvalidData`; a descriptor missing a required seal → `PermissionDenied`, and so is one that
/// cannot be sealed at all (`F_GET_SEALS` is `EINVAL` for a pipe or a file on most file systems;
/// a file on tmpfs has only `F_SEAL_SEAL`).
pub fn receive_sealed(over: &UnixStream, max_len: usize) -> io::Result<Sealed> {
    let fd = receive_one_fd(over)?;
    let seals = match fcntl(&fd, FcntlArg::F_GET_SEALS) {
        Ok(bits) => SealFlag::from_bits_truncate(bits),
        // A pipe, a socket, a file on most file systems: it has no seals and can never have any.
        Err(Errno::EINVAL) => {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the descriptor cannot be sealed: it is no memfd",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let missing: Vec<&str> =
        REQUIRED.iter().filter(|(seal, _)| !seals.contains(*seal)).map(|(_, name)| *name).collect();
    if !missing.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("the memfd is not sealed with {}: its sender could still change it", missing.join(", ")),
        ));
    }
    // The size is read after the seals: with F_SEAL_SHRINK and F_SEAL_GROW it can no longer move.
    let size = usize::try_from(nix::sys::stat::fstat(&fd)?.st_size).unwrap_or(usize::MAX);
    if size > max_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the memfd holds {size} bytes, more than the {max_len} accepted"),
        ));
    }
    let Some(len) = NonZeroUsize::new(size) else {
        return Ok(Sealed { map: None });
    };
    // SAFETY: a fresh read-only mapping of the whole file (len bytes from offset 0), overlapping
    // nothing of ours. The seals checked above mean no one can write those pages or cut the file
    // under them, so the mapping holds the same bytes for as long as it exists.
    let addr = unsafe { mman::mmap(None, len, ProtFlags::PROT_READ, MapFlags::MAP_SHARED, &fd, 0)? };
    // The mapping keeps the file alive; the descriptor is not needed any more.
    drop(fd);
    Ok(Sealed { map: Some((addr.cast(), len)) })
}

/// Receives one message and exactly one descriptor with it (close-on-exec), closing any others.
fn receive_one_fd(over: &UnixStream) -> io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut data = [IoSliceMut::new(&mut byte)];
    // Room for the most descriptors one message carries (SCM_MAX_FD, 253): the kernel drops none
    // silently, and each one that arrives is closed below unless it is the one.
    let mut space = nix::cmsg_space!([RawFd; 253]);
    let message = loop {
        match recvmsg::<UnixAddr>(over.as_raw_fd(), &mut data, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
            Ok(message) => break message,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    let mut received: Vec<OwnedFd> = Vec::new();
    for control in message.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = control {
            // SAFETY: the kernel installed these descriptors in this process for this message;
            // nothing else owns them.
            received.extend(fds.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    if message.bytes == 0 && received.is_empty() {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the peer closed the socket without sending"));
    }
    match received.len() {
        1 => Ok(received.remove(0)),
        n => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("expected one memfd, {n} descriptors came (each one was closed)"),
        )),
    }
}

impl Sealed {
    /// The shared bytes, read in place.
    pub fn bytes(&self) -> &[u8] {
        match self.map {
            // SAFETY: the mapping is len readable bytes that live as long as self, and the seals
            // receive_sealed checked mean no process can change them: a shared reference is sound.
            Some((addr, len)) => unsafe { std::slice::from_raw_parts(addr.as_ptr(), len.get()) },
            None => &[],
        }
    }
}

impl Drop for Sealed {
    /// Unmaps the bytes; the memfd is freed when the last mapping and descriptor are gone.
    fn drop(&mut self) {
        if let Some((addr, len)) = self.map {
            // SAFETY: exactly the mapping mmap returned; no reference into it outlives self.
            let _ = unsafe { mman::munmap(addr.cast(), len.get()) };
        }
    }
}
