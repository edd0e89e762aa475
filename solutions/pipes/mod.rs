//! Anonymous pipes: `pipe`, `fork`, `dup2`, `exec`. A pipe is a one-way byte stream that the
//! kernel buffers (64 KiB by default on Linux, `man 7 pipe`); a reader sees end-of-file only
//! when every write end, in every process, is closed.
//!
//! This file is the same in `katas/` and `solutions/`: edit the kata files beside it.

mod ask_child;
mod broken_pipe;
mod child_to_parent;
mod pipeline;

pub use ask_child::ask_child;
pub use broken_pipe::broken_pipe;
pub use child_to_parent::child_to_parent;
pub use pipeline::pipeline;
