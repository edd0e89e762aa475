//! The practice CLI's parts: running the grader, the learner's progress file, the terminal.

pub mod grading;
pub mod state;
pub mod ui;
