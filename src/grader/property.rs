//! Property tests whose every case runs in its own sandbox, with bounded cases and shrinking.
//!
//! A hang makes every later case fail at once with the same report, so shrinking costs
//! nothing and a property fails within one deadline (docs/grading.md: proptest shrinking multiplies a
//! hang). A `todo!()` does the same. Wrong answers and crashes are shrunk to a small input.

use std::cell::RefCell;
use std::fmt::Debug;
use std::time::Instant;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use super::{Failure, Grade, Outcome, Sandbox};

/// How many shrinking steps a failing property may take; each one is a sandboxed run.
pub const MAX_SHRINK_ITERS: u32 = 24;

impl Grade {
    /// Checks `body` for `cases` inputs drawn from `strategy`, each in a fresh sandbox.
    /// Panics with the report of the smallest failing input found.
    pub fn property<S>(self, cases: u32, strategy: S, body: impl Fn(&mut Sandbox, &S::Value) -> Result<(), Failure>)
    where
        S: Strategy,
        S::Value: Debug,
    {
        let started = Instant::now();
        let config = Config {
            cases,
            max_shrink_iters: MAX_SHRINK_ITERS,
            // The grader, not proptest, owns the tree: no regression files in the learner's repo.
            failure_persistence: None,
            ..Config::default()
        };
        let fatal: RefCell<Option<(Outcome, String)>> = RefCell::new(None);
        let mut runner = TestRunner::new(config);
        let result = runner.run(&strategy, |input| {
            if fatal.borrow().is_some() {
                // Shrinking a hang or a todo!() teaches nothing and costs a deadline per step:
                // every later input "passes", so proptest keeps the first failing one.
                return Ok(());
            }
            let outcome = self.outcome(|s| body(s, &input));
            match outcome {
                Outcome::Pass => Ok(()),
                Outcome::Hang(_) | Outcome::NotImplemented(_) => {
                    *fatal.borrow_mut() = Some((outcome, format!("{input:?}")));
                    Err(TestCaseError::fail("fatal"))
                }
                other => Err(TestCaseError::fail(format!("{}{}", other.code() as char, other.text()))),
            }
        });
        let outcome = match (result, fatal.into_inner()) {
            (Ok(()), _) => Outcome::Pass,
            (Err(_), Some((outcome, input))) => with_input(outcome, &format!("with input {input}")),
            (Err(TestError::Fail(reason, minimal)), None) => {
                let text = reason.message().to_string();
                let code = text.bytes().next().unwrap_or(b'C');
                let outcome = Outcome::from_code(code, text.get(1..).unwrap_or("").to_string());
                with_input(outcome, &format!("with input {minimal:?} (the smallest failing input found)"))
            }
            (Err(TestError::Abort(reason)), None) => Outcome::Crash(format!("the property was aborted: {reason}")),
        };
        self.finish(&outcome, started.elapsed());
    }
}

fn with_input(outcome: Outcome, input: &str) -> Outcome {
    let text = format!("{input}:\n{}", outcome.text());
    Outcome::from_code(outcome.code(), text)
}
