//! Kata sockets::pass_fd: Pass an open file to another process (SCM_RIGHTS).
//!
//! Grade it: `cargo test --test sockets pass_fd::`
//! Stuck? `cargo run -- hint sockets::pass_fd`

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// Send the open file behind `fd` over the Unix socket `over` to the process at the other end.
/// The receiver must get the same open file, not the same number and not the same path: its
/// reads move the offset this process sees, and it can read a file it could not open by name.
/// `fd` stays open here.
///
/// Read first: `man 7 unix` (SCM_RIGHTS), `man 3 cmsg`, `man 2 sendmsg`.
///
/// The grader's receiver is a separate program; it reads the file from where this process had
/// got to, and the grader checks that this process's offset moved with it.
pub fn send_fd(over: &UnixStream, fd: BorrowedFd<'_>) -> io::Result<()> {
    todo!("send the open file {fd:?} over {over:?}")
}

/// Receive one descriptor sent with [`send_fd`] and return it, close-on-exec (so that a program
/// this process runs later does not inherit it).
///
/// Errors: the peer closed without sending anything → `UnexpectedEof`; a message without a
/// descriptor, or with more than one → `InvalidData`. Every descriptor that arrives is open in
/// this process: close the ones you do not return.
///
/// Read first: `man 2 recvmsg`, `man 3 cmsg`, `man 7 unix` (MSG_CMSG_CLOEXEC).
///
/// The grader's sender is a separate program that opens a file, reads part of it and sends it;
/// it also sends messages with no descriptor, with three, or nothing at all.
pub fn recv_fd(over: &UnixStream) -> io::Result<OwnedFd> {
    todo!("receive a descriptor over {over:?}")
}
