//! Objects the test makes for itself, removed when dropped, so that a failing test does not
//! also report them as left behind by the attempt.

use std::fs;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use nix::sys::mman::{self, MapFlags, ProtFlags};

use crate::grader::{Failure, Sandbox};

/// A path the test made (a socket file, a FIFO), removed when dropped.
#[derive(Debug)]
pub struct Removed(pub PathBuf);

impl Removed {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// A FIFO the test makes itself (mode 0600, `man 3 mkfifo`) in its sandbox; unlinked when dropped.
#[derive(Debug)]
pub struct TestFifo(Removed);

impl TestFifo {
    pub fn new(s: &Sandbox, name: &str) -> Result<TestFifo, Failure> {
        let path = s.path(name);
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .map_err(|e| Failure::crash(format!("the test could not make the FIFO {}: {e}", path.display())))?;
        Ok(TestFifo(Removed(path)))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// `len` values of `T` in memory shared with the test's forked workers (`MAP_SHARED |
/// MAP_ANONYMOUS`, zero-filled: `T` must be valid as all zeroes), unmapped when dropped. It
/// hands out no reference to what other processes write: values are copied in and out with
/// volatile accesses, or reached as atomics.
pub struct SharedMem<T> {
    ptr: NonNull<T>,
    len: usize,
    _values: PhantomData<T>,
}

impl<T> SharedMem<T> {
    pub fn new(len: usize) -> Result<SharedMem<T>, Failure> {
        let bytes = NonZeroUsize::new(len.max(1) * size_of::<T>().max(1)).expect("not zero");
        let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        // SAFETY: a fresh anonymous mapping overlaps nothing of ours.
        let ptr = unsafe { mman::mmap_anonymous(None, bytes, prot, MapFlags::MAP_SHARED) }
            .map_err(|e| Failure::crash(format!("the test could not map shared memory: {e}")))?;
        Ok(SharedMem { ptr: ptr.cast(), len, _values: PhantomData })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn at(&self, index: usize) -> *mut T {
        assert!(index < self.len, "index {index} of a shared area of {}", self.len);
        // SAFETY: index is within the mapping of len values.
        unsafe { self.ptr.as_ptr().add(index) }
    }
}

impl<T: Copy> SharedMem<T> {
    /// Writes value `index` (each index written by one process at a time).
    pub fn set(&self, index: usize, value: T) {
        // SAFETY: in the mapping, aligned (mmap gives page alignment), valid for writes.
        unsafe { self.at(index).write_volatile(value) }
    }

    /// Reads value `index`, once its writer is done (joined, or past a handshake).
    pub fn get(&self, index: usize) -> T {
        // SAFETY: in the mapping and aligned; zeroes or a written value are a valid T.
        unsafe { self.at(index).read_volatile() }
    }
}

impl SharedMem<std::sync::atomic::AtomicU64> {
    /// Value `index` as an atomic, which processes may share.
    pub fn atomic(&self, index: usize) -> &std::sync::atomic::AtomicU64 {
        // SAFETY: in the mapping and aligned; zeroes are a valid AtomicU64, and every access to
        // it from any process is atomic.
        unsafe { &*self.at(index) }
    }
}

impl<T> Drop for SharedMem<T> {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in new, unmapped once.
        let _ = unsafe { mman::munmap(self.ptr.cast(), self.len.max(1) * size_of::<T>().max(1)) };
    }
}
