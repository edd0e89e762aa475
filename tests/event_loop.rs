//! Graded tests of the event_loop topic: `cargo test --test event_loop`.
//!
//! Each body runs in the grader's sandbox: a child process with a deadline, umask 0, SIGPIPE at
//! its default action and a leak audit after the kata returns. The other side of every channel
//! is trusted code: the test itself, a forked worker, or a separate program (the peer: this test
//! binary started again).

// This binary is also the peer program its tests start as "another process" (tests/peer/).
mod peer;
ipc_katas::peer_commands!(peer::run);

// While the topic is being built, each kata's tests live in tests/event_loop/<kata>.rs; they
// are folded into this file as `mod <kata> { ... }` before the topic lands.
#[path = "event_loop/wake_with_eventfd.rs"]
mod wake_with_eventfd;
#[path = "event_loop/ticks_with_timerfd.rs"]
mod ticks_with_timerfd;
#[path = "event_loop/signals_as_events.rs"]
mod signals_as_events;
#[path = "event_loop/pidfd_supervisor.rs"]
mod pidfd_supervisor;
#[path = "event_loop/exec_hygiene.rs"]
mod exec_hygiene;
#[path = "event_loop/serve_many.rs"]
mod serve_many;
