//! Answer to kata event_loop::pidfd_supervisor: Supervise children through pidfds, never by a bare pid.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

/// One child of a [`Supervisor`], as [`Supervisor::spawn`] named it. Never reused: a child
/// reported by [`Supervisor::wait_any`] keeps its id, and no later child gets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChildId(u64);

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status (`_exit(code)`: 0 to 255).
    Code(i32),
    /// A signal killed it (the number, e.g. 15 for SIGTERM).
    Signal(i32),
}

/// Children started by [`Supervisor::spawn`], each held by a pidfd (`man 2 pidfd_open`): a
/// descriptor that names that one process for as long as it is open, even once its pid is free
/// and given to another process. The pidfds are in one epoll instance, so one `epoll_wait`
/// waits for any of them to exit (a pidfd is readable once its process has exited).
///
/// Dropping the supervisor kills every child still there with SIGKILL and reaps it.
#[derive(Debug)]
pub struct Supervisor {
    epoll: Epoll,
    /// The pidfd of every child not yet reported, by id.
    children: HashMap<u64, OwnedFd>,
    next: u64,
}

impl Supervisor {
    /// An empty supervisor: an epoll instance, close-on-exec so that the programs it starts
    /// do not inherit it.
    pub fn new() -> io::Result<Supervisor> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        Ok(Supervisor { epoll, children: HashMap::new(), next: 0 })
    }

    /// Starts `command` and holds the child by a pidfd from then on.
    ///
    /// Between the spawn and `pidfd_open` the pid is safe to use: the child is ours and nobody
    /// has reaped it yet, so its pid cannot have been given to another process. (Only a
    /// caller that sets SIGCHLD to SIG_IGN, which makes the kernel reap children at once, or
    /// reaps with `waitpid(-1)` in another thread, could break that: neither is done here.)
    /// The child's stdio is as the command sets it; piped ends are closed here.
    pub fn spawn(&mut self, command: &mut Command) -> io::Result<ChildId> {
        let mut child = command.spawn()?;
        let pidfd = match pidfd_open(child.id()) {
            Ok(pidfd) => pidfd,
            Err(e) => {
                // No pidfd (a kernel before 5.3): the child is still unreaped, so std's kill
                // and wait by pid reach it and nobody else.
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        // std's Child does nothing when dropped: it neither waits for nor kills the child.
        drop(child);
        let id = self.next;
        if let Err(e) = self.epoll.add(&pidfd, EpollEvent::new(EpollFlags::EPOLLIN, id)) {
            kill_and_reap(&pidfd);
            return Err(e.into());
        }
        self.next += 1;
        self.children.insert(id, pidfd);
        Ok(ChildId(id))
    }

    /// Sends `signal` to `child` through its pidfd (`man 2 pidfd_send_signal`).
    ///
    /// A child that has exited but is not reported yet takes the signal without effect (the
    /// kernel returns success for a zombie): `Ok`, and [`Supervisor::wait_any`] reports how it
    /// really ended. A child already reported, or not one of ours, is `NotFound`; a signal number
    /// the kernel does not know is `InvalidInput` (EINVAL).
    pub fn stop(&mut self, child: ChildId, signal: i32) -> io::Result<()> {
        let pidfd = self.children.get(&child.0).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{child:?} is not a running child: already reported, or never ours"),
            )
        })?;
        pidfd_send_signal(pidfd.as_fd(), signal)
    }

    /// Waits up to `timeout` for any child to exit; reaps it with `waitid(P_PIDFD)` and says which
    /// child it was and how it ended. `None` once the timeout passes with no exit, or at once
    /// when there is no child left to wait for.
    pub fn wait_any(&mut self, timeout: Duration) -> io::Result<Option<(ChildId, Exit)>> {
        if self.children.is_empty() {
            return Ok(None);
        }
        let deadline = Instant::now() + timeout;
        let mut events = [EpollEvent::empty()];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // Rounded up to a whole millisecond, so that a timeout never ends early.
            let ms = left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
            let timeout = EpollTimeout::try_from(ms).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            match self.epoll.wait(&mut events, timeout) {
                Ok(0) => return Ok(None),
                Ok(_) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let id = events[0].data();
        let pidfd =
            self.children.remove(&id).ok_or_else(|| io::Error::other("epoll reported a child it no longer holds"))?;
        // Out of the interest list before the pidfd closes: closing alone would leave it there
        // while a copy of the descriptor lives on (`man 7 epoll`, Q&A), in a child forked meanwhile.
        self.epoll.delete(&pidfd)?;
        // Readable: the child has exited, so this waitid returns at once.
        let exit = reap(&pidfd)?;
        Ok(Some((ChildId(id), exit)))
    }
}

impl Drop for Supervisor {
    /// Kills every child still there with SIGKILL, through its pidfd, and reaps it: no zombie
    /// and no orphan left running. A child that exited unreported is reaped as it is.
    fn drop(&mut self) {
        for pidfd in self.children.values() {
            kill_and_reap(pidfd);
        }
    }
}

/// SIGKILL through the pidfd (success for a zombie too), then reap.
fn kill_and_reap(pidfd: &OwnedFd) {
    let _ = pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
    let _ = reap(pidfd);
}

/// `pidfd_open(pid, 0)`: the descriptor is close-on-exec (`man 2 pidfd_open`: the flag is
/// always set).
fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `pidfd_send_signal(pidfd, signal, NULL, 0)`: as `kill`, but to the process the pidfd names.
fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: a valid descriptor for the call; a null siginfo means "as kill(2) sends it".
    let r = unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), signal, std::ptr::null::<libc::siginfo_t>(), 0)
    };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// `waitid(P_PIDFD, pidfd, WEXITED)`: waits for that child and reaps it; never another one.
fn reap(pidfd: &OwnedFd) -> io::Result<Exit> {
    loop {
        // SAFETY: a zeroed siginfo_t is a valid out-buffer; the descriptor is valid for the call.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let r = unsafe { libc::waitid(libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t, &mut info, libc::WEXITED) };
        if r == 0 {
            // SAFETY: waitid filled in a SIGCHLD siginfo: si_status is the field to read.
            let status = unsafe { info.si_status() };
            // si_code says how to read si_status (`man 2 waitid`): an exit status for
            // CLD_EXITED, a signal number for CLD_KILLED and CLD_DUMPED.
            return match info.si_code {
                libc::CLD_EXITED => Ok(Exit::Code(status)),
                libc::CLD_KILLED | libc::CLD_DUMPED => Ok(Exit::Signal(status)),
                code => Err(io::Error::other(format!("waitid reported si_code {code}, not an exit"))),
            };
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
