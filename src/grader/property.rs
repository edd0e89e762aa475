//! Property tests whose every case runs in its own sandbox, with bounded cases and shrinking.
//!
//! A hang makes every later case fail at once with the same report, so shrinking costs
//! nothing and a property fails within one deadline (docs/grading.md: proptest shrinking multiplies a
//! hang). A `todo!()` does the same. Wrong answers and crashes are shrunk to a small input.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Debug;
use std::time::Instant;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use super::{Failure, Grade, Outcome, Sandbox, Verdict};

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
        let fatal: RefCell<Option<(Verdict, String)>> = RefCell::new(None);
        // The verdict of each failing input, by how the input prints: proptest hands back the
        // smallest failing input and a message, and the message carries no verdict.
        let failed: RefCell<HashMap<String, Verdict>> = RefCell::default();
        let mut runner = TestRunner::new(config);
        let result = runner.run(&strategy, |input| {
            if fatal.borrow().is_some() {
                // Shrinking a hang or a todo!() teaches nothing and costs a deadline per step:
                // every later input "passes", so proptest keeps the first failing one.
                return Ok(());
            }
            let verdict = self.verdict(|s| body(s, &input));
            match verdict.outcome() {
                Outcome::Pass => Ok(()),
                Outcome::Hang(_) | Outcome::NotImplemented(_) => {
                    *fatal.borrow_mut() = Some((verdict, format!("{input:?}")));
                    Err(TestCaseError::fail("fatal"))
                }
                _ => {
                    let reason = verdict.outcome().label();
                    failed.borrow_mut().insert(format!("{input:?}"), verdict);
                    Err(TestCaseError::fail(reason))
                }
            }
        });
        let verdict = match (result, fatal.into_inner()) {
            (Ok(()), _) => Verdict::new(Outcome::Pass),
            (Err(_), Some((verdict, input))) => with_input(verdict, &format!("with input {input}")),
            (Err(TestError::Fail(reason, minimal)), None) => {
                let input = format!("{minimal:?}");
                match failed.into_inner().remove(&input) {
                    Some(verdict) => {
                        with_input(verdict, &format!("with input {input} (the smallest failing input found)"))
                    }
                    None => Verdict::new(Outcome::Crash(format!("the property failed ({reason}) with input {input}"))),
                }
            }
            (Err(TestError::Abort(reason)), None) => {
                Verdict::new(Outcome::Crash(format!("the property was aborted: {reason}")))
            }
        };
        self.finish(&verdict, started.elapsed());
    }
}

fn with_input(verdict: Verdict, input: &str) -> Verdict {
    verdict.map_text(|text| format!("{input}:\n{text}"))
}
