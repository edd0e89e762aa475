//! Answer to kata signals::wait_for_child_signal: Never miss a child's signal.

use std::io;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, pthread_sigmask};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid};

/// Forks a child that sends SIGUSR1 to its parent at once and exits. The parent calls
/// `meanwhile(child)`, then waits for the child's SIGUSR1, reaps the child and returns the
/// pid the signal came from (`si_pid`).
///
/// SIGUSR1 is blocked *before* the fork, so a signal sent at any moment after it stays pending
/// until `sigtimedwait` takes it: it cannot be delivered between a check and a sleep, which is
/// how `pause()` loses it. See `man 2 sigprocmask`, `man 2 sigtimedwait`, `man 7 signal`.
/// The mask is per thread: in a multi-threaded program, block SIGUSR1 in every thread.
pub fn wait_for_child_signal(meanwhile: impl FnOnce(Pid)) -> io::Result<Pid> {
    let usr1 = SigSet::from(Signal::SIGUSR1);
    let _blocked = Blocked::new(&usr1)?;
    let parent = getpid();
    // SAFETY: the child only calls kill and _exit, both async-signal-safe.
    let child = match unsafe { fork() }? {
        ForkResult::Child => {
            let sent = kill(parent, Signal::SIGUSR1).is_ok();
            // SAFETY: _exit ends the child without returning into the caller's code.
            unsafe { libc::_exit(if sent { 0 } else { 1 }) }
        }
        ForkResult::Parent { child } => child,
    };
    meanwhile(child);
    let sender = take_signal_from(&usr1, child);
    let status = wait_for(child)?;
    let sender = sender?;
    match status {
        WaitStatus::Exited(_, 0) => Ok(sender),
        other => Err(io::Error::other(format!("the signalling child did not finish cleanly: {other:?}"))),
    }
}

/// Takes SIGUSR1 from `child` out of the pending set. Signals from other senders are taken
/// and ignored. Fails if the child exits without having signalled.
fn take_signal_from(usr1: &SigSet, child: Pid) -> io::Result<Pid> {
    // The wait is cut into short steps only to notice a child that died without signalling.
    let step = Duration::from_millis(50);
    loop {
        // Looked at before each step: the kernel adds the child's signal to our pending set
        // inside its kill(2), before the child can go on to exit. So once it has exited,
        // anything it sent is pending, and one look without waiting finds it.
        let exited = child_exited(child);
        match take_within(usr1, child, if exited { Duration::ZERO } else { step })? {
            Some(from) => return Ok(from),
            None if exited => return Err(io::Error::other("the child exited without sending SIGUSR1")),
            None => continue,
        }
    }
}

/// Waits up to `timeout` for a SIGUSR1 from `child` (`sigtimedwait`, `man 2 sigtimedwait`);
/// `None` if none came in that time. A SIGUSR1 from anyone else is taken and ignored; a wait
/// that a caught signal interrupts (EINTR) starts again.
fn take_within(usr1: &SigSet, child: Pid, timeout: Duration) -> io::Result<Option<Pid>> {
    let timeout = libc::timespec { tv_sec: 0, tv_nsec: timeout.as_nanos() as i64 };
    loop {
        // SAFETY: a zeroed siginfo_t is a valid out-parameter; the set and timeout are valid.
        let (signo, info) = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            (libc::sigtimedwait(usr1.as_ref(), &mut info, &timeout), info)
        };
        if signo == libc::SIGUSR1 {
            // SAFETY: for a signal sent with kill, si_pid is set (`man 2 sigaction`, SI_USER).
            let from = Pid::from_raw(unsafe { info.si_pid() });
            if from == child {
                return Ok(Some(from));
            }
            continue;
        }
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::EAGAIN) => Ok(None),
            Some(libc::EINTR) => continue,
            _ => Err(err),
        };
    }
}

/// Whether our child has exited (it stays a zombie until it is reaped).
fn child_exited(child: Pid) -> bool {
    // SAFETY: a zeroed siginfo_t is valid; WNOWAIT leaves the child to be reaped by waitpid.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::waitid(
            libc::P_PID,
            child.as_raw() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        ) == 0
            && info.si_pid() != 0
    }
}

/// Blocks a set of signals in this thread while it lives; restores the old mask on drop.
struct Blocked {
    old: SigSet,
}

impl Blocked {
    fn new(set: &SigSet) -> io::Result<Blocked> {
        let mut old = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(set), Some(&mut old))?;
        Ok(Blocked { old })
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        // Restoring a mask we read cannot fail.
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.old), None);
    }
}

/// `waitpid` for this one child, again when a caught signal interrupts it (EINTR, `man 2
/// waitpid`): a wait given up on would leave the child a zombie.
fn wait_for(child: Pid) -> nix::Result<WaitStatus> {
    loop {
        match waitpid(child, None) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}
