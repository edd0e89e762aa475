//! Peer commands of the event_loop topic: clients, wakers and signal senders that are separate
//! programs. They never use the code under test: each one checks the learner's other side.

use serde::{Deserialize, Serialize};

use super::{FAILED, PeerResult};

#[derive(Debug, Serialize, Deserialize)]
pub enum EventLoop {
    /// signals_as_events: send process `to` each signal in order: `(signal, None)` with `kill`,
    /// `(signal, Some(value))` with `sigqueue` and that value.
    SignalsAsEvents { to: u32, send: Vec<(i32, Option<i32>)> },
}

impl EventLoop {
    pub fn run(self) -> PeerResult {
        match self {
            EventLoop::SignalsAsEvents { to, send } => signals_as_events(to, &send),
        }
    }
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
