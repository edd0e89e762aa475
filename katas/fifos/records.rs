//! Kata fifos::records: Several writers, one reader, records kept whole.
//!
//! Grade it: `cargo test --test fifos records::`
//! Stuck? `cargo run -- hint fifos::records`

use std::io;
use std::path::Path;

/// The largest record: a record and its 2-byte length must fit in one atomic write of
/// `PIPE_BUF` (4096) bytes.
pub const MAX_RECORD: usize = 4094;

/// Open the FIFO at `path` for writing and send each record as its length (`u16`, little-endian)
/// followed by its bytes. Several processes may send at once into the same FIFO: no record may
/// ever be mixed with another's bytes.
///
/// Errors: a record longer than [`MAX_RECORD`] → `InvalidInput`, before anything is written;
/// otherwise as `fifos::send`.
///
/// Read first: `man 7 pipe` (PIPE_BUF and atomic writes), `man 2 write`.
///
/// The grader starts several writer processes at once and checks that the reader gets every
/// record whole, none lost, none duplicated, each writer's records in order.
pub fn send_records(path: &Path, records: &[Vec<u8>]) -> io::Result<()> {
    todo!("send {} records through the FIFO at {path:?}", records.len())
}

/// Open the FIFO at `path` for reading and read records (as [`send_records`] writes them) until
/// every writer has closed the FIFO. A record cut short at the end → `InvalidData`.
///
/// The grader checks: every record of several writer processes, each writer's in order, and
/// that you return once the last writer has closed.
pub fn receive_records(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    todo!("read records from the FIFO at {path:?} until every writer closes it")
}
