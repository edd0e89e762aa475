//! Kata fifos::send_receive: Send bytes through a FIFO between unrelated processes.
//!
//! Grade it: `cargo test --test fifos send_receive::`
//! Stuck? `cargo run -- hint fifos::send_receive`

use std::io;
use std::path::Path;

/// Open the FIFO at `path` for writing, wait there until a reader opens it, write all of `data`
/// and close it, so the reader sees end-of-file.
///
/// Errors: nothing at `path` → `NotFound` (never create a file: a typo must not leave a regular
/// file where a FIFO should be); `path` is not a FIFO (a regular file, a directory) →
/// `InvalidInput`.
///
/// Read first: `man 7 fifo`, `man 2 open` (O_NONBLOCK with FIFOs), `man 7 pipe`.
///
/// The grader runs the other side as a separate program, not a fork. It checks: bytes intact
/// from 0 to 1 MiB (property); `send` waits for a reader that comes late; the errors above.
pub fn send(path: &Path, data: &[u8]) -> io::Result<()> {
    todo!("send {} bytes through the FIFO at {path:?}", data.len())
}

/// Open the FIFO at `path` for reading, wait there until a writer opens it, and read until the
/// writer closes it. Leave the FIFO where it is: it belongs to whoever made it.
///
/// Errors: as for [`send`].
///
/// The grader checks: bytes intact from 0 to 1 MiB (property) from a writer in a separate
/// program; `receive` waits for a writer that comes late; it returns once the writer has
/// closed; the FIFO is still there afterwards.
pub fn receive(path: &Path) -> io::Result<Vec<u8>> {
    todo!("read everything written into the FIFO at {path:?}")
}
