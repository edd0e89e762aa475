//! Kata interview::q2_pipes_vs_sockets: One conversation over two pipes and over one Unix socket.
//!
//! Grade it: `cargo test --test interview q2_pipes_vs_sockets::`
//! Stuck? `cargo run -- hint interview::q2_pipes_vs_sockets`
//! Afterwards, read the model answer: `solutions/interview/q2_pipes_vs_sockets.md`.
//!
//! The same request-and-answer exchange, twice:
//!
//! - [`over_pipes`]: with a child you fork. A pipe goes one way, so a conversation needs two,
//!   and each process must close the ends it does not use, or nobody ever sees end-of-file.
//! - [`over_socket`]: with a server that is a separate program, not your child: it shares no
//!   descriptor with you, only a path in the file system. One connected socket carries both
//!   directions.
//!
//! On the wire, both ways: each message is a frame, its length as a 4-byte big-endian `u32`
//! then its bytes (your `sockets::write_frame` / `sockets::read_frame` write exactly that).
//! Write the conversation once, over any `Read` and `Write`, and use it for both.
//!
//! Read first: `man 2 pipe`, `man 7 pipe`, `man 2 fork`, `man 2 waitpid`, `man 7 unix`,
//! `std::os::unix::net::UnixStream`.
//!
//! The grader checks: every answer, in order, for any requests (a property, empty and large
//! ones included); no request still ends the child; the child is reaped and no descriptor is
//! left open; the server program answers in small pieces, so one `read` is not one answer, and
//! it checks that you closed the connection when done; no server at the path is an error; a
//! request larger than [`MAX_MESSAGE`] is `InvalidInput` and nothing is sent.

use std::io;
use std::path::Path;

/// The largest request or answer either side sends.
pub const MAX_MESSAGE: usize = 1 << 20;

/// Forks a child that answers requests: for each request the parent sends down one pipe, the
/// child sends `answer(&request)` back up a second pipe, until the parent closes the request
/// pipe; then the child exits. Returns the answers in the order of the requests, after the child
/// has been reaped.
///
/// Errors: a request longer than [`MAX_MESSAGE`] → `InvalidInput`, before any fork; the child
/// failing → an error, not a panic.
pub fn over_pipes(requests: &[Vec<u8>], answer: fn(&[u8]) -> Vec<u8>) -> io::Result<Vec<Vec<u8>>> {
    todo!("ask a child {} requests over two pipes, answered with {:p}", requests.len(), answer as *const ())
}

/// Connects to the Unix stream socket server at `path` (another program), sends each request
/// and reads its answer over the one socket, and closes the connection when done. Returns the
/// answers in the order of the requests.
///
/// Errors: no server at `path` → the error `connect` gives (`NotFound` or
/// `ConnectionRefused`); a request longer than [`MAX_MESSAGE`] → `InvalidInput`, before
/// anything is sent; the server closing early → `UnexpectedEof`.
pub fn over_socket(path: &Path, requests: &[Vec<u8>]) -> io::Result<Vec<Vec<u8>>> {
    todo!("ask the server at {} {} requests over one Unix socket", path.display(), requests.len())
}
