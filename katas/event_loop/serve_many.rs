//! Kata event_loop::serve_many: One thread and one epoll instance serve many clients.
//!
//! Grade it: `cargo test --test event_loop serve_many::`
//! Stuck? `cargo run -- hint event_loop::serve_many`
//! Afterwards, read the model answer: `solutions/interview/q6_many_channels.md`.
