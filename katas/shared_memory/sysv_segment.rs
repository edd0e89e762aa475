//! Kata shared_memory::sysv_segment: A SysV shared memory segment.
//!
//! Grade it: `cargo test --test shared_memory sysv_segment::`
//! Stuck? `cargo run -- hint shared_memory::sysv_segment`

use std::io;

/// A SysV shared memory segment attached to this process.
///
/// Build it on `libc` (nix has no SysV calls): `shmget`, `shmat`, `shmdt`, `shmctl`. Every
/// unsafe block gets a `// SAFETY:` comment. Dropping the value detaches the segment; only
/// [`SysvSegment::remove`] makes it go away, at the last detach. A child forked after
/// `create` shares the memory.
///
/// Read first: `man 7 sysvipc`, `man 2 shmget`, `man 2 shmat`, `man 2 shmctl` (IPC_RMID,
/// IPC_STAT), `man 5 proc` (/proc/sysvipc/shm).
///
/// The grader checks: bytes a forked child writes are read by the parent; the segment is mode
/// 0600 and a taken key is `AlreadyExists`; after `remove` and the last detach the id is gone
/// from /proc/sysvipc/shm; dropping detaches (its attach count falls); size 0, out-of-range
/// reads and writes, and attaching a removed segment are errors, never a crash.
#[derive(Debug)]
pub struct SysvSegment {
    // Your fields: the id, the address shmat returned, the size.
}

impl SysvSegment {
    /// Creates a new segment of `size` bytes with `key` (`None`: `IPC_PRIVATE`), owner read and
    /// write only (0600) and exclusively (a taken key is an error), and attaches it.
    ///
    /// Errors: `size` 0 → `InvalidInput`; a taken key → `AlreadyExists`; otherwise the errno.
    pub fn create(key: Option<i32>, size: usize) -> io::Result<SysvSegment> {
        todo!("create a SysV segment of {size} bytes with key {key:?}")
    }

    /// Attaches the existing segment `id`, read and write, and learns its size.
    ///
    /// Errors: the errno: a segment removed and detached everywhere is gone (`EINVAL`/`EIDRM`).
    pub fn attach(id: i32) -> io::Result<SysvSegment> {
        todo!("attach the SysV segment {id}")
    }

    /// The segment's id.
    pub fn id(&self) -> i32 {
        todo!("the segment's id")
    }

    /// The segment's size in bytes.
    pub fn size(&self) -> usize {
        todo!("the segment's size")
    }

    /// Copies `data` into the segment at `offset`. Does not fit → `InvalidInput`, nothing written.
    pub fn write_at(&self, offset: usize, data: &[u8]) -> io::Result<()> {
        todo!("write {} bytes at offset {offset}", data.len())
    }

    /// Copies `len` bytes out of the segment from `offset`. Not all inside → `InvalidInput`.
    pub fn read_at(&self, offset: usize, len: usize) -> io::Result<Vec<u8>> {
        todo!("read {len} bytes at offset {offset}")
    }

    /// Marks the segment for removal: it is freed when the last process detaches. This value
    /// stays usable until it is dropped.
    pub fn remove(&self) -> io::Result<()> {
        todo!("mark the segment for removal")
    }
}

// Detach in Drop: `impl Drop for SysvSegment { fn drop(&mut self) { … } }`
