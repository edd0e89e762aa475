//! Grading for the CLI: builds the topics' graded test binaries with cargo, runs them, and reads
//! the grader's results file (one JSON line per graded test, see [`RESULTS_ENV`]) and, for what
//! the grader never saw (a test that is not graded), libtest's own `ok` and `FAILED`. `cargo
//! test` stays the grader; this only runs it and sorts its results.
//!
//! A kata that does not compile must not stop the others from being graded. When the build
//! fails, the compiler's errors (cargo's JSON messages) say which files are broken; each is *set
//! aside*: the build is done again with the file's original stub in its place (`attempt/build.rs`
//! does the swap, the learner's file is never touched), and the kata is reported as "does not
//! compile", with its first error in full.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use ipc_katas::catalogue::{self, Kata};
use ipc_katas::grader::{GradedResult, Kind, RESULTS_ENV};

use super::repo;

/// One graded test's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    /// The test's path with its topic, e.g. `pipes::child_to_parent::empty_data_…`.
    pub name: String,
    pub passed: bool,
    /// The grader's outcome, for a graded test; `None` for one the grader never saw.
    pub kind: Option<Kind>,
    /// The grader's report (or, for a failed test the grader never saw, what it printed).
    pub report: String,
    /// A hang whose report could only list the usual causes (see `Verdict::unexplained`).
    pub unexplained: bool,
}

impl TestResult {
    /// What a list of tests shows for it: `ok`, the grader's label, or `FAILED`.
    pub fn label(&self) -> &'static str {
        match (self.passed, self.kind) {
            (true, _) => "ok",
            (false, Some(kind)) if kind != Kind::Pass => kind.label(),
            (false, _) => "FAILED",
        }
    }

    fn not_implemented(&self) -> bool {
        !self.passed && self.kind == Some(Kind::NotImplemented)
    }
}

/// A file of the attempt that does not compile, set aside for the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    /// The file, relative to the repository (`katas/fifos/records.rs`).
    pub file: String,
    /// Where its first error is: `katas/fifos/records.rs:12:5`.
    pub at: String,
    /// The compiler's first error about it, as rustc prints it.
    pub error: String,
    /// How many errors the compiler reported in it.
    pub errors: usize,
}

/// Where a kata stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Solved,
    Failing,
    NotStarted,
    DoesNotCompile,
}

impl State {
    pub fn of(tests: &[&TestResult]) -> State {
        if !tests.is_empty() && tests.iter().all(|t| t.passed) {
            State::Solved
        } else if tests.iter().all(|t| t.not_implemented()) {
            State::NotStarted
        } else {
            State::Failing
        }
    }
}

/// What one grading run found.
pub struct Run {
    pub results: Vec<TestResult>,
    /// Files set aside because they do not compile.
    pub broken: Vec<Broken>,
    pub elapsed: Duration,
}

impl Run {
    /// The results of one kata's tests.
    pub fn of_kata(&self, kata: &Kata) -> Vec<&TestResult> {
        let prefix = format!("{}::", kata.id);
        self.results.iter().filter(|t| t.name.starts_with(&prefix)).collect()
    }

    /// Why the kata could not be graded, if it does not compile: its own file, or its topic's
    /// module file, was set aside.
    pub fn broken(&self, kata: &Kata) -> Option<&Broken> {
        let topic_file = format!("katas/{}/mod.rs", kata.topic());
        let solution_topic_file = format!("solutions/{}/mod.rs", kata.topic());
        let own = [kata.file(), kata.solution_file(), topic_file, solution_topic_file];
        self.broken.iter().find(|b| own.contains(&b.file))
    }

    /// The kata's state, with "does not compile" before what its stand-in's tests said.
    pub fn state(&self, kata: &Kata) -> State {
        if self.broken(kata).is_some() { State::DoesNotCompile } else { State::of(&self.of_kata(kata)) }
    }
}

/// What the run is doing now, for a progress line.
#[derive(Default)]
struct Progress {
    text: String,
}

struct Shared {
    /// The process group of the cargo or test process running now.
    pgid: Mutex<Option<i32>>,
    stopping: AtomicBool,
    progress: Mutex<Progress>,
}

/// A grading run under way, on a thread of its own: the build, then the test binary, each in its
/// own process group, so that stopping the run stops the grader's processes with it.
pub struct Grading {
    shared: Arc<Shared>,
    done: mpsc::Receiver<io::Result<Run>>,
    finished: bool,
}

impl Grading {
    /// Starts grading the tests under `filter` (a kata id or a topic id, and `::`; all with `None`).
    pub fn start(root: &Path, filter: Option<&str>, solutions: bool) -> io::Result<Grading> {
        let shared =
            Arc::new(Shared { pgid: Mutex::new(None), stopping: AtomicBool::new(false), progress: Default::default() });
        let (tx, done) = mpsc::channel();
        let job =
            Job { root: root.to_path_buf(), filter: filter.map(str::to_string), solutions, shared: shared.clone() };
        thread::Builder::new().name("grading".into()).spawn(move || {
            let _ = tx.send(job.run());
        })?;
        Ok(Grading { shared, done, finished: false })
    }

    /// The results, if the run ends within `timeout`.
    pub fn wait_for(&mut self, timeout: Duration) -> Option<io::Result<Run>> {
        let result = match self.done.recv_timeout(timeout) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => return None,
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(io::Error::other("the grading thread died")),
        };
        self.finished = true;
        Some(result)
    }

    /// What the run is doing now: "compiling nix (12 crates built)", "running the tests".
    pub fn progress(&self) -> String {
        self.shared.progress.lock().map(|p| p.text.clone()).unwrap_or_default()
    }

    /// Stops the run: SIGTERM to the process running now, so that the grader kills its sandboxes
    /// and removes what they made; SIGKILL if it has not ended 5 s later.
    pub fn stop(&mut self) {
        if self.finished {
            return;
        }
        self.shared.stopping.store(true, Ordering::SeqCst);
        let pgid = *self.shared.pgid.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pgid) = pgid {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGTERM);
        }
        if self.done.recv_timeout(Duration::from_secs(5)).is_err() {
            if let Some(pgid) = pgid {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            }
            let _ = self.done.recv_timeout(Duration::from_secs(2));
        }
        self.finished = true;
    }
}

impl Drop for Grading {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Grades the tests under `filter` and waits; `tick` is called about ten times a second
/// meanwhile with the time so far and what the run is doing (for a progress line). Stops the run
/// and returns `Interrupted` when [`super::interrupted`] says the learner pressed Ctrl-C.
pub fn run(
    root: &Path,
    filter: Option<&str>,
    solutions: bool,
    mut tick: impl FnMut(Duration, &str),
) -> io::Result<Run> {
    let started = Instant::now();
    let mut grading = Grading::start(root, filter, solutions)?;
    loop {
        if let Some(result) = grading.wait_for(Duration::from_millis(100)) {
            return result;
        }
        if super::interrupted() {
            grading.stop();
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted: the run was stopped and cleaned up"));
        }
        tick(started.elapsed(), &grading.progress());
    }
}

/// One run, on the grading thread.
struct Job {
    root: PathBuf,
    filter: Option<String>,
    solutions: bool,
    shared: Arc<Shared>,
}

/// What a build said.
struct Built {
    /// The topics' test binaries, when the build succeeded.
    exes: Option<BTreeMap<String, PathBuf>>,
    /// The compiler's errors, in order.
    errors: Vec<Diagnostic>,
}

struct Diagnostic {
    /// The file of the error's primary span, as the compiler named it.
    file: String,
    line: u64,
    column: u64,
    rendered: String,
}

/// How many times a build may set more files aside before the run gives up.
const SET_ASIDE_ROUNDS: usize = 4;

impl Job {
    fn run(&self) -> io::Result<Run> {
        let started = Instant::now();
        let tree = if self.solutions { "solutions" } else { "katas" };
        let aside_dir = target_dir(&self.root).join("ipc-katas").join("set-aside");
        let mut broken: Vec<Broken> = Vec::new();
        let mut built = self.build(None)?;
        for _ in 0..SET_ASIDE_ROUNDS {
            if built.exes.is_some() {
                break;
            }
            let found = self.broken_files(&built.errors, tree)?;
            let new: Vec<Broken> = found.into_iter().filter(|b| !broken.iter().any(|o| o.file == b.file)).collect();
            if new.is_empty() {
                break;
            }
            broken.extend(new);
            self.lay_stand_ins(&aside_dir, &broken)?;
            built = self.build(Some(&aside_dir))?;
        }
        let Some(exes) = built.exes else {
            let first = built.errors.first().map(|d| clean_paths(&d.rendered, &self.root)).unwrap_or_default();
            return Err(io::Error::other(format!(
                "the graded tests do not compile, and setting the broken kata files aside did not help: the \
                 error is outside the katas (or in a kata's public signature, which the tests use). The first \
                 error:\n\n{first}"
            )));
        };
        let mut results = Vec::new();
        for topic in self.topics() {
            let exe = exes.get(topic).ok_or_else(|| io::Error::other(format!("cargo built no tests/{topic}.rs")))?;
            self.set_progress(format!("running the {topic} tests"));
            results.extend(self.run_tests(topic, exe)?);
        }
        Ok(Run { results, broken, elapsed: started.elapsed() })
    }

    /// The topics whose tests this run grades: the filter's, or all of them.
    fn topics(&self) -> Vec<&'static str> {
        let wanted = self.filter.as_deref().and_then(|f| f.split("::").next());
        catalogue::TOPICS.iter().map(|t| t.id).filter(|id| wanted.is_none_or(|w| w == *id)).collect()
    }

    /// The filter inside a topic's binary: `child_to_parent::` for `pipes::child_to_parent::`.
    fn filter_in_topic(&self) -> Option<&str> {
        self.filter.as_deref().and_then(|f| f.split_once("::")).map(|(_, rest)| rest).filter(|r| !r.is_empty())
    }

    fn set_progress(&self, text: impl Into<String>) {
        if let Ok(mut p) = self.shared.progress.lock() {
            p.text = text.into();
        }
    }

    /// Starts `command` in its own process group, remembered for [`Grading::stop`].
    fn spawn(&self, command: &mut Command) -> io::Result<Child> {
        if self.shared.stopping.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "the run was stopped"));
        }
        let child = command.process_group(0).stdin(Stdio::null()).spawn()?;
        *self.shared.pgid.lock().unwrap_or_else(|e| e.into_inner()) = i32::try_from(child.id()).ok();
        Ok(child)
    }

    /// `cargo test --no-run` for the topics' test binaries, reading cargo's JSON messages: the
    /// binaries' paths, or the compiler's errors. Progress comes from the crates as they finish.
    fn build(&self, aside: Option<&Path>) -> io::Result<Built> {
        let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        command.current_dir(&self.root).args(["test", "--no-run", "--message-format=json"]);
        for topic in self.topics() {
            command.args(["--test", topic]);
        }
        if self.solutions {
            command.args(["--features", "solutions"]);
        }
        match aside {
            Some(dir) => command.env("IPC_KATAS_SET_ASIDE", dir),
            None => command.env_remove("IPC_KATAS_SET_ASIDE"),
        };
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.set_progress("compiling");
        let mut child = self.spawn(&mut command)?;
        let stderr = child.stderr.take().expect("piped");
        // cargo's own lines ("Compiling nix v0.32.0"), kept for the error message.
        let stderr_thread = thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text);
            text
        });
        let mut built = Built { exes: None, errors: Vec::new() };
        let mut exes = BTreeMap::new();
        let mut crates = 0;
        for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
            let Ok(line) = line else { break };
            let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            match message["reason"].as_str() {
                Some("compiler-artifact") => {
                    crates += 1;
                    let name = message["target"]["name"].as_str().unwrap_or("");
                    self.set_progress(format!("compiling: {name} done, {crates} crates ready"));
                    let is_test = message["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "test"));
                    if let (true, Some(exe)) = (is_test, message["executable"].as_str()) {
                        exes.insert(name.to_string(), PathBuf::from(exe));
                    }
                }
                Some("compiler-message") if message["message"]["level"] == "error" => {
                    if let Some(diagnostic) = diagnostic(&message["message"]) {
                        built.errors.push(diagnostic);
                    }
                }
                _ => {}
            }
        }
        let status = child.wait()?;
        let cargo_said = stderr_thread.join().unwrap_or_default();
        if self.shared.stopping.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "the run was stopped"));
        }
        if !status.success() && built.errors.is_empty() {
            let tail: Vec<&str> = cargo_said.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect();
            return Err(io::Error::other(format!("cargo could not build the tests:\n{}", tail.join("\n"))));
        }
        if status.success() {
            built.exes = Some(exes);
        }
        Ok(built)
    }

    /// The attempt's files that the errors are in, each with its first error. An error in a
    /// graded test (a kata's public signature changed) sets aside the kata whose tests it is in.
    fn broken_files(&self, errors: &[Diagnostic], tree: &str) -> io::Result<Vec<Broken>> {
        let mut by_file: BTreeMap<String, Vec<&Diagnostic>> = BTreeMap::new();
        let mut elsewhere = Vec::new();
        for error in errors {
            let file = repo_relative(&error.file, &self.root);
            let files = if file.starts_with(&format!("{tree}/")) {
                vec![file]
            } else if let Some(files) = self.katas_tested_at(&file, error.line, tree) {
                files
            } else {
                elsewhere.push(error);
                continue;
            };
            for file in files {
                by_file.entry(file).or_default().push(error);
            }
        }
        if by_file.is_empty() {
            if let Some(error) = elsewhere.first() {
                return Err(io::Error::other(format!(
                    "the grader's own code does not compile here (not a kata file):\n\n{}",
                    clean_paths(&error.rendered, &self.root)
                )));
            }
        }
        Ok(by_file
            .into_iter()
            .map(|(file, errors)| {
                let first = errors[0];
                let at_file = repo_relative(&first.file, &self.root);
                Broken {
                    at: format!("{at_file}:{}:{}", first.line, first.column),
                    error: clean_paths(&first.rendered, &self.root),
                    errors: errors.len(),
                    file,
                }
            })
            .collect())
    }

    /// For an error in `tests/<topic>.rs`: the file of the kata whose `mod <kata> {` the line is
    /// in, or every attempted kata of the topic when the line is outside them.
    fn katas_tested_at(&self, file: &str, line: u64, tree: &str) -> Option<Vec<String>> {
        let topic = file.strip_prefix("tests/")?.strip_suffix(".rs")?;
        let topic = catalogue::topic(topic)?;
        let text = std::fs::read_to_string(self.root.join(file)).ok()?;
        let above: Vec<&str> = text.lines().take(line as usize).collect();
        let module = above.iter().rev().find_map(|l| {
            if *l == "}" { Some(None) } else { l.strip_prefix("mod ").and_then(|r| r.strip_suffix(" {")).map(Some) }
        });
        let in_tree = |kata: &Kata| if tree == "katas" { kata.file() } else { kata.solution_file() };
        match module.flatten().and_then(|name| catalogue::kata(&format!("{}::{name}", topic.id))) {
            Some(kata) => Some(vec![in_tree(kata)]),
            None => {
                let attempted: Vec<String> = topic
                    .katas
                    .iter()
                    .filter(|k| tree == "solutions" || repo::has_an_attempt(&self.root, k))
                    .map(in_tree)
                    .collect();
                (!attempted.is_empty()).then_some(attempted)
            }
        }
    }

    /// Writes, under `dir`, the original version of each broken file: a kata's stub from git, or
    /// the committed version of any other file.
    fn lay_stand_ins(&self, dir: &Path, broken: &[Broken]) -> io::Result<()> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        for file in broken {
            let original = repo::original(&self.root, &file.file).map_err(|e| {
                io::Error::other(format!(
                    "{} does not compile, and its original version could not be found to stand in for it ({e}):\n\n{}",
                    file.file, file.error
                ))
            })?;
            let path = dir.join(&file.file);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, original)?;
        }
        Ok(())
    }

    /// Runs one topic's test binary with the filter and reads its results, named with the topic:
    /// the grader's, from the results file it is told of, and libtest's for the others.
    fn run_tests(&self, topic: &str, exe: &Path) -> io::Result<Vec<TestResult>> {
        let results_file = target_dir(&self.root).join("ipc-katas").join(format!("results-{topic}.jsonl"));
        if let Some(dir) = results_file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        match std::fs::remove_file(&results_file) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut command = Command::new(exe);
        command
            .current_dir(&self.root)
            .args(self.filter_in_topic())
            .env(RESULTS_ENV, &results_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.spawn(&mut command)?;
        let mut stderr = child.stderr.take().expect("piped");
        let stderr_thread = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut stdout = String::new();
        child.stdout.take().expect("piped").read_to_string(&mut stdout)?;
        let status = child.wait()?;
        let _ = stderr_thread.join();
        if self.shared.stopping.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "the run was stopped"));
        }
        let graded = match std::fs::read_to_string(&results_file) {
            Ok(text) => text.lines().filter_map(GradedResult::parse).collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut results = parse(&stdout);
        if results.is_empty() && !status.success() {
            return Err(io::Error::other(format!("the {topic} tests ended with {status} before reporting any test")));
        }
        for result in &mut results {
            result.name = format!("{topic}::{}", result.name);
        }
        Ok(with_graded(results, &graded))
    }
}

/// The error's primary span and its text as rustc prints it.
fn diagnostic(message: &serde_json::Value) -> Option<Diagnostic> {
    let spans = message["spans"].as_array()?;
    let span = spans.iter().find(|s| s["is_primary"] == true).or(spans.first())?;
    Some(Diagnostic {
        file: span["file_name"].as_str()?.to_string(),
        line: span["line_start"].as_u64().unwrap_or(0),
        column: span["column_start"].as_u64().unwrap_or(0),
        rendered: message["rendered"].as_str().unwrap_or("").trim_end().to_string(),
    })
}

/// The target directory cargo builds into.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// `dir/../x` becomes `x`, `./x` becomes `x`: paths as the compiler wrote them, made plain.
fn normalize(path: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for part in Path::new(path).components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// A compiler path as a path in the repository: `attempt/../katas/x.rs` is `katas/x.rs`, and
/// the set-aside copy's `…/out/katas/x.rs` is `katas/x.rs` too.
fn repo_relative(file: &str, root: &Path) -> String {
    let path = normalize(file);
    let path = path.strip_prefix(root).map(Path::to_path_buf).unwrap_or(path);
    let text = path.to_string_lossy().into_owned();
    for tree in ["katas/", "solutions/"] {
        if let Some(i) = text.find(&format!("/out/{tree}")) {
            return text[i + "/out/".len()..].to_string();
        }
    }
    text
}

/// The compiler's text with each file path in it made plain (see [`repo_relative`]).
fn clean_paths(text: &str, root: &Path) -> String {
    text.lines()
        .map(|line| match line.find("--> ") {
            Some(i) => {
                let (head, rest) = line.split_at(i + 4);
                let (file, position) = rest.split_once(':').unwrap_or((rest, ""));
                let position = if position.is_empty() { String::new() } else { format!(":{position}") };
                format!("{head}{}{position}", repo_relative(file, root))
            }
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads libtest's output: `test NAME ... ok|FAILED` lines, then each failed test's captured
/// output (what a test the grader never saw printed).
pub fn parse(stdout: &str) -> Vec<TestResult> {
    let mut results: BTreeMap<String, TestResult> = BTreeMap::new();
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("test ") else { continue };
        let Some((name, verdict)) = rest.rsplit_once(" ... ") else { continue };
        let passed = match verdict.trim() {
            "ok" => true,
            "FAILED" => false,
            _ => continue,
        };
        results.insert(
            name.to_string(),
            TestResult { name: name.to_string(), passed, kind: None, report: String::new(), unexplained: false },
        );
    }
    // The captured output of each failed test: from `---- NAME stdout ----` to the next such
    // line or to `failures:`.
    let mut current: Option<String> = None;
    for line in stdout.lines() {
        if let Some(name) = line.strip_prefix("---- ").and_then(|l| l.strip_suffix(" stdout ----")) {
            current = Some(name.to_string());
            continue;
        }
        if line == "failures:" {
            current = None;
            continue;
        }
        let Some(result) = current.as_ref().and_then(|name| results.get_mut(name)) else { continue };
        // proptest's own notice that it stopped shrinking (the grader caps it on purpose).
        if line.starts_with("proptest: Aborting shrinking") {
            continue;
        }
        if !(result.report.is_empty() && line.trim().is_empty()) {
            result.report.push_str(line);
            result.report.push('\n');
        }
    }
    for result in results.values_mut() {
        result.report = result.report.trim_end().to_string();
    }
    results.into_values().collect()
}

/// libtest's results (named with their topic) with the grader's outcome and report for each
/// test the grader finished. libtest's pass or fail stands: a test that failed after its grade
/// passed (a check of the test itself) is a failure the grader never saw.
fn with_graded(mut results: Vec<TestResult>, graded: &[GradedResult]) -> Vec<TestResult> {
    for result in &mut results {
        let Some(grade) = graded.iter().rev().find(|g| g.test == result.name) else { continue };
        if grade.kind == Kind::Pass && !result.passed {
            continue;
        }
        result.kind = Some(grade.kind);
        result.unexplained = grade.unexplained;
        if !result.passed {
            result.report = grade.report.clone();
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
running 3 tests
test child_to_parent::a_short_message_arrives_intact ... ok
test child_to_parent::empty_data_arrives_as_nothing ... FAILED
test ask_child::no_requests_get_no_answers ... FAILED

failures:

---- child_to_parent::empty_data_arrives_as_nothing stdout ----

pipes::child_to_parent::empty_data_arrives_as_nothing: HANG (5.0s)
    timed out after 5.0 s while reading

---- ask_child::no_requests_get_no_answers stdout ----

pipes::ask_child::no_requests_get_no_answers: NOT YET IMPLEMENTED (0.0s)
    not yet attempted

failures:
    child_to_parent::empty_data_arrives_as_nothing
";

    /// The grader's results file for SAMPLE (the ok test's line, the hang's; the third test
    /// is not graded), as `with_graded` reads it.
    fn graded() -> Vec<GradedResult> {
        let line = |test: &str, label: &str, text: &str| {
            let report = format!("{test}: {label} (5.0s)\n    {text}\n\n    kata:  pipes::child_to_parent");
            let json = serde_json::json!({"test": test, "label": label, "text": text, "report": report,
                "elapsed_s": 5.0, "signal": null, "phase": "reading", "unexplained": false});
            GradedResult::parse(&json.to_string()).unwrap()
        };
        vec![
            line("pipes::child_to_parent::a_short_message_arrives_intact", "OK", ""),
            line(
                "pipes::child_to_parent::empty_data_arrives_as_nothing",
                "HANG",
                "timed out after 5.0 s while reading",
            ),
        ]
    }

    fn results() -> Vec<TestResult> {
        let mut results = parse(SAMPLE);
        for result in &mut results {
            result.name = format!("pipes::{}", result.name);
        }
        with_graded(results, &graded())
    }

    #[test]
    fn the_grader_s_results_give_the_outcomes_and_libtest_the_tests_it_never_saw() {
        let results = results();
        assert_eq!(results.len(), 3);
        let find = |name: &str| results.iter().find(|r| r.name.ends_with(name)).unwrap();
        let hang = find("empty_data_arrives_as_nothing");
        assert!(!hang.passed);
        assert_eq!((hang.kind, hang.label()), (Some(Kind::Hang), "HANG"));
        assert!(hang.report.starts_with("pipes::child_to_parent::empty_data_arrives_as_nothing: HANG"));
        assert!(hang.report.ends_with("kata:  pipes::child_to_parent"), "{}", hang.report);
        let ok = find("a_short_message_arrives_intact");
        assert_eq!((ok.passed, ok.kind, ok.label()), (true, Some(Kind::Pass), "ok"));
        // Not in the results file: libtest's FAILED and what the test printed, never its words.
        let unseen = find("no_requests_get_no_answers");
        assert_eq!((unseen.passed, unseen.kind, unseen.label()), (false, None, "FAILED"));
        assert!(unseen.report.contains("NOT YET IMPLEMENTED (0.0s)"), "{}", unseen.report);
    }

    #[test]
    fn a_test_that_fails_after_its_grade_passed_is_a_failure_the_grader_never_saw() {
        let mut results = parse(SAMPLE);
        results.retain(|r| r.name.starts_with("child_to_parent::a_short"));
        results[0].passed = false;
        results[0].name = format!("pipes::{}", results[0].name);
        let results = with_graded(results, &graded());
        assert_eq!((results[0].kind, results[0].label()), (None, "FAILED"));
    }

    #[test]
    fn a_kata_is_solved_failing_or_not_started() {
        let mut results = results();
        let not_started = TestResult { kind: Some(Kind::NotImplemented), ..results[0].clone() };
        results[0] = not_started;
        let refs: Vec<&TestResult> = results.iter().collect();
        assert_eq!(State::of(&refs[..1]), State::NotStarted);
        assert_eq!(State::of(&[&results[1]]), State::Solved);
        assert_eq!(State::of(&refs), State::Failing);
        assert_eq!(State::of(&[]), State::NotStarted);
    }

    #[test]
    fn compiler_paths_become_repository_paths() {
        let root = Path::new("/home/me/ipc-katas");
        assert_eq!(repo_relative("attempt/../katas/fifos/records.rs", root), "katas/fifos/records.rs");
        assert_eq!(repo_relative("/home/me/ipc-katas/attempt/../katas/x/y.rs", root), "katas/x/y.rs");
        assert_eq!(
            repo_relative("/home/me/ipc-katas/target/debug/build/ipc-katas-attempt-0123/out/katas/x/y.rs", root),
            "katas/x/y.rs"
        );
        assert_eq!(repo_relative("tests/pipes.rs", root), "tests/pipes.rs");
        let text = "error: expected `;`\n  --> attempt/../katas/fifos/records.rs:12:5\n   |";
        assert_eq!(clean_paths(text, root), "error: expected `;`\n  --> katas/fifos/records.rs:12:5\n   |");
    }
}
