//! Answer to kata event_loop::serve_many: One thread and one epoll instance serve many clients.
//!
//! The model answer to the question: `solutions/interview/q6_many_channels.md`.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::socket::{MsgFlags, send};

/// The longest request line, in bytes, without its newline.
pub const MAX_LINE: usize = 4096;

/// What [`serve_many`] served: the clients it accepted and the request lines it answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Served {
    pub clients: usize,
    pub lines: usize,
}

/// The most one client may read in one turn; a client with more waits for the others' turns.
const TURN: usize = 64 * 1024;
/// A client with this many bytes of answers it has not read yet is not read from until it does.
const UNSENT_LIMIT: usize = 1 << 20;
/// How long the loop sleeps before it tries `accept` again after running out of descriptors.
const ACCEPT_RETRY_MS: u16 = 100;
/// Tokens (`epoll_event.data`) of the two fixed descriptors; clients count up from `FIRST`.
const LISTENER: u64 = 0;
const STOP: u64 = 1;
const FIRST: u64 = 2;

/// One connected client: its socket, the bytes of an unfinished line, the answers not yet sent.
struct Client {
    stream: UnixStream,
    input: Vec<u8>,
    output: Vec<u8>,
    /// How much of `output` the kernel has taken.
    sent: usize,
    /// Reading may give more: no `WouldBlock` since the last `EPOLLIN` edge.
    readable: bool,
    /// Sending may take more: no `EAGAIN` since the last `EPOLLOUT` edge.
    writable: bool,
    /// `EPOLLOUT` is in its registration (only while answers wait for room).
    watching_out: bool,
    /// The client shut down its sending side: once every answer is out, it is closed.
    eof: bool,
    /// It is in the loop's ready queue.
    queued: bool,
}

/// What a client's turn left to do.
enum Turn {
    /// Nothing until its next edge.
    Idle,
    /// It had more to read than a turn allows: to the back of the queue.
    More,
    /// Close it: done, gone, or it broke the protocol.
    Close,
}

impl Client {
    fn unsent(&self) -> usize {
        self.output.len() - self.sent
    }

    /// Reads at most a turn's worth, answers every whole line, and sends what the socket takes.
    fn take_turn(&mut self, handler: &mut impl FnMut(&[u8]) -> Vec<u8>, lines: &mut usize) -> Turn {
        let mut chunk = [0u8; 16 * 1024];
        let mut budget = TURN;
        while self.readable && !self.eof && self.unsent() < UNSENT_LIMIT && budget > 0 {
            let want = chunk.len().min(budget);
            match (&self.stream).read(&mut chunk[..want]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    budget -= n;
                    self.input.extend_from_slice(&chunk[..n]);
                    if !self.answer_lines(handler, lines) {
                        return Turn::Close;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // ECONNRESET: the client closed with answers it never read.
                Err(_) => return Turn::Close,
            }
        }
        if !self.flush() {
            return Turn::Close;
        }
        if self.eof && self.unsent() == 0 {
            return Turn::Close;
        }
        let more_to_read = self.readable && !self.eof && self.unsent() < UNSENT_LIMIT;
        if more_to_read { Turn::More } else { Turn::Idle }
    }

    /// Answers each whole line in `input`; false if a line is longer than [`MAX_LINE`].
    fn answer_lines(&mut self, handler: &mut impl FnMut(&[u8]) -> Vec<u8>, lines: &mut usize) -> bool {
        let mut start = 0;
        while let Some(at) = self.input[start..].iter().position(|&b| b == b'\n') {
            let line = &self.input[start..start + at];
            if line.len() > MAX_LINE {
                return false;
            }
            let answer = handler(line);
            self.output.extend_from_slice(&answer);
            self.output.push(b'\n');
            *lines += 1;
            start += at + 1;
        }
        self.input.drain(..start);
        // What is left has no newline yet: already too long, it can only become a longer line.
        self.input.len() <= MAX_LINE
    }

    /// Sends until everything is out or the socket is full; false if the client is gone.
    fn flush(&mut self) -> bool {
        while self.writable && self.unsent() > 0 {
            // MSG_NOSIGNAL: a client that closed makes this EPIPE, not a SIGPIPE that kills us.
            match send(self.stream.as_raw_fd(), &self.output[self.sent..], MsgFlags::MSG_NOSIGNAL) {
                Ok(n) => self.sent += n,
                Err(Errno::EAGAIN) => self.writable = false,
                Err(Errno::EINTR) => {}
                Err(_) => return false,
            }
        }
        if self.sent == self.output.len() {
            self.output.clear();
            self.sent = 0;
        } else if self.sent >= self.output.len() / 2 {
            self.output.drain(..self.sent);
            self.sent = 0;
        }
        true
    }

    /// The events it is registered for: always input and hang-ups, output only while answers wait.
    fn interest(&self) -> EpollFlags {
        let base = EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLET;
        if self.watching_out { base | EpollFlags::EPOLLOUT } else { base }
    }
}

/// The loop's state besides the epoll instance: the clients by token and the ready queue.
struct Clients {
    by_token: HashMap<u64, Client>,
    ready: VecDeque<u64>,
    next: u64,
    served: Served,
    /// When `accept` ran out of descriptors: the listener's edge is spent, so the loop tries
    /// again after a client closes or [`ACCEPT_RETRY_MS`] later, never at once (a spin).
    accept_paused: Option<Instant>,
    /// A client closed since: a descriptor came free.
    freed: bool,
}

impl Clients {
    fn push_ready(&mut self, token: u64) {
        if let Some(client) = self.by_token.get_mut(&token).filter(|c| !c.queued) {
            client.queued = true;
            self.ready.push_back(token);
        }
    }

    /// Accepts until `WouldBlock`: one edge may stand for many waiting connections.
    fn accept_all(&mut self, epoll: &Epoll, listener: &UnixListener) -> io::Result<()> {
        self.accept_paused = None;
        self.freed = false;
        loop {
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::ECONNABORTED)) => continue,
                Err(e)
                    if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)) =>
                {
                    // The connections stay queued in the listener and no new edge will come for
                    // them: try again later (see `accept_paused`).
                    self.accept_paused = Some(Instant::now());
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            // std's accept gives a close-on-exec socket (accept4 with SOCK_CLOEXEC).
            stream.set_nonblocking(true)?;
            let token = self.next;
            self.next += 1;
            let client = Client {
                stream,
                input: Vec::new(),
                output: Vec::new(),
                sent: 0,
                readable: false,
                writable: true,
                watching_out: false,
                eof: false,
                queued: false,
            };
            epoll.add(client.stream.as_fd(), EpollEvent::new(client.interest(), token))?;
            self.by_token.insert(token, client);
            self.served.clients += 1;
        }
    }

    /// Notes what an event says of client `token` and queues it.
    fn on_event(&mut self, token: u64, events: EpollFlags) {
        let Some(client) = self.by_token.get_mut(&token) else { return };
        if events.intersects(EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR) {
            // Both directions are gone (or broken): no answer can reach it.
            client.readable = false;
            client.output.clear();
            client.sent = 0;
            client.eof = true;
        }
        if events.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP) {
            client.readable = true;
        }
        if events.contains(EpollFlags::EPOLLOUT) {
            client.writable = true;
        }
        self.push_ready(token);
    }

    /// Gives each client that was in the queue at the start one turn.
    fn run_turns(&mut self, epoll: &Epoll, handler: &mut impl FnMut(&[u8]) -> Vec<u8>) -> io::Result<()> {
        for _ in 0..self.ready.len() {
            let Some(token) = self.ready.pop_front() else { break };
            let Some(client) = self.by_token.get_mut(&token) else { continue };
            match client.take_turn(handler, &mut self.served.lines) {
                Turn::More => self.ready.push_back(token),
                Turn::Idle => {
                    client.queued = false;
                    // Watch for room only while answers wait for it (EAGAIN was seen).
                    let watch_out = client.unsent() > 0;
                    if watch_out != client.watching_out {
                        client.watching_out = watch_out;
                        epoll.modify(client.stream.as_fd(), &mut EpollEvent::new(client.interest(), token))?;
                    }
                }
                Turn::Close => self.close(epoll, token)?,
            }
        }
        Ok(())
    }

    /// Deregisters, then closes. Order matters: epoll watches the open file, not the number, so a
    /// duplicate of the descriptor would keep a closed-but-registered file reporting events.
    fn close(&mut self, epoll: &Epoll, token: u64) -> io::Result<()> {
        if let Some(client) = self.by_token.remove(&token) {
            epoll.delete(client.stream.as_fd())?;
            drop(client);
            self.freed = true;
        }
        Ok(())
    }

    /// Whether to call `accept` again after it ran out of descriptors.
    fn accept_due(&self) -> bool {
        self.accept_paused.is_some_and(|at| self.freed || at.elapsed().as_millis() >= ACCEPT_RETRY_MS as u128)
    }
}

/// Serves every client of `listener` in one thread with one epoll instance until `stop` is
/// readable (a byte, or end-of-file), then returns what it served.
///
/// Each request is a line; its answer is `handler(line)` and a newline, in the client's order.
/// The listener and the clients are edge-triggered (each edge is drained until `WouldBlock`),
/// the stop pipe level-triggered. A client reads at most [`TURN`] bytes before the others have
/// their turn; one whose unsent answers reach [`UNSENT_LIMIT`] is not read until it reads them.
/// A line longer than [`MAX_LINE`] closes its client; end-of-file from a client closes it once
/// every answer to its whole lines is sent.
pub fn serve_many(
    listener: UnixListener,
    stop: OwnedFd,
    mut handler: impl FnMut(&[u8]) -> Vec<u8>,
) -> io::Result<Served> {
    listener.set_nonblocking(true)?;
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    epoll.add(listener.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLET, LISTENER))?;
    epoll.add(stop.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, STOP))?;
    let mut clients = Clients {
        by_token: HashMap::new(),
        ready: VecDeque::new(),
        next: FIRST,
        served: Served::default(),
        accept_paused: None,
        freed: false,
    };
    let mut events = [EpollEvent::empty(); 64];
    loop {
        // Clients with more to read go on at once; otherwise sleep until an edge (or the retry).
        let timeout = if !clients.ready.is_empty() || clients.accept_due() {
            EpollTimeout::ZERO
        } else if clients.accept_paused.is_some() {
            EpollTimeout::from(ACCEPT_RETRY_MS)
        } else {
            EpollTimeout::NONE
        };
        let n = match epoll.wait(&mut events, timeout) {
            Ok(n) => n,
            Err(Errno::EINTR) => 0,
            Err(e) => return Err(e.into()),
        };
        if clients.accept_due() {
            clients.accept_all(&epoll, &listener)?;
        }
        for event in &events[..n] {
            match event.data() {
                // A byte or end-of-file: either way, the loop is over.
                STOP => return Ok(clients.served),
                LISTENER => clients.accept_all(&epoll, &listener)?,
                token => clients.on_event(token, event.events()),
            }
        }
        clients.run_turns(&epoll, &mut handler)?;
    }
}
