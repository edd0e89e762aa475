//! The leak audit: what the graded code was obliged to release, checked after it returns and
//! before the verdict; and the clean-up that removes whatever was left, whatever the verdict.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use super::sysv;

/// An IPC object the sandbox knows this test may create: checked by the audit, removed by the
/// clean-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tracked {
    /// A POSIX shared memory or message queue name, with its leading `/`.
    PosixName(String),
    /// A SysV object by id: `kind` is `shm`, `msg` or `sem`.
    SysvId { kind: &'static str, id: i32 },
    /// Every SysV object with this key.
    SysvKey(i32),
}

impl Tracked {
    pub(crate) fn encode(&self) -> String {
        match self {
            Tracked::PosixName(name) => format!("posix {name}"),
            Tracked::SysvId { kind, id } => format!("sysv-id {kind} {id}"),
            Tracked::SysvKey(key) => format!("sysv-key {key}"),
        }
    }

    pub(crate) fn decode(line: &str) -> Option<Tracked> {
        let mut words = line.split_whitespace();
        match words.next()? {
            "posix" => Some(Tracked::PosixName(words.next()?.to_string())),
            "sysv-id" => {
                let kind = match words.next()? {
                    "shm" => "shm",
                    "msg" => "msg",
                    "sem" => "sem",
                    _ => return None,
                };
                Some(Tracked::SysvId { kind, id: words.next()?.parse().ok()? })
            }
            "sysv-key" => Some(Tracked::SysvKey(words.next()?.parse().ok()?)),
            _ => None,
        }
    }
}

/// What the body process holds before the graded code runs.
pub(crate) struct Snapshot {
    fds: BTreeMap<i32, String>,
}

pub(crate) fn snapshot() -> Snapshot {
    Snapshot { fds: open_fds() }
}

/// Open descriptors of this process with what they point to (`man 5 proc`, /proc/pid/fd).
fn open_fds() -> BTreeMap<i32, String> {
    let numbers: Vec<i32> = match fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect(),
        Err(_) => return BTreeMap::new(),
    };
    // The directory's own descriptor is closed by now, so its readlink fails and it drops out.
    numbers
        .into_iter()
        .filter_map(|fd| Some((fd, fs::read_link(format!("/proc/self/fd/{fd}")).ok()?.display().to_string())))
        .collect()
}

/// What the graded code left behind, one line each, with where it should have gone.
pub(crate) struct Leaks {
    /// What the process still holds: descriptors, children, mappings and attachments. Values the
    /// test held were dropped when its body returned, early or not, so these are the code's.
    pub held: Vec<String>,
    /// Objects that outlive a process (SysV objects, POSIX names, FIFO and socket files) until
    /// an explicit remove or unlink. A test that stopped early never made its own remove call,
    /// so these count only against a test that ran to its end.
    pub outliving: Vec<String>,
}

/// Everything the graded code left behind, with where it should have gone.
pub(crate) fn audit(before: &Snapshot, tracked: &[Tracked], dir: &Path) -> Leaks {
    let mut leaks = Vec::new();
    let mut outliving = Vec::new();
    for (fd, target) in open_fds() {
        if before.fds.get(&fd) != Some(&target) {
            leaks.push(format!("file descriptor {fd} ({target}) is still open: {}", fd_advice(&target)));
        }
    }
    for (pid, state, cmd) in children() {
        if state == 'Z' {
            leaks.push(format!(
                "child process {pid} ({cmd}) exited but was never waited for: it is a zombie; reap every child you start before returning (waitpid(pid), or waitid on its pidfd)"
            ));
        } else {
            leaks.push(format!(
                "child process {pid} ({cmd}) is still running: a child must finish (and be reaped, by its pid or its pidfd) before your function returns; did it block, or did it return instead of calling exit?"
            ));
        }
    }
    for object in tracked {
        if let Some(what) = still_mapped(object) {
            leaks.push(what);
        }
        if let Some(what) = attached(object) {
            leaks.push(what);
        } else if let Some(what) = still_there(object) {
            outliving.push(what);
        }
    }
    for path in ipc_files(dir) {
        outliving.push(format!(
            "{} is still there: unlink FIFOs and socket files when you are done with them (std::fs::remove_file)",
            path.display()
        ));
    }
    Leaks { held: leaks, outliving }
}

/// A segment marked for removal but still attached: what is missing is a detach.
fn attached(object: &Tracked) -> Option<String> {
    match object {
        Tracked::SysvId { kind: "shm", id } => marked_but_attached(*id),
        _ => None,
    }
}

fn fd_advice(target: &str) -> &'static str {
    if target.starts_with("pipe:") {
        "close both ends of every pipe you make, in every process (drop the OwnedFd, or let the File go out of scope)"
    } else if target.starts_with("socket:") {
        "close every socket you open (drop the stream, listener or OwnedFd)"
    } else if target.starts_with("/dev/shm/") || target.starts_with("/SYSV") || target.starts_with("/memfd:") {
        "close the shared memory descriptor once it is mapped (the mapping stays valid without it)"
    } else {
        "close every descriptor you open before returning"
    }
}

/// (pid, state, command) of each child of this process, from /proc/self/task/*/children.
fn children() -> Vec<(i32, char, String)> {
    let mut pids = Vec::new();
    if let Ok(tasks) = fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Ok(text) = fs::read_to_string(task.path().join("children")) {
                pids.extend(text.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
            }
        }
    }
    pids.into_iter()
        .map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The command is in parentheses and may contain spaces; the state follows the last ')'.
            let cmd = stat.find('(').zip(stat.rfind(')')).map(|(a, b)| stat[a + 1..b].to_string()).unwrap_or_default();
            let state = stat.rfind(')').and_then(|i| stat[i + 1..].trim_start().chars().next()).unwrap_or('?');
            (pid, state, cmd)
        })
        .collect()
}

fn still_there(object: &Tracked) -> Option<String> {
    match object {
        Tracked::PosixName(name) => {
            let bare = name.trim_start_matches('/');
            if Path::new("/dev/shm").join(bare).exists() {
                return Some(format!(
                    "POSIX shared memory {name} (/dev/shm/{bare}) still exists: shm_unlink it when the last user is done"
                ));
            }
            if Path::new("/dev/shm").join(format!("sem.{bare}")).exists() {
                return Some(format!(
                    "POSIX named semaphore {name} (/dev/shm/sem.{bare}) still exists: sem_unlink it when the last user \
                     is done"
                ));
            }
            if mq_exists(name) {
                return Some(format!(
                    "POSIX message queue {name} still exists: mq_unlink it when the last user is done"
                ));
            }
            None
        }
        Tracked::SysvId { kind, id } => sysv_objects(kind)
            .into_iter()
            .find(|(_, i)| i == id)
            .map(|_| format!("SysV {} id {id} still exists (see `ipcs`): {}", sysv_noun(kind), sysv_advice(kind))),
        Tracked::SysvKey(key) => ["shm", "msg", "sem"].into_iter().find_map(|kind| {
            sysv_objects(kind).into_iter().find(|(k, _)| k == key).map(|(_, id)| {
                format!(
                    "SysV {} id {id} (key {key:#x}) still exists (see `ipcs`): {}",
                    sysv_noun(kind),
                    sysv_advice(kind)
                )
            })
        }),
    }
}

/// A segment that remove() marked (IPC_RMID) but that is still attached: the missing step is a
/// detach, not a removal. (`man 5 proc`: the perms column holds SHM_DEST, 01000, once marked.)
fn marked_but_attached(id: i32) -> Option<String> {
    let row = sysv::row("shm", id)?;
    let nattch = row.nattch;
    (row.marked() && nattch > 0).then(|| {
        format!(
            "SysV shared memory segment id {id} is marked for removal (IPC_RMID was called) but is still attached \
             {nattch} time(s) after your code returned: detach every attachment with shmdt (in Drop); the kernel \
             frees a removed segment at its last detach"
        )
    })
}

/// A POSIX shared memory object this process still maps after the graded code returned, from
/// /proc/self/maps (`man 5 proc`): the name may be unlinked, but the memory is only freed once
/// the last mapping goes.
fn still_mapped(object: &Tracked) -> Option<String> {
    let Tracked::PosixName(name) = object else { return None };
    let bare = name.trim_start_matches('/');
    let maps = fs::read_to_string("/proc/self/maps").ok()?;
    // glibc keeps a named semaphore in /dev/shm/sem.NAME, mapped from sem_open to sem_close.
    let (path, fix) = if maps.contains(&format!("/dev/shm/sem.{bare}")) {
        (format!("/dev/shm/sem.{bare}"), "sem_close it when its value is dropped (in Drop)")
    } else {
        (format!("/dev/shm/{bare}"), "munmap the mapping when its value is dropped (in Drop)")
    };
    let ranges: Vec<&str> = maps
        .lines()
        .filter_map(|line| {
            let mut cols = line.splitn(6, char::is_whitespace);
            let range = cols.next()?;
            let file = cols.nth(4)?.trim_start();
            (file == path || file.strip_prefix(path.as_str()) == Some(" (deleted)")).then_some(range)
        })
        .collect();
    (!ranges.is_empty()).then(|| {
        format!(
            "POSIX object {name} is still mapped in this process ({path}, {}) after your code returned: {fix}; \
             unlinking the name does not unmap it",
            ranges.join(", ")
        )
    })
}

fn sysv_noun(kind: &str) -> &'static str {
    match kind {
        "shm" => "shared memory segment",
        "msg" => "message queue",
        _ => "semaphore set",
    }
}

fn sysv_advice(kind: &str) -> &'static str {
    match kind {
        "shm" => "mark it for removal with shmctl(id, IPC_RMID); it goes away at the last detach",
        "msg" => "remove it with msgctl(id, IPC_RMID) when the last user is done",
        _ => "remove it with semctl(id, 0, IPC_RMID) when the last user is done",
    }
}

/// (key, id) of each SysV object of one kind.
pub(crate) fn sysv_objects(kind: &str) -> Vec<(i32, i32)> {
    sysv::rows(kind).iter().map(|r| (r.key, r.id)).collect()
}

fn mq_exists(name: &str) -> bool {
    let Ok(c_name) = CString::new(name) else { return false };
    // SAFETY: c_name is NUL-terminated; a returned descriptor is closed at once.
    unsafe {
        let mqd = libc::mq_open(c_name.as_ptr(), libc::O_RDONLY);
        if mqd < 0 {
            return false;
        }
        libc::mq_close(mqd);
        true
    }
}

/// FIFOs and sockets below `dir` (two levels deep).
fn ipc_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((path, depth)) = stack.pop() {
        let Ok(entries) = fs::read_dir(&path) else { continue };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_fifo() || kind.is_socket() {
                found.push(entry.path());
            } else if kind.is_dir() && depth < 2 {
                stack.push((entry.path(), depth + 1));
            }
        }
    }
    found.sort();
    found
}

/// Removes what the test may have left, whatever its outcome. Runs in the test process after
/// the whole sandbox is dead; errors mean "already gone" and are ignored.
pub(crate) fn clean_up(tracked: &[Tracked], posix_prefix: &str) {
    for object in tracked {
        match object {
            Tracked::PosixName(name) => unlink_posix(name),
            Tracked::SysvId { kind, id } => remove_sysv(kind, *id),
            Tracked::SysvKey(key) => {
                for kind in ["shm", "msg", "sem"] {
                    for (_, id) in sysv_objects(kind).into_iter().filter(|(k, _)| k == key) {
                        remove_sysv(kind, id);
                    }
                }
            }
        }
    }
    // Names the test built with this sandbox's prefix but did not hand out through the sandbox.
    let bare = posix_prefix.trim_start_matches('/');
    for dir in ["/dev/shm", "/dev/mqueue"] {
        if let Ok(entries) = fs::read_dir(dir) {
            for entry in entries.flatten() {
                if let Some(name) = entry.file_name().to_str().filter(|n| n.starts_with(bare)) {
                    unlink_posix(&format!("/{name}"));
                }
            }
        }
    }
}

pub(crate) fn unlink_posix(name: &str) {
    if let Ok(c_name) = CString::new(name) {
        // SAFETY: c_name is NUL-terminated; the calls only remove a name.
        unsafe {
            libc::shm_unlink(c_name.as_ptr());
            libc::mq_unlink(c_name.as_ptr());
            libc::sem_unlink(c_name.as_ptr());
        }
    }
}

/// Removes the SysV objects that process `pid`, the body, made or was the last to use, once it
/// is dead: an object the code made with IPC_PRIVATE and never handed to the test (an `id()`
/// that returns something else) is reachable by nobody else, and would stay until reboot.
/// The kernel keeps a pid with each (`man 5 proc`, `man 2 semctl`): a segment's creator
/// (`cpid`), a queue's last sender and receiver (`lspid`, `lrpid`), and each semaphore's last
/// `semop` or `SETVAL` (`GETPID`). A semaphore set or queue that a forked worker used last,
/// or nobody used, is not found this way.
pub(crate) fn remove_objects_of(pid: u32) {
    let pid = pid as i32;
    for row in sysv::rows("shm").iter().filter(|r| r.cpid == pid) {
        remove_sysv("shm", row.id);
    }
    for row in sysv::rows("msg").iter().filter(|r| r.lspid == pid || r.lrpid == pid) {
        remove_sysv("msg", row.id);
    }
    for row in sysv::rows("sem") {
        // SAFETY: GETPID takes no argument; a set that is gone only fails with EINVAL.
        if (0..row.nsems as i32).any(|n| unsafe { libc::semctl(row.id, n, libc::GETPID) } == pid) {
            remove_sysv("sem", row.id);
        }
    }
}

pub(crate) fn remove_sysv(kind: &str, id: i32) {
    // SAFETY: IPC_RMID takes no buffer (null is allowed); a wrong id only fails with EINVAL.
    unsafe {
        match kind {
            "shm" => libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()),
            "msg" => libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()),
            _ => libc::semctl(id, 0, libc::IPC_RMID),
        };
    }
}
