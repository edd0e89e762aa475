//! Answer to kata sync::robust_mutex: A robust mutex: a lock that comes back when its holder dies.
//!
//! The protocol of `man 3 pthread_mutex_consistent`: after `EOWNERDEAD` the new owner holds
//! the lock and the state it guards is suspect. It repairs the state first and only then marks
//! the mutex consistent. If it unlocks without doing so (a `?` or a panic drops the guard in
//! the middle of the repair), the mutex becomes permanently unusable and every later lock
//! fails with `ENOTRECOVERABLE`: nobody is ever handed half-repaired data as clean.

use std::io;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::ptr::NonNull;

use nix::sys::mman::{self, MapFlags, ProtFlags};

/// The shared mapping. Other processes lock the mutex and write the value at any time, so no
/// `&` or `&mut` to it is ever made: the fields are reached through raw pointers only.
#[repr(C)]
struct Shared {
    mutex: libc::pthread_mutex_t,
    value: u64,
}

/// A `u64` in shared memory behind a mutex that is process-shared and robust
/// (`man 3 pthread_mutexattr_setrobust`): if a holder dies, the next `lock` gets the mutex with
/// `EOWNERDEAD`, and the guard says so.
///
/// Every process that inherits a copy unmaps it when the copy is dropped; only the process
/// that made the mutex destroys it (`pthread_mutex_destroy` in one process would break it for
/// all the others), so drop it there last.
pub struct RobustMutex {
    shared: NonNull<Shared>,
    creator: libc::pid_t,
}

/// The lock, held until the guard is dropped.
///
/// After the previous owner died ([`RobustGuard::previous_owner_died`]), repair the value and
/// call [`RobustGuard::mark_consistent`] before dropping the guard; a guard dropped without
/// it leaves the mutex unrecoverable (`ENOTRECOVERABLE` for every later `lock`).
pub struct RobustGuard<'a> {
    shared: NonNull<Shared>,
    owner_died: bool,
    /// Whether the mutex is consistent: false only after EOWNERDEAD, until `mark_consistent`.
    consistent: bool,
    _mutex: PhantomData<&'a RobustMutex>,
}

fn check(code: libc::c_int) -> io::Result<()> {
    if code == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(code)) }
}

impl RobustMutex {
    /// A mutex guarding `value`, in memory shared with processes forked after this call.
    pub fn new(value: u64) -> io::Result<RobustMutex> {
        let len = NonZeroUsize::new(size_of::<Shared>()).expect("Shared has a size");
        // SAFETY: a fresh anonymous shared mapping overlaps nothing of ours.
        let ptr = unsafe {
            mman::mmap_anonymous(None, len, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED)?
        };
        let shared: NonNull<Shared> = ptr.cast();
        // SAFETY: attr is initialised before use and destroyed once; the mutex and value are in
        // the fresh, page-aligned mapping, which no other process can reach yet.
        let made = unsafe {
            let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
            check(libc::pthread_mutexattr_init(attr.as_mut_ptr()))?;
            let made = check(libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED))
                .and_then(|()| check(libc::pthread_mutexattr_setrobust(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_ROBUST)))
                .and_then(|()| check(libc::pthread_mutex_init(&raw mut (*shared.as_ptr()).mutex, attr.as_ptr())));
            libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
            (&raw mut (*shared.as_ptr()).value).write(value);
            made
        };
        if let Err(e) = made {
            // SAFETY: the mapping we just made, of exactly this length.
            let _ = unsafe { mman::munmap(ptr, len.get()) };
            return Err(e);
        }
        Ok(RobustMutex { shared, creator: nix::unistd::getpid().as_raw() })
    }

    /// Waits for the mutex. If its last holder died holding it (`EOWNERDEAD`), returns a guard
    /// whose [`RobustGuard::previous_owner_died`] is true: the value may be half-updated, and
    /// the mutex stays inconsistent until [`RobustGuard::mark_consistent`].
    ///
    /// Errors: `ENOTRECOVERABLE` once a guard after a death was dropped without
    /// `mark_consistent`; any other error number pthread returns.
    pub fn lock(&self) -> io::Result<RobustGuard<'_>> {
        // SAFETY: the mutex was initialised in new() and lives as long as self.
        let (owner_died, consistent) = match unsafe { libc::pthread_mutex_lock(mutex(self.shared)) } {
            0 => (false, true),
            // We hold the lock, but what it guards may be half-updated: the caller repairs it
            // and then calls mark_consistent.
            libc::EOWNERDEAD => (true, false),
            code => return Err(io::Error::from_raw_os_error(code)),
        };
        Ok(RobustGuard { shared: self.shared, owner_died, consistent, _mutex: PhantomData })
    }
}

/// The mutex in the mapping, as the raw pointer pthread takes.
fn mutex(shared: NonNull<Shared>) -> *mut libc::pthread_mutex_t {
    // SAFETY: shared points into a live mapping that holds a Shared; no reference is made.
    unsafe { &raw mut (*shared.as_ptr()).mutex }
}

/// The value in the mapping, as a raw pointer.
fn value(shared: NonNull<Shared>) -> *mut u64 {
    // SAFETY: as in mutex.
    unsafe { &raw mut (*shared.as_ptr()).value }
}

impl Drop for RobustMutex {
    fn drop(&mut self) {
        if nix::unistd::getpid().as_raw() == self.creator {
            // SAFETY: the mutex was initialised in new(), in this process; its maker drops it
            // last, when no other process uses it any more.
            unsafe { libc::pthread_mutex_destroy(mutex(self.shared)) };
        }
        // SAFETY: this process's mapping (made in new() or inherited through fork), exactly
        // this long; no guard outlives self.
        let _ = unsafe { mman::munmap(self.shared.cast(), size_of::<Shared>()) };
    }
}

impl RobustGuard<'_> {
    /// True if the previous holder died holding the lock: what it was changing may be half
    /// done, and the caller should check or repair the value, then call `mark_consistent`.
    pub fn previous_owner_died(&self) -> bool {
        self.owner_died
    }

    /// Declares the value repaired (`pthread_mutex_consistent`): the mutex unlocks normally
    /// when this guard drops. Does nothing if the mutex is consistent already.
    pub fn mark_consistent(&mut self) -> io::Result<()> {
        if !self.consistent {
            // SAFETY: we hold the mutex, locked with EOWNERDEAD and not yet made consistent,
            // which is what pthread_mutex_consistent requires.
            check(unsafe { libc::pthread_mutex_consistent(mutex(self.shared)) })?;
            self.consistent = true;
        }
        Ok(())
    }

    /// The guarded value.
    pub fn get(&self) -> u64 {
        // SAFETY: we hold the mutex, so no other process writes the value now.
        unsafe { value(self.shared).read() }
    }

    /// Replaces the guarded value.
    pub fn set(&mut self, value: u64) {
        // SAFETY: as in get.
        unsafe { self::value(self.shared).write(value) }
    }
}

impl Drop for RobustGuard<'_> {
    /// Unlocks the mutex. Unlocked while still inconsistent (after EOWNERDEAD, without
    /// `mark_consistent`), it becomes unrecoverable: every later lock fails with
    /// `ENOTRECOVERABLE`.
    fn drop(&mut self) {
        // SAFETY: this guard holds the mutex, which lives as long as the guard's RobustMutex.
        unsafe { libc::pthread_mutex_unlock(mutex(self.shared)) };
    }
}
