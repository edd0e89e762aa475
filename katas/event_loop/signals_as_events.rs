//! Kata event_loop::signals_as_events: Signals as events: block them first, then read them from a signalfd.
//!
//! Grade it: `cargo test --test event_loop signals_as_events::`
//! Stuck? `cargo run -- hint event_loop::signals_as_events`
