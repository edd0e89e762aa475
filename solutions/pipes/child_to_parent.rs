//! Answer to kata pipes::child_to_parent: A child sends bytes to its parent.

use std::fs::File;
use std::io::{self, Read, Write};

use nix::errno::Errno;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pipe};

/// Forks a child that writes `data` into a pipe and exits; the parent reads to end-of-file,
/// reaps the child and returns the bytes. See `man 2 pipe`, `man 2 fork`, `man 2 waitpid`.
pub fn child_to_parent(data: &[u8]) -> io::Result<Vec<u8>> {
    let (read_end, write_end) = pipe()?;
    // SAFETY: the child only writes to the pipe and leaves with _exit; it takes no lock that
    // another thread could have held at the fork.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(read_end);
            let sent = File::from(write_end).write_all(data).is_ok();
            // SAFETY: _exit ends the child at once: no destructors, no atexit handlers, no return
            // into the caller's code, which belongs to the parent.
            unsafe { libc::_exit(if sent { 0 } else { 1 }) }
        }
        ForkResult::Parent { child } => {
            // Our copy of the write end must go, or read_to_end never sees end-of-file.
            drop(write_end);
            let mut received = Vec::with_capacity(data.len());
            // Drain first, reap second: a child writing more than the pipe holds cannot exit
            // until we have read.
            let read = File::from(read_end).read_to_end(&mut received);
            let status = wait_for(child)?;
            read?;
            match status {
                WaitStatus::Exited(_, 0) => Ok(received),
                other => Err(io::Error::other(format!("the writing child did not finish cleanly: {other:?}"))),
            }
        }
    }
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
