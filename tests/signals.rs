//! Graded tests of the signals topic: `cargo test --test signals`.
//!
//! Each body runs in the grader's sandbox, its own process forked from the test process with
//! an empty signal mask and default dispositions (SIGPIPE included). Signal dispositions are
//! process-wide, so a test that installed handlers in the test process itself would disturb
//! every other test running in parallel; here every handler, mask and signal lives in the
//! body process (and its children), which dies with the test. No test needs `#[serial]`.
//!
//! Races are made deterministic rather than left to luck: a signal that must arrive "before
//! the wait" is sent and seen to be sent (the sender has exited) before the kata code can
//! wait; signals that must coalesce are sent while the test keeps them blocked.

// The stubs' types have no Drop (the answers' restore dispositions in theirs); the tests drop
// them explicitly where the restoring is what they check.
#![allow(clippy::drop_non_drop)]

// This binary is also the peer program its tests start as "another process" (tests/peer/).
mod peer;
ipc_katas::peer_commands!(peer::run);

use std::io::{self, ErrorKind};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use ipc_katas::grade;
use ipc_katas::grader::{Failure, Handshake, Outcome, Sandbox, Worker, caught_alarms_every};
use ipc_katas::kit::signals::{Ticker, mask, set_mask, signal_name, signal_state, wait_until_reading};
use ipc_katas::kit::{fd, process, sysv};
use katas::signals;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

fn me() -> Pid {
    nix::unistd::getpid()
}

fn send(to: Pid, signal: i32) {
    // SAFETY: kill takes plain values.
    unsafe { libc::kill(to.as_raw(), signal) };
}

/// Forks a child of the test that runs `work` and leaves with `_exit(code)`. The body is
/// single-threaded, so the child may do anything; the tests' children only make system calls.
fn fork_child(work: impl FnOnce() -> i32) -> Result<Pid, Failure> {
    // SAFETY: the child runs `work` and leaves with _exit; it never returns into the test.
    match unsafe { libc::fork() } {
        -1 => Err(Failure::crash(format!("the test could not fork: {}", io::Error::last_os_error()))),
        0 => {
            let code = work();
            // SAFETY: _exit ends the child without running the test's code.
            unsafe { libc::_exit(code) }
        }
        pid => Ok(Pid::from_raw(pid)),
    }
}

/// Waits (the sandbox's deadline bounds it) until our child `pid` has exited, without reaping
/// it. True if it did; false if it is not (or no longer) our child.
fn wait_exited_unreaped(pid: Pid) -> bool {
    loop {
        // SAFETY: a zeroed siginfo_t is valid; WNOWAIT leaves the child a zombie.
        let r = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(libc::P_PID, pid.as_raw() as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT)
        };
        if r == 0 {
            return true;
        }
        if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return false;
        }
    }
}

/// Reaps our child `pid`; None if it is not (or no longer) ours to reap.
fn reap(pid: Pid) -> Option<WaitStatus> {
    loop {
        match nix::sys::wait::waitpid(pid, None) {
            Ok(status) => return Some(status),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
}

mod wait_for_child_signal {
    use super::*;

    /// A signal set as /proc shows it (`SigBlk: 0000000000000200`): bit n-1 is signal n.
    fn has(mask: u64, signal: i32) -> bool {
        mask & (1u64 << (signal - 1)) != 0
    }

    /// A hexadecimal field of /proc/self/task/TID/status (`man 5 proc`).
    fn status_mask(status: &str, field: &str) -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    }

    /// What the kernel shows about a thread of this process that has slept in one system call
    /// for a while: the call, and the state of SIGUSR1 (blocked in that thread, pending, its
    /// disposition), in a sentence that says what the attempt did and why that waits forever.
    fn wait_evidence(tid: libc::c_long, (number, a, b): (libc::c_long, u64, u64)) -> String {
        let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap_or_default();
        let blocked = has(status_mask(&status, "SigBlk:"), libc::SIGUSR1);
        let pending = has(status_mask(&status, "SigPnd:") | status_mask(&status, "ShdPnd:"), libc::SIGUSR1);
        let handled = has(status_mask(&status, "SigCgt:"), libc::SIGUSR1);
        let ignored = has(status_mask(&status, "SigIgn:"), libc::SIGUSR1);
        let call = if is_pause(number, a, b) {
            "pause()".to_string()
        } else {
            match number {
                libc::SYS_rt_sigsuspend => "sigsuspend".to_string(),
                libc::SYS_rt_sigtimedwait => "sigtimedwait or sigwaitinfo".to_string(),
                libc::SYS_wait4 | libc::SYS_waitid => "waitpid (waiting for a child to end)".to_string(),
                libc::SYS_read => {
                    let target = std::fs::read_link(format!("/proc/self/fd/{a}")).unwrap_or_default();
                    format!("read on fd {a} ({})", target.display())
                }
                n => format!("system call {n}"),
            }
        };
        let state = format!(
            "SIGUSR1 is {}, {}, and {}",
            if blocked { "blocked in the waiting thread" } else { "not blocked" },
            if pending { "pending" } else { "not pending" },
            if handled {
                "handled by a handler"
            } else if ignored {
                "ignored (SIG_IGN)"
            } else {
                "at its default action"
            }
        );
        let why = match (call.as_str(), blocked, pending) {
            ("pause()", false, false) if handled => {
                "The child's signal already arrived and ran the handler before pause() began, so pause() waits \
                 for a signal that never comes: a lost wake-up (checking a flag first leaves the same gap). \
                 Installing the handler before the fork is not enough; block SIGUSR1 before the fork and take it \
                 with sigsuspend (unblocks and sleeps in one step), sigtimedwait or a signalfd"
            }
            ("pause()", true, _) => {
                "A blocked signal never ends pause(): take it with sigtimedwait (or a signalfd), or unblock and \
                 sleep in one step with sigsuspend"
            }
            ("sigsuspend", true, _) => {
                "The mask given to sigsuspend still blocks SIGUSR1, so it cannot wake it: pass the mask from \
                 before you blocked it (the old mask pthread_sigmask returned)"
            }
            ("sigsuspend", false, false) | ("sigtimedwait or sigwaitinfo", false, false) => {
                "SIGUSR1 was not blocked when the child sent it, so it was handled (or dropped) at once and there \
                 is nothing left to wait for: block SIGUSR1 before the fork, so that it stays pending until you \
                 take it"
            }
            _ => "",
        };
        let mut text =
            format!("What the kernel shows: the parent has been asleep in {call} for over half a second; {state}.");
        if !why.is_empty() {
            text.push('\n');
            text.push_str(why);
        }
        text
    }

    /// Runs `f` (a call of the kata) while a thread of the test watches the calling thread: once
    /// it sleeps in one system call for half a second, outside the test's own `meanwhile`, the
    /// sandbox is told what the kernel shows ([`wait_evidence`]), for the hang report. The thread
    /// starts with every signal blocked, so a signal for the kata is never delivered to it.
    fn watched<T>(s: &Sandbox, in_meanwhile: &AtomicBool, f: impl FnOnce() -> T) -> T {
        let main = libc::c_long::from(process::gettid());
        let done = AtomicBool::new(false);
        // SAFETY: a full set blocks every signal in this thread until set_mask; the new thread
        // inherits that mask.
        let old = unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            old
        };
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let (mut last, mut since, mut told) = (None, Instant::now(), false);
                while !done.load(Ordering::Relaxed) {
                    let now = if in_meanwhile.load(Ordering::Relaxed) { None } else { syscall_of(main) };
                    if now != last {
                        if told {
                            s.evidence("");
                            told = false;
                        }
                        (last, since) = (now, Instant::now());
                    } else if let (Some(call), false) = (now, told) {
                        if since.elapsed() > Duration::from_millis(500) {
                            s.evidence(wait_evidence(main, call));
                            told = true;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                if told {
                    s.evidence("");
                }
            });
            set_mask(&old);
            // Set on the way out even when `f` panics (a todo!()): the scope waits for the watcher.
            struct Done<'a>(&'a AtomicBool);
            impl Drop for Done<'_> {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::Relaxed);
                }
            }
            let _done = Done(&done);
            f()
        })
    }

    /// Calls the kata; returns (the child meanwhile was given, the pid returned).
    fn call(s: &Sandbox, meanwhile: impl FnOnce(Pid)) -> Result<(Pid, Pid), Failure> {
        let mut child = None;
        let in_meanwhile = AtomicBool::new(false);
        let from = watched(s, &in_meanwhile, || {
            signals::wait_for_child_signal(|pid| {
                child = Some(pid);
                in_meanwhile.store(true, Ordering::Relaxed);
                meanwhile(pid);
                in_meanwhile.store(false, Ordering::Relaxed);
            })
        });
        let from = s.ok("wait_for_child_signal", from)?;
        let child = child.ok_or_else(|| {
            Failure::wrong("wait_for_child_signal returned without calling meanwhile(child) after the fork")
        })?;
        s.expect(from == child, || {
            format!(
                "wait_for_child_signal returned {from}, but the child was {child}: return the pid the \
                 signal came from (si_pid of the siginfo that sigtimedwait, sigwaitinfo or a signalfd gives)"
            )
        })?;
        Ok((child, from))
    }

    /// `meanwhile` that returns only once the child has sent its signal and exited: the signal is
    /// certainly sent before the parent can start waiting for it.
    fn until_the_child_has_signalled(s: &Sandbox) -> impl FnOnce(Pid) + '_ {
        move |child| {
            s.phase("in meanwhile: waiting until the child has sent SIGUSR1 and exited");
            wait_exited_unreaped(child);
            s.phase("waiting for SIGUSR1, which the child sent before meanwhile returned");
        }
    }

    #[test]
    fn the_signal_comes_from_the_child_and_the_child_is_reaped() {
        grade!().run(|s| {
            s.phase("calling wait_for_child_signal");
            let (child, _) = call(s, |_| {})?;
            s.expect(child != me(), || "meanwhile was given the caller's own pid, not the child's".into())?;
            s.expect(process::state(child.as_raw()).is_none(), || {
                format!("the child {child} still exists after wait_for_child_signal returned: reap it with waitpid")
            })
        });
    }

    #[test]
    fn a_signal_sent_before_the_parent_waits_is_not_lost() {
        grade!().run(|s| {
            s.phase("calling wait_for_child_signal");
            call(s, until_the_child_has_signalled(s)).map(drop)
        });
    }

    #[test]
    fn five_hundred_rounds_in_a_row_with_the_child_signalling_at_once_all_return() {
        grade!().deadline(Duration::from_secs(8)).run(|s| {
            for round in 1..=500 {
                s.phase(format!("round {round} of 500: waiting for a child that signals at once"));
                call(s, |_| {})?;
            }
            Ok(())
        });
    }

    /// Set by the test before the kata runs; read by the fork hook below.
    static HOLD_FORKS: AtomicBool = AtomicBool::new(false);

    /// Runs in the parent right after every `fork` (pthread_atfork), before `fork` returns:
    /// waits, up to 3 s, until a child of ours has exited. The kata's child signals at once, so
    /// its signal is certainly sent before the parent's code after the fork runs.
    extern "C" fn after_fork_in_parent() {
        if !HOLD_FORKS.load(Ordering::Relaxed) {
            return;
        }
        let give_up = Instant::now() + Duration::from_secs(3);
        while Instant::now() < give_up {
            // SAFETY: a zeroed siginfo_t is valid; WNOWAIT leaves the child to be reaped.
            let exited = unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
                libc::waitid(libc::P_ALL, 0, &mut info, flags) == 0 && info.si_pid() != 0
            };
            if exited {
                return;
            }
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_signal_sent_before_fork_returns_in_the_parent_is_not_lost() {
        grade!().run(|s| {
            // SAFETY: registers a handler that only reads an atomic and calls waitid; this body
            // process is the test's own and ends with the test.
            unsafe { libc::pthread_atfork(None, Some(after_fork_in_parent), None) };
            HOLD_FORKS.store(true, Ordering::Relaxed);
            s.phase(
                "calling wait_for_child_signal, where the child signals and exits before fork returns in the parent",
            );
            let result = call(s, |_| HOLD_FORKS.store(false, Ordering::Relaxed));
            HOLD_FORKS.store(false, Ordering::Relaxed);
            result.map(drop)
        });
    }

    /// Read end of the pipe the kata's child waits on before it goes on (-1: no waiting).
    static CHILD_GO: AtomicI32 = AtomicI32::new(-1);

    /// Runs in every child right after `fork` (pthread_atfork), before `fork` returns there:
    /// waits until the test lets it go on, so the parent is already waiting when it signals.
    extern "C" fn child_waits_for_go() {
        let fd = CHILD_GO.load(Ordering::Relaxed);
        if fd >= 0 {
            let mut byte = [0u8; 1];
            // SAFETY: one valid byte; end-of-file if the test is gone.
            unsafe { libc::read(fd, byte.as_mut_ptr().cast(), 1) };
        }
    }

    /// Whether a system call (number and first two arguments) is pause(): glibc implements it
    /// with the pause system call where there is one, and with ppoll(NULL, 0, …) elsewhere.
    fn is_pause(number: libc::c_long, fds: u64, nfds: u64) -> bool {
        #[cfg(target_arch = "x86_64")]
        if number == libc::SYS_pause {
            return true;
        }
        number == libc::SYS_ppoll && fds == 0 && nfds == 0
    }

    /// The system call the thread `tid` of this process is in, with its first two arguments
    /// (/proc/self/task/tid/syscall, `man 5 proc`); None while it runs.
    fn syscall_of(tid: libc::c_long) -> Option<(libc::c_long, u64, u64)> {
        let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
        let mut words = text.split_whitespace();
        let number = words.next()?.parse().ok()?;
        let mut arg = || u64::from_str_radix(words.next()?.trim_start_matches("0x"), 16).ok();
        Some((number, arg()?, arg()?))
    }

    #[test]
    fn the_parent_waits_with_the_signal_blocked_not_with_pause() {
        grade!().run(|s| {
            let (go_r, go_w) = fd::pipe()?;
            CHILD_GO.store(go_r.as_raw_fd(), Ordering::Relaxed);
            // SAFETY: registers a handler that only reads an atomic and one byte; this body
            // process is the test's own and ends with the test.
            unsafe { libc::pthread_atfork(None, None, Some(child_waits_for_go)) };
            let main_thread = libc::c_long::from(process::gettid());
            // A thread of the test waits until the parent sleeps in a system call (the same one
            // 20 times in a row), notes which, and only then lets the child signal.
            let watcher = std::thread::spawn(move || {
                mask(libc::SIG_BLOCK, libc::SIGUSR1); // the signal is for the main thread
                let give_up = Instant::now() + Duration::from_secs(3);
                let (mut last, mut same) = (None, 0);
                while same < 20 && Instant::now() < give_up {
                    let now = syscall_of(main_thread);
                    same = if now.is_some() && now == last { same + 1 } else { 0 };
                    last = now;
                    std::thread::yield_now();
                }
                fd::write_byte(&go_w);
                last
            });
            s.phase("calling wait_for_child_signal, whose child signals only once the parent is asleep");
            let result = call(s, |_| {});
            CHILD_GO.store(-1, Ordering::Relaxed);
            let slept_in = watcher.join().unwrap_or(None);
            result?;
            s.expect(!slept_in.is_some_and(|(number, a, b)| is_pause(number, a, b)), || {
                "the parent waited in pause(). pause() cannot wait for a signal safely, even after checking a \
                 flag: a signal that lands between the check and pause() is lost, and pause() sleeps forever \
                 (this test's 500 rounds catch it now and then). Block SIGUSR1 before the fork and wait with \
                 sigsuspend (it unblocks and sleeps in one step), sigtimedwait or a signalfd"
                    .into()
            })
        });
    }

    extern "C" fn ignore_signal(_: libc::c_int) {}

    /// Calls the kata with a child that signals only 300 ms after the parent starts waiting;
    /// with `alarms`, SIGALRM is caught every 5 ms meanwhile (no SA_RESTART).
    fn with_a_slow_child(s: &Sandbox, alarms: bool) -> Result<(), Failure> {
        let (go_r, go_w) = fd::pipe()?;
        CHILD_GO.store(go_r.as_raw_fd(), Ordering::Relaxed);
        // SAFETY: registers a handler that only reads an atomic and one byte; this body
        // process is the test's own and ends with the test.
        unsafe { libc::pthread_atfork(None, None, Some(child_waits_for_go)) };
        let main_thread = libc::c_long::from(process::gettid());
        // A thread of the test lets the child go on 300 ms after the parent first sleeps in
        // a system call (out of meanwhile): a wait that gives up early has given up by then.
        let meanwhile_done = std::sync::Arc::new(AtomicBool::new(false));
        let watcher = std::thread::spawn({
            let meanwhile_done = meanwhile_done.clone();
            move || {
                // Every signal is for the main thread: SIGUSR1, and SIGALRM.
                // SAFETY: a full set blocks every signal in this thread only.
                unsafe {
                    let mut all: libc::sigset_t = std::mem::zeroed();
                    libc::sigfillset(&mut all);
                    libc::pthread_sigmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
                }
                let give_up = Instant::now() + Duration::from_secs(3);
                while !(meanwhile_done.load(Ordering::Relaxed) && syscall_of(main_thread).is_some())
                    && Instant::now() < give_up
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::sleep(Duration::from_millis(300));
                fd::write_byte(&go_w);
            }
        });
        s.phase("calling wait_for_child_signal, whose child signals 300 ms after the parent starts waiting");
        if alarms {
            // A handler for SIGUSR1 too: if the kata gives up, the child's signal comes once it
            // has unblocked it, and would kill the test before it could say why.
            // SAFETY: a handler that does nothing, in this test's own process.
            unsafe { libc::signal(libc::SIGUSR1, ignore_signal as *const () as libc::sighandler_t) };
            caught_alarms_every(Some(Duration::from_millis(5)));
        }
        let result = call(s, |_| meanwhile_done.store(true, Ordering::Relaxed));
        caught_alarms_every(None);
        CHILD_GO.store(-1, Ordering::Relaxed);
        let _ = watcher.join();
        let why = if alarms {
            "SIGALRM, which the caller handles, came every 5 ms while the parent waited: a wait that a handler \
             interrupts (EINTR) is waited again"
        } else {
            "the child was alive and had not signalled yet: a child that is slow to signal is waited for; only \
             one that has exited without signalling is an error"
        };
        result.map(drop).map_err(|f| match f.outcome() {
            Outcome::WrongAnswer(text) => Failure::wrong(format!("{text}\n  ({why})")),
            _ => f,
        })
    }

    #[test]
    fn a_child_that_signals_only_after_the_parent_has_waited_300_ms_is_still_waited_for() {
        grade!().run(|s| with_a_slow_child(s, false));
    }

    #[test]
    fn signals_the_caller_handles_while_the_parent_waits_do_not_end_the_wait() {
        grade!().run(|s| with_a_slow_child(s, true));
    }

    /// Set by the test before the kata runs; read in the kata's child by the fork hook below.
    static DIE_SILENTLY: AtomicBool = AtomicBool::new(false);

    /// Runs in every child right after `fork` (pthread_atfork): the kata's child exits at once,
    /// before its own code can send SIGUSR1, as a child that crashes early would.
    extern "C" fn child_exits_without_signalling() {
        if DIE_SILENTLY.load(Ordering::Relaxed) {
            // SAFETY: _exit is async-signal-safe and ends the child at once.
            unsafe { libc::_exit(0) };
        }
    }

    #[test]
    fn a_child_that_exits_without_signalling_is_an_error_not_a_wait_forever() {
        grade!().run(|s| {
            // SAFETY: registers a handler that only reads an atomic and calls _exit; this body
            // process is the test's own and ends with the test.
            unsafe { libc::pthread_atfork(None, None, Some(child_exits_without_signalling)) };
            DIE_SILENTLY.store(true, Ordering::Relaxed);
            s.phase(
                "waiting in wait_for_child_signal for a child that exited without sending SIGUSR1 (a wait that \
                 does not notice the child's exit waits forever)",
            );
            let mut child = None;
            let result = signals::wait_for_child_signal(|pid| {
                DIE_SILENTLY.store(false, Ordering::Relaxed);
                child = Some(pid);
            });
            DIE_SILENTLY.store(false, Ordering::Relaxed);
            match result {
                Err(_) => {}
                Ok(from) => {
                    return Err(Failure::wrong(format!(
                        "the child exited with status 0 without sending SIGUSR1, and wait_for_child_signal \
                         returned Ok({from}): it must fail when the child is gone and no signal came from it"
                    )));
                }
            }
            let child = child.ok_or_else(|| {
                Failure::wrong("wait_for_child_signal returned without calling meanwhile(child) after the fork")
            })?;
            s.expect(process::state(child.as_raw()).is_none(), || {
                format!(
                    "the child {child} still exists after wait_for_child_signal failed: reap it on the error \
                     path too"
                )
            })
        });
    }

    #[test]
    fn another_exited_child_of_the_caller_is_left_for_the_caller_to_reap() {
        grade!().run(|s| {
            s.phase("forking a child of the caller that exits with status 7");
            let sibling = fork_child(|| 7)?;
            wait_exited_unreaped(sibling);
            s.phase("calling wait_for_child_signal while the caller has an exited child of its own");
            let result = call(s, until_the_child_has_signalled(s));
            let status = reap(sibling);
            result?;
            s.expect(status == Some(WaitStatus::Exited(sibling, 7)), || {
                format!(
                    "the caller's own child {sibling} (exited with status 7) was reaped by wait_for_child_signal \
                     (the caller's waitpid got {status:?}): wait for your child by its pid, never with \
                     wait(NULL) or waitpid(-1), which take any child"
                )
            })
        });
    }

    #[test]
    fn sigusr1_is_left_as_it_was_found_blocked_or_not() {
        grade!().run(|s| {
            s.phase("calling wait_for_child_signal with SIGUSR1 at its default action and unblocked");
            call(s, |_| {})?;
            let (handler, blocked, pending) = signal_state(libc::SIGUSR1);
            s.expect(handler == libc::SIG_DFL, || {
                "afterwards SIGUSR1 is no longer at its default action: restore the disposition you found \
                 (keep the old sigaction and put it back)"
                    .into()
            })?;
            s.expect(!blocked, || "afterwards SIGUSR1 is still blocked: restore the signal mask you found".into())?;
            s.expect(!pending, || "afterwards a SIGUSR1 is still pending: take the child's signal".into())?;
            s.phase("calling wait_for_child_signal with SIGUSR1 blocked by the caller");
            let old = mask(libc::SIG_BLOCK, libc::SIGUSR1);
            call(s, |_| {})?;
            let (_, blocked, pending) = signal_state(libc::SIGUSR1);
            set_mask(&old);
            s.expect(blocked, || {
                "the caller had SIGUSR1 blocked, and wait_for_child_signal unblocked it: restore the old mask".into()
            })?;
            s.expect(!pending, || "a SIGUSR1 was left pending: take the child's signal".into())
        });
    }
}

mod counting {
    use super::*;
    use signals::SignalCounter;

    fn install(s: &Sandbox, signal: i32) -> Result<SignalCounter, Failure> {
        s.call(format!("SignalCounter::install({})", signal_name(signal)), || SignalCounter::install(signal))
    }

    #[test]
    fn standard_signals_sent_while_blocked_coalesce_into_one_delivery() {
        grade!().run(|s| {
            let counter = install(s, libc::SIGUSR2)?;
            let old = mask(libc::SIG_BLOCK, libc::SIGUSR2);
            let parent = me();
            s.phase("a child sends SIGUSR2 20 times while the parent blocks it");
            s.fork("the sending child", || {
                (0..20).for_each(|_| send(parent, libc::SIGUSR2));
                Ok(())
            })?
            .join()?;
            let while_blocked = counter.count();
            s.phase("unblocking SIGUSR2");
            set_mask(&old);
            let after = counter.count();
            s.expect_eq("deliveries counted while SIGUSR2 was blocked", &0, &while_blocked)?;
            s.expect(after == 1, || {
                format!(
                    "20 SIGUSR2 sent while it was blocked should be delivered once (a standard signal is \
                     pending or not, it is not queued), but the counter says {after}: count each call of \
                     the handler, exactly once"
                )
            })?;
            s.expect_eq("the signal the counter counts", &libc::SIGUSR2, &counter.signal())
        });
    }

    #[test]
    fn real_time_signals_sent_with_sigqueue_while_blocked_all_arrive_in_order_with_their_values() {
        grade!().run(|s| {
            let signal = libc::SIGRTMIN() + 1;
            let counter = install(s, signal)?;
            let old = mask(libc::SIG_BLOCK, signal);
            let sent: Vec<i32> = (0..64).map(|i: i32| i.wrapping_mul(-1_000_003).wrapping_add(17)).collect();
            let parent = me();
            s.phase("a child sends SIGRTMIN+1 64 times with queue_signal, each with its own value, while blocked");
            s.fork("the child calling queue_signal", || {
                for &value in &sent {
                    signals::queue_signal(parent, signal, value).map_err(|e| Failure::kata_error("queue_signal", e))?;
                }
                Ok(())
            })?
            .join()?;
            s.phase("unblocking SIGRTMIN+1");
            set_mask(&old);
            let count = counter.count();
            s.expect(count == sent.len(), || {
                format!(
                    "64 SIGRTMIN+1 sent with queue_signal should all be delivered (real-time signals queue), \
                     but the counter says {count}"
                )
            })?;
            let got = counter.values();
            s.expect(got == sent, || {
                format!(
                    "the values delivered differ from the values sent, in order:\n  sent {:?}…\n  got  {:?}…\n\
                     Send with sigqueue (not kill), install with SA_SIGINFO, and read si_value in the handler",
                    &sent[..sent.len().min(6)],
                    &got[..got.len().min(6)]
                )
            })
        });
    }

    #[test]
    fn standard_signals_sent_one_at_a_time_are_each_counted() {
        grade!().run(|s| {
            let counter = install(s, libc::SIGUSR1)?;
            let (go, sent) = (Handshake::new()?, Handshake::new()?);
            let parent = me();
            let sender = s.fork("the sending child", || {
                for _ in 0..25 {
                    go.wait("the parent to ask for a signal")?;
                    send(parent, libc::SIGUSR1);
                    sent.notify()?;
                }
                Ok(())
            })?;
            for n in 1..=25 {
                s.phase(format!("asking the child for SIGUSR1 number {n} of 25"));
                go.notify()?;
                // The signal is pending before the child notifies; it is delivered at the latest
                // when the parent's read of the handshake returns.
                sent.wait(&format!("the child to send SIGUSR1 number {n}"))?;
                let count = counter.count();
                s.expect(count == n, || {
                    format!("after {n} SIGUSR1 each delivered before the next was sent, the counter says {count}")
                })?;
            }
            sender.join()?;
            let values = counter.values();
            s.expect(values == vec![0; 25], || {
                format!("signals sent with kill carry the value 0, but values() returned {values:?}")
            })
        });
    }

    #[test]
    fn a_flood_of_signals_while_the_counts_are_read_neither_deadlocks_nor_loses_the_count() {
        grade!().run(|s| {
            let counter = install(s, libc::SIGUSR1)?;
            // A timer interrupts the body wherever it is, inside count() and values() too: the
            // signal is delivered on the way back from the timer's interrupt.
            s.phase("starting a timer that sends SIGUSR1 every 20 µs");
            let ticker = Ticker::start(libc::SIGUSR1, 20_000)?;
            s.phase(
                "calling count() and values() over and over while SIGUSR1 interrupts them, until 5000 are \
                 counted (a handler that takes a lock or allocates deadlocks here)",
            );
            // No system call in this loop: every delivery interrupts the kata's own code.
            while counter.count() < 5000 {
                std::hint::black_box(counter.values());
            }
            drop(ticker);
            let count = counter.count();
            let values = counter.values();
            s.expect(values.len() >= count.min(signals::MAX_VALUES) && values.len() <= count, || {
                format!(
                    "count() says {count} but values() returned {} values: it keeps at least the first {}",
                    values.len(),
                    signals::MAX_VALUES
                )
            })
        });
    }

    #[test]
    fn a_counted_signal_does_not_interrupt_a_blocking_read_of_the_program() {
        grade!().run(|s| {
            let counter = install(s, libc::SIGUSR1)?;
            let (data_r, data_w) = fd::pipe()?;
            let main_thread = libc::c_long::from(process::gettid());
            let reading_fd = data_r.as_raw_fd();
            s.phase("reading a pipe (blocking) while SIGUSR1 arrives and is counted");
            let (n, err) = std::thread::scope(|scope| {
                // A thread of the test waits until the main thread is blocked reading the pipe,
                // sends SIGUSR1 to that thread, and writes to the pipe only once the handler has
                // counted it.
                scope.spawn(|| {
                    mask(libc::SIG_BLOCK, libc::SIGUSR1);
                    let give_up = Instant::now() + Duration::from_secs(3);
                    wait_until_reading(main_thread, reading_fd, give_up);
                    // SAFETY: tgkill takes plain values: SIGUSR1 to the main thread, as to no other.
                    unsafe { libc::syscall(libc::SYS_tgkill, me().as_raw(), main_thread, libc::SIGUSR1) };
                    while counter.count() == 0 && Instant::now() < give_up {
                        std::thread::yield_now();
                    }
                    fd::write_byte(&data_w);
                });
                let mut byte = [0u8; 1];
                // SAFETY: one valid byte.
                let n = unsafe { libc::read(reading_fd, byte.as_mut_ptr().cast(), 1) };
                (n, io::Error::last_os_error())
            });
            s.expect(n == 1, || {
                format!(
                    "a blocking read of the program returned {n} ({err}) when a counted SIGUSR1 arrived: install \
                     the handler with SA_RESTART, as install promises, so that it does not break the program's \
                     blocking calls with EINTR"
                )
            })?;
            s.expect_eq("deliveries counted", &1, &counter.count())
        });
    }

    extern "C" fn the_callers_handler(_: libc::c_int) {}

    #[test]
    fn dropping_the_counter_restores_the_handler_that_was_there() {
        grade!().run(|s| {
            // SAFETY: installs a handler that does nothing, in this test's own process.
            unsafe { libc::signal(libc::SIGUSR1, the_callers_handler as *const () as libc::sighandler_t) };
            let counter = install(s, libc::SIGUSR1)?;
            send(me(), libc::SIGUSR1);
            let count = counter.count();
            s.expect(count == 1, || format!("a SIGUSR1 sent to itself was counted {count} times, not once"))?;
            s.phase("dropping the counter");
            drop(counter);
            let (handler, blocked, _) = signal_state(libc::SIGUSR1);
            s.expect(handler == the_callers_handler as *const () as libc::sighandler_t, || {
                "after the counter was dropped SIGUSR1 no longer has the handler it had before install: keep \
                 the old sigaction from install and put it back in Drop"
                    .into()
            })?;
            s.expect(!blocked, || "the counter left SIGUSR1 blocked: install must leave the mask alone".into())
        });
    }

    #[test]
    fn the_lowest_and_the_highest_signal_numbers_sighup_and_sigrtmax_can_be_counted() {
        grade!().run(|s| {
            for signal in [libc::SIGHUP, libc::SIGRTMAX()] {
                let counter = install(s, signal)?;
                s.phase(format!("sending {} to itself", signal_name(signal)));
                send(me(), signal);
                let count = counter.count();
                s.expect(count == 1, || {
                    format!("a {} sent to itself was counted {count} times, not once", signal_name(signal))
                })?;
            }
            Ok(())
        });
    }

    #[test]
    fn uncatchable_or_unknown_signals_are_invalid_input_and_one_counter_per_signal() {
        grade!().run(|s| {
            for (signal, what) in [
                (libc::SIGKILL, "SIGKILL".to_string()),
                (libc::SIGSTOP, "SIGSTOP".to_string()),
                (0, "signal 0".to_string()),
                (-1, "signal -1".to_string()),
                (libc::SIGRTMAX() + 1, "SIGRTMAX + 1".to_string()),
            ] {
                s.phase(format!("SignalCounter::install({what})"));
                s.expect_err(
                    &format!("SignalCounter::install({what})"),
                    SignalCounter::install(signal),
                    ErrorKind::InvalidInput,
                )?;
            }
            let first = install(s, libc::SIGUSR2)?;
            s.phase("installing a second counter for SIGUSR2");
            s.expect_err(
                "a second SignalCounter::install(SIGUSR2)",
                SignalCounter::install(libc::SIGUSR2),
                ErrorKind::AlreadyExists,
            )?;
            send(me(), libc::SIGUSR2);
            let count = first.count();
            s.expect(count == 1, || {
                format!("after the refused second install, the first counter counted a SIGUSR2 {count} times, not once")
            })?;
            drop(first);
            s.phase("installing a counter for SIGUSR2 again once the first is dropped");
            install(s, libc::SIGUSR2).map(drop)
        });
    }
}

mod reaping {
    use super::*;
    use signals::ChildReaper;

    /// Children of the test that wait until released, then exit with their codes.
    struct Held {
        release: Option<OwnedFd>,
        pids: Vec<Pid>,
    }

    impl Held {
        fn fork(s: &Sandbox, codes: &[i32]) -> Result<Held, Failure> {
            s.phase(format!("forking {} children that wait to be released", codes.len()));
            let (read_end, write_end) = fd::pipe()?;
            let w = write_end.as_raw_fd();
            let mut held = Held { release: Some(write_end), pids: Vec::new() };
            for &code in codes {
                held.pids.push(fork_child(|| {
                    // SAFETY: closes the child's copy of the write end, so that it sees EOF.
                    unsafe { libc::close(w) };
                    while fd::read_byte(&read_end).is_some() {}
                    code
                })?);
            }
            Ok(held)
        }

        /// Lets every child exit.
        fn release(&mut self) {
            self.release = None;
        }
    }

    impl Drop for Held {
        /// Children the kata did not reap are reaped here, so a report is about the kata.
        fn drop(&mut self) {
            self.release();
            for &pid in &self.pids {
                reap(pid);
            }
        }
    }

    fn install(s: &Sandbox) -> Result<ChildReaper, Failure> {
        s.call("ChildReaper::install()", ChildReaper::install)
    }

    /// Calls wait_and_reap until every pid of `expected` is reaped; each call must reap one.
    fn reap_all(s: &Sandbox, reaper: &mut ChildReaper, expected: usize) -> Result<Vec<WaitStatus>, Failure> {
        let mut all = Vec::new();
        while all.len() < expected {
            s.phase(format!("calling wait_and_reap: {} of {expected} children reaped so far", all.len()));
            let got = s.ok("wait_and_reap(2 s)", reaper.wait_and_reap(Duration::from_secs(2)));
            let got = got.map_err(|f| {
                Failure::wrong(format!(
                    "{}\n{} of {expected} children were reaped before: did a call reap one child per SIGCHLD? \
                     SIGCHLDs coalesce; loop waitpid(-1, WNOHANG) until no exited child is left",
                    f.outcome().text(),
                    all.len()
                ))
            })?;
            all.extend(got);
        }
        Ok(all)
    }

    fn pid_of(status: &WaitStatus) -> Option<Pid> {
        status.pid()
    }

    #[test]
    fn fifty_children_exiting_at_once_are_all_reaped_by_one_call() {
        grade!().run(|s| {
            let mut reaper = install(s)?;
            let codes: Vec<i32> = (0..50).map(|i| i * 5 + 1).collect();
            let mut held = Held::fork(s, &codes)?;
            // While SIGCHLD is blocked, 50 exits leave one SIGCHLD pending: the coalescing that a
            // burst of exits causes anyway, made certain.
            let old = mask(libc::SIG_BLOCK, libc::SIGCHLD);
            s.phase("releasing 50 children at once while SIGCHLD is blocked, so that their SIGCHLDs coalesce");
            held.release();
            for &pid in &held.pids {
                wait_exited_unreaped(pid);
            }
            s.phase("unblocking SIGCHLD: one SIGCHLD for 50 exited children");
            set_mask(&old);
            s.phase("calling wait_and_reap once, after 50 children exited and one SIGCHLD came");
            let reaped = s.ok("wait_and_reap(2 s)", reaper.wait_and_reap(Duration::from_secs(2)))?;
            s.expect(reaped.len() == 50, || {
                format!(
                    "50 children had exited, and one call of wait_and_reap reaped {}. Their SIGCHLDs coalesced \
                     into one: one waitpid per SIGCHLD leaves zombies. Loop waitpid(-1, WNOHANG) until it \
                     finds no exited child",
                    reaped.len()
                )
            })?;
            for (&pid, &code) in held.pids.iter().zip(&codes) {
                let got = reaped.iter().find(|st| pid_of(st) == Some(pid));
                s.expect(got == Some(&WaitStatus::Exited(pid, code)), || {
                    format!("child {pid} exited with status {code}, but wait_and_reap reported {got:?}")
                })?;
            }
            Ok(())
        });
    }

    #[test]
    fn each_child_is_reported_with_its_exit_code_or_the_signal_that_killed_it() {
        grade!().run(|s| {
            let mut reaper = install(s)?;
            let codes = [0, 1, 42, 255, 3];
            let mut held = Held::fork(s, &codes)?;
            let killed = held.pids[4];
            send(killed, libc::SIGKILL);
            held.release();
            let reaped = reap_all(s, &mut reaper, codes.len())?;
            for (&pid, &code) in held.pids.iter().zip(&codes) {
                let expected = if pid == killed {
                    WaitStatus::Signaled(pid, Signal::SIGKILL, false)
                } else {
                    WaitStatus::Exited(pid, code)
                };
                let got: Vec<_> = reaped.iter().filter(|st| pid_of(st) == Some(pid)).collect();
                s.expect(got == [&expected], || {
                    format!("child {pid}: expected {expected:?}, wait_and_reap reported {got:?}")
                })?;
            }
            Ok(())
        });
    }

    #[test]
    fn a_child_still_running_is_not_waited_for_and_is_reaped_once_it_exits() {
        grade!().run(|s| {
            let mut reaper = install(s)?;
            let mut running = Held::fork(s, &[9])?;
            let mut exiting = Held::fork(s, &[8])?;
            exiting.release();
            s.phase("calling wait_and_reap after one child exits while another keeps running: it must not wait for the running one");
            let reaped = s.ok("wait_and_reap(2 s)", reaper.wait_and_reap(Duration::from_secs(2)))?;
            let (long, short) = (running.pids[0], exiting.pids[0]);
            s.expect(reaped == [WaitStatus::Exited(short, 8)], || {
                format!("one child ({short}) exited with status 8 while {long} keeps running; wait_and_reap reported {reaped:?}")
            })?;
            s.expect(process::state(long.as_raw()).is_some_and(|st| st != 'Z'), || format!("the running child {long} is gone"))?;
            running.release();
            let reaped = reap_all(s, &mut reaper, 1)?;
            s.expect(reaped == [WaitStatus::Exited(long, 9)], || {
                format!("the second child ({long}) exited with status 9; wait_and_reap reported {reaped:?}")
            })
        });
    }

    #[test]
    fn no_child_exiting_is_timed_out_after_about_the_timeout() {
        grade!().run(|s| {
            let mut reaper = install(s)?;
            s.phase("calling wait_and_reap(300 ms) with no child at all");
            let started = Instant::now();
            let result = reaper.wait_and_reap(Duration::from_millis(300));
            let took = started.elapsed();
            s.expect_err("wait_and_reap(300 ms) with no child", result, ErrorKind::TimedOut)?;
            s.expect(took >= Duration::from_millis(250) && took < Duration::from_secs(2), || {
                format!("wait_and_reap(300 ms) gave up after {took:?}: wait about the timeout for a SIGCHLD")
            })
        });
    }

    /// Whether a SIGCHLD is pending and not blocked by the thread `tid` of this process
    /// (/proc/self/task/tid/status: SigPnd, ShdPnd, SigBlk; `man 5 proc`).
    fn sigchld_waits_for(tid: libc::c_long) -> bool {
        let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
                .unwrap_or(0)
        };
        let bit = 1u64 << (libc::SIGCHLD - 1);
        (field("SigPnd:") | field("ShdPnd:")) & bit != 0 && field("SigBlk:") & bit == 0
    }

    #[test]
    fn a_child_exiting_does_not_interrupt_a_blocking_read_of_the_program() {
        grade!().run(|s| {
            let mut reaper = install(s)?;
            let (data_r, data_w) = fd::pipe()?;
            let (go_r, go_w) = fd::pipe()?;
            let go_write = go_w.as_raw_fd();
            s.phase("forking a child that exits when told to");
            let exiting = fork_child(|| {
                // SAFETY: closes this child's copy of the write end, so that it sees EOF.
                unsafe { libc::close(go_write) };
                if fd::read_byte(&go_r).is_some() { 0 } else { 1 }
            })?;
            drop(go_r);
            let main_thread = libc::c_long::from(process::gettid());
            let reading_fd = data_r.as_raw_fd();
            // A thread of the test waits until the main thread is blocked reading the pipe, lets
            // the child exit, and writes to the pipe only once the child has exited (its SIGCHLD is
            // then sent). It blocks SIGCHLD, so the signal goes to the main thread.
            let helper = std::thread::spawn(move || {
                mask(libc::SIG_BLOCK, libc::SIGCHLD);
                let give_up = Instant::now() + Duration::from_secs(3);
                wait_until_reading(main_thread, reading_fd, give_up);
                fd::write_byte(&go_w);
                while process::state(exiting.as_raw()).is_some_and(|st| st != 'Z') && Instant::now() < give_up {
                    std::thread::yield_now();
                }
                // A reader woken by the signal that finds data already there returns the data:
                // write only once the SIGCHLD has been taken (or is blocked, as with a signalfd).
                while sigchld_waits_for(main_thread) && Instant::now() < give_up {
                    std::thread::yield_now();
                }
                fd::write_byte(&data_w);
            });
            s.phase("reading a pipe (blocking) while a child exits and SIGCHLD arrives");
            let mut byte = [0u8; 1];
            // SAFETY: one valid byte.
            let n = unsafe { libc::read(reading_fd, byte.as_mut_ptr().cast(), 1) };
            let err = io::Error::last_os_error();
            let _ = helper.join();
            let reaped = reap_all(s, &mut reaper, 1);
            s.expect(n == 1, || {
                format!(
                    "a blocking read of the program returned {n} ({err}) when a child exited: a SIGCHLD handler \
                     installed without SA_RESTART makes every child's exit break the program's blocking calls \
                     with EINTR"
                )
            })?;
            let reaped = reaped?;
            s.expect(reaped == [WaitStatus::Exited(exiting, 0)], || {
                format!("the child ({exiting}) exited with status 0; wait_and_reap reported {reaped:?}")
            })
        });
    }

    #[test]
    fn dropping_the_reaper_restores_sigchld_and_the_mask() {
        grade!().run(|s| {
            let before = signal_state(libc::SIGCHLD);
            let reaper = install(s)?;
            let mut held = Held::fork(s, &[0])?;
            held.release();
            wait_exited_unreaped(held.pids[0]);
            s.phase("dropping the reaper");
            drop(reaper);
            let (handler, blocked, _) = signal_state(libc::SIGCHLD);
            s.expect(handler == before.0, || {
                "after the reaper was dropped SIGCHLD no longer has the disposition it had before install: \
                 keep the old sigaction and put it back in Drop"
                    .into()
            })?;
            s.expect(blocked == before.1, || {
                "after the reaper was dropped SIGCHLD is still blocked: restore the signal mask in Drop".into()
            })
        });
    }
}

mod shutdown {
    use super::*;

    /// The mode bits of the SysV message queue with `key`, None if there is none.
    fn queue_mode(key: i32) -> Option<u32> {
        sysv::rows("msg").into_iter().find(|row| row.key == key).map(|row| row.perms)
    }

    fn shm_mode(name: &str) -> Option<u32> {
        let meta = std::fs::metadata(format!("/dev/shm/{}", name.trim_start_matches('/'))).ok()?;
        Some(meta.permissions().mode() & 0o777)
    }

    /// Checks both objects exist, owner-only.
    fn expect_objects(s: &Sandbox, key: i32, name: &str) -> Result<(), Failure> {
        let queue = queue_mode(key);
        s.expect(queue.is_some(), || format!("after ready() there is no SysV message queue with key {key:#x}"))?;
        s.expect(queue == Some(0o600), || {
            format!("the message queue's mode is {:o}, expected 600 (owner only; never 0666)", queue.unwrap_or(0))
        })?;
        let shm = shm_mode(name);
        s.expect(shm.is_some(), || format!("after ready() there is no POSIX shared memory {name}"))?;
        s.expect(shm == Some(0o600), || {
            format!("the shared memory's mode is {:o}, expected 600 (owner only; never 0666)", shm.unwrap_or(0))
        })
    }

    fn expect_no_objects(s: &Sandbox, key: i32, name: &str, when: &str) -> Result<(), Failure> {
        s.expect(queue_mode(key).is_none(), || {
            format!("{when}, the SysV message queue {key:#x} still exists: msgctl(IPC_RMID) it")
        })?;
        s.expect(shm_mode(name).is_none(), || {
            format!("{when}, the POSIX shared memory {name} still exists: shm_unlink it")
        })
    }

    /// Runs serve_until_signalled in a worker process; `during_ready` runs inside `ready()`.
    /// Returns the worker once it called `ready()`.
    fn start(s: &mut Sandbox, expect: &'static [Signal], during_ready: fn()) -> Result<(Worker, i32, String), Failure> {
        let key = s.sysv_key();
        let name = s.posix_name("shutdown");
        let (ready_r, ready_w) = fd::pipe()?;
        s.phase("starting a worker process that calls serve_until_signalled");
        let worker = s.fork("the worker running serve_until_signalled", || {
            let ready = || {
                during_ready();
                fd::write_byte(&ready_w);
            };
            let got = signals::serve_until_signalled(key, &name, ready)
                .map_err(|e| Failure::kata_error("serve_until_signalled", e))?;
            if !expect.contains(&got) {
                return Err(Failure::wrong(format!(
                    "serve_until_signalled returned {got:?}, but it was stopped by {}",
                    expect.iter().map(|signal| format!("{signal:?}")).collect::<Vec<_>>().join(" and ")
                )));
            }
            Ok(())
        })?;
        drop(ready_w);
        s.phase("waiting for the worker to call ready()");
        if fd::read_byte(&ready_r).is_none() {
            // The worker ended without calling ready(): its own report says why.
            worker.join()?;
            return Err(Failure::wrong("serve_until_signalled returned without calling ready()"));
        }
        Ok((worker, key, name))
    }

    fn stopped_by_another_process(s: &mut Sandbox, signal: &'static Signal) -> Result<(), Failure> {
        let (worker, key, name) = start(s, std::slice::from_ref(signal), || {})?;
        expect_objects(s, key, &name)?;
        s.phase(format!("sending {signal:?} to the worker"));
        send(Pid::from_raw(worker.pid()), *signal as i32);
        worker.join()?;
        expect_no_objects(s, key, &name, &format!("after the worker stopped on {signal:?}"))
    }

    #[test]
    fn sigterm_from_another_process_removes_both_objects_and_the_worker_exits_0() {
        grade!().run(|s| stopped_by_another_process(s, &Signal::SIGTERM));
    }

    #[test]
    fn sigint_stops_it_cleanly_too() {
        grade!().run(|s| stopped_by_another_process(s, &Signal::SIGINT));
    }

    #[test]
    fn a_sigterm_that_arrives_while_ready_runs_is_not_lost() {
        grade!().run(|s| {
            let (worker, key, name) = start(s, &[Signal::SIGTERM], || send(me(), libc::SIGTERM))?;
            s.phase(
                "waiting for the worker, which got SIGTERM inside ready(), before it could start waiting for it \
                 (a lost wake-up hangs here)",
            );
            worker.join()?;
            expect_no_objects(s, key, &name, "after the worker stopped on a SIGTERM raised in ready()")
        });
    }

    #[test]
    fn a_sigterm_and_a_sigint_both_raised_in_ready_stop_it_once_and_the_worker_exits_0() {
        grade!().run(|s| {
            let both = || {
                send(me(), libc::SIGTERM);
                send(me(), libc::SIGINT);
            };
            let (worker, key, name) = start(s, &[Signal::SIGTERM, Signal::SIGINT], both)?;
            s.phase(
                "waiting for the worker, which got SIGTERM and SIGINT inside ready(): one answers the wait, the \
                 other is still pending when the mask comes back (if nobody takes it, its default action kills \
                 the worker)",
            );
            worker.join()?;
            expect_no_objects(s, key, &name, "after the worker stopped on a SIGTERM and a SIGINT raised in ready()")
        });
    }

    /// Whether this thread blocks `signal`.
    fn blocked(signal: libc::c_int) -> bool {
        // SAFETY: a zeroed sigset is valid; pthread_sigmask only fills it.
        unsafe {
            let mut mask: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
            libc::sigismember(&mask, signal) == 1
        }
    }

    /// What the test's `ready()` panics with, to tell it from any other panic.
    const READY_PANICS: &str = "the caller's ready() panicked";

    #[test]
    fn a_ready_that_panics_leaves_no_object_and_the_signal_mask_as_it_was() {
        grade!().run(|s| {
            let key = s.sysv_key();
            let name = s.posix_name("shutdown");
            s.phase("calling serve_until_signalled with a ready() that panics");
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                signals::serve_until_signalled(key, &name, || std::panic::panic_any(READY_PANICS))
            }));
            match result {
                Err(payload) if payload.downcast_ref::<&str>() == Some(&READY_PANICS) => {}
                // Any other panic (a todo!() included) is the kata's own.
                Err(payload) => std::panic::resume_unwind(payload),
                Ok(returned) => {
                    return Err(Failure::wrong(format!(
                        "ready() panicked, and serve_until_signalled returned {returned:?}: let the caller's panic \
                         go on to the caller"
                    )));
                }
            }
            s.expect(!blocked(libc::SIGTERM) && !blocked(libc::SIGINT), || {
                "after a panic in ready() went through serve_until_signalled, SIGTERM or SIGINT is still blocked in \
                 this thread: restore the old mask on every way out, unwinding included (an RAII guard whose Drop \
                 restores it)"
                    .into()
            })?;
            expect_no_objects(s, key, &name, "after a panic in ready() went through serve_until_signalled")
        });
    }

    /// Calls serve_until_signalled where it should fail before ready(); returns its result and
    /// whether it called ready() anyway (which then stops it, so the test is not left waiting).
    fn serve_expecting_no_ready(key: i32, name: &str) -> (io::Result<Signal>, bool) {
        let mut readied = false;
        let result = signals::serve_until_signalled(key, name, || {
            readied = true;
            send(me(), libc::SIGTERM);
        });
        (result, readied)
    }

    #[test]
    fn a_key_already_taken_is_already_exists_and_nothing_is_left() {
        grade!().run(|s| {
            let key = s.sysv_key();
            let name = s.posix_name("shutdown");
            // SAFETY: msgget takes plain values.
            let theirs = unsafe { libc::msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o600) };
            s.expect(theirs >= 0, || format!("the test could not make its queue: {}", io::Error::last_os_error()))?;
            s.phase("calling serve_until_signalled with a key another queue already has");
            let (result, readied) = serve_expecting_no_ready(key, &name);
            let still_theirs = queue_mode(key).is_some();
            // SAFETY: IPC_RMID on the queue the test made.
            unsafe { libc::msgctl(theirs, libc::IPC_RMID, std::ptr::null_mut()) };
            s.expect(!readied, || {
                "serve_until_signalled called ready() although the key was taken: create the queue with \
                 IPC_CREAT | IPC_EXCL, so that a key in use is an error, not someone else's queue"
                    .into()
            })?;
            s.expect_err("serve_until_signalled with a key in use", result, ErrorKind::AlreadyExists)?;
            s.expect(still_theirs, || {
                "serve_until_signalled removed the queue that was there before it: remove only what you made".into()
            })?;
            s.expect(shm_mode(&name).is_none(), || {
                format!("after failing, serve_until_signalled left the shared memory {name}: clean up on errors too")
            })
        });
    }

    #[test]
    fn a_name_already_taken_is_already_exists_and_the_queue_made_for_it_is_removed() {
        grade!().run(|s| {
            let key = s.sysv_key();
            let name = s.posix_name("shutdown");
            let theirs = nix::sys::mman::shm_open(
                name.as_str(),
                nix::fcntl::OFlag::O_CREAT | nix::fcntl::OFlag::O_EXCL | nix::fcntl::OFlag::O_RDWR,
                nix::sys::stat::Mode::from_bits_truncate(0o600),
            )
            .map_err(Failure::test_error("make its shared memory object"))?;
            s.phase("calling serve_until_signalled with a shared memory name another object already has");
            let (result, readied) = serve_expecting_no_ready(key, &name);
            let still_theirs = shm_mode(&name).is_some();
            let _ = nix::sys::mman::shm_unlink(name.as_str());
            drop(theirs);
            s.expect(!readied, || {
                "serve_until_signalled called ready() although the shared memory name was taken: open it with \
                 O_CREAT | O_EXCL, so that a name in use is an error, not someone else's object"
                    .into()
            })?;
            s.expect_err("serve_until_signalled with a name in use", result, ErrorKind::AlreadyExists)?;
            s.expect(still_theirs, || {
                "serve_until_signalled unlinked the shared memory that was there before it: remove only what you \
                 made"
                    .into()
            })?;
            s.expect(queue_mode(key).is_none(), || {
                format!("after failing, serve_until_signalled left the message queue {key:#x}: clean up on errors too")
            })
        });
    }

    #[test]
    fn a_name_that_is_not_a_slash_and_a_name_is_invalid_input_before_anything_is_made() {
        grade!().run(|s| {
            let key = s.sysv_key();
            let name = s.posix_name("shutdown");
            // The key is taken too: an answer that makes its queue before it checks the name
            // says AlreadyExists.
            // SAFETY: msgget takes plain values.
            let theirs = unsafe { libc::msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o600) };
            s.expect(theirs >= 0, || format!("the test could not make its queue: {}", io::Error::last_os_error()))?;
            let cases = [format!("{name}/more"), "/".to_string()];
            let mut outcome = Ok(());
            for bad in &cases {
                s.phase(format!("calling serve_until_signalled with the name {bad:?} and a key in use"));
                let (result, readied) = serve_expecting_no_ready(key, bad);
                outcome = s
                    .expect(!readied, || format!("serve_until_signalled called ready() with the name {bad:?}"))
                    .and_then(|()| {
                        s.expect_err(
                            &format!(
                                "serve_until_signalled with the name {bad:?} (check the name before making anything)"
                            ),
                            result,
                            ErrorKind::InvalidInput,
                        )
                        .map(drop)
                    });
                if outcome.is_err() {
                    break;
                }
            }
            // SAFETY: IPC_RMID on the queue the test made.
            unsafe { libc::msgctl(theirs, libc::IPC_RMID, std::ptr::null_mut()) };
            outcome
        });
    }

    #[test]
    fn a_name_without_its_slash_is_invalid_input_and_nothing_is_left() {
        grade!().run(|s| {
            let key = s.sysv_key();
            let name = s.posix_name("shutdown");
            let bare = name.trim_start_matches('/').to_string();
            s.phase(format!("calling serve_until_signalled with the name {bare:?}"));
            let (result, readied) = serve_expecting_no_ready(key, &bare);
            s.expect(!readied, || format!("serve_until_signalled called ready() with the name {bare:?}"))?;
            s.expect_err(&format!("serve_until_signalled with the name {bare:?}"), result, ErrorKind::InvalidInput)?;
            expect_no_objects(s, key, &name, "after failing")
        });
    }
}
