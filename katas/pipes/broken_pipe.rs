//! Kata pipes::broken_pipe: Write to a pipe nobody reads.
//!
//! Grade it: `cargo test --test pipes broken_pipe::`
//! Stuck? `cargo run -- hint pipes::broken_pipe`

use std::io;

/// Make a pipe, close its read end, then write `data` into the write end. Return the error the
/// write gets, which is `io::ErrorKind::BrokenPipe` (EPIPE), and stay alive.
///
/// The grader runs your code the way a C program runs: SIGPIPE has its default action, which
/// kills the process. Rust programs ignore SIGPIPE at start-up, so you may never have met it.
/// Do not change how the rest of the process handles SIGPIPE: when you return, its disposition
/// and your thread's signal mask are as they were, and no SIGPIPE is left pending.
///
/// Writing no bytes needs no reader: with empty `data`, return `Ok(())`.
///
/// Read first: `man 7 pipe` (I/O on pipes and FIFOs), `man 7 signal`, `man 3 pthread_sigmask`,
/// `man 2 sigtimedwait`.
pub fn broken_pipe(data: &[u8]) -> io::Result<()> {
    todo!("write {} bytes to a pipe whose reader is gone and return the error", data.len())
}
