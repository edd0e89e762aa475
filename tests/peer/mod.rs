//! The peer program's commands, topic by topic: the other side of a graded test, run as a
//! separate program (this test binary started again, see `ipc_katas::grader::peer`). A command
//! that calls kata code runs the learner's attempt, as the tests do.

pub use ipc_katas::grader::peer::{FAILED, PeerResult, USAGE, failed};

mod fifos;
mod interview;
mod message_queues;
mod shared_memory;
mod sockets;

/// One topic's peer commands: their usage text, and `run`, which returns `None` for a command
/// that is not its own.
struct Commands {
    usage: &'static str,
    run: fn(&[&str]) -> Option<PeerResult>,
}

const TOPICS: &[Commands] = &[
    Commands { usage: fifos::COMMANDS, run: fifos::run },
    Commands { usage: shared_memory::COMMANDS, run: shared_memory::run },
    Commands { usage: message_queues::COMMANDS, run: message_queues::run },
    Commands { usage: sockets::COMMANDS, run: sockets::run },
    Commands { usage: interview::COMMANDS, run: interview::run },
];

/// Runs the peer command in `args`.
pub fn run(args: &[&str]) -> PeerResult {
    TOPICS.iter().find_map(|topic| (topic.run)(args)).unwrap_or_else(|| {
        let commands: Vec<&str> = TOPICS.iter().map(|topic| topic.usage).collect();
        Err((USAGE, format!("peer: unknown command {args:?}; the commands are:\n{}", commands.join("\n"))))
    })
}
