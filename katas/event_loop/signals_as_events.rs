//! Kata event_loop::signals_as_events: Signals as events: block them first, then read them from a signalfd.
//!
//! Grade it: `cargo test --test event_loop signals_as_events::`
//! Stuck? `cargo run -- hint event_loop::signals_as_events`

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

/// One signal, as the loop reads it: its number, the pid of the process that sent it, and the
/// value `sigqueue` sent with it (0 for a signal sent with `kill`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalEvent {
    pub signal: i32,
    pub pid: u32,
    pub value: i32,
}

/// A set of signals turned into events that an event loop reads from a descriptor, like data
/// from a pipe: a `signalfd` (`man 2 signalfd`) is readable while one of its signals is pending,
/// and each read takes pending signals as `signalfd_siginfo` records.
///
/// The catch: a signalfd only sees signals that are *blocked*. A signal that is not blocked is
/// delivered the usual way the moment it arrives: its handler runs, or its default action (for
/// SIGUSR1 and SIGTERM: the process ends) — and the descriptor never sees it. So block them
/// first (`man 3 pthread_sigmask`), in the calling thread, then open the signalfd.
///
/// The fields are a suggestion: change them as you like (the grader only uses the methods, the
/// struct's `AsFd` and what `Drop` leaves behind). Remember what you blocked, to undo it in
/// `impl Drop for SignalEvents` (write it): read and throw away what is still pending of the
/// signals this blocked (unblocked, a pending SIGUSR1 would end the process at once), unblock
/// them, and close the descriptor. Only those: a signal the caller had blocked before `new` stays
/// blocked, and pending if it was, for the caller to take.
///
/// Read first: `man 2 signalfd`, `man 7 signal` (Signal mask and pending signals; Standard signals
/// vs real-time signals: which ones queue), `man 3 sigqueue`, `man 2 poll`.
#[derive(Debug)]
pub struct SignalEvents {
    fd: OwnedFd,
    blocked: Vec<i32>,
}

impl SignalEvents {
    /// Blocks `signals` in the calling thread, then opens a signalfd for them with
    /// `SFD_CLOEXEC | SFD_NONBLOCK`.
    ///
    /// Errors: an empty list, SIGKILL or SIGSTOP (no process can block or read them), or a number
    /// that is no signal → `InvalidInput`, with the mask left exactly as it was (check everything
    /// before you block anything).
    ///
    /// The grader checks the calling thread's mask as the kernel shows it
    /// (`/proc/self/task/<tid>/status`, `SigBlk`) before it sends any signal, that a handler the
    /// caller installed never runs, close-on-exec and non-blocking on the descriptor, and the
    /// bad inputs.
    pub fn new(signals: &[i32]) -> io::Result<SignalEvents> {
        todo!("block {signals:?} in this thread, then open a signalfd for them")
    }

    /// Returns the next signal, waiting at most `timeout` for one; `Ok(None)` once the timeout has
    /// passed and nothing came. Wait with `poll` (or `epoll`) on the descriptor, then read it: a
    /// blocking read would wait past the timeout. A handled signal may interrupt the wait
    /// (`EINTR`): wait again for what is left of the timeout, do not start it over.
    ///
    /// One read can return several records: keep the ones you did not return yet for the next
    /// calls. Standard signals coalesce (five SIGUSR1 sent while nobody reads are one event);
    /// real-time ones (`SIGRTMIN()..=SIGRTMAX()`) queue: five sent with `sigqueue` are five events,
    /// in the order sent, each with its value (`ssi_int`). The sender is `ssi_pid`.
    ///
    /// The grader sends signals from another program with `kill` and with `sigqueue`, before and
    /// while `next` waits, times the timeout, and interrupts the wait with a signal the test
    /// handles itself.
    pub fn next(&mut self, timeout: Duration) -> io::Result<Option<SignalEvent>> {
        todo!("wait at most {timeout:?} for one of the signals {:?} on {:?}", self.blocked, self.fd)
    }
}

impl AsFd for SignalEvents {
    /// The signalfd, for a caller's own `epoll` (readable while a signal is pending).
    fn as_fd(&self) -> BorrowedFd<'_> {
        todo!("the signalfd {:?}", self.fd)
    }
}
