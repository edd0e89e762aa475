//! Graded tests of the pipes topic: `cargo test --test pipes`.
//!
//! Each body runs in the grader's sandbox: a child process with a deadline, SIGPIPE at its
//! default action (as in C), and a leak audit (descriptors, zombies) after the kata returns.

// This binary is also the peer program its tests start as "another process" (tests/peer/).
mod peer;
ipc_katas::peer_commands!(peer::run);

use std::io::ErrorKind;
use std::time::Duration;

use ipc_katas::grade;
use ipc_katas::grader::{Failure, Payload, Sandbox, caught_alarms_every, data, size};
use katas::pipes;
use proptest::prelude::*;
use rstest::rstest;

/// Calls `child_to_parent` and checks that exactly `sent` came back.
fn round_trip(s: &Sandbox, sent: &[u8]) -> Result<(), Failure> {
    s.phase(format!("child_to_parent({}): the parent reads what the child writes", size(sent.len())));
    let got = s.ok("child_to_parent", s.watched(|| pipes::child_to_parent(sent)))?;
    s.expect_bytes("the bytes the parent read", sent, &got).map_err(|failure| {
        if got.len() < sent.len() && sent.starts_with(&got) {
            Failure::wrong(format!(
                "{}\nOne side stopped early: either the parent read less than end-of-file (one read returns at \
                 most what the pipe holds, up to 64 KiB: read until it returns 0, read_to_end), or the child wrote \
                 only part (write returns how many bytes it took: write_all)",
                failure.outcome().text()
            ))
        } else {
            failure
        }
    })
}

mod child_to_parent {
    use super::*;

    #[test]
    fn a_short_message_arrives_intact() {
        grade!().run(|s| round_trip(s, b"hello from the child"));
    }

    #[test]
    fn data_larger_than_the_pipe_buffer_arrives_whole() {
        grade!().run(|s| round_trip(s, &Payload::new(1 << 20, 1).bytes()));
    }

    #[test]
    fn empty_data_arrives_as_nothing() {
        grade!().run(|s| round_trip(s, b""));
    }

    #[test]
    fn any_payload_up_to_1_mib_arrives_exactly() {
        grade!().property(24, data::payload(1 << 20), |s, payload| round_trip(s, &payload.bytes()));
    }

    #[test]
    fn the_bytes_come_from_a_child_that_was_reaped() {
        grade!().run(|s| {
            let before = children_usage();
            round_trip(s, &Payload::new(100_000, 2).bytes())?;
            let after = children_usage();
            // getrusage(RUSAGE_CHILDREN) only grows when a child is reaped with wait.
            s.expect(after > before, || {
                "no child process was reaped during child_to_parent: fork a child to write the data, \
                 then reap it with waitpid before returning"
                    .to_string()
            })
        });
    }

    /// Page faults and context switches of reaped children (`man 2 getrusage`).
    fn children_usage() -> i64 {
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: usage is a valid out-pointer.
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
        usage.ru_minflt + usage.ru_nvcsw + usage.ru_nivcsw
    }
}

mod ask_child {
    use super::*;

    fn upper(request: &[u8]) -> Vec<u8> {
        request.to_ascii_uppercase()
    }

    /// Answers with the request twice, so answers are larger than requests.
    fn doubled(request: &[u8]) -> Vec<u8> {
        [request, request].concat()
    }

    fn check(s: &Sandbox, requests: &[Vec<u8>], answer: fn(&[u8]) -> Vec<u8>) -> Result<(), Failure> {
        let total: usize = requests.iter().map(Vec::len).sum();
        s.phase(format!("ask_child with {} requests, {} in all", requests.len(), size(total)));
        let answers = s.ok("ask_child", s.watched(|| pipes::ask_child(requests, answer)))?;
        s.expect(answers.len() == requests.len(), || {
            format!("{} requests got {} answers: one answer per request, in order", requests.len(), answers.len())
        })?;
        for (i, (request, got)) in requests.iter().zip(&answers).enumerate() {
            s.expect_bytes(&format!("the answer to request {i}"), &answer(request), got)?;
        }
        Ok(())
    }

    #[test]
    fn each_request_gets_its_own_answer_in_order() {
        grade!().run(|s| {
            let requests = [&b"hello"[..], b"", b"pipes go one way", b"Mixed Case 42"].map(|r| r.to_vec());
            check(s, &requests, upper)
        });
    }

    #[test]
    fn no_requests_get_no_answers() {
        grade!().run(|s| check(s, &[], upper));
    }

    #[test]
    fn megabytes_each_way_do_not_deadlock() {
        grade!().deadline(Duration::from_secs(8)).run(|s| {
            let requests: Vec<Vec<u8>> = (0..8).map(|i| Payload::new(512 << 10, i).bytes()).collect();
            check(s, &requests, doubled)
        });
    }

    #[test]
    fn the_answers_are_computed_in_the_child() {
        grade!().run(|s| {
            /// The pid and parent pid of the process that answers.
            fn who_answers(_: &[u8]) -> Vec<u8> {
                // SAFETY: getpid and getppid cannot fail.
                let (pid, ppid) = unsafe { (libc::getpid(), libc::getppid()) };
                [pid.to_le_bytes(), ppid.to_le_bytes()].concat()
            }
            let requests = vec![b"who are you?".to_vec(); 3];
            let answers = s.ok("ask_child", s.watched(|| pipes::ask_child(&requests, who_answers)))?;
            let me = std::process::id() as i32;
            for answer in &answers {
                let pid = i32::from_le_bytes(answer.get(..4).unwrap_or(&[0; 4]).try_into().unwrap());
                let ppid = i32::from_le_bytes(answer.get(4..8).unwrap_or(&[0; 4]).try_into().unwrap());
                s.expect(pid != me && ppid == me, || {
                    format!(
                        "answer() ran in process {pid} (parent {ppid}), but the caller is {me}: call \
                         answer() in the forked child, not in the parent"
                    )
                })?;
            }
            s.expect(answers.windows(2).all(|w| w[0] == w[1]), || {
                "the answers came from different processes: one child should answer them all".to_string()
            })
        });
    }

    #[test]
    fn any_requests_are_answered_in_order() {
        let requests = prop::collection::vec(data::payload(64 << 10), 0..12);
        grade!().property(16, requests, |s, payloads| {
            let requests: Vec<Vec<u8>> = payloads.iter().map(Payload::bytes).collect();
            check(s, &requests, doubled)
        });
    }
}

mod pipeline {
    use super::*;

    fn run(s: &Sandbox, stages: &[&[&str]], input: &[u8]) -> Result<Vec<u8>, Failure> {
        s.phase(format!("pipeline {stages:?} on {} of input", size(input.len())));
        s.ok("pipeline", s.watched(|| pipes::pipeline(stages, input)))
    }

    #[test]
    fn one_stage_runs_its_program_on_the_input() {
        grade!().run(|s| {
            let out = run(s, &[&["tr", "a-z", "A-Z"]], b"shout this\n")?;
            s.expect_bytes("the output of tr", b"SHOUT THIS\n", &out)
        });
    }

    #[test]
    fn five_stages_pass_the_data_along_in_order() {
        grade!().run(|s| {
            let stages: &[&[&str]] = &[&["cat"], &["tr", "a-z", "A-Z"], &["sort"], &["uniq"], &["wc", "-l"]];
            let out = run(s, stages, b"b\na\nB\nc\nA\na\n")?;
            s.expect_eq(
                "the output of `cat | tr a-z A-Z | sort | uniq | wc -l`",
                &"3",
                &String::from_utf8_lossy(&out).trim(),
            )
        });
    }

    #[test]
    fn a_megabyte_flows_through_every_stage_whole() {
        grade!().run(|s| {
            let input = Payload::new(1 << 20, 3).bytes();
            let out = run(s, &[&["cat"], &["cat"], &["cat"]], &input)?;
            s.expect_bytes("the output of cat | cat | cat", &input, &out)
        });
    }

    #[test]
    fn any_input_through_one_to_five_cats_comes_out_unchanged() {
        grade!().property(12, (data::payload(1 << 20), 1usize..=5), |s, (payload, n)| {
            let input = payload.bytes();
            let stages: Vec<&[&str]> = vec![&["cat"]; *n];
            let out = run(s, &stages, &input)?;
            s.expect_bytes(&format!("the output of {n} cats"), &input, &out)
        });
    }

    #[rstest]
    #[case::that_exits_1(
        &[&["cat"] as &[&str], &["grep", "-q", "zebra"], &["cat"]],
        "grep",
        "cat | grep -q zebra | cat, where grep finds nothing and exits 1"
    )]
    #[case::killed_by_a_signal(
        &[&["sh", "-c", "kill -KILL $$"] as &[&str]],
        "sh",
        "sh -c 'kill -KILL $$', whose one stage dies of SIGKILL (waitpid says WIFSIGNALED: that is not \
         success, only an exit status of 0 is)"
    )]
    fn a_failing_stage_fails_the_pipeline_and_is_named(
        #[case] stages: &[&[&str]],
        #[case] program: &str,
        #[case] what: &str,
    ) {
        grade!().run(|s| {
            s.phase(format!("pipeline {what}"));
            let result = pipes::pipeline(stages, b"no stripes here\n");
            let err = s.expect_err(&format!("pipeline {what}"), result, ErrorKind::Other)?;
            s.expect(err.to_string().contains(program), || {
                format!("the error should name the failing stage's program ({program}), but says: {err}")
            })
        });
    }

    #[test]
    fn a_first_stage_that_stops_reading_early_is_not_an_error() {
        grade!().run(|s| {
            // head exits after 5 bytes; the rest of the megabyte has no reader (EPIPE), which is
            // head's choice, as in `yes | head -c 5` in a shell.
            let input = Payload::new(1 << 20, 5).bytes();
            s.phase("pipeline head -c 5 on 1 MiB of input");
            let result = s.watched(|| pipes::pipeline(&[&["head", "-c", "5"]], &input));
            let out = s.ok(
                "pipeline `head -c 5` on a megabyte (head stops reading early: writing the rest fails \
                 with EPIPE, and that ends the feeding, it does not fail the pipeline)",
                result,
            )?;
            s.expect_bytes("the output of head -c 5", &input[..5], &out)
        });
    }

    #[test]
    fn a_caller_whose_stdin_and_stdout_are_closed_still_gets_the_output() {
        grade!().run(|s| {
            // With 0 and 1 closed, the first pipe the kata makes is (0, 1): the first stage's
            // input already sits on fd 0. dup2(0, 0) does nothing, and keeps O_CLOEXEC.
            s.phase("pipeline cat | tr a-z A-Z from a process whose stdin and stdout are closed");
            // SAFETY: fcntl and close on descriptors this process owns; both are put back below.
            let saved = unsafe {
                let saved = [libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 100), libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 100)];
                libc::close(0);
                libc::close(1);
                saved
            };
            let result = pipes::pipeline(&[&["cat"], &["tr", "a-z", "A-Z"]], b"no fd 0 here\n");
            // SAFETY: as above: the saved copies go back on 0 and 1.
            unsafe {
                for (fd, copy) in saved.into_iter().enumerate() {
                    if copy >= 0 {
                        libc::dup2(copy, fd as libc::c_int);
                        libc::close(copy);
                    }
                }
            }
            let out = s.ok(
                "pipeline when the input pipe's read end is already fd 0 (dup2(fd, fd) does nothing and leaves \
                 O_CLOEXEC set, so exec closes the stage's stdin: clear FD_CLOEXEC with fcntl instead)",
                result,
            )?;
            s.expect_bytes("the output of cat | tr a-z A-Z", b"NO FD 0 HERE\n", &out)
        });
    }

    #[test]
    fn signals_caught_while_the_pipeline_waits_for_a_stage_do_not_fail_it() {
        grade!().run(|s| {
            // The stage closes its stdout and then lives 300 ms more: the kata has its output
            // and waits in waitpid, while SIGALRM arrives every 10 ms.
            let stages: &[&[&str]] = &[&["sh", "-c", "cat; exec >&-; sleep 0.3"]];
            s.phase("pipeline of a stage that closes its stdout and exits 300 ms later, under SIGALRM every 10 ms");
            caught_alarms_every(Some(Duration::from_millis(10)));
            let result = pipes::pipeline(stages, b"interrupted?\n");
            caught_alarms_every(None);
            let out = s.ok(
                "pipeline under a stream of caught signals (EINTR: a waitpid or read that a signal handler \
                 interrupted must be retried, or the stage is left a zombie)",
                result,
            )?;
            s.expect_bytes("the output of the stage", b"interrupted?\n", &out)
        });
    }

    #[test]
    fn a_missing_program_is_not_found() {
        grade!().run(|s| {
            // A path with a slash: execvp does no PATH search, whose answer depends on the machine
            // (a directory on PATH that the user may not read turns ENOENT into EACCES).
            let missing = s.path("no-such-program");
            let missing = missing.to_str().expect("temporary paths are UTF-8");
            s.phase(format!("pipeline cat | {missing}"));
            let stages: &[&[&str]] = &[&["cat"], &[missing]];
            s.expect_err("pipeline with a missing program", pipes::pipeline(stages, b"x"), ErrorKind::NotFound)?;
            Ok(())
        });
    }

    #[rstest]
    #[case::no_stages(&[])]
    #[case::an_empty_stage(&[&["cat"] as &[&str], &[]])]
    fn no_stages_or_an_empty_stage_is_invalid_input(#[case] stages: &[&[&str]]) {
        grade!().run(|s| {
            s.phase(format!("pipeline({stages:?})"));
            s.expect_err(&format!("pipeline({stages:?})"), pipes::pipeline(stages, b"x"), ErrorKind::InvalidInput)?;
            Ok(())
        });
    }
}

mod broken_pipe {
    use super::*;

    fn expect_broken(s: &Sandbox, data: &[u8]) -> Result<(), Failure> {
        s.phase(format!("broken_pipe({}): writing to a pipe with no reader", size(data.len())));
        let err = s.expect_err("broken_pipe", pipes::broken_pipe(data), ErrorKind::BrokenPipe)?;
        s.expect_eq("the OS error number (EPIPE)", &Some(libc::EPIPE), &err.raw_os_error())
    }

    #[test]
    fn writing_without_a_reader_is_broken_pipe_not_death() {
        grade!().run(|s| expect_broken(s, b"anyone there?"));
    }

    #[test]
    fn a_megabyte_without_a_reader_is_broken_pipe_too() {
        grade!().run(|s| expect_broken(s, &Payload::new(1 << 20, 4).bytes()));
    }

    #[test]
    fn writing_nothing_needs_no_reader() {
        grade!().run(|s| {
            s.phase("broken_pipe(0 bytes)");
            s.ok("broken_pipe with no data", pipes::broken_pipe(b""))
        });
    }

    /// SIGPIPE's disposition, whether this thread blocks it, and whether one is pending.
    fn sigpipe_state() -> (libc::sighandler_t, bool, bool) {
        // SAFETY: all three calls only fill the structures they are given.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut action);
            let mut mask: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut pending);
            (
                action.sa_sigaction,
                libc::sigismember(&mask, libc::SIGPIPE) == 1,
                libc::sigismember(&pending, libc::SIGPIPE) == 1,
            )
        }
    }

    /// Blocks SIGPIPE in the calling thread, as a caller of the kata may have.
    fn block_sigpipe() {
        let mut mask: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: a valid sigset for the calls.
        unsafe {
            libc::sigemptyset(&mut mask);
            libc::sigaddset(&mut mask, libc::SIGPIPE);
            libc::pthread_sigmask(libc::SIG_BLOCK, &mask, std::ptr::null_mut());
        }
    }

    #[test]
    fn sigpipe_handling_is_left_as_it_was_found() {
        grade!().run(|s| {
            expect_broken(s, b"x")?;
            let (handler, blocked, pending) = sigpipe_state();
            s.expect(handler == libc::SIG_DFL, || {
                "afterwards SIGPIPE is no longer at its default action: do not ignore it (or install a \
                 handler) for the whole process; block it in this thread while you write"
                    .to_string()
            })?;
            s.expect(!blocked, || {
                "afterwards SIGPIPE is still blocked in this thread: restore the old signal mask".to_string()
            })?;
            s.expect(!pending, || "a SIGPIPE was left pending: take it with sigtimedwait before unblocking".to_string())
        });
    }

    #[test]
    fn a_sigpipe_the_caller_already_had_pending_is_still_pending_afterwards() {
        grade!().run(|s| {
            block_sigpipe();
            // SAFETY: raise sends this thread a SIGPIPE, which stays pending: it is blocked.
            unsafe { libc::raise(libc::SIGPIPE) };
            s.phase("broken_pipe, called with SIGPIPE blocked and one already pending");
            expect_broken(s, b"x")?;
            let (_, blocked, pending) = sigpipe_state();
            s.expect(blocked, || "the caller had SIGPIPE blocked, and broken_pipe unblocked it".to_string())?;
            s.expect(pending, || {
                "the caller's own pending SIGPIPE was gone after broken_pipe: take only a SIGPIPE your \
                 write raised (look with sigpending before you write; if one was pending already, leave it)"
                    .to_string()
            })
        });
    }

    #[test]
    fn a_caller_that_blocks_sigpipe_keeps_it_blocked() {
        grade!().run(|s| {
            block_sigpipe();
            expect_broken(s, b"x")?;
            let (_, blocked, pending) = sigpipe_state();
            s.expect(blocked, || {
                "the caller had SIGPIPE blocked, and broken_pipe unblocked it: restore the mask you found".to_string()
            })?;
            s.expect(!pending, || "a SIGPIPE was left pending after broken_pipe returned".to_string())
        });
    }
}
