//! Tests of kata event_loop::pidfd_supervisor. The children are separate programs (the peer
//! command `EventLoop::PidfdChild`): each writes its pid to a pipe the test reads, then waits for
//! its stdin to reach end-of-file, which the test gives it by closing the write end (the
//! handshake that orders every exit), then exits with its code or raises its signal.

// The stub's Supervisor has no Drop (the answer's kills and reaps in it); the tests drop it
// explicitly where that is what they check.
#![allow(clippy::drop_non_drop)]

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read};
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ipc_katas::grade;
use ipc_katas::grader::{Failure, Sandbox, caught_alarms_every};
use ipc_katas::kit::signals::{mask, set_mask};
use ipc_katas::kit::{fd, process};
use katas::event_loop::{ChildId, Exit, Supervisor};

use super::peer::{self, EventLoop};

/// A child the test had the supervisor start: its pid (as it said it), its id, and the write end
/// of its stdin, whose closing lets it exit.
struct Kid {
    pid: i32,
    id: ChildId,
    release: Option<OwnedFd>,
    what: String,
}

impl Kid {
    /// Lets the child end: its stdin reaches end-of-file.
    fn release(&mut self) {
        self.release = None;
    }
}

/// How a child told to end with `code`, or by raising `signal`, is described.
fn describe(code: i32, signal: Option<i32>) -> String {
    match signal {
        Some(signal) => format!("a child that kills itself with signal {signal} when released"),
        None => format!("a child that exits with code {code} when released"),
    }
}

/// The peer program as a child that ends as [`describe`] says, not yet started.
fn child_command(s: &Sandbox, code: i32, signal: Option<i32>) -> Result<Command, Failure> {
    let command = peer::Command::from(EventLoop::PidfdChild { code, signal });
    let arg = serde_json::to_string(&command).map_err(Failure::test_error("encode the peer command"))?;
    Ok(s.peer_command(&[arg]))
}

/// Has `sup` start a child that ends as [`describe`] says, and waits until it has said its pid.
fn start(s: &Sandbox, sup: &mut Supervisor, code: i32, signal: Option<i32>) -> Result<Kid, Failure> {
    let what = describe(code, signal);
    let (stdin, release) = fd::pipe()?;
    let (said, stdout) = fd::pipe()?;
    let mut command = child_command(s, code, signal)?;
    command.stdin(Stdio::from(stdin)).stdout(Stdio::from(stdout)).stderr(Stdio::null());
    let id = s.call(format!("spawn({what})"), || sup.spawn(&mut command))?;
    // The test's copies of the child's ends: closed, so that a child that never started is an
    // end-of-file below, not a wait.
    drop(command);
    s.phase(format!("waiting for {what} (started by spawn) to say its pid"));
    let mut pid = [0u8; 4];
    std::fs::File::from(said).read_exact(&mut pid).map_err(|e| {
        Failure::wrong(format!(
            "spawn returned {id:?}, but the program it should have started never ran ({e}): spawn the command you are given"
        ))
    })?;
    Ok(Kid { pid: i32::from_ne_bytes(pid), id, release: Some(release), what })
}

/// The children of this process with their state letters (/proc/self/task/*/children).
fn children() -> Vec<(i32, char)> {
    let mut pids = Vec::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
                pids.extend(text.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
            }
        }
    }
    pids.into_iter().map(|pid| (pid, process::state(pid).unwrap_or('?'))).collect()
}

/// The state of `pid` if it is still a child of this process (running, or a zombie).
fn child_state(pid: i32) -> Option<char> {
    children().into_iter().find(|(p, _)| *p == pid).map(|(_, state)| state)
}

/// Waits (at most 3 s) until the child `pid` has exited, without reaping it; whether it did.
fn until_exited(pid: i32) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        if child_state(pid).is_none_or(|state| state == 'Z') {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// `wait_any(timeout)` in a thread of the body; a wrong answer if it has not returned within
/// `limit` (the learner reads what it waited for, not a hang). The supervisor comes back with
/// the result, and the time the call took.
type Waited = (Supervisor, io::Result<Option<(ChildId, Exit)>>, Duration);

fn wait_any(s: &Sandbox, sup: Supervisor, timeout: Duration, limit: Duration, while_: &str) -> Result<Waited, Failure> {
    wait_any_or(s, sup, (timeout, limit), while_, WAIT_FOR_ALL)
}

/// What a wait_any that waits too long usually does wrong.
const WAIT_FOR_ALL: &str = "Wait for every child at once with one epoll_wait on all their pidfds, for no longer than \
                            the timeout; a waitid that blocks on one child, or an epoll_wait without the timeout, \
                            waits too long";

/// [`wait_any`], with `advice` after the failure's text.
fn wait_any_or(
    s: &Sandbox,
    sup: Supervisor,
    (timeout, limit): (Duration, Duration),
    while_: &str,
    advice: &str,
) -> Result<Waited, Failure> {
    s.phase(format!("calling wait_any({timeout:?}) while {while_}"));
    let call = s.in_thread(move || {
        let mut sup = sup;
        let started = Instant::now();
        let result = sup.wait_any(timeout);
        (sup, result, started.elapsed())
    });
    if !call.finishes_within(s.bounded(limit)) {
        return Err(Failure::wrong(format!(
            "wait_any({timeout:?}) had not returned after {limit:?}, while {while_}. {advice}"
        )));
    }
    Ok(call.finish())
}

/// One report of wait_any, expected to be `expected` for `kid`; then the kid must be reaped.
fn expect_report(
    s: &Sandbox,
    got: io::Result<Option<(ChildId, Exit)>>,
    kid: &Kid,
    expected: Exit,
) -> Result<(), Failure> {
    let got = s.ok("wait_any", got)?;
    s.expect(got == Some((kid.id, expected)), || {
        format!("{} ({:?}, pid {}) has ended with {expected:?}; wait_any reported {got:?}", kid.what, kid.id, kid.pid)
    })?;
    s.expect(child_state(kid.pid).is_none(), || {
        format!(
            "wait_any reported {:?}, but its process {} is still there as a zombie: reap it with \
             waitid(P_PIDFD, pidfd, WEXITED) before reporting it",
            kid.id, kid.pid
        )
    })
}

/// `wait_any(2 s)`, in the phase "calling wait_any(2 s) after {after}".
fn wait_one(s: &Sandbox, sup: &mut Supervisor, after: &str) -> io::Result<Option<(ChildId, Exit)>> {
    s.phase(format!("calling wait_any(2 s) after {after}"));
    sup.wait_any(2 * SECOND)
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn each_exit_is_reported_with_the_child_that_exited_and_its_exit_code_and_reaped() {
    grade!().run(|s| {
        let mut sup = s.call("Supervisor::new()", Supervisor::new)?;
        let mut kids = Vec::new();
        for code in [0, 3, 42, 255] {
            kids.push(start(s, &mut sup, code, None)?);
        }
        for (kid, code) in kids.iter_mut().zip([0, 3, 42, 255]) {
            kid.release();
            let waited = wait_any(s, sup, 2 * SECOND, 2 * SECOND, &format!("{} has just been released", kid.what))?;
            sup = waited.0;
            expect_report(s, waited.1, kid, Exit::Code(code))?;
        }
        Ok(())
    });
}

#[test]
fn a_child_killed_by_a_signal_is_reported_as_that_signal_not_as_an_exit_code() {
    grade!().run(|s| {
        let mut sup = s.call("Supervisor::new()", Supervisor::new)?;
        // Exit code 15 and signal 15 (SIGTERM) side by side: only si_code tells them apart.
        let ends = [(0, Some(libc::SIGTERM)), (15, None), (0, Some(libc::SIGKILL))];
        let mut kids = Vec::new();
        for (code, signal) in ends {
            kids.push(start(s, &mut sup, code, signal)?);
        }
        for kid in &mut kids {
            kid.release();
        }
        let mut reports = HashMap::new();
        for n in 0..kids.len() {
            let call = format!("wait_any(2 s) after three children were released, {n} reported so far");
            let (id, exit) = s.call(&call, || sup.wait_any(2 * SECOND))?.ok_or_else(|| {
                Failure::wrong(format!("{call} returned None, with a child that had ended still unreported"))
            })?;
            reports.insert(id, exit);
        }
        for (kid, (code, signal)) in kids.iter().zip(ends) {
            let expected = signal.map_or(Exit::Code(code), Exit::Signal);
            let got = reports.get(&kid.id);
            s.expect(got == Some(&expected), || {
                format!(
                    "{} ({:?}) ended with {expected:?}; wait_any reported {got:?}. siginfo's si_code says what \
                     si_status is: CLD_EXITED an exit code, CLD_KILLED or CLD_DUMPED a signal number",
                    kid.what, kid.id
                )
            })?;
        }
        Ok(())
    });
}

#[test]
fn children_that_exit_in_another_order_than_they_started_are_each_reported_as_they_exit() {
    grade!().run(|s| {
        let mut sup = s.call("Supervisor::new()", Supervisor::new)?;
        let mut kids = Vec::new();
        for code in [1, 2, 3] {
            kids.push(start(s, &mut sup, code, None)?);
        }
        for (n, i) in [2, 0, 1].into_iter().enumerate() {
            let kid = &mut kids[i];
            kid.release();
            let while_ = format!(
                "only the child started {} of three ({}) has been released, {n} others reported",
                ["first", "second", "third"][i],
                kid.what
            );
            let waited = wait_any(s, sup, 2 * SECOND, 2 * SECOND, &while_)?;
            sup = waited.0;
            expect_report(s, waited.1, kid, Exit::Code(i as i32 + 1))?;
        }
        Ok(())
    });
}

#[test]
fn stop_ends_only_the_child_it_names_with_the_signal_it_gives() {
    grade!().run(|s| {
        let mut sup = s.call("Supervisor::new()", Supervisor::new)?;
        let mut kids = Vec::new();
        for code in [4, 5, 6] {
            kids.push(start(s, &mut sup, code, None)?);
        }
        for (i, signal) in [(1, libc::SIGTERM), (0, libc::SIGUSR1)] {
            let kid = &kids[i];
            s.call(format!("stop({:?}, {signal}) of the child started {}", kid.id, ["first", "second"][i]), || {
                sup.stop(kid.id, signal)
            })?;
            let got = wait_one(s, &mut sup, &format!("stop({:?}, {signal})", kid.id));
            expect_report(s, got, kid, Exit::Signal(signal))?;
        }
        let third = &mut kids[2];
        s.expect(child_state(third.pid).is_some_and(|state| state != 'Z'), || {
            format!(
                "the third child (pid {}) was not stopped, yet it has ended: stop signalled more than one child",
                third.pid
            )
        })?;
        third.release();
        let got = wait_one(s, &mut sup, "the third child was released");
        expect_report(s, got, third, Exit::Code(6))
    });
}

#[test]
fn a_wait_with_no_child_exiting_returns_none_after_about_the_timeout() {
    grade!().run(|s| {
        let mut sup = s.call("Supervisor::new()", Supervisor::new)?;
        let kid = start(s, &mut sup, 0, None)?;
        let timeout = Duration::from_millis(300);
        let (sup, got, took) = wait_any(s, sup, timeout, 2 * SECOND, "its only child never exits")?;
        let got = s.ok("wait_any(300 ms)", got)?;
        s.expect(got.is_none(), || format!("wait_any(300 ms) with a child that never exits returned {got:?}, not None"))?;
        s.expect(took >= Duration::from_millis(295), || {
            format!("wait_any(300 ms) returned None after {took:?}: wait the whole timeout (a Duration in milliseconds, rounded up)")
        })?;
        s.expect(took < Duration::from_millis(1500), || format!("wait_any(300 ms) took {took:?} to return None"))?;
        s.expect(child_state(kid.pid).is_some_and(|state| state != 'Z'), || {
            format!("the child (pid {}) was running before wait_any(300 ms), and is not now: waiting must not end it", kid.pid)
        })?;
        // Released first, so that this test does not wait on a Drop that forgets to kill (the
        // drop test's business).
        drop(kid);
        drop(sup);
        Ok(())
    });
}

/// Takes `signal` out of what is pending for this thread and process (it must be blocked here).
fn discard_pending(signal: i32) {
    // SAFETY: a sigset made with sigemptyset and sigaddset; a zero timeout never waits.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        while libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) == signal {}
    }
}

#[test]
fn a_wait_interrupted_by_the_callers_signals_still_returns_none_after_the_timeout() {
    grade!().run(|s| {
        let mut sup = s.call("Supervisor::new()", Supervisor::new)?;
        let kid = start(s, &mut sup, 0, None)?;
        // SIGALRM every 20 ms, caught by a handler without SA_RESTART, and unblocked only in the
        // thread that waits: each one interrupts its epoll_wait (which is never restarted, `man 7
        // signal`) with EINTR.
        let old = mask(libc::SIG_BLOCK, libc::SIGALRM);
        caught_alarms_every(Some(Duration::from_millis(20)));
        s.phase("calling wait_any(300 ms) with a child that never exits, while SIGALRM comes every 20 ms");
        let call = s.in_thread(move || {
            mask(libc::SIG_UNBLOCK, libc::SIGALRM);
            let started = Instant::now();
            let result = sup.wait_any(Duration::from_millis(300));
            (sup, result, started.elapsed())
        });
        let returned = call.finishes_within(s.bounded(2 * SECOND));
        caught_alarms_every(None);
        // A SIGALRM that came after the waiting thread ended is pending, blocked here: taken
        // before the mask comes back, or its default action would end the test.
        discard_pending(libc::SIGALRM);
        set_mask(&old);
        s.expect(returned, || {
            "wait_any(300 ms) had not returned after 2 s while a SIGALRM came every 20 ms: after an EINTR, wait \
             again for what is left of the timeout, not for the whole timeout again"
                .to_string()
        })?;
        let (sup, got, took) = call.finish();
        let got = got.map_err(|e| {
            Failure::wrong(format!(
                "wait_any(300 ms) returned an error while the caller's signals came: {e} (kind {:?}). A signal the \
                 caller handles interrupts epoll_wait with EINTR; wait again for what is left of the timeout",
                e.kind()
            ))
        })?;
        s.expect(got.is_none(), || format!("wait_any(300 ms) with a child that never exits returned {got:?}"))?;
        s.expect(took >= Duration::from_millis(295) && took < Duration::from_millis(1500), || {
            format!("wait_any(300 ms), interrupted every 20 ms, returned None after {took:?}, not after about 300 ms")
        })?;
        drop(kid);
        drop(sup);
        Ok(())
    });
}

/// What a wait_any with nothing to wait for should do instead of sleeping.
const NOTHING_TO_WAIT_FOR: &str = "With no child left to wait for, return None at once: an epoll_wait on no pidfd at \
                                   all sleeps the whole timeout for nothing";

#[test]
fn a_wait_with_no_child_left_returns_none_at_once() {
    grade!().run(|s| {
        let sup = s.call("Supervisor::new()", Supervisor::new)?;
        let (mut sup, got, took) = wait_any_or(s, sup, (3 * SECOND, SECOND), "no child was ever started", NOTHING_TO_WAIT_FOR)?;
        let got = s.ok("wait_any(3 s) with no child", got)?;
        s.expect(got.is_none() && took < SECOND, || {
            format!("wait_any(3 s) with no child at all returned {got:?} after {took:?}: with nothing to wait for, return None at once")
        })?;
        let mut kid = start(s, &mut sup, 9, None)?;
        kid.release();
        let got = wait_one(s, &mut sup, "the only child was released");
        expect_report(s, got, &kid, Exit::Code(9))?;
        let (_sup, got, took) = wait_any_or(s, sup, (3 * SECOND, SECOND), "its only child has been reported", NOTHING_TO_WAIT_FOR)?;
        let got = s.ok("wait_any(3 s) once every child was reported", got)?;
        s.expect(got.is_none() && took < SECOND, || {
            format!("wait_any(3 s) once every child was reported returned {got:?} after {took:?}: return None at once")
        })
    });
}

#[test]
fn dropping_the_supervisor_kills_and_reaps_every_child_still_there() {
    grade!().run(|s| {
        let mut sup = s.call("Supervisor::new()", Supervisor::new)?;
        let running = [start(s, &mut sup, 0, None)?, start(s, &mut sup, 0, None)?];
        let mut exited = start(s, &mut sup, 7, None)?;
        exited.release();
        s.phase("waiting for the released child to exit (nobody reports it)");
        s.expect(until_exited(exited.pid), || format!("the released child {} did not exit", exited.pid))?;
        s.phase("dropping the supervisor with two children running and one exited but not reported");
        let dropping = s.in_thread(move || drop(sup));
        s.expect(dropping.finishes_within(s.bounded(2 * SECOND)), || {
            "dropping the supervisor had not returned after 2 s, with two children that never exit on their own: \
             did Drop wait for them without killing them first? Send SIGKILL through each pidfd, then reap"
                .to_string()
        })?;
        dropping.finish();
        for kid in running.iter().chain([&exited]) {
            match child_state(kid.pid) {
                None => {}
                Some('Z') => {
                    return Err(Failure::wrong(format!(
                        "after the supervisor was dropped, its child {} is a zombie: Drop must reap every child it kills \
                         (waitid(P_PIDFD, pidfd, WEXITED)), and the one that had exited unreported too",
                        kid.pid
                    )));
                }
                Some(_) => {
                    return Err(Failure::wrong(format!(
                        "after the supervisor was dropped, its child {} is still running: Drop must kill every child \
                         left (pidfd_send_signal with SIGKILL) and reap it",
                        kid.pid
                    )));
                }
            }
        }
        drop(running);
        Ok(())
    });
}

/// Whether the test's own child `pid` is still there to be reaped: it exited, and nobody took it.
fn still_unreaped(pid: i32) -> bool {
    // SAFETY: a zeroed siginfo_t is a valid out-buffer; WNOWAIT leaves the child as it is.
    let r = unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT)
    };
    r == 0
}

#[test]
fn a_child_of_the_caller_that_exited_before_is_never_reaped_by_the_supervisor() {
    grade!().run(|s| {
        s.phase("forking a child of the test itself, which exits with 77 at once");
        // SAFETY: the child only calls _exit.
        let own = match unsafe { libc::fork() } {
            -1 => return Err(Failure::crash(format!("the test could not fork: {}", io::Error::last_os_error()))),
            // SAFETY: _exit ends the child without running the test's code.
            0 => unsafe { libc::_exit(77) },
            pid => pid,
        };
        s.expect(until_exited(own), || format!("the test's own child {own} did not exit"))?;
        let mut sup = s.call("Supervisor::new()", Supervisor::new)?;
        let mut kids = [start(s, &mut sup, 1, None)?, start(s, &mut sup, 2, None)?];
        let mut got = Vec::new();
        for kid in &mut kids {
            kid.release();
            s.phase(format!("calling wait_any(2 s) after {} was released", kid.what));
            got.push(sup.wait_any(2 * SECOND));
        }
        s.phase("dropping the supervisor");
        drop(sup);
        let taken = !still_unreaped(own);
        // The test reaps its own child (if it is still there to reap).
        nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(own), None).ok();
        s.expect(!taken, || {
            format!(
                "your code reaped a child that is not its own: the test's child {own}, which had exited before the \
                 supervisor was made. waitpid(-1) and wait() reap any child of the process; reap only your own \
                 children, each through its pidfd: waitid(P_PIDFD, pidfd, WEXITED)"
            )
        })?;
        for (kid, (got, code)) in kids.iter().zip(got.into_iter().zip([1, 2])) {
            expect_report(s, got, kid, Exit::Code(code))?;
        }
        Ok(())
    });
}

/// The descriptors of process `pid` above 2, with what they point to (/proc/PID/fd).
fn inherited(pid: i32) -> Vec<(i32, String)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    let mut fds: Vec<(i32, String)> = dir
        .flatten()
        .filter_map(|e| {
            let fd: i32 = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            (fd > 2).then(|| (fd, target.display().to_string()))
        })
        .collect();
    fds.sort();
    fds
}

#[test]
fn the_programs_it_starts_inherit_none_of_its_descriptors() {
    grade!().run(|s| {
        let mut sup = s.call("Supervisor::new()", Supervisor::new)?;
        let mut kids = [start(s, &mut sup, 0, None)?, start(s, &mut sup, 0, None)?];
        // Both have said their pids: each has run the program, and holds what it inherited.
        for (n, kid) in kids.iter().enumerate() {
            let fds = inherited(kid.pid);
            s.expect(fds.is_empty(), || {
                format!(
                    "the program started {} (pid {}) inherited descriptors from your supervisor: {}. Open every \
                     descriptor close-on-exec (epoll_create1(EPOLL_CLOEXEC); a pidfd from pidfd_open is \
                     close-on-exec already, a dup of it is not)",
                    ["first", "second"][n],
                    kid.pid,
                    fds.iter().map(|(fd, target)| format!("fd {fd} ({target})")).collect::<Vec<_>>().join(", ")
                )
            })?;
        }
        for kid in &mut kids {
            kid.release();
        }
        for n in 0..kids.len() {
            let got =
                s.call(format!("wait_any(2 s), {n} of two released children reported"), || sup.wait_any(2 * SECOND))?;
            s.expect(got.is_some(), || {
                format!("wait_any(2 s) returned None with a released child unreported ({n} reported)")
            })?;
        }
        Ok(())
    });
}

#[test]
fn stopping_a_child_already_reported_is_not_found_and_an_unknown_signal_is_invalid_input() {
    grade!().run(|s| {
        let mut sup = s.call("Supervisor::new()", Supervisor::new)?;
        let mut gone = start(s, &mut sup, 0, None)?;
        let alive = start(s, &mut sup, 0, None)?;
        gone.release();
        let got = wait_one(s, &mut sup, "the first child was released");
        expect_report(s, got, &gone, Exit::Code(0))?;
        s.phase(format!("calling stop({:?}, SIGTERM) of the child already reported", gone.id));
        s.expect_err("stop of a child already reported", sup.stop(gone.id, libc::SIGTERM), ErrorKind::NotFound)?;
        s.phase(format!("calling stop({:?}, 12345) of a running child", alive.id));
        s.expect_err("stop with signal 12345", sup.stop(alive.id, 12345), ErrorKind::InvalidInput)?;
        s.expect(child_state(alive.pid).is_some_and(|state| state != 'Z'), || {
            format!("the running child {} has ended after stop with an unknown signal failed", alive.pid)
        })?;
        s.call(format!("stop({:?}, SIGKILL)", alive.id), || sup.stop(alive.id, libc::SIGKILL))?;
        let got = wait_one(s, &mut sup, "stop(SIGKILL)");
        expect_report(s, got, &alive, Exit::Signal(libc::SIGKILL))
    });
}

#[test]
fn a_program_that_cannot_start_is_an_error_and_leaves_no_child() {
    grade!().run(|s| {
        let mut sup = s.call("Supervisor::new()", Supervisor::new)?;
        let missing = s.path("no-such-program");
        s.phase(format!("calling spawn({})", missing.display()));
        s.expect_err(
            "spawn of a program that does not exist",
            sup.spawn(&mut Command::new(&missing)),
            ErrorKind::NotFound,
        )?;
        let left = children();
        s.expect(left.is_empty(), || format!("after a spawn that failed, the process has children: {left:?}"))?;
        let got = s.call("wait_any(2 s) with no child started", || sup.wait_any(2 * SECOND))?;
        s.expect(got.is_none(), || format!("wait_any with no child started returned {got:?}"))
    });
}

// The calls the supervisor makes, watched by a seccomp filter (`man 2 seccomp`). The filter is
// installed in one thread of the body only (without SECCOMP_FILTER_FLAG_TSYNC it binds the
// calling thread and what it starts), which runs every call of the supervisor, its Drop
// included; the body's main thread, which audits and reports afterwards, is left alone.

/// The first call the filter trapped (its number), or -1.
static TRAPPED: AtomicI32 = AtomicI32::new(-1);
/// The first argument of that first call, where the architecture is known (else 0).
static TRAPPED_ARG: AtomicI64 = AtomicI64::new(0);
/// How many calls it trapped.
static TRAPS: AtomicU32 = AtomicU32::new(0);

/// The SIGSYS handler: records the trapped call and makes it fail with EPERM (the kernel leaves
/// the return register as the call's number otherwise: `man 2 seccomp`, SECCOMP_RET_TRAP).
extern "C" fn on_sigsys(_: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo of a SIGSYS, and the ucontext of the thread.
    unsafe {
        let context = context.cast::<libc::ucontext_t>();
        #[cfg(target_arch = "x86_64")]
        let arg = (*context).uc_mcontext.gregs[libc::REG_RDI as usize];
        #[cfg(target_arch = "aarch64")]
        let arg = (*context).uc_mcontext.regs[0] as i64;
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        let arg = 0;
        if TRAPPED.compare_exchange(-1, (*info).si_syscall(), Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            TRAPPED_ARG.store(arg, Ordering::SeqCst);
        }
        TRAPS.fetch_add(1, Ordering::SeqCst);
        #[cfg(target_arch = "x86_64")]
        {
            (*context).uc_mcontext.gregs[libc::REG_RAX as usize] = -(libc::EPERM as i64);
        }
        #[cfg(target_arch = "aarch64")]
        {
            (*context).uc_mcontext.regs[0] = (-(libc::EPERM as i64)) as u64;
        }
    }
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;
/// Elsewhere the filter matches no call (this test then watches nothing).
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const AUDIT_ARCH: u32 = 0;

/// The calls that send a signal to a process or thread by its id: trapped unless they aim at
/// this process itself (`abort` and `raise` send theirs with tgkill to their own process).
const SIGNAL_BY_PID: [libc::c_long; 5] =
    [libc::SYS_kill, libc::SYS_tkill, libc::SYS_tgkill, libc::SYS_rt_sigqueueinfo, libc::SYS_rt_tgsigqueueinfo];

/// Installs, in the calling thread, the filter that traps `wait4`, every `waitid` whose first
/// argument is not `P_PIDFD`, and every call of [`SIGNAL_BY_PID`] that aims at another process.
fn watch_calls_of_this_thread() -> io::Result<()> {
    let stmt = |code: u32, k: u32| libc::sock_filter { code: code as u16, jt: 0, jf: 0, k };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = |offset: u32| stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset);
    let allow = stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW);
    let trap = stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_TRAP);
    // A jump's offset counts the instructions it skips: from i to t, t - (i + 1).
    const WAITID: usize = 12;
    const SELF: usize = 14;
    const TRAP: usize = 16;
    const ALLOW: usize = 17;
    let to = |from: usize, target: usize| (target - (from + 1)) as u8;
    // struct seccomp_data: nr at 0, arch at 4, args[0] at 16 (its low half: little-endian).
    let mut program = vec![
        load(4),                                        // 0
        jeq(AUDIT_ARCH, 1, 0),                          // 1: another ABI: allowed
        allow,                                          // 2
        load(0),                                        // 3
        jeq(libc::SYS_wait4 as u32, to(4, TRAP), 0),    // 4
        jeq(libc::SYS_waitid as u32, to(5, WAITID), 0), // 5
    ];
    for (i, call) in SIGNAL_BY_PID.iter().enumerate() {
        program.push(jeq(*call as u32, to(6 + i, SELF), 0)); // 6..=10
    }
    program.extend([
        allow,                                                // 11
        load(16),                                             // 12 WAITID: its idtype
        jeq(libc::P_PIDFD, to(13, ALLOW), to(13, TRAP)),      // 13
        load(16),                                             // 14 SELF: the pid it aims at
        jeq(std::process::id(), to(15, ALLOW), to(15, TRAP)), // 15
        trap,                                                 // 16 TRAP
        allow,                                                // 17 ALLOW
    ]);
    let prog = libc::sock_fprog { len: program.len() as u16, filter: program.as_mut_ptr() };
    // SAFETY: a handler that only stores to atomics and edits the interrupted context.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigsys as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: prctl with integer arguments; seccomp with a valid program for the call. Without
    // privileges, a filter needs no_new_privs first (`man 2 seccomp`).
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &prog) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// What a trapped call means, in the words of the report.
fn trapped_call(number: i32, arg: i64) -> String {
    let bare = "with a bare pid: by the time it runs, that pid may be a different process (once a child is reaped, \
                the kernel may give its pid to any new process)";
    match number as libc::c_long {
        libc::SYS_kill => format!(
            "your code called kill(2) {bare}. Signal a child through its pidfd: pidfd_send_signal(2) (std's Child::kill \
             and libc::kill are kill(2))"
        ),
        libc::SYS_tkill | libc::SYS_tgkill => {
            format!(
                "your code called tkill(2) or tgkill(2) {bare}. Signal a child through its pidfd: pidfd_send_signal(2)"
            )
        }
        libc::SYS_rt_sigqueueinfo | libc::SYS_rt_tgsigqueueinfo => {
            format!(
                "your code called sigqueue(3) (rt_sigqueueinfo) {bare}. Signal a child through its pidfd: pidfd_send_signal(2)"
            )
        }
        libc::SYS_wait4 if arg as i32 == -1 => "your code called wait4(-1, ...) (waitpid(-1) or wait()): it reaps any \
             child of the process, the caller's own children too, and says which by a bare pid. Reap each child \
             through its pidfd: waitid(P_PIDFD, pidfd, &info, WEXITED)"
            .to_string(),
        libc::SYS_wait4 => format!(
            "your code called wait4(2) (waitpid(pid), or std's Child::wait) {bare}. Reap a child through its pidfd: \
             waitid(P_PIDFD, pidfd, &info, WEXITED)"
        ),
        libc::SYS_waitid => format!(
            "your code called waitid(2) with P_PID or P_ALL {bare}. Reap a child through its pidfd: waitid(P_PIDFD, \
             pidfd, &info, WEXITED)"
        ),
        other => format!("your code made system call {other}, which the filter traps"),
    }
}

#[test]
fn the_supervisor_signals_and_reaps_only_through_pidfds_never_by_a_bare_pid() {
    grade!().run(|s| {
        let scenario = |s: &Sandbox| -> Result<(), Failure> {
            s.phase("installing a seccomp filter that traps kill, tkill, tgkill, sigqueue, wait4 and waitid without P_PIDFD");
            watch_calls_of_this_thread().map_err(Failure::test_error("install a seccomp filter"))?;
            let mut sup = s.call("Supervisor::new()", Supervisor::new)?;
            let stopped = start(s, &mut sup, 0, None)?;
            let mut exiting = start(s, &mut sup, 5, None)?;
            s.call(format!("stop({:?}, SIGTERM)", stopped.id), || sup.stop(stopped.id, libc::SIGTERM))?;
            let first = s.call("wait_any(2 s) after stop(SIGTERM)", || sup.wait_any(2 * SECOND));
            exiting.release();
            let second = s.call("wait_any(2 s) after the other child was released", || sup.wait_any(2 * SECOND));
            // Released before the drop, so that a Drop that waits without killing cannot hang
            // this test; Drop still signals it (the child may not have exited yet) and reaps it.
            let mut left = start(s, &mut sup, 0, None)?;
            left.release();
            s.phase("dropping the supervisor with one child left, just released");
            drop(sup);
            let mut reports = [first?, second?];
            reports.sort_by_key(|r| r.map(|(id, _)| id == exiting.id));
            s.expect(reports == [Some((stopped.id, Exit::Signal(libc::SIGTERM))), Some((exiting.id, Exit::Code(5)))], || {
                format!("the two children ended with SIGTERM (stopped) and code 5; wait_any reported {reports:?}")
            })
        };
        let shared: &Sandbox = s;
        let result = std::thread::scope(|scope| scope.spawn(|| scenario(shared)).join())
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let trapped = TRAPPED.load(Ordering::SeqCst);
        if trapped >= 0 {
            let traps = TRAPS.load(Ordering::SeqCst);
            return Err(Failure::wrong(format!(
                "{} ({traps} such call{} in all; each failed with EPERM under the test's filter)",
                trapped_call(trapped, TRAPPED_ARG.load(Ordering::SeqCst)),
                if traps == 1 { "" } else { "s" }
            )));
        }
        result
    });
}
