//! Kata interview::q1_shm_vs_messages: The same payloads through shared memory and through a message queue.
//!
//! Grade it: `cargo test --test interview q1_shm_vs_messages::`
//! Stuck? `cargo run -- hint interview::q1_shm_vs_messages`
//! Afterwards, read the model answer: `solutions/interview/q1_shm_vs_messages.md`.
//!
//! Two ways to move a payload (any bytes, empty included) from one process to another:
//!
//! - [`ShmMailbox`]: a one-slot mailbox in a SysV shared memory segment that you make here. The
//!   kernel only maps the same pages into both processes; everything else is yours: where the
//!   length goes, how the receiver knows the payload is complete, how the sender knows the slot
//!   is free again, and how both wait without burning a core. The segment has a fixed size, so
//!   a payload that does not fit is an error.
//! - [`send_payload`] / [`receive_payload`]: the same payloads over your
//!   `message_queues::SysvQueue` (finish that kata first). The kernel keeps message boundaries
//!   and makes the sender wait while the queue is full, but one message holds at most
//!   [`MAX_BODY`] bytes: a larger payload goes as several messages, framed your way.
//!
//! Read first: `man 7 sysvipc`, `man 2 shmget`, `man 2 shmat`, `man 2 shmctl`, `man 2 futex`
//! (or any other way for two processes to wait for each other through the segment),
//! `std::sync::atomic` (an `AtomicU32` can live in shared memory), `man 2 msgsnd`.
//! nix has no SysV calls: use `libc`, each call in a small `unsafe` block with a `// SAFETY:`
//! comment.
//!
//! The grader checks: every payload arrives exact through both, in order, from a sender in
//! another process (a property); payloads of 0 bytes and of whole multiples of [`MAX_BODY`]
//! keep their boundaries, and nothing is left in the queue afterwards; a megabyte crosses both;
//! a full mailbox makes `send` wait and an empty one makes `receive` wait, each up to its
//! timeout and then `TimedOut`; a send and a receive that never have to wait make no `futex`
//! system call (the test traps them with seccomp: wake only a process that sleeps); a payload
//! larger than the mailbox is `InvalidInput` and nothing
//! of it is sent; the segment is mode 0600, made exclusively, and gone after `remove` and the
//! last detach; a removed queue is an error for both ends, not a hang.

use std::io;
use std::time::Duration;

// Your message_queues kata, named relative to this module (the benchmark compiles these files
// outside the library too).
pub use super::super::message_queues::MAX_BODY;
use super::super::message_queues::SysvQueue;

/// A one-slot mailbox in a SysV shared memory segment: one payload at a time, of at most
/// [`ShmMailbox::capacity`] bytes. A child forked after [`ShmMailbox::create`] shares it.
/// Dropping the value detaches the segment; only [`ShmMailbox::remove`] makes it go away, at the
/// last detach.
#[derive(Debug)]
pub struct ShmMailbox {
    // Your fields: the segment's id, the address shmat returned, the capacity.
}

impl ShmMailbox {
    /// Creates a segment for `key` big enough for a payload of `capacity` bytes plus whatever
    /// header you need, mode 0600, exclusively, and attaches it. The slot starts empty.
    ///
    /// Errors: `capacity` 0 → `InvalidInput`; a taken key → `AlreadyExists`; otherwise the errno.
    pub fn create(key: libc::key_t, capacity: usize) -> io::Result<ShmMailbox> {
        todo!("create a mailbox for payloads of up to {capacity} bytes with key {key:#x}")
    }

    /// The segment's id, as `ipcs -m` and `/proc/sysvipc/shm` show it.
    pub fn id(&self) -> i32 {
        todo!("the id of {self:?}")
    }

    /// The largest payload the mailbox carries.
    pub fn capacity(&self) -> usize {
        todo!("the capacity of {self:?}")
    }

    /// Puts `payload` in the slot, waiting at most `timeout` for the slot to be empty; the
    /// receiver must never see a payload half written.
    ///
    /// Errors, with nothing sent: more than [`ShmMailbox::capacity`] bytes → `InvalidInput`
    /// (never cut it short); the slot still full after `timeout` → `TimedOut`.
    pub fn send(&self, payload: &[u8], timeout: Duration) -> io::Result<()> {
        todo!("send {} bytes through {self:?}, waiting at most {timeout:?}", payload.len())
    }

    /// Takes the payload out of the slot, waiting at most `timeout` for one; the slot is empty
    /// again afterwards. An empty payload is a payload.
    ///
    /// Errors: no payload within `timeout` → `TimedOut`.
    pub fn receive(&self, timeout: Duration) -> io::Result<Vec<u8>> {
        todo!("receive a payload from {self:?}, waiting at most {timeout:?}")
    }

    /// Marks the segment for removal: it is freed when the last process detaches.
    pub fn remove(&self) -> io::Result<()> {
        todo!("mark the segment of {self:?} for removal")
    }
}

impl Drop for ShmMailbox {
    /// Detach the segment (`shmdt`); it stays until removed and detached everywhere.
    fn drop(&mut self) {
        // Your code: detach the segment.
    }
}

/// Sends `payload`, of any length, over `queue` as one or more messages of at most
/// [`MAX_BODY`] bytes, framed so that [`receive_payload`] finds where it ends, also when it is
/// empty or a whole multiple of [`MAX_BODY`]. Waits while the queue is full.
///
/// Errors: those of the queue (a removed queue is an error, not a hang).
pub fn send_payload(queue: &SysvQueue, payload: &[u8]) -> io::Result<()> {
    todo!("send {} bytes over {queue:?}", payload.len())
}

/// Receives one payload that [`send_payload`] sent, exactly: no byte missing, none added, and
/// no message of the next payload taken. Waits for the messages to come.
///
/// Errors: those of the queue; messages that do not follow your framing → `InvalidData`.
pub fn receive_payload(queue: &SysvQueue) -> io::Result<Vec<u8>> {
    todo!("receive one payload from {queue:?}")
}
