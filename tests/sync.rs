//! Graded tests of the sync topic: `cargo test --test sync`.
//!
//! Each body runs in the grader's sandbox: a child process with a deadline and a leak audit
//! after the kata returns. The other processes are forked workers that inherit the kata's
//! shared memory; they start together at a handshake, so that they really race. A lock that a
//! killed holder leaves locked is waited for until the deadline, and the hang report names it.

// The tests drop kata values explicitly to order detaches, unlocks and unmaps; a stub's types
// have no Drop yet, which clippy would otherwise call a useless drop.
#![allow(clippy::drop_non_drop)]

// This binary is also the peer program its tests start as "another process" (tests/peer/).
mod peer;
ipc_katas::peer_commands!(peer::run);

use std::cell::RefCell;
use std::io::{self, ErrorKind};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ipc_katas::grade;
use ipc_katas::grader::{Failure, Sandbox, Tracked, Worker, caught_alarms_every};
use ipc_katas::kit::{SharedMem, process, sysv};
use katas::sync::{AtomicCounter, MutexCounter, RobustGuard, RobustMutex, SemaphoreCounter, UndoSemaphore};

/// The deadline of the tests that make 4 processes race: enough for 4,000,000 locked increments
/// on a loaded 2-core machine (measured: the three counters together in 1 s at load average 8),
/// and still a hang within 10 s.
const RACE_DEADLINE: Duration = Duration::from_secs(8);
const PROCESSES: u64 = 4;

/// A pipe whose write end goes into one worker: the worker writes a byte when it is ready
/// (it holds the lock), and the test sees end-of-file instead if the worker ended before that.
struct Ready {
    read: OwnedFd,
}

impl Ready {
    fn new() -> Result<(Ready, OwnedFd), Failure> {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Failure::crash(format!("the test could not make a pipe: {e}")))?;
        Ok((Ready { read }, write))
    }

    fn signal(write: &OwnedFd) -> Result<(), Failure> {
        nix::unistd::write(write, b"!")
            .map(drop)
            .map_err(|e| Failure::crash(format!("the worker could not signal: {e}")))
    }

    /// Waits for the worker's byte. If the worker ended first, its own report (a `todo!()`,
    /// an error) is the test's failure.
    fn wait(self, s: &Sandbox, worker: Worker, what: &str) -> Result<Worker, Failure> {
        s.phase(format!("waiting for {what}"));
        let mut byte = [0u8; 1];
        loop {
            match nix::unistd::read(&self.read, &mut byte) {
                Ok(1) => return Ok(worker),
                Err(nix::errno::Errno::EINTR) => continue,
                _ => break,
            }
        }
        worker.join()?;
        Err(Failure::crash(format!("the worker ended without {what}")))
    }
}

/// Never returns: the holder waits here until the test kills it.
fn hold_until_killed() -> ! {
    loop {
        // SAFETY: pause has no preconditions; it returns only after a caught signal.
        unsafe { libc::pause() };
    }
}

/// Makes a value with `new`, drops it, and checks that its shared memory is unmapped.
fn drop_unmaps<T>(s: &Sandbox, kind: &str, new: impl FnOnce() -> io::Result<T>) -> Result<(), Failure> {
    let before = process::shared_anonymous_mappings();
    s.phase(format!("calling {kind}::new, then dropping it"));
    let value = s.ok(&format!("{kind}::new"), new())?;
    let with = process::shared_anonymous_mappings();
    drop(value);
    let after = process::shared_anonymous_mappings();
    s.expect(after == before, || {
        format!(
            "this process had {before} shared anonymous mappings before {kind}::new, {with} with it, and {after} after \
             it was dropped: Drop must munmap the memory that new mapped (in every process that has a copy)"
        )
    })
}

/// Forks `PROCESSES` workers, lets them all arrive at a barrier in shared memory so that they
/// start at the same moment and really run side by side, and joins them. `stuck` says, in a
/// hang report, what usually keeps such a worker from finishing.
fn race(s: &Sandbox, what: &str, stuck: &str, work: impl Fn(u64) -> Result<(), Failure>) -> Result<(), Failure> {
    let arrived: SharedMem<AtomicU64> = SharedMem::new(1)?;
    let mut workers = Vec::new();
    s.phase(format!("{PROCESSES} processes racing: {what}"));
    for i in 0..PROCESSES {
        let (arrived, work) = (&arrived, &work);
        workers.push(s.fork(&format!("process {i} ({what}{stuck})"), move || {
            arrived.atomic(0).fetch_add(1, Ordering::SeqCst);
            while arrived.atomic(0).load(Ordering::SeqCst) < PROCESSES {
                // Give the CPU to the processes that have not arrived yet.
                std::thread::yield_now();
            }
            work(i)
        })?);
    }
    for worker in workers {
        worker.join()?;
    }
    Ok(())
}

mod shared_counter {
    use super::*;

    const INCREMENTS: u64 = 1_000_000;

    /// Why a process waiting for a lock in shared memory may never wake up.
    const SLEEPS_FOREVER: &str = "; a process asleep on a lock made without the process-shared attribute \
                                  (pthread_mutexattr_setpshared(PTHREAD_PROCESS_SHARED), sem_init(sem, 1, 1)) waits \
                                  on a process-private futex, and no unlock in another process ever wakes it";

    /// 4 processes call `increment` 1,000,000 times each, at once; then the total must be exact.
    /// A million, not 100,000: on a loaded 2-core machine 4 x 100,000 increments take well under
    /// a time slice, rarely overlap, and a load-then-store increment survived 40 runs in 50.
    fn count<C>(
        s: &Sandbox,
        kind: &str,
        stuck: &str,
        counter: &C,
        increment: impl Fn(&C) -> io::Result<()>,
        get: impl Fn(&C) -> io::Result<u64>,
    ) -> Result<(), Failure> {
        s.phase(format!("reading a new {kind} before anyone increments it"));
        s.expect_eq(&format!("{kind}::get of a new counter"), &0, &s.ok(&format!("{kind}::get"), get(counter))?)?;
        let call = format!("{kind}::increment");
        race(s, &format!("incrementing the {kind} {INCREMENTS} times"), stuck, |_| {
            for _ in 0..INCREMENTS {
                increment(counter).map_err(Failure::kata(&call))?;
            }
            Ok(())
        })?;
        s.phase(format!("reading the {kind} after every incrementer finished"));
        let total = s.ok(&format!("{kind}::get"), get(counter))?;
        let expected = PROCESSES * INCREMENTS;
        s.expect(total == expected, || {
            if total == 0 {
                format!(
                    "{PROCESSES} processes incremented the {kind} {INCREMENTS} times each, and the parent reads 0: \
                     the children counted in their own copies. The memory must be mmap-ed MAP_SHARED (and \
                     MAP_ANONYMOUS) before the fork; MAP_PRIVATE or a plain field is copied on write"
                )
            } else if total < expected {
                format!(
                    "{PROCESSES} processes incremented the {kind} {INCREMENTS} times each: expected {expected}, got \
                     {total}, so {} updates were lost. Two processes read the same value and both wrote it plus one: \
                     an increment must be one atomic read-modify-write (fetch_add), or the whole load-add-store \
                     must happen while holding the lock",
                    expected - total
                )
            } else {
                format!(
                    "{PROCESSES} processes incremented the {kind} {INCREMENTS} times each: expected {expected}, got \
                     {total}"
                )
            }
        })
    }

    /// A child takes its own copy of the counter out of a cell and drops it (Drop runs in the
    /// child only); the parent and a second child must still count through it.
    fn survives_a_child_dropping_its_copy<C>(
        s: &Sandbox,
        kind: &str,
        counter: C,
        increment: impl Fn(&C) -> io::Result<()>,
        get: impl Fn(&C) -> io::Result<u64>,
    ) -> Result<(), Failure> {
        let slot = RefCell::new(Some(counter));
        let child = s.fork(&format!("the child that increments its copy of the {kind} and drops it"), || {
            let counter = slot.borrow_mut().take().expect("the child's copy is in the cell");
            increment(&counter).map_err(Failure::kata(&format!("{kind}::increment in the child")))?;
            drop(counter);
            Ok(())
        })?;
        child.join()?;
        let counter = slot.into_inner().expect("the parent's copy is still in the cell");
        s.phase(format!("incrementing the {kind} in the parent after a child dropped its copy"));
        let call = format!(
            "{kind}::increment in the parent after a child dropped its copy (EINVAL: the child's Drop destroyed the \
             shared lock; only the process that made it may destroy it)"
        );
        s.ok(&call, increment(&counter))?;
        let second = s.fork(&format!("a second child that increments the {kind}"), || {
            increment(&counter).map_err(Failure::kata(&format!("{kind}::increment in the second child")))
        })?;
        second.join()?;
        let total = s.ok(&format!("{kind}::get"), get(&counter))?;
        s.expect_eq(&format!("the {kind} after 3 increments in 3 processes, one of which dropped its copy"), &3, &total)
    }

    #[test]
    fn a_child_that_drops_its_copy_of_the_mutex_counter_leaves_it_working_for_the_others() {
        grade!().run(|s| {
            let counter = s.call("MutexCounter::new", MutexCounter::new)?;
            survives_a_child_dropping_its_copy(s, "MutexCounter", counter, MutexCounter::increment, MutexCounter::get)
        });
    }

    #[test]
    fn a_child_that_drops_its_copy_of_the_semaphore_counter_leaves_it_working_for_the_others() {
        grade!().run(|s| {
            let counter = s.call("SemaphoreCounter::new", SemaphoreCounter::new)?;
            survives_a_child_dropping_its_copy(
                s,
                "SemaphoreCounter",
                counter,
                SemaphoreCounter::increment,
                SemaphoreCounter::get,
            )
        });
    }

    /// The system call the main thread of process `pid` is in (/proc/PID/syscall, `man 5
    /// proc`), None while it runs.
    fn syscall_of(pid: libc::pid_t) -> Option<libc::c_long> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
        text.split_whitespace().next()?.parse().ok()
    }

    /// The state letter of process `pid` (/proc/PID/stat): `T` once a SIGSTOP has stopped it.
    fn state_of(pid: libc::pid_t) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(") ")?.1.chars().next()
    }

    #[test]
    fn dropping_a_counter_unmaps_its_shared_memory() {
        grade!().run(|s| {
            drop_unmaps(s, "AtomicCounter", AtomicCounter::new)?;
            drop_unmaps(s, "MutexCounter", MutexCounter::new)?;
            drop_unmaps(s, "SemaphoreCounter", SemaphoreCounter::new)
        });
    }

    #[test]
    fn a_wait_for_the_semaphore_that_a_caught_signal_interrupts_goes_on_waiting() {
        grade!().deadline(RACE_DEADLINE).run(|s| {
            let counter = s.call("SemaphoreCounter::new", SemaphoreCounter::new)?;
            let (done, holder_count, waiter_count): (SharedMem<AtomicU64>, SharedMem<AtomicU64>, SharedMem<AtomicU64>) =
                (SharedMem::new(1)?, SharedMem::new(1)?, SharedMem::new(1)?);
            let keep_incrementing = |mine: &SharedMem<AtomicU64>, call: &str| {
                while done.atomic(0).load(Ordering::SeqCst) == 0 {
                    counter.increment().map_err(Failure::kata(call))?;
                    mine.atomic(0).fetch_add(1, Ordering::SeqCst);
                }
                Ok(())
            };
            s.phase("starting a process that increments without a pause, and one under SIGALRM every millisecond");
            let holder = s.fork("the process that increments", || {
                keep_incrementing(&holder_count, "SemaphoreCounter::increment")
            })?;
            let waiter = s.fork("the process under SIGALRM", || {
                caught_alarms_every(Some(Duration::from_millis(1)));
                keep_incrementing(
                    &waiter_count,
                    "SemaphoreCounter::increment, under SIGALRM every millisecond (a sem_wait that a handler \
                     interrupts fails with EINTR before it has the semaphore: call it again)",
                )
            })?;
            // Stop the first process, again and again, until it is stopped while it holds the
            // semaphore: then the second sleeps in sem_wait (a futex) while its alarms come.
            s.phase("stopping the first process until the second sleeps waiting for the semaphore");
            let mut seen_waiting = false;
            for _ in 0..200 {
                if holder.has_exited() || waiter.has_exited() {
                    break;
                }
                // SAFETY: kill takes plain values; the holder is our child.
                unsafe { libc::kill(holder.pid(), libc::SIGSTOP) };
                while state_of(holder.pid()).is_some_and(|state| state != 'T') {
                    std::thread::yield_now();
                }
                // Seen in the futex in 8 of 25 looks, not necessarily in a row: each alarm takes it
                // out of the wait for a moment, and on a loaded machine it may wait its turn to run
                // before it goes back in. A waiter that spins is never there at all.
                let mut asleep = 0;
                for _ in 0..25 {
                    std::thread::sleep(Duration::from_millis(1));
                    if syscall_of(waiter.pid()) == Some(libc::SYS_futex) {
                        asleep += 1;
                    }
                }
                seen_waiting = asleep >= 8;
                // SAFETY: as above.
                unsafe { libc::kill(holder.pid(), libc::SIGCONT) };
                if seen_waiting {
                    break;
                }
            }
            done.atomic(0).store(1, Ordering::SeqCst);
            holder.join()?;
            waiter.join()?;
            let expected =
                holder_count.atomic(0).load(Ordering::SeqCst) + waiter_count.atomic(0).load(Ordering::SeqCst);
            let total = s.ok("SemaphoreCounter::get", counter.get())?;
            s.expect_eq("the count after both processes stopped (the sum of their increments)", &expected, &total)?;
            s.expect(seen_waiting, || {
                "in 200 tries the process under SIGALRM was never seen asleep waiting for the semaphore while the \
                 other held it: wait in sem_wait, do not spin"
                    .into()
            })
        });
    }

    #[test]
    fn four_processes_adding_a_million_each_through_the_atomic_counter_reach_exactly_four_million() {
        grade!().deadline(RACE_DEADLINE).run(|s| {
            let counter = s.call("AtomicCounter::new", AtomicCounter::new)?;
            count(s, "AtomicCounter", "", &counter, AtomicCounter::increment, AtomicCounter::get)
        });
    }

    #[test]
    fn four_processes_adding_a_million_each_under_the_process_shared_mutex_reach_exactly_four_million() {
        grade!().deadline(RACE_DEADLINE).run(|s| {
            let counter = s.call("MutexCounter::new", MutexCounter::new)?;
            count(s, "MutexCounter", SLEEPS_FOREVER, &counter, MutexCounter::increment, MutexCounter::get)
        });
    }

    #[test]
    fn four_processes_adding_a_million_each_under_the_shared_semaphore_reach_exactly_four_million() {
        grade!().deadline(RACE_DEADLINE).run(|s| {
            let counter = s.call("SemaphoreCounter::new", SemaphoreCounter::new)?;
            count(s, "SemaphoreCounter", SLEEPS_FOREVER, &counter, SemaphoreCounter::increment, SemaphoreCounter::get)
        });
    }
}

mod robust_mutex {
    use super::*;

    const LOST_LOCK: &str = "waiting for the lock the killed holder held: lock() after the holder was SIGKILLed \
                             inside its critical section. A mutex that is not robust (PTHREAD_MUTEX_ROBUST) stays \
                             locked forever when its holder dies";

    #[test]
    fn a_holder_killed_inside_its_critical_section_leaves_the_lock_to_the_next_locker_who_is_told() {
        grade!().run(|s| {
            let mutex = s.call("RobustMutex::new(10)", || RobustMutex::new(10))?;
            let (ready, write) = Ready::new()?;
            let holder = s.fork("the holder", || {
                let mut guard = mutex.lock().map_err(Failure::kata("lock in the holder"))?;
                // Half of an update: the holder dies before it can finish it.
                guard.set(11);
                Ready::signal(&write)?;
                hold_until_killed()
            })?;
            drop(write);
            let holder = ready.wait(s, holder, "the holder to lock the mutex and set the value to 11")?;
            s.phase("killing the holder with SIGKILL while it holds the lock");
            holder.kill();
            s.phase(LOST_LOCK);
            let call = "lock after the holder died holding it (EOWNERDEAD means you hold the lock)";
            let mut guard = s.ok(call, mutex.lock())?;
            s.expect(guard.previous_owner_died(), || {
                "the lock came back after its holder was killed, but previous_owner_died() is false: \
                 pthread_mutex_lock returned EOWNERDEAD, and the caller must be told that the data may be inconsistent"
                    .to_string()
            })?;
            s.expect_eq("the value the killed holder left (it set 11 before it died)", &11, &guard.get())?;
            // The repair, then the promise that the value is clean again.
            guard.set(12);
            s.call("mark_consistent on the guard after the repair", || guard.mark_consistent())?;
            drop(guard);
            s.phase("locking again after the recovered lock was unlocked");
            let guard = s.ok(
                "the lock after a repaired one (ENOTRECOVERABLE means mark_consistent did not call \
                 pthread_mutex_consistent before the guard unlocked)",
                mutex.lock(),
            )?;
            s.expect(!guard.previous_owner_died(), || {
                "previous_owner_died() is true on the lock after a recovered one: only the first locker after a death \
                 is told"
                    .to_string()
            })?;
            s.expect_eq("the value after the repair", &12, &guard.get())?;
            drop(guard);
            drop(mutex);
            Ok(())
        });
    }

    /// Kills a holder that locked the mutex and set 11, then locks it: the guard after the
    /// death, which the caller must check.
    fn after_a_killed_holder<'m>(s: &Sandbox, mutex: &'m RobustMutex) -> Result<RobustGuard<'m>, Failure> {
        let (ready, write) = Ready::new()?;
        let holder = s.fork("the holder", || {
            let mut guard = mutex.lock().map_err(Failure::kata("lock in the holder"))?;
            guard.set(11);
            Ready::signal(&write)?;
            hold_until_killed()
        })?;
        drop(write);
        let holder = ready.wait(s, holder, "the holder to lock the mutex and set the value to 11")?;
        s.phase("killing the holder with SIGKILL while it holds the lock");
        holder.kill();
        s.phase(LOST_LOCK);
        let guard = s.ok("lock after the holder died holding it (EOWNERDEAD means you hold the lock)", mutex.lock())?;
        s.expect(guard.previous_owner_died(), || {
            "the lock came back after its holder was killed, but previous_owner_died() is false: \
             pthread_mutex_lock returned EOWNERDEAD"
                .to_string()
        })?;
        Ok(guard)
    }

    #[test]
    fn a_guard_dropped_after_a_death_without_mark_consistent_leaves_the_lock_not_recoverable() {
        grade!().run(|s| {
            let mutex = s.call("RobustMutex::new(10)", || RobustMutex::new(10))?;
            let guard = after_a_killed_holder(s, &mutex)?;
            // A repair abandoned half way (a `?` or a panic): the guard drops without
            // mark_consistent, and the suspect value must not be handed on as clean.
            s.phase("dropping the guard after the death without calling mark_consistent");
            drop(guard);
            s.phase("locking after a guard was dropped inconsistent");
            match mutex.lock() {
                Err(e) if e.raw_os_error() == Some(libc::ENOTRECOVERABLE) => {}
                Err(e) => {
                    return Err(Failure::wrong(format!(
                        "lock after an unrepaired guard was dropped failed with {e}, expected ENOTRECOVERABLE: return \
                         pthread_mutex_lock's error number"
                    )));
                }
                Ok(guard) => {
                    let (died, value) = (guard.previous_owner_died(), guard.get());
                    return Err(Failure::wrong(format!(
                        "a guard got after EOWNERDEAD was dropped without mark_consistent, and the next lock \
                         succeeded (previous_owner_died() {died}, value {value}): the half-updated value is passed \
                         on as clean. Call pthread_mutex_consistent only in mark_consistent, after the caller's \
                         repair, never in lock; unlocking an inconsistent robust mutex makes it ENOTRECOVERABLE"
                    )));
                }
            }
            drop(mutex);
            Ok(())
        });
    }

    #[test]
    fn a_child_that_drops_its_copy_of_the_mutex_leaves_it_working_for_the_parent() {
        grade!().run(|s| {
            s.phase("calling RobustMutex::new(3)");
            let slot = RefCell::new(Some(s.ok("RobustMutex::new", RobustMutex::new(3))?));
            // The child owns its own copy of the RobustMutex value (fork copied the parent's
            // memory); taking it out of the cell and dropping it runs Drop in the child only.
            let child = s.fork("the child that drops its copy of the RobustMutex", || {
                drop(slot.borrow_mut().take());
                Ok(())
            })?;
            child.join()?;
            let mutex = slot.into_inner().expect("the parent's copy is still in the cell");
            s.phase("locking in the parent after a child dropped its copy");
            let mut guard = s.ok(
                "lock in the parent after a child dropped its copy (EINVAL: the child's Drop called \
                 pthread_mutex_destroy; only the process that made the mutex may destroy it)",
                mutex.lock(),
            )?;
            s.expect_eq("the value after a child dropped its copy", &3, &guard.get())?;
            guard.set(4);
            drop(guard);
            let worker = s.fork("a second child that locks and sets 5", || {
                let mut guard = mutex.lock().map_err(Failure::kata("lock in the second child"))?;
                guard.set(guard.get() + 1);
                Ok(())
            })?;
            worker.join()?;
            let guard = s.ok("lock in the parent after the second child", mutex.lock())?;
            s.expect_eq("the value the second child set under the lock", &5, &guard.get())?;
            drop(guard);
            drop(mutex);
            Ok(())
        });
    }

    #[test]
    fn dropping_the_mutex_unmaps_its_shared_memory() {
        grade!().run(|s| drop_unmaps(s, "RobustMutex", || RobustMutex::new(7)));
    }

    #[test]
    fn a_lock_released_normally_in_another_process_reports_no_death() {
        grade!().run(|s| {
            let mutex = s.call("RobustMutex::new(5)", || RobustMutex::new(5))?;
            let worker = s.fork("the worker that locks, sets 6 and unlocks", || {
                let mut guard = mutex.lock().map_err(Failure::kata("lock in the worker"))?;
                if guard.previous_owner_died() {
                    return Err(Failure::wrong("previous_owner_died() is true on the very first lock"));
                }
                guard.set(6);
                Ok(())
            })?;
            worker.join()?;
            s.phase("locking after the worker unlocked and exited normally");
            let guard = s.ok("lock", mutex.lock())?;
            s.expect(!guard.previous_owner_died(), || {
                "previous_owner_died() is true although the last holder unlocked before it exited: report only \
                 EOWNERDEAD"
                    .to_string()
            })?;
            s.expect_eq("the value the worker set in shared memory", &6, &guard.get())?;
            drop(guard);
            drop(mutex);
            Ok(())
        });
    }

    #[test]
    fn four_processes_adding_through_the_lock_lose_nothing() {
        grade!().deadline(RACE_DEADLINE).run(|s| {
            const ROUNDS: u64 = 20_000;
            let mutex = s.call("RobustMutex::new(0)", || RobustMutex::new(0))?;
            race(s, &format!("adding 1 to the guarded value {ROUNDS} times"), "", |_| {
                for _ in 0..ROUNDS {
                    let mut guard = mutex.lock().map_err(Failure::kata("lock"))?;
                    let v = guard.get();
                    guard.set(v + 1);
                }
                Ok(())
            })?;
            s.phase("reading the total");
            let guard = s.ok("lock", mutex.lock())?;
            let total = guard.get();
            drop(guard);
            drop(mutex);
            s.expect(total == PROCESSES * ROUNDS, || {
                format!(
                    "{PROCESSES} processes each added 1 {ROUNDS} times under the lock: expected {}, got {total}. The \
                     guard must hold the mutex from lock() until it is dropped, and the value must live in MAP_SHARED \
                     memory",
                    PROCESSES * ROUNDS
                )
            })
        });
    }
}

mod undo_semaphore {
    use super::*;

    /// A deliberately slow, non-atomic increment of the one value in `cell`: only the semaphore
    /// keeps it exact (volatile keeps the load and the store apart).
    fn increment(cell: &SharedMem<u64>) {
        let v = cell.get(0);
        for _ in 0..20 {
            std::hint::spin_loop();
        }
        cell.set(0, v + 1);
    }

    /// Creates an `IPC_PRIVATE` semaphore with the kata and registers its id with the sandbox.
    fn private(s: &mut Sandbox, initial: i32) -> Result<UndoSemaphore, Failure> {
        let sem = s.call(format!("UndoSemaphore::create(None, {initial})"), || UndoSemaphore::create(None, initial))?;
        s.phase("calling UndoSemaphore::id");
        let id = sem.id();
        s.track(Tracked::SysvId { kind: "sem", id });
        s.expect(row(id).is_some(), || {
            format!(
                "UndoSemaphore::id returned {id}, but /proc/sysvipc/sem has no set with that id: return semget's id"
            )
        })?;
        Ok(sem)
    }

    /// (key, mode, nsems, uid) of semaphore set `id` as the kernel lists it (/proc/sysvipc/sem).
    fn row(id: i32) -> Option<(i32, u32, u32, u32)> {
        sysv::row("sem", id).map(|r| (r.key, r.mode(), r.nsems as u32, r.uid))
    }

    fn expect_value(s: &Sandbox, sem: &UndoSemaphore, expected: i32, when: &str) -> Result<(), Failure> {
        let value = s.ok("UndoSemaphore::value", sem.value())?;
        s.expect_eq(&format!("the semaphore's value {when}"), &expected, &value)
    }

    #[test]
    fn a_holder_killed_while_holding_it_is_released_by_the_kernel() {
        grade!().run(|s| {
            let sem = private(s, 1)?;
            let (ready, write) = Ready::new()?;
            let holder = s.fork("the holder", || {
                sem.acquire().map_err(Failure::kata("acquire in the holder"))?;
                Ready::signal(&write)?;
                hold_until_killed()
            })?;
            drop(write);
            let holder = ready.wait(s, holder, "the holder to acquire the semaphore")?;
            expect_value(s, &sem, 0, "while the holder holds it")?;
            s.phase("killing the holder with SIGKILL while it holds the semaphore");
            holder.kill();
            s.phase(
                "waiting for the semaphore the killed holder held: acquire() after the holder was SIGKILLed holding \
                 it. Without SEM_UNDO on acquire, the kernel does not give back what a dead process held",
            );
            s.ok("acquire after the holder died", sem.acquire())?;
            expect_value(s, &sem, 0, "after the survivor acquired it")?;
            s.ok("release", sem.release())?;
            expect_value(s, &sem, 1, "after the survivor released it")?;
            s.ok("remove", sem.remove())
        });
    }

    #[test]
    fn a_process_that_acquires_and_releases_then_exits_leaves_the_value_as_it_was() {
        grade!().run(|s| {
            let sem = private(s, 1)?;
            let worker = s.fork("the worker that acquires and releases 3 times, then exits", || {
                for _ in 0..3 {
                    sem.acquire().map_err(Failure::kata("acquire"))?;
                    sem.release().map_err(Failure::kata("release"))?;
                }
                Ok(())
            })?;
            worker.join()?;
            let value = s.ok("UndoSemaphore::value", sem.value())?;
            s.expect(value == 1, || {
                format!(
                    "a process acquired and released the semaphore 3 times and exited, and its value went from 1 to \
                     {value}: the kernel applied undo adjustments that did not cancel out. Pass SEM_UNDO on both \
                     acquire and release (or on neither)"
                )
            })?;
            s.ok("remove", sem.remove())
        });
    }

    #[test]
    fn four_processes_updating_shared_memory_under_it_lose_nothing() {
        grade!().deadline(RACE_DEADLINE).run(|s| {
            const ROUNDS: u64 = 5_000;
            let cell: SharedMem<u64> = SharedMem::new(1)?;
            let sem = private(s, 1)?;
            race(s, &format!("adding 1 to shared memory {ROUNDS} times under the semaphore"), "", |_| {
                for _ in 0..ROUNDS {
                    sem.acquire().map_err(Failure::kata("acquire"))?;
                    increment(&cell);
                    sem.release().map_err(Failure::kata("release"))?;
                }
                Ok(())
            })?;
            let total = cell.get(0);
            s.expect(total == PROCESSES * ROUNDS, || {
                format!(
                    "{PROCESSES} processes each added 1 {ROUNDS} times while holding the semaphore: expected {}, got \
                     {total}. acquire must take 1 (sem_op -1) and wait while the value is 0",
                    PROCESSES * ROUNDS
                )
            })?;
            expect_value(s, &sem, 1, "after every process released it")?;
            s.ok("remove", sem.remove())
        });
    }

    #[test]
    fn the_set_is_owner_only_starts_at_its_value_and_a_taken_key_is_already_exists() {
        grade!().run(|s| {
            let key = s.sysv_key();
            let sem =
                s.call(format!("UndoSemaphore::create(Some({key:#x}), 3)"), || UndoSemaphore::create(Some(key), 3))?;
            let id = sem.id();
            let (row_key, mode, nsems, uid) = row(id).ok_or_else(|| {
                Failure::wrong(format!("UndoSemaphore::id returned {id}, but /proc/sysvipc/sem has no such set"))
            })?;
            s.expect_eq("the key of the set in /proc/sysvipc/sem", &key, &row_key)?;
            s.expect(mode == 0o600, || {
                format!(
                    "semaphore set {id} has mode {mode:04o}, expected 0600 (owner read and write, nobody else){}",
                    if mode & 0o066 != 0 { ": with 0666 any user may take or release your lock" } else { "" }
                )
            })?;
            // SAFETY: geteuid has no preconditions.
            s.expect_eq("the set's owner (uid)", &unsafe { libc::geteuid() }, &uid)?;
            s.expect_eq("the number of semaphores in the set", &1, &nsems)?;
            expect_value(s, &sem, 3, "right after create(.., 3)")?;
            s.phase("calling UndoSemaphore::create again with the same key");
            s.expect_err(
                "a second UndoSemaphore::create with a taken key (use IPC_CREAT | IPC_EXCL)",
                UndoSemaphore::create(Some(key), 1),
                ErrorKind::AlreadyExists,
            )?;
            expect_value(s, &sem, 3, "after a refused second create (it must not reset the value)")?;
            for bad in [-1, 32768] {
                s.phase(format!("calling UndoSemaphore::create(None, {bad})"));
                let call = format!("UndoSemaphore::create(None, {bad}) (a value is 0 to 32767)");
                s.expect_err(&call, UndoSemaphore::create(None, bad), ErrorKind::InvalidInput)?;
            }
            s.ok("remove", sem.remove())
        });
    }

    /// Counts the SIGUSR1 deliveries to the acquiring worker (a handler only touches an atomic).
    static HANDLED: AtomicU64 = AtomicU64::new(0);

    extern "C" fn count_delivery(_: libc::c_int) {
        HANDLED.fetch_add(1, Ordering::SeqCst);
    }

    /// The number of processes asleep in semop waiting for the value to grow (`GETNCNT`).
    fn sleepers(id: i32) -> i32 {
        // SAFETY: GETNCNT takes no argument.
        unsafe { libc::semctl(id, 0, libc::GETNCNT) }
    }

    #[test]
    fn a_signal_handled_while_acquire_waits_does_not_end_the_wait() {
        grade!().run(|s| {
            let sem = private(s, 0)?;
            let id = sem.id();
            let handled: SharedMem<AtomicU64> = SharedMem::new(1)?;
            let worker = s.fork("the worker that waits in acquire while it catches SIGUSR1", || {
                // A handler without SA_RESTART, as many programs install one; semop is never
                // restarted anyway (`man 7 signal`): it fails with EINTR.
                let action = nix::sys::signal::SigAction::new(
                    nix::sys::signal::SigHandler::Handler(count_delivery),
                    nix::sys::signal::SaFlags::empty(),
                    nix::sys::signal::SigSet::empty(),
                );
                // SAFETY: the handler only increments an atomic.
                unsafe { nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGUSR1, &action) }
                    .map_err(Failure::test_error("install a SIGUSR1 handler"))?;
                let acquired = sem.acquire();
                handled.atomic(0).store(HANDLED.load(Ordering::SeqCst), Ordering::SeqCst);
                acquired.map_err(Failure::kata(
                    "acquire in a process that caught a signal while it waited (EINTR: semop was interrupted by \
                     the handler; call it again, the wait is not over)",
                ))?;
                sem.release().map_err(Failure::kata("release"))
            })?;
            s.phase("waiting until the worker sleeps in acquire (GETNCNT 1)");
            while sleepers(id) < 1 {
                std::thread::yield_now();
            }
            s.phase("sending SIGUSR1 to the worker asleep in acquire, then waiting until its handler has run");
            let pid = nix::unistd::Pid::from_raw(worker.pid());
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR1)
                .map_err(Failure::test_error("send SIGUSR1 to the worker"))?;
            // Delivered means semop was left first (the handler runs on the way out of it): the
            // release below comes after the interruption, never instead of it.
            while usr1_pending(worker.pid()) {
                std::thread::yield_now();
            }
            s.phase("releasing the semaphore for the worker");
            // SAFETY: the test's own semop on the kata's set: +1, without SEM_UNDO.
            let mut op = libc::sembuf { sem_num: 0, sem_op: 1, sem_flg: 0 };
            // SAFETY: one valid sembuf.
            if unsafe { libc::semop(id, &mut op, 1) } != 0 {
                return Err(Failure::crash(format!("the test could not post: {}", io::Error::last_os_error())));
            }
            worker.join()?;
            s.expect(handled.atomic(0).load(Ordering::SeqCst) == 1, || {
                "the worker's handler did not run while it waited: the test's signal missed the wait".to_string()
            })?;
            s.ok("remove", sem.remove())
        });
    }

    /// Whether SIGUSR1 is pending for process `pid` (/proc/pid/status SigPnd, ShdPnd).
    fn usr1_pending(pid: libc::pid_t) -> bool {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let bit = 1u64 << (libc::SIGUSR1 - 1);
        status
            .lines()
            .filter_map(|line| line.strip_prefix("SigPnd:").or_else(|| line.strip_prefix("ShdPnd:")))
            .filter_map(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .any(|pending| pending & bit != 0)
    }

    #[test]
    fn removing_it_twice_is_an_error_not_nothing() {
        grade!().run(|s| {
            let sem = private(s, 1)?;
            s.call("remove", || sem.remove())?;
            s.phase("calling remove again on the removed set");
            match sem.remove() {
                Err(_) => Ok(()),
                Ok(()) => Err(Failure::wrong(format!(
                    "a second remove of semaphore set {} returned Ok: semctl(IPC_RMID) failed (EINVAL or EIDRM: \
                     there is no such set any more), and remove must return that error, not report a removal \
                     that did not happen",
                    sem.id()
                ))),
            }
        });
    }

    #[test]
    fn after_remove_the_set_is_gone_and_acquire_fails() {
        grade!().run(|s| {
            let sem = private(s, 1)?;
            let id = sem.id();
            s.call("remove", || sem.remove())?;
            s.expect(row(id).is_none(), || {
                format!(
                    "semaphore set {id} is still in /proc/sysvipc/sem after remove() returned: it leaks until reboot. \
                     remove must call semctl(id, 0, IPC_RMID)"
                )
            })?;
            s.phase("calling acquire on the removed set");
            match sem.acquire() {
                Err(_) => Ok(()),
                Ok(()) => Err(Failure::wrong(format!(
                    "acquire on the removed semaphore set {id} returned Ok: semop fails on it (EINVAL or EIDRM), and \
                     acquire must return that error"
                ))),
            }?;
            s.phase("calling release and value on the removed set");
            if sem.release().is_ok() {
                return Err(Failure::wrong(format!(
                    "release on the removed semaphore set {id} returned Ok: semop fails on it, and release must \
                     return that error"
                )));
            }
            match sem.value() {
                Err(_) => Ok(()),
                Ok(value) => Err(Failure::wrong(format!(
                    "value() of the removed semaphore set {id} returned Ok({value}): semctl(GETVAL) failed (-1, \
                     errno EINVAL or EIDRM), and value must return that error, not the -1 as a value"
                ))),
            }
        });
    }
}
