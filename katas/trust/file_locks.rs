//! Kata trust::file_locks: One lock, three ways: fcntl record locks, open-file-description locks and flock.
//!
//! Grade it: `cargo test --test trust file_locks::`
//! Stuck? `cargo run -- hint trust::file_locks`
//!
//! A lock file is how unrelated programs agree that only one of them runs a job, and it has one
//! property no lock in shared memory has: the kernel releases it when its holder dies, however it
//! dies. Linux offers three kinds, and they differ in who owns the lock:
//! - a record lock (`fcntl(F_SETLK)`, POSIX) belongs to the *process*. Closing *any* descriptor of
//!   the file in that process drops it, even one a library opened and closed without telling you,
//!   and a forked child does not get it;
//! - an open-file-description lock (`fcntl(F_OFD_SETLK)`, Linux 3.15) and a `flock` lock belong to
//!   the *open file* that `open` made: only the last close of it drops them, and a forked child,
//!   which shares that open file, shares the lock.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

/// The three kinds of advisory lock Linux offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    /// A POSIX record lock, `fcntl(F_SETLK)`: owned by the process.
    Record,
    /// An open-file-description lock, `fcntl(F_OFD_SETLK)`: owned by the open file.
    OpenFile,
    /// A BSD lock, `flock(LOCK_EX)`: owned by the open file.
    Flock,
}

/// An exclusive lock of a whole file, held until it is dropped.
///
/// The fields are a suggestion: change them as you like (the grader uses the methods, `as_fd`
/// and the drop).
#[derive(Debug)]
pub struct FileLock {
    file: File,
    kind: LockKind,
}

impl FileLock {
    /// Opens the existing file `path` for reading and writing (a write lock needs a descriptor
    /// open for writing) and takes an exclusive lock of all of it (byte 0 to any end), of `kind`,
    /// without waiting: `Ok(None)` at once when another holder has it. A record lock is the
    /// process's: a second one taken in the same process is granted, and is the same lock.
    /// Dropping the `FileLock` releases the lock and closes the file.
    ///
    /// Errors: a file that does not exist is `NotFound` (nothing is created); the rest as `open`
    /// and the lock call say.
    ///
    /// Read first: `man 2 fcntl` (Advisory record locking; Open file description locks),
    /// `man 2 flock`.
    ///
    /// The grader takes the same file from other processes and programs, closes another
    /// descriptor of it in yours, forks, kills a holder with SIGKILL, and reads `/proc/locks`.
    pub fn try_lock(path: &Path, kind: LockKind) -> io::Result<Option<FileLock>> {
        todo!("open {path:?} and take a {kind:?} lock of all of it, without waiting")
    }

    /// Which kind of lock this is.
    pub fn kind(&self) -> LockKind {
        todo!("the kind of the lock on {:?}, {:?}", self.file, self.kind)
    }
}

impl AsFd for FileLock {
    /// The descriptor the lock was taken on.
    fn as_fd(&self) -> BorrowedFd<'_> {
        todo!("the descriptor of {:?}", self.file)
    }
}
