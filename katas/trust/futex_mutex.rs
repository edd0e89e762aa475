//! Kata trust::futex_mutex: A process-shared mutex on a raw futex: no system call unless someone waits.
//!
//! Grade it: `cargo test --test trust futex_mutex::`
//! Stuck? `cargo run -- hint trust::futex_mutex`
//!
//! Every mutex you have used (pthread's, Rust's `std::sync::Mutex`) is built the same way: a word
//! of memory that user space changes with atomic instructions, and the `futex(2)` system call to
//! sleep while the word says "held" and to wake a sleeper. The kernel keeps no lock at all: it
//! only keeps a queue of sleepers per word. Build one that works between processes, with a word
//! in shared memory, and make it as cheap as the real ones: locking a free mutex and unlocking
//! one that no one waits for must not enter the kernel.

use std::io;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::time::Duration;

/// A `u64` in memory shared with the processes forked after [`FutexMutex::new`], guarded by a
/// mutex built on one 32-bit futex word in the same memory.
///
/// The field is a suggestion: change it as you like (the grader uses the methods).
pub struct FutexMutex {
    /// Where the shared mapping begins: the futex word, then the value, say.
    shared: NonNull<u64>,
}

// SAFETY: what the grader needs to share a mutex between threads. Make it true: touch the word
// only atomically, and the value only while you hold the lock.
unsafe impl Send for FutexMutex {}
// SAFETY: as above.
unsafe impl Sync for FutexMutex {}

/// The lock, held until the guard is dropped: dropping it unlocks the mutex.
///
/// The fields are a suggestion: change them as you like.
pub struct FutexGuard<'a> {
    shared: NonNull<u64>,
    _mutex: PhantomData<&'a FutexMutex>,
}

impl FutexMutex {
    /// A mutex guarding `value`, unlocked, in memory that processes forked afterwards share
    /// (`MAP_SHARED | MAP_ANONYMOUS`).
    ///
    /// Read first: `man 2 futex` (FUTEX_WAIT_BITSET, FUTEX_WAKE, and what FUTEX_PRIVATE_FLAG
    /// would do here), `man 7 futex`, and Ulrich Drepper's paper "Futexes Are Tricky".
    ///
    /// The grader locks it from several forked processes at once, hands it between them ten
    /// thousand times, and runs your lock and unlock under a seccomp filter that catches any
    /// futex call: with no one waiting there must be none.
    pub fn new(value: u64) -> io::Result<FutexMutex> {
        todo!("map shared memory for a futex word and the value {value}")
    }

    /// Waits for the mutex, asleep in the kernel (`FUTEX_WAIT`) while another process holds
    /// it, never spinning. Taking a free mutex is one atomic instruction and no system call.
    ///
    /// Errors: a futex error other than `EAGAIN` or `EINTR` (both mean: look again).
    pub fn lock(&self) -> io::Result<FutexGuard<'_>> {
        todo!("lock the futex mutex at {:?}", self.shared)
    }

    /// Waits at most `timeout` for the mutex: `Ok(None)` once it has passed, not before, and
    /// not long after. A caught signal (`EINTR`), or a wake that another process wins, does not
    /// start the timeout again: compute the deadline once and sleep until it
    /// (`FUTEX_WAIT_BITSET` takes an absolute `CLOCK_MONOTONIC` time).
    ///
    /// Errors: a timeout whose deadline does not fit a `timespec` is `InvalidInput`.
    pub fn lock_within(&self, timeout: Duration) -> io::Result<Option<FutexGuard<'_>>> {
        todo!("lock the futex mutex at {:?}, waiting at most {timeout:?}", self.shared)
    }
}

impl FutexGuard<'_> {
    /// The guarded value.
    pub fn get(&self) -> u64 {
        todo!("read the value guarded at {:?}", self.shared)
    }

    /// Replaces the guarded value.
    pub fn set(&mut self, value: u64) {
        todo!("write {value} to the value guarded at {:?}", self.shared)
    }
}

impl Drop for FutexGuard<'_> {
    /// Unlocks the mutex, and wakes one waiter only if someone may be waiting.
    fn drop(&mut self) {
        todo!("unlock the futex mutex at {:?}", self.shared)
    }
}
