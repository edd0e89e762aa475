//! Peer commands of the event_loop topic: clients, wakers and signal senders that are separate
//! programs. They never use the code under test: each one checks the learner's other side.

use serde::{Deserialize, Serialize};

use super::PeerResult;

#[derive(Debug, Serialize, Deserialize)]
pub enum EventLoop {}

impl EventLoop {
    pub fn run(self) -> PeerResult {
        match self {}
    }
}
