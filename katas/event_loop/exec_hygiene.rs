//! Kata event_loop::exec_hygiene: Start a program that inherits only descriptors 0, 1 and 2.
//!
//! Grade it: `cargo test --test event_loop exec_hygiene::`
//! Stuck? `cargo run -- hint event_loop::exec_hygiene`
