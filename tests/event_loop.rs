//! Graded tests of the event_loop topic: `cargo test --test event_loop`.
//!
//! Each body runs in the grader's sandbox: a child process with a deadline, umask 0, SIGPIPE at
//! its default action and a leak audit after the kata returns. The other side of every channel
//! is trusted code: the test itself, a forked worker, or a separate program (the peer: this test
//! binary started again).

// This binary is also the peer program its tests start as "another process" (tests/peer/).
mod peer;
ipc_katas::peer_commands!(peer::run);

mod wake_with_eventfd {
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
                format!(
                    "wait({timeout:?}) with no wake returned None after only {took:?}: it must wait its whole timeout"
                )
            })?;
            s.expect(took < timeout + Duration::from_secs(1), || {
                format!(
                    "wait({timeout:?}) with no wake returned None only after {took:?}: about its timeout was expected"
                )
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
}

mod ticks_with_timerfd {
    //! Tests of event_loop::ticks_with_timerfd. Every wait runs in a thread of the body, so that a
    //! timer that stopped ticking is said, not only timed out. The ticks counted are compared with
    //! the time the test measured around `every` and each wait: a read at time t returns every
    //! expiry from the timer's start to t, so the sum is known to within one tick.

    use std::fs;
    use std::io::ErrorKind;
    use std::os::fd::{AsFd, AsRawFd};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use ipc_katas::grade;
    use ipc_katas::grader::{Failure, Sandbox, caught_alarms_every};
    use ipc_katas::kit::signals::mask;
    use ipc_katas::kit::thread::calls;
    use ipc_katas::kit::{Hint, Seen};
    use katas::event_loop::Ticker;

    /// A ticker and when it was started: between `before` and `after` of the call to `every`.
    struct Started {
        ticker: Arc<Ticker>,
        period: Duration,
        before: Instant,
        after: Instant,
        /// The ticks the waits have returned so far.
        total: u64,
        /// When the last wait returned, as its thread saw it.
        returned: Option<Instant>,
        /// Caught signals arrive: block them in this thread while a wait runs, so that they go to
        /// the waiting thread.
        alarms: bool,
    }

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

    fn every(s: &Sandbox, period: Duration) -> Result<Started, Failure> {
        s.phase(format!("calling Ticker::every({period:?})"));
        let before = Instant::now();
        let result = Ticker::every(period);
        let after = Instant::now();
        let ticker = s.ok(&format!("Ticker::every({period:?})"), result)?;
        Ok(Started { ticker: Arc::new(ticker), period, before, after, total: 0, returned: None, alarms: false })
    }

    /// Whole periods in `span`.
    fn periods(span: Duration, period: Duration) -> u64 {
        (span.as_nanos() / period.as_nanos()) as u64
    }

    fn wait_error(call: &str, e: std::io::Error) -> Failure {
        let einval = e.raw_os_error() == Some(libc::EINVAL);
        let eintr = e.kind() == ErrorKind::Interrupted;
        let failure = Failure::kata_error(call, e);
        if einval {
            failure
                .hint("a timerfd is read in 8 bytes, a u64: a smaller buffer (a u32) is EINVAL (man 2 timerfd_create)")
        } else if eintr {
            failure.hint("a caught signal ended the read with EINTR before a tick: read again")
        } else {
            failure
        }
    }

    impl Started {
        /// Calls `wait()` in a thread; it must return within `limit`. Checks that the ticks so far add
        /// up to the periods since `every` (one fewer allowed: a tick due a moment ago may not have
        /// been counted yet). `what` says what the loop did before, for the messages.
        fn wait(&mut self, s: &Sandbox, number: usize, limit: Duration, what: &str) -> Result<u64, Failure> {
            s.phase(format!("calling wait number {number} (in a thread) on a Ticker::every({:?})", self.period));
            let waiter = {
                let ticker = Arc::clone(&self.ticker);
                s.in_thread(move || {
                    let before = Instant::now();
                    let result = ticker.wait();
                    (result, before, Instant::now())
                })
            };
            if self.alarms {
                // The thread started with SIGALRM unblocked; this one blocks it while it waits.
                mask(libc::SIG_BLOCK, libc::SIGALRM);
            }
            let returned = waiter.finishes_within(limit);
            if self.alarms {
                mask(libc::SIG_UNBLOCK, libc::SIGALRM);
            }
            if !returned {
                return Err(Failure::wrong(format!(
                    "wait number {number} on a Ticker::every({:?}) had not returned after {limit:?} ({} periods){}: the \
                     timer stopped ticking. A timer with a zero it_interval is one-shot: it expires once, at it_value; \
                     set it_interval to the period too",
                    self.period,
                    periods(limit, self.period),
                    if number > 1 { ", though the waits before it had returned" } else { "" }
                )));
            }
            let (result, before, after) = waiter.finish();
            let ticks = result.map_err(|e| wait_error(&format!("wait number {number}"), e))?;
            self.total += ticks;
            self.returned = Some(after);
            let (period, total) = (self.period, self.total);
            let least = periods(before.saturating_duration_since(self.after), period).saturating_sub(1).max(1);
            let most = periods(after.duration_since(self.before), period);
            s.expect(ticks >= 1, || {
                format!(
                    "wait number {number} returned 0 ticks: wait blocks until at least one tick, then returns the count"
                )
            })?;
            s.expect(total >= least, || {
                format!(
                    "{what}; wait number {number} returned {ticks}, so the waits counted {total} ticks in all, but at least \
                     {least} periods of {period:?} had passed since every (about {:?}): a read of a timerfd returns every \
                     expiry since the last read, as a u64, not 1",
                    before.duration_since(self.before)
                )
            })?;
            s.expect(total <= most, || {
                format!(
                    "{what}; wait number {number} returned {ticks}, so the waits counted {total} ticks in all, but at most \
                     {most} periods of {period:?} had passed since every: the timer ticks too often (its it_value or \
                     it_interval is not the period)"
                )
            })?;
            Ok(ticks)
        }
    }

    /// The field `name` of the descriptor's /proc/self/fdinfo (`man 5 proc`).
    fn fdinfo(fd: impl AsFd, name: &str) -> Option<String> {
        let text = fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_fd().as_raw_fd())).ok()?;
        text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(':')).map(|v| v.trim().to_string())
    }

    /// A timespec as fdinfo shows it: `(seconds, nanoseconds)`.
    fn timespec(text: &str) -> Option<Duration> {
        let (secs, nanos) = text.trim().strip_prefix('(')?.strip_suffix(')')?.split_once(',')?;
        Some(Duration::new(secs.trim().parse().ok()?, nanos.trim().parse().ok()?))
    }

    /// The descriptor of `ticker`, checked to be a timerfd.
    fn timerfd(s: &Sandbox, ticker: &Ticker) -> Result<i32, Failure> {
        let fd = ticker.as_fd().as_raw_fd();
        let link = fs::read_link(format!("/proc/self/fd/{fd}")).map(|p| p.display().to_string());
        s.expect(link.as_deref().is_ok_and(|l| l == "anon_inode:[timerfd]"), || {
            format!("Ticker::as_fd gave descriptor {fd}, which is {link:?}, not a timerfd")
        })?;
        Ok(fd)
    }

    #[test]
    fn a_loop_that_was_busy_for_six_periods_is_told_it_missed_the_ticks() {
        grade!().run(|s| {
            let period = Duration::from_millis(20);
            let mut ticker = every(s, period)?;
            ticker.wait(s, 1, Duration::from_secs(1), "the loop waited at once")?;
            s.phase("being a busy loop: sleeping 6 periods (120 ms) before the next wait");
            std::thread::sleep(period * 6);
            let ticks =
                ticker.wait(s, 2, Duration::from_secs(1), "the loop was busy for 6 periods after its first wait")?;
            s.expect(ticks >= 4, || {
                format!(
                    "after a loop busy for 6 periods, wait returned {ticks}: it must say how many ticks the loop missed"
                )
            })
        });
    }

    #[test]
    fn the_ticks_over_half_a_second_of_a_loop_of_varying_speed_add_up_to_the_time_over_the_period() {
        grade!().run(|s| {
            let period = Duration::from_millis(10);
            let mut ticker = every(s, period)?;
            let started = Instant::now();
            let mut number = 0;
            while started.elapsed() < Duration::from_millis(500) {
                number += 1;
                // Busy for 0 to 4.5 periods between waits, in a pattern of its own.
                let busy = Duration::from_micros((number as u64 * 7_919) % 45_000);
                std::thread::sleep(busy);
                let what = format!("the loop was busy for {busy:?} before this wait");
                ticker.wait(s, number, Duration::from_secs(1), &what)?;
            }
            Ok(())
        });
    }

    #[test]
    fn the_first_tick_comes_one_period_after_every() {
        grade!().run(|s| {
            let period = Duration::from_millis(100);
            let mut ticker = every(s, period)?;
            let ticks = ticker.wait(s, 1, Duration::from_secs(2), "the loop waited at once")?;
            let since = ticker.returned.map_or(Duration::ZERO, |at| at.duration_since(ticker.before));
            s.expect(since >= period, || {
                format!(
                    "the first wait returned {ticks} tick(s) {since:?} after Ticker::every({period:?}) was called: the \
                     first tick is one period after the start (it_value = the period, relative to now)"
                )
            })
        });
    }

    #[test]
    fn the_timer_keeps_ticking_wait_after_wait() {
        grade!().run(|s| {
            let period = Duration::from_millis(20);
            let mut ticker = every(s, period)?;
            for number in 1..=6 {
                ticker.wait(s, number, Duration::from_secs(1), "the loop waited again at once")?;
            }
            Ok(())
        });
    }

    #[test]
    fn the_timer_is_armed_with_the_period_as_its_first_expiry_and_its_interval() {
        grade!().run(|s| {
            let period = Duration::from_millis(1_250);
            let ticker = every(s, period)?;
            let fd = timerfd(s, &ticker.ticker)?;
            let (value, interval) = (fdinfo(&*ticker.ticker, "it_value"), fdinfo(&*ticker.ticker, "it_interval"));
            let show = |t: &Option<String>| t.clone().unwrap_or_else(|| "(nothing)".to_string());
            let interval_is = interval.as_deref().and_then(timespec);
            s.expect(interval_is == Some(period), || {
                format!(
                    "/proc/self/fdinfo/{fd} of Ticker::every({period:?}) shows it_interval: {}, expected (1, 250000000): \
                     it_interval is the period of a periodic timer (zero makes it one-shot)",
                    show(&interval)
                )
            })?;
            // it_value shows the time left until the next expiry.
            let value_is = value.as_deref().and_then(timespec);
            s.expect(value_is.is_some_and(|v| v > period / 2 && v <= period), || {
                format!(
                    "/proc/self/fdinfo/{fd} of Ticker::every({period:?}) shows it_value: {} (the time left until the \
                     first tick), expected a little under (1, 250000000): it_value is the first expiry, one period from \
                     now (zero disarms the timer)",
                    show(&value)
                )
            })
        });
    }

    #[test]
    fn the_timerfd_counts_on_clock_monotonic() {
        grade!().run(|s| {
            let ticker = every(s, Duration::from_millis(50))?;
            let fd = timerfd(s, &ticker.ticker)?;
            let clock = fdinfo(&*ticker.ticker, "clockid");
            s.expect(clock.as_deref() == Some(&libc::CLOCK_MONOTONIC.to_string()), || {
                format!(
                    "/proc/self/fdinfo/{fd} shows clockid: {}, expected {} (CLOCK_MONOTONIC): a loop's ticks count time \
                     that passes, which the wall clock (CLOCK_REALTIME, 0) does not, as anyone may set it",
                    clock.as_deref().unwrap_or("(nothing)"),
                    libc::CLOCK_MONOTONIC
                )
            })
        });
    }

    #[test]
    fn the_timerfd_is_close_on_exec() {
        grade!().run(|s| {
            let ticker = every(s, Duration::from_millis(50))?;
            let fd = timerfd(s, &ticker.ticker)?;
            // SAFETY: F_GETFD takes no argument; the descriptor is borrowed from the ticker.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            s.expect(flags != -1 && flags & libc::FD_CLOEXEC != 0, || {
                "the timerfd is not close-on-exec: every program this process starts would inherit it. Pass TFD_CLOEXEC \
                 to timerfd_create"
                    .to_string()
            })
        });
    }

    #[test]
    fn a_zero_period_is_invalid_input() {
        grade!().run(|s| {
            s.phase("calling Ticker::every(0 s)");
            s.expect_err("Ticker::every(0 s)", Ticker::every(Duration::ZERO), ErrorKind::InvalidInput)
                .hint("a zero it_value disarms the timer, and it would never tick: refuse it before making anything")
                .map(drop)
        });
    }

    #[test]
    fn a_period_too_long_for_a_timespec_is_invalid_input() {
        grade!().run(|s| {
            for period in [Duration::from_secs(i64::MAX as u64 + 1), Duration::MAX] {
                s.phase(format!("calling Ticker::every({} s)", period.as_secs()));
                s.expect_err(
                    &format!("Ticker::every({} s)", period.as_secs()),
                    Ticker::every(period),
                    ErrorKind::InvalidInput,
                )
                .hint("a timespec holds its seconds in an i64 (time_t): a period that does not fit is refused")?;
            }
            Ok(())
        });
    }

    #[test]
    fn caught_signals_while_it_waits_do_not_end_a_wait() {
        grade!().run(|s| {
            let period = Duration::from_millis(50);
            let mut ticker = every(s, period)?;
            ticker.alarms = true;
            caught_alarms_every(Some(Duration::from_millis(5)));
            let waited = (1..=4).try_for_each(|number| {
                ticker.wait(s, number, Duration::from_secs(1), "a caught SIGALRM arrived every 5 ms").map(drop)
            });
            // Blocked here when the timer stops, so that a SIGALRM still pending is never acted on.
            mask(libc::SIG_BLOCK, libc::SIGALRM);
            caught_alarms_every(None);
            waited
        });
    }

    #[test]
    fn wait_sleeps_in_the_kernel_until_the_tick() {
        grade!().run(|s| {
            let period = Duration::from_millis(1_500);
            let ticker = every(s, period)?;
            s.phase("calling wait (in a thread) and watching its system calls (/proc/self/task/TID/syscall)");
            let waiter = {
                let ticker = Arc::clone(&ticker.ticker);
                s.in_thread(move || ticker.wait())
            };
            let sleeping: Vec<libc::c_long> = calls::READ.iter().chain(POLL_CALLS).copied().collect();
            match waiter.blocks_in(&sleeping) {
                Seen::In(()) => {}
                Seen::Returned => {
                    let result = waiter.finish();
                    return Err(Failure::wrong(format!(
                        "wait returned {result:?} {:?} after Ticker::every({period:?}), before the first tick was due: \
                         it must block until a tick",
                        ticker.before.elapsed()
                    )));
                }
                Seen::Elsewhere => {
                    return Err(Failure::wrong(format!(
                        "for 3 s of a wait for a tick due after {period:?}, the waiting thread was never asleep in read, \
                         poll or epoll_wait: a loop that reads a non-blocking timerfd again and again spins instead of \
                         letting the kernel wake it. A blocking read of the timerfd sleeps until the tick"
                    )));
                }
            }
            s.phase("waiting for the first tick");
            s.expect(waiter.finishes_within(period + Duration::from_secs(2)), || {
                format!("wait had not returned {:?} after a tick was due", Duration::from_secs(2))
            })?;
            let ticks = waiter.finish().map_err(|e| wait_error("wait", e))?;
            s.expect(ticks == 1, || format!("the first wait, 1 period after every, returned {ticks} ticks, expected 1"))
        });
    }
}

mod signals_as_events {
    //! Each body is its own process, single-threaded unless a test starts a thread (then with every
    //! signal blocked in it), so the masks, handlers and signals of one test disturb no other. Every
    //! test that sends a signal first checks, from the kernel's view, that `new` blocked it: an
    //! attempt that forgot would otherwise die of the signal's default action, unexplained.

    use std::io::ErrorKind;
    use std::os::fd::{AsFd, AsRawFd};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use ipc_katas::grade;
    use ipc_katas::grader::{Failure, Handshake, Sandbox};
    use ipc_katas::kit::process;
    use ipc_katas::kit::signals::{Ticker, mask, signal_name, signal_state};
    use katas::event_loop::{SignalEvent, SignalEvents};

    use crate::peer::{self, EventLoop};

    fn new(s: &Sandbox, signals: &[i32]) -> Result<SignalEvents, Failure> {
        let names: Vec<String> = signals.iter().map(|&n| signal_name(n)).collect();
        s.call(format!("SignalEvents::new(&[{}])", names.join(", ")), || SignalEvents::new(signals))
    }

    fn next(s: &Sandbox, events: &mut SignalEvents, timeout: Duration) -> Result<Option<SignalEvent>, Failure> {
        s.call(format!("next({timeout:?})"), || events.next(timeout))
    }

    /// The calling thread's blocked signals as the kernel shows them (`SigBlk` in
    /// /proc/self/task/TID/status, `man 5 proc`): bit n-1 is signal n.
    fn blocked_here() -> Result<u64, Failure> {
        let path = format!("/proc/self/task/{}/status", process::gettid());
        let status = std::fs::read_to_string(&path).map_err(Failure::test_error(&format!("read {path}")))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("SigBlk:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .ok_or_else(|| Failure::crash(format!("the test found no SigBlk line in {path}")))
    }

    fn has(set: u64, signal: i32) -> bool {
        set & (1u64 << (signal - 1)) != 0
    }

    /// Fails, before any signal is sent, unless the kernel shows each of `signals` blocked in this
    /// thread: the message says what the signal would have done instead.
    fn expect_blocked(s: &Sandbox, signals: &[i32]) -> Result<(), Failure> {
        let blocked = blocked_here()?;
        for &signal in signals {
            let name = signal_name(signal);
            s.expect(has(blocked, signal), || {
                format!(
                    "after SignalEvents::new returned, {name} is not blocked in the calling thread (SigBlk in \
                     /proc/self/task/TID/status). A {name} sent now would not wait on the signalfd: it would be \
                     delivered at once, its default action would run and end the process (or a handler would run), \
                     and the signalfd would never see it. Block every signal asked for with pthread_sigmask(SIG_BLOCK) \
                     before you open the signalfd"
                )
            })?;
        }
        Ok(())
    }

    /// Has the peer program send `send` (signal, Some(value) for sigqueue, None for kill) to this
    /// process, and waits until it has exited: every signal is pending or delivered then. Returns
    /// the peer's pid.
    fn peer_sends(s: &Sandbox, send: Vec<(i32, Option<i32>)>) -> Result<u32, Failure> {
        let mut sender = peer::start(s, EventLoop::SignalsAsEvents { to: std::process::id(), send })?;
        sender.join()?;
        Ok(sender.pid())
    }

    static HANDLED: AtomicUsize = AtomicUsize::new(0);

    extern "C" fn count_it(_: libc::c_int) {
        HANDLED.fetch_add(1, Ordering::Relaxed);
    }

    /// Installs `count_it` for `signal` in this (the body's) process, without SA_RESTART.
    fn install_counting_handler(signal: i32) {
        // SAFETY: a zeroed sigaction with an empty mask is valid; the handler only touches an atomic.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = count_it as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }

    #[test]
    fn sigusr1_from_another_program_is_an_event_naming_the_signal_and_the_senders_pid() {
        grade!().run(|s| {
            let mut events = new(s, &[libc::SIGUSR1])?;
            expect_blocked(s, &[libc::SIGUSR1])?;
            s.phase("the peer program sends SIGUSR1 with kill");
            let sender = peer_sends(s, vec![(libc::SIGUSR1, None)])?;
            let got = next(s, &mut events, Duration::from_secs(2))?;
            let expected = SignalEvent { signal: libc::SIGUSR1, pid: sender, value: 0 };
            s.expect(got.is_some(), || {
                "next(2 s) returned None, but the peer had sent SIGUSR1 (and exited) before next was called: it is \
                 pending, and the signalfd is readable"
                    .into()
            })?;
            s.expect(got.is_none_or(|e| e.pid != 0), || {
                format!("the event says pid 0, but the peer {sender} sent it: take the sender from ssi_pid")
            })?;
            s.expect_eq("the event of a SIGUSR1 sent with kill by the peer", &Some(expected), &got)
        });
    }

    #[test]
    fn after_new_every_signal_asked_for_is_blocked_in_the_calling_thread() {
        grade!().run(|s| {
            // The caller blocks SIGHUP itself: new adds to the mask, it does not replace it.
            mask(libc::SIG_BLOCK, libc::SIGHUP);
            let signals = [libc::SIGUSR1, libc::SIGUSR2, libc::SIGRTMIN() + 2];
            let events = new(s, &signals)?;
            // No signal is sent: this is what would decide whether one waits on the descriptor.
            expect_blocked(s, &signals)?;
            s.expect(has(blocked_here()?, libc::SIGHUP), || {
                "the caller had blocked SIGHUP, and after SignalEvents::new(&[SIGUSR1, SIGUSR2, SIGRTMIN+2]) it is \
                 unblocked: add to the thread's mask with SIG_BLOCK, do not replace it with SIG_SETMASK"
                    .into()
            })?;
            s.phase("dropping SignalEvents");
            drop(events);
            Ok(())
        });
    }

    #[test]
    fn a_handler_the_caller_installed_before_never_runs_the_signal_is_read_from_the_fd() {
        grade!().run(|s| {
            install_counting_handler(libc::SIGUSR1);
            let mut events = new(s, &[libc::SIGUSR1])?;
            s.phase("the peer program sends SIGUSR1, for which the test installed a handler before new");
            let sender = peer_sends(s, vec![(libc::SIGUSR1, None)])?;
            let got = next(s, &mut events, Duration::from_secs(1))?;
            let handled = HANDLED.load(Ordering::Relaxed);
            s.expect(handled == 0, || {
                format!(
                    "the handler the test had installed for SIGUSR1 ran {handled} time(s), and next returned {got:?}: \
                     the signal was delivered the usual way instead of waiting on the signalfd, because it was not \
                     blocked. A signalfd only sees blocked signals: block them with pthread_sigmask before signalfd"
                )
            })?;
            s.expect_eq("the event", &Some(SignalEvent { signal: libc::SIGUSR1, pid: sender, value: 0 }), &got)
        });
    }

    #[test]
    fn five_sigusr1_sent_while_nothing_reads_arrive_as_one_event() {
        grade!().run(|s| {
            let mut events = new(s, &[libc::SIGUSR1])?;
            expect_blocked(s, &[libc::SIGUSR1])?;
            s.phase("the peer program sends SIGUSR1 five times with kill while nothing reads");
            let sender = peer_sends(s, vec![(libc::SIGUSR1, None); 5])?;
            let first = next(s, &mut events, Duration::from_secs(2))?;
            s.expect_eq(
                "the first event after five SIGUSR1",
                &Some(SignalEvent { signal: libc::SIGUSR1, pid: sender, value: 0 }),
                &first,
            )?;
            let second = next(s, &mut events, Duration::from_millis(100))?;
            s.expect(second.is_none(), || {
                format!(
                    "after the first event, next(100 ms) returned {second:?}: five SIGUSR1 sent while one is pending \
                     are one pending signal (the kernel keeps one bit per standard signal), so one event. Return \
                     each record the kernel gave once"
                )
            })
        });
    }

    #[test]
    fn five_sigrtmin_plus_1_sent_with_sigqueue_arrive_as_five_events_in_order_with_their_values() {
        grade!().run(|s| {
            let signal = libc::SIGRTMIN() + 1;
            let values = [17, -1, 0, i32::MAX, i32::MIN];
            let mut events = new(s, &[signal])?;
            expect_blocked(s, &[signal])?;
            s.phase("the peer program sends SIGRTMIN+1 five times with sigqueue, each with its value");
            let sender = peer_sends(s, values.iter().map(|&v| (signal, Some(v))).collect())?;
            let expected: Vec<SignalEvent> =
                values.iter().map(|&value| SignalEvent { signal, pid: sender, value }).collect();
            let mut got = Vec::new();
            for i in 1..=5 {
                match next(s, &mut events, Duration::from_secs(1))? {
                    Some(event) => got.push(event),
                    None => {
                        return Err(Failure::wrong(format!(
                            "next(1 s) number {i} returned None after {} events {got:?}: five real-time signals were \
                             sent and each is queued. One read of the signalfd returns every record that fits in the \
                             buffer: keep the ones you did not return yet for the next calls",
                            got.len()
                        )));
                    }
                }
            }
            s.expect(got.iter().map(|e| e.value).collect::<Vec<_>>() == values, || {
                format!(
                    "the values of the five events are {:?}, not the values sent, in order: {values:?}. The value \
                     sigqueue sent is ssi_int",
                    got.iter().map(|e| e.value).collect::<Vec<_>>()
                )
            })?;
            s.expect_eq("the five events", &expected, &got)?;
            let more = next(s, &mut events, Duration::from_millis(100))?;
            s.expect(more.is_none(), || format!("after the five events, next(100 ms) returned {more:?}"))
        });
    }

    #[test]
    fn next_with_no_signal_sent_returns_none_after_about_the_timeout() {
        grade!().run(|s| {
            let mut events = new(s, &[libc::SIGUSR1])?;
            for timeout in [Duration::ZERO, Duration::from_millis(300)] {
                s.phase(format!(
                    "calling next({timeout:?}) with no signal sent (a blocking read of the signalfd waits here past \
                     the timeout: wait with poll for at most the timeout, then read a non-blocking descriptor)"
                ));
                let started = Instant::now();
                let got = s.ok(&format!("next({timeout:?})"), events.next(timeout))?;
                let took = started.elapsed();
                s.expect(got.is_none(), || format!("next({timeout:?}) with no signal sent returned {got:?}"))?;
                s.expect(took >= timeout, || {
                    format!(
                        "next({timeout:?}) returned None after {took:?}, before its timeout: wait the whole timeout"
                    )
                })?;
                s.expect(took < timeout + Duration::from_millis(1500), || {
                    format!("next({timeout:?}) returned None only after {took:?}")
                })?;
            }
            Ok(())
        });
    }

    #[test]
    fn a_signal_sent_while_next_waits_ends_the_wait_long_before_the_timeout() {
        grade!().deadline(Duration::from_secs(8)).run(|s| {
            let mut events = new(s, &[libc::SIGUSR1])?;
            expect_blocked(s, &[libc::SIGUSR1])?;
            let go = Handshake::new()?;
            let parent = std::process::id() as libc::pid_t;
            let sender = s.fork("the sending child", || {
                go.wait("the test to say that next is waiting")?;
                // SAFETY: kill takes plain values.
                unsafe { libc::kill(parent, libc::SIGUSR1) };
                Ok(())
            })?;
            let sender_pid = sender.pid() as u32;
            let main_thread = process::gettid();
            // The watching thread blocks every signal, so SIGUSR1 (sent to the process) can only wait
            // for the signalfd: a thread that did not block it would take it at its default action.
            let old = mask_all();
            let result = std::thread::scope(|scope| {
                let watcher = scope.spawn(|| {
                    // Once the main thread has slept in one system call for 20 looks in a row, it waits.
                    let give_up = Instant::now() + Duration::from_secs(3);
                    let (mut last, mut same) = (None, 0);
                    while same < 20 && Instant::now() < give_up {
                        let now = process::syscall_of_thread(main_thread);
                        same = if now.is_some() && now == last { same + 1 } else { 0 };
                        last = now;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    go.notify()
                });
                ipc_katas::kit::signals::set_mask(&old);
                let started = Instant::now();
                let got = next(s, &mut events, Duration::from_secs(4));
                (got, started.elapsed(), watcher.join())
            });
            let (got, took, notified) = result;
            notified.map_err(|_| Failure::crash("the test's watching thread panicked"))??;
            let got = got?;
            sender.join()?;
            s.expect_eq("the event", &Some(SignalEvent { signal: libc::SIGUSR1, pid: sender_pid, value: 0 }), &got)?;
            s.expect(took < Duration::from_secs(2), || {
                format!(
                    "next(4 s) returned the SIGUSR1 sent while it waited only after {took:?}: a signal must end the \
                     wait at once. Wait with poll (or epoll) on the signalfd, which wakes when a signal arrives, not \
                     with a sleep of the timeout"
                )
            })
        });
    }

    /// Blocks every signal in this thread; returns the old mask (a thread started now inherits it).
    fn mask_all() -> libc::sigset_t {
        // SAFETY: valid sets for the calls; only this thread's mask changes.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            old
        }
    }

    #[test]
    fn a_handled_signal_that_interrupts_the_wait_neither_ends_it_early_nor_restarts_it() {
        grade!().run(|s| {
            let mut events = new(s, &[libc::SIGUSR1])?;
            install_counting_handler(libc::SIGALRM);
            let timeout = Duration::from_millis(400);
            s.phase(format!(
                "calling next({timeout:?}) while a timer sends the test's own handled SIGALRM every 5 ms (a wait \
                 restarted in full after each EINTR never ends)"
            ));
            let ticker = Ticker::start(libc::SIGALRM, 5_000_000)?;
            let started = Instant::now();
            let got = events.next(timeout);
            let took = started.elapsed();
            drop(ticker);
            let handled = HANDLED.load(Ordering::Relaxed);
            let got = match got {
                Err(e) if e.kind() == ErrorKind::Interrupted => {
                    return Err(Failure::wrong(format!(
                        "next({timeout:?}) returned an error after {took:?}: {e} (kind Interrupted). A handled signal \
                         (the test's SIGALRM, {handled} so far) interrupted poll with EINTR: that is no error of the \
                         loop. Wait again for what is left of the timeout"
                    )));
                }
                other => s.ok(&format!("next({timeout:?})"), other)?,
            };
            s.expect(handled > 0, || "the test's timer sent no SIGALRM while next waited".into())?;
            s.expect(got.is_none(), || format!("next({timeout:?}) returned {got:?}, but no SIGUSR1 was sent"))?;
            s.expect(took >= timeout, || {
                format!(
                    "next({timeout:?}) returned None after {took:?}, before its timeout, while {handled} handled \
                     SIGALRM interrupted it: wait again for what is left"
                )
            })?;
            s.expect(took < timeout + Duration::from_millis(1500), || {
                format!(
                    "next({timeout:?}) returned None only after {took:?}: do not start the timeout over after EINTR"
                )
            })
        });
    }

    #[test]
    fn dropping_it_closes_the_fd_and_unblocks_only_what_it_blocked() {
        grade!().run(|s| {
            // The caller blocks SIGUSR2 itself, before: it must stay blocked.
            mask(libc::SIG_BLOCK, libc::SIGUSR2);
            let events = new(s, &[libc::SIGUSR1, libc::SIGUSR2])?;
            expect_blocked(s, &[libc::SIGUSR1, libc::SIGUSR2])?;
            let fd = events.as_fd().as_raw_fd();
            s.phase("dropping SignalEvents");
            drop(events);
            let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok();
            s.expect(link.is_none(), || {
                format!("after the drop, fd {fd} (the signalfd) is still open ({link:?}): own it, close it in Drop")
            })?;
            let blocked = blocked_here()?;
            s.expect(!has(blocked, libc::SIGUSR1), || {
                "after the drop, SIGUSR1 is still blocked in the calling thread: Drop must unblock the signals new \
                 blocked (keep what you changed and undo it)"
                    .into()
            })?;
            s.expect(has(blocked, libc::SIGUSR2), || {
                "the caller had blocked SIGUSR2 before new, and after the drop it is unblocked: unblock only the \
                 signals that new itself blocked (those not in the old mask pthread_sigmask returned)"
                    .into()
            })
        });
    }

    #[test]
    fn a_signal_left_unread_at_the_drop_is_discarded_but_one_the_caller_blocked_itself_stays_pending() {
        grade!().run(|s| {
            // The caller blocks SIGUSR2 itself and has one pending before new: it is the caller's.
            mask(libc::SIG_BLOCK, libc::SIGUSR2);
            // SAFETY: raise takes a plain value; SIGUSR2 is blocked, so it only becomes pending.
            unsafe { libc::raise(libc::SIGUSR2) };
            let events = new(s, &[libc::SIGUSR1, libc::SIGUSR2])?;
            expect_blocked(s, &[libc::SIGUSR1, libc::SIGUSR2])?;
            s.phase("the peer program sends SIGUSR1, which nothing reads");
            peer_sends(s, vec![(libc::SIGUSR1, None)])?;
            s.phase(
                "dropping SignalEvents with one SIGUSR1 unread (unblocked while still pending, it is delivered at \
                 its default action, which ends the process: read and discard what is pending before unblocking)",
            );
            drop(events);
            let (_, blocked, pending) = signal_state(libc::SIGUSR1);
            s.expect(!blocked, || "after the drop, SIGUSR1 is still blocked: Drop must unblock it".into())?;
            s.expect(!pending, || "after the drop, SIGUSR1 is still pending: Drop must read and discard it".into())?;
            let (_, blocked, pending) = signal_state(libc::SIGUSR2);
            s.expect(blocked, || {
                "the caller had blocked SIGUSR2 before new, and after the drop it is unblocked".into()
            })?;
            s.expect(pending, || {
                "the caller had a SIGUSR2 pending (and blocked) before new, and the drop took it: discard only the \
                 signals Drop is about to unblock (a signalfd's set can be narrowed: signalfd(fd, &set, 0)), and \
                 leave the caller's own for the caller"
                    .into()
            })
        });
    }

    #[test]
    fn the_descriptor_is_a_signalfd_opened_close_on_exec_and_non_blocking() {
        grade!().run(|s| {
            let events = new(s, &[libc::SIGUSR1])?;
            let fd = events.as_fd().as_raw_fd();
            let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).map(|p| p.display().to_string());
            s.expect(link.as_deref().is_ok_and(|l| l == "anon_inode:[signalfd]"), || {
                format!("as_fd() gives fd {fd}, which is {link:?}, not a signalfd (anon_inode:[signalfd])")
            })?;
            // SAFETY: fcntl on a descriptor the object owns, which stays open meanwhile.
            let (fd_flags, fl_flags) = unsafe { (libc::fcntl(fd, libc::F_GETFD), libc::fcntl(fd, libc::F_GETFL)) };
            s.expect(fd_flags >= 0 && fd_flags & libc::FD_CLOEXEC != 0, || {
                format!(
                    "the signalfd {fd} is not close-on-exec: every program the loop starts would inherit it. Open it \
                     with SFD_CLOEXEC"
                )
            })?;
            s.expect(fl_flags >= 0 && fl_flags & libc::O_NONBLOCK != 0, || {
                format!(
                    "the signalfd {fd} is blocking: a read when nothing is pending (another reader took the signal, \
                     or a wake-up was spurious) stops the whole loop. Open it with SFD_NONBLOCK"
                )
            })?;
            s.phase("dropping SignalEvents");
            drop(events);
            Ok(())
        });
    }

    #[test]
    fn an_empty_list_sigkill_sigstop_or_no_signal_is_invalid_input_and_the_mask_is_left_as_it_was() {
        grade!().run(|s| {
            let before = blocked_here()?;
            let rtmax_plus_1 = libc::SIGRTMAX() + 1;
            let cases: [(&[i32], &str); 7] = [
                (&[], "an empty list"),
                (&[libc::SIGKILL], "[SIGKILL]"),
                (&[libc::SIGSTOP], "[SIGSTOP]"),
                (&[libc::SIGUSR1, libc::SIGKILL], "[SIGUSR1, SIGKILL]"),
                (&[0], "[0]"),
                (&[-1], "[-1]"),
                (&[libc::SIGUSR2, rtmax_plus_1], "[SIGUSR2, SIGRTMAX + 1]"),
            ];
            for (signals, what) in cases {
                let call = format!("SignalEvents::new({what})");
                s.phase(format!("calling {call}"));
                s.expect_err(&call, SignalEvents::new(signals), ErrorKind::InvalidInput)?;
                let after = blocked_here()?;
                s.expect(after == before, || {
                    format!(
                        "{call} failed as it should, but left the calling thread's mask changed (SigBlk {before:016x} \
                         before, {after:016x} after): check every signal before you block any"
                    )
                })?;
            }
            Ok(())
        });
    }
}

mod pidfd_supervisor {
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

    fn wait_any(
        s: &Sandbox,
        sup: Supervisor,
        timeout: Duration,
        limit: Duration,
        while_: &str,
    ) -> Result<Waited, Failure> {
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
            format!(
                "{} ({:?}, pid {}) has ended with {expected:?}; wait_any reported {got:?}",
                kid.what, kid.id, kid.pid
            )
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
                s.call(
                    format!("stop({:?}, {signal}) of the child started {}", kid.id, ["first", "second"][i]),
                    || sup.stop(kid.id, signal),
                )?;
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
                format!(
                    "wait_any(300 ms), interrupted every 20 ms, returned None after {took:?}, not after about 300 ms"
                )
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
                let got = s.call(format!("wait_any(2 s), {n} of two released children reported"), || {
                    sup.wait_any(2 * SECOND)
                })?;
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
            action.sa_sigaction =
                on_sigsys as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as usize;
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
            libc::SYS_wait4 if arg as i32 == -1 => {
                "your code called wait4(-1, ...) (waitpid(-1) or wait()): it reaps any \
                 child of the process, the caller's own children too, and says which by a bare pid. Reap each child \
                 through its pidfd: waitid(P_PIDFD, pidfd, &info, WEXITED)"
                    .to_string()
            }
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
}

mod exec_hygiene {
    //! exec_hygiene: run_filter starts a program of the test's (the peer, `EventLoop::ExecInspect`
    //! and friends) that lists what it was given; the test reads that listing back from the
    //! program's own output.

    use std::fs;
    use std::io::ErrorKind;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    use std::path::PathBuf;
    use std::time::Duration;

    use ipc_katas::grade;
    use ipc_katas::grader::{Failure, Payload, Sandbox, caught_alarms_every, size, stop_alarms_keeping_the_handler};
    use ipc_katas::kit::{TestFifo, fd};
    use katas::event_loop::{self as kata, Output, Status};
    use rstest::rstest;

    use super::peer::{self, EventLoop};

    /// The peer program (this test binary) and what makes it start as the peer: the one variable
    /// `Sandbox::peer` sets, and the command as its one argument.
    struct Program {
        path: PathBuf,
        arg: String,
        what: String,
    }

    impl Program {
        fn new(command: EventLoop) -> Result<Program, Failure> {
            let what = format!("the test's program `{command:?}`");
            let arg = serde_json::to_string(&peer::Command::from(command))
                .map_err(Failure::test_error("encode the peer command"))?;
            let path = std::env::current_exe().map_err(Failure::test_error("find its own program"))?;
            Ok(Program { path, arg, what })
        }

        fn inspect() -> Result<Program, Failure> {
            Program::new(EventLoop::ExecInspect { hold: None })
        }

        const ENV: [(&'static str, &'static str); 2] = [(ipc_katas::grader::peer::ENV, "1"), ("EXEC_HYGIENE", "given")];

        fn run(&self, s: &Sandbox, input: &[u8]) -> Result<Output, Failure> {
            s.phase(format!("calling run_filter({}, {} of input)", self.what, size(input.len())));
            let result = s.watched(|| kata::run_filter(&self.path, &[&self.arg], &Program::ENV, input));
            s.ok("run_filter", result)
        }
    }

    /// What `ExecInspect` printed: its descriptors, environment, signal state and what it read.
    #[derive(Debug, Default)]
    struct Listing {
        /// (fd, access, target)
        fds: Vec<(i32, String, String)>,
        env: Vec<String>,
        sigblk: Option<u64>,
        sigign: Option<u64>,
        stdin: Option<String>,
    }

    impl Listing {
        fn parse(who: &str, out: &Output) -> Result<Listing, Failure> {
            let text = String::from_utf8_lossy(&out.stdout);
            let mut l = Listing::default();
            for line in text.lines() {
                let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
                match key {
                    "fd" => {
                        let mut w = rest.splitn(3, ' ');
                        if let (Some(n), Some(a), Some(t)) = (w.next().and_then(|n| n.parse().ok()), w.next(), w.next())
                        {
                            l.fds.push((n, a.to_string(), t.to_string()));
                        }
                    }
                    "env" => l.env.push(rest.to_string()),
                    "sigblk" => l.sigblk = u64::from_str_radix(rest, 16).ok(),
                    "sigign" => l.sigign = u64::from_str_radix(rest, 16).ok(),
                    "stdin" => l.stdin = Some(rest.to_string()),
                    _ => {}
                }
            }
            if l.fds.is_empty() || out.status != Status::Code(0) {
                return Err(Failure::wrong(format!(
                    "{who} ended with {:?} and printed {}, not its listing of descriptors:\n  {}\nIt runs only with argv \
                     [path, the argument] and the environment given, stdin and stdout being the pipes",
                    out.status,
                    size(out.stdout.len()),
                    ipc_katas::grader::data::shorten(&text)
                )));
            }
            Ok(l)
        }

        fn target(&self, fd: i32) -> Option<&str> {
            self.fds.iter().find(|(n, _, _)| *n == fd).map(|(_, _, t)| t.as_str())
        }
    }

    const HINT: &str = "make every descriptor close-on-exec the moment it exists (pipe2(O_CLOEXEC), O_CLOEXEC, \
                        SOCK_CLOEXEC): exec then closes the originals once dup2 has put copies on 0 and 1; and in the \
                        child, close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) for what the caller left open";

    /// Expects `listing` to hold exactly 0, 1 and 2; names each extra descriptor. `own` is the stdin
    /// and stdout pipes of the program run_filter ran, `known` what the test itself holds.
    fn expect_only_stdio(
        s: &Sandbox,
        who: &str,
        listing: &Listing,
        own: (Option<&str>, Option<&str>),
        known: &[(String, &str)],
    ) -> Result<(), Failure> {
        let extra: Vec<String> = listing
            .fds
            .iter()
            .filter(|(n, _, _)| *n > 2)
            .map(|(n, access, target)| {
                let end = match access.as_str() {
                    "w" => "the write end",
                    "r" => "the read end",
                    _ => "an end",
                };
                let what = if Some(target.as_str()) == own.0 {
                    let eof = if access == "w" {
                        ": while it is open, the program never sees end-of-file on its stdin"
                    } else {
                        ""
                    };
                    format!("{end} of the stdin pipe of the program run_filter ran{eof}")
                } else if Some(target.as_str()) == own.1 {
                    format!("{end} of the stdout pipe of the program run_filter ran")
                } else if let Some((_, what)) = known.iter().find(|(t, _)| t == target) {
                    if target.starts_with("pipe:") { format!("{end} of {what}") } else { what.to_string() }
                } else if target.starts_with("pipe:") {
                    format!("{end} of a pipe run_filter made without close-on-exec (its exec-error pipe?)")
                } else {
                    "a descriptor of the caller's process without close-on-exec".to_string()
                };
                format!("fd {n}: {target}, {what}")
            })
            .collect();
        s.expect(extra.is_empty(), || {
            format!(
                "{who} should hold exactly descriptors 0, 1 and 2, but it also holds:\n  {}\nHint: {HINT}",
                extra.join("\n  ")
            )
        })
    }

    /// Expects the program's fd 0 to be a pipe it reads and fd 1 one it writes, and 2 open.
    fn expect_stdio_pipes(s: &Sandbox, l: &Listing) -> Result<(), Failure> {
        for (fd, access, name) in [(0, "r", "stdin"), (1, "w", "stdout")] {
            let found = l.fds.iter().find(|(n, _, _)| *n == fd);
            s.expect(found.is_some_and(|(_, a, t)| a == access && t.starts_with("pipe:")), || {
                format!(
                    "the program's fd {fd} ({name}) is {}, not the {} end of a pipe: dup2 the pipe's {} end onto {fd} in \
                     the child (dup2(fd, fd) does nothing and leaves FD_CLOEXEC set)",
                    found.map_or("closed".to_string(), |(_, a, t)| format!("{t} opened {a}")),
                    if access == "r" { "read" } else { "write" },
                    if access == "r" { "read" } else { "write" },
                )
            })?;
        }
        s.expect(l.target(2).is_some(), || {
            "the program's fd 2 (stderr) is closed: leave the caller's fd 2 to it".into()
        })
    }

    /// Expects the program to have read exactly `input`, and then end-of-file.
    fn expect_read_whole(s: &Sandbox, l: &Listing, input: &[u8]) -> Result<(), Failure> {
        let line = l.stdin.clone().unwrap_or_default();
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["eof", n, sum] => s.expect(*n == input.len().to_string() && *sum == EventLoop::exec_checksum(input), || {
                format!(
                    "the program read {n} bytes (FNV-1a {sum}) before end-of-file, not the {} bytes of input (FNV-1a {})",
                    input.len(),
                    EventLoop::exec_checksum(input)
                )
            }),
            ["no-eof", n] => {
                let leaked = l.fds.iter().any(|(_, a, t)| a == "w" && Some(t.as_str()) == l.target(0));
                let holder = if leaked {
                    "the program itself holds a write end of its stdin pipe (see its descriptors): make the pipe \
                     close-on-exec, or close the original after dup2"
                } else {
                    "the program holds no write end of its stdin pipe, so run_filter's process still does: close your \
                     copy of the write end once the input is written (and the child's copy before exec)"
                };
                Err(Failure::wrong(format!(
                    "the program read {n} of the {} bytes of input and then waited {} s for more or for end-of-file, \
                     which never came: {holder}",
                    input.len(),
                    EventLoop::EXEC_PATIENCE_MS / 1000
                )))
            }
            _ => Err(Failure::wrong(format!("the program did not say what it read from its stdin: {line:?}"))),
        }
    }

    /// A pipe (read end, write end) made with plain pipe(), without close-on-exec, as a careless
    /// library in the caller's process would.
    fn leaky_pipe() -> Result<(OwnedFd, OwnedFd), Failure> {
        let mut fds = [0; 2];
        // SAFETY: pipe fills the two-element array it is given.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(Failure::test_error("make a pipe")(std::io::Error::last_os_error()));
        }
        // SAFETY: two new descriptors, ours alone.
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    }

    fn target_of(fd: &impl AsRawFd) -> String {
        fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).map(|t| t.display().to_string()).unwrap_or_default()
    }

    #[test]
    fn the_program_holds_only_descriptors_0_1_and_2() {
        grade!().run(|s| {
            let input = Payload::new(1000, 1).bytes();
            let out = Program::inspect()?.run(s, &input)?;
            let l = Listing::parse("the program", &out)?;
            expect_only_stdio(s, "the program", &l, (l.target(0), l.target(1)), &[])?;
            expect_stdio_pipes(s, &l)
        });
    }

    #[test]
    fn descriptors_the_caller_left_without_close_on_exec_do_not_reach_the_program() {
        grade!().run(|s| {
            let (r, w) = leaky_pipe()?;
            let file = s.path("caller.log");
            // SAFETY: open with a valid path and no O_CLOEXEC, as a careless caller does.
            let log = unsafe {
                let c = std::ffi::CString::new(file.to_str().expect("UTF-8 path")).expect("no NUL");
                libc::open(c.as_ptr(), libc::O_WRONLY | libc::O_CREAT, 0o600)
            };
            s.expect(log >= 0, || format!("the test could not open {}", file.display()))?;
            // SAFETY: a new descriptor, ours alone.
            let log = unsafe { OwnedFd::from_raw_fd(log) };
            let known = [
                (
                    target_of(&r),
                    "a pipe the caller made with plain pipe() (not run_filter's to fix, but not the program's to see either)",
                ),
                (target_of(&log), "a file the caller opened without O_CLOEXEC"),
            ];
            let out = Program::inspect()?.run(s, b"x")?;
            let l = Listing::parse("the program", &out)?;
            drop((r, w, log));
            expect_only_stdio(s, "the program", &l, (l.target(0), l.target(1)), &known)
        });
    }

    #[test]
    fn the_program_reads_all_of_its_input_and_then_end_of_file() {
        grade!().run(|s| {
            let input = Payload::new(300_000, 2).bytes();
            let out = Program::inspect()?.run(s, &input)?;
            let l = Listing::parse("the program", &out)?;
            expect_read_whole(s, &l, &input)
        });
    }

    #[test]
    fn no_input_is_end_of_file_at_once() {
        grade!().run(|s| {
            let out = Program::inspect()?.run(s, b"")?;
            let l = Listing::parse("the program", &out)?;
            expect_read_whole(s, &l, b"")
        });
    }

    #[test]
    fn a_megabyte_through_a_program_that_writes_as_it_reads_comes_back_whole() {
        grade!().run(|s| {
            // Both pipes hold 64 KiB: writing all the input before reading any output waits forever.
            let input = Payload::new(1 << 20, 3).bytes();
            let out = Program::new(EventLoop::ExecEcho)?.run(s, &input)?;
            s.expect_eq("how the echoing program ended", &Status::Code(0), &out.status)?;
            s.expect_bytes("the output of the echoing program", &input, &out.stdout)
        });
    }

    #[rstest]
    #[case::exits_0(0, None, Status::Code(0))]
    #[case::exits_7(7, None, Status::Code(7))]
    #[case::exits_255(255, None, Status::Code(255))]
    #[case::killed_by_sigkill(0, Some(libc::SIGKILL), Status::Signal(libc::SIGKILL))]
    #[case::killed_by_sigterm(0, Some(libc::SIGTERM), Status::Signal(libc::SIGTERM))]
    fn how_the_program_ended_is_reported(#[case] code: i32, #[case] signal: Option<i32>, #[case] expected: Status) {
        grade!().run(|s| {
            let out = Program::new(EventLoop::ExitWithoutReading { code, signal })?.run(s, b"")?;
            s.expect_eq(
                "the status (waitpid: WIFEXITED gives WEXITSTATUS, WIFSIGNALED gives WTERMSIG)",
                &expected,
                &out.status,
            )
        });
    }

    #[test]
    fn a_program_that_exits_without_reading_a_megabyte_of_input_is_not_an_error() {
        grade!().run(|s| {
            // The pipe takes 64 KiB; the rest has no reader: EPIPE, and SIGPIPE, which kills by default.
            let input = Payload::new(1 << 20, 4).bytes();
            let out = Program::new(EventLoop::ExitWithoutReading { code: 3, signal: None })?.run(s, &input)?;
            s.expect_eq("how the program ended", &Status::Code(3), &out.status)
        });
    }

    #[rstest]
    #[case::that_does_not_exist(false, ErrorKind::NotFound)]
    #[case::that_is_not_executable(true, ErrorKind::PermissionDenied)]
    fn a_program_that_cannot_start_is_an_error_not_an_exit_status(#[case] exists: bool, #[case] kind: ErrorKind) {
        grade!().run(|s| {
            let path = s.path("filter");
            if exists {
                fs::write(&path, "#!/bin/sh\necho hello\n").map_err(Failure::test_error("write a script"))?;
                fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                    .map_err(Failure::test_error("chmod the script"))?;
            }
            s.phase(format!(
                "calling run_filter({}), which {}",
                path.display(),
                if exists { "is mode 0600" } else { "does not exist" }
            ));
            let result = s.watched(|| kata::run_filter(&path, &[], &[], b"x"));
            let err = s.expect_err("run_filter", result, kind).map_err(|f| {
                f.hint(
                    "the child cannot return exec's error: write its errno into a close-on-exec pipe before _exit, and \
                     read that pipe in the parent (end-of-file means the exec succeeded)",
                )
            })?;
            let _ = err;
            Ok(())
        });
    }

    #[rstest]
    #[case::a_nul_in_an_argument(&["a\0b"], &[])]
    #[case::a_nul_in_a_value(&[], &[("NAME", "a\0b")])]
    #[case::an_equals_sign_in_a_name(&[], &[("A=B", "c")])]
    #[case::an_empty_name(&[], &[("", "c")])]
    fn bad_arguments_are_invalid_input(#[case] args: &[&str], #[case] env: &[(&str, &str)]) {
        grade!().run(|s| {
            let program = Program::inspect()?;
            s.phase(format!("calling run_filter with args {args:?} and env {env:?}"));
            let result = s.watched(|| kata::run_filter(&program.path, args, env, b"x"));
            s.expect_err(&format!("run_filter with args {args:?} and env {env:?}"), result, ErrorKind::InvalidInput)?;
            Ok(())
        });
    }

    #[test]
    fn the_program_gets_exactly_the_environment_it_is_given() {
        grade!().run(|s| {
            let out = Program::inspect()?.run(s, b"")?;
            let l = Listing::parse("the program", &out)?;
            let mut env = l.env.clone();
            env.sort();
            let mut expected: Vec<String> = Program::ENV.iter().map(|(n, v)| format!("{n}={v}")).collect();
            expected.sort();
            s.expect_eq("the program's environment (execve with the env given, not execv)", &expected, &env)
        });
    }

    #[test]
    fn the_program_starts_with_no_signal_blocked_and_sigpipe_at_its_default() {
        grade!().run(|s| {
            // A caller that reads SIGTERM from a signalfd blocks it; Rust's runtime ignores SIGPIPE.
            // SAFETY: signal-state calls on this sandbox process and thread; put back below.
            unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGTERM);
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            }
            let out = Program::inspect()?.run(s, b"");
            // SAFETY: as above.
            unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGTERM);
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            }
            let l = Listing::parse("the program", &out?)?;
            let blocked = l.sigblk.unwrap_or(u64::MAX);
            s.expect(blocked == 0, || {
                format!(
                    "the program started with signals blocked (SigBlk {blocked:016x}; SIGTERM is bit {}): the mask \
                     survives exec, so a helper started by a loop that blocks SIGTERM cannot be stopped with it. Empty \
                     the mask in the child (sigprocmask(SIG_SETMASK) with an empty set)",
                    libc::SIGTERM - 1
                )
            })?;
            let ignored = l.sigign.unwrap_or(u64::MAX);
            s.expect(ignored & (1 << (libc::SIGPIPE - 1)) == 0, || {
                format!(
                    "the program started with SIGPIPE ignored (SigIgn {ignored:016x}): an ignored disposition survives \
                     exec. Put SIGPIPE back to SIG_DFL in the child (sigaction)"
                )
            })
        });
    }

    #[test]
    fn another_child_of_the_caller_is_left_for_the_caller_to_reap() {
        grade!().run(|s| {
            let other = s.fork("the test's other child", || Ok(()))?;
            s.phase("waiting for the test's other child to exit (it stays a zombie for the test to reap)");
            while !other.has_exited() {
                std::thread::sleep(Duration::from_millis(1));
            }
            let out = Program::inspect()?.run(s, b"")?;
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: waitid with a valid siginfo; WNOWAIT leaves the child as it is.
            let r = unsafe {
                libc::waitid(
                    libc::P_PID,
                    other.pid() as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
                )
            };
            s.expect(r == 0, || {
                format!(
                    "run_filter reaped the caller's other child (pid {}), which had exited before the call: wait for your \
                     own child's pid only (waitpid(pid)), never waitpid(-1) or wait(), which take any child",
                    other.pid()
                )
            })?;
            s.expect_eq("how the program ended", &Status::Code(0), &out.status)?;
            other.join()
        });
    }

    #[test]
    fn a_program_the_caller_starts_meanwhile_gets_none_of_run_filter_s_descriptors() {
        grade!().run(|s| {
            let (ready, go) = (TestFifo::new(s, "ready")?, TestFifo::new(s, "go")?);
            let ready_r = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(ready.path())
                .map_err(Failure::test_error("open the ready FIFO"))?;
            // More than a pipe holds, so that run_filter still writes it while the program waits.
            let input = Payload::new(1 << 20, 6).bytes();
            let held = Program::new(EventLoop::ExecInspect { hold: Some((ready.path().into(), go.path().into())) })?;
            let other = Program::inspect()?;
            std::thread::scope(|scope| {
                s.phase(format!("calling run_filter({}) in a thread", held.what));
                let running = scope.spawn(|| kata::run_filter(&held.path, &[&held.arg], &Program::ENV, &input));
                s.phase("waiting for the program run_filter started to say it runs");
                loop {
                    if fd::poll_readable(&ready_r, 20) && fd::read_byte(&ready_r).is_some() {
                        break;
                    }
                    if running.is_finished() {
                        let result = running.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                        let out = s.ok("run_filter", result)?;
                        return Err(Failure::wrong(format!(
                            "run_filter returned ({:?}, {}) before the program said it runs",
                            out.status,
                            size(out.stdout.len())
                        )));
                    }
                }
                s.phase("starting another program from the caller's main thread while run_filter runs");
                let mut started = s.peer("`ExecInspect` that the caller started meanwhile", &[&other.arg])?;
                let seen = started.join();
                s.phase("telling the program run_filter runs to go on");
                let go_w = fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(go.path())
                    .map_err(Failure::test_error("open the go FIFO"));
                drop(go_w);
                s.phase("waiting for run_filter to return");
                let result = running.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                let a = Listing::parse("the program run_filter ran", &s.ok("run_filter", result)?)?;
                let seen = seen?;
                let b = Listing::parse(
                    "the program the caller started",
                    &Output { status: Status::Code(0), stdout: seen.stdout },
                )?;
                expect_only_stdio(
                    s,
                    "a program the caller started (std::process::Command, in another thread) while run_filter ran",
                    &b,
                    (a.target(0), a.target(1)),
                    &[],
                )?;
                expect_read_whole(s, &a, &input)
            })
        });
    }

    #[test]
    fn signals_caught_while_run_filter_waits_do_not_fail_it() {
        grade!().run(|s| {
            // SIGALRM arrives every millisecond, and the program itself sends five more before it
            // reads its input, each once run_filter is seen asleep: with 200 kB of input, more than
            // a pipe holds, run_filter is then waiting (in poll, or a write) for it to read.
            let input = Payload::new(200_000, 7).bytes();
            caught_alarms_every(Some(Duration::from_millis(1)));
            let out = Program::new(EventLoop::ExecInterruptParent { times: 5 })?.run(s, &input);
            // The program may still be sending if run_filter gave up early: keep catching.
            stop_alarms_keeping_the_handler();
            let out = out.map_err(|f| f.hint("a call that a signal handler interrupted (EINTR) must be retried"))?;
            let l = Listing::parse("the program", &out)?;
            expect_read_whole(s, &l, &input)
        });
    }

    #[test]
    fn a_caller_whose_stdin_and_stdout_are_closed_still_gives_the_program_both_pipes() {
        grade!().run(|s| {
            // With 0 and 1 closed, the first pipe run_filter makes is (0, 1): the program's stdin
            // already sits on fd 0, and dup2(0, 0) does nothing and leaves FD_CLOEXEC set.
            let input = Payload::new(5000, 8).bytes();
            let program = Program::inspect()?;
            s.phase(format!("calling run_filter({}) from a process whose fds 0 and 1 are closed", program.what));
            // SAFETY: fcntl and close on descriptors this process owns; both are put back below.
            let saved = unsafe {
                let saved = [libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 100), libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 100)];
                libc::close(0);
                libc::close(1);
                saved
            };
            let result = kata::run_filter(&program.path, &[&program.arg], &Program::ENV, &input);
            // SAFETY: as above: the saved copies go back on 0 and 1.
            unsafe {
                for (fd, copy) in saved.into_iter().enumerate() {
                    if copy >= 0 {
                        libc::dup2(copy, fd as libc::c_int);
                        libc::close(copy);
                    }
                }
            }
            let l = Listing::parse("the program", &s.ok("run_filter", result)?)?;
            expect_stdio_pipes(s, &l)?;
            expect_only_stdio(s, "the program", &l, (l.target(0), l.target(1)), &[])?;
            expect_read_whole(s, &l, &input)
        });
    }
}

mod serve_many {
    //! serve_many: the server runs in a forked worker of its own (SIGPIPE at its default action);
    //! the test, its threads and peer programs are the clients, and `/proc` shows what the server's
    //! loop is doing.

    use std::fs;
    use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
    use std::net::Shutdown;
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use ipc_katas::grade;
    use ipc_katas::grader::{Failure, Handshake, Sandbox, Worker};
    use ipc_katas::kit::{Hint, Removed, fd, process, signals};
    use katas::event_loop::{self, MAX_LINE, Served};

    use crate::peer::{self, EventLoop};

    fn answer(line: &[u8]) -> Vec<u8> {
        EventLoop::serve_many_answer(line)
    }

    fn serve_many_lines(id: u64, count: usize) -> Vec<Vec<u8>> {
        EventLoop::serve_many_lines(id, count)
    }

    /// How long a client waits for an answer before it says the server hangs.
    const PATIENCE: Duration = Duration::from_secs(2);

    /// A bounded wait of the test that ran out: a HANG that says how long it waited, as the
    /// sandbox's own deadline does ("timed out after"), then what it saw.
    fn timed_out(after: Duration, what: impl std::fmt::Display) -> Failure {
        Failure::hang(format!("timed out after {} s: {what}", after.as_secs()))
    }
    /// The line that makes the server's handler wait until the test writes a byte to its gate.
    const WAIT: &[u8] = b"wait for the test";
    /// The system calls an epoll loop sleeps in.
    const EPOLL_WAITS: &[libc::c_long] = &[libc::SYS_epoll_wait, libc::SYS_epoll_pwait, libc::SYS_epoll_pwait2];
    /// `EPOLLET` as `/proc/PID/fdinfo` shows it in a `tfd:` line's `events:`.
    const EPOLLET: u32 = 1 << 31;

    /// The kata's server in a forked worker: its socket path, the test's end of the stop pipe and
    /// of the handler's gate, and the pipe on which it reports what it served.
    struct Server {
        worker: Option<Worker>,
        pid: libc::pid_t,
        path: PathBuf,
        stop: Option<OwnedFd>,
        /// Written just before the test stops the loop: serve_many may return from then on.
        stopping: OwnedFd,
        gate: OwnedFd,
        served: OwnedFd,
        _socket: Removed,
    }

    /// How the test tells the loop to stop.
    #[derive(Clone, Copy, Debug)]
    enum Stop {
        Byte,
        EndOfFile,
    }

    impl Server {
        /// Binds the socket, then forks the server; with `hold`, the server waits for it before it
        /// calls serve_many. After the fork the test ignores SIGPIPE (the server does not).
        fn start(s: &Sandbox, hold: Option<&Handshake>) -> Result<Server, Failure> {
            let path = s.path("server.sock");
            let socket = Removed(path.clone());
            let listener = UnixListener::bind(&path).map_err(Failure::test_error("bind the server's socket"))?;
            let (stop_r, stop_w) = fd::pipe()?;
            let (gate_r, gate_w) = fd::pipe()?;
            let (served_r, served_w) = fd::pipe()?;
            let (stopping_r, stopping_w) = fd::pipe()?;
            let theirs = [stop_w.as_raw_fd(), gate_w.as_raw_fd(), served_r.as_raw_fd(), stopping_w.as_raw_fd()];
            // The closure owns the listener and the server's ends: the test's copies close when the
            // closure is dropped here, after the fork.
            let worker = s.fork("the server (serve_many in a process of its own)", move || {
                for fd in theirs {
                    // SAFETY: this process's copies of the test's ends; the test keeps its own.
                    unsafe { libc::close(fd) };
                }
                if let Some(hold) = hold {
                    hold.wait("the test to connect its clients before the loop starts")?;
                }
                let handler = move |line: &[u8]| {
                    if line == WAIT && fd::poll_readable(&gate_r, 3000) {
                        fd::read_byte(&gate_r);
                    }
                    answer(line)
                };
                let served = event_loop::serve_many(listener, stop_r, handler).map_err(Failure::kata("serve_many"))?;
                if !fd::poll_readable(&stopping_r, 0) {
                    return Err(Failure::wrong(format!(
                        "serve_many returned Ok({served:?}) while stop was not readable: it must serve until the test \
                         writes a byte to stop or closes it, even when no client is connected"
                    )));
                }
                let mut report = [0u8; 16];
                report[..8].copy_from_slice(&(served.clients as u64).to_le_bytes());
                report[8..].copy_from_slice(&(served.lines as u64).to_le_bytes());
                nix::unistd::write(&served_w, &report).map_err(Failure::test_error("report what was served"))?;
                Ok(())
            })?;
            signals::ignore_sigpipe();
            let pid = worker.pid();
            Ok(Server {
                worker: Some(worker),
                pid,
                path,
                stop: Some(stop_w),
                stopping: stopping_w,
                gate: gate_w,
                served: served_r,
                _socket: socket,
            })
        }

        /// `failure`, unless the server died or returned: then its own report, which says why.
        fn blame(&mut self, failure: Failure) -> Failure {
            let until = Instant::now() + Duration::from_millis(300);
            while self.worker.as_ref().is_some_and(|w| !w.has_exited()) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(1));
            }
            match self.worker.take_if(|w| w.has_exited()) {
                Some(worker) => match worker.join() {
                    Err(theirs) => theirs,
                    Ok(()) => failure,
                },
                None => failure,
            }
        }

        /// Connects a client; its reads give up after [`PATIENCE`].
        fn connect(&mut self, name: &str) -> Result<Client, Failure> {
            let stream = match UnixStream::connect(&self.path) {
                Ok(stream) => stream,
                Err(e) => {
                    return Err(self.blame(Failure::wrong(format!("{name} could not connect to the server: {e}"))));
                }
            };
            stream.set_read_timeout(Some(PATIENCE)).map_err(Failure::test_error("set a read timeout"))?;
            let reader = BufReader::new(stream.try_clone().map_err(Failure::test_error("clone a client socket"))?);
            Ok(Client { stream, reader, name: name.to_string() })
        }

        /// Waits until the server sleeps in epoll_wait (5 looks over 20 ms in a row); a server that
        /// died is blamed, one that never sleeps there is a hang.
        fn asleep(&mut self, s: &Sandbox, after: &str) -> Result<(), Failure> {
            s.phase(format!("waiting for the server to sleep in epoll_wait after {after}"));
            if asleep_in_epoll_wait(self.pid, Duration::from_millis(20)) {
                return Ok(());
            }
            let seen = process::syscall_of(self.pid).map(|c| c.number);
            Err(self.blame(timed_out(
                Duration::from_secs(3),
                format_args!(
                    "after {after}, the server was never seen asleep in epoll_wait for 20 ms within 3 s (last seen in \
                 system call {seen:?}, state {:?}): does it wait in epoll_wait, and only there?",
                    process::state(self.pid)
                ),
            )))
        }

        /// Waits until the handler holds the answer to a [`WAIT`] line (it polls its gate).
        fn in_handler(&mut self, s: &Sandbox, line: &str) -> Result<(), Failure> {
            s.phase(format!("waiting for the handler to hold the answer to {line}"));
            let until = Instant::now() + s.bounded(PATIENCE);
            let polling =
                |pid| process::syscall_of(pid).is_some_and(|c| [libc::SYS_poll, libc::SYS_ppoll].contains(&c.number));
            while !polling(self.pid) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(1));
            }
            if polling(self.pid) {
                return Ok(());
            }
            Err(self.blame(timed_out(
                Duration::from_secs(2),
                format_args!("the server did not call the handler for {line}"),
            )))
        }

        /// Lets the handler that got [`WAIT`] go on.
        fn open_gate(&self) -> Result<(), Failure> {
            if fd::write_byte(&self.gate) {
                Ok(())
            } else {
                Err(Failure::crash("the test could not open the handler's gate"))
            }
        }

        /// Stops the loop and returns what serve_many said it served.
        fn stop(mut self, s: &Sandbox, how: Stop) -> Result<Served, Failure> {
            s.expect(fd::write_byte(&self.stopping), || "the test could not say that it stops the loop".to_string())?;
            let what = match how {
                Stop::Byte => {
                    let written = self.stop.as_ref().is_some_and(fd::write_byte);
                    s.expect(written, || "the test could not write to the stop pipe".to_string())?;
                    "a byte was written to stop"
                }
                Stop::EndOfFile => {
                    drop(self.stop.take());
                    "the write end of stop was closed (end-of-file)"
                }
            };
            s.phase(format!("waiting for serve_many to return after {what}"));
            if !fd::poll_readable(&self.served, s.bounded(PATIENCE).as_millis() as i32) {
                let failure = timed_out(
                    PATIENCE,
                    format_args!(
                        "serve_many did not return within {} s after {what}: stop is readable then, and the loop must \
                     return as soon as epoll_wait reports it (end-of-file makes a pipe readable too: read gives 0)",
                        PATIENCE.as_secs()
                    ),
                );
                return Err(self.blame(failure));
            }
            let mut report = [0u8; 16];
            let n = nix::unistd::read(&self.served, &mut report).unwrap_or(0);
            if let Some(worker) = self.worker.take() {
                worker.join()?;
            }
            s.expect(n == 16, || "serve_many's process ended without saying what it served".to_string())?;
            let word = |at: usize| u64::from_le_bytes(report[at..at + 8].try_into().expect("8 bytes")) as usize;
            Ok(Served { clients: word(0), lines: word(8) })
        }
    }

    /// A client the test plays itself: its socket and a buffered reader of its answers.
    struct Client {
        stream: UnixStream,
        reader: BufReader<UnixStream>,
        name: String,
    }

    impl Client {
        fn send(&mut self, server: &mut Server, bytes: &[u8]) -> Result<(), Failure> {
            match self.stream.write_all(bytes) {
                Ok(()) => Ok(()),
                Err(e) => Err(server.blame(Failure::wrong(format!(
                    "{} could not send {} bytes: {e}",
                    self.name,
                    bytes.len()
                )))),
            }
        }

        fn send_lines(&mut self, server: &mut Server, lines: &[Vec<u8>]) -> Result<(), Failure> {
            let bytes: Vec<u8> = lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
            self.send(server, &bytes)
        }

        /// Sends `lines` and checks the answers to them: one exchange of the conversation.
        fn converse(&mut self, s: &Sandbox, server: &mut Server, lines: &[Vec<u8>]) -> Result<(), Failure> {
            self.send_lines(server, lines)?;
            self.expect_answers(s, server, lines)
        }

        /// The next answer line, without its newline.
        fn answer(&mut self) -> io::Result<Vec<u8>> {
            let mut line = Vec::new();
            self.reader.read_until(b'\n', &mut line)?;
            match line.pop() {
                Some(b'\n') => Ok(line),
                _ => Err(io::Error::new(ErrorKind::UnexpectedEof, "the connection ended before a whole answer line")),
            }
        }

        /// Reads the answers to `lines`, in order, and checks each.
        fn expect_answers(&mut self, s: &Sandbox, server: &mut Server, lines: &[Vec<u8>]) -> Result<(), Failure> {
            s.phase(format!("waiting for {}'s {} answers", self.name, lines.len()));
            for (i, line) in lines.iter().enumerate() {
                let got = match self.answer() {
                    Ok(got) => got,
                    Err(e) => return Err(server.blame(self.no_answer(i, lines.len(), &e))),
                };
                let want = answer(line);
                if got != want {
                    return Err(Failure::wrong(format!(
                        "{}'s answer {i} of {} is not the answer to its line {i}:\n{}",
                        self.name,
                        lines.len(),
                        ipc_katas::grader::diff_bytes(&want, &got).unwrap_or_default()
                    ))
                    .hint("keep each client's unfinished line and its unsent answers in buffers of its own"));
                }
            }
            Ok(())
        }

        fn no_answer(&self, i: usize, n: usize, e: &io::Error) -> Failure {
            let name = &self.name;
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
                timed_out(
                    PATIENCE,
                    format_args!(
                        "{name} had {i} of its {n} answers, then none for {} s: its lines are in the server's socket, \
                     but the loop does not get to them (an edge-triggered descriptor read or accepted only once per \
                     edge, or a blocking call in the loop)",
                        PATIENCE.as_secs()
                    ),
                )
            } else {
                Failure::wrong(format!("{name} had {i} of its {n} answers, then the connection ended: {e}"))
            }
        }

        /// Expects the server to close this client without an answer: end-of-file or a reset.
        fn expect_closed(&mut self, server: &mut Server, why: &str) -> Result<(), Failure> {
            match self.answer() {
                Err(e) if matches!(e.kind(), ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset) => Ok(()),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    Err(server.blame(Failure::wrong(format!(
                        "{} {why}, but it was neither answered nor closed for {} s",
                        self.name,
                        PATIENCE.as_secs()
                    ))))
                }
                Err(e) => Err(Failure::wrong(format!("{} {why}; reading from it failed: {e}", self.name))),
                Ok(got) => Err(Failure::wrong(format!(
                    "{} {why}, but it was answered ({} bytes): a line longer than MAX_LINE ({MAX_LINE} bytes) must \
                     close its client",
                    self.name,
                    got.len()
                ))),
            }
        }

        /// Bytes of answers waiting in this client's socket (`FIONREAD`, `man 7 unix`).
        fn waiting(&self) -> usize {
            let mut n: libc::c_int = 0;
            // SAFETY: FIONREAD writes one int through the valid pointer; the socket is borrowed.
            let r = unsafe { libc::ioctl(self.stream.as_raw_fd(), libc::FIONREAD, &mut n) };
            if r == 0 { n as usize } else { 0 }
        }
    }

    /// Whether `pid` is seen asleep (`S`) in epoll_wait in every look, one a millisecond, for `span`
    /// in a row, within 3 s.
    fn asleep_in_epoll_wait(pid: libc::pid_t, span: Duration) -> bool {
        let started = Instant::now();
        let mut since: Option<Instant> = None;
        while started.elapsed() < Duration::from_secs(3) {
            if matches!(process::state(pid), Some('Z' | 'X') | None) {
                return false;
            }
            let waiting = process::syscall_of(pid).is_some_and(|c| EPOLL_WAITS.contains(&c.number))
                && process::state(pid) == Some('S');
            if !waiting {
                since = None;
            } else if since.get_or_insert_with(Instant::now).elapsed() >= span {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    fn lines_of(tag: &str, count: usize) -> Vec<Vec<u8>> {
        (0..count).map(|i| format!("{tag} {i:06} {}", "y".repeat(i % 40)).into_bytes()).collect()
    }

    fn bytes_of(lines: &[Vec<u8>]) -> usize {
        lines.iter().map(|l| l.len() + 1).sum()
    }

    fn expect_served(s: &Sandbox, served: Served, clients: usize, lines: usize) -> Result<(), Failure> {
        s.expect(served == Served { clients, lines }, || {
            format!(
                "serve_many returned {served:?}, but it served {clients} clients and answered {lines} lines: count \
                 each accepted client once and each answered line once"
            )
        })
    }

    /// One descriptor of the server: its number, what it links to, and its `flags:` (octal).
    struct ServerFd {
        number: i32,
        link: String,
        flags: u32,
    }

    fn server_fds(pid: libc::pid_t) -> Vec<ServerFd> {
        let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
        let mut fds: Vec<ServerFd> = dir
            .filter_map(|e| {
                let e = e.ok()?;
                let number: i32 = e.file_name().to_str()?.parse().ok()?;
                let link = fs::read_link(e.path()).ok()?.to_string_lossy().into_owned();
                let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{number}")).ok()?;
                let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?.trim();
                Some(ServerFd { number, link, flags: u32::from_str_radix(flags, 8).ok()? })
            })
            .collect();
        fds.sort_by_key(|f| f.number);
        fds
    }

    /// The `tfd:` lines of an epoll descriptor's fdinfo (`man 5 proc`): (target fd, events).
    fn epoll_targets(pid: libc::pid_t, epfd: i32) -> Vec<(i32, u32)> {
        let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{epfd}")).unwrap_or_default();
        info.lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                (words.next()? == "tfd:").then_some(())?;
                let fd = words.next()?.parse().ok()?;
                (words.next()? == "events:").then_some(())?;
                Some((fd, u32::from_str_radix(words.next()?, 16).ok()?))
            })
            .collect()
    }

    fn sockets_of(pid: libc::pid_t) -> Vec<i32> {
        server_fds(pid).into_iter().filter(|f| f.link.starts_with("socket:")).map(|f| f.number).collect()
    }

    #[test]
    fn eight_client_programs_at_once_each_get_their_own_answers_in_order() {
        const CLIENTS: u64 = 8;
        const LINES: usize = 20;
        grade!().run(|s| {
            let mut server = Server::start(s, None)?;
            let mut clients = Vec::new();
            for id in 0..CLIENTS {
                clients.push(peer::start(s, EventLoop::LineClient { path: server.path.clone(), id, lines: LINES })?);
            }
            for client in &mut clients {
                if let Err(failure) = client.join() {
                    let text = failure.outcome().text().to_string();
                    let failure = if text.contains(EventLoop::NO_ANSWER) {
                        timed_out(Duration::from_secs(3), text)
                    } else {
                        failure
                    };
                    return Err(server.blame(failure));
                }
            }
            let served = server.stop(s, Stop::Byte)?;
            expect_served(s, served, CLIENTS as usize, CLIENTS as usize * LINES)
        });
    }

    #[test]
    fn twenty_clients_connected_before_the_loop_starts_are_all_answered() {
        const CLIENTS: usize = 20;
        grade!().run(|s| {
            let hold = Handshake::new()?;
            let mut server = Server::start(s, Some(&hold))?;
            let mut clients = Vec::new();
            for id in 0..CLIENTS {
                let mut client = server.connect(&format!("client {id} (connected before the loop started)"))?;
                client.send_lines(&mut server, &serve_many_lines(id as u64, 1))?;
                clients.push(client);
            }
            hold.notify()?;
            for (id, client) in clients.iter_mut().enumerate() {
                client
                    .expect_answers(s, &mut server, &serve_many_lines(id as u64, 1))
                    .hint("one edge of the listener may stand for many waiting connections: accept until WouldBlock")?;
            }
            let served = server.stop(s, Stop::Byte)?;
            expect_served(s, served, CLIENTS, CLIENTS)
        });
    }

    #[test]
    fn a_line_that_arrives_in_pieces_is_answered_once_whole() {
        grade!().run(|s| {
            let mut server = Server::start(s, None)?;
            let mut client = server.connect("the client")?;
            let pieces: [&[u8]; 3] = [b"hel", b"lo, wor", b"ld\nand the next line\n"];
            for (i, piece) in pieces.iter().enumerate() {
                client.send(&mut server, piece)?;
                server.asleep(s, &format!("piece {} of the line", i + 1))?;
            }
            let lines = [b"hello, world".to_vec(), b"and the next line".to_vec()];
            client
                .expect_answers(s, &mut server, &lines)
                .hint("a read gives whatever bytes have arrived, not a line: keep them until the newline comes")
        });
    }

    #[test]
    fn a_burst_of_lines_is_all_answered_before_the_server_sleeps_again() {
        grade!().run(|s| {
            let mut server = Server::start(s, None)?;
            let mut client = server.connect("the bursting client")?;
            let lines = lines_of("burst", 2000);
            let expected: usize = lines.iter().map(|l| answer(l).len() + 1).sum();
            s.phase(format!(
                "sending {} lines ({} bytes) in one write, reading nothing",
                lines.len(),
                bytes_of(&lines)
            ));
            client.send_lines(&mut server, &lines)?;
            // The client must not read yet: taking answers frees room in the server's socket, and
            // that wake-up reports EPOLLIN again too, which would hide a loop that reads once an edge.
            server.asleep(s, "the burst")?;
            let waiting = client.waiting();
            s.expect(waiting == expected, || {
                format!(
                    "after a burst of {} lines in one write, the server went to sleep in epoll_wait with {waiting} of \
                     the {expected} bytes of answers sent: the rest of the lines are in its socket, and no new edge \
                     will come for them",
                    lines.len()
                )
            })
            .hint("an edge-triggered descriptor reports new data once: read until WouldBlock")?;
            client.expect_answers(s, &mut server, &lines)
        });
    }

    #[test]
    fn the_server_has_one_thread_one_epoll_instance_and_nonblocking_edge_triggered_sockets() {
        const CLIENTS: usize = 3;
        grade!().run(|s| {
            let mut server = Server::start(s, None)?;
            let mut clients = Vec::new();
            for id in 0..CLIENTS {
                let mut client = server.connect(&format!("client {id}"))?;
                let lines = serve_many_lines(id as u64, 2);
                client.converse(s, &mut server, &lines)?;
                clients.push(client);
            }
            server.asleep(s, "three clients had their answers")?;
            let pid = server.pid;
            let threads = fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count());
            s.expect(threads == 1, || {
                format!(
                    "the server's process has {threads} threads while it serves {CLIENTS} clients: one thread must serve \
                     them all, in one epoll loop"
                )
            })?;
            let ours = fs::read_dir("/proc/self/fd")
                .map(|d| {
                    d.filter_map(|e| fs::read_link(e.ok()?.path()).ok()).filter(|l| l.ends_with("[eventpoll]")).count()
                })
                .unwrap_or(0);
            let fds = server_fds(pid);
            let epolls: Vec<&ServerFd> = fds.iter().filter(|f| f.link.ends_with("[eventpoll]")).collect();
            s.expect(epolls.len() == ours + 1, || {
                format!("the server has {} epoll instances open; it needs one for everything", epolls.len() - ours)
            })?;
            let epoll = epolls.iter().max_by_key(|e| epoll_targets(pid, e.number).len()).expect("one epoll instance");
            s.expect(epoll.flags & libc::O_CLOEXEC as u32 != 0, || {
                format!("the epoll descriptor (fd {}) is not close-on-exec: epoll_create1(EPOLL_CLOEXEC)", epoll.number)
            })?;
            let targets = epoll_targets(pid, epoll.number);
            let sockets: Vec<(i32, u32)> = targets
                .iter()
                .copied()
                .filter(|(tfd, _)| fds.iter().any(|f| f.number == *tfd && f.link.starts_with("socket:")))
                .collect();
            s.expect(sockets.len() > CLIENTS, || {
                format!(
                    "the epoll instance watches {} sockets, but the listener and {CLIENTS} connected clients are {}: \
                     register each accepted client",
                    sockets.len(),
                    CLIENTS + 1
                )
            })?;
            for (tfd, events) in sockets {
                let flags = fds.iter().find(|f| f.number == tfd).map_or(0, |f| f.flags);
                s.expect(events & EPOLLET != 0, || {
                    format!(
                        "socket fd {tfd} is registered level-triggered (events {events:#x}, no EPOLLET {EPOLLET:#x}): the \
                         kata's loop is edge-triggered, reading each socket until WouldBlock"
                    )
                })?;
                s.expect(flags & libc::O_NONBLOCK as u32 != 0, || {
                    format!(
                        "socket fd {tfd} in the loop is blocking (flags {flags:o}, no O_NONBLOCK): one read or accept on \
                         it that waits stops every other client"
                    )
                })?;
                s.expect(flags & libc::O_CLOEXEC as u32 != 0, || {
                    format!("socket fd {tfd} is not close-on-exec (flags {flags:o}): accept4 with SOCK_CLOEXEC")
                })?;
            }
            drop(clients);
            Ok(())
        });
    }

    /// Sends lines as fast as the server takes them, never reading, until it stops taking them
    /// (the server asleep, the socket still full) or `cap` bytes are out; returns the whole lines sent.
    fn send_until_the_server_stops_reading(
        s: &Sandbox,
        server: &mut Server,
        client: &mut Client,
        cap: usize,
    ) -> Result<Vec<Vec<u8>>, Failure> {
        s.phase(format!(
            "sending lines without reading an answer, until the server stops reading (at most {cap} bytes)"
        ));
        client.stream.set_nonblocking(true).map_err(Failure::test_error("make the client non-blocking"))?;
        let (mut lines, mut pending, mut total, mut next) = (Vec::new(), Vec::<u8>::new(), 0usize, 0usize);
        let mut whole = 0usize; // bytes of `lines` entirely sent
        let mut at = 0usize; // bytes of `pending` sent
        loop {
            if at == pending.len() {
                if total >= cap {
                    break;
                }
                pending.clear();
                at = 0;
                while pending.len() < 64 * 1024 {
                    let line = format!("late {next:08} {}", "z".repeat(next % 20)).into_bytes();
                    pending.extend_from_slice(&line);
                    pending.push(b'\n');
                    lines.push(line);
                    next += 1;
                }
            }
            match client.stream.write(&pending[at..]) {
                Ok(n) => {
                    at += n;
                    total += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    let mut out = [libc::pollfd { fd: client.stream.as_raw_fd(), events: libc::POLLOUT, revents: 0 }];
                    // SAFETY: one valid pollfd for the call.
                    if unsafe { libc::poll(out.as_mut_ptr(), 1, 20) } > 0 {
                        continue;
                    }
                    if !asleep_in_epoll_wait(server.pid, Duration::from_millis(50)) {
                        return Err(server.blame(timed_out(Duration::from_secs(3), format_args!(
                            "the client sent {total} bytes of lines, then its socket stayed full, and the server was not \
                             seen asleep in epoll_wait for 50 ms within 3 s: it neither reads nor waits for work"
                        ))));
                    }
                    // SAFETY: as above, without waiting.
                    if unsafe { libc::poll(out.as_mut_ptr(), 1, 0) } == 0 {
                        break;
                    }
                }
                Err(e) => return Err(server.blame(Failure::wrong(format!("the client's send failed: {e}")))),
            }
        }
        client.stream.set_nonblocking(false).map_err(Failure::test_error("make the client blocking"))?;
        // Only the lines sent whole are answered.
        let mut kept = Vec::new();
        for line in lines {
            if whole + line.len() + 1 > total {
                break;
            }
            whole += line.len() + 1;
            kept.push(line);
        }
        Ok(kept)
    }

    #[test]
    fn a_client_that_reads_only_after_sending_a_megabyte_of_lines_gets_every_answer() {
        grade!().run(|s| {
            let mut server = Server::start(s, None)?;
            let mut client = server.connect("the late reader")?;
            let lines = send_until_the_server_stops_reading(s, &mut server, &mut client, 6 << 20)?;
            client.expect_answers(s, &mut server, &lines).hint(
                "send gives EAGAIN when the client's socket is full: keep the unsent answers, register EPOLLOUT, and \
                 send the rest when it says there is room",
            )
        });
    }

    #[test]
    fn a_client_that_reads_none_of_its_answers_is_not_read_without_bound() {
        grade!().run(|s| {
            let mut server = Server::start(s, None)?;
            let mut client = server.connect("the client that does not read")?;
            let lines = send_until_the_server_stops_reading(s, &mut server, &mut client, 6 << 20)?;
            let sent = bytes_of(&lines);
            s.expect(sent < 3 << 20, || {
                format!(
                    "the server read {sent} bytes of lines from a client that read none of the answers: it keeps every \
                     answer in memory, without bound. Stop reading a client whose unsent answers pile up (a MiB), and \
                     read it again once it has taken them"
                )
            })?;
            client.expect_answers(s, &mut server, &lines)
        });
    }

    #[test]
    fn a_client_that_sends_megabytes_does_not_starve_a_small_one() {
        grade!().run(|s| {
            let mut server = Server::start(s, None)?;
            let big = server.connect("the big client")?;
            let writer = big.stream.try_clone().map_err(Failure::test_error("clone the big client's socket"))?;
            writer.set_write_timeout(Some(Duration::from_millis(100))).map_err(Failure::test_error("set a timeout"))?;
            let chunk: Vec<u8> = (0..640).flat_map(|i| format!("big {i:04} {}\n", "b".repeat(90)).into_bytes()).collect();
            let done = AtomicBool::new(false);
            std::thread::scope(|scope| {
                // The big client writes 100-byte lines as fast as the server takes them, never reading.
                let sending = scope.spawn(|| {
                    let (mut at, mut total) = (0usize, 0usize);
                    while !done.load(Ordering::Relaxed) && total < 256 << 20 {
                        match (&writer).write(&chunk[at..]) {
                            Ok(n) => {
                                at = (at + n) % chunk.len();
                                total += n;
                            }
                            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                            Err(_) => break,
                        }
                    }
                    total
                });
                let result = (|| {
                    s.phase("waiting for the server to answer the big client's first 500 lines");
                    let until = Instant::now() + s.bounded(Duration::from_secs(3));
                    while big.waiting() < 500 * 7
                        && Instant::now() < until
                        && server.worker.as_ref().is_some_and(|w| !w.has_exited())
                    {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    if big.waiting() < 500 * 7 {
                        return Err(server.blame(timed_out(Duration::from_secs(3), format_args!(
                            "the big client sent lines for 3 s and had {} bytes of answers",
                            big.waiting()
                        ))));
                    }
                    let mut small = server.connect("the small client")?;
                    for round in 0..3 {
                        let line = format!("small {round}").into_bytes();
                        s.phase(format!("waiting for the small client's answer {round} while the big client sends"));
                        let started = Instant::now();
                        small.send_lines(&mut server, std::slice::from_ref(&line))?;
                        small
                            .stream
                            .set_read_timeout(Some(Duration::from_secs(1)))
                            .map_err(Failure::test_error("time out"))?;
                        let got = small.answer();
                        let took = started.elapsed();
                        match got {
                            Ok(got) if got == answer(&line) && took <= Duration::from_secs(1) => {}
                            Ok(got) if got != answer(&line) => {
                                return Err(Failure::wrong(format!("the small client's answer {round} is wrong: {got:?}")));
                            }
                            _ => {
                                return Err(server.blame(Failure::wrong(format!(
                                    "the small client's line {round} had no answer within 1 s while another client sent \
                                     megabytes of lines: the loop reads the big client on and on, as long as it has data"
                                )))
                                .hint("read each ready client at most a turn (64 KiB), then let the others have theirs; \
                                       keep a queue of clients that had more to read, and poll epoll_wait with timeout 0 \
                                       while it is not empty"));
                            }
                        }
                    }
                    Ok(())
                })();
                done.store(true, Ordering::Relaxed);
                let _ = sending.join();
                result
            })?;
            drop(big);
            drop(writer);
            Ok(())
        });
    }

    #[test]
    fn hung_up_clients_are_closed_and_deregistered_and_the_server_sleeps_again() {
        const CLIENTS: usize = 5;
        grade!().run(|s| {
            let mut server = Server::start(s, None)?;
            server.asleep(s, "starting")?;
            let pid = server.pid;
            let sockets_before = sockets_of(pid).len();
            let mut clients = Vec::new();
            for id in 0..CLIENTS {
                let mut client = server.connect(&format!("client {id}"))?;
                let lines = serve_many_lines(id as u64, 3);
                client.converse(s, &mut server, &lines)?;
                clients.push(client);
            }
            s.phase(format!("closing {CLIENTS} clients that had all their answers"));
            drop(clients);
            let until = Instant::now() + s.bounded(PATIENCE);
            while sockets_of(pid).len() > sockets_before && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(2));
            }
            let left = sockets_of(pid).len().saturating_sub(sockets_before);
            s.expect(left == 0, || {
                format!(
                    "{CLIENTS} clients hung up, but {} s later the server still holds {left} of their sockets: on \
                     end-of-file or EPOLLHUP, deregister the client and close its socket",
                    PATIENCE.as_secs()
                )
            })?;
            let epoll = server_fds(pid).into_iter().find(|f| f.link.ends_with("[eventpoll]"));
            let watched = epoll.map_or(0, |e| epoll_targets(pid, e.number).len());
            s.expect(watched <= 2, || {
                format!("after every client hung up, the epoll instance still watches {watched} descriptors, not 2 (the listener and stop)")
            })?;
            s.phase("watching the server sleep after the hang-ups");
            let sleep = process::watch_sleep(pid, Duration::from_millis(100), Duration::from_secs(2));
            match sleep {
                process::Sleep::Asleep => {}
                process::Sleep::Ended => return Err(server.blame(Failure::wrong("the server ended after the hang-ups"))),
                process::Sleep::Awake { running, looks } => {
                    return Err(Failure::wrong(format!(
                        "after every client hung up, the server never slept for 100 ms: it was running in {running} of \
                         {looks} looks (a hung-up descriptor left in the loop reports itself again and again)"
                    )));
                }
            }
            let served = server.stop(s, Stop::Byte)?;
            expect_served(s, served, CLIENTS, CLIENTS * 3)
        });
    }

    #[test]
    fn a_client_that_shuts_down_writing_gets_every_answer_then_end_of_file() {
        grade!().run(|s| {
            let mut server = Server::start(s, None)?;
            let mut client = server.connect("the half-closing client")?;
            // The handler holds the first answer while the rest and the end-of-file arrive, so that the
            // server reads the lines and the end-of-file in one go, before it sends any answer.
            client.send_lines(&mut server, &[WAIT.to_vec()])?;
            server.in_handler(s, "the first line")?;
            let mut lines = lines_of("half", 300);
            client.send_lines(&mut server, &lines)?;
            // An unfinished line at the end is never answered.
            client.send(&mut server, b"no newline")?;
            client.stream.shutdown(Shutdown::Write).map_err(Failure::test_error("shutdown(Write)"))?;
            server.open_gate()?;
            lines.insert(0, WAIT.to_vec());
            client.expect_answers(s, &mut server, &lines).hint(
                "end-of-file from a client (read gives 0) ends its requests, not its answers: send every answer, \
                 then close it",
            )?;
            s.phase("waiting for end-of-file after the last answer");
            let mut rest = Vec::new();
            match client.reader.read_to_end(&mut rest) {
                Ok(_) if rest.is_empty() => {}
                Ok(_) => {
                    return Err(Failure::wrong(format!(
                        "after the {} answers the client had {} more bytes before end-of-file: an unfinished line \
                         (no newline) is not a request",
                        lines.len(),
                        rest.len()
                    )));
                }
                Err(e) => {
                    return Err(server.blame(timed_out(PATIENCE, format_args!(
                        "the client shut down writing and had every answer, but no end-of-file for {} s ({e}): close a \
                         client once it has ended its requests and has all its answers",
                        PATIENCE.as_secs()
                    ))));
                }
            }
            let served = server.stop(s, Stop::Byte)?;
            expect_served(s, served, 1, lines.len())
        });
    }

    #[test]
    fn a_client_that_closes_before_its_answer_does_not_kill_the_server() {
        grade!().run(|s| {
            let mut server = Server::start(s, None)?;
            let mut leaving = server.connect("the client that leaves")?;
            leaving.send_lines(&mut server, &[WAIT.to_vec()])?;
            server.in_handler(s, "the line of the client that leaves")?;
            drop(leaving);
            server.open_gate()?;
            let mut other = server.connect("the next client")?;
            let lines = serve_many_lines(1, 3);
            other.send_lines(&mut server, &lines)?;
            other.expect_answers(s, &mut server, &lines).hint(
                "a client that closed makes send fail with EPIPE, and raise SIGPIPE, whose default action ends the \
                 process: send with MSG_NOSIGNAL",
            )?;
            let served = server.stop(s, Stop::Byte)?;
            expect_served(s, served, 2, 4)
        });
    }

    #[test]
    fn a_line_of_max_line_bytes_is_answered_and_a_longer_one_closes_only_its_client() {
        grade!().run(|s| {
            let mut server = Server::start(s, None)?;
            let mut longest = server.connect(&format!("the client with a line of {MAX_LINE} bytes"))?;
            let mut over = server.connect(&format!("the client with a line of {} bytes", MAX_LINE + 1))?;
            let mut endless = server.connect("the client with 20000 bytes and no newline")?;
            let mut other = server.connect("the client beside them")?;
            over.send_lines(&mut server, &[vec![b'o'; MAX_LINE + 1]])?;
            endless.send(&mut server, &[b'e'; 20000])?;
            let line = vec![b'l'; MAX_LINE];
            longest.send_lines(&mut server, std::slice::from_ref(&line))?;
            longest
                .expect_answers(s, &mut server, std::slice::from_ref(&line))
                .hint(format!("a line of exactly MAX_LINE ({MAX_LINE}) bytes, without its newline, is allowed"))?;
            s.phase("waiting for the clients with too long lines to be closed");
            over.expect_closed(&mut server, &format!("sent a line of {} bytes", MAX_LINE + 1))?;
            endless.expect_closed(&mut server, "sent 20000 bytes without a newline (a line already too long)")?;
            let lines = serve_many_lines(3, 2);
            other.converse(s, &mut server, &lines)?;
            let served = server.stop(s, Stop::Byte)?;
            expect_served(s, served, 4, 3)
        });
    }

    #[test]
    fn a_byte_on_stop_ends_the_loop_and_it_returns_what_it_served() {
        grade!().run(|s| {
            let mut server = Server::start(s, None)?;
            for id in 0..3 {
                let mut client = server.connect(&format!("client {id}"))?;
                let lines = serve_many_lines(id, 4);
                client.converse(s, &mut server, &lines)?;
            }
            let mut staying = server.connect("the client still connected at the stop")?;
            staying.converse(s, &mut server, &serve_many_lines(7, 1))?;
            let served = server.stop(s, Stop::Byte)?;
            expect_served(s, served, 4, 13)
        });
    }

    #[test]
    fn closing_stop_ends_the_loop_too() {
        grade!().run(|s| {
            let mut server = Server::start(s, None)?;
            let mut client = server.connect("the client")?;
            let lines = serve_many_lines(0, 2);
            client.converse(s, &mut server, &lines)?;
            let served = server.stop(s, Stop::EndOfFile)?;
            expect_served(s, served, 1, 2)
        });
    }

    #[test]
    fn a_stop_with_no_client_ever_connected_returns_nothing_served() {
        grade!().run(|s| {
            let mut server = Server::start(s, None)?;
            server.asleep(s, "starting with no client")?;
            let served = server.stop(s, Stop::Byte)?;
            expect_served(s, served, 0, 0)
        });
    }
}
