//! A hang explained from the kernel's evidence: while the graded code runs, a thread of the
//! test watches the calling thread; once it has slept in one system call for half a second, the
//! system calls and descriptors of the sandbox's processes (`/proc/PID/syscall`, `fd`,
//! `fdinfo`, `man 5 proc`) are read and put in one sentence (who sleeps where, who still holds
//! which end of the pipe it waits on). A hang report gives that sentence in place of the
//! topic's usual causes. It only reads, so it never changes a test's outcome.

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Sandbox;

/// How long the watched thread must sleep in one call before it is described.
const STUCK: Duration = Duration::from_millis(500);

impl Sandbox {
    /// Runs `f` (a call of the graded code) while a thread of the test watches the calling
    /// thread. If the call sleeps for a while, the sandbox is told what the kernel shows about
    /// its processes ([`Sandbox::evidence`]); that is taken back once it moves on or returns.
    /// The thread starts with every signal blocked, so no signal meant for the graded code is
    /// delivered to it.
    pub fn watched<T>(&self, f: impl FnOnce() -> T) -> T {
        // SAFETY: gettid has no preconditions.
        let main = unsafe { libc::syscall(libc::SYS_gettid) };
        let done = AtomicBool::new(false);
        // SAFETY: a full set blocks every signal in this thread until the old mask is put back;
        // the thread spawned meanwhile inherits the full mask.
        let old = unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            old
        };
        std::thread::scope(|scope| {
            scope.spawn(|| {
                // The kernel's picture at a deadline leaves this thread out: it is the grader's.
                // SAFETY: gettid has no preconditions.
                let me = unsafe { libc::syscall(libc::SYS_gettid) };
                super::frames::send(super::frames::Tag::Forensics, format!("grader-thread {me}").as_bytes());
                let (mut last, mut since, mut told) = (None, Instant::now(), false);
                while !done.load(Ordering::Relaxed) {
                    let now = syscall_line(&format!("/proc/self/task/{main}/syscall"));
                    if now != last {
                        if told {
                            self.evidence("");
                            told = false;
                        }
                        (last, since) = (now, Instant::now());
                    } else if last.is_some() && !told && since.elapsed() > STUCK {
                        if let Some(text) = describe(main) {
                            self.evidence(text);
                            told = true;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                if told {
                    self.evidence("");
                }
            });
            // SAFETY: the mask read above.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
            /// Set on the way out, even when `f` panics: the scope waits for the watcher.
            struct Done<'a>(&'a AtomicBool);
            impl Drop for Done<'_> {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::Relaxed);
                }
            }
            let _done = Done(&done);
            f()
        })
    }
}

/// The first line of a `syscall` file while its thread sleeps in a call; None while it runs.
fn syscall_line(path: &str) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let line = text.lines().next()?.to_string();
    (!line.starts_with("running") && !line.starts_with("-1")).then_some(line)
}

/// A system call a process sleeps in: its number and first arguments.
#[derive(Clone, Copy)]
struct Call {
    number: libc::c_long,
    args: [u64; 5],
}

fn call_of(path: &str) -> Option<Call> {
    let line = syscall_line(path)?;
    let mut words = line.split_whitespace();
    let number = words.next()?.parse().ok()?;
    let mut arg = || u64::from_str_radix(words.next()?.trim_start_matches("0x"), 16).ok();
    Some(Call { number, args: [arg()?, arg()?, arg()?, arg()?, arg()?] })
}

/// One open descriptor: its number, what it points to, and whether it was opened for writing.
struct Fd {
    fd: u64,
    target: String,
    writes: bool,
}

struct Proc {
    pid: i32,
    call: Option<Call>,
    fds: Vec<Fd>,
}

fn fds_of(pid: i32) -> Vec<Fd> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    let mut fds: Vec<Fd> = dir
        .flatten()
        .filter_map(|entry| {
            let fd: u64 = entry.file_name().to_str()?.parse().ok()?;
            let target = fs::read_link(entry.path()).ok()?.display().to_string();
            let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
            let flags = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                .unwrap_or(0);
            let writes = flags & libc::O_ACCMODE as u32 != libc::O_RDONLY as u32;
            Some(Fd { fd, target, writes })
        })
        .collect();
    fds.sort_by_key(|f| f.fd);
    fds
}

/// The pids of every live descendant of `pid`, from each task's `children` file.
fn descendants(pid: i32) -> Vec<i32> {
    let mut found = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let Ok(tasks) = fs::read_dir(format!("/proc/{p}/task")) else { continue };
        for task in tasks.flatten() {
            let text = fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in text.split_whitespace().filter_map(|c| c.parse::<i32>().ok()) {
                if !found.contains(&child) && found.len() < 64 {
                    found.push(child);
                    todo.push(child);
                }
            }
        }
    }
    found
}

fn parent_of(pid: i32) -> i32 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
}

fn state_of(pid: i32) -> char {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rfind(')').and_then(|i| stat[i + 1..].trim_start().chars().next()).unwrap_or('?')
}

fn name(number: libc::c_long) -> &'static str {
    match number {
        libc::SYS_read => "read",
        libc::SYS_write => "write",
        libc::SYS_readv => "readv",
        libc::SYS_writev => "writev",
        libc::SYS_wait4 | libc::SYS_waitid => "waitpid",
        libc::SYS_openat => "open",
        libc::SYS_futex => "a futex wait (a lock or a condition)",
        libc::SYS_nanosleep | libc::SYS_clock_nanosleep => "sleep",
        libc::SYS_ppoll | libc::SYS_pselect6 => "poll",
        libc::SYS_rt_sigsuspend => "sigsuspend",
        libc::SYS_rt_sigtimedwait => "sigtimedwait",
        libc::SYS_accept | libc::SYS_accept4 => "accept",
        libc::SYS_connect => "connect",
        libc::SYS_recvfrom | libc::SYS_recvmsg => "recv",
        libc::SYS_sendto | libc::SYS_sendmsg => "send",
        libc::SYS_msgrcv => "msgrcv",
        libc::SYS_msgsnd => "msgsnd",
        libc::SYS_semop | libc::SYS_semtimedop => "semop",
        libc::SYS_mq_timedreceive => "mq_receive",
        libc::SYS_mq_timedsend => "mq_send",
        #[cfg(target_arch = "x86_64")]
        libc::SYS_pause => "pause",
        #[cfg(target_arch = "x86_64")]
        libc::SYS_poll | libc::SYS_select => "poll",
        _ => "a system call",
    }
}

fn is_io(number: libc::c_long) -> Option<bool> {
    match number {
        libc::SYS_read | libc::SYS_readv | libc::SYS_recvfrom | libc::SYS_recvmsg => Some(false),
        libc::SYS_write | libc::SYS_writev | libc::SYS_sendto | libc::SYS_sendmsg => Some(true),
        _ => None,
    }
}

/// What the process does: `asleep in read on fd 3 (pipe:[123])`.
fn doing(p: &Proc) -> String {
    match p.call {
        None if state_of(p.pid) == 'Z' => "has exited but was not reaped yet".to_string(),
        None => "is running".to_string(),
        Some(call) => {
            let mut text = format!("is asleep in {}", name(call.number));
            if is_io(call.number).is_some() {
                if let Some(fd) = p.fds.iter().find(|f| f.fd == call.args[0]) {
                    text.push_str(&format!(" on fd {} ({})", fd.fd, fd.target));
                }
            }
            text
        }
    }
}

/// What a msgrcv the caller sleeps in asks for (`man 2 msgrcv`: msqid, msgp, msgsz, msgtyp,
/// msgflg), and how many messages its queue holds (/proc/sysvipc/msg), none of which matches.
fn msgrcv_story(call: Call) -> String {
    let (id, wanted, flags) = (call.args[0] as i32, call.args[3] as i64, call.args[4] as i32);
    let meaning = match wanted {
        _ if flags & libc::MSG_EXCEPT != 0 => format!("the first message of any type but {wanted} (MSG_EXCEPT)"),
        0 => "the first message of any type".to_string(),
        t if t > 0 => format!("the first message of type {t} exactly"),
        t => format!("the first message of the lowest type ≤ {}", -t),
    };
    let held = fs::read_to_string("/proc/sysvipc/msg").ok().and_then(|text| {
        text.lines().skip(1).find_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            (cols.len() > 4 && cols[1].parse::<i32>().ok()? == id).then(|| cols[4].parse::<u64>().ok())?
        })
    });
    let held = match held {
        Some(n) => format!(", and the queue holds {n} message(s), none of which matches"),
        None => ", and no queue with that id exists".to_string(),
    };
    format!(" on queue id {id} with msgtyp {wanted}: it waits for {meaning}{held}")
}

/// Reads the sandbox's processes and says what keeps the watched thread asleep.
fn describe(main: libc::c_long) -> Option<String> {
    let me = std::process::id() as i32;
    let body = Proc { pid: me, call: call_of(&format!("/proc/self/task/{main}/syscall")), fds: fds_of(me) };
    let call = body.call?;
    let others: Vec<Proc> = descendants(me)
        .into_iter()
        .map(|pid| Proc { pid, call: call_of(&format!("/proc/{pid}/syscall")), fds: fds_of(pid) })
        .collect();
    let all: Vec<&Proc> = std::iter::once(&body).chain(&others).collect();
    let who = |p: &Proc| match parent_of(p.pid) {
        _ if p.pid == me => format!("the calling process (pid {me})"),
        parent if parent == me => format!("its child {}", p.pid),
        parent => format!("process {} (a child of {parent})", p.pid),
    };
    let holders = |target: &str, writes: bool| -> Vec<String> {
        all.iter()
            .flat_map(|p| {
                p.fds
                    .iter()
                    .filter(|f| f.target == target && f.writes == writes)
                    .map(|f| {
                        format!(
                            "{} as fd {}",
                            if p.pid == me { "the calling process".to_string() } else { format!("process {}", p.pid) },
                            f.fd
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let mut text = format!("What the kernel shows: {} {}", who(&body), doing(&body));
    let waited = body.fds.iter().find(|f| f.fd == call.args[0] && is_io(call.number).is_some());
    match (is_io(call.number), waited) {
        (Some(false), Some(fd)) if fd.target.starts_with("pipe:") || !fd.target.contains(':') => {
            let writers = holders(&fd.target, true);
            if fd.writes {
                text.push_str(&format!(
                    ", which it opened for reading and writing (O_RDWR): as long as it holds fd {} it is a writer \
                     itself, so its read never sees end-of-file. Open it for reading only",
                    fd.fd
                ));
            } else if !writers.is_empty() {
                text.push_str(&format!(
                    ", and the write end of that pipe is still open in {}. A read sees end-of-file only once every \
                     write end is closed, in every process",
                    writers.join(", ")
                ));
                if writers.iter().any(|w| w.starts_with("the calling process")) {
                    text.push_str(", its own included: close the write end you do not use right after the fork");
                }
            }
        }
        (Some(true), Some(fd)) if fd.target.starts_with("pipe:") || !fd.target.contains(':') => {
            let readers = holders(&fd.target, false);
            text.push_str(&format!(
                ": the pipe is full (a pipe holds 64 KiB) and {}",
                if readers.is_empty() {
                    "no process holds its read end".to_string()
                } else {
                    format!("its read end is open in {}, which must read it to make room", readers.join(", "))
                }
            ));
        }
        _ => {}
    }
    if call.number == libc::SYS_msgrcv {
        text.push_str(&msgrcv_story(call));
    }
    text.push('.');
    for p in &others {
        text.push_str(&format!("\n  {} {}", who(p), doing(p)));
        let waits_on_our_pipe = p.call.filter(|c| is_io(c.number) == Some(true)).and_then(|c| {
            let fd = p.fds.iter().find(|f| f.fd == c.args[0])?;
            (fd.target.starts_with("pipe:") && !holders(&fd.target, false).is_empty()).then(|| fd.target.clone())
        });
        if let (Some(target), libc::SYS_wait4 | libc::SYS_waitid) = (waits_on_our_pipe, call.number) {
            if body.fds.iter().any(|f| f.target == target && !f.writes) {
                text.push_str(&format!(
                    ": it waits for room in {target}, which only the calling process reads, and the calling process \
                     waits for it to exit. Read everything first (to end-of-file), then waitpid"
                ));
            }
        }
    }
    Some(text)
}
