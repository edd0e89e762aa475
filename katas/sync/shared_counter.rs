//! Kata sync::shared_counter: One counter, several processes, an exact total.
//!
//! Grade it: `cargo test --test sync shared_counter::`
//! Stuck? `cargo run -- hint sync::shared_counter`
//!
//! Three counters with the same API, each in memory that children forked after `new` share.
//! The grader forks 4 processes that each call `increment` 1,000,000 times, all at once, then expects
//! `get` to say exactly 4,000,000, in time (a few seconds). `get` is only called once the incrementers are done.
//!
//! Read first: `man 2 mmap` (MAP_SHARED, MAP_ANONYMOUS), `std::sync::atomic`,
//! `man 3 pthread_mutexattr_setpshared`, `man 3 pthread_mutex_lock`, `man 3 sem_init`,
//! `man 3 sem_wait`. Every unsafe block gets a `// SAFETY:` comment; Drop unmaps. Drop runs in
//! every process that drops its copy: only the process that made a mutex or semaphore may
//! destroy it (a child destroying it breaks it for the parent), and the grader checks that.

use std::io;

/// A counter incremented with one atomic read-modify-write, no lock.
pub struct AtomicCounter {
    // Your fields: a pointer into a shared mapping.
}

impl AtomicCounter {
    /// A counter at 0, shared with processes forked after this call.
    pub fn new() -> io::Result<AtomicCounter> {
        todo!("make an atomic counter in shared memory")
    }

    /// Adds one; no update may be lost when processes increment at the same time.
    pub fn increment(&self) -> io::Result<()> {
        todo!("increment the atomic counter")
    }

    /// The current count.
    pub fn get(&self) -> io::Result<u64> {
        todo!("read the atomic counter")
    }
}

/// A plain `u64` counter guarded by a `pthread_mutex_t` that works between processes.
pub struct MutexCounter {
    // Your fields: a pointer to a shared mapping holding the mutex and the count.
}

impl MutexCounter {
    /// A counter at 0 with its mutex, shared with processes forked after this call.
    pub fn new() -> io::Result<MutexCounter> {
        todo!("make a mutex-guarded counter in shared memory")
    }

    /// Adds one under the mutex. Errors: the error number pthread returns.
    pub fn increment(&self) -> io::Result<()> {
        todo!("increment the mutex-guarded counter")
    }

    /// The current count.
    pub fn get(&self) -> io::Result<u64> {
        todo!("read the mutex-guarded counter")
    }
}

/// A plain `u64` counter guarded by an unnamed POSIX semaphore (at 1) that works between
/// processes.
pub struct SemaphoreCounter {
    // Your fields: a pointer to a shared mapping holding the semaphore and the count.
}

impl SemaphoreCounter {
    /// A counter at 0 with its semaphore, shared with processes forked after this call.
    pub fn new() -> io::Result<SemaphoreCounter> {
        todo!("make a semaphore-guarded counter in shared memory")
    }

    /// Adds one while holding the semaphore. Errors: the errno (retry on EINTR).
    pub fn increment(&self) -> io::Result<()> {
        todo!("increment the semaphore-guarded counter")
    }

    /// The current count.
    pub fn get(&self) -> io::Result<u64> {
        todo!("read the semaphore-guarded counter")
    }
}
