//! serve_many: the server runs in a forked worker of its own (SIGPIPE at its default action);
//! the test, its threads and peer programs are the clients, and `/proc` shows what the server's
//! loop is doing.

use std::fs;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ipc_katas::grade;
use ipc_katas::grader::{Failure, Handshake, Sandbox, Worker};
use ipc_katas::kit::{Hint, Removed, fd, process, signals};
use katas::event_loop::{self, MAX_LINE, Served};

use crate::peer::{self, EventLoop};

fn answer(line: &[u8]) -> Vec<u8> {
    EventLoop::serve_many_answer(line)
}

fn serve_many_lines(id: u64, count: usize) -> Vec<Vec<u8>> {
    EventLoop::serve_many_lines(id, count)
}

/// How long a client waits for an answer before it says the server hangs.
const PATIENCE: Duration = Duration::from_secs(2);
/// The line that makes the server's handler wait until the test writes a byte to its gate.
const WAIT: &[u8] = b"wait for the test";
/// The system calls an epoll loop sleeps in.
const EPOLL_WAITS: &[libc::c_long] = &[libc::SYS_epoll_wait, libc::SYS_epoll_pwait, libc::SYS_epoll_pwait2];
/// `EPOLLET` as `/proc/PID/fdinfo` shows it in a `tfd:` line's `events:`.
const EPOLLET: u32 = 1 << 31;

/// The kata's server in a forked worker: its socket path, the test's end of the stop pipe and
/// of the handler's gate, and the pipe on which it reports what it served.
struct Server {
    worker: Option<Worker>,
    pid: libc::pid_t,
    path: PathBuf,
    stop: Option<OwnedFd>,
    /// Written just before the test stops the loop: serve_many may return from then on.
    stopping: OwnedFd,
    gate: OwnedFd,
    served: OwnedFd,
    _socket: Removed,
}

/// How the test tells the loop to stop.
#[derive(Clone, Copy, Debug)]
enum Stop {
    Byte,
    EndOfFile,
}

impl Server {
    /// Binds the socket, then forks the server; with `hold`, the server waits for it before it
    /// calls serve_many. After the fork the test ignores SIGPIPE (the server does not).
    fn start(s: &Sandbox, hold: Option<&Handshake>) -> Result<Server, Failure> {
        let path = s.path("server.sock");
        let socket = Removed(path.clone());
        let listener = UnixListener::bind(&path).map_err(Failure::test_error("bind the server's socket"))?;
        let (stop_r, stop_w) = fd::pipe()?;
        let (gate_r, gate_w) = fd::pipe()?;
        let (served_r, served_w) = fd::pipe()?;
        let (stopping_r, stopping_w) = fd::pipe()?;
        let theirs = [stop_w.as_raw_fd(), gate_w.as_raw_fd(), served_r.as_raw_fd(), stopping_w.as_raw_fd()];
        // The closure owns the listener and the server's ends: the test's copies close when the
        // closure is dropped here, after the fork.
        let worker = s.fork("the server (serve_many in a process of its own)", move || {
            for fd in theirs {
                // SAFETY: this process's copies of the test's ends; the test keeps its own.
                unsafe { libc::close(fd) };
            }
            if let Some(hold) = hold {
                hold.wait("the test to connect its clients before the loop starts")?;
            }
            let handler = move |line: &[u8]| {
                if line == WAIT && fd::poll_readable(&gate_r, 3000) {
                    fd::read_byte(&gate_r);
                }
                answer(line)
            };
            let served = event_loop::serve_many(listener, stop_r, handler).map_err(Failure::kata("serve_many"))?;
            if !fd::poll_readable(&stopping_r, 0) {
                return Err(Failure::wrong(format!(
                    "serve_many returned Ok({served:?}) while stop was not readable: it must serve until the test \
                     writes a byte to stop or closes it, even when no client is connected"
                )));
            }
            let mut report = [0u8; 16];
            report[..8].copy_from_slice(&(served.clients as u64).to_le_bytes());
            report[8..].copy_from_slice(&(served.lines as u64).to_le_bytes());
            nix::unistd::write(&served_w, &report).map_err(Failure::test_error("report what was served"))?;
            Ok(())
        })?;
        signals::ignore_sigpipe();
        let pid = worker.pid();
        Ok(Server {
            worker: Some(worker),
            pid,
            path,
            stop: Some(stop_w),
            stopping: stopping_w,
            gate: gate_w,
            served: served_r,
            _socket: socket,
        })
    }

    /// `failure`, unless the server died or returned: then its own report, which says why.
    fn blame(&mut self, failure: Failure) -> Failure {
        let until = Instant::now() + Duration::from_millis(300);
        while self.worker.as_ref().is_some_and(|w| !w.has_exited()) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        match self.worker.take_if(|w| w.has_exited()) {
            Some(worker) => match worker.join() {
                Err(theirs) => theirs,
                Ok(()) => failure,
            },
            None => failure,
        }
    }

    /// Connects a client; its reads give up after [`PATIENCE`].
    fn connect(&mut self, name: &str) -> Result<Client, Failure> {
        let stream = match UnixStream::connect(&self.path) {
            Ok(stream) => stream,
            Err(e) => return Err(self.blame(Failure::wrong(format!("{name} could not connect to the server: {e}")))),
        };
        stream.set_read_timeout(Some(PATIENCE)).map_err(Failure::test_error("set a read timeout"))?;
        let reader = BufReader::new(stream.try_clone().map_err(Failure::test_error("clone a client socket"))?);
        Ok(Client { stream, reader, name: name.to_string() })
    }

    /// Waits until the server sleeps in epoll_wait (5 looks over 20 ms in a row); a server that
    /// died is blamed, one that never sleeps there is a hang.
    fn asleep(&mut self, s: &Sandbox, after: &str) -> Result<(), Failure> {
        s.phase(format!("waiting for the server to sleep in epoll_wait after {after}"));
        if asleep_in_epoll_wait(self.pid, Duration::from_millis(20)) {
            return Ok(());
        }
        let seen = process::syscall_of(self.pid).map(|c| c.number);
        Err(self.blame(Failure::hang(format!(
            "after {after}, the server was never seen asleep in epoll_wait for 20 ms within 3 s (last seen in \
             system call {seen:?}, state {:?}): does it wait in epoll_wait, and only there?",
            process::state(self.pid)
        ))))
    }

    /// Waits until the handler holds the answer to a [`WAIT`] line (it polls its gate).
    fn in_handler(&mut self, s: &Sandbox, line: &str) -> Result<(), Failure> {
        s.phase(format!("waiting for the handler to hold the answer to {line}"));
        let until = Instant::now() + s.bounded(PATIENCE);
        let polling =
            |pid| process::syscall_of(pid).is_some_and(|c| [libc::SYS_poll, libc::SYS_ppoll].contains(&c.number));
        while !polling(self.pid) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        if polling(self.pid) {
            return Ok(());
        }
        Err(self.blame(Failure::hang(format!("the server did not call the handler for {line} within 2 s"))))
    }

    /// Lets the handler that got [`WAIT`] go on.
    fn open_gate(&self) -> Result<(), Failure> {
        if fd::write_byte(&self.gate) {
            Ok(())
        } else {
            Err(Failure::crash("the test could not open the handler's gate"))
        }
    }

    /// Stops the loop and returns what serve_many said it served.
    fn stop(mut self, s: &Sandbox, how: Stop) -> Result<Served, Failure> {
        s.expect(fd::write_byte(&self.stopping), || "the test could not say that it stops the loop".to_string())?;
        let what = match how {
            Stop::Byte => {
                let written = self.stop.as_ref().is_some_and(fd::write_byte);
                s.expect(written, || "the test could not write to the stop pipe".to_string())?;
                "a byte was written to stop"
            }
            Stop::EndOfFile => {
                drop(self.stop.take());
                "the write end of stop was closed (end-of-file)"
            }
        };
        s.phase(format!("waiting for serve_many to return after {what}"));
        if !fd::poll_readable(&self.served, s.bounded(PATIENCE).as_millis() as i32) {
            let failure = Failure::hang(format!(
                "serve_many did not return within {} s after {what}: stop is readable then, and the loop must \
                 return as soon as epoll_wait reports it (end-of-file makes a pipe readable too: read gives 0)",
                PATIENCE.as_secs()
            ));
            return Err(self.blame(failure));
        }
        let mut report = [0u8; 16];
        let n = nix::unistd::read(&self.served, &mut report).unwrap_or(0);
        if let Some(worker) = self.worker.take() {
            worker.join()?;
        }
        s.expect(n == 16, || "serve_many's process ended without saying what it served".to_string())?;
        let word = |at: usize| u64::from_le_bytes(report[at..at + 8].try_into().expect("8 bytes")) as usize;
        Ok(Served { clients: word(0), lines: word(8) })
    }
}

/// A client the test plays itself: its socket and a buffered reader of its answers.
struct Client {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
    name: String,
}

impl Client {
    fn send(&mut self, server: &mut Server, bytes: &[u8]) -> Result<(), Failure> {
        match self.stream.write_all(bytes) {
            Ok(()) => Ok(()),
            Err(e) => {
                Err(server.blame(Failure::wrong(format!("{} could not send {} bytes: {e}", self.name, bytes.len()))))
            }
        }
    }

    fn send_lines(&mut self, server: &mut Server, lines: &[Vec<u8>]) -> Result<(), Failure> {
        let bytes: Vec<u8> = lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
        self.send(server, &bytes)
    }

    /// The next answer line, without its newline.
    fn answer(&mut self) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line)?;
        match line.pop() {
            Some(b'\n') => Ok(line),
            _ => Err(io::Error::new(ErrorKind::UnexpectedEof, "the connection ended before a whole answer line")),
        }
    }

    /// Reads the answers to `lines`, in order, and checks each.
    fn expect_answers(&mut self, s: &Sandbox, server: &mut Server, lines: &[Vec<u8>]) -> Result<(), Failure> {
        s.phase(format!("waiting for {}'s {} answers", self.name, lines.len()));
        for (i, line) in lines.iter().enumerate() {
            let got = match self.answer() {
                Ok(got) => got,
                Err(e) => return Err(server.blame(self.no_answer(i, lines.len(), &e))),
            };
            let want = answer(line);
            if got != want {
                return Err(Failure::wrong(format!(
                    "{}'s answer {i} of {} is not the answer to its line {i}:\n{}",
                    self.name,
                    lines.len(),
                    ipc_katas::grader::diff_bytes(&want, &got).unwrap_or_default()
                ))
                .hint("keep each client's unfinished line and its unsent answers in buffers of its own"));
            }
        }
        Ok(())
    }

    fn no_answer(&self, i: usize, n: usize, e: &io::Error) -> Failure {
        let name = &self.name;
        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
            Failure::hang(format!(
                "{name} had {i} of its {n} answers, then none for {} s: its lines are in the server's socket, \
                 but the loop does not get to them (an edge-triggered descriptor read or accepted only once per \
                 edge, or a blocking call in the loop)",
                PATIENCE.as_secs()
            ))
        } else {
            Failure::wrong(format!("{name} had {i} of its {n} answers, then the connection ended: {e}"))
        }
    }

    /// Expects the server to close this client without an answer: end-of-file or a reset.
    fn expect_closed(&mut self, server: &mut Server, why: &str) -> Result<(), Failure> {
        match self.answer() {
            Err(e) if matches!(e.kind(), ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset) => Ok(()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(server.blame(Failure::wrong(format!(
                    "{} {why}, but it was neither answered nor closed for {} s",
                    self.name,
                    PATIENCE.as_secs()
                ))))
            }
            Err(e) => Err(Failure::wrong(format!("{} {why}; reading from it failed: {e}", self.name))),
            Ok(got) => Err(Failure::wrong(format!(
                "{} {why}, but it was answered ({} bytes): a line longer than MAX_LINE ({MAX_LINE} bytes) must \
                 close its client",
                self.name,
                got.len()
            ))),
        }
    }

    /// Bytes of answers waiting in this client's socket (`FIONREAD`, `man 7 unix`).
    fn waiting(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through the valid pointer; the socket is borrowed.
        let r = unsafe { libc::ioctl(self.stream.as_raw_fd(), libc::FIONREAD, &mut n) };
        if r == 0 { n as usize } else { 0 }
    }
}

/// Whether `pid` is seen asleep (`S`) in epoll_wait in every look, one a millisecond, for `span`
/// in a row, within 3 s.
fn asleep_in_epoll_wait(pid: libc::pid_t, span: Duration) -> bool {
    let started = Instant::now();
    let mut since: Option<Instant> = None;
    while started.elapsed() < Duration::from_secs(3) {
        if matches!(process::state(pid), Some('Z' | 'X') | None) {
            return false;
        }
        let waiting = process::syscall_of(pid).is_some_and(|c| EPOLL_WAITS.contains(&c.number))
            && process::state(pid) == Some('S');
        if !waiting {
            since = None;
        } else if since.get_or_insert_with(Instant::now).elapsed() >= span {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

fn lines_of(tag: &str, count: usize) -> Vec<Vec<u8>> {
    (0..count).map(|i| format!("{tag} {i:06} {}", "y".repeat(i % 40)).into_bytes()).collect()
}

fn bytes_of(lines: &[Vec<u8>]) -> usize {
    lines.iter().map(|l| l.len() + 1).sum()
}

fn expect_served(s: &Sandbox, served: Served, clients: usize, lines: usize) -> Result<(), Failure> {
    s.expect(served == Served { clients, lines }, || {
        format!(
            "serve_many returned {served:?}, but it served {clients} clients and answered {lines} lines: count \
             each accepted client once and each answered line once"
        )
    })
}

/// One descriptor of the server: its number, what it links to, and its `flags:` (octal).
struct ServerFd {
    number: i32,
    link: String,
    flags: u32,
}

fn server_fds(pid: libc::pid_t) -> Vec<ServerFd> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    let mut fds: Vec<ServerFd> = dir
        .filter_map(|e| {
            let e = e.ok()?;
            let number: i32 = e.file_name().to_str()?.parse().ok()?;
            let link = fs::read_link(e.path()).ok()?.to_string_lossy().into_owned();
            let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{number}")).ok()?;
            let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?.trim();
            Some(ServerFd { number, link, flags: u32::from_str_radix(flags, 8).ok()? })
        })
        .collect();
    fds.sort_by_key(|f| f.number);
    fds
}

/// The `tfd:` lines of an epoll descriptor's fdinfo (`man 5 proc`): (target fd, events).
fn epoll_targets(pid: libc::pid_t, epfd: i32) -> Vec<(i32, u32)> {
    let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{epfd}")).unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next()? == "tfd:").then_some(())?;
            let fd = words.next()?.parse().ok()?;
            (words.next()? == "events:").then_some(())?;
            Some((fd, u32::from_str_radix(words.next()?, 16).ok()?))
        })
        .collect()
}

fn sockets_of(pid: libc::pid_t) -> Vec<i32> {
    server_fds(pid).into_iter().filter(|f| f.link.starts_with("socket:")).map(|f| f.number).collect()
}

#[test]
fn eight_client_programs_at_once_each_get_their_own_answers_in_order() {
    const CLIENTS: u64 = 8;
    const LINES: usize = 20;
    grade!().run(|s| {
        let mut server = Server::start(s, None)?;
        let mut clients = Vec::new();
        for id in 0..CLIENTS {
            clients.push(peer::start(s, EventLoop::LineClient { path: server.path.clone(), id, lines: LINES })?);
        }
        for client in &mut clients {
            if let Err(failure) = client.join() {
                let text = failure.outcome().text().to_string();
                let failure = if text.contains(EventLoop::NO_ANSWER) { Failure::hang(text) } else { failure };
                return Err(server.blame(failure));
            }
        }
        let served = server.stop(s, Stop::Byte)?;
        expect_served(s, served, CLIENTS as usize, CLIENTS as usize * LINES)
    });
}

#[test]
fn twenty_clients_connected_before_the_loop_starts_are_all_answered() {
    const CLIENTS: usize = 20;
    grade!().run(|s| {
        let hold = Handshake::new()?;
        let mut server = Server::start(s, Some(&hold))?;
        let mut clients = Vec::new();
        for id in 0..CLIENTS {
            let mut client = server.connect(&format!("client {id} (connected before the loop started)"))?;
            client.send_lines(&mut server, &serve_many_lines(id as u64, 1))?;
            clients.push(client);
        }
        hold.notify()?;
        for (id, client) in clients.iter_mut().enumerate() {
            client
                .expect_answers(s, &mut server, &serve_many_lines(id as u64, 1))
                .hint("one edge of the listener may stand for many waiting connections: accept until WouldBlock")?;
        }
        let served = server.stop(s, Stop::Byte)?;
        expect_served(s, served, CLIENTS, CLIENTS)
    });
}

#[test]
fn a_line_that_arrives_in_pieces_is_answered_once_whole() {
    grade!().run(|s| {
        let mut server = Server::start(s, None)?;
        let mut client = server.connect("the client")?;
        let pieces: [&[u8]; 3] = [b"hel", b"lo, wor", b"ld\nand the next line\n"];
        for (i, piece) in pieces.iter().enumerate() {
            client.send(&mut server, piece)?;
            server.asleep(s, &format!("piece {} of the line", i + 1))?;
        }
        let lines = [b"hello, world".to_vec(), b"and the next line".to_vec()];
        client
            .expect_answers(s, &mut server, &lines)
            .hint("a read gives whatever bytes have arrived, not a line: keep them until the newline comes")
    });
}

#[test]
fn a_burst_of_lines_is_all_answered_before_the_server_sleeps_again() {
    grade!().run(|s| {
        let mut server = Server::start(s, None)?;
        let mut client = server.connect("the bursting client")?;
        let lines = lines_of("burst", 2000);
        let expected: usize = lines.iter().map(|l| answer(l).len() + 1).sum();
        s.phase(format!("sending {} lines ({} bytes) in one write, reading nothing", lines.len(), bytes_of(&lines)));
        client.send_lines(&mut server, &lines)?;
        // The client must not read yet: taking answers frees room in the server's socket, and
        // that wake-up reports EPOLLIN again too, which would hide a loop that reads once an edge.
        server.asleep(s, "the burst")?;
        let waiting = client.waiting();
        s.expect(waiting == expected, || {
            format!(
                "after a burst of {} lines in one write, the server went to sleep in epoll_wait with {waiting} of \
                 the {expected} bytes of answers sent: the rest of the lines are in its socket, and no new edge \
                 will come for them",
                lines.len()
            )
        })
        .hint("an edge-triggered descriptor reports new data once: read until WouldBlock")?;
        client.expect_answers(s, &mut server, &lines)
    });
}

#[test]
fn the_server_has_one_thread_one_epoll_instance_and_nonblocking_edge_triggered_sockets() {
    const CLIENTS: usize = 3;
    grade!().run(|s| {
        let mut server = Server::start(s, None)?;
        let mut clients = Vec::new();
        for id in 0..CLIENTS {
            let mut client = server.connect(&format!("client {id}"))?;
            let lines = serve_many_lines(id as u64, 2);
            client.send_lines(&mut server, &lines)?;
            client.expect_answers(s, &mut server, &lines)?;
            clients.push(client);
        }
        server.asleep(s, "three clients had their answers")?;
        let pid = server.pid;
        let threads = fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count());
        s.expect(threads == 1, || {
            format!(
                "the server's process has {threads} threads while it serves {CLIENTS} clients: one thread must serve \
                 them all, in one epoll loop"
            )
        })?;
        let ours = fs::read_dir("/proc/self/fd")
            .map(|d| {
                d.filter_map(|e| fs::read_link(e.ok()?.path()).ok()).filter(|l| l.ends_with("[eventpoll]")).count()
            })
            .unwrap_or(0);
        let fds = server_fds(pid);
        let epolls: Vec<&ServerFd> = fds.iter().filter(|f| f.link.ends_with("[eventpoll]")).collect();
        s.expect(epolls.len() == ours + 1, || {
            format!("the server has {} epoll instances open; it needs one for everything", epolls.len() - ours)
        })?;
        let epoll = epolls.iter().max_by_key(|e| epoll_targets(pid, e.number).len()).expect("one epoll instance");
        s.expect(epoll.flags & libc::O_CLOEXEC as u32 != 0, || {
            format!("the epoll descriptor (fd {}) is not close-on-exec: epoll_create1(EPOLL_CLOEXEC)", epoll.number)
        })?;
        let targets = epoll_targets(pid, epoll.number);
        let sockets: Vec<(i32, u32)> = targets
            .iter()
            .copied()
            .filter(|(tfd, _)| fds.iter().any(|f| f.number == *tfd && f.link.starts_with("socket:")))
            .collect();
        s.expect(sockets.len() > CLIENTS, || {
            format!(
                "the epoll instance watches {} sockets, but the listener and {CLIENTS} connected clients are {}: \
                 register each accepted client",
                sockets.len(),
                CLIENTS + 1
            )
        })?;
        for (tfd, events) in sockets {
            let flags = fds.iter().find(|f| f.number == tfd).map_or(0, |f| f.flags);
            s.expect(events & EPOLLET != 0, || {
                format!(
                    "socket fd {tfd} is registered level-triggered (events {events:#x}, no EPOLLET {EPOLLET:#x}): the \
                     kata's loop is edge-triggered, reading each socket until WouldBlock"
                )
            })?;
            s.expect(flags & libc::O_NONBLOCK as u32 != 0, || {
                format!(
                    "socket fd {tfd} in the loop is blocking (flags {flags:o}, no O_NONBLOCK): one read or accept on \
                     it that waits stops every other client"
                )
            })?;
            s.expect(flags & libc::O_CLOEXEC as u32 != 0, || {
                format!("socket fd {tfd} is not close-on-exec (flags {flags:o}): accept4 with SOCK_CLOEXEC")
            })?;
        }
        drop(clients);
        Ok(())
    });
}

/// Sends lines as fast as the server takes them, never reading, until it stops taking them
/// (the server asleep, the socket still full) or `cap` bytes are out; returns the whole lines sent.
fn send_until_the_server_stops_reading(
    s: &Sandbox,
    server: &mut Server,
    client: &mut Client,
    cap: usize,
) -> Result<Vec<Vec<u8>>, Failure> {
    s.phase(format!("sending lines without reading an answer, until the server stops reading (at most {cap} bytes)"));
    client.stream.set_nonblocking(true).map_err(Failure::test_error("make the client non-blocking"))?;
    let (mut lines, mut pending, mut total, mut next) = (Vec::new(), Vec::<u8>::new(), 0usize, 0usize);
    let mut whole = 0usize; // bytes of `lines` entirely sent
    let mut at = 0usize; // bytes of `pending` sent
    loop {
        if at == pending.len() {
            if total >= cap {
                break;
            }
            pending.clear();
            at = 0;
            while pending.len() < 64 * 1024 {
                let line = format!("late {next:08} {}", "z".repeat(next % 20)).into_bytes();
                pending.extend_from_slice(&line);
                pending.push(b'\n');
                lines.push(line);
                next += 1;
            }
        }
        match client.stream.write(&pending[at..]) {
            Ok(n) => {
                at += n;
                total += n;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let mut out = [libc::pollfd { fd: client.stream.as_raw_fd(), events: libc::POLLOUT, revents: 0 }];
                // SAFETY: one valid pollfd for the call.
                if unsafe { libc::poll(out.as_mut_ptr(), 1, 20) } > 0 {
                    continue;
                }
                if !asleep_in_epoll_wait(server.pid, Duration::from_millis(50)) {
                    return Err(server.blame(Failure::hang(format!(
                        "the client sent {total} bytes of lines, then its socket stayed full, and the server was not \
                         seen asleep in epoll_wait for 50 ms within 3 s: it neither reads nor waits for work"
                    ))));
                }
                // SAFETY: as above, without waiting.
                if unsafe { libc::poll(out.as_mut_ptr(), 1, 0) } == 0 {
                    break;
                }
            }
            Err(e) => return Err(server.blame(Failure::wrong(format!("the client's send failed: {e}")))),
        }
    }
    client.stream.set_nonblocking(false).map_err(Failure::test_error("make the client blocking"))?;
    // Only the lines sent whole are answered.
    let mut kept = Vec::new();
    for line in lines {
        if whole + line.len() + 1 > total {
            break;
        }
        whole += line.len() + 1;
        kept.push(line);
    }
    Ok(kept)
}

#[test]
fn a_client_that_reads_only_after_sending_a_megabyte_of_lines_gets_every_answer() {
    grade!().run(|s| {
        let mut server = Server::start(s, None)?;
        let mut client = server.connect("the late reader")?;
        let lines = send_until_the_server_stops_reading(s, &mut server, &mut client, 6 << 20)?;
        client.expect_answers(s, &mut server, &lines).hint(
            "send gives EAGAIN when the client's socket is full: keep the unsent answers, register EPOLLOUT, and \
             send the rest when it says there is room",
        )
    });
}

#[test]
fn a_client_that_reads_none_of_its_answers_is_not_read_without_bound() {
    grade!().run(|s| {
        let mut server = Server::start(s, None)?;
        let mut client = server.connect("the client that does not read")?;
        let lines = send_until_the_server_stops_reading(s, &mut server, &mut client, 6 << 20)?;
        let sent = bytes_of(&lines);
        s.expect(sent < 3 << 20, || {
            format!(
                "the server read {sent} bytes of lines from a client that read none of the answers: it keeps every \
                 answer in memory, without bound. Stop reading a client whose unsent answers pile up (a MiB), and \
                 read it again once it has taken them"
            )
        })?;
        client.expect_answers(s, &mut server, &lines)
    });
}

#[test]
fn a_client_that_sends_megabytes_does_not_starve_a_small_one() {
    grade!().run(|s| {
        let mut server = Server::start(s, None)?;
        let big = server.connect("the big client")?;
        let writer = big.stream.try_clone().map_err(Failure::test_error("clone the big client's socket"))?;
        writer.set_write_timeout(Some(Duration::from_millis(100))).map_err(Failure::test_error("set a timeout"))?;
        let chunk: Vec<u8> = (0..640).flat_map(|i| format!("big {i:04} {}\n", "b".repeat(90)).into_bytes()).collect();
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            // The big client writes 100-byte lines as fast as the server takes them, never reading.
            let sending = scope.spawn(|| {
                let (mut at, mut total) = (0usize, 0usize);
                while !done.load(Ordering::Relaxed) && total < 256 << 20 {
                    match (&writer).write(&chunk[at..]) {
                        Ok(n) => {
                            at = (at + n) % chunk.len();
                            total += n;
                        }
                        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                        Err(_) => break,
                    }
                }
                total
            });
            let result = (|| {
                s.phase("waiting for the server to answer the big client's first 500 lines");
                let until = Instant::now() + s.bounded(Duration::from_secs(3));
                while big.waiting() < 500 * 7
                    && Instant::now() < until
                    && server.worker.as_ref().is_some_and(|w| !w.has_exited())
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                if big.waiting() < 500 * 7 {
                    return Err(server.blame(Failure::hang(format!(
                        "the big client sent lines for 3 s and had {} bytes of answers",
                        big.waiting()
                    ))));
                }
                let mut small = server.connect("the small client")?;
                for round in 0..3 {
                    let line = format!("small {round}").into_bytes();
                    s.phase(format!("waiting for the small client's answer {round} while the big client sends"));
                    let started = Instant::now();
                    small.send_lines(&mut server, std::slice::from_ref(&line))?;
                    small
                        .stream
                        .set_read_timeout(Some(Duration::from_secs(1)))
                        .map_err(Failure::test_error("time out"))?;
                    let got = small.answer();
                    let took = started.elapsed();
                    match got {
                        Ok(got) if got == answer(&line) && took <= Duration::from_secs(1) => {}
                        Ok(got) if got != answer(&line) => {
                            return Err(Failure::wrong(format!("the small client's answer {round} is wrong: {got:?}")));
                        }
                        _ => {
                            return Err(server.blame(Failure::wrong(format!(
                                "the small client's line {round} had no answer within 1 s while another client sent \
                                 megabytes of lines: the loop reads the big client on and on, as long as it has data"
                            )))
                            .hint("read each ready client at most a turn (64 KiB), then let the others have theirs; \
                                   keep a queue of clients that had more to read, and poll epoll_wait with timeout 0 \
                                   while it is not empty"));
                        }
                    }
                }
                Ok(())
            })();
            done.store(true, Ordering::Relaxed);
            let _ = sending.join();
            result
        })?;
        drop(big);
        drop(writer);
        Ok(())
    });
}

#[test]
fn hung_up_clients_are_closed_and_deregistered_and_the_server_sleeps_again() {
    const CLIENTS: usize = 5;
    grade!().run(|s| {
        let mut server = Server::start(s, None)?;
        server.asleep(s, "starting")?;
        let pid = server.pid;
        let sockets_before = sockets_of(pid).len();
        let mut clients = Vec::new();
        for id in 0..CLIENTS {
            let mut client = server.connect(&format!("client {id}"))?;
            let lines = serve_many_lines(id as u64, 3);
            client.send_lines(&mut server, &lines)?;
            client.expect_answers(s, &mut server, &lines)?;
            clients.push(client);
        }
        s.phase(format!("closing {CLIENTS} clients that had all their answers"));
        drop(clients);
        let until = Instant::now() + s.bounded(PATIENCE);
        while sockets_of(pid).len() > sockets_before && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
        let left = sockets_of(pid).len().saturating_sub(sockets_before);
        s.expect(left == 0, || {
            format!(
                "{CLIENTS} clients hung up, but {} s later the server still holds {left} of their sockets: on \
                 end-of-file or EPOLLHUP, deregister the client and close its socket",
                PATIENCE.as_secs()
            )
        })?;
        let epoll = server_fds(pid).into_iter().find(|f| f.link.ends_with("[eventpoll]"));
        let watched = epoll.map_or(0, |e| epoll_targets(pid, e.number).len());
        s.expect(watched <= 2, || {
            format!("after every client hung up, the epoll instance still watches {watched} descriptors, not 2 (the listener and stop)")
        })?;
        s.phase("watching the server sleep after the hang-ups");
        let sleep = process::watch_sleep(pid, Duration::from_millis(100), Duration::from_secs(2));
        match sleep {
            process::Sleep::Asleep => {}
            process::Sleep::Ended => return Err(server.blame(Failure::wrong("the server ended after the hang-ups"))),
            process::Sleep::Awake { running, looks } => {
                return Err(Failure::wrong(format!(
                    "after every client hung up, the server never slept for 100 ms: it was running in {running} of \
                     {looks} looks (a hung-up descriptor left in the loop reports itself again and again)"
                )));
            }
        }
        let served = server.stop(s, Stop::Byte)?;
        expect_served(s, served, CLIENTS, CLIENTS * 3)
    });
}

#[test]
fn a_client_that_shuts_down_writing_gets_every_answer_then_end_of_file() {
    grade!().run(|s| {
        let mut server = Server::start(s, None)?;
        let mut client = server.connect("the half-closing client")?;
        // The handler holds the first answer while the rest and the end-of-file arrive, so that the
        // server reads the lines and the end-of-file in one go, before it sends any answer.
        client.send_lines(&mut server, &[WAIT.to_vec()])?;
        server.in_handler(s, "the first line")?;
        let mut lines = lines_of("half", 300);
        client.send_lines(&mut server, &lines)?;
        // An unfinished line at the end is never answered.
        client.send(&mut server, b"no newline")?;
        client.stream.shutdown(Shutdown::Write).map_err(Failure::test_error("shutdown(Write)"))?;
        server.open_gate()?;
        lines.insert(0, WAIT.to_vec());
        client.expect_answers(s, &mut server, &lines).hint(
            "end-of-file from a client (read gives 0) ends its requests, not its answers: send every answer, \
             then close it",
        )?;
        s.phase("waiting for end-of-file after the last answer");
        let mut rest = Vec::new();
        match client.reader.read_to_end(&mut rest) {
            Ok(_) if rest.is_empty() => {}
            Ok(_) => {
                return Err(Failure::wrong(format!(
                    "after the {} answers the client had {} more bytes before end-of-file: an unfinished line \
                     (no newline) is not a request",
                    lines.len(),
                    rest.len()
                )));
            }
            Err(e) => {
                return Err(server.blame(Failure::hang(format!(
                    "the client shut down writing and had every answer, but no end-of-file for {} s ({e}): close a \
                     client once it has ended its requests and has all its answers",
                    PATIENCE.as_secs()
                ))));
            }
        }
        let served = server.stop(s, Stop::Byte)?;
        expect_served(s, served, 1, lines.len())
    });
}

#[test]
fn a_client_that_closes_before_its_answer_does_not_kill_the_server() {
    grade!().run(|s| {
        let mut server = Server::start(s, None)?;
        let mut leaving = server.connect("the client that leaves")?;
        leaving.send_lines(&mut server, &[WAIT.to_vec()])?;
        server.in_handler(s, "the line of the client that leaves")?;
        drop(leaving);
        server.open_gate()?;
        let mut other = server.connect("the next client")?;
        let lines = serve_many_lines(1, 3);
        other.send_lines(&mut server, &lines)?;
        other.expect_answers(s, &mut server, &lines).hint(
            "a client that closed makes send fail with EPIPE, and raise SIGPIPE, whose default action ends the \
             process: send with MSG_NOSIGNAL",
        )?;
        let served = server.stop(s, Stop::Byte)?;
        expect_served(s, served, 2, 4)
    });
}

#[test]
fn a_line_of_max_line_bytes_is_answered_and_a_longer_one_closes_only_its_client() {
    grade!().run(|s| {
        let mut server = Server::start(s, None)?;
        let mut longest = server.connect(&format!("the client with a line of {MAX_LINE} bytes"))?;
        let mut over = server.connect(&format!("the client with a line of {} bytes", MAX_LINE + 1))?;
        let mut endless = server.connect("the client with 20000 bytes and no newline")?;
        let mut other = server.connect("the client beside them")?;
        over.send_lines(&mut server, &[vec![b'o'; MAX_LINE + 1]])?;
        endless.send(&mut server, &[b'e'; 20000])?;
        let line = vec![b'l'; MAX_LINE];
        longest.send_lines(&mut server, std::slice::from_ref(&line))?;
        longest
            .expect_answers(s, &mut server, std::slice::from_ref(&line))
            .hint(format!("a line of exactly MAX_LINE ({MAX_LINE}) bytes, without its newline, is allowed"))?;
        s.phase("waiting for the clients with too long lines to be closed");
        over.expect_closed(&mut server, &format!("sent a line of {} bytes", MAX_LINE + 1))?;
        endless.expect_closed(&mut server, "sent 20000 bytes without a newline (a line already too long)")?;
        let lines = serve_many_lines(3, 2);
        other.send_lines(&mut server, &lines)?;
        other.expect_answers(s, &mut server, &lines)?;
        let served = server.stop(s, Stop::Byte)?;
        expect_served(s, served, 4, 3)
    });
}

#[test]
fn a_byte_on_stop_ends_the_loop_and_it_returns_what_it_served() {
    grade!().run(|s| {
        let mut server = Server::start(s, None)?;
        for id in 0..3 {
            let mut client = server.connect(&format!("client {id}"))?;
            let lines = serve_many_lines(id, 4);
            client.send_lines(&mut server, &lines)?;
            client.expect_answers(s, &mut server, &lines)?;
        }
        let mut staying = server.connect("the client still connected at the stop")?;
        staying.send_lines(&mut server, &serve_many_lines(7, 1))?;
        staying.expect_answers(s, &mut server, &serve_many_lines(7, 1))?;
        let served = server.stop(s, Stop::Byte)?;
        expect_served(s, served, 4, 13)
    });
}

#[test]
fn closing_stop_ends_the_loop_too() {
    grade!().run(|s| {
        let mut server = Server::start(s, None)?;
        let mut client = server.connect("the client")?;
        let lines = serve_many_lines(0, 2);
        client.send_lines(&mut server, &lines)?;
        client.expect_answers(s, &mut server, &lines)?;
        let served = server.stop(s, Stop::EndOfFile)?;
        expect_served(s, served, 1, 2)
    });
}

#[test]
fn a_stop_with_no_client_ever_connected_returns_nothing_served() {
    grade!().run(|s| {
        let mut server = Server::start(s, None)?;
        server.asleep(s, "starting with no client")?;
        let served = server.stop(s, Stop::Byte)?;
        expect_served(s, served, 0, 0)
    });
}
