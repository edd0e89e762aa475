//! Kata interview::q4_race_fixes: Fix the source's producer-consumer three ways.
//!
//! Grade it: `cargo test --test interview q4_race_fixes::`
//! Stuck? `cargo run -- hint interview::q4_race_fixes`
//! Afterwards, read the model answer: `solutions/interview/q4_races.md`.
//!
//! The source's ring ([`SourcePc`](super::SourcePc), in `katas/interview/mod.rs`) keeps a
//! `count` that both processes update with a load and a store: updates are lost, and the ring
//! loses and duplicates items (kata `q4_race_witness` proves it). Build the same ring of
//! [`SourcePc::SIZE`](super::SourcePc::SIZE) ints three times, each in memory shared with the
//! processes forked after `new` (`mmap` `MAP_SHARED | MAP_ANONYMOUS`), each behind the
//! [`Ring`] trait:
//! - [`AtomicPc`]: keep the source's shape, but `count` changes by one atomic read-modify-write
//!   (`fetch_add`, `fetch_sub`) with release/acquire ordering, so that the slot's contents are
//!   published with the count; a waiting side must not hog the CPU: spin a little, then sleep on
//!   the count with a futex (`FUTEX_WAIT` on the value you saw; a loop that only yields starves
//!   when the machine is busy, and the grader runs on busy ones), and after an update make the
//!   `FUTEX_WAKE` system call only if the other side said it sleeps (the grader traps futex
//!   calls with seccomp while nobody waits);
//! - [`MutexPc`]: a `pthread_mutex_t` and two `pthread_cond_t` (not full, not empty), all made
//!   `PTHREAD_PROCESS_SHARED`, the classic monitor;
//! - [`SemaphorePc`]: POSIX semaphores (`sem_init` with pshared 1): one counting free slots, one
//!   counting filled slots (and think about whether you need a third as a lock).
//!
//! Read first: `std::sync::atomic` (Ordering), `man 2 futex`, `man 3 pthread_mutexattr_setpshared`,
//! `man 3 pthread_condattr_setpshared`, `man 3 pthread_cond_wait`, `man 3 sem_init`,
//! `man 3 sem_wait`, `man 2 mmap`. Every unsafe block gets a `// SAFETY:` comment; Drop unmaps
//! (and only the process that made the ring destroys its mutex, condvars or semaphores).
//!
//! The grader runs one property against all three: a producer process produces items carrying
//! a sequence number and a checksum, the test consumes them; what comes out must equal what
//! went in, in order, nothing lost, nothing duplicated, nothing corrupted, for many items. The
//! source's ring fails that same property.
//!
//! Errors: the errno a pthread or semaphore call returns (retry `sem_wait` on `EINTR`).

use std::io;

use super::Ring;

/// The source's ring with an atomic `count`.
pub struct AtomicPc {
    // Your fields: a pointer into a shared mapping.
}

impl AtomicPc {
    /// An empty ring, shared with processes forked after this call.
    pub fn new() -> io::Result<AtomicPc> {
        todo!("map the ring with an atomic count")
    }
}

impl Ring for AtomicPc {
    fn produce(&self, item: i32) -> io::Result<()> {
        todo!("produce {item} into the atomic ring")
    }

    fn consume(&self) -> io::Result<i32> {
        todo!("consume from the atomic ring")
    }
}

/// The source's ring guarded by a process-shared mutex, with condition variables to wait on.
pub struct MutexPc {
    // Your fields.
}

impl MutexPc {
    /// An empty ring with its mutex and condition variables, shared with processes forked
    /// after this call.
    pub fn new() -> io::Result<MutexPc> {
        todo!("map the ring with a process-shared mutex and condition variables")
    }
}

impl Ring for MutexPc {
    fn produce(&self, item: i32) -> io::Result<()> {
        todo!("produce {item} into the mutex ring")
    }

    fn consume(&self) -> io::Result<i32> {
        todo!("consume from the mutex ring")
    }
}

/// The source's ring with semaphores counting free and filled slots.
pub struct SemaphorePc {
    // Your fields.
}

impl SemaphorePc {
    /// An empty ring with its semaphores, shared with processes forked after this call.
    pub fn new() -> io::Result<SemaphorePc> {
        todo!("map the ring with process-shared semaphores")
    }
}

impl Ring for SemaphorePc {
    fn produce(&self, item: i32) -> io::Result<()> {
        todo!("produce {item} into the semaphore ring")
    }

    fn consume(&self) -> io::Result<i32> {
        todo!("consume from the semaphore ring")
    }
}
