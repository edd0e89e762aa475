//! Kata event_loop::wake_with_eventfd: Wake an event loop from another process through an eventfd.
//!
//! Grade it: `cargo test --test event_loop wake_with_eventfd::`
//! Stuck? `cargo run -- hint event_loop::wake_with_eventfd`

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

/// How the reads of a [`Wakeup`] count its wakes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counting {
    /// A read takes the whole counter: every wake since the last read, added up, and the counter
    /// is 0 again.
    Sum,
    /// A read takes one from the counter and returns 1, so `n` wakes are `n` reads of 1
    /// (`EFD_SEMAPHORE`).
    Semaphore,
}

/// A way to wake an event loop from another process: an eventfd (`man 2 eventfd`), a 64-bit
/// counter in the kernel that any process holding the descriptor (a child forked after `new`, or
/// a program it was passed to) adds to, and that is readable while it is not zero, so a loop can
/// wait for it in `poll` or `epoll_wait` beside its other descriptors.
///
/// The field is a suggestion: change it as you like (the grader uses the methods and `as_fd`).
#[derive(Debug)]
pub struct Wakeup {
    fd: OwnedFd,
}

impl Wakeup {
    /// Makes the eventfd, its counter at 0, counting as `counting` says. The descriptor is
    /// close-on-exec (a program this process starts must not inherit it) and non-blocking (a read
    /// of a zero counter fails with `EAGAIN` instead of waiting: only [`Wakeup::wait`] waits, and
    /// only as long as it is asked to).
    ///
    /// Read first: `man 2 eventfd` (the flags, what a read and a write move, in how many bytes).
    ///
    /// The grader reads the descriptor's flags (`fcntl`, `/proc/self/fdinfo`), and wakes it from
    /// forked processes and from a separate program it passes the descriptor to.
    pub fn new(counting: Counting) -> io::Result<Wakeup> {
        todo!("make an eventfd that counts as {counting:?}")
    }

    /// Wakes the loop: adds `n` to the counter. A wake of 0 would wake nobody, and `u64::MAX` is
    /// more than the counter holds: both are `InvalidInput`, and nothing is written. A wake that
    /// would take the counter past `u64::MAX - 1` fails as the kernel says (`WouldBlock` on a
    /// non-blocking eventfd), and the counter keeps what it had.
    ///
    /// The grader checks the counter after each wake, bad ones too.
    pub fn wake(&self, n: u64) -> io::Result<()> {
        todo!("wake the loop by adding {n} to the counter of {:?}", self.fd)
    }

    /// Waits up to `timeout` for a wake, asleep in `poll(2)` or `epoll_wait(2)` (never spinning,
    /// never in a read that ignores the timeout), then reads the counter: in `Sum` mode the total
    /// of the wakes since the last read (and the counter is 0 again), in `Semaphore` mode 1 (and
    /// the counter is one less). `Ok(None)` once `timeout` has passed with no wake: not before
    /// it, and not long after. A wake that came before the call is not lost. A caught signal
    /// (`EINTR`) neither ends the wait nor starts its whole timeout again.
    ///
    /// Read first: `man 2 poll` (or `man 7 epoll`), `man 2 eventfd`.
    ///
    /// The grader runs `wait` in a thread and watches it: which system call it sleeps in, when it
    /// returns, what it returns, with wakes sent before and during the wait, with none, and with
    /// signals arriving.
    pub fn wait(&self, timeout: Duration) -> io::Result<Option<u64>> {
        todo!("wait up to {timeout:?} for a wake of {:?}", self.fd)
    }
}

impl AsFd for Wakeup {
    /// The eventfd, for the grader (and for a loop that waits on it beside other descriptors).
    fn as_fd(&self) -> BorrowedFd<'_> {
        todo!("the eventfd {:?}", self.fd)
    }
}
