//! Kata signals::shutdown: Shut down cleanly on SIGTERM.
//!
//! Grade it: `cargo test --test signals shutdown::`
//! Stuck? `cargo run -- hint signals::shutdown`

use std::io;

use nix::sys::signal::Signal;

/// Create a SysV message queue with `sysv_key` and a POSIX shared memory object named
/// `shm_name`, both owner-only (mode 0600) and exclusively (`IPC_EXCL`, `O_EXCL`); call
/// `ready()` once both exist; then wait until SIGTERM or SIGINT arrives, remove both objects,
/// and return the signal that asked you to stop. The grader runs it in a worker process that
/// must then exit 0.
///
/// A stop request may come at any moment, even while `ready()` runs: it must neither kill the
/// process (SIGTERM's default action) with the objects still there, nor be lost.
///
/// Read first: `man 7 signal`, `man 2 sigprocmask`, `man 3 sigwait` (or a handler and
/// `sigsuspend`), `man 2 msgget`, `man 2 msgctl`, `man 3 shm_open`, `man 3 shm_unlink`.
///
/// Errors: a key already taken is `AlreadyExists`, a name that is not `/` plus a name without
/// slashes is `InvalidInput` (check it before you make anything); either way nothing is left
/// behind.
///
/// The grader checks: while it runs both objects exist with mode 0600; after SIGTERM (or
/// SIGINT) from another process, or one raised during `ready()`, both are gone and the worker
/// exits 0 having returned that signal; a `ready()` that panics leaves no object behind and
/// the thread's signal mask as it was (restore it on every way out, unwinding included). The
/// mask is per thread: think about what a SIGTERM does to a process with other threads.
pub fn serve_until_signalled(sysv_key: i32, shm_name: &str, ready: impl FnOnce()) -> io::Result<Signal> {
    let _ = ready;
    todo!("make queue {sysv_key:#x} and {shm_name:?}, serve until SIGTERM or SIGINT, clean up")
}
