//! Answer to kata fifos::send_receive: Send bytes through a FIFO between unrelated processes.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// Opens the FIFO at `path` for writing (waiting for a reader), writes all of `data`, and
/// closes it so the reader sees end-of-file. `NotFound` if there is nothing at `path` (it never
/// creates a file), `InvalidInput` if `path` is not a FIFO. See `man 7 fifo`.
pub fn send(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut fifo = open_fifo(path, OpenOptions::new().write(true))?;
    fifo.write_all(data)
}

/// Opens the FIFO at `path` for reading (waiting for a writer) and reads until every writer
/// has closed it. Leaves the FIFO in place. Same errors as [`send`].
pub fn receive(path: &Path) -> io::Result<Vec<u8>> {
    let mut fifo = open_fifo(path, OpenOptions::new().read(true))?;
    let mut data = Vec::new();
    fifo.read_to_end(&mut data)?;
    Ok(data)
}

/// Opens `path` (blocking until the other end is opened) and checks on the open descriptor,
/// not on the path, that it is a FIFO. Read-only for readers: a reader that also opened for
/// writing would never see end-of-file.
pub(super) fn open_fifo(path: &Path, how: &OpenOptions) -> io::Result<File> {
    let not_a_fifo = || io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a FIFO", path.display()));
    let file = match how.open(path) {
        // A directory cannot even be opened for writing: it is not a FIFO either.
        Err(e) if e.kind() == io::ErrorKind::IsADirectory => return Err(not_a_fifo()),
        other => other?,
    };
    if !file.metadata()?.file_type().is_fifo() {
        return Err(not_a_fifo());
    }
    Ok(file)
}
