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
                format!("next({timeout:?}) returned None after {took:?}, before its timeout: wait the whole timeout")
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
            format!("next({timeout:?}) returned None only after {took:?}: do not start the timeout over after EINTR")
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
        s.expect(blocked, || "the caller had blocked SIGUSR2 before new, and after the drop it is unblocked".into())?;
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
