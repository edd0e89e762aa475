//! Kata shared_memory::posix_shm: POSIX shared memory, opened by name.
//!
//! Grade it: `cargo test --test shared_memory posix_shm::`
//! Stuck? `cargo run -- hint shared_memory::posix_shm`

use std::io;

/// A POSIX shared memory object mapped into this process, found by its name (`/something`)
/// from any process, related or not.
///
/// Dropping the value unmaps the memory; the name stays in `/dev/shm` until
/// [`PosixShm::unlink`] removes it.
///
/// Read first: `man 7 shm_overview`, `man 3 shm_open`, `man 2 ftruncate`, `man 2 mmap`,
/// `man 3 shm_unlink`. nix has them all (`nix::sys::mman`, `nix::unistd::ftruncate`).
///
/// The grader checks: what `create` wrote is read by a separate program, and what a separate
/// program wrote is read through `open`; `/dev/shm/<name>` is mode 0600 and a taken name is
/// `AlreadyExists`; after `unlink` the name is gone but the mapping still works; a name
/// without its leading `/`, size 0, a missing name and out-of-range reads and writes are
/// errors, never a crash.
#[derive(Debug)]
pub struct PosixShm {
    // Your fields: where the memory is mapped, its size.
}

impl PosixShm {
    /// Creates the object `name` owner read and write only (0600) and exclusively, sizes it to
    /// `size` bytes and maps it shared, read and write.
    ///
    /// Errors: `name` not `/` followed by 1 to 255 (NAME_MAX) bytes without `/` → `InvalidInput` (glibc
    /// accepts a name without the `/`: refuse it yourself); `size` 0 → `InvalidInput`; the name
    /// exists → `AlreadyExists`. Leave no name behind when you fail.
    pub fn create(name: &str, size: usize) -> io::Result<PosixShm> {
        todo!("create the POSIX shared memory object {name:?} of {size} bytes")
    }

    /// Opens the existing object `name` and maps all of it, read and write.
    ///
    /// Errors: an invalid name → `InvalidInput`; no such name → `NotFound`; an object of 0 bytes
    /// → `InvalidData`.
    pub fn open(name: &str) -> io::Result<PosixShm> {
        todo!("open the POSIX shared memory object {name:?}")
    }

    /// Removes the name `name`; mappings stay valid until they are dropped.
    ///
    /// Errors: an invalid name → `InvalidInput`; no such name → `NotFound`.
    pub fn unlink(name: &str) -> io::Result<()> {
        todo!("unlink the POSIX shared memory object {name:?}")
    }

    /// The mapped size in bytes.
    pub fn size(&self) -> usize {
        todo!("the mapped size")
    }

    /// Copies `data` into the object at `offset`. Does not fit → `InvalidInput`, nothing written.
    pub fn write_at(&self, offset: usize, data: &[u8]) -> io::Result<()> {
        todo!("write {} bytes at offset {offset}", data.len())
    }

    /// Copies `len` bytes out of the object from `offset`. Not all inside → `InvalidInput`.
    pub fn read_at(&self, offset: usize, len: usize) -> io::Result<Vec<u8>> {
        todo!("read {len} bytes at offset {offset}")
    }
}

// Unmap in Drop: `impl Drop for PosixShm { fn drop(&mut self) { … } }`
