//! Kata pipes::ask_child: Ask a child questions over two pipes.
//!
//! Grade it: `cargo test --test pipes ask_child::`
//! Stuck? `cargo run -- hint pipes::ask_child`

use std::io;

/// Fork a child that answers questions. Send it each request in turn over one pipe; the child
/// computes `answer(&request)` and sends the result back over a second pipe. Return the answers
/// in the order of the requests, after the child has exited and been reaped.
///
/// A pipe is a byte stream with no message boundaries: choose a framing (for example a length
/// followed by the bytes) so each side knows where a message ends.
///
/// Read first: `man 2 pipe`, `man 2 fork`, `man 7 pipe`.
///
/// The grader checks:
/// - every answer matches its request, in order, for any number of requests (property test);
/// - `answer` runs in the child, not in the parent;
/// - many large requests and answers (megabytes in each direction) do not deadlock;
/// - no request means no answer, and the child still exits;
/// - no zombie, no descriptor left open.
pub fn ask_child(requests: &[Vec<u8>], answer: fn(&[u8]) -> Vec<u8>) -> io::Result<Vec<Vec<u8>>> {
    todo!("send {} requests to a child that replies with answer({:p}) to each", requests.len(), answer as *const ())
}
