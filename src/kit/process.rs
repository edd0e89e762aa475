//! What the kernel shows of a process or thread (`man 5 proc`): its scheduler state and the
//! system call it sleeps in. A process that waits properly sleeps in the kernel (`S`); one that
//! spins stays runnable (`R`).

use std::fs;
use std::time::{Duration, Instant};

/// The kernel's id of the calling thread (`man 2 gettid`).
pub fn gettid() -> libc::pid_t {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::pid_t }
}

/// The scheduler state letter of process `pid` (/proc/PID/stat: `R` running, `S` asleep,
/// `D` asleep uninterruptibly, `Z` a zombie, …); None once it is gone.
pub fn state(pid: libc::pid_t) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name in parentheses may hold spaces: the state follows the last ')'.
    stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next())
}

/// A system call a thread sleeps in: its number and first six arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syscall {
    pub number: libc::c_long,
    pub args: [u64; 6],
}

fn syscall_in(path: &str) -> Option<Syscall> {
    let text = fs::read_to_string(path).ok()?;
    let mut words = text.split_whitespace();
    // "running" while it runs; "-1 …" while it is stopped outside a call.
    let number: libc::c_long = words.next()?.parse().ok().filter(|&n| n >= 0)?;
    let mut args = [0u64; 6];
    for arg in &mut args {
        *arg = u64::from_str_radix(words.next()?.trim_start_matches("0x"), 16).ok()?;
    }
    Some(Syscall { number, args })
}

/// The system call thread `tid` of this process sleeps in (/proc/self/task/TID/syscall).
pub fn syscall_of_thread(tid: libc::pid_t) -> Option<Syscall> {
    syscall_in(&format!("/proc/self/task/{tid}/syscall"))
}

/// The system call process `pid` (its main thread) sleeps in (/proc/PID/syscall; readable for
/// the test's own children).
pub fn syscall_of(pid: libc::pid_t) -> Option<Syscall> {
    syscall_in(&format!("/proc/{pid}/syscall"))
}

/// Waits (at most 3 s) until process `pid` has been seen in system call `call` 5 times, over at
/// least `over`; whether it was.
pub fn seen_in_call(pid: libc::pid_t, call: libc::c_long, over: Duration) -> bool {
    let started = Instant::now();
    let (mut seen, mut since) = (0, None);
    while started.elapsed() < Duration::from_secs(3) {
        if syscall_of(pid).is_some_and(|c| c.number == call) {
            seen += 1;
            since.get_or_insert_with(Instant::now);
        }
        if seen >= 5 && since.is_some_and(|t: Instant| t.elapsed() >= over) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// How a watched process spent a watch: see [`watch_sleep`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sleep {
    /// Asleep in the kernel (`S` or `D`) for the whole span asked for.
    Asleep,
    /// It exited (a zombie, or gone) before.
    Ended,
    /// Never asleep that long: `running` of `looks` looks saw it runnable.
    Awake { running: u32, looks: u32 },
}

/// Watches process `pid` for up to `within`, one look a millisecond, until it has been asleep
/// for `span` without a break, or has ended.
pub fn watch_sleep(pid: libc::pid_t, span: Duration, within: Duration) -> Sleep {
    let started = Instant::now();
    let (mut asleep_since, mut running, mut looks) = (None, 0, 0);
    while started.elapsed() < within {
        looks += 1;
        match state(pid) {
            Some('S' | 'D') => {
                if asleep_since.get_or_insert_with(Instant::now).elapsed() >= span {
                    return Sleep::Asleep;
                }
            }
            Some('Z' | 'X') | None => return Sleep::Ended,
            Some('R') => {
                running += 1;
                asleep_since = None;
            }
            Some(_) => asleep_since = None,
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Sleep::Awake { running, looks }
}

/// Bytes of shared memory this process has mapped (/proc/self/maps: an `s` in the permissions).
pub fn shared_bytes() -> u64 {
    maps()
        .lines()
        .filter(|line| line.split_whitespace().nth(1).is_some_and(|perms| perms.ends_with('s')))
        .filter_map(|line| {
            let (from, to) = line.split_whitespace().next()?.split_once('-')?;
            Some(u64::from_str_radix(to, 16).ok()? - u64::from_str_radix(from, 16).ok()?)
        })
        .sum()
}

/// How many `MAP_SHARED | MAP_ANONYMOUS` mappings this process has: the kernel shows them as
/// `/dev/zero (deleted)` in /proc/self/maps.
pub fn shared_anonymous_mappings() -> usize {
    maps().lines().filter(|l| l.contains("/dev/zero")).count()
}

fn maps() -> String {
    fs::read_to_string("/proc/self/maps").unwrap_or_default()
}

/// The descriptors of this process that link to `target` (/proc/self/fd).
pub fn fds_linking_to(target: &str) -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc/self/fd") else { return Vec::new() };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let link = fs::read_link(e.path()).ok()?;
        (link.to_string_lossy() == target).then(|| e.file_name().to_str()?.parse().ok())?
    })
    .collect()
}
