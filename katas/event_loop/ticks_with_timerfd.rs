//! Kata event_loop::ticks_with_timerfd: A periodic timerfd in the loop that counts the ticks it missed.
//!
//! Grade it: `cargo test --test event_loop ticks_with_timerfd::`
//! Stuck? `cargo run -- hint event_loop::ticks_with_timerfd`

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

/// A periodic timer in an event loop: a timerfd (`man 2 timerfd_create`), readable once a tick
/// is due. One read returns how many periods have passed since the last read, so a loop that was
/// busy for a while learns how many ticks it missed instead of losing them.
///
/// The field is a suggestion: change it as you like (the grader uses the methods and `as_fd`).
#[derive(Debug)]
pub struct Ticker {
    fd: OwnedFd,
}

impl Ticker {
    /// Starts a timer that ticks first one `period` from now, then every `period`, on
    /// `CLOCK_MONOTONIC` (the clock nobody can set back or forward). The descriptor is
    /// close-on-exec. A zero period is `InvalidInput` (look up what a zero `it_value` and a zero
    /// `it_interval` mean to `timerfd_settime`), and so is a period too long for a `timespec`.
    ///
    /// Read first: `man 2 timerfd_create` (`timerfd_settime`, `struct itimerspec`, what a read
    /// returns), `man 2 clock_gettime` (the clocks).
    ///
    /// The grader reads the descriptor's flags and clock (`/proc/self/fdinfo`), and checks bad
    /// periods.
    pub fn every(period: Duration) -> io::Result<Ticker> {
        todo!("start a timer that ticks every {period:?}")
    }

    /// Blocks until at least one tick is due and returns how many ticks have passed since the
    /// last `wait` (or since `every`): 1 for a loop that keeps up, more for one that was busy. A
    /// caught signal (`EINTR`) does not end the wait.
    ///
    /// The grader sleeps several periods between waits and compares the ticks it gets with the
    /// time that has passed, waits many times in a row, and sends signals while it waits.
    pub fn wait(&self) -> io::Result<u64> {
        todo!("wait for the next tick of {:?}", self.fd)
    }
}

impl AsFd for Ticker {
    /// The timerfd, for the grader (and for a loop that waits on it beside other descriptors).
    fn as_fd(&self) -> BorrowedFd<'_> {
        todo!("the timerfd {:?}", self.fd)
    }
}
