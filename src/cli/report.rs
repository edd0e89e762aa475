//! Grading with a progress indicator, and the per-kata report that `check`, `watch` and
//! `mock --submit` print.

use std::io::{self, Write};
use std::path::Path;

use std::time::Duration;

use ipc_katas::catalogue::Kata;
use ipc_katas::grader::Kind;

use super::grading::{self, Broken, Run, State, TestResult};
use super::ui::Ui;

/// Grades the tests under `filter` (`pipes::child_to_parent::`, `pipes::`, or all with `None`),
/// saying on a terminal what it is doing: the first run compiles every crate first.
pub fn grade(ui: &Ui, root: &Path, what: &str, filter: Option<&str>, solutions: bool) -> io::Result<Run> {
    let label = format!("grading {what} … ");
    print!("{}", ui.dim(&label));
    io::stdout().flush()?;
    let mut said_compiling = false;
    let run = grading::run(root, filter, solutions, |elapsed, doing| {
        let compiling = doing.starts_with("compiling");
        if ui.is_terminal() {
            let first = if compiling && elapsed > Duration::from_secs(10) {
                " (the first build of the tests takes about a minute on 2 CPUs; later ones seconds)"
            } else {
                ""
            };
            print!("\r\x1b[K{}", ui.dim(&format!("{label}{:.0}s, {doing}{first}", elapsed.as_secs_f64())));
            let _ = io::stdout().flush();
        } else if compiling && !said_compiling && elapsed > Duration::from_secs(2) {
            said_compiling = true;
            print!("{}", ui.dim("compiling the tests (the first time takes about a minute) … "));
            let _ = io::stdout().flush();
        }
    });
    if ui.is_terminal() {
        print!("\r\x1b[K{}", ui.dim(&label));
    }
    let run = run?;
    println!("{}", ui.dim(&format!("{} tests in {:.1}s", run.results.len(), run.elapsed.as_secs_f64())));
    for broken in &run.broken {
        println!(
            "{}",
            ui.dim(&format!(
                "  {} does not compile: graded with its original stub in its place, your file is untouched",
                broken.file
            ))
        );
    }
    Ok(run)
}

/// Grades one kata.
pub fn grade_kata(ui: &Ui, root: &Path, kata: &Kata, solutions: bool) -> io::Result<Run> {
    grade(ui, root, kata.id, Some(&format!("{}::", kata.id)), solutions)
}

/// What to tell the learner after a failure: the next hint, or nothing (in a mock interview).
pub enum NextHint {
    Level(usize),
    Hidden,
}

/// One kata's tests, one line each, then what to do: read the answer, start, or the reports of
/// the failed tests and the next hint. Returns the kata's state.
pub fn kata_report(ui: &Ui, kata: &Kata, run: &Run, next_hint: NextHint) -> State {
    let tests = run.of_kata(kata);
    let state = run.state(kata);
    println!("\n{} {} — {}", ui.state(state), ui.bold(kata.id), kata.title);
    if let Some(broken) = run.broken(kata) {
        does_not_compile(kata, broken);
        return state;
    }
    for test in &tests {
        let name = test.name.strip_prefix(kata.id).and_then(|n| n.strip_prefix("::")).unwrap_or(&test.name);
        println!("    {} {name}", ui.label(test));
    }
    match state {
        State::Solved => {
            println!("  All {} tests pass. The reference answer: cargo run -- solution {}", tests.len(), kata.id)
        }
        State::NotStarted => println!("  Not attempted yet: open {} and replace the todo!().", kata.file()),
        State::Failing => explain(ui, kata, &tests, next_hint),
        State::DoesNotCompile => {}
    }
    state
}

/// The reports of the failed tests, the most specific diagnosis first (see [`specificity`]),
/// each distinct cause once: a report whose cause was already shown (three tests that hang the
/// same way) is one line naming the test. At most three causes in full; then the next hint.
fn explain(ui: &Ui, kata: &Kata, tests: &[&TestResult], next_hint: NextHint) {
    let mut failed: Vec<&TestResult> =
        tests.iter().copied().filter(|t| !t.passed && t.kind != Some(Kind::NotImplemented)).collect();
    // A stable sort: tests of the same specificity stay in name order.
    failed.sort_by_key(|t| specificity(t));
    let mut causes: Vec<(String, &TestResult)> = Vec::new();
    let mut same: Vec<(&TestResult, usize)> = Vec::new();
    for test in &failed {
        let key = cause(test);
        match causes.iter().position(|(k, _)| *k == key) {
            Some(i) => same.push((test, i)),
            None => causes.push((key, test)),
        }
    }
    for (i, (_, test)) in causes.iter().take(3).enumerate() {
        println!();
        for line in body(&test.report) {
            println!("  {line}");
        }
        for (other, _) in same.iter().filter(|(_, c)| *c == i) {
            println!("  {}", ui.dim(&format!("also {}, for the same cause: {}", other.label(), short_name(other))));
        }
    }
    if causes.len() > 3 {
        let more = causes.len() - 3;
        let tests: usize = more + same.iter().filter(|(_, c)| *c >= 3).count();
        println!("\n  {more} more causes in {tests} more failing tests; all of them: {}", kata.test_command());
    }
    match next_hint {
        NextHint::Level(shown) if shown < kata.hints.len() => {
            let text = format!("Hint {} of {} is waiting: cargo run -- hint {}", shown + 1, kata.hints.len(), kata.id);
            println!("\n  {}", ui.dim(&text));
        }
        NextHint::Level(_) => {}
        NextHint::Hidden => println!("\n  {}", ui.dim("Hints are hidden during a mock interview.")),
    }
}

/// The lines of a grader report that `check` shows: up to the kata's footer (`kata: …`).
fn body(report: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = report.lines().take_while(|l| !l.trim_start().starts_with("kata:")).collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines
}

/// The test's name inside its kata, as the list above the reports shows it.
fn short_name(test: &TestResult) -> &str {
    // `topic::kata::test` without `topic::kata::`.
    let parts: Vec<&str> = test.name.splitn(3, "::").collect();
    parts.last().copied().unwrap_or(&test.name)
}

/// How specific a failure's diagnosis is, most specific first: a wrong answer or a crash names
/// what the attempt returned or where it died; a leak names what was left; a hang whose report
/// says what the processes were doing comes before one that only lists the usual causes.
fn specificity(test: &TestResult) -> u8 {
    match test.kind {
        Some(Kind::WrongAnswer | Kind::Crash) => 0,
        Some(Kind::Leak) => 1,
        Some(Kind::Hang) if !test.unexplained => 2,
        Some(Kind::Hang) => 3,
        _ => 4,
    }
}

/// What a report says about the cause, without what differs from test to test: the header line
/// (the test's name and time) and the phase a hang happened in. Two reports with the same cause
/// have the same text here.
fn cause(test: &TestResult) -> String {
    let lines = body(&test.report);
    let mut text = test.label().to_string();
    for line in lines.iter().skip(1) {
        let line = line.trim();
        // `timed out after 5.0 s while <phase>.`: the phase is the test's own step.
        // `with input …:`: the input a property failed on, which differs from case to case.
        if line.starts_with("timed out after ") || line.starts_with("with input ") {
            continue;
        }
        text.push('\n');
        text.push_str(&without_numbers(line));
    }
    text
}

/// `line` with what differs from run to run made alike: every number (pids, descriptors, pipe
/// inodes, ids, sizes) and the random part of the grader's temporary directories.
fn without_numbers(line: &str) -> String {
    const TEMP: &str = "/tmp/ipc-katas-";
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(TEMP) {
        out.push_str(&rest[..at + TEMP.len()]);
        rest = &rest[at + TEMP.len()..];
        rest = &rest[rest.find(['/', ' ', ')']).unwrap_or(rest.len())..];
        out.push('…');
    }
    out.push_str(rest);
    let mut alike = String::with_capacity(out.len());
    for c in out.chars() {
        if c.is_ascii_digit() {
            if !alike.ends_with('#') {
                alike.push('#');
            }
        } else {
            alike.push(c);
        }
    }
    alike
}

/// A kata whose file does not compile: the compiler's first error in full, and where.
fn does_not_compile(kata: &Kata, broken: &Broken) {
    let more = match broken.errors {
        1 => String::new(),
        n => format!(" (and {} more; all of them: cargo test --no-run)", n - 1),
    };
    println!("  {} does not compile: the first error is at {}{more}\n", broken.file, broken.at);
    for line in broken.error.lines() {
        println!("    {line}");
    }
    println!(
        "\n  Its tests cannot run until it compiles; the other katas were graded with its original stub in its\n  \
         place (your file is untouched). Fix the error, then: cargo run -- check {}",
        kata.id
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, label: &str, text: &str) -> TestResult {
        TestResult {
            name: format!("wait::{name}"),
            passed: false,
            kind: Kind::from_label(label),
            report: format!("signals::wait::{name}: {label} (5.0s)\n    {text}\n\n    kata:  signals::wait"),
            unexplained: text.contains("Usual causes:"),
        }
    }

    #[test]
    fn the_most_specific_diagnosis_comes_first_and_a_cause_is_told_once() {
        let hang = "timed out after 5.0 s while round {n}.\n    Usual causes:\n      - a missed wake-up";
        let tests = [
            result("a", "HANG", &hang.replace("{n}", "1")),
            result("b", "HANG", &hang.replace("{n}", "2")),
            result("c", "HANG", &hang.replace("{n}", "3")),
            result("d", "WRONG ANSWER", "the parent waited in pause()"),
        ];
        let mut sorted: Vec<&TestResult> = tests.iter().collect();
        sorted.sort_by_key(|t| specificity(t));
        assert_eq!(sorted[0].name, "wait::d");
        assert_eq!(cause(&tests[0]), cause(&tests[1]));
        assert_ne!(cause(&tests[0]), cause(&tests[3]));
        assert_eq!(short_name(&tests[2]), "c");
        let a = result("e", "HANG", "timed out\n    the caller (pid 12) reads fd 3 (/tmp/ipc-katas-AbC1/fifo)");
        let b = result("f", "HANG", "timed out\n    the caller (pid 345) reads fd 4 (/tmp/ipc-katas-x9Yz/fifo)");
        assert_eq!(cause(&a), cause(&b));
        // A hang the grader explained (its fact, not its words) comes before one it could not.
        assert!(specificity(&a) < specificity(&tests[0]));
    }
}
