//! Kata sockets::socketpair: A socketpair as a two-way channel, and messages that stay whole.
//!
//! Grade it: `cargo test --test sockets socketpair::`
//! Stuck? `cargo run -- hint sockets::socketpair`

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Fork a child that answers questions, over one socketpair (a socket goes both ways: one
/// descriptor in each process is enough, where pipes need two). Send each request in turn as a
/// frame (your `sockets::framing`); the child answers it with the frame `answer(&request)`.
/// Return the answers in order, after the child has exited and been reaped.
///
/// Read first: `man 2 socketpair`, `man 7 unix`, `man 2 fork`.
///
/// The grader checks every answer in order for any list of requests (property), that `answer`
/// runs in the child, megabytes each way without a deadlock, that the child exits when there
/// is nothing to ask, and that no zombie or descriptor is left.
pub fn ask_child(requests: &[Vec<u8>], answer: fn(&[u8]) -> Vec<u8>) -> io::Result<Vec<Vec<u8>>> {
    todo!("ask a child {} questions over a socketpair, answered by {:p}", requests.len(), answer as *const ())
}

/// The largest message a [`MessageSocket`] sends or receives.
pub const MAX_MESSAGE: usize = 65536;

/// One end of a connected pair of Unix sockets that keep message boundaries: every `send`
/// arrives as one message, whole, in order. The end closes when dropped.
///
/// The field is a suggestion: change it as you like.
#[derive(Debug)]
pub struct MessageSocket {
    fd: OwnedFd,
}

/// A connected pair of message sockets: `SOCK_SEQPACKET`, which keeps boundaries like a
/// datagram socket and, like a stream, tells the reader when the other end has closed.
///
/// Read first: `man 2 socketpair`, `man 7 unix` (SOCK_SEQPACKET, SOCK_DGRAM).
///
/// The grader checks the socket type, messages sent back to back from another process (where a
/// stream socket merges them), both directions, and end-of-file.
pub fn message_pair() -> io::Result<(MessageSocket, MessageSocket)> {
    todo!("a connected pair of SOCK_SEQPACKET sockets")
}

impl MessageSocket {
    /// Send `message` as one message.
    ///
    /// Errors: an empty message (it could not be told from the end of the channel) or one longer
    /// than [`MAX_MESSAGE`] → `InvalidInput`, before anything is sent.
    ///
    /// Read first: `man 2 send` (MSG_NOSIGNAL).
    pub fn send(&self, message: &[u8]) -> io::Result<()> {
        todo!("send a message of {} bytes on {:?}", message.len(), self.fd)
    }

    /// Receive the next message, whole; `Ok(None)` once the other end is closed.
    ///
    /// A receive buffer smaller than the message silently cuts it: receive into room for
    /// [`MAX_MESSAGE`] bytes, and report a longer message that someone else sent as
    /// `InvalidData`, never as a cut one.
    ///
    /// Read first: `man 2 recv` (MSG_TRUNC).
    pub fn recv(&self) -> io::Result<Option<Vec<u8>>> {
        todo!("receive one message on {:?}", self.fd)
    }
}

impl AsFd for MessageSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        todo!("the descriptor of {:?}", self.fd)
    }
}
