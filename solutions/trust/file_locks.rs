//! Answer to kata trust::file_locks: One lock, three ways: fcntl record locks, open-file-description locks and flock.
//!
//! All three are advisory, whole-file and exclusive here, and all three are released by the kernel
//! when their holder dies. They differ in who owns them (`man 2 fcntl`, Advisory record locking
//! and Open file description locks; `man 2 flock`):
//! - a record lock (`F_SETLK`) belongs to the process: closing *any* descriptor of the file in
//!   that process drops it, and a forked child does not get it;
//! - an open-file-description lock (`F_OFD_SETLK`) and a `flock` lock belong to the open file
//!   (the description `open` made): only the last close of that description drops them, and a
//!   forked child, which shares the description, shares the lock.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, Flock, FlockArg, fcntl};

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
#[derive(Debug)]
pub struct FileLock {
    held: Held,
}

#[derive(Debug)]
enum Held {
    /// A record or open-file-description lock on this open file.
    Fcntl(File, LockKind),
    /// nix's flock guard: it unlocks (`LOCK_UN`) when dropped.
    Flock(Flock<File>),
}

/// A write lock of the whole file: from byte 0 to any end it may grow to (`l_len` 0).
fn whole_file(lock_type: libc::c_int) -> libc::flock {
    // SAFETY: libc::flock is plain integers, for which all zeroes is a valid value (and l_pid
    // must be 0 for the F_OFD_* commands).
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = lock_type as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock
}

impl FileLock {
    /// Opens the existing file `path` for reading and writing (a write lock needs a descriptor
    /// open for writing) and takes an exclusive lock of all of it, of `kind`, without waiting:
    /// `Ok(None)` when another holder has it. A record lock is the process's: a second one in the
    /// same process is granted, and is the same lock.
    ///
    /// Errors: a file that does not exist is `NotFound` (nothing is created); the rest as `open`
    /// and the lock call say.
    pub fn try_lock(path: &Path, kind: LockKind) -> io::Result<Option<FileLock>> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let held = match kind {
            LockKind::Record | LockKind::OpenFile => {
                let lock = whole_file(libc::F_WRLCK);
                let arg =
                    if kind == LockKind::Record { FcntlArg::F_SETLK(&lock) } else { FcntlArg::F_OFD_SETLK(&lock) };
                match fcntl(&file, arg) {
                    Ok(_) => Held::Fcntl(file, kind),
                    // POSIX lets a refused F_SETLK be EACCES or EAGAIN; Linux says EAGAIN.
                    Err(Errno::EAGAIN | Errno::EACCES) => return Ok(None),
                    Err(e) => return Err(e.into()),
                }
            }
            LockKind::Flock => match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(guard) => Held::Flock(guard),
                Err((_, Errno::EWOULDBLOCK)) => return Ok(None),
                Err((_, e)) => return Err(e.into()),
            },
        };
        Ok(Some(FileLock { held }))
    }

    /// Which kind of lock this is.
    pub fn kind(&self) -> LockKind {
        match self.held {
            Held::Fcntl(_, kind) => kind,
            Held::Flock(_) => LockKind::Flock,
        }
    }
}

impl AsFd for FileLock {
    /// The descriptor the lock was taken on.
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.held {
            Held::Fcntl(file, _) => file.as_fd(),
            Held::Flock(guard) => guard.as_fd(),
        }
    }
}

impl Drop for FileLock {
    /// Releases the lock (`F_UNLCK`; the flock guard does `LOCK_UN`), for every process that
    /// shares it, then closes the file.
    fn drop(&mut self) {
        if let Held::Fcntl(file, kind) = &self.held {
            let unlock = whole_file(libc::F_UNLCK);
            let arg =
                if *kind == LockKind::Record { FcntlArg::F_SETLK(&unlock) } else { FcntlArg::F_OFD_SETLK(&unlock) };
            let _ = fcntl(file, arg);
        }
    }
}
