//! Kata sockets::framing: Length-prefixed messages over any byte stream.
//!
//! Grade it: `cargo test --test sockets framing::`
//! Stuck? `cargo run -- hint sockets::framing`

use std::io::{self, Read, Write};

/// The largest message a frame may carry.
pub const MAX_FRAME: usize = 1 << 20;

/// Write `message` as one frame: its length as a 4-byte big-endian (network order) `u32`,
/// then its bytes.
///
/// A stream socket (like a pipe) keeps no message boundaries, and `write` may write only part
/// of what it is given, or fail with `Interrupted` when a signal arrives: every byte must go
/// out all the same.
///
/// Errors: a message longer than [`MAX_FRAME`] → `InvalidInput`, before anything is written;
/// otherwise the stream's own error.
///
/// Read first: `man 2 write` (short writes, EINTR), `man 7 socket`.
///
/// The grader writes through a transport that accepts only part of each write and sometimes
/// reports `Interrupted`, and checks the exact bytes on the wire.
pub fn write_frame(to: &mut impl Write, message: &[u8]) -> io::Result<()> {
    let _ = to;
    todo!("write a frame of {} bytes", message.len())
}

/// Read one frame (as [`write_frame`] writes it) and return its message; `Ok(None)` if the
/// stream ends cleanly before a frame begins.
///
/// One `read` is not one message: it returns whatever has arrived so far, which may be a part
/// of a frame (even part of its length), or the end of one frame and the start of the next.
/// Read exactly the bytes of one frame, never more, and retry a read that fails with
/// `Interrupted`.
///
/// Errors: the stream ends inside a frame (in its length or its message) → `UnexpectedEof`;
/// a length above [`MAX_FRAME`] → `InvalidData` (never trust a length enough to allocate it).
///
/// Read first: `man 2 read`, `man 7 unix` (SOCK_STREAM has no boundaries).
///
/// The grader reads through a transport that returns fewer bytes than asked for (down to one)
/// and sometimes `Interrupted`, and from frames written back to back in one buffer; it also
/// checks every error above.
pub fn read_frame(from: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let _ = from;
    todo!("read one length-prefixed frame")
}
