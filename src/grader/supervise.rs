//! Process plumbing of the sandbox: the test process forks a supervisor, the supervisor forks
//! the body, enforces the deadline, and kills and reaps everything the body left running.
//!
//! ```text
//! test process (libtest, many threads)
//!  └─ supervisor: single-threaded, a child subreaper (PR_SET_CHILD_SUBREAPER)
//!      └─ body: its own process group; runs the graded code, then the leak audit
//!          └─ whatever the learner forks or spawns (orphans are reparented to the supervisor)
//! ```
//!
//! The supervisor runs in the child of a `fork` of a multi-threaded process, so it uses only
//! raw system calls and stack buffers: no allocation, no locks that another thread could have
//! held at the moment of the fork.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::frames::{self, Ended, Heard, Tag};

/// How a sandbox run ended, as seen from the test process.
pub(crate) struct Finished {
    pub heard: Heard,
    /// Pid of the body process (the one that must write the verdict).
    pub body_pid: u32,
}

/// How much longer than the body's deadline the test process waits for the supervisor before
/// it gives up on it. The supervisor only kills and reaps, so this is generous.
const SUPERVISOR_GRACE: Duration = Duration::from_secs(5);

/// Runs `body` in a sandboxed grandchild under `deadline`. `body` must write its verdict and
/// leave with `_exit`; if it returns, the body exits with status 0 and no verdict.
pub(crate) fn run<F: FnOnce()>(deadline: Duration, body: F) -> io::Result<Finished> {
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)?;
    // The write end must block: a full pipe slows a chatty body down, it must not drop frames.
    set_nonblocking(write_end.as_raw_fd(), false)?;
    // SAFETY: getpid has no preconditions.
    let test_pid = unsafe { libc::getpid() };
    // SAFETY: the child runs only `supervise`, which uses async-signal-safe calls until it forks
    // the body, and never returns: it leaves with _exit.
    let supervisor = match unsafe { libc::fork() } {
        -1 => return Err(io::Error::last_os_error()),
        0 => supervise(test_pid, write_end.as_raw_fd(), deadline, body),
        pid => pid,
    };
    super::interrupt::supervisor_started(supervisor);
    drop(write_end);
    let mut heard = Heard::default();
    let exited = listen(supervisor, &read_end, deadline + SUPERVISOR_GRACE, &mut heard);
    if !exited {
        // The supervisor itself is stuck: kill it. The body dies with it (PR_SET_PDEATHSIG).
        // SAFETY: supervisor is our own child, not yet reaped, so the pid is still ours.
        unsafe { libc::kill(supervisor, libc::SIGKILL) };
    }
    super::interrupt::supervisor_ending(supervisor);
    reap(supervisor);
    drain(&read_end, &mut heard);
    let body_pid = body_pid(&heard);
    Ok(Finished { heard, body_pid })
}

/// The pid of the body: the supervisor's `Ended` frame says it.
fn body_pid(heard: &Heard) -> u32 {
    heard.ended().map_or(0, |(_, pid)| pid)
}

/// The test process's side: reads frames until the supervisor exits or `limit` passes.
/// Returns whether the supervisor exited.
fn listen(supervisor: libc::pid_t, read_end: &OwnedFd, limit: Duration, heard: &mut Heard) -> bool {
    let watch = ProcessWatch::new(supervisor);
    let start = Instant::now();
    loop {
        let left = limit.saturating_sub(start.elapsed());
        if left.is_zero() {
            return false;
        }
        let mut fds = [
            libc::pollfd { fd: read_end.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: watch.fd(), events: libc::POLLIN, revents: 0 },
        ];
        let n_fds = if watch.fd() >= 0 { 2 } else { 1 };
        // With no pidfd, wake up often to check on the supervisor by waitpid(WNOHANG).
        let timeout = if watch.fd() >= 0 { left } else { left.min(Duration::from_millis(5)) };
        // SAFETY: fds holds n_fds valid pollfd structs.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), n_fds, timeout.as_millis().min(i32::MAX as u128) as i32) };
        if n < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return false;
        }
        if fds[0].revents != 0 {
            drain(read_end, heard);
        }
        if watch.exited() {
            return true;
        }
    }
}

/// Reads everything that is in the pipe now.
fn drain(read_end: &OwnedFd, heard: &mut Heard) {
    let mut buf = [0u8; 16384];
    loop {
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::read(read_end.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        match n {
            n if n > 0 => heard.feed(&buf[..n as usize]),
            -1 if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => continue,
            _ => return,
        }
    }
}

/// Waits for one child of ours, by pid (never `-1`: other tests' children are not ours).
fn reap(pid: libc::pid_t) -> libc::c_int {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return status;
        }
    }
}

/// The signal that told this supervisor to stop (Ctrl-C, SIGTERM, SIGHUP, or its parent's
/// death), or 0. Set by [`on_stop`]; only the supervisor process ever sets it.
static STOP: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn on_stop(signal: libc::c_int) {
    STOP.store(signal, std::sync::atomic::Ordering::SeqCst);
}

fn stop_signal() -> libc::c_int {
    STOP.load(std::sync::atomic::Ordering::SeqCst)
}

/// The supervisor. Never returns.
///
/// Ctrl-C reaches it too (it is in the test process's process group), as does SIGTERM from the
/// test process when the run is interrupted, and its parent-death signal is SIGTERM: each makes
/// it kill the sandbox's process group, reap it, and say `interrupted`, instead of dying and
/// leaving the attempt's processes running.
fn supervise<F: FnOnce()>(test_pid: libc::pid_t, report: RawFd, deadline: Duration, body: F) -> ! {
    close_all_but(report);
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic; a zeroed sigaction with an empty mask
        // and no SA_RESTART, so that the waits below return early with EINTR.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_stop as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
    // SAFETY: prctl with these options takes integer arguments only.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
        if libc::getppid() != test_pid {
            libc::_exit(1); // the test process died before PDEATHSIG was armed
        }
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong);
    }
    let started = Instant::now();
    // SAFETY: the child runs the body and leaves with _exit; the supervisor only uses raw calls.
    let body_pid = match unsafe { libc::fork() } {
        -1 => {
            let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
            frames::send_to(report, Tag::Ended, &Ended::ForkFailed(errno).encode(0));
            // SAFETY: _exit never returns and runs no destructors.
            unsafe { libc::_exit(1) }
        }
        0 => start_body(report, body),
        pid => pid,
    };
    // Both sides call setpgid, the usual way to close the race with the child's own call.
    // SAFETY: setpgid on our own child.
    unsafe { libc::setpgid(body_pid, body_pid) };
    let watch = ProcessWatch::new(body_pid);
    let exited = watch.wait_unless_stopped(deadline.saturating_sub(started.elapsed()));
    let ended = if stop_signal() != 0 {
        // SAFETY: kill the whole group first, then reap the body, our own child.
        unsafe {
            libc::kill(-body_pid, libc::SIGKILL);
            let mut status = 0;
            libc::waitpid(body_pid, &mut status, 0);
        }
        Ended::Interrupted(stop_signal())
    } else if exited {
        let mut status = 0;
        // SAFETY: WNOWAIT leaves the body a zombie, so its process group id stays reserved until
        // the group kill below; status is a valid out-pointer.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(libc::P_PID, body_pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT);
            libc::kill(-body_pid, libc::SIGKILL);
            libc::waitpid(body_pid, &mut status, 0);
        }
        if libc::WIFSIGNALED(status) {
            Ended::Signalled(libc::WTERMSIG(status))
        } else {
            Ended::Exited(libc::WEXITSTATUS(status))
        }
    } else {
        // Before anything is killed: what each process of the test is blocked on, for the report.
        super::forensics::snapshot(report, body_pid);
        // SAFETY: kill the whole group first, then reap the body, our own child.
        unsafe {
            libc::kill(-body_pid, libc::SIGKILL);
            let mut status = 0;
            libc::waitpid(body_pid, &mut status, 0);
        }
        Ended::TimedOut { after_ms: started.elapsed().as_millis() as u64 }
    };
    kill_and_reap_descendants();
    frames::send_to(report, Tag::Ended, &ended.encode(body_pid as u32));
    // SAFETY: _exit never returns and runs no destructors.
    unsafe { libc::_exit(0) }
}

/// Runs before `main` in every test binary (the `.init_array` entry of
/// [`peer_commands!`](crate::peer_commands)): puts a SIGSEGV and a SIGBUS handler of its own in
/// place before the standard library's start-up code runs.
///
/// Why: at start-up the standard library installs its stack-overflow handler, but only if
/// SIGSEGV is still at its default action, and from then on registers every thread it starts
/// in a map guarded by one process-wide mutex (`std::sys::pal::unix::stack_overflow::
/// thread_info::LOCK`). A sandbox forked while another test thread held that mutex inherits it
/// locked, and the first thread the body starts (yours, or the grader's) waits forever. Measured:
/// `cargo test --features solutions --test pipes` hung in 1 of 23 runs on 2 loaded cores, both
/// threads of the body asleep on one futex word whose address is that symbol's (`nm` of the test
/// binary). With a handler already there, the standard library leaves the signals alone and its
/// threads do not take the mutex when they start (they still take it for an instant, over an
/// empty map, when they end).
///
/// The handler does nothing, once (`SA_RESETHAND`): a fault resets the action to the default and
/// returns, the faulting instruction runs again, and the process dies of the signal as it would
/// with no handler. The body resets both signals to their defaults anyway, as a C program starts.
pub fn before_std_start() {
    extern "C" fn fault_once(_: libc::c_int) {}
    // SAFETY: a zeroed sigaction with a handler that touches nothing; called before `main`, when
    // no other thread exists.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = fault_once as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESETHAND | libc::SA_NODEFER;
        for signal in [libc::SIGSEGV, libc::SIGBUS] {
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// The body process: own process group, dies with the supervisor, default SIGPIPE like a C
/// program, an empty signal mask and umask 0 so that a wrong mode shows as it is.
fn start_body<F: FnOnce()>(report: RawFd, body: F) -> ! {
    // SAFETY: plain system calls on this process's own attributes.
    unsafe {
        libc::setpgid(0, 0);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong);
        // The default actions, as a C program starts with (the supervisor's and the test
        // process's own handlers are inherited through fork).
        for signal in [libc::SIGPIPE, libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGSEGV, libc::SIGBUS] {
            libc::signal(signal, libc::SIG_DFL);
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::umask(0);
    }
    frames::set_report_fd(report);
    body();
    // SAFETY: _exit never returns; the body must not run the test harness's code after it.
    unsafe { libc::_exit(0) }
}

/// Kills every remaining child of this (subreaper) process and reaps them, until none is
/// left: orphans of killed processes are reparented here and are caught by the next round.
fn kill_and_reap_descendants() {
    let give_up = Instant::now() + Duration::from_secs(3);
    loop {
        let mut any = false;
        for_each_child(|pid| {
            any = true;
            // SAFETY: pid is our own child (listed in our children file), not yet reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        });
        if !any || Instant::now() > give_up {
            return;
        }
        let mut status = 0;
        // The supervisor is single-threaded and every child it has is part of this sandbox,
        // so waiting for any child is right here (and only here).
        // SAFETY: status is a valid out-pointer.
        while unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } > 0 {}
        // SAFETY: nanosleep with a valid timespec; gives the killed a moment to die.
        unsafe { libc::nanosleep(&libc::timespec { tv_sec: 0, tv_nsec: 1_000_000 }, std::ptr::null_mut()) };
    }
}

/// Calls `f` with each pid in `/proc/self/task/<tid>/children` (the supervisor has one
/// thread). Uses a stack buffer only.
fn for_each_child(mut f: impl FnMut(libc::pid_t)) {
    let mut path = Line::new();
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    path.push(b"/proc/self/task/").num(tid).push(b"/children\0");
    // SAFETY: path is NUL-terminated.
    let fd = unsafe { libc::open(path.bytes().as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return;
    }
    let mut buf = [0u8; 8192];
    // SAFETY: buf is valid for its length; fd was opened above.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    let mut pid: libc::pid_t = 0;
    for &b in &buf[..n.max(0) as usize] {
        if b.is_ascii_digit() {
            pid = pid * 10 + (b - b'0') as libc::pid_t;
        } else if pid > 0 {
            f(pid);
            pid = 0;
        }
    }
    if pid > 0 {
        f(pid);
    }
}

/// Closes every descriptor but 0, 1, 2 and `keep`: descriptors of other tests, inherited
/// through the fork, must not be held open by this sandbox.
fn close_all_but(keep: RawFd) {
    // SAFETY: close_range only closes descriptors; ENOSYS on old kernels is handled below.
    let ok = unsafe {
        libc::syscall(libc::SYS_close_range, 3u32, (keep - 1) as u32, 0u32) == 0
            && libc::syscall(libc::SYS_close_range, (keep + 1) as u32, u32::MAX, 0u32) == 0
    };
    if !ok {
        // SAFETY: getrlimit fills a valid struct; close on any number is harmless.
        unsafe {
            let mut lim: libc::rlimit = std::mem::zeroed();
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
            for fd in 3..(lim.rlim_cur.min(1 << 20) as RawFd) {
                if fd != keep {
                    libc::close(fd);
                }
            }
        }
    }
}

pub(crate) fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        let flags = if on { flags | libc::O_NONBLOCK } else { flags & !libc::O_NONBLOCK };
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether our child `pid` has exited, without reaping it: it stays a zombie until whoever owns
/// it (a [`Worker`](super::Worker), a [`Peer`](super::Peer)) joins it.
pub fn has_exited(pid: libc::pid_t) -> bool {
    ProcessWatch { pid, pidfd: None }.exited()
}

/// Waits for a child to exit without reaping it: a pidfd where the kernel has them
/// (`man 2 pidfd_open`, Linux 5.3), else `waitid(WNOWAIT)` polled every millisecond.
pub(crate) struct ProcessWatch {
    pid: libc::pid_t,
    pidfd: Option<OwnedFd>,
}

impl ProcessWatch {
    pub(crate) fn new(pid: libc::pid_t) -> ProcessWatch {
        // SAFETY: pidfd_open takes a pid and flags; a non-negative result is a new descriptor
        // that we own.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        // SAFETY: fd is a fresh descriptor from pidfd_open.
        let pidfd = (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        ProcessWatch { pid, pidfd }
    }

    fn fd(&self) -> RawFd {
        self.pidfd.as_ref().map_or(-1, |fd| fd.as_raw_fd())
    }

    /// Whether the process has exited (it stays a zombie until reaped).
    pub(crate) fn exited(&self) -> bool {
        // SAFETY: a zeroed siginfo_t is valid; WNOWAIT leaves the child to be reaped later.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let r = libc::waitid(
                libc::P_PID,
                self.pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            );
            r == 0 && info.si_pid() != 0 || r != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)
        }
    }

    /// Waits up to `timeout` for the process to exit, or for the supervisor to be told to stop
    /// (see [`supervise`]); true if the process exited. Sleeps 50 ms at most at a time, so a
    /// signal that lands just before a sleep is seen soon anyway.
    fn wait_unless_stopped(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.exited() {
                return true;
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() || stop_signal() != 0 {
                return false;
            }
            let step = if self.pidfd.is_some() {
                left.min(Duration::from_millis(50))
            } else {
                left.min(Duration::from_millis(1))
            };
            let mut fds = [libc::pollfd { fd: self.fd(), events: libc::POLLIN, revents: 0 }];
            // SAFETY: one valid pollfd; a negative fd is ignored by poll, which then just sleeps.
            unsafe { libc::poll(fds.as_mut_ptr(), 1, step.as_millis().clamp(1, i32::MAX as u128) as i32) };
        }
    }
}

/// A small text buffer on the stack, for the supervisor, which must not allocate.
struct Line {
    buf: [u8; 128],
    len: usize,
}

impl Line {
    fn new() -> Line {
        Line { buf: [0; 128], len: 0 }
    }

    fn push(&mut self, s: &[u8]) -> &mut Line {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
        self
    }

    fn num(&mut self, mut v: i64) -> &mut Line {
        if v < 0 {
            self.push(b"-");
            v = -v;
        }
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
        self
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}
