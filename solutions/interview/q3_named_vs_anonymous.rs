//! Answer to kata interview::q3_named_vs_anonymous: A FIFO outlives its maker; a pipe ends with its last descriptor.
//!
//! The model answer to the question: `solutions/interview/q3_named_vs_anonymous.md`.
//!
//! A FIFO made by a process that exits, and an anonymous pipe that ends with its last descriptor.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, mkfifo, pipe};

/// Exit status of a child whose mkfifo failed with an errno too large for an exit status.
const UNKNOWN_ERRNO: i32 = 255;

/// The child makes the FIFO and exits with 0, or with mkfifo's errno; the parent reaps it and
/// turns that errno back into an `io::Error`. `man 3 mkfifo`: EEXIST for a taken path, so the
/// call is exclusive by itself; umask is cleared in the child so the mode is exactly 0600.
pub fn create_fifo_in_child(path: &Path) -> io::Result<i32> {
    // SAFETY: the child only calls umask and mkfifo (async-signal-safe, `man 7 signal-safety`)
    // and leaves with _exit. nix builds the path's C string on the stack below 1024 bytes and
    // allocates for a longer one: sound here because the caller is single-threaded (fork(2):
    // in a multithreaded program the child may only make async-signal-safe calls).
    match unsafe { fork() }? {
        ForkResult::Child => {
            nix::sys::stat::umask(Mode::empty());
            let code = match mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR) {
                Ok(()) => 0,
                Err(errno) if (1..UNKNOWN_ERRNO).contains(&(errno as i32)) => errno as i32,
                Err(_) => UNKNOWN_ERRNO,
            };
            // SAFETY: _exit ends the child at once, without returning into the caller's code.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => match wait_for(child)? {
            WaitStatus::Exited(_, 0) => Ok(child.as_raw()),
            WaitStatus::Exited(_, UNKNOWN_ERRNO) => Err(io::Error::other("mkfifo failed in the child")),
            WaitStatus::Exited(_, errno) => Err(io::Error::from_raw_os_error(errno)),
            other => Err(io::Error::other(format!("the child that makes the FIFO ended as {other:?}"))),
        },
    }
}

/// `lstat` first, so that only a FIFO is unlinked.
pub fn remove_fifo(path: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.file_type().is_fifo() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a FIFO; it is left alone", path.display()),
        ));
    }
    fs::remove_file(path)
}

/// `readlink("/proc/self/fd/<fd>")` is `pipe:[<inode>]` for an anonymous pipe (`man 5 proc`).
pub fn pipe_inode(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let link = fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
    let link = link.to_string_lossy();
    link.strip_prefix("pipe:[").and_then(|rest| rest.strip_suffix(']')).and_then(|inode| inode.parse().ok()).ok_or_else(
        || io::Error::new(io::ErrorKind::InvalidInput, format!("descriptor {fd:?} is {link}, not an anonymous pipe")),
    )
}

/// `PIPE_BUF` on Linux (`man 7 pipe`): a write of at most this many bytes is atomic.
const PIPE_BUF: usize = 4096;

/// One pipe, `writers` children. The parent closes its own write end right after the forks:
/// end-of-file comes when the last write end closes, and the parent's copy would be the last.
pub fn gather(writers: usize, record: &[u8]) -> io::Result<Vec<u8>> {
    if record.len() > PIPE_BUF {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a record of {} bytes; at most PIPE_BUF ({PIPE_BUF}) are written atomically", record.len()),
        ));
    }
    let (read_end, write_end) = pipe()?;
    let mut children: Vec<Pid> = Vec::with_capacity(writers);
    let mut forked = Ok(());
    for _ in 0..writers {
        // SAFETY: the child only writes to the pipe and leaves with _exit.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                drop(read_end);
                let written = File::from(write_end).write(record).is_ok_and(|n| n == record.len());
                // SAFETY: _exit ends the child without returning into the caller's code.
                unsafe { libc::_exit(if written { 0 } else { 1 }) }
            }
            Ok(ForkResult::Parent { child }) => children.push(child),
            Err(e) => {
                forked = Err(io::Error::from(e));
                break;
            }
        }
    }
    drop(write_end);
    let mut data = Vec::with_capacity(writers * record.len());
    let read = File::from(read_end).read_to_end(&mut data);
    let mut clean = true;
    for child in children {
        loop {
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => break,
                Err(Errno::EINTR) => continue,
                _ => {
                    clean = false;
                    break;
                }
            }
        }
    }
    forked?;
    read?;
    if !clean {
        return Err(io::Error::other("a writing child did not finish cleanly"));
    }
    Ok(data)
}

/// `waitpid` for this one child, again when a caught signal interrupts it (EINTR, `man 2
/// waitpid`): a wait given up on would leave the child a zombie.
fn wait_for(child: Pid) -> nix::Result<WaitStatus> {
    loop {
        match waitpid(child, None) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}
