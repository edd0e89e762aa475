//! Tests of event_loop::wake_with_eventfd. The wakers are other processes: forked workers that
//! inherit the eventfd, and a separate program that is passed it over a Unix socket. Every wait
//! runs in a thread of the body, so that one that blocks past its timeout is said, not only timed out.

use std::fs;
use std::io::ErrorKind;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipc_katas::grade;
use ipc_katas::grader::{Failure, Handshake, Peer, Sandbox, caught_alarms_every};
use ipc_katas::kit::signals::mask;
use ipc_katas::kit::{Hint, Removed, Seen};
use katas::event_loop::{Counting, Wakeup};
use nix::sys::socket::{ControlMessage, MsgFlags, UnixAddr, sendmsg};

use super::peer::{self, EventLoop};

/// The system calls a loop sleeps in while it waits for a descriptor.
const POLL_CALLS: &[libc::c_long] = &[
    #[cfg(target_arch = "x86_64")]
    libc::SYS_poll,
    libc::SYS_ppoll,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_epoll_wait,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_select,
    libc::SYS_pselect6,
];

/// A system call's name, for a message.
fn call_name(number: libc::c_long) -> String {
    let names: &[(libc::c_long, &str)] = &[
        (libc::SYS_read, "read"),
        #[cfg(target_arch = "x86_64")]
        (libc::SYS_poll, "poll"),
        (libc::SYS_ppoll, "ppoll"),
        #[cfg(target_arch = "x86_64")]
        (libc::SYS_epoll_wait, "epoll_wait"),
        (libc::SYS_epoll_pwait, "epoll_pwait"),
        (libc::SYS_epoll_pwait2, "epoll_pwait2"),
        (libc::SYS_futex, "futex"),
        (libc::SYS_clock_nanosleep, "clock_nanosleep"),
        #[cfg(target_arch = "x86_64")]
        (libc::SYS_nanosleep, "nanosleep"),
    ];
    names
        .iter()
        .find(|(n, _)| *n == number)
        .map_or_else(|| format!("system call {number}"), |(_, name)| name.to_string())
}

fn new(s: &Sandbox, counting: Counting) -> Result<Arc<Wakeup>, Failure> {
    s.call(format!("Wakeup::new(Counting::{counting:?})"), || Wakeup::new(counting)).map(Arc::new)
}

fn wake(s: &Sandbox, wakeup: &Wakeup, n: u64) -> Result<(), Failure> {
    s.call(format!("wake({n})"), || wakeup.wake(n))
}

/// A wait that failed with `e`, with a hint when the error says what the answer did.
fn wait_error(call: &str, e: std::io::Error) -> Failure {
    let hint = match e.raw_os_error() {
        Some(libc::EINVAL) => "an eventfd is read in 8 bytes, a u64: a smaller buffer is EINVAL (man 2 eventfd)",
        Some(libc::EAGAIN) => {
            "the counter was read while it was 0: wait in poll (or epoll_wait) for it to be readable first"
        }
        Some(libc::EINTR) => "a caught signal ended poll with EINTR: wait again, for the time that is left",
        _ => "",
    };
    let failure = Failure::kata_error(call, e);
    if hint.is_empty() { failure } else { failure.hint(hint) }
}

/// Calls `wait(timeout)` in a thread and gives it `timeout` and 2 s more to return: a wait that
/// blocks past its timeout is a wrong answer that says where it sleeps. Returns the result and
/// how long the call took.
fn wait(s: &Sandbox, wakeup: &Arc<Wakeup>, timeout: Duration) -> Result<(Option<u64>, Duration), Failure> {
    s.phase(format!("calling wait({timeout:?}) (in a thread)"));
    let waiter = {
        let wakeup = Arc::clone(wakeup);
        s.in_thread(move || {
            let started = Instant::now();
            (wakeup.wait(timeout), started.elapsed())
        })
    };
    let limit = timeout + Duration::from_secs(2);
    if !waiter.finishes_within(limit) {
        let sleeping = waiter.syscall().map_or_else(
            || "running (not in a system call)".to_string(),
            |c| format!("asleep in {}({})", call_name(c.number), c.args[0]),
        );
        return Err(Failure::wrong(format!(
            "wait({timeout:?}) had not returned {limit:?} after it was called; its thread is {sleeping}. A read of \
             an eventfd made without EFD_NONBLOCK blocks until a wake and ignores the timeout: make it \
             non-blocking, and wait for it in poll (or epoll_wait) with the timeout before reading"
        )));
    }
    let (result, took) = waiter.finish();
    match result {
        Ok(got) => Ok((got, took)),
        Err(e) => Err(wait_error(&format!("wait({timeout:?})"), e)),
    }
}

/// Expects `wait(timeout)` to give `expected`; `why` says what the test did before.
fn expect_wait(s: &Sandbox, wakeup: &Arc<Wakeup>, expected: Option<u64>, why: &str) -> Result<(), Failure> {
    let timeout = if expected.is_some() { Duration::from_secs(1) } else { Duration::from_millis(50) };
    let (got, _) = wait(s, wakeup, timeout)?;
    s.expect(got == expected, || format!("{why}, wait({timeout:?}) returned {got:?}, expected {expected:?}"))
}

/// The field `name` of the descriptor's /proc/self/fdinfo (`man 5 proc`).
fn fdinfo(fd: impl AsFd, name: &str) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_fd().as_raw_fd())).ok()?;
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(':')).map(|v| v.trim().to_string())
}

/// Accepts one connection from `peer`, giving up after 3 s or when the peer has exited.
fn accept_from(listener: &UnixListener, peer: &mut Peer) -> Result<UnixStream, Failure> {
    listener.set_nonblocking(true).map_err(Failure::test_error("make its listener non-blocking"))?;
    let started = Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => return Ok(stream),
            Err(e) if e.kind() == ErrorKind::WouldBlock && started.elapsed() < Duration::from_secs(3) => {
                if peer.has_exited() {
                    peer.join()?;
                    return Err(Failure::crash("the peer program exited without connecting"));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(Failure::test_error("accept the peer's connection")(e)),
        }
    }
}

#[test]
fn wakes_from_another_program_are_summed_into_one_wait_and_the_counter_is_zero_again() {
    grade!().run(|s| {
        let wakeup = new(s, Counting::Sum)?;
        let path = s.path("wake.sock");
        let _cleanup = Removed(path.clone());
        let listener = UnixListener::bind(&path).map_err(Failure::test_error("bind its socket"))?;
        let wakes = vec![1, 2, 3, 4];
        let mut waker = peer::start(s, EventLoop::WakeWithEventfd { path: path.clone(), wakes })?;
        s.phase("passing the eventfd (Wakeup::as_fd) to the peer program over a Unix socket");
        let stream = accept_from(&listener, &mut waker)?;
        let fds = [wakeup.as_fd().as_raw_fd()];
        sendmsg::<UnixAddr>(
            stream.as_raw_fd(),
            &[std::io::IoSlice::new(b"E")],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .map_err(Failure::test_error("send the eventfd to the peer"))?;
        s.phase("waiting for the peer program to wake 1, 2, 3 and 4 times and exit");
        waker.join()?;
        let (got, _) = wait(s, &wakeup, Duration::from_secs(1))?;
        s.expect(got == Some(10), || {
            format!(
                "another program woke the eventfd 4 times (1, 2, 3 and 4) and exited; in Sum mode wait returned \
                 {got:?}, expected Some(10): one read of an eventfd made without EFD_SEMAPHORE returns the whole \
                 counter"
            )
        })?;
        expect_wait(s, &wakeup, None, "after one wait had read the sum of every wake")
            .hint("in Sum mode a read leaves the counter at 0: a second wait with no new wake times out")
    });
}

#[test]
fn in_semaphore_mode_three_wakes_are_three_waits_of_one_then_a_timeout() {
    grade!().run(|s| {
        let wakeup = new(s, Counting::Semaphore)?;
        let worker = s.fork("the waker", || {
            wakeup.wake(1).map_err(Failure::kata("wake(1) in the waker"))?;
            wakeup.wake(2).map_err(Failure::kata("wake(2) in the waker"))
        })?;
        s.phase("waiting for a forked process to wake(1) and wake(2), and exit");
        worker.join()?;
        for i in 1..=3 {
            let (got, _) = wait(s, &wakeup, Duration::from_secs(1))?;
            s.expect(got == Some(1), || {
                format!(
                    "another process woke a Semaphore-mode eventfd with 1 and 2; wait number {i} returned {got:?}, \
                     expected Some(1): in semaphore mode each read takes 1 from the counter{}",
                    if got.is_some_and(|n| n > 1) { " (make the eventfd with EFD_SEMAPHORE)" } else { "" }
                )
            })?;
        }
        expect_wait(s, &wakeup, None, "after three waits of 1 had taken all three wakes")
    });
}

#[test]
fn a_wake_sent_before_the_wait_by_a_process_that_has_exited_is_not_lost() {
    grade!().run(|s| {
        let wakeup = new(s, Counting::Sum)?;
        let worker = s.fork("the waker", || wakeup.wake(7).map_err(Failure::kata("wake(7) in the waker")))?;
        s.phase("waiting for a forked process to wake(7) and exit");
        worker.join()?;
        let (got, _) = wait(s, &wakeup, Duration::from_secs(1))?;
        s.expect(got == Some(7), || {
            format!(
                "another process had woken the eventfd with 7 and exited before wait was called; wait(1 s) \
                 returned {got:?}, expected Some(7): a wake is kept in the counter until it is read, so a wait that \
                 begins after it returns it at once (do not empty the counter before you wait)"
            )
        })
    });
}

#[test]
fn a_wait_in_progress_sleeps_in_poll_and_a_wake_from_another_process_ends_it() {
    grade!().run(|s| {
        let wakeup = new(s, Counting::Sum)?;
        let go = Handshake::new()?;
        let worker = s.fork("the waker", || {
            go.wait("the test to say that its wait is in progress")?;
            wakeup.wake(5).map_err(Failure::kata("wake(5) in the waker"))
        })?;
        let timeout = Duration::from_secs(4);
        s.phase(format!("calling wait({timeout:?}) (in a thread) while nothing has woken the eventfd"));
        let waiter = {
            let wakeup = Arc::clone(&wakeup);
            s.in_thread(move || wakeup.wait(timeout))
        };
        s.phase("watching the waiting thread's system calls (/proc/self/task/TID/syscall)");
        let seen = waiter.blocks_in(POLL_CALLS);
        let seen_in = waiter.syscall();
        go.notify()?;
        let woken = Instant::now();
        match seen {
            Seen::In(()) => {}
            Seen::Returned => {
                let result = waiter.finish();
                return Err(Failure::wrong(format!(
                    "wait({timeout:?}) returned {result:?} before anything had woken the eventfd: it must wait for a \
                     wake, up to its timeout"
                )));
            }
            Seen::Elsewhere if seen_in.is_some_and(|c| c.number == libc::SYS_read) => {
                return Err(Failure::wrong(format!(
                    "the waiting thread sleeps in read(2) of the eventfd, not in poll or epoll_wait: a blocking read \
                     waits for a wake however long it takes, and the timeout ({timeout:?}) is never kept. Make the \
                     eventfd non-blocking (EFD_NONBLOCK) and wait for it to be readable in poll with the timeout"
                )));
            }
            Seen::Elsewhere => {
                let doing = seen_in.map_or_else(|| "running".to_string(), |c| format!("in {}", call_name(c.number)));
                return Err(Failure::wrong(format!(
                    "for 3 s the waiting thread was never asleep in poll, ppoll, epoll_wait or select (last seen \
                     {doing}): a loop that tries the read again and again spins (or sleeps in steps) instead of \
                     letting the kernel wake it. Wait for the eventfd to be readable in poll or epoll_wait"
                )));
            }
        }
        s.phase("waiting for wait to return after another process woke the eventfd with 5");
        let returned = waiter.finishes_within(Duration::from_secs(2));
        let after = woken.elapsed();
        s.expect(returned, || {
            "wait was still waiting 2 s after another process had woken the eventfd (5): the wake must end the \
             wait at once"
                .to_string()
        })?;
        let got = s.ok("wait", waiter.finish())?;
        worker.join()?;
        s.expect(got == Some(5), || {
            format!("another process woke the eventfd with 5 during the wait; wait returned {got:?} after {after:?}")
        })
    });
}

#[test]
fn a_wait_with_no_wake_returns_none_after_about_its_timeout() {
    grade!().run(|s| {
        let wakeup = new(s, Counting::Sum)?;
        let timeout = Duration::from_millis(300);
        let (got, took) = wait(s, &wakeup, timeout)?;
        s.expect(got.is_none(), || format!("wait({timeout:?}) with no wake returned {got:?}, expected None"))?;
        s.expect(took >= timeout, || {
            format!("wait({timeout:?}) with no wake returned None after only {took:?}: it must wait its whole timeout")
        })?;
        s.expect(took < timeout + Duration::from_secs(1), || {
            format!("wait({timeout:?}) with no wake returned None only after {took:?}: about its timeout was expected")
        })?;
        let (got, took) = wait(s, &wakeup, Duration::ZERO)?;
        s.expect(got.is_none() && took < Duration::from_secs(1), || {
            format!("wait(0 s) with no wake returned {got:?} after {took:?}: a zero timeout looks and returns None")
        })
    });
}

#[test]
fn the_eventfd_is_close_on_exec_non_blocking_and_counts_as_asked() {
    grade!().run(|s| {
        for counting in [Counting::Sum, Counting::Semaphore] {
            let wakeup = new(s, counting)?;
            let fd = wakeup.as_fd().as_raw_fd();
            let link = fs::read_link(format!("/proc/self/fd/{fd}")).map(|p| p.display().to_string());
            s.expect(link.as_deref().is_ok_and(|l| l == "anon_inode:[eventfd]"), || {
                format!("Wakeup::as_fd gave descriptor {fd}, which is {link:?}, not an eventfd")
            })?;
            // SAFETY: F_GETFD and F_GETFL take no argument; the descriptor is borrowed from `wakeup`.
            let (fd_flags, status) = unsafe { (libc::fcntl(fd, libc::F_GETFD), libc::fcntl(fd, libc::F_GETFL)) };
            s.expect(fd_flags != -1 && fd_flags & libc::FD_CLOEXEC != 0, || {
                format!(
                    "the eventfd of Wakeup::new(Counting::{counting:?}) is not close-on-exec: every program this \
                     process starts would inherit it. Pass EFD_CLOEXEC"
                )
            })?;
            s.expect(status != -1 && status & libc::O_NONBLOCK != 0, || {
                format!(
                    "the eventfd of Wakeup::new(Counting::{counting:?}) is blocking: a read of a zero counter then \
                     waits for a wake and no timeout ends it. Pass EFD_NONBLOCK, and wait in poll"
                )
            })?;
            let semaphore = fdinfo(&*wakeup, "eventfd-semaphore");
            let expected = if counting == Counting::Semaphore { "1" } else { "0" };
            s.expect(semaphore.as_deref() == Some(expected), || {
                format!(
                    "/proc/self/fdinfo/{fd} of Wakeup::new(Counting::{counting:?}) says eventfd-semaphore: {}, \
                     expected {expected}: EFD_SEMAPHORE is the flag of the Semaphore mode, and of it only",
                    semaphore.as_deref().unwrap_or("(nothing)")
                )
            })?;
        }
        Ok(())
    });
}

#[test]
fn a_wake_of_zero_or_u64_max_is_invalid_input_and_adds_nothing() {
    grade!().run(|s| {
        let wakeup = new(s, Counting::Sum)?;
        for n in [0, u64::MAX] {
            s.phase(format!("calling wake({n})"));
            s.expect_err(&format!("wake({n})"), wakeup.wake(n), ErrorKind::InvalidInput)?;
        }
        expect_wait(s, &wakeup, None, "after wake(0) and wake(u64::MAX) had both been refused")?;
        wake(s, &wakeup, 2)?;
        expect_wait(s, &wakeup, Some(2), "after the refused wakes and then wake(2)")
    });
}

#[test]
fn a_wake_that_would_overflow_the_counter_is_would_block_and_the_counter_keeps_its_count() {
    grade!().run(|s| {
        let wakeup = new(s, Counting::Sum)?;
        let most = u64::MAX - 1;
        wake(s, &wakeup, most)?;
        s.phase("calling wake(1) on a counter at u64::MAX - 1, the most it holds");
        s.expect_err("wake(1) on a full counter", wakeup.wake(1), ErrorKind::WouldBlock).hint(
            "a write that would take the counter past u64::MAX - 1 fails with EAGAIN on a non-blocking eventfd",
        )?;
        expect_wait(s, &wakeup, Some(most), "after wake(u64::MAX - 1) and a wake(1) that could not be added")
    });
}

#[test]
fn caught_signals_during_a_wait_neither_end_it_nor_start_its_timeout_again() {
    grade!().run(|s| {
        let wakeup = new(s, Counting::Sum)?;
        let timeout = Duration::from_millis(300);
        s.phase(format!("calling wait({timeout:?}) (in a thread) while a caught SIGALRM arrives every 5 ms"));
        let waiter = {
            let wakeup = Arc::clone(&wakeup);
            s.in_thread(move || {
                let started = Instant::now();
                (wakeup.wait(timeout), started.elapsed())
            })
        };
        // The signals go to the waiting thread: this one blocks them (and keeps them blocked, so
        // that one still pending when the timer stops is never acted on).
        mask(libc::SIG_BLOCK, libc::SIGALRM);
        caught_alarms_every(Some(Duration::from_millis(5)));
        let returned = waiter.finishes_within(timeout + Duration::from_secs(2));
        caught_alarms_every(None);
        s.expect(returned, || {
            format!(
                "wait({timeout:?}) with no wake had not returned after {:?} while a caught signal arrived every 5 \
                 ms: after EINTR, poll again for the time that is left of the timeout, not for the whole timeout \
                 again",
                timeout + Duration::from_secs(2)
            )
        })?;
        let (result, took) = waiter.finish();
        let got = match result {
            Ok(got) => got,
            Err(e) => return Err(wait_error(&format!("wait({timeout:?}) while caught signals arrived"), e)),
        };
        s.expect(got.is_none() && took >= timeout, || {
            format!(
                "wait({timeout:?}) with no wake, while caught signals arrived, returned {got:?} after {took:?}: a \
                 signal is no wake, and the wait goes on to its timeout"
            )
        })
    });
}
