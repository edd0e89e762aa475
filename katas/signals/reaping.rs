//! Kata signals::reaping: Reap every child on SIGCHLD, however many signals coalesced.
//!
//! Grade it: `cargo test --test signals reaping::`
//! Stuck? `cargo run -- hint signals::reaping`

use std::io;
use std::time::Duration;

use nix::sys::wait::WaitStatus;

/// Learns of child exits through SIGCHLD (a handler, a self-pipe or a `signalfd`: your choice)
/// and reaps them. Dropping it restores SIGCHLD's disposition and the signal mask. A signal
/// mask is per thread (`man 2 sigprocmask`): if you block SIGCHLD, know where a SIGCHLD goes in
/// a process whose other threads do not block it.
///
/// Read first: `man 7 signal` (a standard signal is pending or not: it does not count),
/// `man 2 waitpid` (WNOHANG), `man 2 sigaction` (SA_RESTART), `man 2 signalfd`.
///
/// The grader checks:
/// - 50 children that exit at once (their SIGCHLDs coalesced into one) are all reaped by one
///   call, each with its exit code; no zombie is left;
/// - a child killed by a signal is reported as such;
/// - a child still running is not waited for, and is reaped by a later call once it exits;
/// - no exit within the timeout is `TimedOut`, after about the timeout;
/// - while the reaper is installed, a child's exit does not break a blocking `read` of the
///   program with `EINTR`;
/// - drop restores SIGCHLD's disposition and the mask.
#[derive(Debug)]
pub struct ChildReaper {
    _private: (),
}

impl ChildReaper {
    /// Starts listening for SIGCHLD.
    pub fn install() -> io::Result<ChildReaper> {
        todo!("listen for SIGCHLD")
    }

    /// Waits up to `timeout` for a SIGCHLD that came since `install` or the last call
    /// (`TimedOut` if none comes), then reaps every child that has exited, without waiting for
    /// those still running, and returns how each one ended.
    pub fn wait_and_reap(&mut self, timeout: Duration) -> io::Result<Vec<WaitStatus>> {
        todo!("wait up to {timeout:?} for SIGCHLD, then reap every exited child")
    }
}
