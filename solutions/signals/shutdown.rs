//! Answer to kata signals::shutdown: Shut down cleanly on SIGTERM.

use std::ffi::CString;
use std::io;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::mman::{shm_open, shm_unlink};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::stat::Mode;

/// Creates a SysV message queue with `sysv_key` and a POSIX shared memory object named
/// `shm_name`, both owner-only (0600) and exclusively; calls `ready()` once both exist; waits
/// for SIGTERM or SIGINT; removes both objects and returns the signal that asked it to stop.
///
/// SIGTERM and SIGINT are blocked before anything is created, so a request to stop that comes
/// at any moment (even during `ready()`) stays pending until `sigwait` takes it: no lost
/// wake-up, and no death by a signal's default action with the objects still there. Cleanup is
/// RAII: each object removes itself when dropped, and the old mask comes back, on the way out
/// of every path, a panic in `ready()` included.
///
/// The mask is per thread (`man 2 sigprocmask`: in a multithreaded process it is
/// `pthread_sigmask`, and each thread has its own). A SIGTERM sent to the process goes to any
/// thread that does not block it, and its default action there kills the whole process before
/// any cleanup. So in a program with other threads, block SIGTERM and SIGINT before creating
/// them (threads inherit the mask), or call this before any other thread exists.
/// See `man 2 sigprocmask`, `man 3 sigwait`, `man 7 signal`, `man 2 msgget`, `man 3 shm_open`.
pub fn serve_until_signalled(sysv_key: i32, shm_name: &str, ready: impl FnOnce()) -> io::Result<Signal> {
    // Checked before anything is made: a bad name leaves nothing to clean up.
    let valid = shm_name.strip_prefix('/').is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
    if !valid {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{shm_name:?} is not a POSIX IPC name: one '/' followed by a name without slashes"),
        ));
    }
    let mut stop = SigSet::empty();
    stop.add(Signal::SIGTERM);
    stop.add(Signal::SIGINT);
    let blocked = Blocked::new(stop)?;
    // Declared after `blocked`, the objects are dropped (removed) before the mask comes back.
    serve(sysv_key, shm_name, &blocked.stop, ready)
}

/// The stop signals blocked in this thread; dropping it (on return or while unwinding) takes
/// any stop request still pending and restores the mask that was there before.
struct Blocked {
    stop: SigSet,
    old_mask: SigSet,
}

impl Blocked {
    fn new(stop: SigSet) -> io::Result<Blocked> {
        let mut old_mask = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&stop), Some(&mut old_mask))?;
        Ok(Blocked { stop, old_mask })
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        // sigwait took the stop signal; a second request that came meanwhile is answered by
        // this return too, so take it rather than let it kill the process when the mask comes
        // back. A stop signal the caller had blocked already stays blocked, and is left to it.
        let now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        let mut ours = SigSet::empty();
        for signal in self.stop.iter().filter(|signal| !self.old_mask.contains(*signal)) {
            ours.add(signal);
        }
        // SAFETY: a valid set and timeout; a null siginfo is allowed.
        while unsafe { libc::sigtimedwait(ours.as_ref(), std::ptr::null_mut(), &now) } > 0 {}
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.old_mask), None);
    }
}

fn serve(sysv_key: i32, shm_name: &str, stop: &SigSet, ready: impl FnOnce()) -> io::Result<Signal> {
    let _queue = SysvQueue::create(sysv_key)?;
    let _shm = PosixShm::create(shm_name)?;
    ready();
    // sigwait only fails for an invalid set; the objects are dropped on every path.
    Ok(stop.wait()?)
}

/// A SysV message queue that removes itself (`msgctl(IPC_RMID)`) when dropped.
struct SysvQueue {
    id: i32,
}

impl SysvQueue {
    fn create(key: i32) -> io::Result<SysvQueue> {
        // SAFETY: msgget takes plain values.
        let id = Errno::result(unsafe { libc::msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o600) })?;
        Ok(SysvQueue { id })
    }
}

impl Drop for SysvQueue {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID takes no buffer; the id is ours.
        unsafe { libc::msgctl(self.id, libc::IPC_RMID, std::ptr::null_mut()) };
    }
}

/// A POSIX shared memory object that unlinks its name when dropped.
struct PosixShm {
    name: CString,
}

impl PosixShm {
    fn create(name: &str) -> io::Result<PosixShm> {
        let name = CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in the name"))?;
        let fd =
            shm_open(name.as_c_str(), OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR, Mode::from_bits_truncate(0o600))?;
        drop(fd); // the name keeps the object; this worker needs no mapping
        Ok(PosixShm { name })
    }
}

impl Drop for PosixShm {
    fn drop(&mut self) {
        let _ = shm_unlink(self.name.as_c_str());
    }
}
