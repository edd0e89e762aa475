//! Answer to kata shared_memory::posix_shm: POSIX shared memory, opened by name.
//!
//! The object stays mapped for as long as the value lives.

use std::io;
use std::num::NonZeroUsize;
use std::ptr::NonNull;

use nix::fcntl::OFlag;
use nix::sys::mman::{self, MapFlags, ProtFlags};
use nix::sys::stat::Mode;

/// A POSIX shared memory object mapped into this process (`man 7 shm_overview`).
///
/// Dropping it unmaps the memory (`munmap`); the name stays in `/dev/shm` until
/// [`PosixShm::unlink`] removes it, and the memory is freed when the name is gone and the last
/// mapping is unmapped.
#[derive(Debug)]
pub struct PosixShm {
    addr: NonNull<u8>,
    size: usize,
}

impl PosixShm {
    /// Creates the object `name` (`shm_open` with `O_CREAT | O_EXCL`, mode 0600), sizes it to
    /// `size` bytes (`ftruncate`: a new object has 0 bytes, and touching a page past its end is
    /// SIGBUS) and maps it shared.
    ///
    /// Errors: a name that is not `/` and then 1 to 255 bytes without `/` or NUL, or `size` 0,
    /// is `InvalidInput`; a name that exists is `AlreadyExists`. If sizing or mapping fails,
    /// the name is unlinked again.
    pub fn create(name: &str, size: usize) -> io::Result<PosixShm> {
        check_name(name)?;
        let len = NonZeroUsize::new(size).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "a shared memory object needs at least one byte")
        })?;
        let too_big = || io::Error::new(io::ErrorKind::InvalidInput, format!("{size} bytes is too large"));
        let file_len = libc::off_t::try_from(size).map_err(|_| too_big())?;
        let fd = mman::shm_open(name, OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR, Mode::S_IRUSR | Mode::S_IWUSR)?;
        let mapped = nix::unistd::ftruncate(&fd, file_len).and_then(|()| {
            // SAFETY: a fresh shared mapping of an object we just sized to len bytes; it
            // overlaps nothing of ours.
            unsafe { mman::mmap(None, len, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED, &fd, 0) }
        });
        // The mapping keeps the object alive: the descriptor is closed here either way.
        drop(fd);
        match mapped {
            Ok(addr) => Ok(PosixShm { addr: addr.cast(), size }),
            Err(e) => {
                let _ = mman::shm_unlink(name);
                Err(e.into())
            }
        }
    }

    /// Opens the existing object `name` and maps all of it, read and write.
    ///
    /// Errors: an invalid name is `InvalidInput`; a missing one `NotFound`; an object of 0
    /// bytes (its creator has not sized it yet) `InvalidData`.
    pub fn open(name: &str) -> io::Result<PosixShm> {
        check_name(name)?;
        let fd = mman::shm_open(name, OFlag::O_RDWR, Mode::empty())?;
        let size = usize::try_from(nix::sys::stat::fstat(&fd)?.st_size).unwrap_or(0);
        let len = NonZeroUsize::new(size).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{name} has 0 bytes: its creator has not sized it"))
        })?;
        // SAFETY: a fresh shared mapping of len bytes, the object's whole size; it overlaps
        // nothing of ours.
        let addr = unsafe {
            mman::mmap(None, len, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED, &fd, 0)?
        };
        Ok(PosixShm { addr: addr.cast(), size })
    }

    /// Removes the name `name` (`shm_unlink`). Mappings stay valid; the memory is freed at the
    /// last unmap. Errors: `InvalidInput` for an invalid name, `NotFound` for a missing one.
    pub fn unlink(name: &str) -> io::Result<()> {
        check_name(name)?;
        Ok(mman::shm_unlink(name)?)
    }

    /// The mapped size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Copies `data` into the object at `offset`. `InvalidInput` if it does not fit.
    pub fn write_at(&self, offset: usize, data: &[u8]) -> io::Result<()> {
        self.check(offset, data.len())?;
        // SAFETY: check() proved the range is within the mapping; data is a separate slice.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.addr.as_ptr().add(offset), data.len()) };
        Ok(())
    }

    /// Copies `len` bytes out of the object from `offset`. `InvalidInput` if they are not all
    /// inside it.
    pub fn read_at(&self, offset: usize, len: usize) -> io::Result<Vec<u8>> {
        self.check(offset, len)?;
        let mut out = vec![0u8; len];
        // SAFETY: check() proved the range is within the mapping; out is a fresh buffer.
        unsafe { std::ptr::copy_nonoverlapping(self.addr.as_ptr().add(offset), out.as_mut_ptr(), len) };
        Ok(out)
    }

    fn check(&self, offset: usize, len: usize) -> io::Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{len} bytes at offset {offset} do not fit in an object of {} bytes", self.size),
            )),
        }
    }
}

/// The longest name after the `/`: NAME_MAX, 255 (`man 3 shm_open`: "up to NAME_MAX (i.e.,
/// 255) characters"). The same rule as `message_queues::PosixQueue` (`man 7 mq_overview`);
/// measured on Linux 6.18 with glibc 2.36, both accept 255 bytes and refuse 256 with
/// ENAMETOOLONG.
const NAME_MAX: usize = 255;

/// A portable POSIX shared memory name: `/`, then 1 to [`NAME_MAX`] bytes with no `/` and no
/// NUL (`man 3 shm_open`). glibc quietly accepts a name without the `/`; other systems do not.
fn check_name(name: &str) -> io::Result<()> {
    let rest = name.strip_prefix('/').ok_or_else(|| invalid_name(name, "it must start with '/'"))?;
    if rest.is_empty() || rest.len() > NAME_MAX {
        return Err(invalid_name(name, &format!("it needs 1 to {NAME_MAX} bytes after the '/'")));
    }
    if rest.contains(['/', '\0']) {
        return Err(invalid_name(name, "only its first byte may be '/', and it may not hold a NUL"));
    }
    Ok(())
}

fn invalid_name(name: &str, why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{name:?} is not a POSIX shared memory name: {why}"))
}

impl Drop for PosixShm {
    /// Unmaps the memory (`munmap`). The name, if not unlinked, stays.
    fn drop(&mut self) {
        // SAFETY: addr and size are exactly the mapping mmap returned, and no reference into it
        // outlives self.
        let _ = unsafe { mman::munmap(self.addr.cast(), self.size) };
    }
}
