//! Kata signals::wait_for_child_signal: Never miss a child's signal.
//!
//! Grade it: `cargo test --test signals wait_for_child_signal::`
//! Stuck? `cargo run -- hint signals::wait_for_child_signal`

use std::io;

use nix::unistd::Pid;

/// Fork a child that sends SIGUSR1 to its parent **at once** (no sleep) and exits. In the
/// parent, call `meanwhile(child_pid)` (the parent's own work: it may take any time, and the
/// child may well have signalled and exited before it returns), then wait for the child's
/// SIGUSR1, reap the child, and return the pid the signal came from (`si_pid` of its siginfo).
///
/// The textbook version installs a handler, forks, and calls `pause()`. With the child's
/// `sleep(2)` removed it loses the race: a signal delivered before `pause()` starts is gone,
/// and `pause()` waits forever. Yours must not.
///
/// Read first: `man 7 signal` (pending and blocked signals), `man 2 sigprocmask`,
/// `man 2 sigsuspend`, `man 2 sigtimedwait` (or `man 2 signalfd`), `man 2 waitpid`.
/// Useful Rust: `nix::sys::signal::{SigSet, Signal, pthread_sigmask, kill}`, `nix::unistd::fork`.
///
/// The grader checks:
/// - 500 rounds in a row with the child signalling at once; a round where the signal is
///   certainly sent before `meanwhile` returns; a round where it is sent before `fork` has even
///   returned in the parent: every one comes back (a lost wake-up hangs, a signal that finds no
///   handler and no block kills the parent);
/// - a child that signals only once the parent is asleep wakes it, and the parent is not asleep
///   in `pause()`: no flag check before it can close the race;
/// - the pid returned is the child's;
/// - only your child is reaped: another child of the caller, already exited, is left for the
///   caller to wait for (no `wait(NULL)`), and no zombie is left;
/// - afterwards SIGUSR1 is as you found it: same disposition, not blocked, not pending.
pub fn wait_for_child_signal(meanwhile: impl FnOnce(Pid)) -> io::Result<Pid> {
    let _ = meanwhile;
    todo!("fork a child that sends SIGUSR1 at once; wait for it without losing it")
}
