//! Kata sync::robust_mutex: A robust mutex: a lock that comes back when its holder dies.
//!
//! Grade it: `cargo test --test sync robust_mutex::`
//! Stuck? `cargo run -- hint sync::robust_mutex`

use std::io;
use std::marker::PhantomData;

/// A `u64` in memory shared with processes forked after [`RobustMutex::new`], guarded by a
/// `pthread_mutex_t` that is process-shared and robust.
///
/// If a process dies holding the lock, the next `lock` still gets it, and its guard says that
/// the previous owner died: the value may be half-updated. The new owner repairs it and then
/// calls [`RobustGuard::mark_consistent`]. A guard dropped before that (a `?` or a panic in the
/// middle of the repair) must not pass the suspect value on as clean: the mutex becomes
/// unrecoverable, and every later `lock` fails with `ENOTRECOVERABLE`.
///
/// Read first: `man 3 pthread_mutexattr_setrobust`, `man 3 pthread_mutex_consistent`,
/// `man 3 pthread_mutexattr_setpshared`, `man 3 pthread_mutex_destroy`, `man 2 mmap`
/// (MAP_SHARED). Every unsafe block gets a `// SAFETY:` comment. Other processes write the
/// shared memory: reach it through raw pointers, never a `&` or `&mut` to it. Every process
/// that drops its copy unmaps it, but only the process that made the mutex destroys it
/// (destroying it in a child breaks it for the parent).
///
/// The grader checks: a holder SIGKILLed inside its critical section leaves the lock to the
/// next locker, whose guard reports `previous_owner_died()` and sees what the dead holder
/// wrote; after a repair and `mark_consistent()` the lock after that is normal; a guard dropped
/// after a death without `mark_consistent()` makes the next `lock` fail with
/// `ENOTRECOVERABLE`; a normal unlock reports no death; a child dropping its copy leaves the
/// mutex working; 4 processes updating through the lock lose nothing. A lock that never comes
/// back fails at the test's deadline.
pub struct RobustMutex {
    // Your fields: a pointer to a shared mapping holding the mutex and the value, and who made it.
}

/// The lock, held until the guard is dropped (Drop unlocks).
pub struct RobustGuard<'a> {
    // Your fields; keep the lifetime, e.g. with PhantomData<&'a RobustMutex>.
    _mutex: PhantomData<&'a RobustMutex>,
}

impl RobustMutex {
    /// A mutex guarding `value`, shared with processes forked after this call.
    pub fn new(value: u64) -> io::Result<RobustMutex> {
        todo!("make a robust process-shared mutex guarding {value}")
    }

    /// Waits for the lock. If its holder died holding it, the lock is yours all the same:
    /// return a guard whose `previous_owner_died()` is true (the mutex stays inconsistent until
    /// the guard's `mark_consistent`).
    ///
    /// Errors: `ENOTRECOVERABLE` after a guard was dropped inconsistent; the error number
    /// pthread returns for anything else.
    pub fn lock(&self) -> io::Result<RobustGuard<'_>> {
        todo!("lock the robust mutex")
    }
}

impl RobustGuard<'_> {
    /// True if the previous holder died holding the lock.
    pub fn previous_owner_died(&self) -> bool {
        todo!("did the previous owner die?")
    }

    /// Declares the value repaired: after this the guard unlocks normally. Does nothing if the
    /// previous owner did not die (or it was called already).
    pub fn mark_consistent(&mut self) -> io::Result<()> {
        todo!("mark the mutex consistent after a repair")
    }

    /// The guarded value.
    pub fn get(&self) -> u64 {
        todo!("read the guarded value")
    }

    /// Replaces the guarded value.
    pub fn set(&mut self, value: u64) {
        todo!("set the guarded value to {value}")
    }
}
