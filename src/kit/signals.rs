//! Signals for the test's own side: a timer that keeps sending one, this thread's mask, what
//! the process does with a signal, and a name for one in a message.

use std::io;
use std::os::fd::RawFd;
use std::time::Instant;

use super::process;
use crate::grader::Failure;

/// A signal's disposition (handler address or SIG_DFL/SIG_IGN), whether this thread blocks
/// it, and whether it is pending.
pub fn signal_state(signal: i32) -> (libc::sighandler_t, bool, bool) {
    // SAFETY: all three calls only fill the structures they are given.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut action);
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
        let mut pending: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut pending);
        (action.sa_sigaction, libc::sigismember(&mask, signal) == 1, libc::sigismember(&pending, signal) == 1)
    }
}

/// Blocks (`how` = SIG_BLOCK) or unblocks (SIG_UNBLOCK) `signal` in this thread; returns the
/// old mask.
pub fn mask(how: libc::c_int, signal: i32) -> libc::sigset_t {
    // SAFETY: valid sets for the calls.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::pthread_sigmask(how, &set, &mut old);
        old
    }
}

pub fn set_mask(old: &libc::sigset_t) {
    // SAFETY: a mask read from pthread_sigmask.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) };
}

pub fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGUSR1 => "SIGUSR1".into(),
        libc::SIGUSR2 => "SIGUSR2".into(),
        libc::SIGCHLD => "SIGCHLD".into(),
        libc::SIGHUP => "SIGHUP".into(),
        s if s == libc::SIGRTMAX() => "SIGRTMAX".into(),
        s if s >= libc::SIGRTMIN() => format!("SIGRTMIN+{}", s - libc::SIGRTMIN()),
        s => format!("signal {s}"),
    }
}

/// Ignores SIGPIPE in this process, as every Rust program does before `main` (the sandbox sets
/// it back to the default, as in C): a trusted worker that writes to a pipe or socket whose reader
/// is gone then gets `EPIPE` from `write(2)` instead of being killed.
pub fn ignore_sigpipe() {
    // SAFETY: changes only this process's disposition of SIGPIPE; SIG_IGN runs no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// A POSIX timer that sends a signal to this process at an interval (`man 2 timer_create`);
/// deleted when dropped.
pub struct Ticker(libc::timer_t);

impl Ticker {
    pub fn start(signal: i32, interval_ns: i64) -> Result<Ticker, Failure> {
        // SAFETY: a zeroed sigevent and itimerspec are valid; we set the fields the calls read,
        // and `id` is only used once timer_create has filled it.
        unsafe {
            let mut event: libc::sigevent = std::mem::zeroed();
            event.sigev_notify = libc::SIGEV_SIGNAL;
            event.sigev_signo = signal;
            let mut id: libc::timer_t = std::mem::zeroed();
            if libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut id) != 0 {
                return Err(Failure::crash(format!("the test could not make a timer: {}", io::Error::last_os_error())));
            }
            let every = libc::timespec { tv_sec: 0, tv_nsec: interval_ns };
            let spec = libc::itimerspec { it_interval: every, it_value: every };
            if libc::timer_settime(id, 0, &spec, std::ptr::null_mut()) != 0 {
                let e = io::Error::last_os_error();
                libc::timer_delete(id);
                return Err(Failure::crash(format!("the test could not start its timer: {e}")));
            }
            Ok(Ticker(id))
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        // SAFETY: the timer is ours and deleted once.
        unsafe { libc::timer_delete(self.0) };
    }
}

/// Waits, until `give_up` at the latest, for thread `tid` of this process to block in `read` on
/// `fd`, as `/proc/self/task/TID/syscall` shows.
pub fn wait_until_reading(tid: libc::c_long, fd: RawFd, give_up: Instant) {
    let in_read = || {
        process::syscall_of_thread(tid as libc::pid_t)
            .is_some_and(|call| call.number == libc::SYS_read && call.args[0] == fd as u64)
    };
    while !in_read() && Instant::now() < give_up {
        std::thread::yield_now();
    }
}
