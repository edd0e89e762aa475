//! Answer to kata event_loop::pidfd_supervisor: Supervise children through pidfds, never by a bare pid.
