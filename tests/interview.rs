//! Graded tests of the interview topic: `cargo test --test interview`.
//!
//! Each of the five classic questions is one or two katas; their tests make the answer concrete.

mod q4_race_witness {
    //! The witness is checked against the journal the provided `SourcePc` keeps in its shared
    //! memory: what the producer and the consumer really did, not what the answer says.

    use std::io::ErrorKind;
    use std::time::Duration;

    use ipc_katas::grade;
    use ipc_katas::grader::{Failure, Sandbox};
    use ipc_katas::interview::{Anomaly, SourcePc, Witness, witness_race};

    /// Items per attempt, and how long the answer may keep trying: measured, a witness comes in
    /// the first attempt or two on a 2-core machine at load average 4.
    const ITEMS: usize = 100_000;
    const BUDGET: Duration = Duration::from_secs(5);
    const DEADLINE: Duration = Duration::from_secs(8);

    /// Re-reads the witness's run and checks that the anomaly it names is really there.
    fn check(s: &Sandbox, witness: &Witness) -> Result<(), Failure> {
        s.phase("re-reading the journal of the witness's run");
        let produced = witness.run.produced();
        let consumed = witness.run.consumed();
        s.expect(!produced.is_empty() && !consumed.is_empty(), || {
            format!(
                "the witness's run produced {} and consumed {} items: a witness comes from a run of the ring, \
                 with items produced and consumed by two processes",
                produced.len(),
                consumed.len()
            )
        })?;
        if let Some(i) = produced.iter().enumerate().position(|(i, &item)| item != i as i32 + 1) {
            return Err(Failure::wrong(format!(
                "produce number {i} of the run produced {}, not {}: the producer must produce 1, 2, 3, … in order",
                produced[i],
                i + 1
            )));
        }
        let (p, c) = (witness.run.producer_pid(), witness.run.consumer_pid());
        s.expect(p != 0 && c != 0 && p != c, || {
            format!(
                "the run's producer was process {p} and its consumer process {c}: run them in two processes \
                 (fork), which race on count"
            )
        })?;
        let (item, at) = (witness.item, witness.at);
        let got = consumed.get(at).copied();
        let shown = || {
            let from = at.saturating_sub(4).min(consumed.len());
            let to = (at + 5).min(consumed.len());
            format!("consumed[{from}..{to}] = {:?}", &consumed[from..to])
        };
        let verdict = match witness.anomaly {
            Anomaly::Lost => {
                if !(1..=produced.len() as i32).contains(&item) {
                    Err(format!("item {item} was never produced (1 to {} were)", produced.len()))
                } else if let Some(where_) = consumed.iter().position(|&v| v == item) {
                    Err(format!("item {item} was consumed, at index {where_} of the consumed journal: it was not lost"))
                } else if got.is_none_or(|v| v <= item) {
                    Err(format!(
                        "at index {at} the consumer did not get an item produced after {item} ({}): nothing shows that \
                         {item} was skipped rather than not reached yet",
                        shown()
                    ))
                } else {
                    Ok(())
                }
            }
            Anomaly::Duplicated => {
                if got != Some(item) {
                    Err(format!("the consumer did not get {item} at index {at}: {}", shown()))
                } else if !consumed[..at].contains(&item) {
                    Err(format!("index {at} is the first time the consumer got {item}: it is no duplicate"))
                } else {
                    Ok(())
                }
            }
            Anomaly::Corrupted => {
                if got != Some(item) {
                    Err(format!("the consumer did not get {item} at index {at}: {}", shown()))
                } else if (1..=produced.len() as i32).contains(&item) {
                    Err(format!("{item} was produced (items 1 to {} were): it is not corrupted", produced.len()))
                } else {
                    Ok(())
                }
            }
        };
        verdict.map_err(|why| {
            Failure::wrong(format!(
                "the witness says {:?} item {item} at index {at}, but the run's journal disagrees: {why}. Name an \
                 anomaly the run really had",
                witness.anomaly
            ))
        })
    }

    #[test]
    fn the_witness_names_an_item_the_source_ring_really_lost_duplicated_or_corrupted() {
        grade!().deadline(DEADLINE).run(|s| {
            s.phase(format!("calling witness_race({ITEMS}, {BUDGET:?}): running the source's ring until it fails"));
            let witness = s.ok("witness_race", witness_race(ITEMS, BUDGET))?;
            check(s, &witness)
        });
    }

    #[test]
    fn no_items_too_many_items_or_no_time_are_errors_not_witnesses() {
        grade!().run(|s| {
            for items in [0, SourcePc::MAX_JOURNAL + 1] {
                s.phase(format!("calling witness_race({items}, 1 s)"));
                let result = witness_race(items, Duration::from_secs(1)).map(|w| (w.anomaly, w.item, w.at));
                s.expect_err(&format!("witness_race({items}, 1 s)"), result, ErrorKind::InvalidInput)?;
            }
            s.phase("calling witness_race(1000, 0 s)");
            let result = witness_race(1000, Duration::ZERO).map(|w| (w.anomaly, w.item, w.at));
            s.expect_err("witness_race(1000, 0 s): no time, no witness", result, ErrorKind::TimedOut)?;
            Ok(())
        });
    }
}

mod q4_race_fixes {
    //! One property, three rings: a producer process produces numbered, checksummed items, the
    //! test consumes them, and they must come out exactly as they went in. The source's ring
    //! (`SourcePc`) fails this same property.

    use std::time::Duration;

    use ipc_katas::grade;
    use ipc_katas::grader::{Failure, Sandbox};
    use ipc_katas::interview::{AtomicPc, MutexPc, Ring, SemaphorePc};
    use proptest::prelude::*;

    /// Item `seq` of a run: the sequence number in the high bits, a checksum of it and of the
    /// run's salt in the low 11 bits (positive for seq < 2^20).
    fn item(salt: u32, seq: u32) -> i32 {
        ((seq << 11) | (checksum(salt, seq) & 0x7ff)) as i32
    }

    fn checksum(salt: u32, seq: u32) -> u32 {
        let mut z = (u64::from(seq) << 32 | u64::from(salt)) ^ 0x9e37_79b9_7f4a_7c15;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u32
    }

    fn explain(salt: u32, index: u32, got: i32) -> String {
        let seq = (got as u32) >> 11;
        let what = if got < 0 || item(salt, seq) != got {
            format!("{got:#x}, which is no item at all (its checksum is wrong): a slot read before it was written")
        } else if seq < index {
            format!(
                "item {seq} again (or an old one): a slot was read twice, or before the producer refilled it: the \
                 count went up without an item (a lost count-- )"
            )
        } else {
            format!(
                "item {seq}: items {index} to {} were lost, overwritten in their slots before they were read: the \
                 producer thought there was room (a lost count++, or a full check that lets an 11th item in)",
                seq - 1
            )
        };
        format!("consume number {index} should have returned item {index}, but returned {what}")
    }

    /// A producer process produces `count` items; the test consumes and checks each in order.
    fn stream<R: Ring>(s: &Sandbox, kind: &str, ring: &R, count: u32, salt: u32) -> Result<(), Failure> {
        s.phase(format!("a producer process produces {count} items into the {kind}; the test consumes them"));
        let producer = s.fork("the producer process", || {
            for seq in 0..count {
                ring.produce(item(salt, seq))
                    .map_err(|e| Failure::wrong(format!("produce returned an error: {e} (kind {:?})", e.kind())))?;
            }
            Ok(())
        })?;
        for index in 0..count {
            if index % 8192 == 0 {
                s.phase(format!(
                    "consuming item {index} of {count} from the {kind} (a consumer stuck here waits for a wake-up \
                     that never comes: a mutex, condition variable or semaphore made without the process-shared \
                     attribute sleeps on a futex private to its process; or a count update was lost)"
                ));
            }
            let got = s.ok("consume", ring.consume())?;
            if got != item(salt, index) {
                // The producer may spin for ever on a wrong count: kill it, so that the report is
                // about the items, not about a child left running.
                // SAFETY: the producer is our own child, not yet reaped, so its pid is still ours.
                unsafe { libc::kill(producer.pid(), libc::SIGKILL) };
                let _ = producer.join();
                return Err(Failure::wrong(explain(salt, index, got)));
            }
        }
        producer.join()
    }

    fn strategy() -> impl Strategy<Value = (u32, u32)> {
        (1_000u32..60_000, any::<u32>())
    }

    const CASES: u32 = 10;
    const DEADLINE: Duration = Duration::from_secs(6);

    #[test]
    fn the_atomic_ring_delivers_every_item_once_in_order_uncorrupted() {
        grade!().deadline(DEADLINE).property(CASES, strategy(), |s, &(count, salt)| {
            s.phase("calling AtomicPc::new");
            let ring = s.ok("AtomicPc::new", AtomicPc::new())?;
            stream(s, "AtomicPc", &ring, count, salt)
        });
    }

    #[test]
    fn the_mutex_ring_delivers_every_item_once_in_order_uncorrupted() {
        grade!().deadline(DEADLINE).property(CASES, strategy(), |s, &(count, salt)| {
            s.phase("calling MutexPc::new");
            let ring = s.ok("MutexPc::new", MutexPc::new())?;
            stream(s, "MutexPc", &ring, count, salt)
        });
    }

    #[test]
    fn the_semaphore_ring_delivers_every_item_once_in_order_uncorrupted() {
        grade!().deadline(DEADLINE).property(CASES, strategy(), |s, &(count, salt)| {
            s.phase("calling SemaphorePc::new");
            let ring = s.ok("SemaphorePc::new", SemaphorePc::new())?;
            stream(s, "SemaphorePc", &ring, count, salt)
        });
    }
}

mod q5_supervisor {
    //! The worker is killed at every point of its protocol; then the test checks, with its own
    //! system calls, every resource the worker held: each check names its resource.

    use std::fs;
    use std::io::{self, ErrorKind};
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use ipc_katas::grade;
    use ipc_katas::grader::{Failure, Sandbox, Tracked};
    use ipc_katas::interview::{MAX_MESSAGE, Resources, SegmentState, Supervisor, SupervisorIds, Worker};
    use proptest::prelude::*;

    fn resources(s: &mut Sandbox) -> Resources {
        Resources {
            segment_key: s.sysv_key(),
            queue_key: s.sysv_key(),
            semaphore_key: s.sysv_key(),
            lock_file: s.path("worker.lock"),
        }
    }

    fn create(s: &mut Sandbox, resources: &Resources) -> Result<(Supervisor, SupervisorIds), Failure> {
        s.phase("calling Supervisor::create");
        let supervisor = s.ok("Supervisor::create", Supervisor::create(resources))?;
        s.phase("calling Supervisor::ids");
        let ids = supervisor.ids();
        for (kind, id) in [("shm", ids.segment), ("msg", ids.queue), ("sem", ids.semaphore)] {
            s.track(Tracked::SysvId { kind, id });
        }
        Ok((supervisor, ids))
    }

    /// Message `i` of a run: 0 to 200 bytes that depend on the salt and on `i`.
    fn message(salt: u64, i: u64) -> Vec<u8> {
        let len = ((salt >> (i % 8)) ^ (i * 37)) % 201;
        (0..len).map(|j| (salt.wrapping_mul(31).wrapping_add(i * 7 + j) % 251) as u8).collect()
    }

    /// (mode, row) of SysV object `id` of `kind` in /proc/sysvipc (`man 5 proc`).
    fn sysv_mode(kind: &str, id: i32) -> Option<u32> {
        let text = fs::read_to_string(format!("/proc/sysvipc/{kind}")).ok()?;
        text.lines().skip(1).find_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            (cols.get(1)?.parse::<i32>().ok()? == id).then(|| u32::from_str_radix(cols[2], 8).ok())?
        })
    }

    const NAMES: [(&str, &str); 3] =
        [("shm", "SysV shared memory segment"), ("msg", "SysV message queue"), ("sem", "SysV semaphore set")];

    fn each_object(ids: &SupervisorIds) -> [(&'static str, &'static str, i32); 3] {
        [
            (NAMES[0].0, NAMES[0].1, ids.segment),
            (NAMES[1].0, NAMES[1].1, ids.queue),
            (NAMES[2].0, NAMES[2].1, ids.semaphore),
        ]
    }

    /// A pipe from the worker: it writes one report, `R<pid>` once it holds what it should, or
    /// `E<why>` if a call failed.
    struct Report {
        read: OwnedFd,
        write: OwnedFd,
    }

    impl Report {
        fn new() -> Result<Report, Failure> {
            let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| Failure::crash(format!("the test could not make a pipe: {e}")))?;
            Ok(Report { read, write })
        }

        /// In the worker.
        fn send(&self, text: &str) {
            let _ = nix::unistd::write(&self.write, text.as_bytes());
        }

        /// In the test: the worker's pid once it is ready to be killed.
        fn receive(self, s: &Sandbox, what: &str) -> Result<i32, Failure> {
            drop(self.write);
            s.phase(format!("waiting for the worker to {what}"));
            let mut buf = [0u8; 4096];
            let n = loop {
                match nix::unistd::read(&self.read, &mut buf) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    other => break other.unwrap_or(0),
                }
            };
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            match text.split_at_checked(1) {
                Some(("R", pid)) => {
                    pid.parse().map_err(|_| Failure::crash(format!("the worker's report {text:?} is garbled")))
                }
                Some(("E", why)) => Err(Failure::wrong(format!("in the worker, {why}"))),
                _ => Err(Failure::wrong(format!(
                    "the worker ended before it could {what}: Supervisor::spawn must run the closure in the forked \
                     worker (and the Worker's calls must not end the process)"
                ))),
            }
        }
    }

    fn hold_until_killed() -> ! {
        loop {
            // SAFETY: pause has no preconditions.
            unsafe { libc::pause() };
        }
    }

    fn call<T>(report: &Report, call: &str, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result {
            report.send(&format!("E{call} returned an error: {e} (kind {:?})", e.kind()));
        }
        result
    }

    /// Checks, with the test's own calls, that every lock the dead worker held can be taken.
    fn check_locks(s: &Sandbox, ids: &SupervisorIds, lock_file: &Path, dead: i32) -> Result<(), Failure> {
        s.phase("trying the robust mutex in the segment (pthread_mutex_trylock) after recover");
        // SAFETY: attaching the segment by its id; detached below.
        let addr = unsafe { libc::shmat(ids.segment, std::ptr::null(), 0) };
        if addr as isize == -1 {
            return Err(Failure::wrong(format!(
                "the SysV shared memory segment {} cannot be attached after recover ({}): recover must keep it (and \
                 its robust mutex) until remove",
                ids.segment,
                io::Error::last_os_error()
            )));
        }
        let mutex = addr.cast::<SegmentState>();
        // SAFETY: the segment starts with a SegmentState whose mutex the supervisor initialised.
        let code = unsafe { libc::pthread_mutex_trylock(&raw mut (*mutex).mutex) };
        // SAFETY: as above; a lock we got is given back (made consistent first if it must be).
        unsafe {
            if code == libc::EOWNERDEAD {
                libc::pthread_mutex_consistent(&raw mut (*mutex).mutex);
            }
            if code == 0 || code == libc::EOWNERDEAD {
                libc::pthread_mutex_unlock(&raw mut (*mutex).mutex);
            }
            libc::shmdt(addr);
        }
        let why = match code {
            0 => None,
            libc::EOWNERDEAD => Some(
                "still marks its owner dead (EOWNERDEAD): recover must lock it, call pthread_mutex_consistent, and \
                 unlock it",
            ),
            libc::ENOTRECOVERABLE => Some(
                "is unusable for good (ENOTRECOVERABLE): it was unlocked after EOWNERDEAD without \
                 pthread_mutex_consistent",
            ),
            libc::EBUSY => Some("is still locked: recover must unlock what it locked"),
            _ => Some("cannot be locked"),
        };
        if let Some(why) = why {
            return Err(Failure::wrong(format!(
                "the robust mutex in the segment {why} (pthread_mutex_trylock returned {})",
                io::Error::from_raw_os_error(code)
            )));
        }
        s.phase("taking the semaphore without waiting (semop IPC_NOWAIT) after recover");
        // SAFETY: GETVAL takes no argument.
        let value = unsafe { libc::semctl(ids.semaphore, 0, libc::GETVAL) };
        s.expect(value == 1, || {
            if value == 0 {
                "the SysV semaphore is still taken after recover (value 0): the killed worker held it. Take it with \
                 SEM_UNDO in acquire_semaphore (the kernel gives it back), or repair it in recover (SETVAL)"
                    .to_string()
            } else {
                format!("the SysV semaphore's value is {value} after recover, not 1: it was given back twice")
            }
        })?;
        let mut op = libc::sembuf { sem_num: 0, sem_op: -1, sem_flg: libc::IPC_NOWAIT as libc::c_short };
        // SAFETY: one valid sembuf.
        let took = unsafe { libc::semop(ids.semaphore, &mut op, 1) } == 0;
        s.expect(took, || format!("the SysV semaphore cannot be taken after recover: {}", io::Error::last_os_error()))?;
        op.sem_op = 1;
        // SAFETY: as above.
        unsafe { libc::semop(ids.semaphore, &mut op, 1) };
        s.phase("locking the lock file (flock LOCK_NB) after recover");
        let file = fs::File::open(lock_file).map_err(|e| {
            Failure::wrong(format!(
                "the lock file {} cannot be opened after recover ({e}): it stays until remove",
                lock_file.display()
            ))
        })?;
        // SAFETY: flock on a descriptor we own; it is closed (and unlocked) when file drops.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        s.expect(locked, || {
            format!(
                "the lock file {} is still locked (flock) after the worker died: a flock belongs to an open file \
                 description, and another process still holds it. Did the supervisor open the file before the fork, \
                 so that the worker locked a description the supervisor shares? The worker must open it itself",
                lock_file.display()
            )
        })?;
        drop(file);
        let content = fs::read_to_string(lock_file).unwrap_or_default();
        s.expect(content.trim() != dead.to_string(), || {
            format!(
                "the lock file {} still names the dead worker (pid {dead}): a stale pidfile. recover must clear it",
                lock_file.display()
            )
        })
    }

    /// Checks that remove left nothing: no SysV object, no lock file.
    fn check_gone(s: &Sandbox, ids: &SupervisorIds, lock_file: &Path) -> Result<(), Failure> {
        s.phase("checking that remove left nothing behind");
        for (kind, name, id) in each_object(ids) {
            s.expect(sysv_mode(kind, id).is_none(), || {
                format!("the {name} {id} is still there after remove (see `ipcs`): remove it with IPC_RMID")
            })?;
        }
        s.expect(!lock_file.exists(), || {
            format!("the lock file {} is still there after remove: unlink it", lock_file.display())
        })
    }

    /// The worker holds the lock file if `phase >= 1`, the semaphore if `phase >= 2`, commits
    /// `commits` messages, holds the mutex if `phase >= 3`, and is killed.
    fn killed_at(s: &mut Sandbox, phase: u8, commits: u64, salt: u64) -> Result<(), Failure> {
        let res = resources(s);
        let (mut supervisor, ids) = create(s, &res)?;
        let messages: Vec<Vec<u8>> = (0..commits).map(|i| message(salt, i)).collect();
        let report = Report::new()?;
        let held = ["nothing", "the lock file", "the lock file and the semaphore", "all its locks"][phase as usize];
        s.phase("calling Supervisor::spawn");
        let work = |w: &Worker| -> io::Result<()> {
            if phase >= 1 {
                call(&report, "Worker::lock_file", w.lock_file())?;
            }
            if phase >= 2 {
                call(&report, "Worker::acquire_semaphore", w.acquire_semaphore())?;
            }
            for (i, m) in messages.iter().enumerate() {
                call(&report, &format!("Worker::commit of message {i}"), w.commit(m))?;
            }
            let _guard = if phase >= 3 { Some(call(&report, "Worker::lock_state", w.lock_state())?) } else { None };
            report.send(&format!("R{}", std::process::id()));
            hold_until_killed()
        };
        s.ok("Supervisor::spawn", supervisor.spawn(work))?;
        let dead = report.receive(s, &format!("commit {commits} messages holding {held}"))?;
        s.phase(format!("killing the worker (SIGKILL) after {commits} commits, holding {held}"));
        s.ok("Supervisor::kill_worker", supervisor.kill_worker())?;
        s.phase(
            "calling Supervisor::recover (stuck here: a lock of the dead worker never came back, such as a mutex that \
             is not robust, or a semaphore taken without SEM_UNDO that recover waits for)",
        );
        let recovered = s.ok("Supervisor::recover", supervisor.recover())?;
        s.expect(recovered.len() == messages.len(), || {
            format!(
                "the worker committed {} messages before it was killed, and recover returned {} from the SysV message \
                 queue: every committed message must survive the worker, and nothing else may appear",
                messages.len(),
                recovered.len()
            )
        })?;
        for (i, (want, got)) in messages.iter().zip(&recovered).enumerate() {
            s.expect_bytes(&format!("committed message {i}, as recover returned it from the queue"), want, got)?;
        }
        check_locks(s, &ids, &res.lock_file, dead)?;
        s.phase("calling Supervisor::remove");
        s.ok("Supervisor::remove", supervisor.remove())?;
        check_gone(s, &ids, &res.lock_file)
    }

    #[test]
    fn wherever_the_worker_is_killed_every_lock_comes_back_every_commit_survives_and_nothing_leaks() {
        grade!().property(12, (0u8..=3, 0u64..=5, any::<u64>()), |s, &(phase, commits, salt)| {
            killed_at(s, phase, commits, salt)
        });
    }

    #[test]
    fn a_worker_killed_holding_every_lock_after_three_commits_gives_every_lock_back() {
        grade!().run(|s| killed_at(s, 3, 3, 7));
    }

    #[test]
    fn every_resource_is_owner_only_and_taken_keys_or_an_existing_lock_file_are_already_exists() {
        grade!().run(|s| {
            let res = resources(s);
            let (supervisor, ids) = create(s, &res)?;
            for (kind, name, id) in each_object(&ids) {
                let mode = sysv_mode(kind, id).ok_or_else(|| {
                    Failure::wrong(format!(
                        "Supervisor::ids names {name} {id}, but /proc/sysvipc/{kind} has no such id"
                    ))
                })?;
                s.expect(mode & 0o777 == 0o600, || {
                    format!("the {name} {id} has mode {:04o}, expected 0600 (owner read and write only)", mode & 0o777)
                })?;
            }
            let mode = fs::metadata(&res.lock_file)
                .map_err(|e| Failure::wrong(format!("the lock file {} was not created: {e}", res.lock_file.display())))?
                .permissions()
                .mode();
            s.expect(mode & 0o777 == 0o600, || {
                format!("the lock file has mode {:04o}, expected 0600 (owner read and write only)", mode & 0o777)
            })?;
            s.phase("calling Supervisor::create again with the same keys and lock file");
            let again = Supervisor::create(&res).map(|sup| sup.ids());
            s.expect_err(
                "a second Supervisor::create on taken keys (IPC_CREAT | IPC_EXCL)",
                again,
                ErrorKind::AlreadyExists,
            )?;
            s.phase("calling Supervisor::create with fresh keys but the existing lock file");
            let fresh = Resources { lock_file: res.lock_file.clone(), ..resources(s) };
            let again = Supervisor::create(&fresh).map(|sup| sup.ids());
            s.expect_err("Supervisor::create with an existing lock file (O_EXCL)", again, ErrorKind::AlreadyExists)?;
            for (key, name) in
                [(fresh.segment_key, NAMES[0]), (fresh.queue_key, NAMES[1]), (fresh.semaphore_key, NAMES[2])]
            {
                let (kind, noun) = name;
                let left =
                    fs::read_to_string(format!("/proc/sysvipc/{kind}")).unwrap_or_default().lines().skip(1).any(
                        |line| line.split_whitespace().next().and_then(|k| k.parse::<i64>().ok()) == Some(key as i64),
                    );
                s.expect(!left, || {
                    format!(
                        "a Supervisor::create that failed (the lock file existed) left its {noun} (key {key:#x}) \
                         behind: on an error, remove what you made"
                    )
                })?;
            }
            s.expect(sysv_mode("shm", ids.segment).is_some(), || {
                "a refused second create removed the first supervisor's segment: never remove what you did not make"
                    .to_string()
            })?;
            s.phase("calling Supervisor::remove");
            s.ok("Supervisor::remove", supervisor.remove())?;
            check_gone(s, &ids, &res.lock_file)
        });
    }

    #[test]
    fn commit_refuses_a_message_longer_than_max_message_and_keeps_empty_and_full_size_ones() {
        grade!().run(|s| {
            let res = resources(s);
            let (mut supervisor, ids) = create(s, &res)?;
            let report = Report::new()?;
            let full = vec![0xa5u8; MAX_MESSAGE];
            s.phase("calling Supervisor::spawn");
            let work = |w: &Worker| -> io::Result<()> {
                match w.commit(&vec![1u8; MAX_MESSAGE + 1]) {
                    Err(e) if e.kind() == ErrorKind::InvalidInput => {}
                    other => {
                        report.send(&format!(
                            "Ecommit of {} bytes (MAX_MESSAGE + 1) should fail with InvalidInput, nothing sent, but \
                             returned {other:?}",
                            MAX_MESSAGE + 1
                        ));
                        return Ok(());
                    }
                }
                call(&report, "Worker::commit of MAX_MESSAGE bytes", w.commit(&full))?;
                call(&report, "Worker::commit of an empty message", w.commit(&[]))?;
                report.send(&format!("R{}", std::process::id()));
                hold_until_killed()
            };
            s.ok("Supervisor::spawn", supervisor.spawn(work))?;
            report.receive(s, "commit an oversize, a full-size and an empty message")?;
            s.ok("Supervisor::kill_worker", supervisor.kill_worker())?;
            s.phase("calling Supervisor::recover");
            let recovered = s.ok("Supervisor::recover", supervisor.recover())?;
            s.expect_eq(
                "the messages recover returned (lengths)",
                &vec![MAX_MESSAGE, 0],
                &recovered.iter().map(Vec::len).collect(),
            )?;
            s.expect_bytes("the full-size message", &full, &recovered[0])?;
            s.ok("Supervisor::remove", supervisor.remove())?;
            check_gone(s, &ids, &res.lock_file)
        });
    }
}
