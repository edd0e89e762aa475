//! Answer to kata fifos::make_fifo: Make a named pipe.

use std::io;
use std::path::Path;

use nix::sys::stat::Mode;

/// Creates a FIFO at `path`, readable and writable by its owner only (0600). Fails with
/// `AlreadyExists` if the path is taken, `NotFound` if its directory is missing, and
/// `InvalidInput` for a path with a NUL byte. See `man 3 mkfifo`, `man 7 fifo`.
pub fn make_fifo(path: &Path) -> io::Result<()> {
    nix::unistd::mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR)?;
    Ok(())
}
