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
use ipc_katas::grader::{Failure, Payload, Sandbox, caught_alarms_every, size};
use ipc_katas::kit::{TestFifo, fd};
use katas::event_loop::{self as kata, Status, Output};
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
                    if let (Some(n), Some(a), Some(t)) = (w.next().and_then(|n| n.parse().ok()), w.next(), w.next()) {
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
    s.expect(l.target(2).is_some(), || "the program's fd 2 (stderr) is closed: leave the caller's fd 2 to it".into())
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
        // The program is slow to start (a test binary), so run_filter waits in read, poll and
        // waitpid while SIGALRM arrives every millisecond.
        let input = Payload::new(200_000, 7).bytes();
        caught_alarms_every(Some(Duration::from_millis(1)));
        let out = Program::inspect()?.run(s, &input);
        caught_alarms_every(None);
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
