//! Answer to kata sync::shared_counter: One counter, several processes, an exact total.
//!
//! Three ways to keep one counter exact across processes.

use std::io;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::sys::mman::{self, MapFlags, ProtFlags};

/// Memory for one `T`, shared with every child forked after it was made (`MAP_SHARED |
/// MAP_ANONYMOUS`, `man 2 mmap`), zero-filled. A `MAP_PRIVATE` mapping would be copied on
/// write: each process would count in its own copy.
///
/// Each process unmaps its own copy when it drops it; only the process that made the memory
/// may destroy the lock in it ([`Shared::made_here`]): `pthread_mutex_destroy` in a child that
/// drops its copy would break the mutex for every other process.
struct Shared<T> {
    ptr: NonNull<T>,
    creator: libc::pid_t,
}

impl<T> Shared<T> {
    fn new() -> io::Result<Shared<T>> {
        let len = NonZeroUsize::new(size_of::<T>()).expect("a shared value has a size");
        // SAFETY: a fresh anonymous mapping overlaps nothing of ours; page alignment suits T.
        let ptr = unsafe {
            mman::mmap_anonymous(None, len, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED)?
        };
        Ok(Shared { ptr: ptr.cast(), creator: nix::unistd::getpid().as_raw() })
    }

    /// The shared value, as a raw pointer: other processes write it, so no `&mut` to it is made.
    fn get(&self) -> *mut T {
        self.ptr.as_ptr()
    }

    /// Whether this process made the mapping (rather than inheriting it through fork).
    fn made_here(&self) -> bool {
        nix::unistd::getpid().as_raw() == self.creator
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // SAFETY: ptr is the start of a mapping of size_of::<T>() bytes that we made.
        let _ = unsafe { mman::munmap(self.ptr.cast(), size_of::<T>()) };
    }
}

/// An error number returned by a pthread or semaphore call, as an io::Error.
fn check(code: libc::c_int) -> io::Result<()> {
    if code == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(code)) }
}

/// A counter in shared memory, incremented with one atomic read-modify-write (`fetch_add`, a
/// `lock xadd` on x86): no update is lost, with no lock at all.
pub struct AtomicCounter {
    shared: Shared<AtomicU64>,
}

impl AtomicCounter {
    /// A counter at 0, shared with processes forked after this call.
    pub fn new() -> io::Result<AtomicCounter> {
        // Zero-filled memory is a valid AtomicU64 holding 0.
        Ok(AtomicCounter { shared: Shared::new()? })
    }

    /// Adds one, atomically.
    pub fn increment(&self) -> io::Result<()> {
        // Relaxed is enough for a count: the parent reads it after waitpid, which orders it.
        self.value().fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The current count.
    pub fn get(&self) -> io::Result<u64> {
        Ok(self.value().load(Ordering::SeqCst))
    }

    fn value(&self) -> &AtomicU64 {
        // SAFETY: the mapping holds an AtomicU64 for as long as self lives, and atomics may be
        // shared between processes.
        unsafe { &*self.shared.get() }
    }
}

#[repr(C)]
struct Locked<L> {
    lock: L,
    count: u64,
}

/// A counter in shared memory guarded by a `pthread_mutex_t` made with
/// `PTHREAD_PROCESS_SHARED` (`man 3 pthread_mutexattr_setpshared`). Without the attribute
/// glibc uses a process-private futex: a process that sleeps on the lock is never woken by an
/// unlock in another process.
pub struct MutexCounter {
    shared: Shared<Locked<libc::pthread_mutex_t>>,
}

impl MutexCounter {
    /// A counter at 0 with its mutex, shared with processes forked after this call.
    pub fn new() -> io::Result<MutexCounter> {
        let shared: Shared<Locked<libc::pthread_mutex_t>> = Shared::new()?;
        // SAFETY: attr is initialised by pthread_mutexattr_init before any other use and
        // destroyed once; the mutex lives in the shared mapping, which is not yet in use.
        unsafe {
            let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
            check(libc::pthread_mutexattr_init(attr.as_mut_ptr()))?;
            let made = check(libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED))
                .and_then(|()| check(libc::pthread_mutex_init(&raw mut (*shared.get()).lock, attr.as_ptr())));
            libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
            made?;
        }
        Ok(MutexCounter { shared })
    }

    /// Adds one under the mutex.
    pub fn increment(&self) -> io::Result<()> {
        let locked = self.shared.get();
        // SAFETY: the mutex was initialised in new() and lives as long as self; count is only
        // touched while it is held.
        unsafe {
            check(libc::pthread_mutex_lock(&raw mut (*locked).lock))?;
            (*locked).count += 1;
            check(libc::pthread_mutex_unlock(&raw mut (*locked).lock))
        }
    }

    /// The current count, read under the mutex.
    pub fn get(&self) -> io::Result<u64> {
        let locked = self.shared.get();
        // SAFETY: as in increment.
        unsafe {
            check(libc::pthread_mutex_lock(&raw mut (*locked).lock))?;
            let count = (*locked).count;
            check(libc::pthread_mutex_unlock(&raw mut (*locked).lock))?;
            Ok(count)
        }
    }
}

impl Drop for MutexCounter {
    fn drop(&mut self) {
        if self.shared.made_here() {
            // SAFETY: the mutex was initialised in new(), in this process; its maker drops it
            // last, when no other process uses it.
            unsafe { libc::pthread_mutex_destroy(&raw mut (*self.shared.get()).lock) };
        }
    }
}

/// A counter in shared memory guarded by an unnamed POSIX semaphore at 1 made with
/// `pshared` = 1 (`man 3 sem_init`): `sem_wait` takes it, `sem_post` gives it back.
pub struct SemaphoreCounter {
    shared: Shared<Locked<libc::sem_t>>,
}

impl SemaphoreCounter {
    /// A counter at 0 with its semaphore, shared with processes forked after this call.
    pub fn new() -> io::Result<SemaphoreCounter> {
        let shared: Shared<Locked<libc::sem_t>> = Shared::new()?;
        // SAFETY: the semaphore lives in the shared mapping, which is not yet in use.
        Errno::result(unsafe { libc::sem_init(&raw mut (*shared.get()).lock, 1, 1) })?;
        Ok(SemaphoreCounter { shared })
    }

    /// Adds one while holding the semaphore.
    pub fn increment(&self) -> io::Result<()> {
        let locked = self.shared.get();
        self.wait()?;
        // SAFETY: count lives in the mapping and is only touched while the semaphore is held.
        unsafe { (*locked).count += 1 };
        self.post()
    }

    /// The current count, read while holding the semaphore.
    pub fn get(&self) -> io::Result<u64> {
        self.wait()?;
        // SAFETY: as in increment.
        let count = unsafe { (*self.shared.get()).count };
        self.post()?;
        Ok(count)
    }

    fn wait(&self) -> io::Result<()> {
        loop {
            // SAFETY: the semaphore was initialised in new() and lives as long as self.
            match Errno::result(unsafe { libc::sem_wait(&raw mut (*self.shared.get()).lock) }) {
                Ok(_) => return Ok(()),
                // A handler interrupted the wait (`man 3 sem_wait`): wait again.
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn post(&self) -> io::Result<()> {
        // SAFETY: as in wait.
        Errno::result(unsafe { libc::sem_post(&raw mut (*self.shared.get()).lock) })?;
        Ok(())
    }
}

impl Drop for SemaphoreCounter {
    fn drop(&mut self) {
        if self.shared.made_here() {
            // SAFETY: initialised in new(), in this process; its maker drops it last, when no
            // other process waits on it (`man 3 sem_destroy`: destroying a semaphore others
            // are blocked on is undefined behaviour, and so is using one after it).
            unsafe { libc::sem_destroy(&raw mut (*self.shared.get()).lock) };
        }
    }
}
