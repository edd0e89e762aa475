//! Peer commands of the event_loop topic: clients, wakers and signal senders that are separate
//! programs. They never use the code under test: each one checks the learner's other side.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use super::PeerResult;

#[derive(Debug, Serialize, Deserialize)]
pub enum EventLoop {
    /// A child for pidfd_supervisor: writes its pid (4 bytes, native order) to stdout, waits for
    /// one byte or end-of-file on stdin, then raises `signal` if there is one, else exits with
    /// `code`.
    PidfdChild { code: i32, signal: Option<i32> },
}

impl EventLoop {
    pub fn run(self) -> PeerResult {
        match self {
            EventLoop::PidfdChild { code, signal } => pidfd_child(code, signal),
        }
    }
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
