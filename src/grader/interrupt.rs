//! Ctrl-C, SIGTERM and SIGHUP in the test process: the run stops, and leaves nothing behind.
//!
//! A test process that died at once of the signal would skip every sandbox's clean-up: the
//! kernel objects and names the attempt made, the temporary directories, and (when the
//! supervisors die with it) the attempt's processes. So the first such signal is caught: a
//! watcher thread asks every live supervisor to stop (SIGTERM: it kills its sandbox's process
//! group and reaps it), lets each test thread finish its clean-up as after any run, starts no
//! new sandbox, and then dies of the same signal with its default action, as an interrupted
//! program should (the shell and cargo see "killed by SIGINT").
//!
//! The supervisors, which are in the test process's process group and so get the terminal's
//! Ctrl-C too, stop the same way by themselves (see `supervise`), and also when the test process
//! dies of a signal it cannot catch (their parent-death signal is SIGTERM).

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// The signal that interrupted the run, or 0.
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// The write end of the self-pipe the handler wakes the watcher through.
static WAKE: AtomicI32 = AtomicI32::new(-1);
/// Sandbox runs under way (from their start to the end of their clean-up).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
/// The pids of the live supervisors.
static SUPERVISORS: Mutex<Vec<libc::pid_t>> = Mutex::new(Vec::new());

/// How long the watcher lets the sandboxes clean up before the process dies anyway.
const CLEAN_UP_LIMIT: Duration = Duration::from_secs(8);

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(signal: libc::c_int) {
    // Only async-signal-safe work here: an atomic store and a write(2).
    if SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
        let fd = WAKE.load(Ordering::SeqCst);
        // SAFETY: write(2) of one byte from a static buffer; a bad fd only fails.
        unsafe { libc::write(fd, b"!".as_ptr().cast(), 1) };
    }
}

/// Installs the handlers and the watcher thread, once per test process.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Ok((read, write)) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK) else {
            return;
        };
        // The read end blocks: the watcher sleeps on it.
        if super::supervise::set_nonblocking(read.as_raw_fd(), false).is_err() {
            return;
        }
        WAKE.store(std::os::fd::IntoRawFd::into_raw_fd(write), Ordering::SeqCst);
        if std::thread::Builder::new().name("ipc-katas-interrupt".into()).spawn(move || watch(read)).is_err() {
            return;
        }
        for signal in SIGNALS {
            // SAFETY: a zeroed sigaction with a handler that is async-signal-safe, an empty
            // mask and SA_RESTART, so that the harness's own system calls are not disturbed.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
    });
}

/// The watcher: sleeps until a signal comes, then stops the run (see the module's text).
fn watch(wake: OwnedFd) {
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(&wake, &mut byte) {
            Ok(1) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            _ => return,
        }
    }
    let signal = SIGNAL.load(Ordering::SeqCst);
    for &pid in SUPERVISORS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        // SAFETY: pid is a supervisor of this process, not yet reaped (it leaves the list
        // before it is reaped), so the pid is still ours.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let give_up = Instant::now() + CLEAN_UP_LIMIT;
    while ACTIVE.load(Ordering::SeqCst) > 0 && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: back to the default action, then the same signal again: the process ends as
    // an interrupted process does.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

/// The signal that interrupted this run, if one did.
pub(crate) fn interrupted() -> Option<libc::c_int> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// When the run was interrupted: waits (the watcher ends the process once every sandbox is
/// cleaned up). Returns at once otherwise, or if the watcher has not ended it in time.
pub(crate) fn wait_for_the_end() {
    if interrupted().is_some() {
        std::thread::sleep(CLEAN_UP_LIMIT + Duration::from_secs(2));
    }
}

/// One sandbox run under way: the watcher waits for it to end before the process dies.
pub(crate) struct Active(());

impl Active {
    pub(crate) fn begin() -> Active {
        ACTIVE.fetch_add(1, Ordering::SeqCst);
        Active(())
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Registers a live supervisor; one started after the interruption is stopped at once.
pub(crate) fn supervisor_started(pid: libc::pid_t) {
    SUPERVISORS.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
    if interrupted().is_some() {
        // SAFETY: pid is our child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
}

/// Forgets a supervisor, before it is reaped (so the watcher never signals a reused pid).
pub(crate) fn supervisor_ending(pid: libc::pid_t) {
    SUPERVISORS.lock().unwrap_or_else(|e| e.into_inner()).retain(|&p| p != pid);
}
