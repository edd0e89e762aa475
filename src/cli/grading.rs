//! Grading for the CLI: runs the graded tests with `cargo test` and reads what libtest and the
//! grader printed. `cargo test` stays the grader; this only runs it and sorts its results.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use ipc_katas::catalogue::Kata;

/// One graded test's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    /// The test's path inside its topic's test binary, e.g. `child_to_parent::empty_data_…`.
    pub name: String,
    pub passed: bool,
    /// The grader's outcome label (`HANG`, `WRONG ANSWER`, …), for a failed test.
    pub label: Option<String>,
    /// The grader's report, for a failed test.
    pub report: String,
}

/// Where a kata stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Solved,
    Failing,
    NotStarted,
}

impl State {
    pub fn of(tests: &[&TestResult]) -> State {
        if !tests.is_empty() && tests.iter().all(|t| t.passed) {
            State::Solved
        } else if tests.iter().all(|t| t.label.as_deref() == Some("NOT YET IMPLEMENTED")) {
            State::NotStarted
        } else {
            State::Failing
        }
    }
}

/// The results of one topic's test binary.
pub struct TopicRun {
    pub results: Vec<TestResult>,
    pub elapsed: Duration,
}

impl TopicRun {
    /// The results of one kata's tests.
    pub fn of_kata(&self, kata: &Kata) -> Vec<&TestResult> {
        let prefix = format!("{}::", kata.name());
        self.results.iter().filter(|t| t.name.starts_with(&prefix)).collect()
    }
}

/// A grading run under way: `cargo test` in its own process group, so that stopping it stops
/// the test binary and the grader's processes with it.
pub struct Grading {
    pgid: i32,
    done: mpsc::Receiver<io::Result<TopicRun>>,
    finished: bool,
}

impl Grading {
    /// Starts `cargo test --test <topic>` in `root`, optionally only the tests under `filter`.
    pub fn start(root: &Path, topic: &str, filter: Option<&str>, solutions: bool) -> io::Result<Grading> {
        let started = Instant::now();
        let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        command.current_dir(root).args(["test", "--no-fail-fast", "--test", topic]);
        if solutions {
            command.args(["--features", "solutions"]);
        }
        if let Some(filter) = filter {
            command.arg(filter);
        }
        command.process_group(0).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = command.spawn()?;
        let pgid = i32::try_from(child.id()).map_err(io::Error::other)?;
        let (tx, done) = mpsc::channel();
        let topic = topic.to_string();
        thread::spawn(move || {
            let result = child.wait_with_output().and_then(|output| read_run(&topic, &output, started));
            let _ = tx.send(result);
        });
        Ok(Grading { pgid, done, finished: false })
    }

    /// The results, if the run ends within `timeout`.
    pub fn wait_for(&mut self, timeout: Duration) -> Option<io::Result<TopicRun>> {
        let result = match self.done.recv_timeout(timeout) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => return None,
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(io::Error::other("the grading thread died")),
        };
        self.finished = true;
        Some(result)
    }

    /// Stops the run: kills `cargo test` and everything in its process group.
    pub fn stop(&mut self) {
        if !self.finished {
            let _ = killpg(Pid::from_raw(self.pgid), Signal::SIGKILL);
            let _ = self.done.recv_timeout(Duration::from_secs(5));
            self.finished = true;
        }
    }
}

impl Drop for Grading {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `cargo test --test <topic>` in `root` and waits for it; `tick` is called about ten times
/// a second meanwhile, with the time so far (for a progress indicator).
pub fn run_topic(
    root: &Path,
    topic: &str,
    filter: Option<&str>,
    solutions: bool,
    mut tick: impl FnMut(Duration),
) -> io::Result<TopicRun> {
    let started = Instant::now();
    let mut grading = Grading::start(root, topic, filter, solutions)?;
    loop {
        if let Some(result) = grading.wait_for(Duration::from_millis(100)) {
            return result;
        }
        tick(started.elapsed());
    }
}

fn read_run(topic: &str, output: &Output, started: Instant) -> io::Result<TopicRun> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let results = parse(&stdout);
    if results.is_empty() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
        let why = if stderr.contains("could not compile") {
            "the code does not compile, so no kata can be graded (all katas are one crate). Fix the first \
             error below, then grade again"
                .to_string()
        } else {
            format!("`cargo test --test {topic}` ran no test")
        };
        return Err(io::Error::other(format!("{why}:\n{}", tail.join("\n"))));
    }
    Ok(TopicRun { results, elapsed: started.elapsed() })
}

/// Reads libtest's output: `test NAME ... ok|FAILED` lines, then each failure's captured output,
/// which holds the grader's report (`topic::NAME: LABEL (1.2s)` and its text).
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
            TestResult { name: name.to_string(), passed, label: None, report: String::new() },
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
        if result.label.is_none() {
            result.label = label_of(line);
        }
        if !(result.report.is_empty() && line.trim().is_empty()) {
            result.report.push_str(line);
            result.report.push('\n');
        }
    }
    for result in results.values_mut() {
        result.report = result.report.trim_end().to_string();
        if !result.passed && result.label.is_none() {
            result.label = Some("FAILED".to_string());
        }
    }
    results.into_values().collect()
}

const LABELS: &[&str] = &["WRONG ANSWER", "CRASH", "HANG", "LEAK", "NOT YET IMPLEMENTED"];

/// The outcome label of a grader report's first line: `pipes::x::y: HANG (5.0s)`.
fn label_of(line: &str) -> Option<String> {
    let (_, rest) = line.rsplit_once(": ")?;
    let label = rest.rsplit_once(" (")?.0;
    LABELS.contains(&label).then(|| label.to_string())
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

    #[test]
    fn libtest_output_becomes_results_with_labels_and_reports() {
        let results = parse(SAMPLE);
        assert_eq!(results.len(), 3);
        let hang = results.iter().find(|r| r.name == "child_to_parent::empty_data_arrives_as_nothing").unwrap();
        assert!(!hang.passed);
        assert_eq!(hang.label.as_deref(), Some("HANG"));
        assert!(hang.report.starts_with("pipes::child_to_parent::empty_data_arrives_as_nothing: HANG"));
        assert!(hang.report.ends_with("timed out after 5.0 s while reading"));
        let ok = results.iter().find(|r| r.passed).unwrap();
        assert_eq!(ok.label, None);
    }

    #[test]
    fn a_kata_is_solved_failing_or_not_started() {
        let results = parse(SAMPLE);
        let refs: Vec<&TestResult> = results.iter().collect();
        assert_eq!(State::of(&refs[..1]), State::NotStarted);
        assert_eq!(State::of(&[&results[1]]), State::Solved);
        assert_eq!(State::of(&refs), State::Failing);
        assert_eq!(State::of(&[]), State::NotStarted);
    }
}
