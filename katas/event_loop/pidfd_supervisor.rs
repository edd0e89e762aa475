//! Kata event_loop::pidfd_supervisor: Supervise children through pidfds, never by a bare pid.
//!
//! Grade it: `cargo test --test event_loop pidfd_supervisor::`
//! Stuck? `cargo run -- hint event_loop::pidfd_supervisor`
