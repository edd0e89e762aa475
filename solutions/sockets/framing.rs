//! Reference answer: length-prefixed frames over any byte stream.

use std::io::{self, Read, Write};

/// The largest message a frame may carry. A reader refuses a longer length rather than trust
/// it: a corrupt or hostile 4-byte prefix must not make it allocate gigabytes.
pub const MAX_FRAME: usize = 1 << 20;

/// Writes `message` as one frame: its length as a big-endian (network order) `u32`, then its
/// bytes. `InvalidInput`, before anything is written, if it is longer than [`MAX_FRAME`].
///
/// The frame goes out through `write_all`, which retries short writes and `Interrupted`; it is
/// built in one buffer first so that a socket sends it in as few segments as it can.
/// See `man 2 write` (short writes), `man 7 socket`.
pub fn write_frame(to: &mut impl Write, message: &[u8]) -> io::Result<()> {
    if message.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a message of {} bytes is longer than MAX_FRAME ({MAX_FRAME})", message.len()),
        ));
    }
    let mut frame = Vec::with_capacity(4 + message.len());
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    to.write_all(&frame)
}

/// Reads one frame and returns its message; `None` if the stream ends cleanly before a frame.
///
/// A `read` returns whatever has arrived: part of a frame, or the end of one frame and the
/// start of the next. So the length is read in a loop until all 4 bytes are there, then exactly
/// that many bytes (`read_exact`), never more. Errors: the stream ends inside a frame →
/// `UnexpectedEof`; a length above [`MAX_FRAME`] → `InvalidData`. See `man 2 read`.
pub fn read_frame(from: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < header.len() {
        match from.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the stream ended after {got} of a frame's 4 length bytes"),
                ));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame announces {len} bytes, more than MAX_FRAME ({MAX_FRAME})"),
        ));
    }
    let mut message = vec![0u8; len];
    from.read_exact(&mut message)?;
    Ok(Some(message))
}
