//! Kata interview::q3_named_vs_anonymous: A FIFO outlives its maker; a pipe ends with its last descriptor.
//!
//! Grade it: `cargo test --test interview q3_named_vs_anonymous::`
//! Stuck? `cargo run -- hint interview::q3_named_vs_anonymous`
//! Afterwards, read the model answer: `solutions/interview/q3_named_vs_anonymous.md`.
//!
//! What a name changes: a FIFO outlives the process that made it and lets strangers meet; an
//! anonymous pipe lives exactly as long as its descriptors.
//!
//! Read first: `man 7 fifo`, `man 3 mkfifo`, `man 2 unlink`, `man 7 pipe`, `man 2 pipe`,
//! `man 5 proc` (/proc/self/fd: what each descriptor refers to), `man 2 fstat`.
//!
//! The grader checks the kernel's side of each answer: the FIFO you make from a child that has
//! exited (and been reaped) is a FIFO, mode 0600, carries bytes between two unrelated programs,
//! holds no data afterwards and is still there until [`remove_fifo`]; errors from the child
//! reach the parent; [`pipe_inode`] agrees with `fstat`; and the pipe of [`gather`] sees
//! end-of-file only when the last writer, in every process, has closed.

use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;

/// Forks a child that makes a FIFO at `path` (mode 0600, only if the path is free) and exits;
/// reaps it, and returns its pid. The FIFO stays after the child is gone.
///
/// Errors: what `mkfifo` failed with in the child, as the same `io::Error` kind in the parent
/// (a taken path → `AlreadyExists`, a missing directory → `NotFound`); the child's exit status
/// is one way to carry it.
pub fn create_fifo_in_child(path: &Path) -> io::Result<i32> {
    todo!("make the FIFO {} in a child that exits", path.display())
}

/// Removes the FIFO at `path` (`unlink`). Processes that have it open keep their pipe; nobody
/// can open it by name any more.
///
/// Errors: nothing at `path` → `NotFound`; something that is not a FIFO (a regular file, a
/// directory) → `InvalidInput`, and it is left alone.
pub fn remove_fifo(path: &Path) -> io::Result<()> {
    todo!("remove the FIFO {}", path.display())
}

/// The inode of the anonymous pipe behind `fd`, read from `/proc/self/fd/<fd>`, which links to
/// `pipe:[<inode>]` for a pipe.
///
/// Errors: `fd` is not an anonymous pipe (a regular file, or a FIFO, which /proc names by its
/// path) → `InvalidInput`.
pub fn pipe_inode(fd: BorrowedFd<'_>) -> io::Result<u64> {
    todo!("the pipe inode of descriptor {fd:?}")
}

/// Makes one anonymous pipe and forks `writers` children; child `i` writes `record` once, in
/// one `write` (it is at most `PIPE_BUF` bytes, so it arrives whole), and exits. The parent
/// reads until end-of-file, reaps every child, and returns everything it read.
///
/// Errors: `record` longer than `PIPE_BUF` (4096) → `InvalidInput`, before any fork.
pub fn gather(writers: usize, record: &[u8]) -> io::Result<Vec<u8>> {
    todo!("gather {writers} records of {} bytes through one anonymous pipe", record.len())
}
