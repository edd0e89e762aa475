//! Kata fifos::make_fifo: Make a named pipe.
//!
//! Grade it: `cargo test --test fifos make_fifo::`
//! Stuck? `cargo run -- hint fifos::make_fifo`

use std::io;
use std::path::Path;

/// Create a FIFO (named pipe) at `path` that only its owner may read and write: mode `0600`.
///
/// Errors: the path is taken (by anything) → `AlreadyExists`; its directory does not exist →
/// `NotFound`; the path contains a NUL byte → `InvalidInput`. Never remove what is there.
///
/// Read first: `man 3 mkfifo`, `man 7 fifo`. Useful Rust: `nix::unistd::mkfifo`,
/// `nix::sys::stat::Mode`.
///
/// The grader checks the file type and the exact mode bits (it runs your code with umask 0, so
/// the mode you ask for is the mode you get), the errors above, and that the FIFO outlives the
/// process that made it.
pub fn make_fifo(path: &Path) -> io::Result<()> {
    todo!("mkfifo {path:?} with mode 0600")
}
