//! Answer to kata event_loop::signals_as_events: Signals as events: block them first, then read them from a signalfd.
