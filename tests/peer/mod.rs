//! The peer program's commands, topic by topic: the other side of a graded test, run as a
//! separate program (this test binary started again, see `ipc_katas::grader::peer`). A command
//! that calls kata code runs the learner's attempt, as the tests do.
//!
//! A test builds a [`Command`] and [`start`]s it; the peer gets it as one argument (JSON) and
//! runs it. One type on both sides: a command the test can build is one the peer knows.

use ipc_katas::grader::peer::USAGE;
pub use ipc_katas::grader::peer::{FAILED, PeerResult, failed};
use ipc_katas::grader::{Failure, Peer, Sandbox};
use serde::{Deserialize, Serialize};

mod event_loop;
mod fifos;
mod interview;
mod message_queues;
mod shared_memory;
mod sockets;
pub mod trust;

pub use event_loop::EventLoop;
pub use fifos::Fifo;
pub use interview::Interview;
pub use message_queues::Queue;
pub use shared_memory::Shm;
pub use sockets::Sockets;
pub use trust::Trust;

/// One peer command, of one topic.
#[derive(Debug, Serialize, Deserialize)]
pub enum Command {
    Fifo(Fifo),
    Shm(Shm),
    Queue(Queue),
    Sockets(Sockets),
    Interview(Interview),
    EventLoop(EventLoop),
    Trust(Trust),
}

macro_rules! commands_of {
    ($($topic:ident),*) => {$(
        impl From<$topic> for Command {
            fn from(command: $topic) -> Command {
                Command::$topic(command)
            }
        }
    )*};
}
commands_of!(Fifo, Shm, Queue, Sockets, Interview, EventLoop, Trust);

/// Starts the peer program with `command`; [`Peer::join`] says how it ended.
#[allow(dead_code, reason = "each test binary includes every topic's peer; some start none")]
pub fn start(s: &Sandbox, command: impl Into<Command>) -> Result<Peer, Failure> {
    let command = command.into();
    let arg = serde_json::to_string(&command).map_err(Failure::test_error("encode the peer command"))?;
    s.peer(&format!("`{command:?}`"), &[arg])
}

/// Runs the peer command in `args`: one [`Command`], as [`start`] encodes it.
pub fn run(args: &[&str]) -> PeerResult {
    let command = match args {
        [arg] => serde_json::from_str(arg).map_err(|e| (USAGE, format!("peer: {arg} is no peer command: {e}")))?,
        _ => return Err((USAGE, format!("peer: expected one command (JSON), got {} arguments", args.len()))),
    };
    match command {
        Command::Fifo(c) => c.run(),
        Command::Shm(c) => c.run(),
        Command::Queue(c) => c.run(),
        Command::Sockets(c) => c.run(),
        Command::Interview(c) => c.run(),
        Command::EventLoop(c) => c.run(),
        Command::Trust(c) => c.run(),
    }
}
