//! Signals: asynchronous notifications between processes. A standard signal is one bit of
//! "pending" state, so several sent before it is delivered arrive as one; a real-time signal
//! (`SIGRTMIN..=SIGRTMAX`) sent with `sigqueue` is queued with its value (`man 7 signal`). A
//! handler may only do async-signal-safe work (`man 7 signal-safety`): touch atomics, write to
//! a pipe. Dispositions are per process and inherited by `fork`; masks are per thread.
//!
//! This file is the same in `katas/` and `solutions/`: edit the kata files beside it.

mod counting;
mod reaping;
mod shutdown;
mod wait_for_child_signal;

pub use counting::{MAX_VALUES, SignalCounter, queue_signal};
pub use reaping::ChildReaper;
pub use shutdown::serve_until_signalled;
pub use wait_for_child_signal::wait_for_child_signal;
