//! A hang explained from the kernel's own evidence (GRADER.md, "A hang is explained from the
//! kernel's evidence").
//!
//! At the deadline, before it kills anything, the supervisor calls [`snapshot`]: it walks every
//! process of the sandbox (the body, its descendants, orphans reparented to the supervisor, peer
//! programs) and sends what `/proc` shows of each to the test process as raw records: the blocked
//! system call of each thread and its arguments (`/proc/PID/task/TID/syscall`), the memory those
//! arguments point to (`/proc/PID/mem`: a futex word, a `sembuf`, a path, a signal set), every
//! descriptor (`/proc/PID/fd`, `fdinfo`), the signal masks (`/proc/PID/status`), and the state of
//! the SysV queues and semaphore sets the threads are blocked on (`msgctl`, `semctl`).
//!
//! Who does what, and why it is sound:
//! - The supervisor is a fork of the multi-threaded test process, so another thread may have held
//!   the allocator's lock at the moment of the fork: [`snapshot`] allocates nothing. It uses raw
//!   system calls (`open`, `read`, `readlink`, `getdents64`, `pread`, `ioctl`, `semctl`,
//!   `msgctl`, `write`) on stack buffers, like the rest of the supervisor. It must run there: the
//!   supervisor is the one process that knows the deadline passed, it is every sandbox process's
//!   ancestor (what Yama's `ptrace_scope=1` asks of a reader of `/proc/PID/syscall` and `mem`),
//!   and the processes still exist only until it kills them.
//! - The test process, where allocation is safe, decodes the records ([`explain`]): it names the
//!   objects, draws the picture and matches the deadlock rules. The records travel on the
//!   sandbox's report pipe, which the test process drains while the supervisor writes.
//! - Nothing is changed in the sandbox: it only reads, except one thing. To count a pipe's unread
//!   bytes, it opens the pipe again through `/proc/PID/fd/N` read-only and non-blocking, asks
//!   `FIONREAD` and closes it: an extra reader on an anonymous pipe wakes no one (only a FIFO's
//!   `open` waits for readers, and FIFOs are never opened). The outcome was already decided
//!   ("timeout") before the snapshot starts, so nothing seen here can change it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::os::fd::RawFd;

use super::frames::{self, Heard, Tag};

/// At most this many processes, threads per process and descriptors per process are looked at.
const MAX_PROCS: usize = 32;
const MAX_TASKS: usize = 8;
const MAX_FDS: usize = 48;
/// Separates records in the stream the supervisor sends.
const RS: u8 = 0x1e;

// ---------------------------------------------------------------------------------------------
// The supervisor's side: no allocation, raw system calls, stack buffers.
// ---------------------------------------------------------------------------------------------

/// A small text buffer on the stack (paths, numbers).
struct Text<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    fn new() -> Self {
        Text { buf: [0; N], len: 0 }
    }

    fn push(&mut self, s: &[u8]) -> &mut Self {
        let n = s.len().min(N - 1 - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
        self
    }

    fn num(&mut self, v: i64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut u = v.unsigned_abs();
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (u % 10) as u8;
            u /= 10;
            if u == 0 {
                break;
            }
        }
        if v < 0 {
            self.push(b"-");
        }
        self.push(&digits[i..])
    }

    /// A NUL-terminated pointer to the text (the buffer always keeps one byte for the NUL).
    fn c_str(&mut self) -> *const libc::c_char {
        self.buf[self.len] = 0;
        self.buf.as_ptr().cast()
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The record stream to the test process, flushed in frames.
struct Out {
    fd: RawFd,
    buf: [u8; 3800],
    len: usize,
}

impl Out {
    fn push(&mut self, mut s: &[u8]) {
        while !s.is_empty() {
            if self.len == self.buf.len() {
                self.flush();
            }
            let n = s.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
            self.len += n;
            s = &s[n..];
        }
    }

    fn num(&mut self, v: i64) {
        let mut t = Text::<24>::new();
        t.num(v);
        self.push(t.bytes());
    }

    /// Starts a record: `RS kind a b\n`.
    fn record(&mut self, kind: &[u8], a: i64, b: i64) {
        self.push(&[RS]);
        self.push(kind);
        self.push(b" ");
        self.num(a);
        self.push(b" ");
        self.num(b);
        self.push(b"\n");
    }

    fn flush(&mut self) {
        frames::send_to(self.fd, Tag::Forensics, &self.buf[..self.len]);
        self.len = 0;
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn open_ro(path: &mut Text<96>, flags: libc::c_int) -> Result<RawFd, i32> {
    // SAFETY: the path is NUL-terminated by c_str.
    let fd = unsafe { libc::open(path.c_str(), libc::O_RDONLY | libc::O_CLOEXEC | flags) };
    if fd < 0 { Err(errno()) } else { Ok(fd) }
}

fn close(fd: RawFd) {
    // SAFETY: fd was opened by this module and is closed once.
    unsafe { libc::close(fd) };
}

/// Reads the start of a file into `buf`.
fn read_file(path: &mut Text<96>, buf: &mut [u8]) -> Result<usize, i32> {
    let fd = open_ro(path, 0)?;
    let mut len = 0;
    while len < buf.len() {
        // SAFETY: the destination is the unused tail of buf.
        let n = unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
        if n <= 0 {
            break;
        }
        len += n as usize;
    }
    close(fd);
    Ok(len)
}

fn read_link(path: &mut Text<96>, buf: &mut [u8]) -> Result<usize, i32> {
    // SAFETY: the path is NUL-terminated, buf is valid for its length.
    let n = unsafe { libc::readlink(path.c_str(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 { Err(errno()) } else { Ok(n as usize) }
}

/// Calls `f` with every numeric entry of a directory, through `getdents64` on a stack buffer.
fn each_number(path: &mut Text<96>, mut f: impl FnMut(i64)) -> Result<(), i32> {
    let fd = open_ro(path, libc::O_DIRECTORY)?;
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: buf is valid for its length; fd is a directory opened above.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) };
        if n <= 0 {
            break;
        }
        let mut at = 0usize;
        while at + 19 < n as usize {
            let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
            let name = &buf[at + 19..at + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if !name.is_empty() && name.iter().all(u8::is_ascii_digit) {
                f(name.iter().fold(0i64, |v, &d| v * 10 + (d - b'0') as i64));
            }
            at += reclen.max(1);
        }
    }
    close(fd);
    Ok(())
}

fn proc_path(pid: i64, tail: &[u8]) -> Text<96> {
    let mut p = Text::new();
    p.push(b"/proc/").num(pid).push(tail);
    p
}

/// Parses `/proc/PID/syscall`: `NR ARG1..ARG6 SP PC`, or `running`, or `-1 SP PC`.
fn parse_syscall(text: &[u8]) -> Option<(i64, [u64; 6])> {
    let mut words = text.split(|&b| b == b' ' || b == b'\n').filter(|w| !w.is_empty());
    let first = words.next()?;
    let (neg, digits) = match first.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, first),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let nr = digits.iter().fold(0i64, |v, &d| v * 10 + (d - b'0') as i64);
    let nr = if neg { -nr } else { nr };
    let mut args = [0u64; 6];
    for arg in args.iter_mut() {
        let w = words.next().unwrap_or(b"0x0");
        let w = w.strip_prefix(b"0x").unwrap_or(w);
        *arg = w.iter().fold(0u64, |v, &d| {
            let digit = (d as char).to_digit(16).unwrap_or(0) as u64;
            v.wrapping_mul(16).wrapping_add(digit)
        });
    }
    Some((nr, args))
}

/// The memory a blocked call's arguments point to that the explanation needs:
/// `(address, length)`.
fn memory_wanted(nr: i64, args: &[u64; 6]) -> Option<(u64, usize)> {
    let a = args;
    match nr {
        libc::SYS_futex => Some((a[0], 16)),
        libc::SYS_rt_sigsuspend | libc::SYS_rt_sigtimedwait => Some((a[0], 8)),
        libc::SYS_semop | libc::SYS_semtimedop => Some((a[1], 6 * (a[2] as usize).clamp(1, 4))),
        libc::SYS_openat => Some((a[1], 200)),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_open => Some((a[0], 200)),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_poll => Some((a[0], 8 * (a[1] as usize).clamp(1, 8))),
        libc::SYS_ppoll => Some((a[0], 8 * (a[1] as usize).clamp(1, 8))),
        _ => None,
    }
}

/// Snapshots every process of the sandbox whose body is `body` and sends it on `report`.
/// Called by the supervisor at the deadline, before it kills anything. Allocates nothing.
pub(crate) fn snapshot(report: RawFd, body: libc::pid_t) {
    let mut t0 = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t0) };
    let mut out = Out { fd: report, buf: [0; 3800], len: 0 };
    out.record(b"body", body as i64, 0);
    let mut buf = [0u8; 2048];
    let mut self_exe = Text::<96>::new();
    self_exe.push(b"/proc/self/exe");
    if let Ok(n) = read_link(&mut self_exe, &mut buf) {
        out.record(b"selfexe", 0, 0);
        out.push(&buf[..n]);
    }
    // The supervisor's own descriptors (the report pipe, the test's stdout and stderr) are the
    // grader's: the processes inherited them, and they are left out of the picture.
    let mut fds = [0i64; 16];
    let mut n_fds = 0;
    let mut own = Text::<96>::new();
    own.push(b"/proc/self/fd");
    let _ = each_number(&mut own, |fd| {
        if n_fds < fds.len() {
            fds[n_fds] = fd;
            n_fds += 1;
        }
    });
    for &fd in &fds[..n_fds] {
        // SAFETY: a zeroed stat is valid; fstat fills it (a descriptor closed meanwhile fails).
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: st is a valid out-pointer.
        if unsafe { libc::fstat(fd as RawFd, &mut st) } == 0
            && matches!(st.st_mode & libc::S_IFMT, libc::S_IFIFO | libc::S_IFSOCK)
        {
            out.record(b"grader-pipe", st.st_ino as i64, 0);
        }
    }

    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() } as i64;
    let mut pids = [0i64; MAX_PROCS];
    let mut n_pids = 0usize;
    let mut sems = [-1i64; 8];
    let mut msgs = [-1i64; 8];
    let mut pipes = [0u64; MAX_FDS];
    let mut n_pipes = 0usize;
    add_children(me, &mut pids, &mut n_pids, &mut out);
    let mut i = 0;
    while i < n_pids {
        if micros_since(&t0) > BUDGET_US {
            out.record(b"cut", (n_pids - i) as i64, 0);
            break;
        }
        let pid = pids[i];
        i += 1;
        describe(pid, &mut out, &mut buf, &mut sems, &mut msgs, &mut pipes, &mut n_pipes);
        add_children(pid, &mut pids, &mut n_pids, &mut out);
    }
    for &id in sems.iter().filter(|&&id| id >= 0) {
        describe_sem(id, &mut out);
    }
    for &id in msgs.iter().filter(|&&id| id >= 0) {
        describe_msg(id, &mut out);
    }
    out.record(b"took", micros_since(&t0), 0);
    out.flush();
}

/// The snapshot stops looking at more processes after this long: a hang report must come soon.
const BUDGET_US: i64 = 50_000;

fn micros_since(t0: &libc::timespec) -> i64 {
    let mut t1 = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t1) };
    (t1.tv_sec - t0.tv_sec) * 1_000_000 + (t1.tv_nsec - t0.tv_nsec) / 1000
}

/// Adds the children of every thread of `pid` to `pids` (once each).
fn add_children(pid: i64, pids: &mut [i64; MAX_PROCS], n: &mut usize, out: &mut Out) {
    let mut tids = [0i64; MAX_TASKS];
    let mut n_tids = 0;
    let listed = each_number(&mut proc_path(pid, b"/task"), |tid| {
        if n_tids < MAX_TASKS {
            tids[n_tids] = tid;
            n_tids += 1;
        }
    });
    if listed.is_err() {
        return;
    }
    for &tid in &tids[..n_tids] {
        let mut path = proc_path(pid, b"/task/");
        path.num(tid).push(b"/children");
        let mut buf = [0u8; 1024];
        let Ok(len) = read_file(&mut path, &mut buf) else {
            out.record(b"denied", pid, errno() as i64);
            out.push(b"children");
            continue;
        };
        for word in buf[..len].split(|&b| b == b' ') {
            if word.is_empty() || !word.iter().all(u8::is_ascii_digit) {
                continue;
            }
            let child = word.iter().fold(0i64, |v, &d| v * 10 + (d - b'0') as i64);
            if !pids[..*n].contains(&child) && *n < MAX_PROCS {
                pids[*n] = child;
                *n += 1;
            }
        }
    }
}

/// Sends what `/proc` shows of one process.
fn describe(
    pid: i64,
    out: &mut Out,
    buf: &mut [u8; 2048],
    sems: &mut [i64; 8],
    msgs: &mut [i64; 8],
    pipes: &mut [u64; MAX_FDS],
    n_pipes: &mut usize,
) {
    let zombie;
    match read_file(&mut proc_path(pid, b"/status"), buf) {
        Ok(n) => {
            zombie = buf[..n].windows(8).any(|w| w == b"State:\tZ");
            out.record(b"status", pid, 0);
            // Only the lines the explanation reads.
            for line in buf[..n].split(|&b| b == b'\n') {
                const KEEP: [&[u8]; 9] = [
                    b"Name:",
                    b"State:",
                    b"PPid:",
                    b"Threads:",
                    b"SigPnd:",
                    b"ShdPnd:",
                    b"SigBlk:",
                    b"SigIgn:",
                    b"SigCgt:",
                ];
                if KEEP.iter().any(|k| line.starts_with(k)) {
                    out.push(line);
                    out.push(b"\n");
                }
            }
        }
        Err(e) => {
            out.record(b"denied", pid, e as i64);
            out.push(b"status");
            return;
        }
    }
    if zombie {
        // A zombie has no memory, no descriptors and no system call left to show.
        return;
    }
    if let Ok(n) = read_link(&mut proc_path(pid, b"/exe"), buf) {
        out.record(b"exe", pid, 0);
        out.push(&buf[..n]);
    }
    if let Ok(n) = read_file(&mut proc_path(pid, b"/cmdline"), &mut buf[..200]) {
        out.record(b"cmdline", pid, 0);
        for b in buf[..n].iter_mut() {
            if *b == 0 || *b == RS {
                *b = b' ';
            }
        }
        out.push(&buf[..n]);
    }
    // Every thread's blocked call.
    let mut tids = [0i64; MAX_TASKS];
    let mut n_tids = 0;
    let _ = each_number(&mut proc_path(pid, b"/task"), |tid| {
        if n_tids < MAX_TASKS {
            tids[n_tids] = tid;
            n_tids += 1;
        }
    });
    for &tid in &tids[..n_tids] {
        let mut path = proc_path(pid, b"/task/");
        path.num(tid).push(b"/syscall");
        let n = match read_file(&mut path, buf) {
            Ok(n) => n,
            Err(e) => {
                out.record(b"denied", pid, e as i64);
                out.push(b"syscall");
                continue;
            }
        };
        out.record(b"syscall", pid, tid);
        out.push(&buf[..n]);
        let Some((nr, args)) = parse_syscall(&buf[..n]) else { continue };
        if nr == libc::SYS_semop || nr == libc::SYS_semtimedop {
            remember(sems, args[0] as i32 as i64);
        }
        if nr == libc::SYS_msgrcv || nr == libc::SYS_msgsnd {
            remember(msgs, args[0] as i32 as i64);
        }
        if let Some((addr, len)) = memory_wanted(nr, &args) {
            read_memory(pid, addr, len, out, buf);
        }
    }
    // Every descriptor.
    let mut fds = [0i64; MAX_FDS];
    let mut n_fds = 0;
    if let Err(e) = each_number(&mut proc_path(pid, b"/fd"), |fd| {
        if n_fds < MAX_FDS {
            fds[n_fds] = fd;
            n_fds += 1;
        }
    }) {
        out.record(b"denied", pid, e as i64);
        out.push(b"fd");
    }
    for &fd in &fds[..n_fds] {
        let mut link = proc_path(pid, b"/fd/");
        link.num(fd);
        let Ok(n) = read_link(&mut link, &mut buf[..256]) else { continue };
        out.record(b"fd", pid, fd);
        out.push(&buf[..n]);
        out.push(b"\n");
        let is_pipe = buf[..n].starts_with(b"pipe:");
        let mut info = proc_path(pid, b"/fdinfo/");
        info.num(fd);
        if let Ok(n) = read_file(&mut info, &mut buf[..512]) {
            out.push(&buf[..n]);
        }
        // SAFETY: a zeroed stat is valid; stat follows the /proc link to the open file itself.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: the path is NUL-terminated; st is a valid out-pointer.
        if unsafe { libc::stat(link.c_str(), &mut st) } == 0 {
            out.push(b"mode:\t");
            out.num(st.st_mode as i64);
            out.push(b"\n");
        }
        if is_pipe && !pipes[..*n_pipes].contains(&st.st_ino) && *n_pipes < MAX_FDS {
            pipes[*n_pipes] = st.st_ino;
            *n_pipes += 1;
            if let Ok(again) = open_ro(&mut link, libc::O_NONBLOCK) {
                let mut unread: libc::c_int = 0;
                // SAFETY: FIONREAD writes one int to a valid out-pointer.
                if unsafe { libc::ioctl(again, libc::FIONREAD, &mut unread) } == 0 {
                    out.push(b"unread:\t");
                    out.num(unread as i64);
                    out.push(b"\n");
                }
                close(again);
            }
        }
    }
}

fn remember(ids: &mut [i64; 8], id: i64) {
    if !ids.contains(&id)
        && let Some(slot) = ids.iter_mut().find(|s| **s < 0)
    {
        *slot = id;
    }
}

fn read_memory(pid: i64, addr: u64, len: usize, out: &mut Out, buf: &mut [u8; 2048]) {
    let len = len.min(buf.len());
    let fd = match open_ro(&mut proc_path(pid, b"/mem"), 0) {
        Ok(fd) => fd,
        Err(e) => {
            out.record(b"denied", pid, e as i64);
            out.push(b"mem");
            return;
        }
    };
    // SAFETY: buf is valid for len bytes; pread at a user address of the process.
    let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), len, addr as libc::off_t) };
    close(fd);
    if n <= 0 {
        return;
    }
    out.record(b"mem", pid, addr as i64);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in &buf[..n as usize] {
        out.push(&[HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
    }
}

fn describe_sem(id: i64, out: &mut Out) {
    let id = id as i32;
    // SAFETY: a zeroed semid_ds is valid; IPC_STAT fills it.
    let mut ds: libc::semid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: semctl IPC_STAT takes a pointer to a semid_ds.
    if unsafe { libc::semctl(id, 0, libc::IPC_STAT, &mut ds as *mut libc::semid_ds) } < 0 {
        out.record(b"sem-gone", id as i64, errno() as i64);
        return;
    }
    out.record(b"sem", id as i64, ds.sem_nsems as i64);
    for i in 0..(ds.sem_nsems as i32).min(16) {
        // SAFETY: these semctl commands take integers only.
        let (val, pid, ncnt, zcnt) = unsafe {
            (
                libc::semctl(id, i, libc::GETVAL),
                libc::semctl(id, i, libc::GETPID),
                libc::semctl(id, i, libc::GETNCNT),
                libc::semctl(id, i, libc::GETZCNT),
            )
        };
        for v in [i, val, pid, ncnt, zcnt] {
            out.num(v as i64);
            out.push(b" ");
        }
        out.push(b"\n");
    }
}

fn describe_msg(id: i64, out: &mut Out) {
    // SAFETY: a zeroed msqid_ds is valid; IPC_STAT fills it.
    let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: msgctl IPC_STAT takes a pointer to a msqid_ds.
    if unsafe { libc::msgctl(id as i32, libc::IPC_STAT, &mut ds) } < 0 {
        out.record(b"msg-gone", id, errno() as i64);
        return;
    }
    out.record(b"msg", id, ds.msg_qnum as i64);
    for v in [ds.msg_lspid as i64, ds.msg_lrpid as i64, ds.msg_qbytes as i64] {
        out.num(v);
        out.push(b" ");
    }
}

// ---------------------------------------------------------------------------------------------
// The test process's side: decode the records, draw the picture, name the deadlock.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Call {
    /// On a CPU or runnable: not waiting for anything.
    Running,
    /// Blocked outside a system call (stopped, or in a page fault).
    Outside,
    Blocked {
        nr: i64,
        args: [u64; 6],
    },
    Unknown,
}

#[derive(Debug)]
struct Task {
    tid: i32,
    call: Call,
}

#[derive(Debug)]
struct Fd {
    num: i32,
    target: String,
    flags: u32,
    mode: u32,
    unread: Option<i64>,
}

#[derive(Debug, Default)]
struct Proc {
    pid: i32,
    ppid: i32,
    state: char,
    name: String,
    exe: String,
    cmdline: String,
    pending: u64,
    blocked: u64,
    caught: u64,
    tasks: Vec<Task>,
    fds: Vec<Fd>,
}

#[derive(Debug)]
struct Sem {
    id: i64,
    /// Per semaphore: number, value, pid of the last operation, waiters to decrement, for zero.
    sems: Vec<[i64; 5]>,
}

#[derive(Debug)]
struct Msg {
    id: i64,
    qnum: i64,
    lspid: i64,
}

/// An IPC object a descriptor points to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Obj {
    Pipe(u64),
    Fifo(String),
    Socket(u64),
}

#[derive(Debug, Default)]
struct Snapshot {
    body: i32,
    self_exe: String,
    grader_pipes: Vec<u64>,
    procs: Vec<Proc>,
    mem: BTreeMap<(i32, u64), Vec<u8>>,
    sems: Vec<Sem>,
    msgs: Vec<Msg>,
    gone_ids: Vec<i64>,
    /// Processes left unseen because the snapshot ran out of time.
    cut: i64,
    denied: BTreeSet<String>,
    took_us: Option<i64>,
    roles: BTreeMap<i32, String>,
    /// Threads of the body that are the grader's own (a watcher of the kata's wait), not shown.
    grader_threads: Vec<i32>,
    letters: BTreeMap<Obj, char>,
}

/// What the snapshot says, ready to print under the HANG line.
#[derive(Debug)]
pub(crate) struct Explained {
    /// The picture: one line per process, the objects between them.
    pub picture: Vec<String>,
    /// The one-sentence diagnosis, when a rule matched.
    pub diagnosis: Option<String>,
    /// What the kernel would not show.
    pub unseen: Option<String>,
    /// How long the supervisor took to take the snapshot, in microseconds (the self-tests bound it).
    #[cfg_attr(not(test), allow(dead_code))]
    pub took_us: Option<i64>,
}

impl Explained {
    pub(crate) fn text(&self) -> String {
        let mut text = String::from("What the kernel showed at the deadline:\n");
        for line in &self.picture {
            let _ = writeln!(text, "  {line}");
        }
        if let Some(d) = &self.diagnosis {
            let _ = writeln!(text, "Diagnosis: {d}");
        }
        if let Some(u) = &self.unseen {
            let _ = writeln!(text, "{u}");
        }
        text.trim_end().to_string()
    }
}

/// Decodes the snapshot the supervisor sent, if it sent one.
pub(crate) fn explain(heard: &Heard) -> Option<Explained> {
    let mut snap = Snapshot::default();
    let mut stream = None;
    for (pid, text) in heard.all(Tag::Forensics) {
        if let Some(role) = text.strip_prefix("role ") {
            snap.roles.insert(pid as i32, role.to_string());
        } else if let Some(tid) = text.strip_prefix("grader-thread ").and_then(|t| t.parse().ok()) {
            snap.grader_threads.push(tid);
        } else if text.starts_with(RS as char) {
            stream = Some(text);
        }
    }
    parse(&mut snap, &stream?);
    let grader_threads = std::mem::take(&mut snap.grader_threads);
    for p in &mut snap.procs {
        p.tasks.retain(|t| !grader_threads.contains(&t.tid));
    }
    snap.name_objects();
    let picture = snap.picture();
    let diagnosis = snap.diagnose();
    let mut unseen = Vec::new();
    if !snap.denied.is_empty() {
        unseen.push(format!(
            "Could not see: {} (the kernel refused: hidepid, Yama's ptrace_scope or a container can hide them).",
            snap.denied.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if snap.cut > 0 {
        unseen.push(format!(
            "{} more processes were not looked at (the snapshot stops after {} ms).",
            snap.cut,
            BUDGET_US / 1000
        ));
    }
    let unseen = (!unseen.is_empty()).then(|| unseen.join("\n"));
    Some(Explained { picture, diagnosis, unseen, took_us: snap.took_us })
}

fn hex_u64(s: &str) -> u64 {
    u64::from_str_radix(s.trim(), 16).unwrap_or(0)
}

fn parse(snap: &mut Snapshot, stream: &str) {
    for record in stream.split(RS as char).filter(|r| !r.is_empty()) {
        let (head, body) = record.split_once('\n').unwrap_or((record, ""));
        let mut words = head.split_whitespace();
        let kind = words.next().unwrap_or("");
        let a: i64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        let b: i64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        let pid = a as i32;
        match kind {
            "body" => snap.body = pid,
            "selfexe" => snap.self_exe = body.to_string(),
            "grader-pipe" => snap.grader_pipes.push(a as u64),
            "took" => snap.took_us = Some(a),
            "status" => {
                let mut p = Proc { pid, ..Proc::default() };
                for line in body.lines() {
                    let (key, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.trim();
                    match key {
                        "Name" => p.name = value.to_string(),
                        "State" => p.state = value.chars().next().unwrap_or('?'),
                        "PPid" => p.ppid = value.parse().unwrap_or(0),
                        "SigPnd" | "ShdPnd" => p.pending |= hex_u64(value),
                        "SigBlk" => p.blocked = hex_u64(value),
                        "SigCgt" => p.caught = hex_u64(value),
                        _ => {}
                    }
                }
                snap.procs.push(p);
            }
            "exe" | "cmdline" | "syscall" | "fd" => {
                let Some(p) = snap.procs.iter_mut().find(|p| p.pid == pid) else { continue };
                match kind {
                    "exe" => p.exe = body.to_string(),
                    "cmdline" => p.cmdline = body.trim().to_string(),
                    "syscall" => {
                        let call = if body.starts_with("running") {
                            Call::Running
                        } else {
                            match parse_syscall(body.as_bytes()) {
                                Some((nr, _)) if nr < 0 => Call::Outside,
                                Some((nr, args)) => Call::Blocked { nr, args },
                                None => Call::Unknown,
                            }
                        };
                        p.tasks.push(Task { tid: b as i32, call });
                    }
                    _ => {
                        let mut lines = body.lines();
                        let target = lines.next().unwrap_or("").to_string();
                        let mut fd = Fd { num: b as i32, target, flags: 0, mode: 0, unread: None };
                        for line in lines {
                            let (key, value) = line.split_once(':').unwrap_or((line, ""));
                            let value = value.trim();
                            match key {
                                "flags" => fd.flags = u32::from_str_radix(value, 8).unwrap_or(0),
                                "mode" => fd.mode = value.parse().unwrap_or(0),
                                "unread" => fd.unread = value.parse().ok(),
                                _ => {}
                            }
                        }
                        p.fds.push(fd);
                    }
                }
            }
            "mem" => {
                let bytes = (0..body.len() / 2).filter_map(|i| u8::from_str_radix(&body[2 * i..2 * i + 2], 16).ok());
                snap.mem.insert((pid, b as u64), bytes.collect());
            }
            "sem" => {
                let sems = body
                    .lines()
                    .map(|l| {
                        let mut v = [0i64; 5];
                        for (slot, w) in v.iter_mut().zip(l.split_whitespace()) {
                            *slot = w.parse().unwrap_or(0);
                        }
                        v
                    })
                    .collect();
                snap.sems.push(Sem { id: a, sems });
            }
            "msg" => {
                let v: Vec<i64> = body.split_whitespace().filter_map(|w| w.parse().ok()).collect();
                snap.msgs.push(Msg { id: a, qnum: b, lspid: v.first().copied().unwrap_or(0) });
            }
            "sem-gone" | "msg-gone" => snap.gone_ids.push(a),
            "cut" => snap.cut = a,
            "denied" => {
                let what = match body.trim() {
                    "syscall" => "the blocked system calls (/proc/PID/syscall)",
                    "mem" => "the memory the calls point to (/proc/PID/mem)",
                    "fd" => "the descriptors (/proc/PID/fd)",
                    "children" => "the children (/proc/PID/task/TID/children)",
                    _ => "the processes (/proc/PID/status)",
                };
                snap.denied.insert(format!("{what}: {}", std::io::Error::from_raw_os_error(b as i32)));
            }
            _ => {}
        }
    }
}

const O_ACCMODE: u32 = libc::O_ACCMODE as u32;

impl Fd {
    fn reads(&self) -> bool {
        self.flags & O_ACCMODE != libc::O_WRONLY as u32
    }

    fn writes(&self) -> bool {
        self.flags & O_ACCMODE != libc::O_RDONLY as u32
    }
}

/// `"pipe:[123]"` → 123.
fn inode_in(target: &str, kind: &str) -> Option<u64> {
    target.strip_prefix(kind)?.strip_prefix(":[")?.strip_suffix(']')?.parse().ok()
}

fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        s if s >= libc::SIGRTMIN() => return format!("SIGRTMIN+{}", s - libc::SIGRTMIN()),
        s => return format!("signal {s}"),
    };
    name.to_string()
}

fn signal_names(set: u64) -> String {
    let names: Vec<String> = (1..=64).filter(|s| set & (1u64 << (s - 1)) != 0).map(signal_name).collect();
    if names.is_empty() { "no signal".to_string() } else { names.join(", ") }
}

fn call_name(nr: i64) -> &'static str {
    #[cfg(target_arch = "x86_64")]
    match nr {
        libc::SYS_pause => return "pause",
        libc::SYS_poll => return "poll",
        libc::SYS_select => return "select",
        libc::SYS_open => return "open",
        libc::SYS_wait4 => return "wait4",
        _ => {}
    }
    match nr {
        libc::SYS_read => "read",
        libc::SYS_write => "write",
        libc::SYS_readv => "readv",
        libc::SYS_writev => "writev",
        libc::SYS_openat => "openat",
        libc::SYS_futex => "futex",
        libc::SYS_semop => "semop",
        libc::SYS_semtimedop => "semop",
        libc::SYS_msgrcv => "msgrcv",
        libc::SYS_msgsnd => "msgsnd",
        libc::SYS_accept => "accept",
        libc::SYS_accept4 => "accept",
        libc::SYS_connect => "connect",
        libc::SYS_recvfrom => "recvfrom",
        libc::SYS_recvmsg => "recvmsg",
        libc::SYS_sendto => "sendto",
        libc::SYS_sendmsg => "sendmsg",
        libc::SYS_rt_sigsuspend => "sigsuspend",
        libc::SYS_rt_sigtimedwait => "sigtimedwait",
        libc::SYS_ppoll => "ppoll",
        libc::SYS_pselect6 => "pselect6",
        libc::SYS_epoll_pwait => "epoll_pwait",
        libc::SYS_nanosleep => "nanosleep",
        libc::SYS_clock_nanosleep => "clock_nanosleep",
        libc::SYS_waitid => "waitid",
        libc::SYS_mq_timedreceive => "mq_receive",
        libc::SYS_mq_timedsend => "mq_send",
        libc::SYS_flock => "flock",
        libc::SYS_fcntl => "fcntl",
        _ => "",
    }
}

fn is_wait4(nr: i64) -> bool {
    #[cfg(target_arch = "x86_64")]
    if nr == libc::SYS_wait4 {
        return true;
    }
    nr == libc::SYS_waitid
}

fn is_pause(nr: i64) -> bool {
    #[cfg(target_arch = "x86_64")]
    if nr == libc::SYS_pause {
        return true;
    }
    false
}

fn is_read(nr: i64) -> bool {
    [libc::SYS_read, libc::SYS_readv, libc::SYS_recvfrom, libc::SYS_recvmsg].contains(&nr)
}

fn is_write(nr: i64) -> bool {
    [libc::SYS_write, libc::SYS_writev, libc::SYS_sendto, libc::SYS_sendmsg].contains(&nr)
}

impl Snapshot {
    fn proc(&self, pid: i32) -> Option<&Proc> {
        self.procs.iter().find(|p| p.pid == pid)
    }

    /// Whether a process or thread of the test still runs (is not a zombie, and was seen).
    fn alive(&self, id: i32) -> bool {
        self.procs.iter().any(|p| p.state != 'Z' && (p.pid == id || p.tasks.iter().any(|t| t.tid == id)))
    }

    fn role(&self, pid: i32) -> String {
        if pid == self.body {
            return "your code".to_string();
        }
        if let Some(role) = self.roles.get(&pid) {
            return role.clone();
        }
        let Some(p) = self.proc(pid) else { return "no longer a process of the test".to_string() };
        // The peer program is the test binary exec'ed again with other arguments; a process
        // the attempt forked keeps the body's command line.
        let body_cmdline = self.proc(self.body).map(|b| b.cmdline.as_str());
        if p.exe == self.self_exe && body_cmdline.is_some_and(|b| b != p.cmdline) {
            let args = p.cmdline.split_whitespace().skip(1).collect::<Vec<_>>().join(" ");
            return format!("the test's peer program `peer {args}`");
        }
        if p.exe.is_empty() || p.exe == self.self_exe {
            return if p.ppid == self.body {
                "the child your code forked".to_string()
            } else {
                format!("a process forked by {}", p.ppid)
            };
        }
        format!("`{}`", p.name)
    }

    /// `pid 1201 (your code)`.
    fn who(&self, pid: i32) -> String {
        format!("pid {pid} ({})", self.role(pid))
    }

    fn name_objects(&mut self) {
        let mut next = b'A';
        let mut letters = BTreeMap::new();
        for p in &self.procs {
            for fd in &p.fds {
                if let Some(obj) = self.object(fd)
                    && !letters.contains_key(&obj)
                    && next <= b'Z'
                {
                    letters.insert(obj, next as char);
                    next += 1;
                }
            }
        }
        self.letters = letters;
    }

    fn object(&self, fd: &Fd) -> Option<Obj> {
        if let Some(ino) = inode_in(&fd.target, "pipe") {
            return (!self.grader_pipes.contains(&ino)).then_some(Obj::Pipe(ino));
        }
        if let Some(ino) = inode_in(&fd.target, "socket") {
            return (!self.grader_pipes.contains(&ino)).then_some(Obj::Socket(ino));
        }
        (fd.mode & libc::S_IFMT == libc::S_IFIFO && fd.target.starts_with('/')).then(|| Obj::Fifo(fd.target.clone()))
    }

    fn obj_name(&self, obj: &Obj) -> String {
        let letter = self.letters.get(obj).copied().unwrap_or('?');
        match obj {
            Obj::Pipe(_) => format!("pipe {letter}"),
            Obj::Socket(_) => format!("socket {letter}"),
            Obj::Fifo(path) => {
                let name = path.rsplit('/').next().unwrap_or(path);
                format!("FIFO {letter} ({name})")
            }
        }
    }

    fn fd(&self, pid: i32, num: i64) -> Option<&Fd> {
        self.proc(pid)?.fds.iter().find(|f| f.num as i64 == num)
    }

    /// `fd 3 = read end of pipe A`.
    fn fd_words(&self, pid: i32, num: i64) -> String {
        let Some(fd) = self.fd(pid, num) else { return format!("fd {num}") };
        let Some(obj) = self.object(fd) else {
            return format!("fd {num} = {}", fd.target);
        };
        let end = match (&obj, fd.flags & O_ACCMODE) {
            (Obj::Socket(_), _) => "",
            (_, 0) => "read end of ",
            (_, 1) => "write end of ",
            _ => "read-write end of ",
        };
        format!("fd {num} = {end}{}", self.obj_name(&obj))
    }

    /// Every (process, descriptor) that holds `obj`.
    fn holders(&self, obj: &Obj) -> Vec<(i32, &Fd)> {
        let mut all = Vec::new();
        for p in self.procs.iter().filter(|p| p.state != 'Z') {
            for fd in &p.fds {
                if self.object(fd).as_ref() == Some(obj) {
                    all.push((p.pid, fd));
                }
            }
        }
        all
    }

    fn unread(&self, obj: &Obj) -> Option<i64> {
        self.holders(obj).iter().find_map(|(_, fd)| fd.unread)
    }

    fn mem(&self, pid: i32, addr: u64) -> Option<&[u8]> {
        self.mem.get(&(pid, addr)).map(Vec::as_slice)
    }

    fn mem_u32(&self, pid: i32, addr: u64, at: usize) -> Option<u32> {
        let m = self.mem(pid, addr)?;
        Some(u32::from_ne_bytes(m.get(at..at + 4)?.try_into().ok()?))
    }

    fn mem_str(&self, pid: i32, addr: u64) -> Option<String> {
        let m = self.mem(pid, addr)?;
        let end = m.iter().position(|&b| b == 0).unwrap_or(m.len());
        Some(String::from_utf8_lossy(&m[..end]).into_owned())
    }

    fn blocked(&self, pid: i32) -> Vec<(i32, i64, [u64; 6])> {
        let Some(p) = self.proc(pid) else { return Vec::new() };
        p.tasks
            .iter()
            .filter_map(|t| match t.call {
                Call::Blocked { nr, args } => Some((t.tid, nr, args)),
                _ => None,
            })
            .collect()
    }

    /// What a thread is doing, in words: `read(fd 3 = read end of pipe A)`.
    fn call_words(&self, pid: i32, call: Call) -> String {
        let (nr, a) = match call {
            Call::Running => return "running (not blocked)".to_string(),
            Call::Outside => return "stopped or faulting, not in a system call".to_string(),
            Call::Unknown => return "unknown".to_string(),
            Call::Blocked { nr, args } => (nr, args),
        };
        let name = call_name(nr);
        let fd = |n: u64| self.fd_words(pid, n as i32 as i64);
        if is_read(nr) || is_write(nr) {
            let mut s = format!("{name}({})", fd(a[0]));
            if is_write(nr)
                && let Some(obj) = self.fd(pid, a[0] as i32 as i64).and_then(|f| self.object(f))
                && let Some(n) = self.unread(&obj)
            {
                let _ = write!(s, ", {n} bytes unread in it");
            }
            return s;
        }
        if [libc::SYS_accept, libc::SYS_accept4, libc::SYS_connect].contains(&nr) {
            return format!("{name}({})", fd(a[0]));
        }
        if is_wait4(nr) {
            let target = if nr == libc::SYS_waitid {
                match a[0] as u32 {
                    libc::P_PID => format!("pid {}", a[1] as i32),
                    _ => "any child".to_string(),
                }
            } else {
                match a[0] as i32 {
                    -1 => "any child".to_string(),
                    0 => "any child in its group".to_string(),
                    p if p < 0 => format!("any child in group {}", -p),
                    p => format!("pid {p}"),
                }
            };
            return format!("{name}({target})");
        }
        if nr == libc::SYS_futex {
            let word = self.mem_u32(pid, a[0], 0).map_or("?".to_string(), |w| (w as i32).to_string());
            return format!("futex(wait at {:#x}: expects {}, the word holds {word})", a[0], a[2] as u32 as i32);
        }
        if nr == libc::SYS_semop || nr == libc::SYS_semtimedop {
            let ops = self.sem_ops(pid, a[1], a[2]);
            let ops: Vec<String> = ops.iter().map(|(n, op, _)| format!("sem {n} {op:+}")).collect();
            return format!("{name}(set {}: {})", a[0] as i32, ops.join(", "));
        }
        if nr == libc::SYS_msgrcv {
            return format!("msgrcv(queue {}, type {})", a[0] as i32, a[3] as i64);
        }
        if nr == libc::SYS_msgsnd {
            return format!("msgsnd(queue {})", a[0] as i32);
        }
        if let Some(path) = self.open_path(pid, nr, &a) {
            let how = if self.open_flags(nr, &a) & O_ACCMODE == 0 { "for reading" } else { "for writing" };
            return format!("{name}(\"{path}\", {how})");
        }
        if nr == libc::SYS_rt_sigsuspend {
            return format!("sigsuspend(blocking {})", signal_names(self.proc(pid).map_or(0, |p| p.blocked)));
        }
        if nr == libc::SYS_rt_sigtimedwait {
            let set = self.mem(pid, a[0]).and_then(|m| Some(u64::from_ne_bytes(m.get(..8)?.try_into().ok()?)));
            return format!("sigtimedwait({})", set.map_or("?".to_string(), signal_names));
        }
        if is_pause(nr) {
            return "pause()".to_string();
        }
        if let Some(fds) = self.poll_fds(pid, nr, &a) {
            let fds: Vec<String> = fds.iter().map(|&n| fd(n as u64)).collect();
            return format!("{name}({})", fds.join(", "));
        }
        if name.is_empty() { format!("system call {nr}") } else { format!("{name}()") }
    }

    fn poll_fds(&self, pid: i32, nr: i64, a: &[u64; 6]) -> Option<Vec<i32>> {
        #[cfg(target_arch = "x86_64")]
        let is_poll = nr == libc::SYS_poll || nr == libc::SYS_ppoll;
        #[cfg(not(target_arch = "x86_64"))]
        let is_poll = nr == libc::SYS_ppoll;
        if !is_poll {
            return None;
        }
        let m = self.mem(pid, a[0])?;
        Some(m.chunks_exact(8).map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    fn open_path(&self, pid: i32, nr: i64, a: &[u64; 6]) -> Option<String> {
        #[cfg(target_arch = "x86_64")]
        if nr == libc::SYS_open {
            return self.mem_str(pid, a[0]);
        }
        if nr == libc::SYS_openat { self.mem_str(pid, a[1]) } else { None }
    }

    fn open_flags(&self, nr: i64, a: &[u64; 6]) -> u32 {
        if nr == libc::SYS_openat { a[2] as u32 } else { a[1] as u32 }
    }

    /// The `sembuf`s of a blocked semop: (number, op, flags).
    fn sem_ops(&self, pid: i32, addr: u64, n: u64) -> Vec<(u16, i16, i16)> {
        let Some(m) = self.mem(pid, addr) else { return Vec::new() };
        m.chunks_exact(6)
            .take(n as usize)
            .map(|c| {
                (u16::from_ne_bytes([c[0], c[1]]), i16::from_ne_bytes([c[2], c[3]]), i16::from_ne_bytes([c[4], c[5]]))
            })
            .collect()
    }

    fn picture(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for p in self.procs.iter().take(8) {
            let what = if p.state == 'Z' {
                "exited, not yet reaped (a zombie)".to_string()
            } else if p.tasks.is_empty() {
                "(its system call could not be read)".to_string()
            } else {
                self.call_words(p.pid, p.tasks[0].call)
            };
            lines.push(format!("{}: {what}", self.who(p.pid)));
            for t in p.tasks.iter().skip(1).filter(|t| t.call != Call::Running).take(3) {
                lines.push(format!("    thread {}: {}", t.tid, self.call_words(p.pid, t.call)));
            }
            let mut held: BTreeMap<Obj, Vec<String>> = BTreeMap::new();
            for fd in &p.fds {
                if let Some(obj) = self.object(fd) {
                    let end = match (&obj, fd.flags & O_ACCMODE) {
                        (Obj::Socket(_), _) => "",
                        (_, 0) => "read ",
                        (_, 1) => "write ",
                        _ => "read-write ",
                    };
                    held.entry(obj).or_default().push(format!("{end}fd {}", fd.num));
                }
            }
            if !held.is_empty() {
                let held: Vec<String> =
                    held.iter().map(|(obj, ends)| format!("{}: {}", self.obj_name(obj), ends.join(", "))).collect();
                lines.push(format!("    holds {}", held.join("; ")));
            }
        }
        if self.procs.len() > 8 {
            lines.push(format!("and {} more processes", self.procs.len() - 8));
        }
        for (obj, _) in self.letters.iter().filter(|(o, _)| matches!(o, Obj::Pipe(_))) {
            if let Some(n) = self.unread(obj).filter(|&n| n > 0) {
                lines.push(format!("{}: {n} bytes unread", self.obj_name(obj)));
            }
        }
        for s in &self.sems {
            let vals: Vec<String> = s
                .sems
                .iter()
                .take(4)
                .map(|v| {
                    format!("sem {} = {} (last changed by pid {}{})", v[0], v[1], v[2], self.gone_note(v[2] as i32))
                })
                .collect();
            lines.push(format!("semaphore set {}: {}", s.id, vals.join(", ")));
        }
        for id in &self.gone_ids {
            lines.push(format!("SysV object {id}: a process waits on it, but it no longer exists (removed)"));
        }
        for m in &self.msgs {
            let last = match m.lspid {
                0 => "nothing was ever sent to it".to_string(),
                pid => format!("last sent by pid {pid}{}", self.gone_note(pid as i32)),
            };
            lines.push(format!("queue {}: {} messages ({last})", m.id, m.qnum));
        }
        lines
    }

    fn gone_note(&self, pid: i32) -> &'static str {
        if pid == 0 {
            ""
        } else if !self.alive(pid) {
            ", gone"
        } else {
            ""
        }
    }

    /// The one-sentence diagnosis: the first rule that matches, threads in order (the body's
    /// first).
    fn diagnose(&self) -> Option<String> {
        type Rule = fn(&Snapshot, i32, i64, &[u64; 6]) -> Option<String>;
        let rules: [Rule; 10] = [
            Snapshot::both_write,
            Snapshot::wait_before_drain,
            Snapshot::wait_for_no_child,
            Snapshot::fifo_open,
            Snapshot::fifo_read_write,
            Snapshot::both_read,
            Snapshot::no_eof,
            Snapshot::dead_or_lost_futex,
            Snapshot::dead_semaphore,
            Snapshot::empty_queue,
        ];
        let late: [Rule; 3] = [Snapshot::signal_wait, Snapshot::lonely_accept, Snapshot::waits_for_blocked_child];
        for rules in [&rules[..], &late[..]] {
            for rule in rules {
                for p in &self.procs {
                    for (_, nr, args) in self.blocked(p.pid) {
                        if let Some(d) = rule(self, p.pid, nr, &args) {
                            return Some(d);
                        }
                    }
                }
            }
        }
        None
    }

    /// The object a blocked read or write works on, and the descriptor.
    fn rw_object(&self, pid: i32, nr: i64, a: &[u64; 6], write: bool) -> Option<(Obj, &Fd)> {
        if !(if write { is_write(nr) } else { is_read(nr) }) {
            return None;
        }
        let fd = self.fd(pid, a[0] as i32 as i64)?;
        Some((self.object(fd)?, fd))
    }

    fn readers_of(&self, obj: &Obj) -> Vec<(i32, i32)> {
        self.holders(obj).iter().filter(|(_, f)| f.reads()).map(|(p, f)| (*p, f.num)).collect()
    }

    fn writers_of(&self, obj: &Obj) -> Vec<(i32, i32)> {
        self.holders(obj).iter().filter(|(_, f)| f.writes()).map(|(p, f)| (*p, f.num)).collect()
    }

    fn list(&self, ends: &[(i32, i32)]) -> String {
        let parts: Vec<String> = ends.iter().map(|(p, fd)| format!("{} as fd {fd}", self.who(*p))).collect();
        match parts.len() {
            0 => String::new(),
            1 => parts[0].clone(),
            n => format!("{} and {}", parts[..n - 1].join(", "), parts[n - 1]),
        }
    }

    /// Both sides write to full pipes that only the other reads.
    fn both_write(&self, x: i32, nr: i64, a: &[u64; 6]) -> Option<String> {
        let (obj_a, fd_a) = self.rw_object(x, nr, a, true)?;
        for (y, _) in self.readers_of(&obj_a).into_iter().filter(|(y, _)| *y != x) {
            for (_, nr_y, a_y) in self.blocked(y) {
                let Some((obj_b, fd_b)) = self.rw_object(y, nr_y, &a_y, true) else { continue };
                if obj_b != obj_a && self.readers_of(&obj_b).iter().any(|(r, _)| *r == x) {
                    return Some(format!(
                        "both sides write and neither reads: {} is blocked writing {} (fd {}), which only {} reads, \
                         while {} is blocked writing {} (fd {}), which only {} reads; both pipes are full. Read \
                         answers while you write requests (lockstep, or a writer thread or process).",
                        self.who(x),
                        self.obj_name(&obj_a),
                        fd_a.num,
                        self.who(y),
                        self.who(y),
                        self.obj_name(&obj_b),
                        fd_b.num,
                        self.who(x)
                    ));
                }
            }
        }
        None
    }

    fn children_of(&self, pid: i32) -> Vec<&Proc> {
        self.procs.iter().filter(|p| p.ppid == pid && p.pid != pid).collect()
    }

    fn waited_children(&self, x: i32, nr: i64, a: &[u64; 6]) -> Option<Vec<&Proc>> {
        if !is_wait4(nr) {
            return None;
        }
        let target = if nr == libc::SYS_waitid {
            if a[0] as u32 == libc::P_PID { a[1] as i32 } else { -1 }
        } else {
            a[0] as i32
        };
        let children = self.children_of(x);
        Some(if target > 0 { children.into_iter().filter(|c| c.pid == target).collect() } else { children })
    }

    /// Waiting for a child that is blocked writing a full pipe that only the waiter reads.
    fn wait_before_drain(&self, x: i32, nr: i64, a: &[u64; 6]) -> Option<String> {
        for c in self.waited_children(x, nr, a)? {
            for (_, nr_c, a_c) in self.blocked(c.pid) {
                let Some((obj, fd)) = self.rw_object(c.pid, nr_c, &a_c, true) else { continue };
                let readers = self.readers_of(&obj);
                if readers.iter().all(|(r, _)| *r == x || *r == c.pid) {
                    let unread = self.unread(&obj).map_or(String::new(), |n| format!(" ({n} bytes unread)"));
                    let own: Vec<(i32, i32)> = readers.iter().copied().filter(|(r, _)| *r == x).collect();
                    return Some(format!(
                        "{} waits for its child {} ({}), but the child is blocked writing {} (fd {}), which is full{unread} \
                         and which only {} reads: the child cannot finish until the pipe is drained. Read everything \
                         first, then wait for the child.",
                        self.who(x),
                        c.pid,
                        call_name(nr),
                        self.obj_name(&obj),
                        fd.num,
                        if own.is_empty() { "the waiter".to_string() } else { self.list(&own) }
                    ));
                }
            }
        }
        None
    }

    /// Waiting for a pid that is not a child, or for SIGCHLD with no child left.
    fn wait_for_no_child(&self, x: i32, nr: i64, a: &[u64; 6]) -> Option<String> {
        let children = self.children_of(x);
        if is_wait4(nr) {
            let target = if nr == libc::SYS_waitid {
                if a[0] as u32 == libc::P_PID { a[1] as i32 } else { -1 }
            } else {
                a[0] as i32
            };
            if target > 0 && !children.iter().any(|c| c.pid == target) {
                return Some(format!(
                    "{} waits for pid {target} ({}), which is not its child: it was reaped already (by a SIGCHLD \
                     handler or another wait) or was never this process's child. Wait only for the pids fork \
                     returned to this process, once each.",
                    self.who(x),
                    call_name(nr)
                ));
            }
            return None;
        }
        let p = self.proc(x)?;
        let chld = 1u64 << (libc::SIGCHLD - 1);
        let awaits_chld = match nr {
            n if n == libc::SYS_rt_sigtimedwait => {
                self.mem(x, a[0]).and_then(|m| Some(u64::from_ne_bytes(m.get(..8)?.try_into().ok()?))).unwrap_or(0)
                    & chld
                    != 0
            }
            n if n == libc::SYS_rt_sigsuspend || is_pause(n) => p.caught & chld != 0 && p.blocked & chld == 0,
            _ => false,
        };
        if awaits_chld && children.is_empty() && p.pending & chld == 0 {
            return Some(format!(
                "{} waits in {} for SIGCHLD, but it has no child left: every child it forked has exited and been \
                 reaped already (by a handler or an earlier wait), so no SIGCHLD will come. Check for exited \
                 children before you wait (waitpid with WNOHANG), with SIGCHLD blocked.",
                self.who(x),
                self.call_words(x, Call::Blocked { nr, args: *a })
            ));
        }
        None
    }

    /// A FIFO open waiting for the other end.
    fn fifo_open(&self, x: i32, nr: i64, a: &[u64; 6]) -> Option<String> {
        let path = self.open_path(x, nr, a)?;
        let reading = self.open_flags(nr, a) & O_ACCMODE == 0;
        let (this, other) = if reading { ("reading", "writing") } else { ("writing", "reading") };
        let others: Vec<String> = self
            .procs
            .iter()
            .filter(|p| p.pid != x && p.state != 'Z')
            .map(|p| {
                format!(
                    "{} is in {}",
                    self.who(p.pid),
                    p.tasks.first().map_or("?".into(), |t| self.call_words(p.pid, t.call))
                )
            })
            .collect();
        let rest = if others.is_empty() {
            "no other process of the test is left to do it".to_string()
        } else {
            format!("no process of the test has it open for {other} ({})", others.join("; "))
        };
        Some(format!(
            "{} is blocked opening the FIFO {path} for {this}: opening a FIFO waits until another process opens it \
             for {other}, and {rest}.",
            self.who(x)
        ))
    }

    /// A FIFO read through a read-write descriptor never sees end-of-file.
    fn fifo_read_write(&self, x: i32, nr: i64, a: &[u64; 6]) -> Option<String> {
        let (obj, fd) = self.rw_object(x, nr, a, false)?;
        let Obj::Fifo(path) = &obj else { return None };
        if fd.flags & O_ACCMODE != libc::O_RDWR as u32 {
            return None;
        }
        Some(format!(
            "end-of-file never comes on the FIFO {path}: {} reads it through fd {}, which it opened read-write \
             (O_RDWR), so it holds a write end itself and the FIFO never loses its last writer. Open it read-only.",
            self.who(x),
            fd.num
        ))
    }

    /// Both sides wait to read what only the other would write.
    fn both_read(&self, x: i32, nr: i64, a: &[u64; 6]) -> Option<String> {
        let (obj_a, _) = self.rw_object(x, nr, a, false)?;
        if self.unread(&obj_a).unwrap_or(0) > 0 {
            return None;
        }
        let writers: Vec<(i32, i32)> = self.writers_of(&obj_a).into_iter().filter(|(w, _)| *w != x).collect();
        if writers.is_empty() || self.writers_of(&obj_a).iter().any(|(w, _)| *w == x) {
            return None;
        }
        let (y, _) = writers[0];
        if writers.iter().any(|(w, _)| *w != y) {
            return None;
        }
        for (_, nr_y, a_y) in self.blocked(y) {
            let Some((obj_b, _)) = self.rw_object(y, nr_y, &a_y, false) else { continue };
            let w_b = self.writers_of(&obj_b);
            if obj_b != obj_a && !w_b.is_empty() && w_b.iter().all(|(w, _)| *w == x) {
                return Some(format!(
                    "both sides wait to read and neither writes: {} reads {}, which only {} writes, while {} reads {}, \
                     which only {} writes.",
                    self.who(x),
                    self.obj_name(&obj_a),
                    self.who(y),
                    self.who(y),
                    self.obj_name(&obj_b),
                    self.who(x)
                ));
            }
        }
        None
    }

    /// A reader waits for end-of-file while a write end is still open.
    fn no_eof(&self, x: i32, nr: i64, a: &[u64; 6]) -> Option<String> {
        let (obj, fd) = self.rw_object(x, nr, a, false)?;
        if matches!(obj, Obj::Socket(_)) || self.unread(&obj).unwrap_or(0) > 0 {
            return None;
        }
        let writers = self.writers_of(&obj);
        if writers.is_empty() {
            return None;
        }
        // A writer that is writing to it right now will be seen by the reader: not this case.
        let writing = writers.iter().any(|(w, _)| {
            self.proc(*w).is_some_and(|p| p.tasks.iter().any(|t| t.call == Call::Running))
                || self
                    .blocked(*w)
                    .iter()
                    .any(|(_, n, a)| self.rw_object(*w, *n, a, true).is_some_and(|(o, _)| o == obj))
        });
        if writing {
            return None;
        }
        let own = writers.iter().any(|(w, _)| *w == x);
        let advice = if own {
            "A reader sees end-of-file only when every write end is closed, its own included: close your copy of \
             the write end right after fork."
        } else {
            "A reader sees end-of-file only when every write end is closed: close the write ends a process does not \
             write with, right after fork (or open them close-on-exec)."
        };
        Some(format!(
            "end-of-file never comes on {}: {} reads it as fd {}, but its write end is still open in {}, and nobody \
             writes to it. {advice}",
            self.obj_name(&obj),
            self.who(x),
            fd.num,
            self.list(&writers)
        ))
    }

    /// A futex waiter: a dead lock holder, or a word that changed without a wake.
    fn dead_or_lost_futex(&self, x: i32, nr: i64, a: &[u64; 6]) -> Option<String> {
        if nr != libc::SYS_futex {
            return None;
        }
        let cmd = (a[1] & 0x7f) as i32;
        let word = self.mem_u32(x, a[0], 0)?;
        let expected = a[2] as u32;
        if cmd == libc::FUTEX_LOCK_PI || cmd == 13 {
            let owner = (word & 0x3fff_ffff) as i32;
            if owner != 0 && !self.alive(owner) {
                return Some(format!(
                    "{} waits for the lock at {:#x}, whose owner, thread {owner}, is gone: it died holding the lock. \
                     Make the mutex robust (PTHREAD_MUTEX_ROBUST), and handle EOWNERDEAD.",
                    self.who(x),
                    a[0]
                ));
            }
            return None;
        }
        if cmd != libc::FUTEX_WAIT && cmd != libc::FUTEX_WAIT_BITSET {
            return None;
        }
        let someone_runs = self.procs.iter().any(|p| p.pid != x && p.tasks.iter().any(|t| t.call == Call::Running));
        if word != expected && !someone_runs {
            return Some(format!(
                "a lost wake-up: {} sleeps on the futex at {:#x} until its word changes from {}, and it has \
                 changed (it holds {}), but no FUTEX_WAKE came. Whoever changes the word must wake the sleeper \
                 whenever one may be asleep: announce the sleep before the last check, and check the announcement \
                 after every change.",
                self.who(x),
                a[0],
                expected as i32,
                word as i32
            ));
        }
        // A pthread mutex: the lock word is 1 or 2 and its owner's thread id follows at offset 8.
        let owner = self.mem_u32(x, a[0], 8).unwrap_or(0) as i32;
        if (word == 1 || word == 2) && owner > 0 && !self.alive(owner) {
            return Some(format!(
                "{} waits for the mutex at {:#x}, which is locked (its word holds {word}) by thread {owner}, and that \
                 process is gone: it died holding the lock, and a mutex that is not robust stays locked forever. \
                 Make it robust (PTHREAD_MUTEX_ROBUST) and handle EOWNERDEAD with pthread_mutex_consistent.",
                self.who(x),
                a[0]
            ));
        }
        // Who could still wake it: any thread not asleep on a futex or in a wait, of this process
        // only for a private futex (a std Mutex, Condvar, channel or park), of any process else.
        let private = a[1] & libc::FUTEX_PRIVATE_FLAG as u64 != 0;
        let in_scope = |p: &&Proc| p.state != 'Z' && (p.pid == x || !private);
        let could_wake = |t: &Task| match t.call {
            Call::Running | Call::Outside | Call::Unknown => true,
            Call::Blocked { nr, .. } => nr != libc::SYS_futex && !is_wait4(nr),
        };
        if self.procs.iter().filter(in_scope).any(|p| p.tasks.iter().any(could_wake)) {
            return None;
        }
        let others: Vec<String> =
            self.procs.iter().filter(in_scope).filter(|p| p.pid != x).map(|p| self.who(p.pid)).collect();
        let siblings = self.proc(x).map_or(0, |p| p.tasks.len().saturating_sub(1));
        let rest = match (private, others.is_empty(), siblings) {
            (true, _, 0) => "it is a private futex (a std Mutex, Condvar, channel or thread::park) of a process with no other thread to wake it".to_string(),
            (true, _, _) => "it is a private futex and every other thread of its process is asleep too".to_string(),
            (false, true, _) => "no other process of the test is left".to_string(),
            (false, false, _) => format!("every other process is asleep too ({})", others.join(", ")),
        };
        Some(format!(
            "nothing will ever wake {}: it sleeps on the futex at {:#x} (its word holds {}, as expected) and \
             {rest}. A wake-up was skipped or lost, or the one that should wake it ended first.",
            self.who(x),
            a[0],
            word as i32
        ))
    }

    /// A semop that waits for a semaphore whose last holder is gone.
    fn dead_semaphore(&self, x: i32, nr: i64, a: &[u64; 6]) -> Option<String> {
        if nr != libc::SYS_semop && nr != libc::SYS_semtimedop {
            return None;
        }
        let id = a[0] as i32 as i64;
        let set = self.sems.iter().find(|s| s.id == id)?;
        for (num, op, _) in self.sem_ops(x, a[1], a[2]) {
            let Some(v) = set.sems.iter().find(|v| v[0] == num as i64) else { continue };
            let (value, last) = (v[1], v[2] as i32);
            let waits = (op < 0 && value < -(op as i64)) || (op == 0 && value != 0);
            if waits && last > 0 && last != x && !self.alive(last) {
                return Some(format!(
                    "{} waits in {} for semaphore {num} of set {id} (its value is {value}, it needs {}), which was \
                     last changed by pid {last}, and that process is gone: it died holding the semaphore, and \
                     without SEM_UNDO the kernel did not give it back. Pass SEM_UNDO in sem_flg.",
                    self.who(x),
                    call_name(nr),
                    -(op as i64)
                ));
            }
        }
        None
    }

    /// A receive on a queue with nothing for it and no sender left.
    fn empty_queue(&self, x: i32, nr: i64, a: &[u64; 6]) -> Option<String> {
        if nr != libc::SYS_msgrcv {
            return None;
        }
        let id = a[0] as i32 as i64;
        let q = self.msgs.iter().find(|m| m.id == id)?;
        let sender_left = self.procs.iter().filter(|p| p.pid != x && p.state != 'Z').any(|p| {
            p.tasks.iter().any(|t| match t.call {
                Call::Blocked { nr, .. } => !is_wait4(nr) && nr != libc::SYS_msgrcv,
                _ => true,
            })
        });
        if sender_left {
            return None;
        }
        let kind = a[3] as i64;
        let holds = if q.qnum == 0 {
            "which is empty".to_string()
        } else {
            format!("which holds {} messages, none that type {kind} selects", q.qnum)
        };
        let last = if q.lspid > 0 { format!(" (the last sender, pid {}, is gone)", q.lspid) } else { String::new() };
        Some(format!(
            "{} waits in msgrcv for a message of type {kind} on queue {id}, {holds}, and no process of the test is \
             left that could send one{last}.",
            self.who(x)
        ))
    }

    /// A wait for a signal: blocked through the wait, or delivered before it.
    fn signal_wait(&self, x: i32, nr: i64, a: &[u64; 6]) -> Option<String> {
        let p = self.proc(x)?;
        let call = self.call_words(x, Call::Blocked { nr, args: *a });
        let waits = nr == libc::SYS_rt_sigsuspend || is_pause(nr) || nr == libc::SYS_rt_sigtimedwait;
        if !waits {
            return None;
        }
        let held = p.pending & p.blocked;
        if nr != libc::SYS_rt_sigtimedwait && held != 0 {
            return Some(format!(
                "{} waits in {call}, but {} is already pending and blocked: the mask it waits with keeps it out, so \
                 it never wakes. Wait with a mask that lets the signal in (sigsuspend with the mask from before you \
                 blocked it).",
                self.who(x),
                signal_names(held)
            ));
        }
        let others: Vec<&Proc> = self.procs.iter().filter(|o| o.pid != x && o.state != 'Z').collect();
        if !others.is_empty() {
            return None;
        }
        let zombies: Vec<String> = self
            .procs
            .iter()
            .filter(|o| o.pid != x && o.state == 'Z')
            .map(|o| format!("pid {}, {}", o.pid, self.role(o.pid)))
            .collect();
        let gone = match zombies.len() {
            0 => String::new(),
            1 => format!(" ({}, has exited)", zombies[0]),
            _ => format!(" ({}, have exited)", zombies.join("; ")),
        };
        Some(format!(
            "{} waits in {call} for a signal, but no other process of the test is left to send one{gone}: the \
             signal came before the wait began (its handler already ran, or it was discarded). Block the signal \
             before you fork, then wait for it with sigsuspend, sigtimedwait or a signalfd.",
            self.who(x)
        ))
    }

    /// An accept with no process left that could connect.
    fn lonely_accept(&self, x: i32, nr: i64, a: &[u64; 6]) -> Option<String> {
        if nr != libc::SYS_accept && nr != libc::SYS_accept4 {
            return None;
        }
        let client_left = self.procs.iter().filter(|p| p.pid != x && p.state != 'Z').any(|p| {
            p.tasks.iter().any(|t| match t.call {
                Call::Blocked { nr, .. } => !is_wait4(nr) && nr != libc::SYS_accept && nr != libc::SYS_accept4,
                _ => true,
            })
        });
        if client_left {
            return None;
        }
        Some(format!(
            "{} waits in {} for a connection, and no process of the test is left that could connect: the client \
             exited or failed first, or connects to another address.",
            self.who(x),
            self.call_words(x, Call::Blocked { nr, args: *a })
        ))
    }

    /// The last resort: a wait for a child that is itself blocked.
    fn waits_for_blocked_child(&self, x: i32, nr: i64, a: &[u64; 6]) -> Option<String> {
        let children = self.waited_children(x, nr, a)?;
        let c = children.iter().find(|c| c.state != 'Z')?;
        let t = c.tasks.first()?;
        Some(format!(
            "{} waits for its child {}, which is itself blocked in {}.",
            self.who(x),
            self.who(c.pid),
            self.call_words(c.pid, t.call)
        ))
    }
}

#[cfg(test)]
#[path = "forensics_tests.rs"]
mod tests;
