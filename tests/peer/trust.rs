//! Peer commands of the trust topic: a sender of sealed bytes (the learner's own `share_sealed`,
//! run as a separate program) and a prober of file locks, which uses only its own calls.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use ipc_katas::grader::Payload;
use serde::{Deserialize, Serialize};

use super::{FAILED, PeerResult, failed};

#[derive(Debug, Serialize, Deserialize)]
pub enum Trust {
    /// sealed_memfd: connect to `path` and share `len` bytes of `Payload::new(len, seed)` with
    /// the learner's `share_sealed`, in a memfd called `name`; then exit.
    ShareSealed { path: PathBuf, name: String, len: usize, seed: u64 },
    /// file_locks: look, without taking anything for long, at the locks others hold on `path`,
    /// and print one line: [`Trust::probe_line`]'s format.
    ProbeLock { path: PathBuf },
    /// named_semaphore: open the learner's `NamedLock` called `name`, try `lock_within` for
    /// `timeout_ms`, print `none`, `taken` or `recovered`, and unlock (drop) before it exits.
    TryNamedLock { name: String, timeout_ms: u64 },
}

/// What another process sees of the locks on a file: what `fcntl(F_GETLK)` reports for a read
/// lock of the whole file and of the bytes from 1 MiB on, and whether `flock(LOCK_SH | LOCK_NB)`
/// is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub whole: FcntlSeen,
    pub far: FcntlSeen,
    pub flock_refused: bool,
}

/// What `F_GETLK` says about a read lock: no conflicting lock, a record lock of process `pid`, or
/// an open-file-description lock (the kernel reports its pid as -1, `man 2 fcntl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FcntlSeen {
    Free,
    Record { pid: i32 },
    OpenFile,
}

impl Trust {
    pub fn run(self) -> PeerResult {
        match self {
            Trust::ShareSealed { path, name, len, seed } => share_sealed(&path, &name, len, seed),
            Trust::TryNamedLock { name, timeout_ms } => {
                let lock = katas::trust::NamedLock::open(&name).map_err(failed("NamedLock::open"))?;
                let guard = lock
                    .lock_within(std::time::Duration::from_millis(timeout_ms))
                    .map_err(failed("NamedLock::lock_within"))?;
                println!("{}", guard.as_ref().map_or("none", |g| if g.recovered() { "recovered" } else { "taken" }));
                Ok(())
            }
            Trust::ProbeLock { path } => {
                let probe = probe(&path)?;
                println!("{}", serde_json::to_string(&probe).map_err(|e| (FAILED, format!("encoding: {e}")))?);
                Ok(())
            }
        }
    }
}

fn share_sealed(path: &Path, name: &str, len: usize, seed: u64) -> PeerResult {
    let stream = UnixStream::connect(path).map_err(failed("connecting to the test"))?;
    let data = Payload::new(len, seed).bytes();
    katas::trust::share_sealed(&stream, name, &data).map_err(failed("share_sealed"))
}

/// Looks at the locks on `path` from this process: see [`Probe`].
pub fn probe(path: &Path) -> Result<Probe, (i32, String)> {
    let file = OpenOptions::new().read(true).open(path).map_err(failed("opening the locked file"))?;
    let seen = |start: libc::off_t| -> Result<FcntlSeen, (i32, String)> {
        // SAFETY: all zeroes is a valid struct flock (plain integers).
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = libc::F_RDLCK as libc::c_short;
        lock.l_whence = libc::SEEK_SET as libc::c_short;
        lock.l_start = start;
        // SAFETY: F_GETLK with a valid struct flock, which it fills in.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut lock) } == -1 {
            return Err(failed("fcntl(F_GETLK)")(std::io::Error::last_os_error()));
        }
        Ok(match (lock.l_type as libc::c_int, lock.l_pid) {
            (libc::F_UNLCK, _) => FcntlSeen::Free,
            (_, -1) => FcntlSeen::OpenFile,
            (_, pid) => FcntlSeen::Record { pid },
        })
    };
    let whole = seen(0)?;
    let far = seen(1 << 20)?;
    // SAFETY: flock on a descriptor this function owns; a shared lock it gets is dropped at once.
    let flock_refused = unsafe {
        if libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) == 0 {
            libc::flock(file.as_raw_fd(), libc::LOCK_UN);
            false
        } else if std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK) {
            true
        } else {
            return Err(failed("flock(LOCK_SH | LOCK_NB)")(std::io::Error::last_os_error()));
        }
    };
    Ok(Probe { whole, far, flock_refused })
}
