//! Reference answer: a process-shared robust mutex that survives the death of its holder.

use std::io;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::ptr::NonNull;

use nix::sys::mman::{self, MapFlags, ProtFlags};

#[repr(C)]
struct Shared {
    mutex: libc::pthread_mutex_t,
    value: u64,
}

/// A `u64` in shared memory behind a mutex that is process-shared and robust
/// (`man 3 pthread_mutexattr_setrobust`): if a holder dies, the next `lock` gets the mutex with
/// `EOWNERDEAD`, and the guard says so.
pub struct RobustMutex {
    shared: NonNull<Shared>,
}

/// The lock, held until the guard is dropped.
pub struct RobustGuard<'a> {
    shared: NonNull<Shared>,
    owner_died: bool,
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
        // the fresh mapping, which nobody else uses yet.
        let made = unsafe {
            let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
            check(libc::pthread_mutexattr_init(attr.as_mut_ptr()))?;
            let made = check(libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED))
                .and_then(|()| check(libc::pthread_mutexattr_setrobust(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_ROBUST)))
                .and_then(|()| check(libc::pthread_mutex_init(&raw mut (*shared.as_ptr()).mutex, attr.as_ptr())));
            libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
            (*shared.as_ptr()).value = value;
            made
        };
        if let Err(e) = made {
            // SAFETY: the mapping we just made, of exactly this length.
            let _ = unsafe { mman::munmap(ptr, len.get()) };
            return Err(e);
        }
        Ok(RobustMutex { shared })
    }

    /// Waits for the mutex. If its last holder died holding it (`EOWNERDEAD`), marks it
    /// consistent again (`pthread_mutex_consistent`) and returns a guard whose
    /// [`RobustGuard::previous_owner_died`] is true: the value may be half-updated.
    pub fn lock(&self) -> io::Result<RobustGuard<'_>> {
        let mutex = self.mutex();
        // SAFETY: the mutex was initialised in new() and lives as long as self.
        let owner_died = match unsafe { libc::pthread_mutex_lock(mutex) } {
            0 => false,
            libc::EOWNERDEAD => {
                // Without this, unlocking makes the mutex unusable for good (ENOTRECOVERABLE).
                // SAFETY: we hold the mutex after EOWNERDEAD, as pthread_mutex_consistent needs.
                check(unsafe { libc::pthread_mutex_consistent(mutex) })?;
                true
            }
            code => return Err(io::Error::from_raw_os_error(code)),
        };
        Ok(RobustGuard { shared: self.shared, owner_died, _mutex: PhantomData })
    }

    fn mutex(&self) -> *mut libc::pthread_mutex_t {
        // SAFETY: shared points into our live mapping.
        unsafe { &raw mut (*self.shared.as_ptr()).mutex }
    }
}

impl Drop for RobustMutex {
    fn drop(&mut self) {
        // SAFETY: the mutex was initialised in new(); the mapping is ours and exactly this long.
        unsafe {
            libc::pthread_mutex_destroy(self.mutex());
            let _ = mman::munmap(self.shared.cast(), size_of::<Shared>());
        }
    }
}

impl RobustGuard<'_> {
    /// True if the previous holder died holding the lock: what it was changing may be half
    /// done, and the caller should check or repair the value.
    pub fn previous_owner_died(&self) -> bool {
        self.owner_died
    }

    /// The guarded value.
    pub fn get(&self) -> u64 {
        // SAFETY: we hold the mutex, so nobody else touches the value.
        unsafe { (*self.shared.as_ptr()).value }
    }

    /// Replaces the guarded value.
    pub fn set(&mut self, value: u64) {
        // SAFETY: as in get.
        unsafe { (*self.shared.as_ptr()).value = value }
    }
}

impl Drop for RobustGuard<'_> {
    /// Unlocks the mutex.
    fn drop(&mut self) {
        // SAFETY: this guard holds the mutex, which lives as long as the guard's RobustMutex.
        unsafe { libc::pthread_mutex_unlock(&raw mut (*self.shared.as_ptr()).mutex) };
    }
}
