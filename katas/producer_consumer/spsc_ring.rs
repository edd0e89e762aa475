//! Kata producer_consumer::spsc_ring: A single-producer single-consumer ring in shared memory.
//!
//! Grade it: `cargo test --test producer_consumer spsc_ring::`
//! Stuck? `cargo run -- hint producer_consumer::spsc_ring`

use std::io;
use std::time::Duration;

use super::Item;

/// A ring of [`Item`]s in shared memory, for exactly one producer process and one consumer
/// process. The test makes it with [`SpscRing::new`], then forks: one process pushes, the other
/// pops, each through its own copy of this value (the same shared memory).
///
/// Your design must:
/// - live in memory both processes see: `mmap` with `MAP_SHARED | MAP_ANONYMOUS` before the
///   fork (`MAP_PRIVATE` gives each process its own copy after the fork);
/// - never let both sides update one counter with a plain load and store, as the source's
///   `count++` / `count--` do: such updates race and lose counts (give each side a word only it
///   writes, and use atomics with acquire/release ordering to publish the slots);
/// - hold exactly `capacity` items, for any capacity from 1 (watch the full check: one item
///   too many overwrites an unread slot, one too few and capacity 1 never accepts anything);
/// - wait without burning a core: spin a little, then sleep (`futex(2)` FUTEX_WAIT on a word in
///   the shared memory, woken by FUTEX_WAKE from the other side; not FUTEX_PRIVATE_FLAG, the
///   other side is another process), and never miss a wake-up;
/// - unmap the memory when dropped (`impl Drop`).
///
/// Read first: `man 2 mmap`, `man 2 futex`, `man 7 futex`, `std::sync::atomic` (Ordering).
///
/// The grader checks, with a producer and a consumer in two processes: everything pushed is
/// popped exactly once, in order, uncorrupted, for any items and capacities (a property) and for
/// a million items; a ring of capacity n takes n items and then times out; a waiting side sleeps
/// (it is not seen running) and wakes for one item or one free slot; a side whose peer was
/// killed gets `TimedOut` from the `_timeout` calls; timeouts are neither early nor much late;
/// dropping the ring releases its shared memory.
pub struct SpscRing {
    // Your fields: where the shared memory is mapped, the capacity, …
}

impl SpscRing {
    /// A ring that holds up to `capacity` items. Errors: capacity 0, or more than
    /// [`MAX_CAPACITY`](super::MAX_CAPACITY) → `InvalidInput`; the `mmap` error otherwise.
    pub fn new(capacity: usize) -> io::Result<SpscRing> {
        todo!("map a ring of {capacity} items in shared memory")
    }

    /// The capacity it was made with.
    pub fn capacity(&self) -> usize {
        todo!("the capacity")
    }

    /// Appends `item` (producer side), waiting while the ring is full.
    pub fn push(&self, item: Item) -> io::Result<()> {
        todo!("push {item:?}")
    }

    /// As [`push`](Self::push), but waits at most `timeout` for a free slot; then `TimedOut`.
    /// A zero timeout only tries once. This is how a producer learns that its consumer died.
    pub fn push_timeout(&self, item: Item, timeout: Duration) -> io::Result<()> {
        todo!("push {item:?}, waiting at most {timeout:?}")
    }

    /// Takes the oldest item (consumer side), waiting while the ring is empty.
    pub fn pop(&self) -> io::Result<Item> {
        todo!("pop the oldest item")
    }

    /// As [`pop`](Self::pop), but waits at most `timeout` for an item; then `TimedOut`.
    pub fn pop_timeout(&self, timeout: Duration) -> io::Result<Item> {
        todo!("pop the oldest item, waiting at most {timeout:?}")
    }
}
