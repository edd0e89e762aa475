//! Kata event_loop::wake_with_eventfd: Wake an event loop from another process through an eventfd.
//!
//! Grade it: `cargo test --test event_loop wake_with_eventfd::`
//! Stuck? `cargo run -- hint event_loop::wake_with_eventfd`
