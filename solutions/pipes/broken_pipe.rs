//! Answer to kata pipes::broken_pipe: Write to a pipe nobody reads.

use std::fs::File;
use std::io::{self, Write};

use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::unistd::pipe;

/// Makes a pipe, closes its read end, and writes `data` into it. Returns the write's error,
/// `BrokenPipe` (EPIPE), without dying of SIGPIPE and without changing how the rest of the
/// process handles SIGPIPE. Writing nothing needs no reader and succeeds.
/// See `man 7 pipe` ("If all file descriptors referring to the read end … are closed") and
/// `man 2 sigtimedwait`.
pub fn broken_pipe(data: &[u8]) -> io::Result<()> {
    let (read_end, write_end) = pipe()?;
    drop(read_end);
    let _blocked = SigpipeBlocked::new()?;
    File::from(write_end).write_all(data)
}

/// Blocks SIGPIPE in the calling thread while it lives. On drop it takes a SIGPIPE that became
/// pending meanwhile (so it is not delivered on unblocking) and restores the old mask.
struct SigpipeBlocked {
    old: SigSet,
    was_pending: bool,
}

impl SigpipeBlocked {
    fn new() -> io::Result<SigpipeBlocked> {
        let mut old = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::from(Signal::SIGPIPE)), Some(&mut old))?;
        Ok(SigpipeBlocked { old, was_pending: sigpipe_pending() })
    }
}

/// Whether a SIGPIPE is pending for this thread or the process (`man 2 sigpending`).
fn sigpipe_pending() -> bool {
    let mut pending = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigpending fills the set it is given; we read it only when the call succeeded.
    unsafe { libc::sigpending(pending.as_mut_ptr()) == 0 && libc::sigismember(pending.as_ptr(), libc::SIGPIPE) == 1 }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        if !self.was_pending {
            let sigpipe = SigSet::from(Signal::SIGPIPE);
            let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: both pointers are valid for the call; a null siginfo is allowed. With a zero
            // timeout it returns at once, taking our SIGPIPE if one is pending.
            unsafe { libc::sigtimedwait(sigpipe.as_ref(), std::ptr::null_mut(), &zero) };
        }
        // Restoring the old mask cannot fail with a valid set; there is nothing to do if it did.
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.old), None);
    }
}
