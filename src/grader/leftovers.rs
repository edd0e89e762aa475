//! What a grader run that was killed outright (SIGKILL, a power cut) can leave behind, found and
//! removed by `cargo run -- clean`.
//!
//! Every sandbox works in a temporary directory named after its test process,
//! `$TMPDIR/ipc-katas-<pid>-XXXXXX/`, with the test's files in `work/` and a ledger, `tracked`,
//! of every IPC object the test handed out or was told of. A normal run, a failure, a hang and
//! Ctrl-C all remove the directory and everything in the ledger. One whose process is gone is a
//! leftover, and only what it proves is removed:
//! - POSIX names `/ipck-<pid>-…` (the sandbox's prefix) in `/dev/shm` (`sem.` before it for a
//!   named semaphore) and `/dev/mqueue`;
//! - SysV objects by a key the sandbox reserved, or by an id whose key and change time are the
//!   ones the ledger wrote down, and only when this user created them;
//! - the directory itself.
//!
//! Nothing else is touched: an object the attempt made that the test never learnt of (a
//! segment made with `IPC_PRIVATE` before the kill) cannot be told apart from anyone else's.

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::audit::{self, Tracked};
use super::sysv::{self, Row as SysvRow};

/// The prefix of every sandbox's temporary directory, before the test process's pid.
pub(crate) const DIR_PREFIX: &str = "ipc-katas-";
/// The ledger's name inside a sandbox's temporary directory.
pub(crate) const LEDGER: &str = "tracked";

/// One killed run's leavings.
#[derive(Debug)]
pub struct Leftover {
    /// The sandbox's temporary directory.
    pub dir: PathBuf,
    /// The pid of the test process that made it (gone now).
    pub pid: u32,
    /// What is still there, in words, one line each.
    pub objects: Vec<String>,
    removals: Vec<Removal>,
}

#[derive(Debug)]
enum Removal {
    Posix(String),
    Sysv(&'static str, i32),
}

/// Appends `object` to the ledger of the sandbox whose work directory is `work`, with what
/// identifies it later (for an id: its key and change time).
pub(crate) fn record(work: &Path, object: &Tracked) {
    let Some(dir) = work.parent() else { return };
    let line = match object {
        Tracked::SysvId { kind, id } => match sysv::rows(kind).into_iter().find(|r| r.id == *id) {
            Some(row) => format!("sysv-id {kind} {id} {} {}", row.key, row.ctime),
            None => return,
        },
        other => other.encode(),
    };
    if let Ok(mut file) = fs::OpenOptions::new().create(true).append(true).open(dir.join(LEDGER)) {
        let _ = writeln!(file, "{line}");
    }
}

/// The leavings of every run of this user's whose test process is gone.
pub fn find() -> Vec<Leftover> {
    let tmp = std::env::temp_dir();
    let Ok(entries) = fs::read_dir(&tmp) else { return Vec::new() };
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(DIR_PREFIX).and_then(|r| r.split('-').next()).and_then(|p| p.parse().ok())
        else {
            continue;
        };
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_dir() || meta.uid() != uid || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        found.push(leftover(entry.path(), pid, uid));
    }
    found.sort_by(|a, b| a.dir.cmp(&b.dir));
    found
}

fn leftover(dir: PathBuf, pid: u32, uid: u32) -> Leftover {
    let mut objects = Vec::new();
    let mut removals = Vec::new();
    let ledger = fs::read_to_string(dir.join(LEDGER)).unwrap_or_default();
    let rows: Vec<(&'static str, SysvRow)> = ["shm", "msg", "sem"]
        .into_iter()
        .flat_map(|kind| sysv::rows(kind).into_iter().map(move |r| (kind, r)))
        .filter(|(_, r)| r.cuid == uid)
        .collect();
    for line in ledger.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["sysv-key", key] => {
                let Ok(key) = key.parse::<i32>() else { continue };
                for (kind, row) in rows.iter().filter(|(_, r)| r.key == key) {
                    objects.push(format!("SysV {kind} id {} (key {key:#x})", row.id));
                    removals.push(Removal::Sysv(kind, row.id));
                }
            }
            ["sysv-id", kind, id, key, ctime] => {
                let (Ok(id), Ok(key), Ok(ctime)) = (id.parse::<i32>(), key.parse::<i32>(), ctime.parse::<i64>()) else {
                    continue;
                };
                if let Some((kind, _)) =
                    rows.iter().find(|(k, r)| k == kind && r.id == id && r.key == key && r.ctime == ctime)
                {
                    objects.push(format!("SysV {kind} id {id}"));
                    removals.push(Removal::Sysv(kind, id));
                }
            }
            _ => {}
        }
    }
    // POSIX names with the sandboxes' prefix of that test process: `/ipck-<pid>-`.
    let prefix = format!("ipck-{pid}-");
    for place in ["/dev/shm", "/dev/mqueue"] {
        for entry in fs::read_dir(place).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // A named semaphore lives in /dev/shm as sem.NAME.
            let bare = name.strip_prefix("sem.").unwrap_or(&name);
            if bare.starts_with(&prefix) && entry.metadata().is_ok_and(|m| m.uid() == uid) {
                objects.push(format!("{place}/{name}"));
                removals.push(Removal::Posix(format!("/{bare}")));
            }
        }
    }
    objects.dedup();
    objects.push(format!("the directory {}", dir.display()));
    Leftover { dir, pid, objects, removals }
}

impl Leftover {
    /// Removes what it found; returns what could not be removed, in words.
    pub fn remove(&self) -> Vec<String> {
        for removal in &self.removals {
            match removal {
                Removal::Posix(name) => audit::unlink_posix(name),
                Removal::Sysv(kind, id) => audit::remove_sysv(kind, *id),
            }
        }
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Vec::new(),
            Err(e) => vec![format!("{}: {e}", self.dir.display())],
        }
    }
}

/// Says once, on the test process's stderr (not captured by the harness), that killed runs
/// left things behind, and how to remove them.
pub(crate) fn warn_once() {
    let found = find();
    if found.is_empty() {
        return;
    }
    let things: usize = found.iter().map(|l| l.objects.len()).sum();
    let text = format!(
        "\nipc-katas: {} earlier test run(s) were killed before they could clean up and left {things} thing(s) \
         behind (IPC objects, temporary directories). `cargo run -- clean` lists and removes them.\n",
        found.len()
    );
    // SAFETY: write(2) to stderr from a valid buffer; straight to the descriptor, so that the
    // harness's output capture does not hide it.
    unsafe { libc::write(2, text.as_ptr().cast(), text.len()) };
}
