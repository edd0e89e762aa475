//! Answer to kata event_loop::signals_as_events: Signals as events: block them first, then read them from a signalfd.

use std::collections::VecDeque;
use std::io;
use std::marker::PhantomData;
use std::mem::{MaybeUninit, size_of};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// One signal read from the signalfd: its number, the pid of the process that sent it
/// (`ssi_pid`), and the value `sigqueue` gave it (`ssi_int`; 0 for `kill`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalEvent {
    pub signal: i32,
    pub pid: u32,
    pub value: i32,
}

/// A set of signals turned into events: blocked in the thread that made it, and read from a
/// `signalfd` (`man 2 signalfd`). Dropping it closes the descriptor, discards what is still
/// pending of its signals, and unblocks the signals it blocked.
///
/// The mask it changed is the calling thread's, so it is not `Send`: dropped in another thread
/// it would unblock the signals there.
#[derive(Debug)]
pub struct SignalEvents {
    fd: OwnedFd,
    /// The signals it blocked itself: those the thread did not block already.
    blocked: libc::sigset_t,
    /// Events already read from the descriptor (one read returns as many as are pending and fit)
    /// but not yet returned by `next`.
    read: VecDeque<SignalEvent>,
    not_send: PhantomData<*const ()>,
}

/// How many signals one read takes at most.
const BATCH: usize = 16;

impl SignalEvents {
    /// Blocks `signals` in the calling thread (`pthread_sigmask`), then opens a signalfd for them,
    /// close-on-exec and non-blocking. The order matters: a signal that is not blocked is
    /// delivered as usual (its handler, or its default action: SIGUSR1 ends the process) and never
    /// reaches the descriptor. Block them before starting threads: a thread made later inherits
    /// the mask, and a signal sent to the process goes to any thread that does not block it.
    ///
    /// `InvalidInput` for an empty list, SIGKILL or SIGSTOP (they cannot be blocked), or a number
    /// that is no signal; the mask is left as it was on every error.
    pub fn new(signals: &[i32]) -> io::Result<SignalEvents> {
        let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
        if signals.is_empty() {
            return Err(invalid("no signals to read: the list is empty".into()));
        }
        let mut set = empty_set();
        for &signal in signals {
            if matches!(signal, libc::SIGKILL | libc::SIGSTOP) {
                return Err(invalid(format!("signal {signal} (SIGKILL or SIGSTOP) cannot be blocked or read")));
            }
            if !(1..=libc::SIGRTMAX()).contains(&signal) {
                return Err(invalid(format!("{signal} is not a signal number")));
            }
            // SAFETY: `set` is an initialised set and `signal` a valid signal number.
            unsafe { libc::sigaddset(&mut set, signal) };
        }
        let old = thread_mask(libc::SIG_BLOCK, &set)?;
        // What this call blocks itself: the signals asked for that the thread did not block.
        let mut blocked = empty_set();
        for &signal in signals {
            // SAFETY: both sets are initialised and `signal` is valid.
            if unsafe { libc::sigismember(&old, signal) } == 0 {
                // SAFETY: as above.
                unsafe { libc::sigaddset(&mut blocked, signal) };
            }
        }
        // SAFETY: `set` is a valid set; -1 asks for a new descriptor, which we own on success.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            let _ = thread_mask(libc::SIG_UNBLOCK, &blocked);
            return Err(e);
        }
        // SAFETY: signalfd returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(SignalEvents { fd, blocked, read: VecDeque::new(), not_send: PhantomData })
    }

    /// The next signal, waiting at most `timeout` for one (`poll` on the descriptor, retried with
    /// what is left of the timeout when a handled signal interrupts it); `None` once the timeout
    /// has passed with no signal. Standard signals sent while one is pending are merged into it
    /// (the kernel keeps one per signal); real-time signals queue and come one event each, in the
    /// order sent.
    pub fn next(&mut self, timeout: Duration) -> io::Result<Option<SignalEvent>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.read.pop_front() {
                return Ok(Some(event));
            }
            if self.read_pending()? > 0 {
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            // Rounded up to the next millisecond: poll never waits less than asked, and we never
            // return None before the timeout.
            let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Reads what is pending into `self.read`; how many events that was (0: nothing pending).
    /// One read returns whole `signalfd_siginfo` records, as many as are pending and fit.
    fn read_pending(&mut self) -> io::Result<usize> {
        let mut buf = [MaybeUninit::<libc::signalfd_siginfo>::uninit(); BATCH];
        let n = loop {
            // SAFETY: the buffer has room for BATCH records, and the kernel writes at most that.
            let n = unsafe {
                libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), size_of::<[libc::signalfd_siginfo; BATCH]>())
            };
            if n >= 0 {
                break n as usize;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(0),
                _ => return Err(e),
            }
        };
        let records = n / size_of::<libc::signalfd_siginfo>();
        for record in &buf[..records] {
            // SAFETY: the kernel filled the first `records` records (it reads whole ones only).
            let info = unsafe { record.assume_init_ref() };
            self.read.push_back(SignalEvent { signal: info.ssi_signo as i32, pid: info.ssi_pid, value: info.ssi_int });
        }
        Ok(records)
    }
}

impl AsFd for SignalEvents {
    /// The signalfd, for the caller's own `epoll` or `poll`: readable while a signal is pending.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for SignalEvents {
    /// Reads and discards what is still pending of the signals it blocked, then unblocks them.
    /// Left pending, an unblocked signal would be delivered at once: its default action (SIGUSR1,
    /// SIGTERM: the process ends) or a handler, for a signal that was sent to this loop. One that
    /// arrives between the last read and the unblocking is still delivered so. A signal the caller
    /// had blocked before `new` stays blocked, and pending if it is: it is the caller's to take.
    fn drop(&mut self) {
        // SAFETY: our own descriptor and an initialised set: given an existing signalfd, signalfd
        // only replaces the set of signals it reads. Should that fail, the reads below take every
        // signal of the old set, which is still safe.
        unsafe { libc::signalfd(self.fd.as_raw_fd(), &self.blocked, 0) };
        while matches!(self.read_pending(), Ok(n) if n > 0) {}
        let _ = thread_mask(libc::SIG_UNBLOCK, &self.blocked);
    }
}

fn empty_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the whole set.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        set.assume_init()
    }
}

/// `pthread_sigmask(how, set)` on the calling thread; returns the mask it had before.
fn thread_mask(how: libc::c_int, set: &libc::sigset_t) -> io::Result<libc::sigset_t> {
    let mut old = empty_set();
    // SAFETY: both pointers are to initialised sets; the call changes only this thread's mask.
    match unsafe { libc::pthread_sigmask(how, set, &mut old) } {
        0 => Ok(old),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}
