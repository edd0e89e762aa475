//! A stream of caught signals, for tests of code that must keep going through EINTR.

use std::time::Duration;

extern "C" fn ignore_alarm(_: libc::c_int) {}

/// In the calling process: sets SIGALRM to a handler installed without `SA_RESTART` and a timer
/// that fires every `every`, so that a blocking call in progress returns EINTR (`man 7 signal`;
/// futex waits, `sem_wait`, `waitpid` and `read` all do). `None` stops the timer and restores
/// the default action.
pub fn caught_alarms_every(every: Option<Duration>) {
    let period = every.map_or(libc::timeval { tv_sec: 0, tv_usec: 0 }, |d| libc::timeval {
        tv_sec: d.as_secs() as libc::time_t,
        tv_usec: d.subsec_micros() as libc::suseconds_t,
    });
    let timer = libc::itimerval { it_interval: period, it_value: period };
    // SAFETY: a zeroed sigaction (no SA_RESTART) with a handler that does nothing, or SIG_DFL;
    // the timer structure is valid for the call. The timer is stopped before the default action
    // comes back, and started only once the handler is in place.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = if every.is_some() {
            ignore_alarm as extern "C" fn(libc::c_int) as libc::sighandler_t
        } else {
            libc::SIG_DFL
        };
        if every.is_none() {
            libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut());
        }
        libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut());
        if every.is_some() {
            libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut());
        }
    }
}

/// Stops the timer of [`caught_alarms_every`] and leaves its handler in place: for a test whose
/// other process may still send SIGALRM after the code under test returned (a wrong answer that
/// gave up early), which must then be caught, not end the test's process.
pub fn stop_alarms_keeping_the_handler() {
    let zero = libc::timeval { tv_sec: 0, tv_usec: 0 };
    let timer = libc::itimerval { it_interval: zero, it_value: zero };
    // SAFETY: the timer structure is valid for the call; a zero value disarms the timer.
    unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) };
}
