//! Kata event_loop::pidfd_supervisor: Supervise children through pidfds, never by a bare pid.
//!
//! Grade it: `cargo test --test event_loop pidfd_supervisor::`
//! Stuck? `cargo run -- hint event_loop::pidfd_supervisor`

use std::io;
use std::process::Command;
use std::time::Duration;

/// One child of a [`Supervisor`], as [`Supervisor::spawn`] named it. Ids are never reused: a
/// child reported by [`Supervisor::wait_any`] keeps its id, and no later child gets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChildId(u64);

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status (`_exit(code)`: 0 to 255).
    Code(i32),
    /// A signal killed it (the number, e.g. 15 for SIGTERM).
    Signal(i32),
}

/// A supervisor of child processes that never touches a child by its bare pid.
///
/// A pid is only a number: once a child has been reaped, the kernel may give its pid to any new
/// process, and a `kill(pid)` sent a moment too late ends a stranger. A pidfd
/// (`man 2 pidfd_open`) is a descriptor that names one process for as long as it is open: send
/// signals through it (`man 2 pidfd_send_signal`), reap through it (`man 2 waitid`, `P_PIDFD`),
/// and wait for exits with it, since a pidfd becomes readable when its process exits, so one
/// epoll instance (`man 7 epoll`) waits for all the children at once.
///
/// The fields are yours to choose (the grader only uses the methods): an epoll instance and a
/// pidfd for every child not yet reported is the usual shape.
///
/// Dropping the supervisor kills every child still there with SIGKILL (through its pidfd) and
/// reaps it: write `impl Drop for Supervisor`. No zombie, no orphan left running.
///
/// The grader checks the calls your code makes: it runs it under a seccomp filter that catches
/// `kill`, `tkill`, `tgkill`, `rt_sigqueueinfo`, `rt_tgsigqueueinfo`, `wait4` (`waitpid`, `wait`)
/// and any `waitid` that is not `P_PIDFD`, and fails the test naming the call. It also checks
/// that a child of its own that it forked first is never reaped by your code (`waitpid(-1)` or
/// `wait()` reap anyone's children), and that the programs you start inherit none of your
/// descriptors (every descriptor close-on-exec).
#[derive(Debug)]
pub struct Supervisor {}

impl Supervisor {
    /// An empty supervisor.
    pub fn new() -> io::Result<Supervisor> {
        todo!("make an empty supervisor: an epoll instance and no child yet")
    }

    /// Starts `command` (`Command::spawn`), takes a pidfd for the child at once
    /// (`pidfd_open`), and from then on knows the child only by that pidfd. Right after the
    /// spawn the pid is still safe to use: the child is yours and unreaped, so its pid cannot
    /// belong to anyone else yet. (std's `Child` does nothing when dropped: no wait, no kill.)
    ///
    /// Errors: the command cannot start (`NotFound` for a program that does not exist, as
    /// `spawn` says); no child is left behind then.
    pub fn spawn(&mut self, command: &mut Command) -> io::Result<ChildId> {
        todo!("start {:?} and hold the child by a pidfd", command.get_program())
    }

    /// Sends `signal` to `child` through its pidfd (`pidfd_send_signal`).
    ///
    /// A child that has exited but is not reported yet takes the signal without effect: `Ok`
    /// (the kernel says success for a zombie), and [`Supervisor::wait_any`] reports how it really
    /// ended. Errors: a child already reported by `wait_any` is `NotFound` (it is gone, and
    /// nothing else may be signalled in its place); a signal number the kernel does not know is
    /// `InvalidInput` (`EINVAL`).
    pub fn stop(&mut self, child: ChildId, signal: i32) -> io::Result<()> {
        todo!("send signal {signal} to {child:?} through its pidfd")
    }

    /// Waits up to `timeout` for any child to exit (one `epoll_wait` on all the pidfds), reaps
    /// it with `waitid(P_PIDFD, pidfd, WEXITED)`, and returns which child it was and how it
    /// ended (`si_code` says whether `si_status` is an exit code or a signal). `None` when the
    /// timeout passes with no exit, and `None` at once when no child is left to wait for.
    ///
    /// The grader checks each report (the child and its code or signal), children that exit in
    /// another order than they started, that a reported child is reaped (no zombie), and that
    /// a wait with a child that never exits returns `None` after about the timeout.
    pub fn wait_any(&mut self, timeout: Duration) -> io::Result<Option<(ChildId, Exit)>> {
        todo!("wait up to {timeout:?} for any child to exit, and reap it")
    }
}
