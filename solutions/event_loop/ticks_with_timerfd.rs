//! Answer to kata event_loop::ticks_with_timerfd: A periodic timerfd in the loop that counts the ticks it missed.
