//! Kata event_loop::serve_many: One thread and one epoll instance serve many clients.
//!
//! Grade it: `cargo test --test event_loop serve_many::`
//! Stuck? `cargo run -- hint event_loop::serve_many`
//! Afterwards, read the model answer: `solutions/interview/q6_many_channels.md`.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;

/// The longest request line, in bytes, without its newline.
pub const MAX_LINE: usize = 4096;

/// What [`serve_many`] served: the clients it accepted and the request lines it answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Served {
    pub clients: usize,
    pub lines: usize,
}

/// Serves every client of `listener` in one thread with one epoll instance until `stop` is
/// readable (a byte, or end-of-file), then returns what it served.
///
/// The protocol: a request is a line ending in `\n`. For each one, call `handler(line)` (the
/// line without its newline) and send its answer followed by `\n`; each client gets its answers
/// in the order it sent the lines. A line longer than [`MAX_LINE`] bytes closes that client
/// (the others go on). When a client shuts down its sending side (end-of-file), answer every
/// whole line it sent, then close it. Count in [`Served`] the clients accepted and the lines
/// answered.
///
/// The rules of the kata, which are what an interviewer asks about:
/// - one thread, one `epoll` instance for the listener, every client and `stop`; no `poll`,
///   no thread per client;
/// - the listener and the clients edge-triggered (`EPOLLET`) and non-blocking: an edge says
///   "something changed", so read (and accept) until `WouldBlock`, or what is left never makes
///   a new edge;
/// - fairness: a client that sends megabytes must not keep a small one waiting, so read one
///   client only so much before the others have their turn (and remember that it had more);
/// - a client that does not read its answers must not stop the others, nor make you lose answers:
///   keep what the socket does not take and send it when `EPOLLOUT` says there is room (and
///   stop reading a client whose unsent answers pile up);
/// - a client that hangs up (`EPOLLRDHUP`, `EPOLLHUP`, `EPOLLERR`) is deregistered and closed; a
///   client that closes without reading must not kill the server with `SIGPIPE`;
/// - every descriptor close-on-exec; `accept` failing with `EMFILE` must not make the loop spin.
///
/// Read first: `man 7 epoll` (the edge-triggered section and its questions and answers),
/// `man 2 epoll_ctl`, `man 2 accept4`, `man 2 send` (`MSG_NOSIGNAL`), `man 7 unix`;
/// `nix::sys::epoll::Epoll`.
///
/// The grader runs your server in a process of its own and plays the clients: client programs
/// at once, clients connected before the loop starts, a line sent in pieces, a burst of lines,
/// a client that reads nothing until it has sent megabytes, a big sender beside a small one,
/// hang-ups, half-closes, lines of [`MAX_LINE`] and one byte more, and both ways to stop. It
/// reads `/proc` to check one thread, one epoll instance, `EPOLLET` and non-blocking
/// descriptors, and that the server sleeps in `epoll_wait` when there is nothing to do.
pub fn serve_many(listener: UnixListener, stop: OwnedFd, handler: impl FnMut(&[u8]) -> Vec<u8>) -> io::Result<Served> {
    let _ = &handler;
    todo!("serve the clients of {listener:?} in one epoll loop until {stop:?} is readable")
}
