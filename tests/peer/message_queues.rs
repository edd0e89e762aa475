//! Peer commands of the message_queues topic: a queue opened by name (or key) from a program
//! that shares nothing with the test but that name.

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{PeerResult, failed};
use katas::message_queues::{PosixQueue, SysvQueue};

#[derive(Debug, Serialize, Deserialize)]
pub enum Queue {
    /// With the code under test: `PosixQueue::open(name)`, then send the bytes of `input` with `priority`.
    PosixSend { name: String, priority: u32, input: PathBuf },
    /// `PosixQueue::open(name)`, receive `count` messages, save them in `out` (see [`encode`]).
    PosixReceive { name: String, count: usize, out: PathBuf },
    /// `SysvQueue::open(key)`, `receive(selector)`, save the message in `out` (see [`encode`]).
    SysvReceive { key: libc::key_t, selector: i64, out: PathBuf },
}

impl Queue {
    pub fn run(self) -> PeerResult {
        match self {
            Queue::PosixSend { name, priority, input } => {
                let body = fs::read(input).map_err(failed("loading the input"))?;
                let queue = PosixQueue::open(&name).map_err(failed("PosixQueue::open"))?;
                queue.send(&body, priority).map_err(failed("PosixQueue::send"))
            }
            Queue::PosixReceive { name, count, out } => {
                let queue = PosixQueue::open(&name).map_err(failed("PosixQueue::open"))?;
                let mut saved = Vec::new();
                for _ in 0..count {
                    let message = queue.receive().map_err(failed("PosixQueue::receive"))?;
                    encode(&mut saved, message.priority as u64, &message.body);
                }
                fs::write(out, saved).map_err(failed("saving what was received"))
            }
            Queue::SysvReceive { key, selector, out } => {
                let queue = SysvQueue::open(key).map_err(failed("SysvQueue::open"))?;
                let message = queue.receive(selector).map_err(failed("SysvQueue::receive"))?;
                let mut saved = Vec::new();
                encode(&mut saved, message.mtype as u64, &message.body);
                fs::write(out, saved).map_err(failed("saving what was received"))
            }
        }
    }
}

/// Appends one message to a file of messages: its type or priority (u64 LE), its body's length
/// (u32 LE), its body.
fn encode(out: &mut Vec<u8>, tag: u64, body: &[u8]) {
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
}
