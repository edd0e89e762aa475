//! Answer to kata shared_memory::sysv_segment: A SysV shared memory segment.
//!
//! The segment stays attached for as long as the value lives.

use std::io;
use std::ptr::NonNull;

use nix::errno::Errno;

/// A SysV shared memory segment attached to this process (`man 2 shmget`, `man 2 shmat`).
///
/// Dropping it detaches the segment (`shmdt`); [`SysvSegment::remove`] marks it for removal
/// (`shmctl(IPC_RMID)`), and the kernel frees it at the last detach. A forked child inherits
/// the attachment, so a write in the child is a write to the parent's memory.
#[derive(Debug)]
pub struct SysvSegment {
    id: i32,
    addr: NonNull<u8>,
    size: usize,
}

impl SysvSegment {
    /// Creates a new segment of `size` bytes, owner read and write only (0600), and attaches it.
    /// `key` names it (`None`: `IPC_PRIVATE`, a fresh id nobody else can look up). `IPC_EXCL`
    /// makes a key that is taken an error (`AlreadyExists`) instead of a silent reuse.
    ///
    /// Errors: `size` 0 is `InvalidInput`; otherwise the errno of `shmget` or `shmat`.
    pub fn create(key: Option<i32>, size: usize) -> io::Result<SysvSegment> {
        if size == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a shared memory segment needs at least one byte"));
        }
        let key = key.unwrap_or(libc::IPC_PRIVATE);
        // SAFETY: shmget takes plain integers and touches no memory of ours.
        let id = Errno::result(unsafe { libc::shmget(key, size, libc::IPC_CREAT | libc::IPC_EXCL | 0o600) })?;
        SysvSegment::attach(id).inspect_err(|_| {
            // The segment is ours and nobody can be attached yet: remove it rather than leak it.
            // SAFETY: IPC_RMID takes no buffer, so a null pointer is allowed.
            unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
        })
    }

    /// Attaches the existing segment `id` (`shmat`), read and write.
    ///
    /// Errors: the errno of `shmctl(IPC_STAT)` or `shmat`: a segment that was removed and
    /// detached everywhere is gone (`EINVAL`, `InvalidInput`, or `EIDRM`).
    pub fn attach(id: i32) -> io::Result<SysvSegment> {
        // SAFETY: shmid_ds is plain data, so all zeroes is a valid value to be overwritten.
        let mut info: libc::shmid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: info is a valid, writable shmid_ds for IPC_STAT to fill.
        Errno::result(unsafe { libc::shmctl(id, libc::IPC_STAT, &mut info) })?;
        // SAFETY: a null address lets the kernel choose where to map the segment; nothing of
        // ours is there.
        let addr = unsafe { libc::shmat(id, std::ptr::null(), 0) };
        if addr as isize == -1 {
            return Err(io::Error::last_os_error());
        }
        let addr = NonNull::new(addr.cast::<u8>()).ok_or_else(|| io::Error::other("shmat returned a null address"))?;
        Ok(SysvSegment { id, addr, size: info.shm_segsz })
    }

    /// The segment's id, for `attach` in another process and for `ipcs`.
    pub fn id(&self) -> i32 {
        self.id
    }

    /// The segment's size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Copies `data` into the segment at `offset`. `InvalidInput` if it does not fit.
    pub fn write_at(&self, offset: usize, data: &[u8]) -> io::Result<()> {
        self.check(offset, data.len())?;
        // SAFETY: check() proved offset + len is within the attached segment; the source is a
        // separate slice of ours, so the two do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.addr.as_ptr().add(offset), data.len()) };
        Ok(())
    }

    /// Copies `len` bytes out of the segment from `offset`. `InvalidInput` if they are not
    /// all inside it.
    pub fn read_at(&self, offset: usize, len: usize) -> io::Result<Vec<u8>> {
        self.check(offset, len)?;
        let mut out = vec![0u8; len];
        // SAFETY: check() proved the range is within the attached segment; out is a fresh
        // buffer of len bytes.
        unsafe { std::ptr::copy_nonoverlapping(self.addr.as_ptr().add(offset), out.as_mut_ptr(), len) };
        Ok(out)
    }

    /// Marks the segment for removal (`shmctl(IPC_RMID)`): its key is free at once, and the
    /// kernel frees the memory when the last process detaches. This attachment stays usable
    /// until it is dropped.
    pub fn remove(&self) -> io::Result<()> {
        // SAFETY: IPC_RMID takes no buffer, so a null pointer is allowed.
        Errno::result(unsafe { libc::shmctl(self.id, libc::IPC_RMID, std::ptr::null_mut()) })?;
        Ok(())
    }

    fn check(&self, offset: usize, len: usize) -> io::Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{len} bytes at offset {offset} do not fit in a segment of {} bytes", self.size),
            )),
        }
    }
}

impl Drop for SysvSegment {
    /// Detaches the segment (`shmdt`); the last detach of a removed segment frees it.
    fn drop(&mut self) {
        // SAFETY: addr is where shmat attached this segment, and no reference into it outlives
        // self.
        unsafe { libc::shmdt(self.addr.as_ptr().cast()) };
    }
}
