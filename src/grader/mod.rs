//! The grader: every graded test body runs in a sandboxed child process, under a deadline, and
//! ends in exactly one [`Outcome`], with a report that names the test, the phase and the likely
//! mistake. The contract is `docs/grading.md`; the shape of a graded test is:
//!
//! ```no_run
//! use ipc_katas::grade;
//!
//! #[test]
//! fn data_larger_than_the_pipe_buffer_arrives_whole() {
//!     grade!().run(|s| {
//!         let data = vec![7u8; 1 << 20];
//!         s.phase("calling child_to_parent with 1 MiB");
//!         let got = s.ok("child_to_parent", katas::pipes::child_to_parent(&data))?;
//!         s.expect_bytes("the bytes the parent read", &data, &got)
//!     });
//! }
//! ```
//!
//! Where things live: [`supervise`] forks and kills, [`audit`] finds leaks and cleans up,
//! [`verdict`] words the outcomes, [`data`] makes and compares payloads, [`worker`] runs the
//! other side of a test (a forked worker or an unrelated peer program), [`property`] bounds
//! proptest, and [`peer`] turns a test binary into the peer program.

mod alarms;
mod audit;
pub mod data;
mod evidence;
mod forensics;
mod frames;
mod interrupt;
pub mod leftovers;
pub mod peer;
mod property;
mod supervise;
pub mod sysv;
mod verdict;
mod worker;

#[cfg(test)]
mod selftest;

use std::cell::Cell;
use std::fmt::Debug;
use std::fs;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use alarms::{caught_alarms_every, stop_alarms_keeping_the_handler};
pub use audit::Tracked;
pub use data::{Payload, diff_bytes, size};
pub use supervise::has_exited;
pub use verdict::{Kind, Outcome, Report, Subject, Verdict, signal_story};
pub use worker::{Handshake, Peer, PeerOutput, Worker};

use frames::{Ended, Tag};

/// The environment variable naming a file to which each graded test, once finished, appends its
/// result as one JSON line (see [`Grade::run`]): the practice CLI sets it and reads the file.
pub const RESULTS_ENV: &str = "IPC_KATAS_RESULTS";

/// How long a graded body may run before it is called a hang. A hang must fail within 10 s.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);

/// The full name of the enclosing function, e.g. `pipes::child_to_parent::arrives_whole`: a
/// topic's test binary is named after the topic (`tests/pipes.rs`), so its crate is the topic.
#[macro_export]
macro_rules! test_name {
    () => {{
        fn here() {}
        let name = ::std::any::type_name_of_val(&here);
        let name = name.strip_suffix("::here").unwrap_or(name);
        $crate::grader::libtest_name(name.trim_end_matches("::{{closure}}"))
    }};
}

/// `function`'s full name as libtest names its test, with the crate in front: the function's path
/// (`pipes::pipeline::one_stage_runs`), or, for one case of an rstest table, the case libtest runs
/// (`pipes::pipeline::a_failing_stage_fails::case_1_that_exits_1`), since rstest turns the function
/// into a module of cases that each call it. libtest runs each test on a thread named after it.
pub fn libtest_name(function: &str) -> String {
    let thread = std::thread::current();
    let (Some(running), Some((krate, path))) = (thread.name(), function.split_once("::")) else {
        return function.to_string();
    };
    match running.strip_prefix(path).and_then(|case| case.strip_prefix("::")) {
        Some(case) if !case.is_empty() => format!("{krate}::{path}::{case}"),
        _ => function.to_string(),
    }
}

/// Why a graded body failed: returned by the checks on [`Sandbox`] and by a body with `?`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure(Verdict);

impl Failure {
    /// The code returned something other than what the kata asks for.
    pub fn wrong(text: impl Into<String>) -> Failure {
        Failure(Verdict::new(Outcome::WrongAnswer(text.into())))
    }

    /// A process of the test died (a signal, a panic).
    pub fn crash(text: impl Into<String>) -> Failure {
        Failure(Verdict::new(Outcome::Crash(text.into())))
    }

    /// A `todo!()` was reached (for example in a peer process).
    pub fn not_implemented(text: impl Into<String>) -> Failure {
        Failure(Verdict::new(Outcome::NotImplemented(text.into())))
    }

    /// Something waited for too long (a bounded wait inside the test gave up).
    pub fn hang(text: impl Into<String>) -> Failure {
        Failure(Verdict::new(Outcome::Hang(text.into())))
    }

    /// The kata's code returned an error where the kata asks for a value: says which call, the
    /// error, and its kind (what a learner compares with the stub's list of errors).
    pub fn kata_error(call: &str, e: io::Error) -> Failure {
        Failure::wrong(format!("{call} returned an error: {e} (kind {:?})", e.kind()))
    }

    /// [`Failure::kata_error`], for `map_err`: `.map_err(Failure::kata(call))`.
    pub fn kata(call: &str) -> impl FnOnce(io::Error) -> Failure + '_ {
        move |e| Failure::kata_error(call, e)
    }

    /// A step of the test itself failed (making a queue of its own, reading a file): not the
    /// learner's mistake, and said so. For `map_err`: `.map_err(Failure::test_error(what))`.
    pub fn test_error<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> Failure + '_ {
        move |e| Failure::crash(format!("the test could not {what}: {e}"))
    }

    pub fn outcome(&self) -> &Outcome {
        self.0.outcome()
    }

    /// The outcome with its facts: [`Failure::signal`], [`Failure::phase`].
    pub fn verdict(&self) -> &Verdict {
        &self.0
    }

    /// The same failure with a hint after its text: `\nHint: {hint}`, what a learner should try.
    /// A `todo!()` needs none.
    pub fn hint(self, hint: impl std::fmt::Display) -> Failure {
        if matches!(self.outcome(), Outcome::Pass | Outcome::NotImplemented(_)) {
            return self;
        }
        Failure(self.0.map_text(|text| format!("{text}\nHint: {hint}")))
    }

    /// The signal the process that failed died of, when that is how it failed (a worker, a peer).
    pub fn signal(&self) -> Option<i32> {
        self.0.signal()
    }

    /// The phase the test was in when it failed, when that is known.
    pub fn phase(&self) -> Option<&str> {
        self.0.phase()
    }

    /// A process of the test died of `signal`; `text` says which and what usually sends it.
    pub(crate) fn died_of(signal: i32, text: impl Into<String>) -> Failure {
        Failure(Verdict::new(Outcome::Crash(text.into())).with_signal(signal))
    }
}

/// One graded test: its name, what its report says about it, and its deadline. Made by
/// [`grade!`](crate::grade), which names the kata it grades.
pub struct Grade {
    test: String,
    subject: Subject,
    deadline: Duration,
}

static SANDBOXES: AtomicU32 = AtomicU32::new(0);

impl Grade {
    /// `test` is the test's full name, as its report names it. Its report has no footer and a
    /// hang lists no usual causes until [`Grade::subject`] says what to show.
    pub fn new(test: &str) -> Grade {
        install_panic_hook();
        interrupt::install();
        static WARNED: Once = Once::new();
        WARNED.call_once(leftovers::warn_once);
        Grade { test: test.to_string(), subject: Subject::default(), deadline: DEFAULT_DEADLINE }
    }

    /// What the report says about the test besides its outcome (see [`Subject`]).
    pub fn subject(mut self, subject: Subject) -> Grade {
        self.subject = subject;
        self
    }

    /// A longer or shorter deadline for this test (a hang must still fail within 10 s).
    pub fn deadline(mut self, deadline: Duration) -> Grade {
        self.deadline = deadline;
        self
    }

    /// Runs `body` in a sandbox; panics with the learner's report unless the outcome is a pass.
    pub fn run(self, body: impl FnOnce(&mut Sandbox) -> Result<(), Failure>) {
        let started = Instant::now();
        let verdict = self.verdict(body);
        self.finish(&verdict, started.elapsed());
    }

    pub(crate) fn finish(&self, verdict: &Verdict, elapsed: Duration) {
        let outcome = verdict.outcome();
        // An interrupted run ends by the signal once every sandbox is cleaned up; reporting
        // each test cut short as a failure would bury what the learner was looking at.
        interrupt::wait_for_the_end();
        let report = Report { test: &self.test, subject: &self.subject, outcome, elapsed };
        if let Some(path) = std::env::var_os(RESULTS_ENV) {
            write_result(Path::new(&path), &self.test, verdict, elapsed, &report.to_string());
        }
        if *outcome != Outcome::Pass {
            REPORTING.with(|r| r.set(true));
            panic!("\n{report}\n");
        }
    }

    /// Runs `body` in a sandbox and returns what happened, without judging it.
    pub fn outcome(&self, body: impl FnOnce(&mut Sandbox) -> Result<(), Failure>) -> Outcome {
        self.verdict(body).into_outcome()
    }

    /// [`Grade::outcome`] with the facts it was worded from (the signal, the phase).
    pub fn verdict(&self, body: impl FnOnce(&mut Sandbox) -> Result<(), Failure>) -> Verdict {
        // Counted until the clean-up below is done: an interrupted run waits for it.
        let _active = interrupt::Active::begin();
        if let Some(signal) = interrupt::interrupted() {
            return Verdict::new(Outcome::Crash(format!(
                "not run: the test run was interrupted by {}",
                verdict::signal_name(signal)
            )));
        }
        // `ipc-katas-<pid>-XXXXXX/`: the test's files in `work/`, the ledger beside them (see
        // `leftovers`), so that what a killed run leaves can be told from anyone else's.
        let made = tempfile::Builder::new()
            .prefix(&format!("{}{}-", leftovers::DIR_PREFIX, std::process::id()))
            .tempdir()
            .and_then(|dir| fs::create_dir(dir.path().join("work")).map(|()| dir));
        let dir = match made {
            Ok(dir) => dir,
            Err(e) => {
                return Verdict::new(Outcome::Crash(format!("the grader could not make a temporary directory: {e}")));
            }
        };
        let prefix = format!("/ipck-{}-{}-", std::process::id(), SANDBOXES.fetch_add(1, Ordering::Relaxed));
        let sandbox_dir = dir.path().join("work");
        let sandbox_prefix = prefix.clone();
        let deadline = self.deadline;
        let finished = supervise::run(deadline, move || {
            body_main(Sandbox::new(sandbox_dir, sandbox_prefix, Instant::now() + deadline), body)
        });
        let verdict = match finished {
            Ok(finished) => {
                let tracked: Vec<Tracked> =
                    finished.heard.tracked().iter().filter_map(|line| Tracked::decode(line)).collect();
                audit::clean_up(&tracked, &prefix);
                audit::remove_objects_of(finished.body_pid);
                judge(&finished, self.deadline, &self.subject.hang_causes)
            }
            Err(e) => Verdict::new(Outcome::Crash(format!("the grader could not start the sandbox: {e}"))),
        };
        drop(dir);
        verdict
    }
}

/// Appends one line to the results file: `{"test", "label", "text", "report", "elapsed_s",
/// "signal", "phase"}` (`label` is a [`Kind::label`]; `signal` and `phase` are null when not
/// known). One `write` of a file opened to append, so the lines of tests that finish at once stay
/// whole. A file that cannot be written is said on stderr; the test's own result stands.
fn write_result(path: &Path, test: &str, verdict: &Verdict, elapsed: Duration, report: &str) {
    let line = serde_json::json!({
        "test": test,
        "label": verdict.outcome().label(),
        "text": verdict.outcome().text(),
        "report": report,
        "elapsed_s": elapsed.as_secs_f64(),
        "signal": verdict.signal(),
        "phase": verdict.phase(),
        "unexplained": verdict.unexplained(),
    });
    let written = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| io::Write::write_all(&mut file, format!("{line}\n").as_bytes()));
    if let Err(e) = written {
        eprintln!("the grader could not write {test}'s result to {}: {e}", path.display());
    }
}

/// One line of a results file (see [`RESULTS_ENV`]), read back.
#[derive(Clone, Debug, PartialEq)]
pub struct GradedResult {
    pub test: String,
    pub kind: Kind,
    pub text: String,
    /// The report as the test printed it (the outcome's text, then the subject's footer).
    pub report: String,
    pub elapsed: Duration,
    pub signal: Option<i32>,
    pub phase: Option<String>,
    /// A hang that nothing the test saw explained (see [`Verdict::unexplained`]).
    pub unexplained: bool,
}

impl GradedResult {
    /// Reads one line of a results file; `None` for a line the grader did not write.
    pub fn parse(line: &str) -> Option<GradedResult> {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        Some(GradedResult {
            test: v["test"].as_str()?.to_string(),
            kind: Kind::from_label(v["label"].as_str()?)?,
            text: v["text"].as_str()?.to_string(),
            report: v["report"].as_str()?.to_string(),
            elapsed: Duration::try_from_secs_f64(v["elapsed_s"].as_f64()?).ok()?,
            signal: v["signal"].as_i64().and_then(|s| i32::try_from(s).ok()),
            phase: v["phase"].as_str().map(str::to_string),
            unexplained: v["unexplained"].as_bool()?,
        })
    }
}

thread_local! {
    /// Set while a test thread panics with a grader report.
    static REPORTING: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic of this thread happened (`file:line:column`), kept by the panic hook
    /// so that the report of a caught panic can name it: the payload alone has no location.
    static PANIC_AT: Cell<Option<String>> = const { Cell::new(None) };
}

/// Keeps where a panic happened for [`caught_panic`]; called by the panic hooks.
pub(crate) fn remember_panic_location(info: &std::panic::PanicHookInfo<'_>) {
    let at = info.location().map(|l| format!("{}:{}:{}", l.file().trim_start_matches("src/../"), l.line(), l.column()));
    PANIC_AT.with(|p| p.set(at));
}

/// The outcome of a panic caught by `catch_unwind` in this thread: its text and, for a crash,
/// the file, line and column it happened at.
pub(crate) fn caught_panic(payload: &(dyn std::any::Any + Send)) -> Outcome {
    let text = panic_text(payload);
    let at = PANIC_AT.with(|p| p.take());
    match (panic_outcome(&text), at) {
        (Outcome::Crash(_), Some(at)) => Outcome::Crash(format!("panicked at {at}: {text}")),
        (outcome, _) => outcome,
    }
}

/// Installs, once per test process, a panic hook that (1) says nothing in sandbox processes,
/// whose panics the grader catches and reports itself, and (2) prints a grader report as it is,
/// without a backtrace. Other panics go to the previous hook.
///
/// Why (1) matters: a sandbox is forked from a multi-threaded test process. If another test
/// thread was printing a panic (holding the backtrace or stderr lock) at that moment, the
/// default hook in the sandbox would wait for that lock forever. Measured: with
/// RUST_BACKTRACE=1, one `todo!()` stub in 22 hung this way before the hook was added.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if frames::in_sandbox() {
                remember_panic_location(info);
                return;
            }
            if REPORTING.with(|r| r.get()) {
                eprintln!("{}", panic_text(info.payload()));
                return;
            }
            previous(info)
        }));
    });
}

/// Turns what the sandbox said into one verdict, with the phase it ended in.
/// `causes`: what usually hangs the test (its subject's), listed when it timed out.
fn judge(finished: &supervise::Finished, deadline: Duration, causes: &[String]) -> Verdict {
    let heard = &finished.heard;
    let phase = heard.phase().unwrap_or_else(|| "starting the sandbox".to_string());
    let strays: Vec<String> = heard.all(Tag::Stray).into_iter().map(|(_, text)| text).collect();
    let verdict = match heard.ended().map(|(ended, _)| ended) {
        Some(Ended::Interrupted(signal)) => Verdict::new(Outcome::Crash(format!(
            "the test run was interrupted by {} while {phase}: every process of the test was killed and \
             what it made was removed",
            verdict::signal_name(signal)
        ))),
        Some(Ended::TimedOut { .. }) => {
            // The kernel's picture of every process and its diagnosis; where no rule named the
            // deadlock, the test's own reading of the wait (its kata's evidence) before the
            // picture, and the usual causes only when there is neither.
            let mut text = format!("timed out after {:.1} s while {phase}.", deadline.as_secs_f64());
            let explained = forensics::explain(heard);
            let diagnosed = explained.as_ref().is_some_and(|e| e.diagnosis.is_some());
            let evidence = heard.evidence().filter(|_| !diagnosed);
            if let Some(evidence) = &evidence {
                text.push('\n');
                text.push_str(evidence);
            }
            if let Some(explained) = &explained {
                text.push('\n');
                text.push_str(&explained.text());
            }
            let unexplained = evidence.is_none() && !diagnosed;
            if unexplained && !causes.is_empty() {
                text.push_str("\nUsual causes:\n");
                text.push_str(&causes.iter().map(|c| format!("  - {c}")).collect::<Vec<_>>().join("\n"));
            }
            let verdict = Verdict::new(Outcome::Hang(text));
            if unexplained { verdict.with_unexplained() } else { verdict }
        }
        Some(Ended::Signalled(signal)) => {
            let story = signal_story(signal);
            let (name, why) = story.split_once(": ").unwrap_or((&story, ""));
            let why: String = why.chars().take(1).flat_map(char::to_uppercase).chain(why.chars().skip(1)).collect();
            Failure::died_of(signal, format!("the test's process died of {name} while {phase}.\n{why}")).0
        }
        Some(Ended::Exited(status)) => match heard.bytes(Tag::Verdict, finished.body_pid).and_then(Verdict::decode) {
            Some(verdict) => verdict,
            None => Verdict::new(Outcome::Crash(format!(
                "the test's process exited with status {status} before it finished, while {phase}: \
                 did your code call std::process::exit in the calling process, or let a forked \
                 child run on?"
            ))),
        },
        Some(Ended::ForkFailed(errno)) => Verdict::new(Outcome::Crash(format!(
            "the grader could not run the sandbox: fork failed: {}",
            io::Error::from_raw_os_error(errno)
        ))),
        None => Verdict::new(Outcome::Crash(
            "the grader could not run the sandbox: its supervisor ended without saying how the test ended".to_string(),
        )),
    };
    let verdict = if verdict.phase().is_none() { verdict.with_phase(phase) } else { verdict };
    if strays.is_empty() {
        return verdict;
    }
    match verdict.outcome() {
        Outcome::Pass | Outcome::Leak(_) | Outcome::WrongAnswer(_) => {
            let stray_text = strays.join("\n");
            verdict.with_kind(Kind::WrongAnswer).map_text(|_| stray_text)
        }
        _ => verdict,
    }
}

/// Runs in the body process: the graded code, then the audit, then the verdict. Never returns.
fn body_main(mut sandbox: Sandbox, body: impl FnOnce(&mut Sandbox) -> Result<(), Failure>) -> ! {
    sandbox.phase("starting the test");
    let before = audit::snapshot();
    let result = catch_unwind(AssertUnwindSafe(|| body(&mut sandbox)));
    if !sandbox.is_body() {
        // A child forked by the graded code came back out of it and ran the test itself.
        let how = match &result {
            Err(payload) => match caught_panic(payload.as_ref()) {
                Outcome::Crash(text) => format!("panicked ({})", text.trim_start_matches("panicked ")),
                _ => format!("panicked ({})", panic_text(payload.as_ref())),
            },
            Ok(_) => "returned normally".to_string(),
        };
        stray_exit(&how);
    }
    let verdict = match result {
        Ok(Ok(())) => Verdict::new(Outcome::Pass),
        Ok(Err(Failure(verdict))) => verdict,
        Err(payload) => Verdict::new(caught_panic(payload.as_ref())),
    };
    let leaks = audit::audit(&before, &sandbox.tracked, &sandbox.dir);
    let list = |leaks: &[String]| leaks.iter().map(|l| format!("  - {l}")).collect::<Vec<_>>().join("\n");
    let verdict = match verdict.outcome() {
        Outcome::Pass if !leaks.held.is_empty() || !leaks.outliving.is_empty() => {
            verdict.with_kind(Kind::Leak).map_text(|_| {
                format!(
                    "the answer was right, but it left things behind:\n{}",
                    list(&[&leaks.held[..], &leaks.outliving[..]].concat())
                )
            })
        }
        // The test stopped at the failure, before its own remove or unlink calls: only what the
        // process still holds is the code's doing.
        Outcome::WrongAnswer(text) if !leaks.held.is_empty() => {
            // A thread the test started for a call of the graded code that it stopped waiting for
            // (the call hung) may still hold what is listed.
            let running = std::fs::read_dir("/proc/self/task").map_or(1, |d| d.count()) > 1;
            let note = if running {
                " (a call of your code that the test stopped waiting for is still running in another thread, and may \
                 hold these)"
            } else {
                ""
            };
            let text = format!("{text}\nIt also left behind{note}:\n{}", list(&leaks.held));
            verdict.map_text(|_| text)
        }
        _ => verdict,
    };
    frames::send(Tag::Verdict, &verdict.encode());
    // SAFETY: _exit ends this forked process without running the harness's code.
    unsafe { libc::_exit(0) }
}

fn stray_exit(how: &str) -> ! {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let text = format!(
        "a child process (pid {pid}) forked by your code {how} out of your function and went on \
         running the caller's code. A forked child must end with libc::_exit once its work is \
         done (std::process::exit also runs the exit handlers it copied from the parent), never return."
    );
    frames::send(Tag::Stray, text.as_bytes());
    // SAFETY: _exit ends this forked process.
    unsafe { libc::_exit(0) }
}

pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_string()
    }
}

/// A panic is "not implemented" when it comes from `todo!()` or `unimplemented!()`.
pub(crate) fn panic_outcome(text: &str) -> Outcome {
    if text.starts_with("not yet implemented") || text.starts_with("not implemented") {
        Outcome::NotImplemented(format!(
            "not yet attempted: the code reached `todo!()` ({text}).\nReplace the todo!() with your answer."
        ))
    } else {
        Outcome::Crash(format!("panicked: {text}"))
    }
}

/// The body's view of its sandbox: a fresh temporary directory, unique names, checks that
/// produce [`Failure`]s, and helpers to run the other side of a test.
pub struct Sandbox {
    dir: PathBuf,
    prefix: String,
    names: u32,
    body_pid: u32,
    tracked: Vec<Tracked>,
    deadline: Instant,
}

impl Sandbox {
    fn new(dir: PathBuf, prefix: String, deadline: Instant) -> Sandbox {
        Sandbox { dir, prefix, names: 0, body_pid: std::process::id(), tracked: Vec::new(), deadline }
    }

    /// How long until the grader calls this test a hang. A wait inside the test should give up
    /// before that (see [`Sandbox::bounded`]), so that its own message, which says what it waited
    /// for, is the one the learner reads.
    pub fn time_left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// `limit`, or less if the deadline is nearer: what is left of it, less half a second for the
    /// test to say what it saw.
    pub fn bounded(&self, limit: Duration) -> Duration {
        limit.min(self.time_left().saturating_sub(Duration::from_millis(500)))
    }

    fn is_body(&self) -> bool {
        std::process::id() == self.body_pid
    }

    /// A child that returned out of the graded code into the test ends here, reported.
    fn guard(&self) {
        if !self.is_body() {
            stray_exit("returned");
        }
    }

    /// Names what the test is doing now; a hang report names the last phase.
    pub fn phase(&self, text: impl AsRef<str>) {
        self.guard();
        frames::send(Tag::Phase, text.as_ref().as_bytes());
    }

    /// Says what the graded code is doing while the test waits for it (the system call it
    /// sleeps in, the state of its signals), from what the kernel shows. If the test then times
    /// out, the hang report gives this in place of the topic's usual causes; an empty text takes
    /// it back. May be called from a thread of the test while the graded code blocks.
    pub fn evidence(&self, text: impl AsRef<str>) {
        if self.is_body() {
            frames::send(Tag::Evidence, text.as_ref().as_bytes());
        }
    }

    /// This test's own temporary directory, removed after the test.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A path inside [`Sandbox::dir`].
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A POSIX IPC name unique to this test (`/ipck-<pid>-<n>-<tag>-<k>`), checked by the audit
    /// and removed after the test.
    pub fn posix_name(&mut self, tag: &str) -> String {
        self.names += 1;
        let name = format!("{}{tag}-{}", self.prefix, self.names);
        self.track(Tracked::PosixName(name.clone()));
        name
    }

    /// A SysV IPC key unique to this test and free right now (never `IPC_PRIVATE`), checked by
    /// the audit and removed after the test, whatever kind of object is made with it.
    pub fn sysv_key(&mut self) -> i32 {
        loop {
            self.names += 1;
            // FNV-1a of this sandbox's unique prefix and a counter, as a positive 31-bit key.
            let seed = format!("{}{}", self.prefix, self.names);
            let hash = seed.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
            let key = ((hash ^ (hash >> 32)) & 0x7fff_ffff) as i32;
            let taken =
                ["shm", "msg", "sem"].iter().any(|kind| audit::sysv_objects(kind).iter().any(|(k, _)| *k == key));
            if key != libc::IPC_PRIVATE && !taken {
                self.track(Tracked::SysvKey(key));
                return key;
            }
        }
    }

    /// Registers an IPC object this test may create, for the audit and the clean-up.
    pub fn track(&mut self, object: Tracked) {
        frames::send(Tag::Track, object.encode().as_bytes());
        leftovers::record(&self.dir, &object);
        self.tracked.push(object);
    }

    /// Unwraps a result of the graded code; an error is a wrong answer naming the call.
    pub fn ok<T>(&self, call: &str, result: io::Result<T>) -> Result<T, Failure> {
        self.guard();
        result.map_err(|e| Failure::wrong(format!("{call} returned an error: {e} (kind {:?})", e.kind())))
    }

    /// Calls the graded code: names the phase (`calling {what}`), runs `f` and unwraps its
    /// result, so that a hang names the call and an error is a wrong answer naming it.
    /// `what` says the call and its inputs, e.g. `format!("send_records({n} records)")`.
    pub fn call<T>(&self, what: impl AsRef<str>, f: impl FnOnce() -> io::Result<T>) -> Result<T, Failure> {
        let what = what.as_ref();
        self.phase(format!("calling {what}"));
        self.ok(what, f())
    }

    /// Expects an error of `kind` from the graded code, and returns it.
    pub fn expect_err<T: Debug>(
        &self,
        call: &str,
        result: io::Result<T>,
        kind: io::ErrorKind,
    ) -> Result<io::Error, Failure> {
        self.guard();
        match result {
            Err(e) if e.kind() == kind => Ok(e),
            Err(e) => {
                Err(Failure::wrong(format!("{call} should fail with {kind:?}, but failed with {:?}: {e}", e.kind())))
            }
            Ok(v) => Err(Failure::wrong(format!(
                "{call} should fail with {kind:?}, but returned Ok({})",
                data::shorten(&format!("{v:?}"))
            ))),
        }
    }

    /// Fails with `why()` unless `condition` holds.
    pub fn expect(&self, condition: bool, why: impl FnOnce() -> String) -> Result<(), Failure> {
        self.guard();
        if condition { Ok(()) } else { Err(Failure::wrong(why())) }
    }

    /// Expects `actual == expected`.
    pub fn expect_eq<T: Debug + PartialEq>(&self, what: &str, expected: &T, actual: &T) -> Result<(), Failure> {
        self.expect(expected == actual, || {
            format!(
                "{what}:\n  expected {}\n  got      {}",
                data::shorten(&format!("{expected:?}")),
                data::shorten(&format!("{actual:?}"))
            )
        })
    }

    /// Expects two byte strings to be equal; the report shows lengths, the first differing
    /// index and a hex window around it.
    pub fn expect_bytes(&self, what: &str, expected: &[u8], actual: &[u8]) -> Result<(), Failure> {
        self.guard();
        match diff_bytes(expected, actual) {
            None => Ok(()),
            Some(diff) => Err(Failure::wrong(format!("{what} differ from what was sent:\n{diff}"))),
        }
    }
}
