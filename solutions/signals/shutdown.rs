//! Reference answer: a worker that cleans up on SIGTERM (or SIGINT) and exits 0.

use std::ffi::CString;
use std::io;

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
/// RAII: each object removes itself when dropped, on the way out of every path.
/// See `man 2 sigprocmask`, `man 3 sigwait`, `man 2 msgget`, `man 3 shm_open`.
pub fn serve_until_signalled(sysv_key: i32, shm_name: &str, ready: impl FnOnce()) -> io::Result<Signal> {
    if !shm_name.starts_with('/') || shm_name.len() < 2 || shm_name[1..].contains('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{shm_name:?} is not a POSIX IPC name: one '/' followed by a name without slashes"),
        ));
    }
    let mut stop = SigSet::empty();
    stop.add(Signal::SIGTERM);
    stop.add(Signal::SIGINT);
    let mut old_mask = SigSet::empty();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&stop), Some(&mut old_mask))?;
    let served = serve(sysv_key, shm_name, &stop, ready);
    // sigwait took the stop signal; a second request that came meanwhile is answered by this
    // return too, so take it rather than let it kill the process when the mask comes back.
    let now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid set and timeout; a null siginfo is allowed.
    while unsafe { libc::sigtimedwait(stop.as_ref(), std::ptr::null_mut(), &now) } > 0 {}
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
    served
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
        let id = unsafe { libc::msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o600) };
        if id < 0 {
            return Err(io::Error::last_os_error());
        }
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
