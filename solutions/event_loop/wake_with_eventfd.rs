//! Answer to kata event_loop::wake_with_eventfd: Wake an event loop from another process through an eventfd.
