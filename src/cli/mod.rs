//! The practice CLI's parts: running the grader and reporting on it, the learner's progress
//! file, the terminal, the file watcher and the mock interview.

pub mod grading;
pub mod mock;
pub mod repo;
pub mod report;
pub mod state;
pub mod ui;
pub mod watch;

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Catches Ctrl-C (SIGINT), SIGTERM and SIGHUP: a grading run under way is then stopped the way
/// that lets the grader clean up (see [`grading::Grading::stop`]) before the CLI exits, instead
/// of the CLI dying and leaving its test processes running.
pub fn catch_interrupts() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe; sigaction
        // gets a zeroed struct with the handler and an empty mask set.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_interrupt as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Whether Ctrl-C, SIGTERM or SIGHUP came since [`catch_interrupts`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
