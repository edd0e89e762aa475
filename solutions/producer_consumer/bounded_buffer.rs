//! Answer to kata producer_consumer::bounded_buffer: A bounded buffer for several producer and consumer processes.
//!
//! The textbook design, with process-shared POSIX semaphores in the shared mapping
//! (`man 3 sem_init`, pshared = 1): `free` counts empty slots, `filled` counts full ones, and
//! `lock` (a semaphore used as a mutex) guards the two indices. A producer takes a free slot,
//! then the lock; a consumer takes a filled slot, then the lock. Never the other way round: a
//! producer that held the lock while waiting for a free slot would keep every consumer out.
//!
//! Every wait may be bounded: a process killed while holding the lock never releases it, and
//! the others then time out instead of waiting forever.

use std::cell::UnsafeCell;
use std::io;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::spsc_ring::{SharedMapping, check_capacity, deadline_after, timed_out};
use super::{Item, MAX_CAPACITY};

/// An unnamed POSIX semaphore in memory shared between processes (`man 7 sem_overview`).
#[repr(transparent)]
struct Semaphore(UnsafeCell<libc::sem_t>);

impl Semaphore {
    /// Sets the semaphore up, shared between processes, with `value`.
    ///
    /// # Safety
    /// `self` is in a shared mapping that every user process maps, and is not in use yet.
    unsafe fn init(&self, value: u32) -> io::Result<()> {
        // SAFETY: the caller promises the memory is ours and shared; pshared = 1.
        if unsafe { libc::sem_init(self.0.get(), 1, value) } == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
    }

    fn post(&self) -> io::Result<()> {
        // SAFETY: the semaphore was initialised by `init` and its memory lives while self does.
        if unsafe { libc::sem_post(self.0.get()) } == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
    }

    /// Takes one unit, waiting until `deadline` (`None`: for ever); `TimedOut` after it.
    fn wait_until(&self, deadline: Option<Instant>) -> io::Result<()> {
        loop {
            let r = match deadline {
                // SAFETY (all three): the semaphore is initialised and lives while self does.
                None => unsafe { libc::sem_wait(self.0.get()) },
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => {
                        let at = realtime_after(left)?;
                        // SAFETY: as above; `at` outlives the call.
                        unsafe { libc::sem_timedwait(self.0.get(), &at) }
                    }
                    // SAFETY: as above.
                    _ => unsafe { libc::sem_trywait(self.0.get()) },
                },
            };
            if r == 0 {
                return Ok(());
            }
            match io::Error::last_os_error() {
                e if e.raw_os_error() == Some(libc::EINTR) => continue,
                e if matches!(e.raw_os_error(), Some(libc::ETIMEDOUT | libc::EAGAIN)) => return Err(timed_out()),
                e => return Err(e),
            }
        }
    }

    /// # Safety
    /// No process uses the semaphore any more, or ever will.
    unsafe fn destroy(&self) {
        // SAFETY: the caller promises nobody waits on it.
        unsafe { libc::sem_destroy(self.0.get()) };
    }
}

/// `sem_timedwait` takes an absolute CLOCK_REALTIME time (`SystemTime` reads that clock): now
/// plus `left`. A jump of the wall clock shortens or stretches the wait; glibc's
/// `sem_clockwait` takes CLOCK_MONOTONIC, but the libc crate does not declare it.
fn realtime_after(left: Duration) -> io::Result<libc::timespec> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(io::Error::other)?;
    let at = now.saturating_add(left);
    Ok(libc::timespec {
        tv_sec: at.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: at.subsec_nanos() as libc::c_long,
    })
}

/// The start of the shared mapping; the slots follow it.
#[repr(C)]
struct Header {
    free: Semaphore,
    filled: Semaphore,
    lock: Semaphore,
    /// Next slot to write and next slot to read: only touched while holding `lock`.
    next_in: UnsafeCell<usize>,
    next_out: UnsafeCell<usize>,
}

/// A bounded FIFO of [`Item`]s in shared memory, for any number of producer and consumer
/// processes (made before `fork`). Each process's copy is unmapped when dropped; the process
/// that made it also destroys the semaphores, so drop it there last.
pub struct BoundedBuffer {
    map: SharedMapping,
    capacity: usize,
    creator: libc::pid_t,
}

impl BoundedBuffer {
    /// A buffer that holds up to `capacity` items (1 to [`MAX_CAPACITY`], else `InvalidInput`).
    pub fn new(capacity: usize) -> io::Result<BoundedBuffer> {
        check_capacity(capacity)?;
        debug_assert!(capacity <= MAX_CAPACITY);
        let map = SharedMapping::new(size_of::<Header>() + capacity * size_of::<Item>())?;
        let buffer = BoundedBuffer { map, capacity, creator: nix::unistd::getpid().as_raw() };
        let h = buffer.header();
        // SAFETY: the mapping is shared and fresh: nobody else can use the semaphores yet.
        unsafe {
            h.free.init(capacity as u32)?;
            h.filled.init(0)?;
            h.lock.init(1)?;
        }
        Ok(buffer)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Appends `item`, waiting while the buffer is full.
    pub fn push(&self, item: Item) -> io::Result<()> {
        self.push_until(item, None)
    }

    /// Appends `item`, waiting at most `timeout` (for a free slot and the lock): `TimedOut`.
    pub fn push_timeout(&self, item: Item, timeout: Duration) -> io::Result<()> {
        self.push_until(item, deadline_after(timeout))
    }

    /// Takes the oldest item, waiting while the buffer is empty.
    pub fn pop(&self) -> io::Result<Item> {
        self.pop_until(None)
    }

    /// Takes the oldest item, waiting at most `timeout` (for an item and the lock): `TimedOut`.
    pub fn pop_timeout(&self, timeout: Duration) -> io::Result<Item> {
        self.pop_until(deadline_after(timeout))
    }

    fn push_until(&self, item: Item, deadline: Option<Instant>) -> io::Result<()> {
        let h = self.header();
        h.free.wait_until(deadline)?;
        if let Err(e) = h.lock.wait_until(deadline) {
            // Give the free slot back, or the buffer shrinks by one for ever.
            h.free.post()?;
            return Err(e);
        }
        // SAFETY: we hold the lock, so we alone touch the indices; `free` said the slot at
        // next_in is empty. The index comes from memory every process can write: reduced
        // modulo capacity here, a corrupt one cannot send the write outside the mapping.
        unsafe {
            let at = *h.next_in.get() % self.capacity;
            self.slot(at).write(item);
            *h.next_in.get() = self.after(at);
        }
        h.lock.post()?;
        h.filled.post()
    }

    fn pop_until(&self, deadline: Option<Instant>) -> io::Result<Item> {
        let h = self.header();
        h.filled.wait_until(deadline)?;
        if let Err(e) = h.lock.wait_until(deadline) {
            h.filled.post()?;
            return Err(e);
        }
        // SAFETY: we hold the lock; `filled` said the slot at next_out holds an item; the
        // index is reduced as in push_until, so the read stays in the mapping.
        let item = unsafe {
            let at = *h.next_out.get() % self.capacity;
            *h.next_out.get() = self.after(at);
            self.slot(at).read()
        };
        h.lock.post()?;
        h.free.post()?;
        Ok(item)
    }

    /// The slot after `at`, wrapping round at the capacity.
    fn after(&self, at: usize) -> usize {
        (at + 1) % self.capacity
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping starts with a Header (page-aligned; its semaphores are set up by
        // `new`, its indices start at 0) and lives as long as self.
        unsafe { &*self.map.as_ptr().cast::<Header>() }
    }

    fn slot(&self, index: usize) -> *mut Item {
        debug_assert!(index < self.capacity);
        // SAFETY: the slots follow the header; callers pass index < capacity (reduced from the
        // shared indices), so the pointer stays within the mapping.
        unsafe { self.map.as_ptr().add(size_of::<Header>()).cast::<Item>().add(index) }
    }
}

impl Drop for BoundedBuffer {
    fn drop(&mut self) {
        if nix::unistd::getpid().as_raw() == self.creator {
            let h = self.header();
            // SAFETY: the maker drops the buffer last, once the other processes are done.
            unsafe {
                h.free.destroy();
                h.filled.destroy();
                h.lock.destroy();
            }
        }
        // The mapping unmaps itself.
    }
}
