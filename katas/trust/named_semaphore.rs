//! Kata trust::named_semaphore: A named semaphore as a lock, with a lease for when its holder dies.
//!
//! Grade it: `cargo test --test trust named_semaphore::`
//! Stuck? `cargo run -- hint trust::named_semaphore`
//!
//! A POSIX named semaphore (`man 7 sem_overview`) is the simplest lock unrelated programs can
//! share: `sem_open` by name, `sem_wait` to take it, `sem_post` to give it back. It has one flaw
//! that interviews love: it keeps no owner. A holder killed between the wait and the post leaves
//! it taken for good; there is no `SEM_UNDO` as SysV has, and no `EOWNERDEAD` as a robust mutex
//! has. So keep a lease beside it: the holder writes its pid into a shared memory object of the
//! same name, and a waiter that finds the lock held by a process that no longer exists takes it
//! over.

use std::io;
use std::ptr::NonNull;
use std::time::Duration;

/// The longest name after the `/`: NAME_MAX less the 4 bytes of `sem.` (`man 7 sem_overview`).
pub const MAX_LOCK_NAME: usize = 251;

/// A lock between unrelated programs: a named semaphore of value 1 and its lease, the pid of
/// the holder (0: none), in a POSIX shared memory object of the same name.
///
/// The fields are a suggestion: change them as you like (the grader uses the methods).
#[derive(Debug)]
pub struct NamedLock {
    sem: NonNull<libc::sem_t>,
    lease: NonNull<u32>,
}

// SAFETY: what the grader needs to share a lock between threads. POSIX semaphore calls may come
// from any thread; make the rest true too (the lease reached only atomically).
unsafe impl Send for NamedLock {}
// SAFETY: as above.
unsafe impl Sync for NamedLock {}

/// The lock, held until the guard is dropped.
///
/// The fields are a suggestion: change them as you like.
#[derive(Debug)]
pub struct NamedGuard<'a> {
    lock: &'a NamedLock,
    recovered: bool,
}

impl NamedLock {
    /// Makes the lock `name` (`/` and 1 to [`MAX_LOCK_NAME`] bytes, no other `/`), free: its lease (a
    /// shared memory object of 4 bytes, zero) and its semaphore (value 1), both created with
    /// `O_CREAT | O_EXCL` and mode 0600. Make the lease first and the semaphore last: then a
    /// program that opens the semaphore finds the lease ready.
    ///
    /// Errors: a bad name is `InvalidInput`; a lock of that name that exists is `AlreadyExists`.
    ///
    /// Read first: `man 3 sem_open`, `man 3 shm_open`, `man 7 sem_overview`.
    ///
    /// The grader opens the lock from other programs, reads the modes in `/dev/shm`, and looks
    /// for what is left after `unlink` and after a drop.
    pub fn create(name: &str) -> io::Result<NamedLock> {
        todo!("create the semaphore {name:?} (value 1) and its lease, exclusively, mode 0600")
    }

    /// Opens the lock `name` another program created.
    ///
    /// Errors: a bad name is `InvalidInput`; no such lock is `NotFound`.
    pub fn open(name: &str) -> io::Result<NamedLock> {
        todo!("open the semaphore {name:?} and its lease")
    }

    /// Waits at most `timeout` for the lock (`sem_timedwait`), and writes this process's pid in
    /// the lease once it has it. While the lock stays held, looks at the lease now and then: if
    /// the holder it names no longer exists, takes the lease over (only one waiter may: a
    /// compare-and-swap) and with it the lock, whose guard then says
    /// [`NamedGuard::recovered`]. `Ok(None)` once `timeout` has passed, not before; a caught
    /// signal (`EINTR`) neither ends the wait nor starts it again. A timeout too long to have a
    /// deadline (`Duration::MAX`) is `InvalidInput`, not a panic.
    ///
    /// Read first: `man 3 sem_timedwait` (its deadline is absolute, on CLOCK_REALTIME), `man 2
    /// kill` (signal 0).
    ///
    /// The grader holds the lock in other processes, kills one with SIGKILL while it holds it,
    /// and sends caught signals while you wait.
    pub fn lock_within(&self, timeout: Duration) -> io::Result<Option<NamedGuard<'_>>> {
        todo!("take the lock {:?} within {timeout:?}, taking over the lease of a dead holder", self.sem)
    }

    /// Removes both names, the semaphore's and the lease's. Open locks keep working.
    ///
    /// Errors: a bad name is `InvalidInput`; no such lock is `NotFound`.
    pub fn unlink(name: &str) -> io::Result<()> {
        todo!("unlink the semaphore {name:?} and its lease")
    }
}

impl NamedGuard<'_> {
    /// Whether the lock was taken over from a holder that died holding it.
    pub fn recovered(&self) -> bool {
        todo!("whether the lock {:?} was recovered ({})", self.lock, self.recovered)
    }
}

impl Drop for NamedGuard<'_> {
    /// Clears the lease, then posts the semaphore: the lock is free.
    fn drop(&mut self) {
        todo!("clear the lease {:?} and post the semaphore", self.lock.lease)
    }
}

impl Drop for NamedLock {
    /// Closes the semaphore and unmaps the lease; the names stay until [`NamedLock::unlink`].
    fn drop(&mut self) {
        todo!("close the semaphore {:?} and unmap the lease {:?}", self.sem, self.lease)
    }
}
