//! Answer to kata signals::reaping: Reap every child on SIGCHLD, however many signals coalesced.

use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};

/// Learns of child exits through a `signalfd` for SIGCHLD, and reaps with a `waitpid` loop.
/// SIGCHLD is blocked in the calling thread while it lives (a signalfd only sees blocked
/// signals), so no handler runs and no blocking call of the program is interrupted. Dropping
/// it restores the mask.
///
/// Only the calling thread's mask changes (`man 2 sigprocmask`: each thread has its own). In a
/// process with other threads that do not block SIGCHLD, the kernel may deliver it to one of
/// them instead (its disposition runs there, and the signalfd never sees it): block SIGCHLD
/// before creating threads, so they inherit the mask. Whichever thread is told, the
/// `waitpid(-1, WNOHANG)` loop still reaps every exited child on the next wake-up.
#[derive(Debug)]
pub struct ChildReaper {
    fd: SignalFd,
    old_mask: SigSet,
}

impl ChildReaper {
    /// Blocks SIGCHLD and opens a signalfd for it. See `man 2 signalfd`, `man 7 signal`.
    pub fn install() -> io::Result<ChildReaper> {
        let sigchld = SigSet::from(Signal::SIGCHLD);
        let mut old_mask = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&sigchld), Some(&mut old_mask))?;
        match SignalFd::with_flags(&sigchld, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC) {
            Ok(fd) => Ok(ChildReaper { fd, old_mask }),
            Err(e) => {
                let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
                Err(e.into())
            }
        }
    }

    /// Waits up to `timeout` for a SIGCHLD (`TimedOut` if none comes), then reaps every child
    /// that has exited, without waiting for those still running, and returns how each ended.
    ///
    /// SIGCHLD is a standard signal: children that exit while one is pending make no second
    /// one. So one signal means "at least one child exited", and the answer is a loop of
    /// `waitpid(-1, WNOHANG)` until it finds none, never one `waitpid` per signal.
    /// See `man 2 waitpid`.
    pub fn wait_and_reap(&mut self, timeout: Duration) -> io::Result<Vec<WaitStatus>> {
        let end = Instant::now() + timeout;
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match poll(&mut fds, PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::TimedOut, "no child exited in time")),
                Ok(_) => break,
                // A handler of another signal interrupted the wait: wait for what is left.
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        // Take every queued notification: one read per pending SIGCHLD, usually one.
        while self.fd.read_signal()?.is_some() {}
        let mut reaped = Vec::new();
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(reaped),
                Ok(status) => reaped.push(status),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Drop for ChildReaper {
    fn drop(&mut self) {
        // Restoring a mask we read cannot fail. A SIGCHLD still pending is then discarded:
        // its default action is to ignore it.
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.old_mask), None);
    }
}
