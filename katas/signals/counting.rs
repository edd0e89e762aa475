//! Kata signals::counting: Count signals: standard ones coalesce, real-time ones queue.
//!
//! Grade it: `cargo test --test signals counting::`
//! Stuck? `cargo run -- hint signals::counting`

use std::io;

use nix::unistd::Pid;

/// How many values a counter must keep at least; later deliveries are still counted.
pub const MAX_VALUES: usize = 1024;

/// Counts the deliveries of one signal and keeps the value each one carried (`sigqueue`), in
/// the order they were delivered. Dropping it restores the signal's previous disposition.
///
/// A signal handler may interrupt your program anywhere, even inside `malloc` or while it holds
/// a lock, so it may only do async-signal-safe things (`man 7 signal-safety`): load and store
/// atomics, `write` to a pipe. No `Mutex`, no `Vec::push`, no `println!`.
///
/// Read first: `man 2 sigaction` (SA_SIGINFO, SA_RESTART), `man 7 signal` (standard signals
/// coalesce, real-time signals queue in order), `man 3 sigqueue`.
/// Useful Rust: `libc::sigaction`, `libc::siginfo_t::si_value`, `std::sync::atomic`.
///
/// The grader checks:
/// - 20 SIGUSR2 sent while blocked are delivered once on unblocking (they coalesce): count 1;
/// - 64 SIGRTMIN+1 sent with `queue_signal` while blocked are each delivered, in order, with
///   their values;
/// - standard signals sent one at a time, each waiting for the last to be counted, are all
///   counted;
/// - thousands of signals that interrupt `count()` and `values()` anywhere neither deadlock
///   nor crash;
/// - drop restores the previous handler; SIGKILL, SIGSTOP, 0 and numbers past SIGRTMAX are
///   `InvalidInput`; a second counter for a signal already counted is `AlreadyExists`.
#[derive(Debug)]
pub struct SignalCounter {
    _private: (),
}

impl SignalCounter {
    /// Installs a handler for `signal` that counts each delivery and records its value. The
    /// signal mask is left alone.
    pub fn install(signal: i32) -> io::Result<SignalCounter> {
        todo!("install a counting handler for signal {signal}")
    }

    /// The signal this counter counts.
    pub fn signal(&self) -> i32 {
        todo!("the signal counted")
    }

    /// How many times the signal has been delivered since `install`.
    pub fn count(&self) -> usize {
        todo!("the number of deliveries")
    }

    /// The value each delivery carried (`si_value.sival_int`; 0 for a signal sent by `kill`),
    /// in delivery order: at least the first [`MAX_VALUES`] deliveries.
    pub fn values(&self) -> Vec<i32> {
        todo!("the values delivered, in order")
    }
}

/// Send `signal` with `value` to `pid` with `sigqueue` (`man 3 sigqueue`): a real-time signal
/// is queued once per call, in order, with its value.
pub fn queue_signal(pid: Pid, signal: i32, value: i32) -> io::Result<()> {
    todo!("sigqueue signal {signal} with value {value} to {pid}")
}
