//! Kata pipes::pipeline: Build the shell pipeline a | b | c.
//!
//! Grade it: `cargo test --test pipes pipeline::`
//! Stuck? `cargo run -- hint pipes::pipeline`

use std::io;

/// Run `stages` as a pipeline. Each stage is a program and its arguments, for example
/// `&[&["tr", "a-z", "A-Z"], &["sort"]]`. `input` goes to the first stage's standard input, each
/// stage's standard output goes to the next stage's standard input, and the last stage's
/// standard output is returned. Do it yourself with pipes, `fork`, `dup2` and `execvp`
/// (not `std::process::Command`: this kata is about what it does for you).
///
/// Errors:
/// - no stages, or a stage with no program name: `io::ErrorKind::InvalidInput`;
/// - a program that does not exist: `io::ErrorKind::NotFound`;
/// - any stage that exits with a non-zero status or dies of a signal (as with
///   `set -o pipefail`): an error whose message names the stage's program.
///
/// Read first: `man 2 pipe`, `man 2 dup2`, `man 3 execvp`, `man 2 waitpid`, `man 7 signal-safety`.
///
/// The grader checks: 1 to 5 stages, input and output larger than a pipe buffer (1 MiB),
/// every stage reaped, no descriptor left open, and the errors above; a caller whose stdin and
/// stdout are closed (so a pipe end may already be fd 0) gets the output all the same; signals
/// caught while it waits for a stage (EINTR) do not fail it.
pub fn pipeline(stages: &[&[&str]], input: &[u8]) -> io::Result<Vec<u8>> {
    todo!("run {stages:?} as a pipeline on {} bytes of input", input.len())
}
