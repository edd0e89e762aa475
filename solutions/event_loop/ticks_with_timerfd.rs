//! Answer to kata event_loop::ticks_with_timerfd: A periodic timerfd in the loop that counts the ticks it missed.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;

/// A periodic timer as a descriptor (`man 2 timerfd_create`): readable once a tick is due; a read
/// returns how many periods have passed since the last read, as a u64. Close-on-exec.
#[derive(Debug)]
pub struct Ticker {
    fd: OwnedFd,
}

impl Ticker {
    /// A timer on `CLOCK_MONOTONIC` (the clock that never jumps, whoever sets the wall clock:
    /// `man 2 clock_gettime`) that first ticks one `period` from now, then every `period`. A zero
    /// period is `InvalidInput` (a zero `it_value` disarms the timer, and a zero `it_interval`
    /// makes it one-shot), and so is a period whose seconds do not fit a `time_t`.
    pub fn every(period: Duration) -> io::Result<Ticker> {
        let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("period {period:?}: {why}"));
        if period.is_zero() {
            return Err(invalid("a zero period would disarm the timer"));
        }
        let every = libc::timespec {
            tv_sec: libc::time_t::try_from(period.as_secs()).map_err(|_| invalid("too long for a timespec"))?,
            tv_nsec: period.subsec_nanos().into(),
        };
        // it_value: the first expiry, relative to now (no TFD_TIMER_ABSTIME); it_interval: the
        // period after it. Both are needed for a periodic timer.
        let spec = libc::itimerspec { it_interval: every, it_value: every };
        // SAFETY: timerfd_create takes two plain values and returns a new descriptor or -1.
        let raw = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC) };
        if raw == -1 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor we just opened and nobody else owns: closed on every path
        // from here, the error below included.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: a valid itimerspec for the call; the old value is not asked for (null).
        if unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) } == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(Ticker { fd })
    }

    /// Blocks until at least one tick is due, then returns the number of ticks since the last
    /// wait (or since `every`): a loop that was busy for three periods gets 3, not 1. The count is
    /// a u64 in native byte order; a read of fewer than 8 bytes is EINVAL.
    pub fn wait(&self) -> io::Result<u64> {
        let mut ticks = [0u8; 8];
        loop {
            match nix::unistd::read(&self.fd, &mut ticks) {
                Ok(8) => return Ok(u64::from_ne_bytes(ticks)),
                Ok(n) => return Err(io::Error::other(format!("a timerfd read gave {n} of 8 bytes"))),
                // A caught signal ended the read before a tick: wait on; no tick is lost, they
                // are counted in the kernel until read.
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl AsFd for Ticker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
