//! Peer commands of the event_loop topic: clients, wakers, signal senders and programs to run,
//! each a separate program. They never use the code under test: each one checks the learner's
//! other side.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::socket::{ControlMessageOwned, MsgFlags, UnixAddr, recvmsg};
use serde::{Deserialize, Serialize};

use super::{FAILED, PeerResult, failed};

#[derive(Debug, Serialize, Deserialize)]
pub enum EventLoop {
    /// wake_with_eventfd: connect to `path`, receive one descriptor (`SCM_RIGHTS`, the test's
    /// eventfd), write each of `wakes` to it as a u64 (8 bytes), then exit.
    WakeWithEventfd { path: PathBuf, wakes: Vec<u64> },
    /// signals_as_events: send process `to` each signal in order: `(signal, None)` with `kill`,
    /// `(signal, Some(value))` with `sigqueue` and that value.
    SignalsAsEvents { to: u32, send: Vec<(i32, Option<i32>)> },
    /// exec_hygiene: the program the kata starts (or one the test starts meanwhile). Prints what
    /// it was given (see [`exec_listing`]); then, with `hold`, says it runs by writing a byte
    /// into the FIFO `hold.0` and waits for the FIFO `hold.1` to hang up; then reads its stdin to
    /// end-of-file, waiting at most [`EventLoop::EXEC_PATIENCE_MS`] for each read, and says what it read.
    ExecInspect { hold: Option<(PathBuf, PathBuf)> },
    /// exec_hygiene: sends its parent (the caller of run_filter) SIGALRM `times` times, each
    /// once the parent sleeps (`/proc/<ppid>/stat` state `S`), before it reads any of its stdin,
    /// so that each signal interrupts a wait of the parent's; then does what `ExecInspect` does.
    ExecInterruptParent { times: u32 },
    /// exec_hygiene: copies its stdin to its stdout as it reads, like cat.
    ExecEcho,
    /// exec_hygiene: exits with `code` without reading its stdin, or first kills itself with
    /// `signal`.
    ExitWithoutReading { code: i32, signal: Option<i32> },
    /// serve_many: connect to `path`, send client `id`'s `lines` request lines
    /// ([`EventLoop::serve_many_lines`]), the first half one at a time and the rest at once, and expect
    /// each answer ([`EventLoop::serve_many_answer`]) in order.
    LineClient { path: PathBuf, id: u64, lines: usize },
    /// A child for pidfd_supervisor: writes its pid (4 bytes, native order) to stdout, waits for
    /// one byte or end-of-file on stdin, then raises `signal` if there is one, else exits with
    /// `code`.
    PidfdChild { code: i32, signal: Option<i32> },
}

impl EventLoop {
    pub fn run(self) -> PeerResult {
        match self {
            EventLoop::WakeWithEventfd { path, wakes } => wake_with_eventfd(&path, &wakes),
            EventLoop::SignalsAsEvents { to, send } => signals_as_events(to, &send),
            EventLoop::ExecInspect { hold } => exec_inspect(hold.as_ref().map(|(r, g)| (r.as_path(), g.as_path()))),
            EventLoop::ExecInterruptParent { times } => {
                interrupt_parent(times);
                exec_inspect(None)
            }
            EventLoop::ExecEcho => exec_echo(),
            EventLoop::ExitWithoutReading { code, signal } => exit_without_reading(code, signal),
            EventLoop::LineClient { path, id, lines } => line_client(&path, id, lines),
            EventLoop::PidfdChild { code, signal } => pidfd_child(code, signal),
        }
    }

    /// How long `ExecInspect` waits for more of its stdin, or for end-of-file, before it says so.
    pub const EXEC_PATIENCE_MS: i32 = 2000;

    /// FNV-1a of `bytes`, as `ExecInspect` prints it for what it read.
    pub fn exec_checksum(bytes: &[u8]) -> String {
        format!("{:08x}", bytes.iter().fold(0x811c_9dc5u32, |h, &b| (h ^ b as u32).wrapping_mul(0x0100_0193)))
    }

    /// What a line client's failure says when the server did not answer in time (a hang, not a
    /// wrong answer).
    pub const NO_ANSWER: &str = "no answer within";

    /// The answer the serve_many tests' handler gives: `re:` and the line, or, for a line that starts
    /// with `big ` (a client that sends megabytes), `big ok` after 20 µs of work.
    #[allow(dead_code, reason = "each test binary includes every topic's peer; only event_loop serves lines")]
    pub fn serve_many_answer(line: &[u8]) -> Vec<u8> {
        if line.starts_with(b"big ") {
            std::thread::sleep(Duration::from_micros(20));
            return b"big ok".to_vec();
        }
        [&b"re:"[..], line].concat()
    }

    /// Client `id`'s request lines, without their newlines, of lengths from 10 to about 330 bytes.
    #[allow(dead_code, reason = "each test binary includes every topic's peer; only event_loop serves lines")]
    pub fn serve_many_lines(id: u64, count: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| format!("client {id} line {i} {}", "x".repeat((i * 37 + id as usize * 11) % 300)).into_bytes())
            .collect()
    }
}

/// How long a trusted peer waits for the test before it says so.
const PATIENCE: Duration = Duration::from_secs(3);

fn wake_with_eventfd(path: &Path, wakes: &[u64]) -> PeerResult {
    let stream = UnixStream::connect(path).map_err(failed("connecting to the test"))?;
    stream.set_read_timeout(Some(PATIENCE)).map_err(failed("setting a read timeout"))?;
    let mut byte = [0u8; 1];
    let mut data = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let message = recvmsg::<UnixAddr>(stream.as_raw_fd(), &mut data, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(|e| (FAILED, format!("receiving the eventfd (recvmsg): {e}")))?;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for control in message.cmsgs().map_err(|e| (FAILED, format!("reading the control messages: {e}")))? {
        if let ControlMessageOwned::ScmRights(rights) = control {
            // SAFETY: the kernel installed these descriptors in this process for us.
            fds.extend(rights.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    let [eventfd] = &fds[..] else {
        return Err((FAILED, format!("the peer got {} descriptors from the test, not one", fds.len())));
    };
    for (i, n) in wakes.iter().enumerate() {
        match nix::unistd::write(eventfd, &n.to_ne_bytes()) {
            Ok(8) => {}
            other => return Err((FAILED, format!("wake {i} ({n}): writing 8 bytes to the eventfd gave {other:?}"))),
        }
    }
    Ok(())
}

fn signals_as_events(to: u32, send: &[(i32, Option<i32>)]) -> PeerResult {
    for (i, &(signal, value)) in send.iter().enumerate() {
        let sent = match value {
            // SAFETY: kill takes plain values.
            None => unsafe { libc::kill(to as libc::pid_t, signal) },
            // SAFETY: sigqueue takes plain values; the int member of sigval is its first 4 bytes
            // on every ABI, and the rest is zeroed.
            Some(value) => unsafe {
                let mut sigval: libc::sigval = std::mem::zeroed();
                *(&mut sigval as *mut libc::sigval as *mut i32) = value;
                libc::sigqueue(to as libc::pid_t, signal, sigval)
            },
        };
        if sent != 0 {
            let how = if value.is_some() { "sigqueue" } else { "kill" };
            return Err((
                FAILED,
                format!("sending signal {i} ({signal}) to {to} with {how}: {}", std::io::Error::last_os_error()),
            ));
        }
    }
    Ok(())
}

/// What `ExecInspect` prints, one line each:
/// `fd <n> <access> <readlink target>` (access `r`, `w` or `rw`, from /proc/self/fdinfo),
/// `env <NAME=value>`, `sigblk <hex>`, `sigign <hex>` (from /proc/self/status).
pub fn exec_listing() -> String {
    let mut text = String::new();
    let mut fds: Vec<i32> = fs::read_dir("/proc/self/fd")
        .map(|dir| dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default();
    fds.sort();
    // The directory's own descriptor is closed by now: its readlink fails and it drops out.
    for fd in fds {
        let Ok(target) = fs::read_link(format!("/proc/self/fd/{fd}")) else { continue };
        let flags = fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap_or_default();
        let flags = flags
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| i32::from_str_radix(f.trim(), 8).ok())
            .unwrap_or(-1);
        let access = match flags & libc::O_ACCMODE {
            _ if flags < 0 => "?",
            libc::O_RDONLY => "r",
            libc::O_WRONLY => "w",
            _ => "rw",
        };
        text.push_str(&format!("fd {fd} {access} {}\n", target.display()));
    }
    for (name, value) in std::env::vars_os() {
        text.push_str(&format!("env {}={}\n", name.to_string_lossy(), value.to_string_lossy()));
    }
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    for (field, key) in [("SigBlk:", "sigblk"), ("SigIgn:", "sigign")] {
        if let Some(value) = status.lines().find_map(|l| l.strip_prefix(field)) {
            text.push_str(&format!("{key} {}\n", value.trim()));
        }
    }
    text
}

/// Waits up to [`EventLoop::EXEC_PATIENCE_MS`] for fd `fd` to be readable or hung up; whether it was.
fn patient_poll(fd: i32) -> bool {
    let mut fds = [libc::pollfd { fd, events: libc::POLLIN, revents: 0 }];
    loop {
        // SAFETY: one valid pollfd, for as long as the call.
        match unsafe { libc::poll(fds.as_mut_ptr(), 1, EventLoop::EXEC_PATIENCE_MS) } {
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
            n => return n > 0,
        }
    }
}

fn exec_inspect(hold: Option<(&Path, &Path)>) -> PeerResult {
    let mut out = io::stdout().lock();
    out.write_all(exec_listing().as_bytes()).map_err(failed("printing the listing"))?;
    out.flush().map_err(failed("printing the listing"))?;
    if let Some((ready, go)) = hold {
        // Open `go` first, so that the test, once it hears `ready`, finds a reader there.
        let go = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(go)
            .map_err(failed("opening the go FIFO"))?;
        fs::OpenOptions::new()
            .write(true)
            .open(ready)
            .and_then(|mut r| r.write_all(b"!"))
            .map_err(failed("saying it runs through the ready FIFO"))?;
        // A FIFO reader sees a hang-up only once a writer came and went (`man 7 pipe`).
        let mut byte = [0u8; 1];
        loop {
            if !patient_poll(go.as_raw_fd()) {
                return Err((super::FAILED, "the test never said go".to_string()));
            }
            match (&go).read(&mut byte) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(failed("waiting for go")(e)),
            }
        }
    }
    let mut stdin = io::stdin().lock();
    let (mut read, mut buf) = (Vec::new(), vec![0u8; 64 * 1024]);
    let line = loop {
        if !patient_poll(0) {
            break format!("stdin no-eof {}\n", read.len());
        }
        match stdin.read(&mut buf) {
            Ok(0) => break format!("stdin eof {} {}\n", read.len(), EventLoop::exec_checksum(&read)),
            Ok(n) => read.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break format!("stdin error {} {e}\n", read.len()),
        }
    };
    out.write_all(line.as_bytes()).map_err(failed("printing what it read"))
}

/// The state letter of process `pid` (`man 5 proc_pid_stat`, field 3), if it can be read.
fn state_of(pid: libc::pid_t) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().next()?.chars().next()
}

/// Sends the parent SIGALRM `times` times, each once it is seen asleep (or after 2 s of not
/// seeing it so), a few milliseconds apart. The parent cannot be done meanwhile: it waits for
/// this program to read its input.
fn interrupt_parent(times: u32) {
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    for _ in 0..times {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while state_of(parent) != Some('S') && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
        }
        // SAFETY: kill takes a pid and a signal number; the parent handles SIGALRM meanwhile.
        unsafe { libc::kill(parent, libc::SIGALRM) };
        std::thread::sleep(Duration::from_millis(3));
    }
}

fn exec_echo() -> PeerResult {
    let (mut stdin, mut stdout) = (io::stdin().lock(), io::stdout().lock());
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => return stdout.flush().map_err(failed("flushing")),
            Ok(n) => stdout.write_all(&buf[..n]).map_err(failed("writing what it read"))?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(failed("reading its stdin")(e)),
        }
    }
}

fn exit_without_reading(code: i32, signal: Option<i32>) -> PeerResult {
    if let Some(signal) = signal {
        // SAFETY: kill with our own pid and a signal number.
        unsafe { libc::kill(libc::getpid(), signal) };
    }
    // SAFETY: _exit ends the process at once, as the test asked.
    unsafe { libc::_exit(code) }
}

fn line_client(path: &Path, id: u64, count: usize) -> PeerResult {
    let lines = EventLoop::serve_many_lines(id, count);
    let mut stream = UnixStream::connect(path).map_err(failed("connecting to the server"))?;
    stream.set_read_timeout(Some(Duration::from_secs(3))).map_err(failed("setting a read timeout"))?;
    let mut answers = BufReader::new(stream.try_clone().map_err(failed("cloning the socket"))?);
    let half = count / 2;
    let mut expect = |i: usize| -> PeerResult {
        let mut got = Vec::new();
        if let Err(e) = answers.read_until(b'\n', &mut got) {
            if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) {
                return Err((
                    FAILED,
                    format!("{} 3 s: client {id} had {i} of its {count} answers", EventLoop::NO_ANSWER),
                ));
            }
            return Err(failed(&format!("client {id}: reading the answer to line {i}"))(e));
        }
        let mut want = EventLoop::serve_many_answer(&lines[i]);
        want.push(b'\n');
        match ipc_katas::grader::diff_bytes(&want, &got) {
            None => Ok(()),
            Some(_) if got.is_empty() => {
                Err((FAILED, format!("client {id}: the server closed the connection before answering line {i}")))
            }
            Some(diff) => {
                Err((FAILED, format!("client {id}: the answer to line {i} is not `re:` and the line:\n{diff}")))
            }
        }
    };
    for (i, line) in lines.iter().enumerate().take(half) {
        stream.write_all(&[&line[..], b"\n"].concat()).map_err(failed(&format!("client {id}: sending line {i}")))?;
        expect(i)?;
    }
    let rest: Vec<u8> = lines[half..].iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
    stream.write_all(&rest).map_err(failed(&format!("client {id}: sending lines {half} to {count}")))?;
    (half..count).try_for_each(expect)
}

fn pidfd_child(code: i32, signal: Option<i32>) -> PeerResult {
    // A closed or null stdout is no reason to stop: the test may not listen.
    let _ = std::io::stdout().write_all(&std::process::id().to_ne_bytes());
    let _ = std::io::stdout().flush();
    let mut byte = [0u8; 1];
    let _ = std::io::stdin().read(&mut byte);
    if let Some(signal) = signal {
        // SAFETY: raise takes a plain value; the default action of the signal ends us.
        unsafe { libc::raise(signal) };
    }
    std::process::exit(code)
}
