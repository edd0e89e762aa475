//! Answer to kata event_loop::serve_many: One thread and one epoll instance serve many clients.
//!
//! The model answer to the question: `solutions/interview/q6_many_channels.md`.
