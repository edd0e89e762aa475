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
        failure.hint("a timerfd is read in 8 bytes, a u64: a smaller buffer (a u32) is EINVAL (man 2 timerfd_create)")
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
