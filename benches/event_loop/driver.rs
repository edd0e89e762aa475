//! The clients, the same for both servers: one thread in the measuring process drives every
//! connection with one (level-triggered) epoll instance. Each client sends a 64-byte line,
//! waits for its 64-byte answer, checks it, and sends the next, until it has done its share.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use crate::PATIENCE;

/// One request, newline included; the answer has the same length.
pub const LINE: usize = 64;

struct Client {
    stream: UnixStream,
    request: [u8; LINE],
    expected: [u8; LINE],
    answer: [u8; LINE],
    got: usize,
    left: usize,
}

impl Client {
    fn send(&mut self) -> io::Result<()> {
        // 64 bytes into a stream socket whose peer has read everything: one write takes them all.
        match self.stream.write(&self.request) {
            Ok(LINE) => Ok(()),
            Ok(n) => Err(io::Error::other(format!("a short write ({n} of {LINE} bytes)"))),
            Err(e) => Err(e),
        }
    }
}

/// `count` connected clients.
pub struct Clients {
    epoll: Epoll,
    clients: Vec<Client>,
}

impl Clients {
    /// Connects `count` clients to the server at `path` (blocking connects, so a full backlog
    /// waits for the server's accept), then makes them non-blocking.
    pub fn connect(path: &Path, count: usize) -> io::Result<Clients> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let mut clients = Vec::with_capacity(count);
        for i in 0..count {
            let stream = UnixStream::connect(path)?;
            stream.set_nonblocking(true)?;
            epoll.add(stream.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, i as u64))?;
            // "client 000042 " and letters, 63 bytes, and the newline; the answer is reversed.
            let mut request = [0u8; LINE];
            let head = format!("client {i:06} ");
            for (j, byte) in request.iter_mut().enumerate().take(LINE - 1) {
                *byte = head.as_bytes().get(j).copied().unwrap_or(b'a' + (j % 26) as u8);
            }
            request[LINE - 1] = b'\n';
            let mut expected = request;
            expected[..LINE - 1].reverse();
            clients.push(Client { stream, request, expected, answer: [0; LINE], got: 0, left: 0 });
        }
        Ok(Clients { epoll, clients })
    }

    /// Every client does round trips, all at once, `each` of them or until `limit` has passed
    /// (then each finishes the one it is in); returns the wall time from the first send to the
    /// last answer, and how many round trips were done.
    pub fn run(&mut self, each: usize, limit: Option<Duration>) -> io::Result<(Duration, usize)> {
        let start = Instant::now();
        let deadline = limit.map(|l| start + l);
        let mut active = 0;
        let mut done = 0;
        for client in &mut self.clients {
            client.left = each;
            if each > 0 {
                client.send()?;
                active += 1;
            }
        }
        let mut events = vec![EpollEvent::empty(); 1024];
        let mut progress = Instant::now();
        while active > 0 {
            let n = match self.epoll.wait(&mut events, EpollTimeout::from(100u16)) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                if progress.elapsed() > PATIENCE {
                    let msg = format!("{active} clients had no answer in {} s", PATIENCE.as_secs());
                    return Err(io::Error::new(io::ErrorKind::TimedOut, msg));
                }
                continue;
            }
            progress = Instant::now();
            let expired = deadline.is_some_and(|d| progress >= d);
            for event in &events[..n] {
                let client = &mut self.clients[event.data() as usize];
                // One read per readiness: a partial answer leaves the socket ready or refills it.
                match client.stream.read(&mut client.answer[client.got..]) {
                    Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server hung up")),
                    Ok(k) => client.got += k,
                    Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => continue,
                    Err(e) => return Err(e),
                }
                if client.got < LINE {
                    continue;
                }
                if client.answer != client.expected {
                    let got = String::from_utf8_lossy(&client.answer);
                    return Err(io::Error::other(format!("a wrong answer: {got:?}")));
                }
                client.got = 0;
                client.left -= 1;
                done += 1;
                if client.left > 0 && !expired {
                    client.send()?;
                } else {
                    active -= 1;
                }
            }
        }
        Ok((start.elapsed(), done))
    }
}
