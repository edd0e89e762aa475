//! Answer to kata sockets::socketpair: A socketpair as a two-way channel, and messages that stay whole.

use std::io::{self, BufReader};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, send, socketpair};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use super::framing::{read_frame, write_frame};

/// Forks a child that answers each request with `answer(request)`, over one socketpair (a
/// socket is two-way: one descriptor in each process is enough). Returns the answers in order,
/// after the child has exited and been reaped. See `man 2 socketpair`, `man 7 unix`.
pub fn ask_child(requests: &[Vec<u8>], answer: fn(&[u8]) -> Vec<u8>) -> io::Result<Vec<Vec<u8>>> {
    let (parent_end, child_end) = UnixStream::pair()?;
    // SAFETY: the child allocates (buffers, the answers) before it leaves with _exit. fork(2):
    // after a fork in a multithreaded program the child may only make async-signal-safe
    // calls until it execs, since another thread may have held the allocator's lock at the
    // fork. That is sound here because the caller is single-threaded (the grader forks from a
    // one-thread sandbox); from a process with other threads the child could deadlock.
    match unsafe { fork() }? {
        ForkResult::Child => {
            // The child must not keep the parent's end: it would keep its own end-of-file away.
            drop(parent_end);
            let served = serve(child_end, answer).is_ok();
            // SAFETY: _exit ends the child without returning into the parent's code.
            unsafe { libc::_exit(if served { 0 } else { 1 }) }
        }
        ForkResult::Parent { child } => {
            drop(child_end);
            // converse consumes the parent's end and closes it when it returns, even on error:
            // the child sees end-of-file and exits, so the waitpid below cannot hang.
            let answers = converse(parent_end, requests);
            let status = wait_for(child)?;
            let answers = answers?;
            match status {
                WaitStatus::Exited(_, 0) => Ok(answers),
                other => Err(io::Error::other(format!("the answering child did not finish cleanly: {other:?}"))),
            }
        }
    }
}

/// The child's loop: answer every request until end-of-file. Frames are read through a
/// `BufReader`, so a frame that has arrived whole (its length and its bytes) takes one `read`,
/// not two; writes go straight to the socket.
fn serve(stream: UnixStream, answer: fn(&[u8]) -> Vec<u8>) -> io::Result<()> {
    let mut reader = BufReader::new(&stream);
    while let Some(request) = read_frame(&mut reader)? {
        write_frame(&mut &stream, &answer(&request))?;
    }
    Ok(())
}

/// One request, then its answer: neither side ever waits to write while the other does too.
/// Answers are read through a `BufReader`, as in `serve`.
fn converse(stream: UnixStream, requests: &[Vec<u8>]) -> io::Result<Vec<Vec<u8>>> {
    let mut reader = BufReader::new(&stream);
    let mut answers = Vec::with_capacity(requests.len());
    for request in requests {
        write_frame(&mut &stream, request)?;
        let answer = read_frame(&mut reader)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "the child stopped answering"))?;
        answers.push(answer);
    }
    Ok(answers)
}

/// The largest message a [`MessageSocket`] sends or receives.
pub const MAX_MESSAGE: usize = 65536;

/// One end of a connected pair of `SOCK_SEQPACKET` Unix sockets: every `send` arrives as one
/// message, whole, in order; the end closes when dropped.
#[derive(Debug)]
pub struct MessageSocket {
    fd: OwnedFd,
}

/// A connected pair of message sockets (`socketpair(AF_UNIX, SOCK_SEQPACKET)`), for example one
/// for a parent and one for its child. See `man 2 socketpair`, `man 7 unix`.
pub fn message_pair() -> io::Result<(MessageSocket, MessageSocket)> {
    let (a, b) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?;
    Ok((MessageSocket { fd: a }, MessageSocket { fd: b }))
}

impl MessageSocket {
    /// Sends `message` as one message. `InvalidInput` for an empty one (it could not be told
    /// from the end of the channel) or one longer than [`MAX_MESSAGE`], before sending anything.
    pub fn send(&self, message: &[u8]) -> io::Result<()> {
        if message.is_empty() || message.len() > MAX_MESSAGE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a message must have 1 to {MAX_MESSAGE} bytes, not {}", message.len()),
            ));
        }
        // A seqpacket send is all or nothing: the message goes out whole or not at all.
        loop {
            match send(self.fd.as_raw_fd(), message, MsgFlags::MSG_NOSIGNAL) {
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Receives the next message whole; `None` once the other end is closed. A message longer
    /// than [`MAX_MESSAGE`] (sent by someone else) is `InvalidData`, never silently cut:
    /// `MSG_TRUNC` makes `recv` return its real length. See `man 2 recv`.
    ///
    /// The room for the largest message is allocated but not zeroed (zeroing 64 KiB for every
    /// message cost more than the system call), and given back once the length is known.
    pub fn recv(&self) -> io::Result<Option<Vec<u8>>> {
        let mut buf: Vec<u8> = Vec::with_capacity(MAX_MESSAGE);
        let n = loop {
            // SAFETY: the kernel writes at most MAX_MESSAGE bytes into the allocation, which
            // has room for that many; nothing reads them before set_len below.
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), MAX_MESSAGE, libc::MSG_TRUNC) };
            if n >= 0 {
                break n as usize;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        };
        if n == 0 {
            return Ok(None);
        }
        if n > MAX_MESSAGE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a message of {n} bytes arrived, longer than MAX_MESSAGE ({MAX_MESSAGE}); it was dropped"),
            ));
        }
        // SAFETY: recv wrote the n ≤ MAX_MESSAGE bytes of the message.
        unsafe { buf.set_len(n) };
        buf.shrink_to_fit();
        Ok(Some(buf))
    }
}

impl AsFd for MessageSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
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
