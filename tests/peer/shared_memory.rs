//! Peer commands of the shared_memory topic: the far side of a POSIX shared memory object, in
//! a program that shares nothing with the test but the name. Plain nix calls, not kata code.

use std::fs;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::mman::{self, MapFlags, ProtFlags};
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

use super::{FAILED, PeerResult};

#[derive(Debug, Serialize, Deserialize)]
pub enum Shm {
    /// `shm_open` `name` read-only, map it, save its first `len` bytes in `out`.
    Read { name: String, len: usize, out: PathBuf },
    /// `shm_open` `name` (`O_CREAT | O_EXCL`, 0600), size it, copy the bytes of `input` into it.
    Write { name: String, input: PathBuf },
}

impl Shm {
    pub fn run(self) -> PeerResult {
        match self {
            Shm::Read { name, len, out } => read(&name, len, &out),
            Shm::Write { name, input } => write(&name, &input),
        }
    }
}

fn fail(what: &str) -> impl FnOnce(nix::errno::Errno) -> (i32, String) + '_ {
    move |e| (FAILED, format!("{what}: {e}"))
}

fn read(name: &str, len: usize, out: &Path) -> PeerResult {
    let fd = mman::shm_open(name, OFlag::O_RDONLY, Mode::empty()).map_err(fail("shm_open of the object"))?;
    let size = nix::sys::stat::fstat(&fd).map_err(fail("fstat of the object"))?.st_size;
    if (size as u64) < len as u64 {
        return Err((FAILED, format!("the object {name} has {size} bytes, fewer than the {len} expected")));
    }
    let mut data = vec![0u8; len];
    if let Some(map_len) = NonZeroUsize::new(len) {
        // SAFETY: a fresh read-only shared mapping of len bytes, within the object's size.
        let addr = unsafe { mman::mmap(None, map_len, ProtFlags::PROT_READ, MapFlags::MAP_SHARED, &fd, 0) }
            .map_err(fail("mmap of the object"))?;
        // SAFETY: the mapping is len bytes long; data is a separate buffer of len bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(addr.as_ptr().cast::<u8>(), data.as_mut_ptr(), len);
            let _ = mman::munmap(addr, len);
        }
    }
    fs::write(out, data).map_err(|e| (FAILED, format!("saving what was read: {e}")))
}

fn write(name: &str, input: &Path) -> PeerResult {
    let data = fs::read(input).map_err(|e| (FAILED, format!("loading the input: {e}")))?;
    let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR;
    let fd = mman::shm_open(name, flags, Mode::S_IRUSR | Mode::S_IWUSR).map_err(fail("shm_open of the object"))?;
    nix::unistd::ftruncate(&fd, data.len() as libc::off_t).map_err(fail("ftruncate of the object"))?;
    if let Some(map_len) = NonZeroUsize::new(data.len()) {
        let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        // SAFETY: a fresh shared mapping of the object, which was just sized to map_len bytes.
        let addr = unsafe { mman::mmap(None, map_len, prot, MapFlags::MAP_SHARED, &fd, 0) }
            .map_err(fail("mmap of the object"))?;
        // SAFETY: the mapping is data.len() bytes long; data is a separate buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), addr.as_ptr().cast::<u8>(), data.len());
            let _ = mman::munmap(addr, data.len());
        }
    }
    Ok(())
}
