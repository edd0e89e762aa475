//! Peer commands of the event_loop topic: clients, wakers, signal senders and programs to run,
//! each a separate program. They never use the code under test: each one checks the learner's
//! other side.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
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
}

impl EventLoop {
    pub fn run(self) -> PeerResult {
        match self {
            EventLoop::WakeWithEventfd { path, wakes } => wake_with_eventfd(&path, &wakes),
            EventLoop::SignalsAsEvents { to, send } => signals_as_events(to, &send),
        }
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
