//! Kata sync::undo_semaphore: A SysV semaphore that the kernel releases for a dead holder.
//!
//! Grade it: `cargo test --test sync undo_semaphore::`
//! Stuck? `cargo run -- hint sync::undo_semaphore`

use std::io;

/// One SysV semaphore, used as a lock: `acquire` takes 1, `release` gives it back.
///
/// Build it on `libc` (nix has no SysV calls): `semget`, `semop`, `semctl`. Every unsafe
/// block gets a `// SAFETY:` comment. If a process holding the semaphore dies, the kernel must
/// give back what it held. The set outlives every process until [`UndoSemaphore::remove`].
///
/// Read first: `man 7 sysvipc`, `man 2 semget`, `man 2 semop` (SEM_UNDO), `man 2 semctl`
/// (SETVAL, GETVAL, IPC_RMID), `man 5 proc` (/proc/sysvipc/sem).
///
/// The grader checks: a holder SIGKILLed while holding it does not keep it (the survivor's
/// `acquire` returns in time); a process that acquires and releases and exits leaves the value
/// where it was; 4 processes updating shared memory under it lose nothing; mode 0600, a taken
/// key is `AlreadyExists`, a bad initial value is `InvalidInput`; after `remove` the set is
/// gone and `acquire` fails.
#[derive(Debug)]
pub struct UndoSemaphore {
    // Your fields: the id.
}

impl UndoSemaphore {
    /// Creates a set of one semaphore with `key` (`None`: `IPC_PRIVATE`), owner read and write
    /// only (0600) and exclusively, with the value `initial`.
    ///
    /// Errors: `initial` outside 0..=32767 → `InvalidInput`; a taken key → `AlreadyExists`.
    pub fn create(key: Option<i32>, initial: i32) -> io::Result<UndoSemaphore> {
        todo!("create a SysV semaphore with key {key:?} at {initial}")
    }

    /// The set's id.
    pub fn id(&self) -> i32 {
        todo!("the semaphore set's id")
    }

    /// Waits until the value is at least 1 and takes 1; undone by the kernel if this process
    /// dies before `release`. Errors: the errno (retry on EINTR).
    pub fn acquire(&self) -> io::Result<()> {
        todo!("acquire the semaphore")
    }

    /// Gives 1 back. Errors: the errno.
    pub fn release(&self) -> io::Result<()> {
        todo!("release the semaphore")
    }

    /// The current value.
    pub fn value(&self) -> io::Result<i32> {
        todo!("read the semaphore's value")
    }

    /// Removes the set at once.
    pub fn remove(&self) -> io::Result<()> {
        todo!("remove the semaphore set")
    }
}
