//! The five classic interview questions, each made concrete as a kata. Read the question's model
//! answer (`cargo run -- solution <kata>`) after you have tried it.
//!
//! This file is the same in `katas/` and `solutions/`: edit the kata files beside it. It also
//! holds code the katas give you as it is: [`SourcePc`], the source guide's producer–consumer.

pub mod q1_shm_vs_messages;
pub mod q2_pipes_vs_sockets;
pub mod q3_named_vs_anonymous;
mod q4_race_fixes;
mod q4_race_witness;
mod q5_supervisor;

pub use q4_race_fixes::{AtomicPc, MutexPc, SemaphorePc};
pub use q4_race_witness::{Anomaly, Witness, witness_race};
pub use q5_supervisor::{MAX_MESSAGE, Resources, SegmentState, StateGuard, Supervisor, SupervisorIds, Worker};

use std::io;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// A producer–consumer ring of [`SourcePc::SIZE`] ints between two processes: what the
/// interview questions Q4 katas produce into and consume from.
pub trait Ring {
    /// Appends `item`, waiting while the ring is full (producer side).
    fn produce(&self, item: i32) -> io::Result<()>;
    /// Takes the oldest item, waiting while the ring is empty (consumer side).
    fn consume(&self) -> io::Result<i32>;
}

/// The source guide's `struct shared_data`, in memory shared by the processes forked after
/// [`SourcePc::new`]. (Aligned to a cache line, so that the journal after it is aligned too.)
#[repr(C, align(64))]
struct SharedData {
    buffer: [AtomicI32; SourcePc::SIZE],
    /// Next empty slot: written by the producer only.
    in_: AtomicI32,
    /// Next full slot: written by the consumer only.
    out: AtomicI32,
    /// Number of items: written by BOTH sides, with a plain load and a plain store.
    count: AtomicI32,
}

/// The flight recorder beside the ring: what the provided `produce` and `consume` really did.
/// Each list has one writer (the producer or the consumer), so it does not race.
#[repr(C)]
struct Journal {
    producer_pid: AtomicI32,
    consumer_pid: AtomicI32,
    produced: AtomicU64,
    consumed: AtomicU64,
}

/// PROVIDED CODE, given as it is: do not fix it, it is the exhibit. The source guide's
/// producer–consumer, ported faithfully to Rust:
///
/// ```c
/// void produce(struct shared_data *data, int item) {
///     while (data->count == 10);  // Wait if buffer full
///     data->buffer[data->in] = item;
///     data->in = (data->in + 1) % 10;
///     data->count++;
/// }
/// int consume(struct shared_data *data) {
///     while (data->count == 0);  // Wait if buffer empty
///     int item = data->buffer[data->out];
///     data->out = (data->out + 1) % 10;
///     data->count--;
///     return item;
/// }
/// ```
///
/// Every field is read and written with a relaxed atomic load or store, so the Rust has no
/// undefined behaviour; but `count++` and `count--` stay what they are in C, a load then a
/// store, done by both processes: the race is the source's. Busy-waiting is the source's too.
///
/// Beside the ring, `produce` and `consume` keep a journal in the same shared memory: every
/// item produced, every item consumed (in order), and the pid of the first producing and the
/// first consuming process. The grader re-reads it to check a [`Witness`]: evidence it cannot
/// find there does not count.
pub struct SourcePc {
    ptr: NonNull<u8>,
    len: usize,
    journal_capacity: usize,
}

impl SourcePc {
    /// Slots in the ring, as in the source.
    pub const SIZE: usize = 10;
    /// The most items a journal records, each way.
    pub const MAX_JOURNAL: usize = 1 << 20;

    /// A new, empty ring in `MAP_SHARED | MAP_ANONYMOUS` memory with a journal for `journal`
    /// items each way. Errors: `journal` 0 or above [`SourcePc::MAX_JOURNAL`] → `InvalidInput`.
    pub fn new(journal: usize) -> io::Result<SourcePc> {
        if !(1..=Self::MAX_JOURNAL).contains(&journal) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a journal of {journal} items: it must be 1 to {}", Self::MAX_JOURNAL),
            ));
        }
        let len = size_of::<SharedData>() + size_of::<Journal>() + 2 * journal * size_of::<i32>();
        let length = NonZeroUsize::new(len).expect("not zero");
        let prot = nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE;
        // SAFETY: a fresh anonymous shared mapping aliases nothing; zero bytes are valid atomics.
        let ptr = unsafe { nix::sys::mman::mmap_anonymous(None, length, prot, nix::sys::mman::MapFlags::MAP_SHARED) }?;
        Ok(SourcePc { ptr: ptr.cast(), len, journal_capacity: journal })
    }

    /// The source's `produce`: spins while `count == 10`, then writes, moves `in` and does
    /// `count++` as a load and a store. Panics if the journal is full.
    pub fn produce(&self, item: i32) {
        let (data, journal) = (self.data(), self.journal());
        let n = journal.produced.load(Ordering::Relaxed) as usize;
        assert!(n < self.journal_capacity, "SourcePc::produce: the journal is full: make SourcePc::new(n) with room");
        if n == 0 {
            journal.producer_pid.store(std::process::id() as i32, Ordering::Relaxed);
        }
        while data.count.load(Ordering::Relaxed) == Self::SIZE as i32 {
            std::hint::spin_loop();
        }
        let i = data.in_.load(Ordering::Relaxed);
        data.buffer[i as usize % Self::SIZE].store(item, Ordering::Relaxed);
        data.in_.store((i + 1) % Self::SIZE as i32, Ordering::Relaxed);
        let count = data.count.load(Ordering::Relaxed); // count++: a load ...
        data.count.store(count + 1, Ordering::Relaxed); // ... then a store
        self.list(0)[n].store(item, Ordering::Relaxed);
        journal.produced.store(n as u64 + 1, Ordering::Release);
    }

    /// The source's `consume`: spins while `count == 0`, then reads, moves `out` and does
    /// `count--` as a load and a store. Panics if the journal is full.
    pub fn consume(&self) -> i32 {
        let (data, journal) = (self.data(), self.journal());
        let n = journal.consumed.load(Ordering::Relaxed) as usize;
        assert!(n < self.journal_capacity, "SourcePc::consume: the journal is full: make SourcePc::new(n) with room");
        if n == 0 {
            journal.consumer_pid.store(std::process::id() as i32, Ordering::Relaxed);
        }
        while data.count.load(Ordering::Relaxed) == 0 {
            std::hint::spin_loop();
        }
        let o = data.out.load(Ordering::Relaxed);
        let item = data.buffer[o as usize % Self::SIZE].load(Ordering::Relaxed);
        data.out.store((o + 1) % Self::SIZE as i32, Ordering::Relaxed);
        let count = data.count.load(Ordering::Relaxed); // count--: a load ...
        data.count.store(count - 1, Ordering::Relaxed); // ... then a store
        self.list(1)[n].store(item, Ordering::Relaxed);
        journal.consumed.store(n as u64 + 1, Ordering::Release);
        item
    }

    /// Every item produced so far, in order (from the journal).
    pub fn produced(&self) -> Vec<i32> {
        self.read_list(0, &self.journal().produced)
    }

    /// Every item consumed so far, in order (from the journal).
    pub fn consumed(&self) -> Vec<i32> {
        self.read_list(1, &self.journal().consumed)
    }

    /// The pid of the process that produced first (0: none yet).
    pub fn producer_pid(&self) -> i32 {
        self.journal().producer_pid.load(Ordering::Relaxed)
    }

    /// The pid of the process that consumed first (0: none yet).
    pub fn consumer_pid(&self) -> i32 {
        self.journal().consumer_pid.load(Ordering::Relaxed)
    }

    fn data(&self) -> &SharedData {
        // SAFETY: the mapping starts with a SharedData (page-aligned, zero-filled) and lives as
        // long as self; it is only touched through atomics.
        unsafe { self.ptr.cast::<SharedData>().as_ref() }
    }

    fn journal(&self) -> &Journal {
        // SAFETY: a Journal follows the SharedData in the mapping, at a multiple of 64 bytes.
        unsafe { &*self.ptr.as_ptr().add(size_of::<SharedData>()).cast::<Journal>() }
    }

    fn list(&self, which: usize) -> &[AtomicI32] {
        let start = size_of::<SharedData>() + size_of::<Journal>() + which * self.journal_capacity * size_of::<i32>();
        // SAFETY: the two lists of journal_capacity i32s follow the Journal inside the mapping.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(start).cast::<AtomicI32>(), self.journal_capacity) }
    }

    fn read_list(&self, which: usize, len: &AtomicU64) -> Vec<i32> {
        let n = (len.load(Ordering::Acquire) as usize).min(self.journal_capacity);
        self.list(which)[..n].iter().map(|v| v.load(Ordering::Relaxed)).collect()
    }
}

impl Drop for SourcePc {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in new; nothing borrows it beyond self.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr.cast(), self.len) };
    }
}

impl std::fmt::Debug for SourcePc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourcePc")
            .field("produced", &self.journal().produced.load(Ordering::Relaxed))
            .field("consumed", &self.journal().consumed.load(Ordering::Relaxed))
            .field("producer_pid", &self.producer_pid())
            .field("consumer_pid", &self.consumer_pid())
            .finish()
    }
}

/// The source's ring behind the [`Ring`] trait, to run it through the same checks as the fixes.
impl Ring for SourcePc {
    fn produce(&self, item: i32) -> io::Result<()> {
        SourcePc::produce(self, item);
        Ok(())
    }

    fn consume(&self) -> io::Result<i32> {
        Ok(SourcePc::consume(self))
    }
}
