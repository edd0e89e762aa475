//! Answer to kata sockets::pass_fd: Pass an open file to another process (SCM_RIGHTS).

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, UnixAddr, recvmsg, sendmsg};

/// Sends a duplicate of `fd` over the Unix socket `over`, as an `SCM_RIGHTS` control message
/// with one byte of ordinary data (a control message needs some data to travel with). The
/// receiver gets a new descriptor for the same open file: same offset, same flags. `fd` stays
/// open here. See `man 7 unix` (SCM_RIGHTS), `man 3 cmsg`, `man 2 sendmsg`.
pub fn send_fd(over: &UnixStream, fd: BorrowedFd<'_>) -> io::Result<()> {
    let fds = [fd.as_raw_fd()];
    let data = [IoSlice::new(b"F")];
    let rights = [ControlMessage::ScmRights(&fds)];
    loop {
        match sendmsg::<UnixAddr>(over.as_raw_fd(), &data, &rights, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receives one descriptor sent with [`send_fd`], close-on-exec (`MSG_CMSG_CLOEXEC`), so that
/// a program this process runs later does not inherit it.
///
/// Errors: the peer closed without sending → `UnexpectedEof`; data came without a descriptor,
/// or with more than one → `InvalidData`, after closing every descriptor that came (each one
/// received is open in this process: dropping it is the only way not to leak it).
pub fn recv_fd(over: &UnixStream) -> io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut data = [IoSliceMut::new(&mut byte)];
    // Room for the most descriptors one message may carry (SCM_MAX_FD, 253): the kernel never
    // has to drop any, and every one that arrives is ours to close.
    let mut space = nix::cmsg_space!([RawFd; 253]);
    let message = loop {
        match recvmsg::<UnixAddr>(over.as_raw_fd(), &mut data, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
            Ok(message) => break message,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    let mut received: Vec<OwnedFd> = Vec::new();
    for control in message.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = control {
            // SAFETY: the kernel installed these descriptors in this process for us; nothing
            // else owns them.
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
            format!("expected one descriptor, {n} came (each one received was closed)"),
        )),
    }
}
