//! Kata message_queues::sysv_queue: A System V message queue: typed messages, picked by type.
//!
//! Grade it: `cargo test --test message_queues sysv_queue::`
//! Stuck? `cargo run -- hint message_queues::sysv_queue`
//!
//! Read first: `man 7 sysvipc`, `man 2 msgget`, `man 2 msgsnd` (it documents msgrcv too),
//! `man 2 msgctl`. nix has no System V calls: use `libc::msgget`, `libc::msgsnd`,
//! `libc::msgrcv` and `libc::msgctl`, each in a small `unsafe` block with a `// SAFETY:` comment.
//!
//! The C sample this kata grew from sends `sizeof(struct message)` bytes, counting the `long`
//! type field in the size, and receives the same way. Your version must not: the grader checks
//! that every body arrives exactly, with no byte missing and none added.

use std::io;

/// The largest body [`SysvQueue::send`] accepts: Linux's default `msgmax`
/// (`/proc/sys/kernel/msgmax`), and the size of the buffer [`SysvQueue::receive`] offers.
pub const MAX_BODY: usize = 8192;

/// A message as the kernel keeps it: its type (> 0) and its body, without the type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysvMessage {
    pub mtype: i64,
    pub body: Vec<u8>,
}

/// A System V message queue, known by its id. The queue belongs to the kernel, not to this
/// value: dropping it releases nothing, and the queue lives on until [`SysvQueue::remove`].
#[derive(Debug)]
pub struct SysvQueue {
    // Your fields: the queue's id is all you need.
}

impl SysvQueue {
    /// Create a new queue for `key`, only if that key has none yet, readable and writable by its
    /// owner only (mode `0600`, never `0666`).
    ///
    /// Errors: the key already has a queue → `AlreadyExists` (never reuse someone's queue).
    ///
    /// The grader checks the mode bits (it runs your code with umask 0) and the error above.
    pub fn create(key: libc::key_t) -> io::Result<SysvQueue> {
        todo!("create a message queue for key {key:#x}, mode 0600, only if the key has none")
    }

    /// Open the existing queue of `key`.
    ///
    /// Errors: no queue has that key → `NotFound`; `key` is `IPC_PRIVATE` → `InvalidInput`
    /// (it names no existing queue: msgget would quietly make a new one).
    pub fn open(key: libc::key_t) -> io::Result<SysvQueue> {
        todo!("open the existing message queue of key {key:#x}")
    }

    /// The queue's id, as `ipcs -q` and `/proc/sysvipc/msg` show it.
    pub fn id(&self) -> i32 {
        todo!("the id of {self:?}")
    }

    /// Send `body` as a message of type `mtype`, waiting while the queue is full.
    ///
    /// Errors, with nothing sent: `mtype` ≤ 0 → `InvalidInput`; a body longer than
    /// [`MAX_BODY`] → `InvalidInput` (never cut it short).
    ///
    /// The grader checks that the body arrives byte for byte, whatever its length from 0 to
    /// [`MAX_BODY`]; that several sender processes at once lose and duplicate nothing, each
    /// one's messages in order, more than the queue holds at once; and the errors above.
    pub fn send(&self, mtype: i64, body: &[u8]) -> io::Result<()> {
        todo!("send a message of type {mtype} with {} bytes on {self:?}", body.len())
    }

    /// Receive the message `selector` picks, waiting (blocked in the kernel, not polling) until
    /// there is one, with the kernel's meaning of the selector:
    /// 0 → the first message in the queue; > 0 → the first message of exactly that type;
    /// < 0 → the first message of the lowest type that is ≤ |selector|.
    ///
    /// Errors: a message longer than [`MAX_BODY`] is an error (not a message cut short), and
    /// it stays in the queue; the queue was removed → the error the kernel gives.
    ///
    /// The grader checks exact bodies (a property, against a model of the queue), the
    /// selectors, each type's messages in the order they were sent, and that `receive` waits
    /// for a matching message that comes later, ignoring others.
    pub fn receive(&self, selector: i64) -> io::Result<SysvMessage> {
        todo!("receive the message that selector {selector} picks from {self:?}, waiting for one")
    }

    /// As [`SysvQueue::receive`], but without waiting: `Ok(None)` when no message matches
    /// `selector` now (the queue is empty, or holds only other types, which stay there).
    pub fn try_receive(&self, selector: i64) -> io::Result<Option<SysvMessage>> {
        todo!("receive the message that selector {selector} picks from {self:?}, if there is one now")
    }

    /// Receive the message `selector` picks into `buf`, waiting until there is one; returns its
    /// type and its body's length.
    ///
    /// Errors: a message longer than `buf` → the error msgrcv gives (E2BIG, which Rust calls
    /// `ArgumentListTooLong`), and the message stays in the queue, whole, for a bigger buffer.
    /// Never cut it to fit.
    pub fn receive_into(&self, selector: i64, buf: &mut [u8]) -> io::Result<(i64, usize)> {
        todo!("receive the message that selector {selector} picks from {self:?} into {} bytes", buf.len())
    }

    /// Remove the queue from the system, with any messages still in it.
    ///
    /// The grader checks that the queue is gone from `/proc/sysvipc/msg` afterwards, and that
    /// opening its key then fails.
    pub fn remove(self) -> io::Result<()> {
        todo!("remove {self:?}")
    }
}
