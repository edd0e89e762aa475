//! Answer to kata producer_consumer::spsc_ring: A single-producer single-consumer ring in shared memory.
//!
//! Design: the producer alone writes `tail`, the consumer alone writes `head`, so no
//! read-modify-write is ever shared and no lock is needed. Both positions run modulo
//! `2 * capacity`, so a full ring (`tail - head == capacity`) and an empty one (`tail == head`)
//! differ without wasting a slot, and capacity 1 works. A side that must wait spins a little,
//! then sleeps on the other side's position word with `futex(2)`; the other side wakes it only
//! when it has said it sleeps, so the fast path makes no system call.

use std::io;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, munmap};

use super::{Item, MAX_CAPACITY};

/// An anonymous shared mapping (`man 2 mmap`: `MAP_SHARED | MAP_ANONYMOUS`), zero-filled.
/// Children forked after it is made share its pages; each process's copy is unmapped when
/// dropped, and the memory is gone when the last process has unmapped it.
pub(crate) struct SharedMapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl SharedMapping {
    pub(crate) fn new(len: usize) -> io::Result<SharedMapping> {
        let length = NonZeroUsize::new(len).ok_or_else(|| invalid("a mapping of 0 bytes"))?;
        // SAFETY: a fresh anonymous mapping at an address the kernel picks aliases nothing.
        let ptr = unsafe {
            mmap_anonymous(None, length, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED)
        }?;
        Ok(SharedMapping { ptr: ptr.cast(), len })
    }

    /// The first byte; page-aligned.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for SharedMapping {
    fn drop(&mut self) {
        // SAFETY: ptr and len are exactly what mmap returned, and nothing borrows the mapping
        // any more: its users borrow `self`.
        let _ = unsafe { munmap(self.ptr.cast(), self.len) };
    }
}

pub(crate) fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

/// Checks a requested capacity: 1 to [`MAX_CAPACITY`].
pub(crate) fn check_capacity(capacity: usize) -> io::Result<()> {
    if (1..=MAX_CAPACITY).contains(&capacity) {
        Ok(())
    } else {
        Err(invalid(&format!("capacity {capacity}: it must be 1 to {MAX_CAPACITY} items")))
    }
}

/// A deadline `timeout` from now; `None` (wait forever) if it is too far to represent.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

pub(crate) fn timed_out() -> io::Error {
    io::Error::from(io::ErrorKind::TimedOut)
}

/// Sleeps while `word` holds `expected`, at most `timeout` (`man 2 futex`, FUTEX_WAIT). Returns
/// when woken, when the value differs already (EAGAIN), on a signal or at the timeout: the
/// caller checks its condition again either way. Not `FUTEX_PRIVATE_FLAG`: the waker is
/// another process, and a private futex is keyed by this process's address space.
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> io::Result<()> {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: word is a valid, aligned u32 for the call's duration; ts_ptr is null or points
    // to a timespec that outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, ts_ptr) };
    if r == 0 {
        return Ok(());
    }
    match io::Error::last_os_error() {
        e if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EINTR | libc::ETIMEDOUT)) => Ok(()),
        e => Err(e),
    }
}

/// Wakes one process sleeping on `word` (`man 2 futex`, FUTEX_WAKE).
fn futex_wake(word: &AtomicU32) {
    // SAFETY: word is a valid, aligned u32; FUTEX_WAKE only reads its address.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1) };
}

/// How long a waiting side keeps checking before it goes to sleep: about what a futex sleep
/// and wake-up cost (a few µs on bare metal, tens in a virtual machine, whose idle CPU must be
/// woken by the host). The classic spin-then-block rule: spinning as long as a block costs
/// never wastes more than twice the best choice. With a fixed 200 checks (5 µs at 25 ns a
/// `pause` on this machine's Xeon) both sides of a round trip fell asleep on each other, and a
/// round trip took 2 wake-ups (25-90 µs, measured by `cargo bench --bench ipc`) instead of 3 µs.
const SPIN_FOR: Duration = Duration::from_micros(30);

/// How many checks between two looks at the clock while spinning.
const CHECKS_PER_LOOK: u32 = 32;

/// One word on its own cache line, so that the producer's and the consumer's words do not
/// bounce one line between the cores.
#[repr(C, align(64))]
struct Padded(AtomicU32);

/// The start of the shared mapping; the slots follow it.
#[repr(C)]
struct Header {
    /// Next position to write, `0..2 * capacity`. Written by the producer only.
    tail: Padded,
    /// Next position to read, `0..2 * capacity`. Written by the consumer only.
    head: Padded,
    /// 1 while the consumer sleeps (or is about to) on `tail`.
    consumer_sleeps: Padded,
    /// 1 while the producer sleeps (or is about to) on `head`.
    producer_sleeps: Padded,
}

/// A ring of [`Item`]s in shared memory, for exactly one producer process and one consumer
/// process (made before `fork`). Unmapped, in each process, when dropped.
pub struct SpscRing {
    map: SharedMapping,
    capacity: u32,
}

impl SpscRing {
    /// A ring that holds up to `capacity` items (1 to [`MAX_CAPACITY`], else `InvalidInput`).
    pub fn new(capacity: usize) -> io::Result<SpscRing> {
        check_capacity(capacity)?;
        let len = size_of::<Header>() + capacity * size_of::<Item>();
        // All zero: both positions 0 (empty), nobody asleep.
        let map = SharedMapping::new(len)?;
        Ok(SpscRing { map, capacity: capacity as u32 })
    }

    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Appends `item`, waiting while the ring is full.
    pub fn push(&self, item: Item) -> io::Result<()> {
        self.push_until(item, None)
    }

    /// Appends `item`, waiting at most `timeout` while the ring is full (`TimedOut`).
    pub fn push_timeout(&self, item: Item, timeout: Duration) -> io::Result<()> {
        self.push_until(item, deadline_after(timeout))
    }

    /// Takes the oldest item, waiting while the ring is empty.
    pub fn pop(&self) -> io::Result<Item> {
        self.pop_until(None)
    }

    /// Takes the oldest item, waiting at most `timeout` while the ring is empty (`TimedOut`).
    pub fn pop_timeout(&self, timeout: Duration) -> io::Result<Item> {
        self.pop_until(deadline_after(timeout))
    }

    fn push_until(&self, item: Item, deadline: Option<Instant>) -> io::Result<()> {
        let h = self.header();
        // Only this process writes tail, so its own last store is the current value.
        let tail = h.tail.0.load(Ordering::Relaxed);
        loop {
            // Acquire: the consumer's reads of the slot we are about to reuse are finished.
            let head = h.head.0.load(Ordering::Acquire);
            if self.len(tail, head) < self.capacity {
                break;
            }
            wait_for_change(&h.head.0, head, &h.producer_sleeps.0, deadline)?;
        }
        // SAFETY: slot(tail) is in the mapping, and the ring is not full, so the consumer does
        // not read that slot until we publish tail below.
        unsafe { self.slot(tail).write(item) };
        // SeqCst (a release, and ordered before the load of consumer_sleeps): either we see that
        // the consumer sleeps and wake it, or it sees the new tail and does not sleep.
        h.tail.0.store(self.next(tail), Ordering::SeqCst);
        if h.consumer_sleeps.0.load(Ordering::SeqCst) != 0 {
            futex_wake(&h.tail.0);
        }
        Ok(())
    }

    fn pop_until(&self, deadline: Option<Instant>) -> io::Result<Item> {
        let h = self.header();
        let head = h.head.0.load(Ordering::Relaxed);
        loop {
            // Acquire: the producer's write of the slot is visible once we see its tail.
            let tail = h.tail.0.load(Ordering::Acquire);
            if tail != head {
                break;
            }
            wait_for_change(&h.tail.0, tail, &h.consumer_sleeps.0, deadline)?;
        }
        // SAFETY: slot(head) is in the mapping and was published by the producer (tail moved
        // past it); it is not rewritten until we publish head below.
        let item = unsafe { self.slot(head).read() };
        h.head.0.store(self.next(head), Ordering::SeqCst);
        if h.producer_sleeps.0.load(Ordering::SeqCst) != 0 {
            futex_wake(&h.head.0);
        }
        Ok(item)
    }

    /// How many items are in the ring, from the two positions.
    fn len(&self, tail: u32, head: u32) -> u32 {
        (tail + 2 * self.capacity - head) % (2 * self.capacity)
    }

    fn next(&self, position: u32) -> u32 {
        if position + 1 == 2 * self.capacity { 0 } else { position + 1 }
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping starts with a Header (page-aligned, zero-filled, and all-zero
        // atomics are valid) and lives as long as self; only atomics are shared through it.
        unsafe { &*self.map.as_ptr().cast::<Header>() }
    }

    /// The slot of a position.
    fn slot(&self, position: u32) -> *mut Item {
        let index = (position % self.capacity) as usize;
        // SAFETY: the slots follow the header, and index < capacity, so the pointer stays in the
        // mapping (an offset within one allocation).
        unsafe { self.map.as_ptr().add(size_of::<Header>()).cast::<Item>().add(index) }
    }
}

/// Waits until `word` no longer holds `seen`, or the deadline passes (`TimedOut`); may return
/// early, so the caller checks its condition again. Spins a little first (the other side is
/// often just about to move), then sleeps on the futex, announcing it in `sleeps`.
fn wait_for_change(word: &AtomicU32, seen: u32, sleeps: &AtomicU32, deadline: Option<Instant>) -> io::Result<()> {
    let left = match deadline {
        None => None,
        Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Some(left),
            _ => return Err(timed_out()),
        },
    };
    let spin_until = Instant::now() + SPIN_FOR;
    loop {
        for _ in 0..CHECKS_PER_LOOK {
            if word.load(Ordering::Acquire) != seen {
                return Ok(());
            }
            std::hint::spin_loop();
        }
        if Instant::now() >= spin_until {
            break;
        }
    }
    sleeps.store(1, Ordering::SeqCst);
    // Checked again after announcing the sleep: pairs with the other side's SeqCst store
    // and load, so a change made before it saw our flag is seen here.
    if word.load(Ordering::SeqCst) == seen {
        futex_wait(word, seen, left)?;
    }
    sleeps.store(0, Ordering::SeqCst);
    Ok(())
}
