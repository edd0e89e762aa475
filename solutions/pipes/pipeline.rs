//! Answer to kata pipes::pipeline: Build the shell pipeline a | b | c.
//!
//! What `sh -c 'a | b | c'` does, with pipe2, fork, dup2 and execvp.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::raw::c_char;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pipe2};

/// Runs `stages` as a pipeline: `input` goes to the first stage's stdin, each stage's stdout to
/// the next one's stdin, and the last stage's stdout is returned. Fails if the pipeline is
/// empty, a stage is empty, a program cannot be started (`NotFound` for a missing one), or any
/// stage exits with a non-zero status or dies of a signal (like `set -o pipefail`).
/// See `man 2 pipe2`, `man 2 dup2`, `man 3 execvp`.
pub fn pipeline(stages: &[&[&str]], input: &[u8]) -> io::Result<Vec<u8>> {
    if stages.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "a pipeline needs at least one stage"));
    }
    // Everything that allocates happens before any fork: between fork and exec a child may only
    // make async-signal-safe calls (`man 7 signal-safety`).
    let commands =
        stages.iter().enumerate().map(|(i, argv)| Program::new(i + 1, argv)).collect::<io::Result<Vec<_>>>()?;

    // Every pipe is O_CLOEXEC: exec closes whatever a stage did not dup2 onto 0 or 1.
    let (mut next_stdin, input_tx) = pipe2(OFlag::O_CLOEXEC)?;
    let mut running = Vec::with_capacity(commands.len());
    for program in &commands {
        let (rx, stdout) = pipe2(OFlag::O_CLOEXEC)?;
        running.push(program.spawn(&next_stdin, &stdout)?);
        // Our copies of this stage's ends go now; the next stage reads `rx`.
        next_stdin = rx;
    }
    let output_rx = next_stdin;

    // Feed and collect at the same time: a large input and a large output would block each
    // other if done one after the other.
    let output = std::thread::scope(|scope| {
        let feeder = scope.spawn(move || feed(input_tx, input));
        let mut output = Vec::new();
        let read = File::from(output_rx).read_to_end(&mut output);
        let fed = feeder.join().unwrap_or_else(|_| Err(io::Error::other("the input feeder panicked")));
        read.and(fed).map(|()| output)
    });
    for stage in running {
        stage.wait()?;
    }
    output
}

/// Writes the input into the first stage. A stage that stops reading early is its own choice,
/// as in a shell: SIGPIPE is blocked in this thread and EPIPE ends the feeding quietly.
fn feed(input_tx: OwnedFd, input: &[u8]) -> io::Result<()> {
    SigSet::from(Signal::SIGPIPE).thread_block()?;
    match File::from(input_tx).write_all(input) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
    // The thread ends here; a SIGPIPE pending on it ends with it.
}

/// One stage, ready to exec: its argv as C strings and the pointer array execvp wants.
struct Program {
    number: usize,
    name: String,
    args: Vec<CString>,
}

impl Program {
    fn new(number: usize, argv: &[&str]) -> io::Result<Program> {
        let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
        let Some(name) = argv.first() else {
            return Err(invalid(format!("stage {number} is empty: it needs a program name")));
        };
        let args = argv
            .iter()
            .map(|a| {
                CString::new(*a).map_err(|_| invalid(format!("stage {number} has an argument with a NUL byte: {a:?}")))
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Program { number, name: name.to_string(), args })
    }

    /// Forks and execs this stage with `stdin` on 0 and `stdout` on 1. An exec failure comes
    /// back as its errno through a CLOEXEC pipe: end-of-file on it means exec succeeded.
    fn spawn(&self, stdin: &OwnedFd, stdout: &OwnedFd) -> io::Result<Stage> {
        let mut argv: Vec<*const c_char> = self.args.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let (error_rx, error_tx) = pipe2(OFlag::O_CLOEXEC)?;
        // SAFETY: the child makes only async-signal-safe calls (fcntl, dup2, write, _exit;
        // `man 7 signal-safety`) and execvp, on memory prepared before the fork. execvp is not
        // on that list (it may allocate to search PATH), which is sound here only because the
        // caller is single-threaded when it forks (the input feeder thread starts after every
        // fork): no other thread can hold the allocator's lock in the child.
        match unsafe { fork() }? {
            ForkResult::Child => {
                let errno = match stdio_onto(stdin.as_raw_fd(), stdout.as_raw_fd()) {
                    // SAFETY: argv is a NULL-terminated array of pointers to live C strings.
                    Ok(()) => unsafe {
                        libc::execvp(argv[0], argv.as_ptr());
                        *libc::__errno_location()
                    },
                    Err(e) => e as i32,
                };
                // SAFETY: write from a live stack buffer; _exit never returns.
                unsafe {
                    libc::write(error_tx.as_raw_fd(), errno.to_ne_bytes().as_ptr().cast(), 4);
                    libc::_exit(127)
                }
            }
            ForkResult::Parent { child } => {
                let stage = Stage { pid: Some(child), number: self.number, name: self.name.clone() };
                drop(error_tx);
                let mut errno = [0u8; 4];
                match File::from(error_rx).read_exact(&mut errno) {
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(stage),
                    Err(e) => Err(e),
                    Ok(()) => {
                        let cause = io::Error::from_raw_os_error(i32::from_ne_bytes(errno));
                        Err(io::Error::new(
                            cause.kind(),
                            format!("stage {} (`{}`) could not start: {cause}", self.number, self.name),
                        ))
                    }
                }
            }
        }
    }
}

/// In the child: puts `stdin` on fd 0 and `stdout` on fd 1, without O_CLOEXEC there.
/// `dup2(fd, fd)` does nothing, so an end that already is fd 0 or 1 would keep its
/// O_CLOEXEC and exec would close it (`man 2 dup2`): clear the flag on it instead. Only
/// async-signal-safe calls.
fn stdio_onto(stdin: libc::c_int, stdout: libc::c_int) -> Result<(), Errno> {
    let stdout = off_fd_0(stdout)?;
    // SAFETY: fcntl and dup2 on descriptors this process holds; nothing else is touched.
    unsafe {
        for (fd, target) in [(stdin, 0), (stdout, 1)] {
            if fd == target {
                Errno::result(libc::fcntl(fd, libc::F_SETFD, 0))?;
            } else {
                // The copy dup2 makes does not have FD_CLOEXEC set.
                Errno::result(libc::dup2(fd, target))?;
            }
        }
    }
    Ok(())
}

/// An output end on fd 0 would be closed by installing stdin there: such an end is moved to a
/// copy numbered 3 or more first. (Linux's pipe2 numbers the read end first, so a write end is
/// not fd 0 in practice; the man page does not promise that order.)
fn off_fd_0(fd: libc::c_int) -> Result<libc::c_int, Errno> {
    if fd != 0 {
        return Ok(fd);
    }
    // SAFETY: fcntl on a descriptor this process holds; async-signal-safe.
    Errno::result(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) })
}

/// `waitpid` for one child, retried when a signal handler interrupts it (EINTR): given up on,
/// the child would stay a zombie.
fn wait_for(pid: Pid) -> nix::Result<WaitStatus> {
    loop {
        match waitpid(pid, None) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// A started stage. Dropped without `wait` (an error elsewhere), it is killed and reaped, so no
/// zombie or stray process outlives the pipeline.
struct Stage {
    pid: Option<Pid>,
    number: usize,
    name: String,
}

impl Stage {
    fn wait(mut self) -> io::Result<()> {
        let Some(pid) = self.pid.take() else { return Ok(()) };
        match wait_for(pid)? {
            WaitStatus::Exited(_, 0) => Ok(()),
            WaitStatus::Exited(_, code) => {
                Err(io::Error::other(format!("stage {} (`{}`) exited with status {code}", self.number, self.name)))
            }
            WaitStatus::Signaled(_, signal, _) => {
                Err(io::Error::other(format!("stage {} (`{}`) was killed by {signal}", self.number, self.name)))
            }
            other => Err(io::Error::other(format!("stage {} (`{}`) ended oddly: {other:?}", self.number, self.name))),
        }
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = wait_for(pid);
        }
    }
}
