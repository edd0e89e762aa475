//! Kata trust::sealed_memfd: Share bytes the receiver can trust: a sealed memfd over SCM_RIGHTS.
//!
//! Grade it: `cargo test --test trust sealed_memfd::`
//! Stuck? `cargo run -- hint trust::sealed_memfd`
//! Afterwards, read the model answer: `solutions/interview/q7_untrusted_memory.md`.
//!
//! Shared memory is the fastest way to hand a process megabytes, and the most dangerous when the
//! other side may be hostile: whoever can still write the pages can change them while you read
//! them (you check a length, it changes, you read past it), and whoever can still truncate the
//! file can make your next read of the mapping a SIGBUS that kills you. A memfd (an anonymous
//! file in memory, `man 2 memfd_create`) can be *sealed*: once `F_SEAL_WRITE`, `F_SEAL_SHRINK`
//! and `F_SEAL_GROW` are on it, no process, its creator included, can change its bytes or its
//! size, and seals can never be taken off. So the receiver checks the seals, then maps the file
//! and reads it in place, with nothing to fear.

use std::io;
use std::num::NonZeroUsize;
use std::os::unix::net::UnixStream;
use std::ptr::NonNull;

/// The longest name `memfd_create` takes: 249 bytes (`man 2 memfd_create`).
pub const MAX_MEMFD_NAME: usize = 249;

/// Writes `data` into a new memfd called `name`, seals it against shrinking, growing, writing
/// and any further sealing (`F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL`), and
/// sends its descriptor over the Unix socket `over` as one `SCM_RIGHTS` message. Nothing stays
/// open in this process when it returns: the receiver's descriptor keeps the file alive.
///
/// A receiver that has gone is an error (`BrokenPipe`), not a SIGPIPE that ends this process.
/// Errors: a name with a NUL or longer than [`MAX_MEMFD_NAME`] is `InvalidInput`, before anything is made.
///
/// Read first: `man 2 memfd_create` (MFD_ALLOW_SEALING), `man 2 fcntl` (File Sealing, and why
/// `F_SEAL_WRITE` can fail with EBUSY), `man 7 unix` (SCM_RIGHTS).
///
/// The grader receives the descriptor itself and attacks the file: it tries to write it, cut it,
/// grow it, map it writable and add a seal, and reads what your process still holds open.
pub fn share_sealed(over: &UnixStream, name: &str, data: &[u8]) -> io::Result<()> {
    todo!("seal the {} bytes of {name:?} in a memfd and send it over {over:?}", data.len())
}

/// Bytes another process shared with [`share_sealed`], mapped read-only where they are (no
/// copy). Dropping it unmaps them.
///
/// The field is a suggestion: change it as you like (the grader uses [`Sealed::bytes`]).
#[derive(Debug)]
pub struct Sealed {
    /// The mapping's address and length, or `None` for an empty file (mapping 0 bytes is EINVAL).
    map: Option<(NonNull<u8>, NonZeroUsize)>,
}

/// Receives one memfd sent with [`share_sealed`], checks that it cannot change, and maps it
/// read-only. "Cannot change" means its seals (`F_GET_SEALS`) include `F_SEAL_SHRINK`,
/// `F_SEAL_GROW` and `F_SEAL_WRITE`; and it may hold at most `max_len` bytes. Check before you
/// map: a mapping of a file its sender can still cut is a SIGBUS waiting for your next read.
/// The descriptor is not kept: the mapping keeps the file alive.
///
/// Errors, each after closing every descriptor that came: the peer closed without sending →
/// `UnexpectedEof`; a message with no descriptor or more than one, or a file larger than
/// `max_len` → `InvalidData`; a descriptor missing one of the three seals → `PermissionDenied`,
/// and so is one that cannot be sealed at all (a pipe, a plain file).
///
/// Read first: `man 2 fcntl` (F_GET_SEALS), `man 2 recvmsg` (MSG_CMSG_CLOEXEC), `man 2 mmap`.
///
/// The grader is the sender, and it is hostile: it sends memfds missing a seal and then changes
/// or cuts them under your mapping, pipes, two descriptors at once, files too big, and nothing.
pub fn receive_sealed(over: &UnixStream, max_len: usize) -> io::Result<Sealed> {
    todo!("receive a memfd of at most {max_len} bytes over {over:?}, check its seals, map it")
}

impl Sealed {
    /// The shared bytes, read in place from the mapping.
    pub fn bytes(&self) -> &[u8] {
        todo!("the bytes of the mapping {:?}", self.map)
    }
}

impl Drop for Sealed {
    /// Unmaps the bytes.
    fn drop(&mut self) {
        todo!("unmap {:?}", self.map)
    }
}
