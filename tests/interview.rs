//! Graded tests of the interview topic: `cargo test --test interview`.
//!
//! Each of the five classic questions is one or two katas; their tests make the answer concrete.
