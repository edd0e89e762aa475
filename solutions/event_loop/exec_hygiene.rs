//! Answer to kata event_loop::exec_hygiene: Start a program that inherits only descriptors 0, 1 and 2.
//!
//! What every server that runs a helper program does, by hand: pipe2, fork, dup2, close_range,
//! execve, one poll loop that feeds and drains at once, and waitpid for that child only.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::raw::c_char;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pipe2};

/// How the program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// It exited with this status (`WEXITSTATUS`).
    Code(i32),
    /// It was killed by this signal (`WTERMSIG`).
    Signal(i32),
}

/// What the program printed on its standard output, and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub status: Status,
    pub stdout: Vec<u8>,
}

/// Runs `program` (a path: no PATH search) with `args` after its name and `env` as its whole
/// environment; writes `input` to its stdin, returns its whole stdout and how it ended. The
/// program inherits exactly descriptors 0 (the input pipe), 1 (the output pipe) and 2 (ours),
/// an empty signal mask and SIGPIPE at its default action. An argument, name or value with a
/// NUL byte, or a name with `=`, is `InvalidInput`; a program that cannot be started is the
/// error exec gave (`NotFound`, `PermissionDenied`), never an exit status.
/// See `man 2 pipe2`, `man 2 dup2`, `man 2 close_range`, `man 2 execve`, `man 7 signal-safety`.
pub fn run_filter(program: &Path, args: &[&str], env: &[(&str, &str)], input: &[u8]) -> io::Result<Output> {
    // Everything that allocates happens before the fork: the caller may have other threads, and
    // one of them may hold the allocator's lock at the moment of the fork, forever in the child.
    let exec = Exec::new(program, args, env)?;
    // Every descriptor is close-on-exec from the moment it exists (pipe2, not pipe + fcntl):
    // another thread of the caller may fork and exec a program of its own at any instant.
    let (stdin_rx, stdin_tx) = pipe2(OFlag::O_CLOEXEC)?;
    let (stdout_rx, stdout_tx) = pipe2(OFlag::O_CLOEXEC)?;
    let child = exec.spawn(stdin_rx, stdout_tx)?;
    let stdout = exchange(stdin_tx, stdout_rx, input)?;
    let status = child.wait()?;
    Ok(Output { status, stdout })
}

/// The program, its argv and its environment as C strings, ready before the fork.
struct Exec {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl Exec {
    fn new(program: &Path, args: &[&str], env: &[(&str, &str)]) -> io::Result<Exec> {
        let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
        let c_string = |bytes: &[u8], what: &str| {
            CString::new(bytes)
                .map_err(|_| invalid(format!("{what} has a NUL byte: {:?}", String::from_utf8_lossy(bytes))))
        };
        let path = c_string(program.as_os_str().as_bytes(), "the program's path")?;
        let mut argv = vec![path.clone()];
        for arg in args {
            argv.push(c_string(arg.as_bytes(), "an argument")?);
        }
        let mut envp = Vec::with_capacity(env.len());
        for (name, value) in env {
            if name.is_empty() || name.contains('=') {
                return Err(invalid(format!("{name:?} is no environment variable name (empty, or has '=')")));
            }
            envp.push(c_string(format!("{name}={value}").as_bytes(), "an environment variable")?);
        }
        Ok(Exec { path, argv, envp })
    }

    /// Forks; the child puts `stdin` on 0 and `stdout` on 1 and execs. Our copies of the child's
    /// ends are closed on return. An exec failure comes back as its errno through a
    /// close-on-exec pipe: end-of-file on it means the exec succeeded.
    fn spawn(&self, stdin: OwnedFd, stdout: OwnedFd) -> io::Result<Child> {
        let argv = null_terminated(&self.argv);
        let envp = null_terminated(&self.envp);
        let (error_rx, error_tx) = pipe2(OFlag::O_CLOEXEC)?;
        // SAFETY: the child only calls `in_child`, which makes async-signal-safe calls on memory
        // prepared before the fork, and leaves by execve or _exit: it never returns into Rust
        // code that could allocate, unwind or run destructors.
        match unsafe { fork() }? {
            ForkResult::Child => {
                // SAFETY: argv and envp are NULL-terminated arrays of pointers to live C strings.
                let errno = unsafe { in_child(&self.path, &argv, &envp, stdin.as_raw_fd(), stdout.as_raw_fd()) };
                // SAFETY: write from a live stack buffer, then _exit: both async-signal-safe.
                unsafe {
                    libc::write(error_tx.as_raw_fd(), errno.to_ne_bytes().as_ptr().cast(), 4);
                    libc::_exit(127)
                }
            }
            ForkResult::Parent { child } => {
                let child = Child { pid: Some(child) };
                // The child's ends, and the error pipe's write end, are the child's alone now:
                // a copy kept here would keep the program from ever seeing end-of-file on its
                // input, and us on its output and on the error pipe.
                drop((stdin, stdout, error_tx));
                let mut errno = [0u8; 4];
                // read_exact goes on through EINTR; end-of-file before 4 bytes is the exec.
                match File::from(error_rx).read_exact(&mut errno) {
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(child),
                    Err(e) => Err(e),
                    Ok(()) => {
                        // It exits 127 at once; Child's drop reaps it.
                        let cause = io::Error::from_raw_os_error(i32::from_ne_bytes(errno));
                        Err(io::Error::new(cause.kind(), format!("could not start {:?}: {cause}", self.path)))
                    }
                }
            }
        }
    }
}

/// The pointers execve wants: one a string, then NULL. Valid as long as `strings` lives.
fn null_terminated(strings: &[CString]) -> Vec<*const c_char> {
    strings.iter().map(|s| s.as_ptr()).chain(std::iter::once(std::ptr::null())).collect()
}

/// Between fork and exec, in the child: stdin on 0, stdout on 1, every other descriptor but 2
/// closed at exec, an empty signal mask, SIGPIPE at its default action; then execve. Returns
/// the errno of the step that failed (execve returns only on failure).
///
/// # Safety
/// Call only in a child just forked; `argv` and `envp` are NULL-terminated arrays of pointers to
/// live C strings. Only async-signal-safe calls (`man 7 signal-safety`: dup2, fcntl, sigprocmask,
/// sigaction, execve; close_range is a plain system call) and no allocation.
unsafe fn in_child(path: &CString, argv: &[*const c_char], envp: &[*const c_char], stdin: i32, stdout: i32) -> i32 {
    // SAFETY: system calls on this process's own descriptors and signal state; the pointers are
    // valid as the caller promises.
    unsafe {
        // Both ends first move to 3 or above: if the caller had 0 or 1 closed, a pipe end may
        // already sit on 0 or 1, and the dup2 onto it would close the other end, or be
        // dup2(fd, fd), which does nothing and leaves FD_CLOEXEC set (`man 2 dup2`).
        let stdin = libc::fcntl(stdin, libc::F_DUPFD_CLOEXEC, 3);
        let stdout = libc::fcntl(stdout, libc::F_DUPFD_CLOEXEC, 3);
        if stdin < 0 || stdout < 0 {
            return errno();
        }
        // A copy made by dup2 does not have FD_CLOEXEC: these two survive the exec.
        if libc::dup2(stdin, 0) < 0 || libc::dup2(stdout, 1) < 0 {
            return errno();
        }
        // What the caller opened without close-on-exec is not ours to fix in the parent, but it
        // must not reach the program: mark 3 and up close-on-exec (Linux 5.11). Marked, not
        // closed, so that the error pipe stays open until the exec succeeds.
        if libc::close_range(3, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC as libc::c_int) < 0 {
            return errno();
        }
        // The mask survives exec (a caller that reads signals from a signalfd blocks them all),
        // and so does an ignored disposition (Rust's runtime ignores SIGPIPE).
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) < 0
            || libc::sigaction(libc::SIGPIPE, &default, std::ptr::null_mut()) < 0
        {
            return errno();
        }
        libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
        errno()
    }
}

fn errno() -> i32 {
    Errno::last_raw()
}

/// Writes `input` into the program's stdin and reads its stdout, at once, in one poll loop:
/// done one after the other, a program that writes as it reads fills its output pipe while we
/// still write, and both wait forever. Closes stdin once the input is written (the program's
/// end-of-file); returns the output once stdout reaches end-of-file.
fn exchange(stdin: OwnedFd, stdout: OwnedFd, input: &[u8]) -> io::Result<Vec<u8>> {
    // Our ends' own open file descriptions: O_NONBLOCK here does not touch the program's ends.
    set_nonblocking(&stdin)?;
    set_nonblocking(&stdout)?;
    // A program may exit without reading all its input: the write fails with EPIPE, and the
    // SIGPIPE that comes with it must not kill the caller.
    let _sigpipe = SigpipeBlocked::new()?;
    let mut stdin = (!input.is_empty()).then_some(stdin);
    let mut stdout = Some(File::from(stdout));
    let (mut written, mut output, mut buf) = (0, Vec::new(), vec![0u8; 64 * 1024]);
    while stdin.is_some() || stdout.is_some() {
        let mut fds = Vec::with_capacity(2);
        if let Some(fd) = &stdin {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLOUT));
        }
        if let Some(file) = &stdout {
            fds.push(PollFd::new(file.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            other => other?,
        };
        let ready: Vec<bool> = fds.iter().map(|fd| fd.revents().is_some_and(|r| !r.is_empty())).collect();
        let (stdin_ready, stdout_ready) = match (&stdin, &stdout) {
            (Some(_), Some(_)) => (ready[0], ready[1]),
            (Some(_), None) => (ready[0], false),
            _ => (false, ready[0]),
        };
        if let (true, Some(fd)) = (stdin_ready, &stdin) {
            match nix::unistd::write(fd, &input[written..]) {
                Ok(n) => written += n,
                Err(Errno::EAGAIN | Errno::EINTR) => {}
                // The program closed its stdin: the rest of the input is not wanted.
                Err(Errno::EPIPE) => written = input.len(),
                Err(e) => return Err(e.into()),
            }
            if written == input.len() {
                stdin = None;
            }
        }
        if let (true, Some(file)) = (stdout_ready, &mut stdout) {
            match file.read(&mut buf) {
                Ok(0) => stdout = None,
                Ok(n) => output.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(output)
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// The started program. Dropped without `wait` (an error on the way), it is killed and reaped:
/// no zombie and no stray process outlives the call.
struct Child {
    pid: Option<Pid>,
}

impl Child {
    /// Waits for this child only: `waitpid(-1)` would reap the caller's other children.
    fn wait(mut self) -> io::Result<Status> {
        let pid = self.pid.take().expect("a child is waited for once");
        match wait_for(pid)? {
            WaitStatus::Exited(_, code) => Ok(Status::Code(code)),
            WaitStatus::Signaled(_, signal, _) => Ok(Status::Signal(signal as i32)),
            other => Err(io::Error::other(format!("the program ended oddly: {other:?}"))),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = wait_for(pid);
        }
    }
}

/// `waitpid` for `pid`, retried on EINTR: given up on, the child would stay a zombie.
fn wait_for(pid: Pid) -> nix::Result<WaitStatus> {
    loop {
        match waitpid(pid, None) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// Blocks SIGPIPE in the calling thread while it lives. On drop it takes a SIGPIPE that became
/// pending meanwhile (so that it is not delivered on unblocking) and restores the old mask.
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
