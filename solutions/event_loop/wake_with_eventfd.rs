//! Answer to kata event_loop::wake_with_eventfd: Wake an event loop from another process through an eventfd.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::eventfd::{EfdFlags, EventFd};

/// How the reads of a [`Wakeup`] count its wakes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counting {
    /// A read takes the whole counter: every wake since the last read, added up.
    Sum,
    /// `EFD_SEMAPHORE`: a read takes one from the counter, so `n` wakes are `n` reads of 1.
    Semaphore,
}

/// An eventfd (`man 2 eventfd`): a 64-bit counter in the kernel that any process holding the
/// descriptor adds to; readable while it is not zero. Close-on-exec and non-blocking.
#[derive(Debug)]
pub struct Wakeup {
    fd: OwnedFd,
}

impl Wakeup {
    /// Makes the eventfd, its counter at 0. `EFD_NONBLOCK`: a read of a zero counter fails with
    /// `EAGAIN` instead of blocking, so only `poll` waits, and only as long as it was asked.
    pub fn new(counting: Counting) -> io::Result<Wakeup> {
        let mut flags = EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK;
        if counting == Counting::Semaphore {
            flags |= EfdFlags::EFD_SEMAPHORE;
        }
        let fd = OwnedFd::from(EventFd::from_flags(flags)?);
        Ok(Wakeup { fd })
    }

    /// Adds `n` to the counter, with one 8-byte write of the u64 in native byte order. The kernel
    /// takes 0 as a write that wakes nobody and refuses `u64::MAX` (EINVAL); both are refused
    /// here before anything is written. A counter that would pass `u64::MAX - 1` (the most it
    /// holds) is `WouldBlock`: on a non-blocking eventfd the write waits for no reader.
    pub fn wake(&self, n: u64) -> io::Result<()> {
        if n == 0 || n == u64::MAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a wake adds 1 to u64::MAX - 1 to the counter, not {n}"),
            ));
        }
        loop {
            match nix::unistd::write(&self.fd, &n.to_ne_bytes()) {
                Ok(8) => return Ok(()),
                Ok(written) => {
                    return Err(io::Error::other(format!("an eventfd write took {written} of 8 bytes")));
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Waits up to `timeout` for the counter to be non-zero, sleeping in `poll(2)`, then reads it
    /// (8 bytes, a u64): `Sum` gives the total and leaves the counter at 0, `Semaphore` gives 1
    /// and takes 1 from it. None once `timeout` has passed with no wake. A wake sent before the
    /// call is in the counter already: `poll` returns at once.
    pub fn wait(&self, timeout: Duration) -> io::Result<Option<u64>> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, poll_timeout(left)) {
                // Nothing came within the time left.
                Ok(0) => return Ok(None),
                Ok(_) => {}
                // A caught signal: poll again, for the time that is left.
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let mut count = [0u8; 8];
            match nix::unistd::read(&self.fd, &mut count) {
                Ok(8) => return Ok(Some(u64::from_ne_bytes(count))),
                Ok(n) => return Err(io::Error::other(format!("an eventfd read gave {n} of 8 bytes"))),
                // Another process that shares this eventfd read the counter between our poll and
                // our read: wait again, for the time that is left.
                Err(Errno::EAGAIN | Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
            if left.is_some_and(|left| left.is_zero()) {
                return Ok(None);
            }
        }
    }
}

/// `poll(2)` counts milliseconds, in an `i32`. Rounded up, so that a wait never ends before its
/// timeout; None (no deadline: `timeout` too far to count) and anything over `i32::MAX` ms
/// wait without end or for 24 days, which is the same to a caller who waits again.
fn poll_timeout(left: Option<Duration>) -> PollTimeout {
    let Some(left) = left else { return PollTimeout::NONE };
    let ms = left.as_nanos().div_ceil(1_000_000);
    PollTimeout::try_from(i32::try_from(ms).unwrap_or(i32::MAX)).unwrap_or(PollTimeout::MAX)
}

impl AsFd for Wakeup {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
