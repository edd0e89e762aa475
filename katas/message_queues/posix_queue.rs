//! Kata message_queues::posix_queue: A POSIX message queue: named, with priorities.
//!
//! Grade it: `cargo test --test message_queues posix_queue::`
//! Stuck? `cargo run -- hint message_queues::posix_queue`
//!
//! Read first: `man 7 mq_overview`, `man 3 mq_open`, `man 3 mq_send`, `man 3 mq_receive`
//! (mq_timedreceive too), `man 3 mq_getattr`, `man 3 mq_unlink`. Useful Rust: `nix::mqueue`
//! (note that its `MqdT` does not close itself), `nix::time::clock_gettime`.
//!
//! Limits for an ordinary user (root may do more; your code must work without): at most
//! `/proc/sys/fs/mqueue/msg_max` (10) messages per queue, at most
//! `/proc/sys/fs/mqueue/msgsize_max` (8192) bytes per message, and all of a user's queues
//! together within `ulimit -q` (819200 bytes).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

/// The highest priority `mq_send` accepts on Linux (`MQ_PRIO_MAX` − 1, `man 3 mq_send`).
pub const MAX_PRIORITY: u32 = 32767;

/// A message as the queue delivers it: its body and its priority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PosixMessage {
    pub priority: u32,
    pub body: Vec<u8>,
}

/// An open POSIX message queue. Dropping it closes its descriptor (`mq_close`); the queue
/// itself lives on until [`PosixQueue::unlink`] removes its name and the last descriptor closes.
#[derive(Debug)]
pub struct PosixQueue {
    // Your fields: the queue descriptor, and what you need to know about the queue.
}

impl PosixQueue {
    /// Create the queue `name` for up to `capacity` messages of up to `max_size` bytes each,
    /// only if the name is free, readable and writable by its owner only (mode `0600`), and
    /// open it for sending and receiving.
    ///
    /// Errors: the name is taken → `AlreadyExists`; a name that does not start with `/` (or is
    /// only `/`, or has another `/`) → `InvalidInput`, with a message that says what is wrong
    /// with it (mention the `/`); a zero `capacity` or `max_size`, or more than the limits
    /// above → `InvalidInput`.
    ///
    /// The grader checks the mode bits (it runs your code with umask 0), the capacity and size
    /// the queue really has (`mq_getattr`), and the errors above.
    pub fn create(name: &str, capacity: usize, max_size: usize) -> io::Result<PosixQueue> {
        todo!("create the queue {name:?} for {capacity} messages of up to {max_size} bytes, mode 0600")
    }

    /// Open the existing queue `name` for sending and receiving: another program may have made
    /// it, with a capacity and message size you do not know in advance.
    ///
    /// Errors: no such queue → `NotFound`; a bad name → `InvalidInput`, as for `create`.
    pub fn open(name: &str) -> io::Result<PosixQueue> {
        todo!("open the existing queue {name:?}")
    }

    /// Send `body` with `priority`, waiting while the queue is full; in non-blocking mode a
    /// full queue is `WouldBlock` instead.
    ///
    /// Errors, with nothing sent: a body longer than the queue's message size, or a priority
    /// above [`MAX_PRIORITY`] → `InvalidInput` (never cut a body short).
    pub fn send(&self, body: &[u8], priority: u32) -> io::Result<()> {
        todo!("send {} bytes with priority {priority} on {self:?}", body.len())
    }

    /// Receive the next message, waiting while the queue is empty; in non-blocking mode an
    /// empty queue is `WouldBlock` instead. The next message is the oldest of the highest
    /// priority. The body is exactly what was sent: no byte missing, none added.
    ///
    /// The grader checks bodies from 0 bytes to the queue's message size, on queues made by
    /// another program with a message size you did not choose; priority order, first in first
    /// out within a priority (a property); several sender processes at once, nothing lost or
    /// duplicated.
    pub fn receive(&self) -> io::Result<PosixMessage> {
        todo!("receive the next message from {self:?}, waiting for one")
    }

    /// Receive the next message into `buf`, as [`PosixQueue::receive`] picks and waits for it,
    /// and return its priority and length; the bytes after that length are left as they were.
    /// Nothing is allocated: a receiver that reuses one buffer moves messages at the speed of
    /// the system calls.
    ///
    /// Errors: `buf` shorter than the queue's message size → `InvalidInput`, and the message
    /// stays in the queue. `mq_receive` demands room for the largest message the queue takes
    /// (EMSGSIZE otherwise), however short the one waiting is: System V is the other way round.
    ///
    /// The grader checks a buffer one byte short of the message size (for a 5-byte message),
    /// one of exactly that size, a larger one, and an empty message.
    pub fn receive_into(&self, buf: &mut [u8]) -> io::Result<(u32, usize)> {
        todo!("receive the next message from {self:?} into a buffer of {} bytes", buf.len())
    }

    /// As [`PosixQueue::receive`], but give up after `timeout` with `TimedOut`.
    ///
    /// The grader checks that an empty queue makes it wait the whole `timeout` (not less, not
    /// much more) and then fail with `TimedOut`, and that a message sent while it waits is
    /// returned at once.
    pub fn receive_timeout(&self, timeout: Duration) -> io::Result<PosixMessage> {
        todo!("receive the next message from {self:?}, waiting at most {timeout:?}")
    }

    /// Switch between waiting (the default) and non-blocking mode, where `send` on a full queue
    /// and `receive` on an empty one fail with `WouldBlock` at once.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        todo!("set non-blocking mode to {nonblocking} on {self:?}")
    }

    /// Remove the name `name`: nobody can open the queue any more, while descriptors already
    /// open keep working until they close.
    ///
    /// Errors: no such queue → `NotFound`; a bad name → `InvalidInput`, as for `create`.
    ///
    /// The grader checks that opening the name fails afterwards.
    pub fn unlink(name: &str) -> io::Result<()> {
        todo!("unlink the queue {name:?}")
    }
}

/// On Linux a queue descriptor is a file descriptor: the grader reads the queue's mode and
/// attributes through it.
impl AsFd for PosixQueue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        todo!("the descriptor of {self:?}")
    }
}

impl Drop for PosixQueue {
    /// Close the descriptor (the queue stays, under its name, until unlinked).
    fn drop(&mut self) {
        // Your code: close the queue descriptor.
    }
}
