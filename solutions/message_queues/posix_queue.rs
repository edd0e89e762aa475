//! Answer to kata message_queues::posix_queue: A POSIX message queue: named, with priorities.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use nix::mqueue::{self, MQ_OFlag, MqAttr, MqdT, mq_attr_member_t};
use nix::sys::stat::Mode;
use nix::sys::time::TimeSpec;
use nix::time::{ClockId, clock_gettime};

/// The highest priority `mq_send` accepts on Linux (`MQ_PRIO_MAX` − 1, `man 3 mq_send`).
pub const MAX_PRIORITY: u32 = 32767;

/// A message as the queue delivers it: its body and its priority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PosixMessage {
    pub priority: u32,
    pub body: Vec<u8>,
}

/// An open POSIX message queue: dropping it closes the descriptor (`mq_close`); the queue
/// itself lives until [`PosixQueue::unlink`] removes its name and the last descriptor closes.
#[derive(Debug)]
pub struct PosixQueue {
    mqd: MqdT,
    /// The queue's `mq_msgsize`: the largest message, and the smallest receive buffer.
    msgsize: usize,
}

/// The longest name after the `/`: NAME_MAX, 255 (`man 7 mq_overview`). The same rule as
/// `shared_memory::PosixShm` (`man 3 shm_open`); measured on Linux 6.18 with glibc 2.36, both
/// accept 255 bytes and refuse 256 with ENAMETOOLONG.
const NAME_MAX: usize = 255;

/// A queue name is `/` followed by 1 to [`NAME_MAX`] bytes, none of them `/` or NUL
/// (`man 7 mq_overview`). Checked here, so that a wrong name gets an error that says why.
fn check_name(name: &str) -> io::Result<()> {
    let bad = |why: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, format!("queue name {name:?}: {why}")));
    let Some(rest) = name.strip_prefix('/') else {
        return bad("a POSIX queue name must start with '/', as in \"/orders\"");
    };
    if rest.is_empty() || rest.len() > NAME_MAX {
        return bad(&format!("after the leading '/' it needs 1 to {NAME_MAX} bytes"));
    }
    if rest.contains('/') || rest.contains('\0') {
        return bad("no '/' or NUL may follow the leading '/'");
    }
    Ok(())
}

impl PosixQueue {
    /// Creates the queue `name` for up to `capacity` messages of up to `max_size` bytes each,
    /// exclusively and owner-only (`O_CREAT | O_EXCL`, mode 0600), open for sending and
    /// receiving. `AlreadyExists` if the name is taken; `InvalidInput` for a bad name, a zero
    /// capacity or size, or limits above `/proc/sys/fs/mqueue/{msg_max,msgsize_max}` (EINVAL).
    /// See `man 3 mq_open`.
    pub fn create(name: &str, capacity: usize, max_size: usize) -> io::Result<PosixQueue> {
        check_name(name)?;
        if capacity == 0 || max_size == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a queue needs a capacity and a size above 0"));
        }
        let too_big = || io::Error::new(io::ErrorKind::InvalidInput, "capacity or size out of range");
        let capacity = mq_attr_member_t::try_from(capacity).map_err(|_| too_big())?;
        let size = mq_attr_member_t::try_from(max_size).map_err(|_| too_big())?;
        let attr = MqAttr::new(0, capacity, size, 0);
        let flags = MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL | MQ_OFlag::O_RDWR | MQ_OFlag::O_CLOEXEC;
        let mqd = mqueue::mq_open(name, flags, Mode::S_IRUSR | Mode::S_IWUSR, Some(&attr))?;
        Ok(PosixQueue { mqd, msgsize: max_size })
    }

    /// Opens the existing queue `name` for sending and receiving: `NotFound` if there is none,
    /// `InvalidInput` for a bad name.
    pub fn open(name: &str) -> io::Result<PosixQueue> {
        check_name(name)?;
        let mqd = mqueue::mq_open(name, MQ_OFlag::O_RDWR | MQ_OFlag::O_CLOEXEC, Mode::empty(), None)?;
        // The queue owns the descriptor from here on, so that its Drop closes it if mq_getattr fails.
        let mut queue = PosixQueue { mqd, msgsize: 0 };
        queue.msgsize = mqueue::mq_getattr(&queue.mqd)?.msgsize() as usize;
        Ok(queue)
    }

    /// Sends `body` with `priority`, waiting while the queue is full (unless non-blocking: then
    /// `WouldBlock`). A body longer than the queue's message size, or a priority above
    /// [`MAX_PRIORITY`], is `InvalidInput`, and nothing is sent. See `man 3 mq_send`.
    pub fn send(&self, body: &[u8], priority: u32) -> io::Result<()> {
        if body.len() > self.msgsize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a body of {} bytes; this queue takes at most {}", body.len(), self.msgsize),
            ));
        }
        if priority > MAX_PRIORITY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("priority {priority}; at most {MAX_PRIORITY}"),
            ));
        }
        retry(|| mqueue::mq_send(&self.mqd, body, priority))
    }

    /// Receives the oldest message of the highest priority, waiting while the queue is empty
    /// (unless non-blocking: then `WouldBlock`). The buffer is the queue's `mq_msgsize`, as
    /// `mq_receive` demands (a smaller one fails with EMSGSIZE). See `man 3 mq_receive`.
    pub fn receive(&self) -> io::Result<PosixMessage> {
        let mut buf = vec![0u8; self.msgsize];
        let mut priority = 0;
        let len = retry(|| mqueue::mq_receive(&self.mqd, &mut buf, &mut priority))?;
        buf.truncate(len);
        Ok(PosixMessage { priority, body: buf })
    }

    /// Receives the next message into `buf` (as [`PosixQueue::receive`] picks it) and returns
    /// its priority and length; nothing is allocated. `buf` must hold the queue's `mq_msgsize`
    /// whatever the length of the message waiting (`man 3 mq_receive`: EMSGSIZE), so a shorter
    /// one is refused as `InvalidInput` before the call, and the message stays in the queue.
    pub fn receive_into(&self, buf: &mut [u8]) -> io::Result<(u32, usize)> {
        if buf.len() < self.msgsize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a buffer of {} bytes; mq_receive needs room for this queue's message size, {}",
                    buf.len(),
                    self.msgsize
                ),
            ));
        }
        let mut priority = 0;
        let len = retry(|| mqueue::mq_receive(&self.mqd, buf, &mut priority))?;
        Ok((priority, len))
    }

    /// As [`PosixQueue::receive`], but gives up after `timeout` with `TimedOut`.
    /// `mq_timedreceive` takes an absolute CLOCK_REALTIME time, not a duration.
    pub fn receive_timeout(&self, timeout: Duration) -> io::Result<PosixMessage> {
        let deadline = clock_gettime(ClockId::CLOCK_REALTIME)? + TimeSpec::from_duration(timeout);
        let mut buf = vec![0u8; self.msgsize];
        let mut priority = 0;
        let len = retry(|| mqueue::mq_timedreceive(&self.mqd, &mut buf, &mut priority, &deadline))?;
        buf.truncate(len);
        Ok(PosixMessage { priority, body: buf })
    }

    /// Switches this descriptor between waiting (the default) and `WouldBlock` when the queue
    /// is full (send) or empty (receive). See `man 3 mq_setattr`.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        if nonblocking {
            mqueue::mq_set_nonblock(&self.mqd)?;
        } else {
            mqueue::mq_remove_nonblock(&self.mqd)?;
        }
        Ok(())
    }

    /// Removes the name `name` (`mq_unlink`): nobody can open it any more; descriptors open
    /// now keep working, and the queue goes when the last one closes. `NotFound` if there is
    /// no such queue, `InvalidInput` for a bad name. See `man 3 mq_unlink`.
    pub fn unlink(name: &str) -> io::Result<()> {
        check_name(name)?;
        mqueue::mq_unlink(name)?;
        Ok(())
    }
}

/// Calls `op` again when a signal interrupts it.
fn retry<T>(mut op: impl FnMut() -> nix::Result<T>) -> io::Result<T> {
    loop {
        match op() {
            Err(nix::errno::Errno::EINTR) => continue,
            other => return Ok(other?),
        }
    }
}

/// On Linux a queue descriptor is a file descriptor: `fstat` shows its mode and `poll` works.
impl AsFd for PosixQueue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.mqd.as_fd()
    }
}

impl Drop for PosixQueue {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed only here; nothing uses it afterwards.
        unsafe { libc::mq_close(self.mqd.as_raw_fd()) };
    }
}
