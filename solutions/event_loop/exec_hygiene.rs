//! Answer to kata event_loop::exec_hygiene: Start a program that inherits only descriptors 0, 1 and 2.
