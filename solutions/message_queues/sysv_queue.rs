//! Answer to kata message_queues::sysv_queue: A System V message queue: typed messages, picked by type.

use std::io;
use std::mem::size_of;

use libc::c_long;

/// The largest body [`SysvQueue::send`] accepts: Linux's default `msgmax`
/// (`/proc/sys/kernel/msgmax`), and the size of the buffer [`SysvQueue::receive`] offers.
pub const MAX_BODY: usize = 8192;

/// A message as the kernel keeps it: its type (> 0) and its body, without the type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysvMessage {
    pub mtype: i64,
    pub body: Vec<u8>,
}

/// A System V message queue, known by its id. It belongs to the kernel, not to this value:
/// dropping it releases nothing, and the queue lives until [`SysvQueue::remove`].
#[derive(Debug)]
pub struct SysvQueue {
    id: i32,
}

/// `msgget(2)` flags: owner read and write only.
const MODE: libc::c_int = 0o600;

impl SysvQueue {
    /// Creates a new queue for `key` (`msgget(key, IPC_CREAT | IPC_EXCL | 0600)`); a key that
    /// already has a queue is `AlreadyExists`. See `man 2 msgget`.
    pub fn create(key: libc::key_t) -> io::Result<SysvQueue> {
        // SAFETY: msgget takes plain integers and touches no memory of ours.
        let id = unsafe { libc::msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | MODE) };
        if id < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(SysvQueue { id })
    }

    /// Opens the existing queue of `key` (`msgget(key, 0)`): `NotFound` if there is none.
    /// `IPC_PRIVATE` names no existing queue (msgget would make a new one): `InvalidInput`.
    pub fn open(key: libc::key_t) -> io::Result<SysvQueue> {
        if key == libc::IPC_PRIVATE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "IPC_PRIVATE names no existing queue: msgget(IPC_PRIVATE) always makes a new one",
            ));
        }
        // SAFETY: as in create.
        let id = unsafe { libc::msgget(key, 0) };
        if id < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(SysvQueue { id })
    }

    /// The queue's id, as `ipcs -q` and `/proc/sysvipc/msg` show it.
    pub fn id(&self) -> i32 {
        self.id
    }

    /// Sends `body` with type `mtype`, waiting while the queue is full. The size given to
    /// `msgsnd` is the body's length: the type field is not part of it (`man 2 msgsnd`).
    /// `mtype` ≤ 0 or a body longer than [`MAX_BODY`] is `InvalidInput`, and nothing is sent.
    pub fn send(&self, mtype: i64, body: &[u8]) -> io::Result<()> {
        if mtype <= 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("message type {mtype}: it must be > 0")));
        }
        if body.len() > MAX_BODY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a body of {} bytes; at most {MAX_BODY} fit in one message", body.len()),
            ));
        }
        // struct msgbuf { long mtype; char mtext[]; }, allocated in longs so that it is aligned:
        // the type, then the body copied in once (the rest of the room is never read).
        let mut buf: Vec<c_long> = Vec::with_capacity(1 + body.len().div_ceil(size_of::<c_long>()));
        buf.push(mtype as c_long);
        // SAFETY: the allocation has room for body.len() bytes after the type, and a fresh Vec
        // does not overlap `body`.
        unsafe { std::ptr::copy_nonoverlapping(body.as_ptr(), buf.as_mut_ptr().add(1).cast::<u8>(), body.len()) };
        loop {
            // SAFETY: buf holds the long type and then the body.len() bytes of text copied in,
            // which is all msgsnd reads.
            let r = unsafe { libc::msgsnd(self.id, buf.as_ptr().cast(), body.len(), 0) };
            if r == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Receives the first message that `selector` picks, waiting until there is one
    /// (`man 2 msgrcv`): 0 the first message; > 0 the first of that type; < 0 the first of the
    /// lowest type ≤ |selector|. Offers a buffer of [`MAX_BODY`] bytes, without `MSG_NOERROR`:
    /// a longer message is an error (E2BIG) and stays in the queue.
    pub fn receive(&self, selector: i64) -> io::Result<SysvMessage> {
        self.raw_receive(selector, MAX_BODY, 0, |mtype, text| SysvMessage { mtype, body: text.to_vec() })
    }

    /// As [`SysvQueue::receive`], but without waiting (`IPC_NOWAIT`): `Ok(None)` when no
    /// message matches `selector` now (ENOMSG).
    pub fn try_receive(&self, selector: i64) -> io::Result<Option<SysvMessage>> {
        match self
            .raw_receive(selector, MAX_BODY, libc::IPC_NOWAIT, |mtype, text| SysvMessage { mtype, body: text.to_vec() })
        {
            Ok(message) => Ok(Some(message)),
            Err(e) if e.raw_os_error() == Some(libc::ENOMSG) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Receives the first message `selector` picks into `buf`, waiting until there is one, and
    /// returns its type and length. A message longer than `buf` is not cut (no `MSG_NOERROR`):
    /// msgrcv fails with E2BIG (`ArgumentListTooLong`) and the message stays in the queue.
    pub fn receive_into(&self, selector: i64, buf: &mut [u8]) -> io::Result<(i64, usize)> {
        let capacity = buf.len();
        self.raw_receive(selector, capacity, 0, |mtype, text| {
            buf[..text.len()].copy_from_slice(text);
            (mtype, text.len())
        })
    }

    /// msgrcv with room for `capacity` bytes of text, retrying when a signal interrupts it;
    /// hands the type and the text to `take`, which copies the text where it belongs (the
    /// message buffer is not zeroed first: msgrcv fills what `take` reads).
    fn raw_receive<T>(
        &self,
        selector: i64,
        capacity: usize,
        flags: libc::c_int,
        take: impl FnOnce(i64, &[u8]) -> T,
    ) -> io::Result<T> {
        let mut buf: Vec<c_long> = Vec::with_capacity(1 + capacity.div_ceil(size_of::<c_long>()));
        let len = loop {
            // SAFETY: buf has room for a long type field and then `capacity` bytes, and
            // msgrcv writes at most `capacity` bytes of text after the type.
            let n = unsafe { libc::msgrcv(self.id, buf.as_mut_ptr().cast(), capacity, selector as c_long, flags) };
            if n >= 0 {
                break n as usize;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        };
        // SAFETY: msgrcv wrote the type first, so it is initialised.
        let mtype: c_long = unsafe { buf.as_ptr().read() };
        // SAFETY: msgrcv wrote `len` ≤ `capacity` bytes of text right after the type, inside the
        // allocation; u8 needs no alignment.
        let text = unsafe { std::slice::from_raw_parts(buf.as_ptr().add(1).cast::<u8>(), len) };
        Ok(take(mtype as i64, text))
    }

    /// Removes the queue (`msgctl(id, IPC_RMID)`): at once, with any messages in it; processes
    /// waiting on it wake up with EIDRM. See `man 2 msgctl`.
    pub fn remove(self) -> io::Result<()> {
        // SAFETY: IPC_RMID reads no buffer; null is allowed.
        let r = unsafe { libc::msgctl(self.id, libc::IPC_RMID, std::ptr::null_mut()) };
        if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }
}
