//! Kata pipes::child_to_parent: A child sends bytes to its parent.
//!
//! Grade it: `cargo test --test pipes child_to_parent::`
//! Stuck? `cargo run -- hint pipes::child_to_parent`

use std::io;

/// Fork a child that writes `data` into a pipe and exits; in the parent, read everything the
/// child wrote, reap the child, and return the bytes.
///
/// Read first: `man 2 pipe`, `man 2 fork`, `man 2 waitpid`, `man 7 pipe` (capacity, end-of-file).
/// Useful Rust: `nix::unistd::{pipe, fork}`, `nix::sys::wait::waitpid`, `std::fs::File::from`
/// an `OwnedFd`.
///
/// The grader checks:
/// - any data from 0 bytes to 1 MiB arrives exactly (a property test, edge sizes included);
/// - the child is reaped before you return: no zombie;
/// - no file descriptor is left open, in the parent;
/// - the child ends as a child should: it never returns into your caller's code.
pub fn child_to_parent(data: &[u8]) -> io::Result<Vec<u8>> {
    todo!("fork a child that writes {} bytes into a pipe; read them back in the parent", data.len())
}
