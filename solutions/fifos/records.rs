//! Answer to kata fifos::records: Several writers, one reader, records kept whole.

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::path::Path;

use super::send_receive::open_fifo;

/// The largest record: a record and its 2-byte length must fit in one atomic write of
/// `PIPE_BUF` (4096) bytes.
pub const MAX_RECORD: usize = libc::PIPE_BUF - 2;

/// Sends each record as its length (2 bytes, little-endian) followed by its bytes, each record
/// in one `write`, so that records from several writers never interleave. Refuses (with
/// `InvalidInput`, before writing anything) a record longer than [`MAX_RECORD`].
/// See `man 7 pipe` (PIPE_BUF).
pub fn send_records(path: &Path, records: &[Vec<u8>]) -> io::Result<()> {
    if let Some((i, too_long)) = records.iter().enumerate().find(|(_, r)| r.len() > MAX_RECORD) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("record {i} has {} bytes; at most {MAX_RECORD} fit in one atomic write", too_long.len()),
        ));
    }
    let mut fifo = open_fifo(path, OpenOptions::new().write(true))?;
    let mut frame = Vec::with_capacity(libc::PIPE_BUF);
    for record in records {
        frame.clear();
        frame.extend_from_slice(&(record.len() as u16).to_le_bytes());
        frame.extend_from_slice(record);
        write_once(&mut fifo, &frame)?;
    }
    Ok(())
}

/// One `write` of the whole frame. A blocking write of at most PIPE_BUF bytes is all or
/// nothing; `write_all` would hide a short write by sending the rest separately.
fn write_once(to: &mut impl Write, frame: &[u8]) -> io::Result<()> {
    loop {
        match to.write(frame) {
            Ok(n) if n == frame.len() => return Ok(()),
            Ok(n) => return Err(io::Error::other(format!("short write: {n} of {} bytes", frame.len()))),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Reads records from the FIFO at `path` until every writer has closed it. A record cut short
/// at the end is `InvalidData`.
pub fn receive_records(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let mut stream = Vec::new();
    open_fifo(path, OpenOptions::new().read(true))?.read_to_end(&mut stream)?;
    let mut records = Vec::new();
    let mut rest = stream.as_slice();
    while !rest.is_empty() {
        let cut = || io::Error::new(io::ErrorKind::InvalidData, "the stream ends in the middle of a record");
        let (len, body) = rest.split_first_chunk::<2>().ok_or_else(cut)?;
        let len = u16::from_le_bytes(*len) as usize;
        let record = body.get(..len).ok_or_else(cut)?;
        records.push(record.to_vec());
        rest = &body[len..];
    }
    Ok(records)
}
