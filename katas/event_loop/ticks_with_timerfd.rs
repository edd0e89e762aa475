//! Kata event_loop::ticks_with_timerfd: A periodic timerfd in the loop that counts the ticks it missed.
//!
//! Grade it: `cargo test --test event_loop ticks_with_timerfd::`
//! Stuck? `cargo run -- hint event_loop::ticks_with_timerfd`
