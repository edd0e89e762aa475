//! Kata event_loop::exec_hygiene: Start a program that inherits only descriptors 0, 1 and 2.
//!
//! Grade it: `cargo test --test event_loop exec_hygiene::`
//! Stuck? `cargo run -- hint event_loop::exec_hygiene`

use std::io;
use std::path::Path;

/// How the program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// It exited with this status (`WEXITSTATUS`).
    Code(i32),
    /// It was killed by this signal (`WTERMSIG`).
    Signal(i32),
}

/// What the program printed on its standard output, and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub status: Status,
    pub stdout: Vec<u8>,
}

/// Run `program` as a filter: write `input` to its standard input, return everything it wrote
/// to its standard output and how it ended. `program` is a path (no PATH search); its argv is
/// the path followed by `args`; `env` is its whole environment (`NAME=value` each), nothing of
/// the caller's.
///
/// Every server that runs a helper program (a CGI script, a compressor, a git hook) meets this,
/// so do it by hand, with `nix::unistd::{pipe2, fork, dup2, execve}` or `libc`, not with
/// `std::process::Command` (which does all of it for you): a pipe for the program's stdin and
/// one for its stdout, `fork`, in the child `dup2` the two ends onto 0 and 1 and `execve`; in
/// the parent feed the input, close the write end, read the output to end-of-file, and reap the
/// child with `waitpid` on its pid.
///
/// The program must start clean:
/// - it holds exactly descriptors 0 (its stdin pipe), 1 (its stdout pipe) and 2 (the caller's
///   stderr), nothing else. A copy of its stdin pipe's write end, in the program or left open
///   in the parent, and the program never sees end-of-file. Every descriptor you make must be
///   close-on-exec from the moment it exists (`pipe2(O_CLOEXEC)`, `O_CLOEXEC`, `SOCK_CLOEXEC`),
///   because another thread of the caller may start a program of its own at any instant; and
///   the descriptors the caller left without close-on-exec are not yours to fix, but must not
///   reach the program either (`man 2 close_range`, in the child);
/// - its signal mask is empty and SIGPIPE is at its default action: both survive `exec`, and a
///   caller that reads signals from a signalfd has them blocked.
///
/// Between `fork` and `exec` the child of a multi-threaded process may only make
/// async-signal-safe calls (`man 7 signal-safety`): `dup2`, `fcntl`, `close`, `sigprocmask`,
/// `sigaction`, `write`, `execve`, `_exit`. No allocation (another thread may have held the
/// allocator's lock at the fork, forever in the child), no `format!`, no `CString::new`, no
/// panic: prepare every C string and pointer array before the fork.
///
/// Feed and read at the same time (one `poll` loop over both pipes): a program that writes as it
/// reads fills its output pipe (64 KiB) while you are still writing, and then both of you wait
/// forever. A program that exits without reading all its input is not an error: the write
/// fails with EPIPE, and the SIGPIPE that comes with it must not kill the caller.
///
/// Errors: an argument, a variable or the path with a NUL byte, or a variable name that is
/// empty or has `=`: `InvalidInput`, and nothing is started. A program that cannot be started
/// is the error `execve` gave, its kind `NotFound` or `PermissionDenied`, never an exit status:
/// the child cannot return it to you, so send its errno back through a close-on-exec pipe
/// (end-of-file on it means the exec succeeded). An exit status or a signal of a program that
/// did start is not an error: it is the `status` of the `Output`.
///
/// Read first: `man 2 pipe2`, `man 2 dup2`, `man 2 execve`, `man 2 close_range`,
/// `man 7 signal-safety`, `man 2 poll`, `man 2 waitpid`.
///
/// The grader runs a program of its own that lists the descriptors it was given (each with what
/// it points to), its environment and its signal mask, then reads its stdin to end-of-file. It
/// checks that nothing but 0, 1 and 2 arrives, even what the caller opened without
/// close-on-exec; that a program the caller starts in another thread meanwhile gets none of
/// your descriptors; end-of-file on stdin; a megabyte in and out; exit codes and signals; a
/// missing and a non-executable program; that the caller's other children are left alone; and
/// that no descriptor or zombie is left once you return.
pub fn run_filter(program: &Path, args: &[&str], env: &[(&str, &str)], input: &[u8]) -> io::Result<Output> {
    todo!("run {program:?} with {args:?} and {} variables on {} bytes of input", env.len(), input.len())
}
