//! Event loops: on Linux nearly every channel is a file descriptor (`man 7 epoll`). A pipe, a
//! socket, an `eventfd` counter, a `timerfd` clock, a `signalfd` queue of signals and a `pidfd`
//! for a child all become readable when something happened, so one thread can wait on all of them
//! at once in one `epoll_wait`. The last kata serves many clients that way.
//!
//! This file is the same in `katas/` and `solutions/`: edit the kata files beside it.

mod exec_hygiene;
mod pidfd_supervisor;
mod serve_many;
mod signals_as_events;
mod ticks_with_timerfd;
mod wake_with_eventfd;

pub use exec_hygiene::{Output, Status, run_filter};
pub use pidfd_supervisor::{ChildId, Exit, Supervisor};
pub use serve_many::{MAX_LINE, Served, serve_many};
pub use signals_as_events::{SignalEvent, SignalEvents};
pub use ticks_with_timerfd::Ticker;
pub use wake_with_eventfd::{Counting, Wakeup};
