//! ipc-katas: practise Unix inter-process communication, graded by `cargo test`.
//!
//! The kata modules (`pipes`, `fifos`, …) come from `katas/` by default, the learner's
//! attempts, and from `solutions/` with `--features solutions`, the reference answers. Both
//! trees declare the same modules and public signatures; graded tests only use this library.
//!
//! - [`catalogue`]: every kata, its files, its tests and its hints.
//! - [`grader`]: the sandbox that runs graded tests and explains what went wrong.

pub mod catalogue;
pub mod grader;

#[cfg_attr(not(feature = "solutions"), path = "../katas/mod.rs")]
#[cfg_attr(feature = "solutions", path = "../solutions/mod.rs")]
mod attempt;

pub use attempt::*;

/// Which tree this build grades: `"katas"` or `"solutions"`.
pub const GRADING: &str = if cfg!(feature = "solutions") { "solutions" } else { "katas" };
