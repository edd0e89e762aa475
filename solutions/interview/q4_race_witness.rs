//! Answer to kata interview::q4_race_witness: Prove that the source's producer-consumer loses or duplicates items.
//!
//! The model answer to the question: `solutions/interview/q4_races.md`.
//!
//! Run the source's producer–consumer until it loses or duplicates an item, and name the item.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::SourcePc;

/// What went wrong with one item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anomaly {
    /// The item was produced and never consumed, although an item produced after it was: it
    /// was overwritten in its slot before the consumer read it.
    Lost,
    /// The item was consumed twice: the consumer read a slot the producer had not refilled.
    Duplicated,
    /// The consumer read a value that was never produced (an empty slot, never written).
    Corrupted,
}

/// Evidence of a race, in a run of the source's ring that really showed it.
#[derive(Debug)]
pub struct Witness {
    pub anomaly: Anomaly,
    /// The item: its sequence number for `Lost` and `Duplicated` (the producer produces
    /// 1, 2, 3, …), the value read for `Corrupted`.
    pub item: i32,
    /// Where it shows, as an index into the run's consumed journal (`run.consumed()`):
    /// - `Lost`: where the consumer got an item produced after `item` (and `item` is nowhere);
    /// - `Duplicated`: where the consumer got `item` the second time;
    /// - `Corrupted`: where the consumer got the value `item`.
    pub at: usize,
    /// The run itself: its journal is the evidence the grader re-reads.
    pub run: SourcePc,
}

/// How long neither side may make progress before a run counts as stuck (one side spinning on
/// a count the race left wrong) and is killed. A run that is only slow (a loaded machine) and
/// is killed costs nothing: its journal is still read, and the next attempt starts.
const STALL: Duration = Duration::from_millis(100);

/// Runs the source's ring between a producer and a consumer process until its journal shows a
/// lost, duplicated or corrupted item, for at most `budget`.
pub fn witness_race(items: usize, budget: Duration) -> io::Result<Witness> {
    if !(1..=SourcePc::MAX_JOURNAL).contains(&items) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{items} items per attempt: it must be 1 to {}", SourcePc::MAX_JOURNAL),
        ));
    }
    let give_up = Instant::now() + budget;
    while Instant::now() < give_up {
        let run = SourcePc::new(items)?;
        attempt(&run, items, give_up)?;
        if let Some((anomaly, item, at)) = find_anomaly(&run.produced(), &run.consumed()) {
            return Ok(Witness { anomaly, item, at, run });
        }
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, format!("no anomaly within {budget:?}")))
}

/// One run: fork the producer and the consumer, watch them, kill them if they stall, reap them.
fn attempt(run: &SourcePc, items: usize, give_up: Instant) -> io::Result<()> {
    let producer = Child::fork(|| {
        for item in 1..=items as i32 {
            run.produce(item);
        }
    })?;
    let consumer = match Child::fork(|| {
        for _ in 0..items {
            run.consume();
        }
    }) {
        Ok(child) => child,
        Err(e) => {
            producer.kill_and_reap();
            return Err(e);
        }
    };
    let progress = || (run.produced().len(), run.consumed().len());
    let mut last = (progress(), Instant::now());
    loop {
        let done = producer.wait(Duration::from_millis(10)) && consumer.wait(Duration::from_millis(10));
        if done || Instant::now() >= give_up {
            break;
        }
        let now = progress();
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= STALL {
            break; // a side spins on a count the race left wrong
        }
    }
    producer.kill_and_reap();
    consumer.kill_and_reap();
    Ok(())
}

/// The first anomaly in a run's journal: (what, item, index into `consumed`).
fn find_anomaly(produced: &[i32], consumed: &[i32]) -> Option<(Anomaly, i32, usize)> {
    let produced_max = produced.len() as i32;
    let mut seen = vec![false; produced.len() + 1];
    for (at, &item) in consumed.iter().enumerate() {
        if !(1..=produced_max).contains(&item) {
            return Some((Anomaly::Corrupted, item, at));
        }
        if std::mem::replace(&mut seen[item as usize], true) {
            return Some((Anomaly::Duplicated, item, at));
        }
    }
    // No duplicate: an item below the largest consumed one that never came was overwritten.
    let (at, &largest) = consumed.iter().enumerate().max_by_key(|(_, item)| **item)?;
    let lost = (1..largest).find(|&item| !seen[item as usize])?;
    let at = consumed.iter().position(|&item| item > lost).unwrap_or(at);
    Some((Anomaly::Lost, lost, at))
}

/// A forked child running a closure, then `_exit(0)`.
struct Child {
    pid: libc::pid_t,
    pidfd: OwnedFd,
}

impl Child {
    fn fork(work: impl FnOnce()) -> io::Result<Child> {
        // SAFETY: the child only runs `work` and leaves with _exit; it never returns into the
        // caller. `work` runs the source's produce/consume loops (memory accesses, no
        // allocation); anything more would be sound only because the caller is single-threaded
        // (fork(2): a multithreaded program's child may only make async-signal-safe calls).
        match unsafe { libc::fork() } {
            -1 => Err(io::Error::last_os_error()),
            0 => {
                work();
                // SAFETY: _exit ends the child without running the parent's destructors.
                unsafe { libc::_exit(0) }
            }
            pid => {
                // SAFETY: pidfd_open takes a pid of ours and flags; it returns a new descriptor.
                let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
                if fd < 0 {
                    let e = io::Error::last_os_error();
                    Child::reap_killed(pid);
                    return Err(e);
                }
                // SAFETY: fd is a fresh descriptor that nothing else owns.
                Ok(Child { pid, pidfd: unsafe { OwnedFd::from_raw_fd(fd as i32) } })
            }
        }
    }

    /// Whether the child has exited, waiting at most `timeout` (`man 2 pidfd_open`: the pidfd
    /// is readable once the process has terminated).
    fn wait(&self, timeout: Duration) -> bool {
        let mut fds = [libc::pollfd { fd: self.pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, timeout.as_millis() as i32) };
        n == 1
    }

    fn kill_and_reap(self) {
        Child::reap_killed(self.pid);
    }

    fn reap_killed(pid: libc::pid_t) {
        let mut status = 0;
        // SAFETY: pid is our own child, not yet reaped, so the pid is still ours; killing an
        // exited (zombie) child is harmless.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        // SAFETY: waits for this one child (never -1), retrying on EINTR.
        while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
        {}
    }
}
