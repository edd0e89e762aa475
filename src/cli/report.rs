//! Grading with a progress indicator, and the per-kata report that `check`, `watch` and
//! `mock --submit` print.

use std::io::{self, Write};
use std::path::Path;

use std::time::Duration;

use ipc_katas::catalogue::Kata;

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
                " (the first build of the tests takes about 2 minutes on 2 CPUs; later ones a few seconds)"
            } else {
                ""
            };
            print!("\r\x1b[K{}", ui.dim(&format!("{label}{:.0}s, {doing}{first}", elapsed.as_secs_f64())));
            let _ = io::stdout().flush();
        } else if compiling && !said_compiling && elapsed > Duration::from_secs(2) {
            said_compiling = true;
            print!("{}", ui.dim("compiling the tests (the first time takes about 2 minutes) … "));
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
        println!("    {} {name}", ui.label(test.label.as_deref().unwrap_or("ok")));
    }
    match state {
        State::Solved => {
            println!("  All {} tests pass. The reference answer: cargo run -- solution {}", tests.len(), kata.id)
        }
        State::NotStarted => println!("  Not attempted yet: open {} and replace the todo!().", kata.file),
        State::Failing => explain(ui, kata, &tests, next_hint),
        State::DoesNotCompile => {}
    }
    state
}

/// The reports of the failed tests (the first three in full) and the next hint to read.
fn explain(ui: &Ui, kata: &Kata, tests: &[&TestResult], next_hint: NextHint) {
    let failed: Vec<_> =
        tests.iter().filter(|t| !t.passed && t.label.as_deref() != Some("NOT YET IMPLEMENTED")).collect();
    for test in failed.iter().take(3) {
        println!();
        for line in test.report.lines().take_while(|l| !l.trim_start().starts_with("kata:")) {
            println!("  {line}");
        }
    }
    if failed.len() > 3 {
        println!("\n  {} more failing; all of them: {}", failed.len() - 3, kata.test_command());
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
