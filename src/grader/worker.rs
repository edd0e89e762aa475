//! The other side of a test: a forked worker running a closure, or an unrelated peer program.

use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::{Child, Command, Stdio};

use super::{Failure, Outcome, Sandbox, Verdict, caught_panic, frames, signal_story, stray_exit};

/// A forked worker process of the test. [`Worker::join`] reaps it and returns its result;
/// dropping it unjoined (a check failed first) kills and reaps it, so no test leaves it behind.
#[must_use = "join the worker to learn how it ended; dropping it kills it"]
pub struct Worker {
    pid: libc::pid_t,
    what: String,
    result: OwnedFd,
    /// The process that forked it: only that one may kill and reap it.
    parent: libc::pid_t,
    reaped: bool,
}

/// Our own pid.
fn me() -> libc::pid_t {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

/// Exit status of a worker whose closure failed; its report is in the result pipe.
const WORKER_FAILED: i32 = 1;

impl Sandbox {
    /// Forks a worker that runs `work` and exits; `what` names it in reports ("writer 3").
    /// Fork only while the body is single-threaded.
    pub fn fork(&self, what: &str, work: impl FnOnce() -> Result<(), Failure>) -> Result<Worker, Failure> {
        self.guard();
        let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Failure::crash(format!("the test could not make a pipe for {what}: {e}")))?;
        // SAFETY: the child runs `work` and leaves with _exit; it never returns into the test.
        match unsafe { libc::fork() } {
            -1 => Err(Failure::crash(format!("the test could not fork {what}: {}", std::io::Error::last_os_error()))),
            0 => {
                drop(read_end);
                // Names this process in a hang's picture ("pid 1203 (the notifier)").
                frames::send(frames::Tag::Forensics, format!("role {what}").as_bytes());
                // SAFETY: getpid has no preconditions.
                let me = unsafe { libc::getpid() };
                let result = catch_unwind(AssertUnwindSafe(work));
                // SAFETY: as above.
                if unsafe { libc::getpid() } != me {
                    stray_exit("returned");
                }
                let verdict = match result {
                    Ok(Ok(())) => Verdict::new(Outcome::Pass),
                    Ok(Err(Failure(verdict))) => verdict,
                    Err(payload) => Verdict::new(caught_panic(payload.as_ref())),
                };
                let mut message = verdict.encode();
                // One write of at most PIPE_BUF: it cannot block on an empty pipe and arrives whole.
                // Only the end of the text is cut (see `Verdict::encode`).
                message.truncate(4000);
                let outcome = verdict.into_outcome();
                // SAFETY: message is valid for its length; write_end is ours.
                unsafe { libc::write(write_end.as_raw_fd(), message.as_ptr().cast(), message.len()) };
                let code = if outcome == Outcome::Pass { 0 } else { WORKER_FAILED };
                // SAFETY: _exit ends the worker without running the test harness's code.
                unsafe { libc::_exit(code) }
            }
            pid => {
                drop(write_end);
                super::supervise::set_nonblocking(read_end.as_raw_fd(), true)
                    .map_err(|e| Failure::crash(format!("the test could not set up {what}: {e}")))?;
                Ok(Worker { pid, what: what.to_string(), result: read_end, parent: me(), reaped: false })
            }
        }
    }
}

impl Worker {
    /// Waits for the worker (the sandbox's deadline bounds the wait) and returns its result.
    pub fn join(mut self) -> Result<(), Failure> {
        let result = self.wait();
        self.reaped = true;
        result
    }

    fn wait(&self) -> Result<(), Failure> {
        frames::send(frames::Tag::Phase, format!("waiting for {} to finish", self.what).as_bytes());
        let mut status = 0;
        loop {
            // SAFETY: self.pid is our own child; status is a valid out-pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if r == self.pid {
                break;
            }
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return Err(Failure::crash(format!("the test lost track of {}", self.what)));
            }
        }
        if libc::WIFSIGNALED(status) {
            let signal = libc::WTERMSIG(status);
            return Err(Failure::died_of(signal, format!("{} died of {}", self.what, signal_story(signal))));
        }
        // The worker wrote its whole report before it exited; later workers may still hold the
        // write end, so read what is there instead of waiting for end-of-file.
        let mut buf = [0u8; 4096];
        // SAFETY: buf is valid for its length; the read end is non-blocking.
        let n = unsafe { libc::read(self.result.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        let report = if n > 0 { &buf[..n as usize] } else { &[][..] };
        match Verdict::decode(report) {
            Some(verdict) if *verdict.outcome() == Outcome::Pass => Ok(()),
            Some(verdict) => Err(Failure(verdict.map_text(|text| format!("{}: {text}", self.what)))),
            None => Err(Failure::crash(format!(
                "{} exited with status {} without reporting: did the code it ran call exit?",
                self.what,
                libc::WEXITSTATUS(status)
            ))),
        }
    }

    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Whether the worker has exited; it stays a zombie until joined or dropped.
    pub fn has_exited(&self) -> bool {
        self.reaped || super::has_exited(self.pid)
    }

    /// Kills the worker with SIGKILL and reaps it; how it ended is not the test's business.
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.reaped || me() != self.parent {
            return;
        }
        // SAFETY: the worker is our own child, not yet reaped, so its pid is still ours.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        let mut status = 0;
        // SAFETY: as above; status is a valid out-pointer.
        while unsafe { libc::waitpid(self.pid, &mut status, 0) } == -1
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
        {}
        self.reaped = true;
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An unrelated peer program (see [`super::peer`]), started by [`Sandbox::peer`]. [`Peer::join`] waits
/// for it; dropping it unjoined (a check failed first) kills and reaps it.
#[must_use = "join the peer to learn how it ended; dropping it kills it"]
pub struct Peer {
    child: Child,
    what: String,
    parent: libc::pid_t,
    reaped: bool,
}

/// What a peer printed.
pub struct PeerOutput {
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Sandbox {
    /// Starts the peer program (this test binary, see [`super::peer`]) with `args`: a separate
    /// program, not a fork of the test. Its reports call it "the peer process {what}". Its
    /// stdout and stderr are captured.
    pub fn peer<S: AsRef<OsStr>>(&self, what: &str, args: &[S]) -> Result<Peer, Failure> {
        self.guard();
        let what = format!("the peer process {what}");
        let child = Command::new(super::peer::exe())
            .args(args)
            .env(super::peer::ENV, "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Failure::crash(format!("the test could not start {what}: {e}")))?;
        Ok(Peer { child, what, parent: me(), reaped: false })
    }
}

impl Sandbox {
    /// The peer program with `args` as a [`Command`] not yet started, for a test that hands the
    /// starting (and the waiting) to the code under test. Its stdio is the caller's to set; it
    /// inherits the test's otherwise.
    pub fn peer_command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        self.guard();
        let mut command = Command::new(super::peer::exe());
        command.args(args).env(super::peer::ENV, "1");
        command
    }
}

impl Peer {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the peer has exited; it stays a zombie until joined or dropped.
    pub fn has_exited(&self) -> bool {
        self.reaped || super::has_exited(self.child.id() as libc::pid_t)
    }

    /// Waits for the peer (bounded by the sandbox's deadline) and returns what it printed. A
    /// peer that fails reports why on stderr and with its exit status (see [`super::peer`]).
    /// Joined already, it printed nothing more.
    pub fn join(&mut self) -> Result<PeerOutput, Failure> {
        if self.reaped {
            return Ok(PeerOutput { stdout: Vec::new(), stderr: String::new() });
        }
        let result = self.wait();
        self.reaped = true;
        result
    }

    fn wait(&mut self) -> Result<PeerOutput, Failure> {
        frames::send(frames::Tag::Phase, format!("waiting for {} to finish", self.what).as_bytes());
        let mut stdout = Vec::new();
        let mut stderr = String::new();
        // Read stdout fully first: peers print a little to stderr and much to stdout.
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_end(&mut stdout);
        }
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
        let status = self.child.wait().map_err(|e| Failure::crash(format!("lost track of {}: {e}", self.what)))?;
        let said = stderr.trim();
        match (status.code(), status.signal()) {
            (Some(0), _) => Ok(PeerOutput { stdout, stderr }),
            (Some(super::peer::NOT_IMPLEMENTED), _) => Err(Failure::not_implemented(format!(
                "{} reached a todo!(): {said}\nReplace the todo!() with your answer.",
                self.what
            ))),
            (Some(super::peer::FAILED), _) => Err(Failure::wrong(format!("{} failed: {said}", self.what))),
            (Some(code), _) => Err(Failure::crash(format!("{} exited with status {code}: {said}", self.what))),
            (None, Some(sig)) => Err(Failure::died_of(sig, format!("{} died of {}", self.what, signal_story(sig)))),
            (None, None) => Err(Failure::crash(format!("{} ended in an unknown way", self.what))),
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if !self.reaped && me() == self.parent {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A signal from one process of a test to another: made before a fork, then `notify` in one
/// process and `wait` in the other. Each `notify` releases one `wait`. Handshakes, never sleeps,
/// order the processes of a test; the sandbox's deadline bounds every wait.
pub struct Handshake {
    read: OwnedFd,
    write: OwnedFd,
}

impl Handshake {
    pub fn new() -> Result<Handshake, Failure> {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Failure::crash(format!("the test could not make a handshake pipe: {e}")))?;
        Ok(Handshake { read, write })
    }

    /// Releases one waiter.
    pub fn notify(&self) -> Result<(), Failure> {
        match nix::unistd::write(&self.write, b"!") {
            Ok(1) => Ok(()),
            other => Err(Failure::crash(format!("the test's handshake failed: {other:?}"))),
        }
    }

    /// Waits for one `notify`; `what` names the awaited event in a hang report.
    pub fn wait(&self, what: &str) -> Result<(), Failure> {
        frames::send(frames::Tag::Phase, format!("waiting for {what}").as_bytes());
        let mut byte = [0u8; 1];
        loop {
            match nix::unistd::read(&self.read, &mut byte) {
                Ok(1) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                other => {
                    return Err(Failure::crash(format!(
                        "the test's handshake failed while waiting for {what}: {other:?}"
                    )));
                }
            }
        }
    }
}
