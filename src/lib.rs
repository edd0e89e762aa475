//! ipc-katas: practise Unix inter-process communication, graded by `cargo test`.
//!
//! This package is the grader, the catalogue and the practice CLI. It never depends on the kata
//! code: the learner's attempt (`katas/`, or `solutions/` with `--features solutions`) is the
//! `katas` crate in `attempt/`, which only the graded tests (`tests/graded.rs`) use. So the CLI
//! builds and runs whatever state the katas are in.
//!
//! - [`catalogue`]: every kata, its files, its tests and its hints.
//! - [`grader`]: the sandbox that runs graded tests and explains what went wrong.
//! - [`kit`]: what graded tests share beyond the sandbox: watching a call wait, the kernel's tables,
//!   tagged arrivals, objects the test owns.

pub mod catalogue;
pub mod grader;
pub mod kit;
