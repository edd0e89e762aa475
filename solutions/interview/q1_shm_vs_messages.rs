//! Answer to kata interview::q1_shm_vs_messages: The same payloads through shared memory and through a message queue.
//!
//! The model answer to the question: `solutions/interview/q1_shm_vs_messages.md`.
//!
//! The same payloads through a shared memory mailbox and through a SysV message queue.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

// Your message_queues kata, named relative to this module (the benchmark compiles these files
// outside the library too).
pub use super::super::message_queues::MAX_BODY;
use super::super::message_queues::SysvQueue;

/// The slot's states, in the header's first word.
const EMPTY: u32 = 0;
/// A sender has claimed the empty slot and is copying its payload in.
const WRITING: u32 = 1;
const FULL: u32 = 2;
/// A receiver has claimed the full slot and is copying the payload out.
const READING: u32 = 3;

/// The header before the payload: the state word (u32), the number of processes asleep on it
/// (u32), and the length (u64).
const HEADER: usize = 16;
const WAITERS_AT: usize = 4;
const LEN_AT: usize = 8;

/// `shmget(2)` permission bits: owner read and write only.
const MODE: libc::c_int = 0o600;

/// A one-slot mailbox in a SysV shared memory segment (`man 7 sysvipc`). Layout: a state word
/// that processes wait on with `futex(2)`, a count of the processes asleep on it, the
/// payload's length, then the payload. The state word is the only synchronisation: a payload
/// is published by the store of `FULL` after it is written, and read after the Acquire load
/// that sees `FULL`. A publish makes a `FUTEX_WAKE` system call only when someone sleeps, so
/// a sender and receiver that never wait make no system call at all.
#[derive(Debug)]
pub struct ShmMailbox {
    id: i32,
    base: NonNull<u8>,
    capacity: usize,
}

impl ShmMailbox {
    /// `shmget(key, HEADER + capacity, IPC_CREAT | IPC_EXCL | 0600)`, then `shmat`. A new
    /// segment is zero-filled, so the slot starts `EMPTY`.
    pub fn create(key: libc::key_t, capacity: usize) -> io::Result<ShmMailbox> {
        if capacity == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a mailbox of capacity 0 carries nothing"));
        }
        let size = capacity
            .checked_add(HEADER)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("capacity {capacity} is too large")))?;
        // SAFETY: shmget takes plain integers and touches no memory of ours.
        let id = unsafe { libc::shmget(key, size, libc::IPC_CREAT | libc::IPC_EXCL | MODE) };
        if id < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a null address lets the kernel choose where to map; the result is checked.
        let addr = unsafe { libc::shmat(id, std::ptr::null(), 0) };
        if addr as isize == -1 {
            let e = io::Error::last_os_error();
            // SAFETY: IPC_RMID takes no buffer; the segment is ours and attached nowhere.
            unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
            return Err(e);
        }
        let base = NonNull::new(addr.cast::<u8>()).ok_or_else(|| io::Error::other("shmat returned null"))?;
        Ok(ShmMailbox { id, base, capacity })
    }

    pub fn id(&self) -> i32 {
        self.id
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn state(&self) -> &AtomicU32 {
        // SAFETY: the segment starts page-aligned with HEADER bytes reserved for the header; the
        // state word is only ever accessed atomically, by every process that maps it.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().cast::<u32>()) }
    }

    fn waiters(&self) -> &AtomicU32 {
        // SAFETY: as in state: the second word of the header, only ever accessed atomically.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(WAITERS_AT).cast::<u32>()) }
    }

    /// Moves the state from `from` to `to`, waiting (on the futex) at most until `deadline`.
    fn claim(&self, from: u32, to: u32, deadline: Option<Instant>) -> io::Result<()> {
        loop {
            match self.state().compare_exchange(from, to, Ordering::Acquire, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(now) => {
                    let left = match deadline {
                        Some(d) => d.checked_duration_since(Instant::now()).filter(|l| !l.is_zero()),
                        None => Some(Duration::from_secs(1)),
                    };
                    let Some(left) = left else { return Err(io::Error::from(io::ErrorKind::TimedOut)) };
                    // Announce the sleep, then check again: pairs with publish's SeqCst store
                    // and load, so either publish sees us and wakes us, or we see its state
                    // (and FUTEX_WAIT, which compares the word in the kernel, returns at once).
                    self.waiters().fetch_add(1, Ordering::SeqCst);
                    let slept = if self.state().load(Ordering::SeqCst) == now {
                        futex_wait(self.state(), now, left)
                    } else {
                        Ok(())
                    };
                    self.waiters().fetch_sub(1, Ordering::SeqCst);
                    slept?;
                }
            }
        }
    }

    /// Publishes `state` and, if anyone sleeps on the word, wakes them all: senders and
    /// receivers sleep on the same word, so waking one might wake the wrong kind. A waiter
    /// killed in its sleep leaves the count high, which only costs wake-ups that find nobody.
    fn publish(&self, state: u32) {
        self.state().store(state, Ordering::SeqCst);
        if self.waiters().load(Ordering::SeqCst) != 0 {
            futex_wake_all(self.state());
        }
    }

    /// Waits for `EMPTY`, claims the slot, copies the payload and its length in, then `FULL`.
    pub fn send(&self, payload: &[u8], timeout: Duration) -> io::Result<()> {
        if payload.len() > self.capacity {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a payload of {} bytes; this mailbox carries at most {}", payload.len(), self.capacity),
            ));
        }
        self.claim(EMPTY, WRITING, Instant::now().checked_add(timeout))?;
        // SAFETY: the slot is ours (WRITING) until we publish; HEADER + len ≤ the segment's size,
        // and the length field is 8-byte aligned at offset LEN_AT of a page-aligned segment.
        unsafe {
            std::ptr::copy_nonoverlapping(payload.as_ptr(), self.base.as_ptr().add(HEADER), payload.len());
            self.base.as_ptr().add(LEN_AT).cast::<u64>().write(payload.len() as u64);
        }
        self.publish(FULL);
        Ok(())
    }

    /// Waits for `FULL`, claims the payload, copies it out, then `EMPTY`.
    pub fn receive(&self, timeout: Duration) -> io::Result<Vec<u8>> {
        self.claim(FULL, READING, Instant::now().checked_add(timeout))?;
        // SAFETY: the slot is ours (READING); the sender wrote the length and the payload before
        // its Release store of FULL, which our Acquire exchange saw.
        let payload = unsafe {
            let len = (self.base.as_ptr().add(LEN_AT).cast::<u64>().read() as usize).min(self.capacity);
            std::slice::from_raw_parts(self.base.as_ptr().add(HEADER), len).to_vec()
        };
        self.publish(EMPTY);
        Ok(payload)
    }

    /// `shmctl(IPC_RMID)`: the segment goes away at the last detach (`man 2 shmctl`).
    pub fn remove(&self) -> io::Result<()> {
        // SAFETY: IPC_RMID takes no buffer (null is allowed).
        if unsafe { libc::shmctl(self.id, libc::IPC_RMID, std::ptr::null_mut()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for ShmMailbox {
    /// `shmdt`: this process's attachment ends; a forked child has its own.
    fn drop(&mut self) {
        // SAFETY: base is the address shmat returned, attached in this process until now.
        unsafe { libc::shmdt(self.base.as_ptr().cast()) };
    }
}

/// Sleeps while `word` holds `expected`, at most `timeout` (`man 2 futex`). Not
/// `FUTEX_PRIVATE_FLAG`: the waker is another process. Spurious returns are fine: the caller
/// checks again.
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) -> io::Result<()> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: word is a valid, aligned u32 for the call; ts outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, &ts) };
    if r == 0 {
        return Ok(());
    }
    match io::Error::last_os_error() {
        e if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EINTR | libc::ETIMEDOUT)) => Ok(()),
        e => Err(e),
    }
}

fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: word is a valid, aligned u32; FUTEX_WAKE only uses its address.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
}

/// The framing: one message of type 1 with the payload's length (u64, little-endian), then the
/// payload in messages of type 1 of at most `MAX_BODY` bytes. The length comes first, so an
/// empty payload and a whole multiple of `MAX_BODY` need no end marker; one type and selector 0
/// keep the messages in the order they were sent.
const TYPE: i64 = 1;

/// Sends the length, then the chunks. `msgsnd` waits while the queue is full: the kernel's
/// flow control, which shared memory does not give you.
pub fn send_payload(queue: &SysvQueue, payload: &[u8]) -> io::Result<()> {
    queue.send(TYPE, &(payload.len() as u64).to_le_bytes())?;
    for chunk in payload.chunks(MAX_BODY) {
        queue.send(TYPE, chunk)?;
    }
    Ok(())
}

/// Receives the length, then chunks until exactly that many bytes have come.
pub fn receive_payload(queue: &SysvQueue) -> io::Result<Vec<u8>> {
    let header = queue.receive(0)?;
    let len = <[u8; 8]>::try_from(header.body.as_slice()).map(u64::from_le_bytes).map_err(|_| {
        invalid_data(format!("expected an 8-byte length, got a message of {} bytes", header.body.len()))
    })?;
    let len = usize::try_from(len).map_err(|_| invalid_data(format!("a length of {len} bytes")))?;
    // Grow as the bytes come: a corrupt length must not allocate before any byte arrived.
    let mut payload = Vec::with_capacity(len.min(1 << 20));
    while payload.len() < len {
        let chunk = queue.receive(0)?;
        if chunk.body.is_empty() || payload.len() + chunk.body.len() > len {
            return Err(invalid_data(format!(
                "a chunk of {} bytes after {} of a {len}-byte payload",
                chunk.body.len(),
                payload.len()
            )));
        }
        payload.extend_from_slice(&chunk.body);
    }
    Ok(payload)
}

fn invalid_data(text: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, text)
}
