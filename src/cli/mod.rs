//! The practice CLI's parts: running the grader and reporting on it, the learner's progress
//! file, the terminal, the file watcher and the mock interview.

pub mod grading;
pub mod mock;
pub mod repo;
pub mod report;
pub mod state;
pub mod ui;
pub mod watch;
