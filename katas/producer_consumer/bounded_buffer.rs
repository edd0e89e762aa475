//! Kata producer_consumer::bounded_buffer: A bounded buffer for several producer and consumer processes.
//!
//! Grade it: `cargo test --test producer_consumer bounded_buffer::`
//! Stuck? `cargo run -- hint producer_consumer::bounded_buffer`

use std::io;
use std::time::Duration;

use super::Item;

/// A bounded FIFO of [`Item`]s in shared memory, for any number of producer processes and
/// consumer processes at once. The test makes it with [`BoundedBuffer::new`], then forks the
/// producers and consumers; each uses its own copy of this value (the same shared memory).
///
/// The classic design, which you may improve on if you can defend it: three process-shared
/// semaphores in the shared memory (`sem_init` with pshared = 1): one counting free slots, one
/// counting filled slots, and one used as a lock around the two indices. Watch out for:
/// - index updates without the lock: two producers take the same slot, one item is lost and
///   another slot is read twice;
/// - waiting for a free slot while holding the lock: consumers can never take the lock to make
///   room, and everyone waits for ever (take the slot first, then the lock);
/// - timing out after taking a slot but before getting the lock: give the slot back;
/// - a process killed while it holds the lock never releases it: bound every wait in the
///   `_timeout` calls, the lock's included;
/// - unmap the memory when dropped (`impl Drop`); the process that made the buffer may also
///   `sem_destroy` the semaphores, when it drops it after the others are done.
///
/// Read first: `man 7 sem_overview`, `man 3 sem_init`, `man 3 sem_timedwait`, `man 2 mmap`.
///
/// The grader checks, with several producer and consumer processes: every item arrives exactly
/// once, uncorrupted, and the items of each producer reach each consumer in the order they were
/// pushed, for any numbers of processes and capacities (a property) and for a million items; a
/// buffer of capacity n takes n items and then times out; waiting producers sleep and wake when
/// room is made; a producer whose consumers were all killed gets `TimedOut`; dropping the
/// buffer releases its shared memory.
pub struct BoundedBuffer {
    // Your fields: where the shared memory is mapped, the capacity, …
}

impl BoundedBuffer {
    /// A buffer that holds up to `capacity` items. Errors: capacity 0, or more than
    /// [`MAX_CAPACITY`](super::MAX_CAPACITY) → `InvalidInput`; the `mmap` or `sem_init` error
    /// otherwise.
    pub fn new(capacity: usize) -> io::Result<BoundedBuffer> {
        todo!("map a buffer of {capacity} items and its semaphores in shared memory")
    }

    /// The capacity it was made with.
    pub fn capacity(&self) -> usize {
        todo!("the capacity")
    }

    /// Appends `item`, waiting while the buffer is full.
    pub fn push(&self, item: Item) -> io::Result<()> {
        todo!("push {item:?}")
    }

    /// As [`push`](Self::push), but waits at most `timeout` in all; then `TimedOut`. A zero
    /// timeout only tries once.
    pub fn push_timeout(&self, item: Item, timeout: Duration) -> io::Result<()> {
        todo!("push {item:?}, waiting at most {timeout:?}")
    }

    /// Takes the oldest item, waiting while the buffer is empty.
    pub fn pop(&self) -> io::Result<Item> {
        todo!("pop the oldest item")
    }

    /// As [`pop`](Self::pop), but waits at most `timeout` in all; then `TimedOut`.
    pub fn pop_timeout(&self, timeout: Duration) -> io::Result<Item> {
        todo!("pop the oldest item, waiting at most {timeout:?}")
    }
}
