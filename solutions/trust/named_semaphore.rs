//! Answer to kata trust::named_semaphore: A named semaphore as a lock, with a lease for when its holder dies.
//!
//! A POSIX semaphore keeps no owner: a holder that dies between `sem_wait` and `sem_post` leaves
//! it taken for good (SysV's `SEM_UNDO` has no POSIX counterpart). So the lock keeps a lease
//! beside it, the holder's pid in a POSIX shared memory object of the same name, and a waiter
//! that finds the lock held by a process that no longer exists takes the lease over, and with it
//! the taken semaphore.

use std::ffi::CString;
use std::io;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::fcntl::OFlag;
use nix::sys::mman::{self, MapFlags, ProtFlags};
use nix::sys::stat::Mode;

/// The longest name after the `/`: glibc keeps a semaphore as `/dev/shm/sem.NAME`, so NAME_MAX
/// (255) less the 4 bytes of `sem.` (`man 7 sem_overview`: "up to NAME_MAX-4 (i.e., 251)").
pub const MAX_LOCK_NAME: usize = 251;

/// How often a waiter looks at the lease while the lock stays held.
const LOOK_EVERY: Duration = Duration::from_millis(20);

/// A lock between unrelated programs: a named semaphore of value 1 (`man 7 sem_overview`) and
/// its lease, the pid of the holder (0: none), in a shared memory object of the same name.
#[derive(Debug)]
pub struct NamedLock {
    sem: NonNull<libc::sem_t>,
    lease: NonNull<u32>,
}

// SAFETY: sem_timedwait and sem_post may be called from any thread (`man 7 sem_overview`), and
// the lease is only reached as an atomic, so threads may share and send the lock.
unsafe impl Send for NamedLock {}
// SAFETY: as above.
unsafe impl Sync for NamedLock {}

/// The lock, held until the guard is dropped.
#[derive(Debug)]
pub struct NamedGuard<'a> {
    lock: &'a NamedLock,
    recovered: bool,
}

impl NamedLock {
    /// Makes the lock `name` (`/` and 1 to [`MAX_LOCK_NAME`] bytes, no other `/`), free: its lease
    /// first (`shm_open`, sized and zeroed), then the semaphore (`sem_open` with value 1), both
    /// with `O_CREAT | O_EXCL` and mode 0600. The semaphore comes last, so a program that opens it
    /// finds the lease ready.
    ///
    /// Errors: a bad name is `InvalidInput`; a lock of that name that exists is `AlreadyExists`
    /// (and nothing is changed).
    pub fn create(name: &str) -> io::Result<NamedLock> {
        let c_name = check_name(name)?;
        let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR;
        let fd = mman::shm_open(name, flags, Mode::S_IRUSR | Mode::S_IWUSR)?;
        let made = nix::unistd::ftruncate(&fd, size_of::<u32>() as libc::off_t)
            .map_err(io::Error::from)
            .and_then(|()| map_lease(&fd))
            .and_then(|lease| {
                // SAFETY: c_name is NUL-terminated; sem_open with O_CREAT takes a mode and a value.
                let sem =
                    unsafe { libc::sem_open(c_name.as_ptr(), libc::O_CREAT | libc::O_EXCL, 0o600 as libc::c_uint, 1) };
                if sem == libc::SEM_FAILED {
                    let e = io::Error::last_os_error();
                    // SAFETY: the lease mapping made just above.
                    let _ = unsafe { mman::munmap(lease.cast(), size_of::<u32>()) };
                    return Err(e);
                }
                Ok(NamedLock { sem: NonNull::new(sem).expect("sem_open succeeded"), lease })
            });
        if made.is_err() {
            let _ = mman::shm_unlink(name);
        }
        made
    }

    /// Opens the lock `name` another program created: the semaphore first, then its lease.
    ///
    /// Errors: a bad name is `InvalidInput`; no such lock is `NotFound`.
    pub fn open(name: &str) -> io::Result<NamedLock> {
        let c_name = check_name(name)?;
        // SAFETY: c_name is NUL-terminated; without O_CREAT sem_open takes no more arguments.
        let sem = unsafe { libc::sem_open(c_name.as_ptr(), 0) };
        if sem == libc::SEM_FAILED {
            return Err(io::Error::last_os_error());
        }
        let sem = NonNull::new(sem).expect("sem_open succeeded");
        let lease =
            mman::shm_open(name, OFlag::O_RDWR, Mode::empty()).map_err(io::Error::from).and_then(|fd| map_lease(&fd));
        match lease {
            Ok(lease) => Ok(NamedLock { sem, lease }),
            Err(e) => {
                // SAFETY: the semaphore sem_open returned just above.
                unsafe { libc::sem_close(sem.as_ptr()) };
                Err(e)
            }
        }
    }

    fn lease(&self) -> &AtomicU32 {
        // SAFETY: the lease is mapped for as long as self lives, aligned, and only reached as an
        // atomic: other processes write it at any time.
        unsafe { AtomicU32::from_ptr(self.lease.as_ptr()) }
    }

    /// Waits at most `timeout` for the lock. While it is held, looks at the lease every 20 ms:
    /// if the holder it names no longer exists (`kill(pid, 0)` is `ESRCH`), takes the lease over
    /// (compare-and-swap, so only one waiter does) and with it the lock, whose guard then says
    /// [`NamedGuard::recovered`]: what the dead holder guarded may be half done. `Ok(None)` once
    /// `timeout` has passed; a caught signal (`EINTR`) neither ends the wait nor starts it again.
    /// A timeout too long to have a deadline (`Duration::MAX`) is `InvalidInput`.
    ///
    /// Two limits, both of the pid: a holder killed between `sem_wait` and writing its pid
    /// leaves a lease of 0, which names no one to check; and a dead holder's pid that a new
    /// process has been given looks alive (a zombie too, until its parent reaps it).
    pub fn lock_within(&self, timeout: Duration) -> io::Result<Option<NamedGuard<'_>>> {
        let deadline = Instant::now().checked_add(timeout).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("a timeout of {timeout:?} has no deadline"))
        })?;
        let me = std::process::id();
        loop {
            let now = Instant::now();
            let slice = deadline.saturating_duration_since(now).min(LOOK_EVERY);
            if self.wait_for(slice)? {
                self.lease().store(me, Ordering::Release);
                return Ok(Some(NamedGuard { lock: self, recovered: false }));
            }
            let holder = self.lease().load(Ordering::Acquire);
            if holder != 0
                && holder != me
                && !alive(holder)
                && self.lease().compare_exchange(holder, me, Ordering::AcqRel, Ordering::Acquire).is_ok()
            {
                return Ok(Some(NamedGuard { lock: self, recovered: true }));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// One `sem_timedwait` of at most `slice` (its deadline is on CLOCK_REALTIME, `man 3
    /// sem_timedwait`); whether it took the semaphore. EINTR: again, until the same deadline.
    fn wait_for(&self, slice: Duration) -> io::Result<bool> {
        // SystemTime is CLOCK_REALTIME: the deadline is the time since the epoch, once, so an
        // EINTR retries with the same deadline and never makes the wait longer.
        let since_epoch = (SystemTime::now() + slice).duration_since(UNIX_EPOCH).map_err(io::Error::other)?;
        let at = libc::timespec {
            tv_sec: since_epoch.as_secs() as libc::time_t,
            tv_nsec: since_epoch.subsec_nanos() as libc::c_long,
        };
        loop {
            // SAFETY: the semaphore is open for as long as self; at is a valid timespec.
            if unsafe { libc::sem_timedwait(self.sem.as_ptr(), &at) } == 0 {
                return Ok(true);
            }
            match io::Error::last_os_error() {
                e if e.raw_os_error() == Some(libc::ETIMEDOUT) => return Ok(false),
                e if e.raw_os_error() == Some(libc::EINTR) => continue,
                e => return Err(e),
            }
        }
    }

    /// Removes both names, the semaphore's and the lease's. Open locks keep working; a later
    /// `open` is `NotFound`.
    ///
    /// Errors: a bad name is `InvalidInput`; no such lock is `NotFound`.
    pub fn unlink(name: &str) -> io::Result<()> {
        let c_name = check_name(name)?;
        // SAFETY: c_name is NUL-terminated.
        let sem = unsafe { libc::sem_unlink(c_name.as_ptr()) };
        let sem = if sem == 0 { Ok(()) } else { Err(io::Error::last_os_error()) };
        let lease = mman::shm_unlink(name).map_err(io::Error::from);
        sem.and(lease)
    }
}

/// Whether process `pid` exists: `kill(pid, 0)` sends nothing and checks (`man 2 kill`); EPERM
/// means it exists under another user.
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM) }
}

/// Maps the lease (one u32) of an open shared memory object.
fn map_lease(fd: &std::os::fd::OwnedFd) -> io::Result<NonNull<u32>> {
    let len = NonZeroUsize::new(size_of::<u32>()).expect("a u32 has a size");
    // SAFETY: a fresh shared mapping of an object at least 4 bytes long (the creator sizes it
    // before it makes the semaphore that openers look for first); it overlaps nothing of ours.
    let addr =
        unsafe { mman::mmap(None, len, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED, fd, 0)? };
    Ok(addr.cast())
}

/// A portable name: `/`, then 1 to [`MAX_LOCK_NAME`] bytes without `/` or NUL.
fn check_name(name: &str) -> io::Result<CString> {
    let rest = name.strip_prefix('/').unwrap_or("");
    if rest.is_empty() || rest.len() > MAX_LOCK_NAME || rest.contains(['/', '\0']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is no semaphore name: '/' and then 1 to {MAX_LOCK_NAME} bytes without '/' or NUL"),
        ));
    }
    CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

impl NamedGuard<'_> {
    /// Whether the lock was taken over from a holder that died holding it.
    pub fn recovered(&self) -> bool {
        self.recovered
    }
}

impl Drop for NamedGuard<'_> {
    /// Clears the lease, then posts the semaphore: the lock is free.
    fn drop(&mut self) {
        self.lock.lease().store(0, Ordering::Release);
        // SAFETY: the semaphore is open for as long as the lock the guard borrows.
        unsafe { libc::sem_post(self.lock.sem.as_ptr()) };
    }
}

impl Drop for NamedLock {
    /// Closes the semaphore and unmaps the lease; the names stay until [`NamedLock::unlink`].
    fn drop(&mut self) {
        // SAFETY: the semaphore and the mapping this value opened; no guard outlives self.
        unsafe {
            libc::sem_close(self.sem.as_ptr());
            let _ = mman::munmap(self.lease.cast(), size_of::<u32>());
        }
    }
}
