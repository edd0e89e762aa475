//! The two servers under test, each in a forked process pinned to the second CPU: the kata's
//! reference answer (`serve_many`: one thread, one epoll instance) and a thread per client
//! written here (blocking reads with `BufReader::read_until`), with the same protocol and the
//! same handler.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pipe};

use crate::serve_many::{MAX_LINE, Served, serve_many};
use crate::{PATIENCE, pin};

/// Which server.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Server {
    /// `event_loop::serve_many`, the reference answer.
    Epoll,
    /// A thread per accepted client, written in this file.
    Threads,
}

impl Server {
    pub fn name(self) -> &'static str {
        match self {
            Server::Epoll => "one epoll loop (serve_many)",
            Server::Threads => "a thread per client",
        }
    }
}

/// The handler both servers run: the line reversed.
pub fn reverse(line: &[u8]) -> Vec<u8> {
    line.iter().rev().copied().collect()
}

/// A thread per client: the main thread waits for a client or the stop signal (`poll` on the
/// listener and `stop`), and each accepted client gets a thread that reads lines with
/// `read_until` and writes each answer with `write_all`. After the stop it joins every thread
/// (they end when their client hangs up).
pub fn thread_per_client(listener: UnixListener, stop: OwnedFd, handler: fn(&[u8]) -> Vec<u8>) -> io::Result<Served> {
    listener.set_nonblocking(true)?;
    let lines = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    'serving: loop {
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN), PollFd::new(stop.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            break 'serving;
        }
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false)?;
                    let lines = Arc::clone(&lines);
                    workers.push(std::thread::Builder::new().spawn(move || serve_one(&stream, handler, &lines))?);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    let clients = workers.len();
    for worker in workers {
        worker.join().map_err(|_| io::Error::other("a client's thread panicked"))??;
    }
    Ok(Served { clients, lines: lines.load(Ordering::Relaxed) })
}

/// One client's thread: answers line after line until the client hangs up. A line longer than
/// `MAX_LINE` ends the connection, as it does in `serve_many`.
fn serve_one(stream: &UnixStream, handler: fn(&[u8]) -> Vec<u8>, lines: &AtomicUsize) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut writer = stream;
    let mut line = Vec::with_capacity(128);
    loop {
        line.clear();
        if reader.by_ref().take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if line.pop() != Some(b'\n') {
            return Ok(()); // too long, or cut short by the hang-up
        }
        let mut answer = handler(&line);
        answer.push(b'\n');
        writer.write_all(&answer)?;
        lines.fetch_add(1, Ordering::Relaxed);
    }
}

/// A server running in its own process.
pub struct Running {
    pid: Option<Pid>,
    stop: Option<File>,
    result: File,
}

impl Running {
    /// Forks a process that serves `listener` with `server` until told to stop, then writes what
    /// it served (`clients lines`) on a pipe and exits. The caller must be single-threaded.
    pub fn start(server: Server, listener: UnixListener) -> io::Result<Running> {
        let (stop_rx, stop_tx) = pipe()?;
        let (result_rx, result_tx) = pipe()?;
        // SAFETY: the bench has one thread when it forks, so the child may allocate and spawn
        // threads freely.
        match unsafe { fork() }? {
            ForkResult::Child => {
                drop((stop_tx, result_rx));
                // SAFETY: restoring the default disposition has no preconditions.
                unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) };
                let _ = pin(1);
                let outcome = catch_unwind(AssertUnwindSafe(|| match server {
                    Server::Epoll => serve_many(listener, stop_rx, reverse),
                    Server::Threads => thread_per_client(listener, stop_rx, reverse),
                }));
                let ok = match outcome {
                    Ok(Ok(served)) => File::from(result_tx)
                        .write_all(format!("{} {}\n", served.clients, served.lines).as_bytes())
                        .is_ok(),
                    Ok(Err(e)) => {
                        eprintln!("{}: {e}", server.name());
                        false
                    }
                    Err(_) => false,
                };
                // SAFETY: _exit ends the child at once, without the parent's destructors.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            ForkResult::Parent { child } => {
                // The parent keeps no copy of the listener: if the server dies, connect fails
                // at once instead of waiting in the backlog.
                drop((listener, stop_rx, result_tx));
                Ok(Running { pid: Some(child), stop: Some(File::from(stop_tx)), result: File::from(result_rx) })
            }
        }
    }

    pub fn pid(&self) -> i32 {
        self.pid.map_or(0, Pid::as_raw)
    }

    /// Tells the server to stop (one byte on its stop pipe), reads what it served, reaps it.
    pub fn finish(mut self) -> io::Result<Served> {
        self.stop.take().expect("finished once").write_all(b"s")?;
        let mut fds = [PollFd::new(self.result.as_fd(), PollFlags::POLLIN)];
        let patience = PollTimeout::try_from(PATIENCE).unwrap_or(PollTimeout::MAX);
        if poll(&mut fds, patience)? == 0 {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the server did not stop"));
        }
        let mut text = String::new();
        self.result.read_to_string(&mut text)?;
        let pid = self.pid.take().expect("finished once");
        let status = waitpid(pid, None)?;
        if !matches!(status, WaitStatus::Exited(_, 0)) {
            return Err(io::Error::other(format!("the server failed: {status:?}")));
        }
        let mut numbers = text.split_whitespace().map(str::parse::<usize>);
        match (numbers.next(), numbers.next()) {
            (Some(Ok(clients)), Some(Ok(lines))) => Ok(Served { clients, lines }),
            _ => Err(io::Error::other(format!("the server's answer: {text:?}"))),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
    }
}
