//! Answer to kata sockets::framing: Length-prefixed messages over any byte stream.

use std::io::{self, IoSlice, Read, Write};

/// The largest message a frame may carry. A reader refuses a longer length rather than trust
/// it: a corrupt or hostile 4-byte prefix must not make it allocate gigabytes.
pub const MAX_FRAME: usize = 1 << 20;

/// Writes `message` as one frame: its length as a big-endian (network order) `u32`, then its
/// bytes. `InvalidInput`, before anything is written, if it is longer than [`MAX_FRAME`].
///
/// The length and the message go out together in one `writev` (`man 2 writev`), without
/// copying the message: the reader wakes once per frame, and a 1 MiB message is not copied
/// into a new buffer first. A write may be short (`man 2 write`): the loop goes on from where
/// it stopped, and retries `Interrupted`. A writer that cannot gather (the default
/// `write_vectored`) writes the pieces one after the other, which is just as correct.
pub fn write_frame(to: &mut impl Write, message: &[u8]) -> io::Result<()> {
    if message.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a message of {} bytes is longer than MAX_FRAME ({MAX_FRAME})", message.len()),
        ));
    }
    let header = (message.len() as u32).to_be_bytes();
    let mut pieces = [IoSlice::new(&header), IoSlice::new(message)];
    let mut left = &mut pieces[..];
    while !left.is_empty() {
        match to.write_vectored(left) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "the stream took no more bytes")),
            Ok(n) => IoSlice::advance_slices(&mut left, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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
    // Room for exactly `len` bytes, filled by read_to_end without being zeroed first; `take`
    // stops it at the frame's end, so the next frame stays in the stream.
    let mut message = Vec::with_capacity(len);
    from.take(len as u64).read_to_end(&mut message)?;
    if message.len() < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the stream ended after {} of a frame's {len} bytes", message.len()),
        ));
    }
    Ok(Some(message))
}
