//! Grading with a progress indicator, and the per-kata report that `check`, `watch` and
//! `mock --submit` print.

use std::io::{self, Write};
use std::path::Path;

use ipc_katas::catalogue::{Kata, Topic};

use super::grading::{self, State, TestResult, TopicRun};
use super::ui::Ui;

/// Grades one topic (or the tests under `filter`), showing the time so far on a terminal:
/// grading runs `cargo test`, which may compile first.
pub fn grade_topic(ui: &Ui, root: &Path, topic: &Topic, filter: Option<&str>, solutions: bool) -> io::Result<TopicRun> {
    let label = format!("grading {} … ", topic.id);
    print!("{}", ui.dim(&label));
    io::stdout().flush()?;
    let run = grading::run_topic(root, topic.id, filter, solutions, |elapsed| {
        if ui.is_terminal() {
            print!("\r{}", ui.dim(&format!("{label}{:.0}s", elapsed.as_secs_f64())));
            let _ = io::stdout().flush();
        }
    });
    if ui.is_terminal() {
        print!("\r\x1b[K{}", ui.dim(&label));
    }
    let run = run?;
    println!("{}", ui.dim(&format!("{} tests in {:.1}s", run.results.len(), run.elapsed.as_secs_f64())));
    Ok(run)
}

/// What to tell the learner after a failure: the next hint, or nothing (in a mock interview).
pub enum NextHint {
    Level(usize),
    Hidden,
}

/// One kata's tests, one line each, then what to do: read the answer, start, or the reports of
/// the failed tests and the next hint. Returns the kata's state.
pub fn kata_report(ui: &Ui, kata: &Kata, run: &TopicRun, next_hint: NextHint) -> State {
    let tests = run.of_kata(kata);
    let state = State::of(&tests);
    println!("\n{} {} — {}", ui.state(state), ui.bold(kata.id), kata.title);
    for test in &tests {
        let name = test.name.split_once("::").map_or(test.name.as_str(), |(_, n)| n);
        println!("    {} {name}", ui.label(test.label.as_deref().unwrap_or("ok")));
    }
    match state {
        State::Solved => {
            println!("  All {} tests pass. The reference answer: cargo run -- solution {}", tests.len(), kata.id)
        }
        State::NotStarted => println!("  Not attempted yet: open {} and replace the todo!().", kata.file),
        State::Failing => explain(ui, kata, &tests, next_hint),
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
