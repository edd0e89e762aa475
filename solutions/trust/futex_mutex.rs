//! Answer to kata trust::futex_mutex: A process-shared mutex on a raw futex: no system call unless someone waits.
//!
//! The three-state design of Ulrich Drepper's "Futexes Are Tricky" (its mutex 3): the word is
//! 0 (unlocked), 1 (locked, no one waiting) or 2 (locked, maybe someone waiting). Locking an
//! unlocked mutex is one compare-and-swap, and unlocking a mutex no one waits for is one swap:
//! neither enters the kernel. Only a locker that finds it held marks it 2 and sleeps in
//! `futex(FUTEX_WAIT_BITSET)`, and only an unlock that finds 2 calls `futex(FUTEX_WAKE)`.

use std::io;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::sys::mman::{self, MapFlags, ProtFlags};

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;

/// The shared mapping: the futex word and the value it guards. Other processes write both at
/// any time, so no `&` or `&mut` to the value is ever made, and the word is only reached as an
/// atomic.
#[repr(C)]
struct Shared {
    state: AtomicU32,
    value: u64,
}

/// A `u64` in memory shared with the processes forked after [`FutexMutex::new`], guarded by a
/// mutex built on one futex word in the same memory (`man 2 futex`, `man 7 futex`). The futex
/// is a shared one (no `FUTEX_PRIVATE_FLAG`): the kernel finds its waiters by the physical page,
/// so a wake in one process reaches a waiter in another.
///
/// The mutex is not robust: a holder that dies leaves it locked (see `sync::robust_mutex`).
pub struct FutexMutex {
    shared: NonNull<Shared>,
}

// SAFETY: the word is only touched atomically, and the value only by the holder of the lock,
// so threads may share and send the mutex as processes do.
unsafe impl Send for FutexMutex {}
// SAFETY: as above.
unsafe impl Sync for FutexMutex {}

/// The lock, held until the guard is dropped.
pub struct FutexGuard<'a> {
    shared: NonNull<Shared>,
    _mutex: PhantomData<&'a FutexMutex>,
}

impl FutexMutex {
    /// A mutex guarding `value`, unlocked, in a fresh `MAP_SHARED | MAP_ANONYMOUS` mapping.
    pub fn new(value: u64) -> io::Result<FutexMutex> {
        let len = NonZeroUsize::new(size_of::<Shared>()).expect("Shared has a size");
        // SAFETY: a fresh anonymous shared mapping overlaps nothing of ours; it is page-aligned
        // and zero-filled, so the word starts at 0 (UNLOCKED), and it is ours alone until a fork.
        let shared: NonNull<Shared> = unsafe {
            let ptr =
                mman::mmap_anonymous(None, len, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED)?;
            (&raw mut (*ptr.cast::<Shared>().as_ptr()).value).write(value);
            ptr.cast()
        };
        Ok(FutexMutex { shared })
    }

    fn state(&self) -> &AtomicU32 {
        // SAFETY: the mapping lives as long as self, and the word is an atomic: other processes
        // changing it is what atomics are for.
        unsafe { &(*self.shared.as_ptr()).state }
    }

    /// Waits for the mutex, asleep in the kernel while another holds it.
    ///
    /// Errors: none in practice; a futex error other than `EAGAIN` or `EINTR` is returned.
    pub fn lock(&self) -> io::Result<FutexGuard<'_>> {
        self.acquire(None)?;
        Ok(self.guard())
    }

    /// Waits at most `timeout` for the mutex: `Ok(None)` once it has passed. The deadline is
    /// computed once, on `CLOCK_MONOTONIC`, and given to `FUTEX_WAIT_BITSET` as an absolute time,
    /// so neither a signal (`EINTR`) nor a wake that another process wins makes the wait longer.
    ///
    /// Errors: a timeout whose deadline does not fit a `timespec` is `InvalidInput`.
    pub fn lock_within(&self, timeout: Duration) -> io::Result<Option<FutexGuard<'_>>> {
        if self.state().compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return Ok(Some(self.guard()));
        }
        let deadline = deadline_after(timeout)?;
        Ok(self.acquire(Some(&deadline))?.then(|| self.guard()))
    }

    /// Takes the lock: at once if it is free, else asleep until it is or until `deadline`.
    /// Whether it was taken.
    fn acquire(&self, deadline: Option<&libc::timespec>) -> io::Result<bool> {
        let state = self.state();
        if state.compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return Ok(true);
        }
        // Held: say someone waits (2), and sleep while it stays 2. Taking it with 2, not 1,
        // keeps the mark for any other waiter, so our own unlock will wake it.
        while state.swap(CONTENDED, Ordering::Acquire) != UNLOCKED {
            match futex_wait(state, CONTENDED, deadline) {
                // Woken, the word was no longer 2 when we went to sleep, or a signal: try again.
                Ok(()) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EINTR)) => {}
                Err(e) if e.raw_os_error() == Some(libc::ETIMEDOUT) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    fn guard(&self) -> FutexGuard<'_> {
        FutexGuard { shared: self.shared, _mutex: PhantomData }
    }
}

/// Now on `CLOCK_MONOTONIC` plus `timeout`, as the absolute time `FUTEX_WAIT_BITSET` takes.
fn deadline_after(timeout: Duration) -> io::Result<libc::timespec> {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)?;
    let too_far = || io::Error::new(io::ErrorKind::InvalidInput, format!("a timeout of {timeout:?} has no deadline"));
    let mut sec =
        libc::time_t::try_from(timeout.as_secs()).ok().and_then(|s| now.tv_sec().checked_add(s)).ok_or_else(too_far)?;
    let mut nsec = now.tv_nsec() + libc::c_long::from(timeout.subsec_nanos() as i32);
    if nsec >= 1_000_000_000 {
        nsec -= 1_000_000_000;
        sec = sec.checked_add(1).ok_or_else(too_far)?;
    }
    Ok(libc::timespec { tv_sec: sec, tv_nsec: nsec })
}

/// Sleeps while `word` holds `expected`, until a wake or `deadline` (absolute, CLOCK_MONOTONIC).
fn futex_wait(word: &AtomicU32, expected: u32, deadline: Option<&libc::timespec>) -> io::Result<()> {
    let deadline = deadline.map_or(std::ptr::null(), |d| d as *const libc::timespec);
    // SAFETY: the word is a live, aligned u32 in memory that stays mapped during the call; the
    // deadline is null or a valid timespec; the remaining arguments are plain values.
    let result = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT_BITSET,
            expected,
            deadline,
            std::ptr::null::<u32>(),
            libc::FUTEX_BITSET_MATCH_ANY,
        )
    };
    if result == -1 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Wakes one process asleep on `word`.
fn futex_wake(word: &AtomicU32) {
    // SAFETY: as in futex_wait; FUTEX_WAKE only reads its arguments.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1) };
}

impl FutexGuard<'_> {
    /// The guarded value.
    pub fn get(&self) -> u64 {
        // SAFETY: we hold the lock, so no other process writes the value now.
        unsafe { (&raw const (*self.shared.as_ptr()).value).read() }
    }

    /// Replaces the guarded value.
    pub fn set(&mut self, value: u64) {
        // SAFETY: as in get.
        unsafe { (&raw mut (*self.shared.as_ptr()).value).write(value) }
    }
}

impl Drop for FutexGuard<'_> {
    /// Unlocks: one swap, and a wake only if someone may be waiting.
    fn drop(&mut self) {
        // SAFETY: as in FutexMutex::state: a live mapping, reached as an atomic.
        let state = unsafe { &(*self.shared.as_ptr()).state };
        if state.swap(UNLOCKED, Ordering::Release) == CONTENDED {
            futex_wake(state);
        }
    }
}

impl Drop for FutexMutex {
    /// Unmaps this process's view of the mapping; the others keep theirs.
    fn drop(&mut self) {
        // SAFETY: exactly the mapping new() made (or this process inherited), and no guard
        // outlives self.
        let _ = unsafe { mman::munmap(self.shared.cast(), size_of::<Shared>()) };
    }
}
