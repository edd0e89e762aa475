//! Self-tests of the sandbox: each outcome is detected, named and cleaned up. They are not
//! graded tests: they pass with the stubs and with the answers alike.

use std::ffi::CString;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use super::*;

fn grade() -> Grade {
    Grade::new("grader::selftest")
}

fn short() -> Grade {
    grade().deadline(Duration::from_millis(400))
}

fn process_is_gone(pid: i32) -> bool {
    // A zombie still has /proc/<pid>; only a reaped process is gone.
    !Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn a_body_that_succeeds_passes() {
    assert_eq!(grade().outcome(|s| s.expect_eq("two", &2, &(1 + 1))), Outcome::Pass);
}

#[test]
fn different_bytes_are_a_wrong_answer_with_the_first_difference() {
    let outcome = grade().outcome(|s| s.expect_bytes("the bytes", b"hello world", b"hello there"));
    let Outcome::WrongAnswer(text) = outcome else { panic!("{outcome:?}") };
    assert!(text.contains("first difference at byte 6"), "{text}");
}

#[test]
fn an_io_error_is_a_wrong_answer_naming_the_call() {
    let outcome = grade().outcome(|s| s.ok("pipes::thing", Err::<(), _>(io::Error::other("nope"))).map(drop));
    assert!(
        matches!(&outcome, Outcome::WrongAnswer(t) if t.contains("pipes::thing returned an error: nope")),
        "{outcome:?}"
    );
}

#[test]
fn an_abort_is_a_crash_naming_sigabrt_and_the_phase() {
    let outcome = grade().outcome(|s| {
        s.phase("calling the aborting code");
        std::process::abort()
    });
    let Outcome::Crash(text) = outcome else { panic!("{outcome:?}") };
    assert!(text.contains("SIGABRT") && text.contains("calling the aborting code"), "{text}");
}

#[test]
fn a_sigpipe_is_a_crash_explained() {
    let outcome = grade().outcome(|_| {
        let (r, w) = nix::unistd::pipe().unwrap();
        drop(r);
        let _ = nix::unistd::write(&w, b"x");
        Ok(())
    });
    assert!(matches!(&outcome, Outcome::Crash(t) if t.contains("SIGPIPE") && t.contains("reading end")), "{outcome:?}");
}

#[test]
fn a_death_by_a_signal_says_the_signal_and_the_phase_as_facts() {
    let verdict = grade().verdict(|s| {
        s.phase("writing to a closed pipe");
        let (r, w) = nix::unistd::pipe().unwrap();
        drop(r);
        let _ = nix::unistd::write(&w, b"x");
        Ok(())
    });
    assert_eq!(verdict.signal(), Some(libc::SIGPIPE), "{verdict:?}");
    assert_eq!(verdict.phase(), Some("writing to a closed pipe"), "{verdict:?}");
    assert_eq!(grade().verdict(|_| Ok(())).signal(), None);
}

#[test]
fn a_worker_that_dies_of_a_signal_says_which_and_the_fact_reaches_the_test_process() {
    let verdict = grade().verdict(|s| {
        let failure = s.fork("the writer", || std::process::abort())?.join().unwrap_err();
        s.expect_eq("the worker's signal", &Some(libc::SIGABRT), &failure.signal())?;
        // The fact crosses the verdict frame to the test process.
        Err(failure)
    });
    assert_eq!(verdict.signal(), Some(libc::SIGABRT), "{verdict:?}");
    assert!(verdict.outcome().text().starts_with("the writer died of SIGABRT"), "{verdict:?}");
}

#[test]
fn a_panic_is_a_crash_with_its_message_file_line_and_column() {
    let (outcome, line) = (grade().outcome(|_| panic!("boom")), line!());
    assert_eq!(outcome, Outcome::Crash(format!("panicked at src/grader/selftest.rs:{line}:48: boom")));
}

#[test]
fn a_todo_reads_as_not_yet_implemented() {
    let outcome = grade().outcome(|_| todo!("write the kata"));
    assert!(matches!(&outcome, Outcome::NotImplemented(t) if t.contains("write the kata")), "{outcome:?}");
}

#[test]
fn a_hang_times_out_naming_the_phase_and_kills_every_process() {
    let started = Instant::now();
    let mut grandchild = 0;
    let pids = tempfile::tempdir().unwrap();
    let pid_file = pids.path().join("pid");
    let outcome = short().outcome(|s| {
        // A grandchild in its own process group and session, so only the subreaper finds it.
        let w = s.fork("a sleeper", || {
            // SAFETY: test code in a forked child.
            unsafe { libc::setsid() };
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        })?;
        std::fs::write(&pid_file, w.pid().to_string()).unwrap();
        s.phase("waiting for the sleeper");
        w.join()
    });
    let elapsed = started.elapsed();
    if let Ok(text) = std::fs::read_to_string(&pid_file) {
        grandchild = text.parse().unwrap();
    }
    let Outcome::Hang(text) = outcome else { panic!("{outcome:?}") };
    assert!(text.contains("timed out after 0.4 s while waiting for a sleeper to finish"), "{text}");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    assert!(grandchild > 0 && process_is_gone(grandchild), "the sleeper {grandchild} survived");
}

#[test]
fn a_hang_with_evidence_says_it_in_place_of_the_usual_causes() {
    let outcome = short().outcome(|s| {
        s.phase("waiting forever");
        s.evidence("the body sleeps in pause()");
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let Outcome::Hang(text) = outcome else { panic!("{outcome:?}") };
    assert!(text.starts_with("timed out after 0.4 s while waiting forever.\nthe body sleeps in pause()\n"), "{text}");
    assert!(!text.contains("Usual causes"), "the evidence stands in for the usual causes: {text}");
}

#[test]
fn a_watched_read_that_never_ends_names_the_write_end_still_open() {
    let outcome = grade().deadline(Duration::from_millis(1500)).outcome(|s| {
        let (r, _w) = nix::unistd::pipe().unwrap();
        s.phase("reading a pipe whose write end the reader keeps");
        s.watched(|| nix::unistd::read(&r, &mut [0u8; 1]).map(drop)).unwrap();
        Ok(())
    });
    let Outcome::Hang(text) = outcome else { panic!("{outcome:?}") };
    // The kernel's picture names it (the test's own evidence says the same, and stands in when
    // no rule of the picture matches).
    assert!(text.contains(" = read end of pipe A)"), "{text}");
    assert!(text.contains("its write end is still open in pid"), "{text}");
}

#[test]
fn a_spinning_body_times_out() {
    let outcome = short().outcome(|_| {
        loop {
            std::hint::spin_loop()
        }
    });
    assert!(matches!(&outcome, Outcome::Hang(t) if t.contains("timed out")), "{outcome:?}");
}

#[test]
fn an_open_descriptor_is_a_leak() {
    let outcome = grade().outcome(|_| {
        let (r, w) = nix::unistd::pipe().unwrap();
        std::mem::forget((r, w));
        Ok(())
    });
    assert!(matches!(&outcome, Outcome::Leak(t) if t.contains("pipe:[") && t.contains("still open")), "{outcome:?}");
}

#[test]
fn an_unreaped_child_is_a_zombie_leak() {
    let outcome = grade().outcome(|_| {
        // SAFETY: the child exits at once.
        if unsafe { libc::fork() } == 0 {
            unsafe { libc::_exit(0) }
        }
        // Let it finish exiting, so it is a zombie rather than running.
        std::thread::sleep(Duration::from_millis(50));
        Ok(())
    });
    assert!(matches!(&outcome, Outcome::Leak(t) if t.contains("zombie")), "{outcome:?}");
}

#[test]
fn posix_shared_memory_left_behind_is_a_leak_and_is_removed() {
    let names = tempfile::tempdir().unwrap();
    let name_file = names.path().join("name");
    let outcome = grade().outcome(|s| {
        let name = s.posix_name("shm");
        std::fs::write(&name_file, &name).unwrap();
        let c_name = CString::new(name).unwrap();
        // SAFETY: a valid name; the descriptor is closed at once.
        unsafe { libc::close(libc::shm_open(c_name.as_ptr(), libc::O_CREAT | libc::O_EXCL | libc::O_RDWR, 0o600)) };
        Ok(())
    });
    let name = std::fs::read_to_string(&name_file).unwrap();
    assert!(matches!(&outcome, Outcome::Leak(t) if t.contains(&name)), "{outcome:?}");
    assert!(!Path::new("/dev/shm").join(name.trim_start_matches('/')).exists(), "{name} was not cleaned up");
}

#[test]
fn a_sysv_segment_left_behind_is_a_leak_and_is_removed() {
    let ids = tempfile::tempdir().unwrap();
    let id_file = ids.path().join("id");
    let outcome = grade().outcome(|s| {
        // SAFETY: shmget takes plain integers.
        let id = unsafe { libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o600) };
        s.track(Tracked::SysvId { kind: "shm", id });
        std::fs::write(&id_file, id.to_string()).unwrap();
        Ok(())
    });
    let id: i32 = std::fs::read_to_string(&id_file).unwrap().parse().unwrap();
    assert!(matches!(&outcome, Outcome::Leak(t) if t.contains(&format!("id {id}"))), "{outcome:?}");
    assert!(!audit::sysv_objects("shm").iter().any(|(_, i)| *i == id), "segment {id} was not removed");
}

#[test]
fn a_private_segment_the_body_made_and_never_told_the_test_of_is_removed_after_the_run() {
    let ids = tempfile::tempdir().unwrap();
    let id_file = ids.path().join("id");
    let outcome = grade().outcome(|_| {
        // SAFETY: shmget takes plain integers.
        let id = unsafe { libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o600) };
        std::fs::write(&id_file, id.to_string()).unwrap();
        Err(Failure::wrong("an id() that does not say which segment it made"))
    });
    let id: i32 = std::fs::read_to_string(&id_file).unwrap().parse().unwrap();
    assert!(matches!(&outcome, Outcome::WrongAnswer(_)), "{outcome:?}");
    assert!(!audit::sysv_objects("shm").iter().any(|(_, i)| *i == id), "segment {id} was not removed");
}

#[test]
fn a_private_semaphore_set_and_queue_the_body_used_and_never_told_the_test_of_are_removed_after_the_run() {
    let ids = tempfile::tempdir().unwrap();
    let id_file = ids.path().join("ids");
    let outcome = grade().outcome(|_| {
        // SAFETY: plain SysV calls on new private objects; the union argument of SETVAL is an
        // int in its first bytes, and msgsnd reads the long type and one byte of body.
        let (sem, msg) = unsafe {
            let sem = libc::semget(libc::IPC_PRIVATE, 1, libc::IPC_CREAT | 0o600);
            libc::semctl(sem, 0, libc::SETVAL, 1);
            let msg = libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600);
            #[repr(C)]
            struct Message {
                mtype: libc::c_long,
                body: u8,
            }
            let message = Message { mtype: 1, body: b'x' };
            libc::msgsnd(msg, (&raw const message).cast(), 1, 0);
            (sem, msg)
        };
        std::fs::write(&id_file, format!("{sem} {msg}")).unwrap();
        Err(Failure::wrong("an id() that does not say which objects it made"))
    });
    let text = std::fs::read_to_string(&id_file).unwrap();
    let (sem, msg) = text.split_once(' ').unwrap();
    let (sem, msg): (i32, i32) = (sem.parse().unwrap(), msg.parse().unwrap());
    assert!(matches!(&outcome, Outcome::WrongAnswer(_)), "{outcome:?}");
    assert!(!audit::sysv_objects("sem").iter().any(|(_, i)| *i == sem), "semaphore set {sem} was not removed");
    assert!(!audit::sysv_objects("msg").iter().any(|(_, i)| *i == msg), "queue {msg} was not removed");
}

#[test]
fn a_fifo_left_in_the_temp_dir_is_a_leak() {
    let outcome = grade().outcome(|s| {
        nix::unistd::mkfifo(&s.path("left"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        Ok(())
    });
    assert!(matches!(&outcome, Outcome::Leak(t) if t.contains("left is still there")), "{outcome:?}");
}

#[test]
fn a_forked_child_that_returns_into_the_test_is_caught() {
    let outcome = grade().outcome(|s| {
        // The classic bug: the child forgets to exit and returns into the caller.
        // SAFETY: test code; both processes go on.
        let pid = unsafe { libc::fork() };
        if pid > 0 {
            nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap();
        }
        s.phase("checking the result");
        Ok(())
    });
    assert!(matches!(&outcome, Outcome::WrongAnswer(t) if t.contains("forked by your code")), "{outcome:?}");
}

#[test]
fn an_exit_in_the_body_is_a_crash() {
    let outcome = grade().outcome(|_| std::process::exit(3));
    assert!(matches!(&outcome, Outcome::Crash(t) if t.contains("status 3")), "{outcome:?}");
}

#[test]
fn a_worker_that_aborts_is_reported_by_name() {
    let outcome = grade().outcome(|s| s.fork("writer 2", || std::process::abort())?.join());
    assert!(matches!(&outcome, Outcome::Crash(t) if t.contains("writer 2 died of SIGABRT")), "{outcome:?}");
}

#[test]
fn a_worker_that_fails_carries_its_failure_back() {
    let outcome = grade().outcome(|s| s.fork("reader", || Err(Failure::wrong("bad bytes")))?.join());
    assert_eq!(outcome, Outcome::WrongAnswer("reader: bad bytes".into()));
}

fn property_panic(run: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(run)).expect_err("the property should fail");
    panic_text(payload.as_ref())
}

#[test]
fn a_failing_property_is_shrunk_and_reported_with_its_input() {
    let text = property_panic(|| {
        grade().property(32, (0usize..10_000).prop_map(|n| n), |s, n| s.expect(*n < 100, || format!("{n} is too big")))
    });
    assert!(text.contains("WRONG ANSWER") && text.contains("smallest failing input"), "{text}");
    assert!(text.contains("with input 100 "), "not shrunk to 100: {text}");
}

#[test]
fn a_hanging_property_fails_within_one_deadline() {
    let started = Instant::now();
    let text = property_panic(|| {
        short().property(64, 0u8..10, |_, _| {
            loop {
                std::thread::sleep(Duration::from_millis(10))
            }
        })
    });
    assert!(text.contains("HANG") && text.contains("timed out"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

#[test]
fn the_report_shows_its_subject_footer_and_a_hang_its_usual_causes() {
    let subject = Subject {
        footer: vec!["kata:  a::b (a kata)".into(), "hint:  cargo run -- hint a::b".into()],
        hang_causes: vec!["a reader that never closes".into()],
    };
    let text = property_panic(|| grade().subject(subject.clone()).run(|_| Err(Failure::wrong("nope"))));
    assert!(text.contains("grader::selftest: WRONG ANSWER ("), "{text}");
    assert!(text.contains("    nope\n\n    kata:  a::b (a kata)\n    hint:  cargo run -- hint a::b"), "{text}");
    let outcome = short().subject(subject).outcome(|_| {
        loop {
            std::thread::sleep(Duration::from_secs(1))
        }
    });
    assert!(outcome.text().contains("Usual causes:\n  - a reader that never closes"), "{outcome:?}");
    let bare = property_panic(|| grade().run(|_| Err(Failure::wrong("nope"))));
    assert!(bare.trim_end().ends_with("    nope"), "no subject, no footer: {bare}");
}

use proptest::strategy::Strategy;

#[test]
fn a_handshake_orders_two_processes_and_a_missing_one_is_a_hang() {
    let outcome = grade().outcome(|s| {
        let ready = Handshake::new()?;
        let worker = s.fork("the notifier", || ready.notify())?;
        ready.wait("the notifier to be ready")?;
        worker.join()
    });
    assert_eq!(outcome, Outcome::Pass);
    let outcome = short().outcome(|_| Handshake::new()?.wait("a notify that never comes"));
    assert!(
        matches!(&outcome, Outcome::Hang(t) if t.contains("while waiting for a notify that never comes")),
        "{outcome:?}"
    );
}

#[test]
fn a_message_queue_made_with_a_sandbox_key_is_audited_and_removed() {
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("key");
    let outcome = grade().outcome(|s| {
        let key = s.sysv_key();
        std::fs::write(&key_file, key.to_string()).unwrap();
        // SAFETY: msgget takes plain integers.
        let id = unsafe { libc::msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o600) };
        s.expect(id >= 0, || format!("msgget failed: {}", io::Error::last_os_error()))
    });
    let key: i32 = std::fs::read_to_string(&key_file).unwrap().parse().unwrap();
    assert!(matches!(&outcome, Outcome::Leak(t) if t.contains("message queue")), "{outcome:?}");
    assert!(!audit::sysv_objects("msg").iter().any(|(k, _)| *k == key), "the queue with key {key} was not removed");
}

#[test]
fn a_supervisor_told_to_stop_kills_the_sandbox_and_says_interrupted() {
    let pid_file = tempfile::NamedTempFile::new().unwrap();
    let path = pid_file.path().to_path_buf();
    let outcome = grade().outcome(|s| {
        s.phase("waiting to be interrupted");
        // A grandchild that would outlive the body, then SIGTERM to the supervisor (the
        // body's parent), as the test process sends when Ctrl-C comes.
        // SAFETY: the child only sleeps and exits.
        match unsafe { libc::fork() } {
            0 => loop {
                // SAFETY: pause only waits for a signal.
                unsafe { libc::pause() };
            },
            pid => {
                std::fs::write(&path, pid.to_string()).unwrap();
                // SAFETY: getppid and kill on our own supervisor.
                unsafe { libc::kill(libc::getppid(), libc::SIGTERM) };
            }
        }
        std::thread::sleep(Duration::from_secs(3));
        Ok(())
    });
    let grandchild: i32 = std::fs::read_to_string(pid_file.path()).unwrap().parse().unwrap();
    assert!(
        matches!(&outcome, Outcome::Crash(t) if t.contains("interrupted by SIGTERM while waiting to be interrupted")),
        "{outcome:?}"
    );
    assert!(process_is_gone(grandchild), "the grandchild outlived the interrupted sandbox");
}

#[test]
fn clean_removes_what_a_killed_run_recorded_and_nothing_else() {
    // A test process that is gone: a child that has exited and been reaped.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let tmp = std::env::temp_dir();
    let dir = tempfile::Builder::new().prefix(&format!("{}{pid}-", leftovers::DIR_PREFIX)).tempdir_in(&tmp).unwrap();
    let dir = dir.keep();
    fs::create_dir(dir.join("work")).unwrap();
    // SAFETY: msgget with IPC_PRIVATE makes a new queue; its id is removed below or by clean.
    let ours = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) };
    // SAFETY: as above; this one is not in the ledger and must survive.
    let theirs = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) };
    assert!(ours >= 0 && theirs >= 0);
    leftovers::record(&dir.join("work"), &Tracked::SysvId { kind: "msg", id: ours });
    let found: Vec<_> = leftovers::find().into_iter().filter(|l| l.dir == dir).collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].objects.iter().any(|o| o == &format!("SysV msg id {ours}")), "{found:?}");
    assert!(!found[0].objects.iter().any(|o| o == &format!("SysV msg id {theirs}")), "{found:?}");
    assert!(found[0].remove().is_empty());
    let left: Vec<i32> = super::sysv::rows("msg").iter().map(|r| r.id).collect();
    // SAFETY: remove the queue that clean had to leave alone.
    unsafe { libc::msgctl(theirs, libc::IPC_RMID, std::ptr::null_mut()) };
    assert!(!left.contains(&ours), "clean left the recorded queue {ours}");
    assert!(left.contains(&theirs), "clean removed a queue no run recorded");
    assert!(!dir.exists());
}

#[test]
fn a_result_line_reads_back_as_it_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.jsonl");
    let verdict =
        Verdict::new(Outcome::Crash("died\nof \"SIGPIPE\"".into())).with_signal(libc::SIGPIPE).with_phase("writing");
    write_result(&path, "a::b::c", &verdict, Duration::from_millis(1500), "a::b::c: CRASH (1.5s)\n    died");
    write_result(&path, "a::b::d", &Verdict::new(Outcome::Pass), Duration::ZERO, "a::b::d: OK (0.0s)");
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<GradedResult> = text.lines().map(|l| GradedResult::parse(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(
        (lines[0].test.as_str(), lines[0].kind, lines[0].text.as_str()),
        ("a::b::c", Kind::Crash, verdict.outcome().text())
    );
    assert_eq!((lines[0].signal, lines[0].phase.as_deref()), (Some(libc::SIGPIPE), Some("writing")));
    assert_eq!(
        (lines[0].elapsed, lines[0].report.as_str()),
        (Duration::from_millis(1500), "a::b::c: CRASH (1.5s)\n    died")
    );
    assert_eq!((lines[1].kind, lines[1].signal, lines[1].phase.as_deref()), (Kind::Pass, None, None));
    assert_eq!(GradedResult::parse("test x ... ok"), None);
}

#[test]
fn a_case_of_an_rstest_table_is_named_as_libtest_names_it() {
    let named = |thread: &str, function: &'static str| {
        std::thread::Builder::new()
            .name(thread.to_string())
            .spawn(move || super::libtest_name(function))
            .unwrap()
            .join()
            .unwrap()
    };
    let case = named("pipeline::a_failing_stage::case_1_that_exits_1", "pipes::pipeline::a_failing_stage");
    assert_eq!(case, "pipes::pipeline::a_failing_stage::case_1_that_exits_1");
    assert_eq!(
        named("pipeline::a_failing_stage", "pipes::pipeline::a_failing_stage"),
        "pipes::pipeline::a_failing_stage"
    );
    // A thread of the test's own, or a function whose name merely starts the same, keeps its path.
    assert_eq!(named("worker", "pipes::pipeline::a_failing_stage"), "pipes::pipeline::a_failing_stage");
    assert_eq!(
        named("pipeline::a_failing_stage_twice", "pipes::pipeline::a_failing_stage"),
        "pipes::pipeline::a_failing_stage"
    );
}
