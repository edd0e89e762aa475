//! The peer program (`ipc-peer`): the other side of a graded test, run as a separate program so
//! that the two processes share no ancestor's memory, only what the kernel gives them by name.
//!
//! `ipc-peer <command> <args…>`; its exit status tells the test what happened.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// The peer did its job.
pub const OK: i32 = 0;
/// The peer was called wrongly: a grader bug.
pub const USAGE: i32 = 2;
/// The kata code the peer ran reached a `todo!()`.
pub const NOT_IMPLEMENTED: i32 = 3;
/// An operation failed; stderr says which and why.
pub const FAILED: i32 = 4;
/// The kata code the peer ran panicked.
pub const PANICKED: i32 = 5;

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

/// Runs one peer command; returns the exit status.
pub fn main(args: Vec<String>) -> i32 {
    // SAFETY: prctl with integer arguments: die with the test that started us.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Panics are reported through the exit status; the default hook would only add noise.
    // The hook only keeps where the panic happened, for the report below.
    std::panic::set_hook(Box::new(super::remember_panic_location));
    let result = catch_unwind(AssertUnwindSafe(|| run(&args)));
    match result {
        Ok(Ok(())) => OK,
        Ok(Err((code, why))) => {
            eprintln!("{why}");
            code
        }
        Err(payload) => match super::caught_panic(payload.as_ref()) {
            super::Outcome::NotImplemented(_) => {
                eprintln!("{}", super::panic_text(payload.as_ref()));
                NOT_IMPLEMENTED
            }
            crash => {
                eprintln!("{}", crash.text());
                PANICKED
            }
        },
    }
}

type PeerResult = Result<(), (i32, String)>;

/// Turns an I/O error into a peer failure that says what was being done.
fn failed(what: &str) -> impl FnOnce(std::io::Error) -> (i32, String) + '_ {
    move |e| (FAILED, format!("{what}: {e} (kind {:?})", e.kind()))
}

fn run(args: &[&str]) -> PeerResult {
    TOPICS.iter().find_map(|topic| (topic.run)(args)).unwrap_or_else(|| {
        let commands: Vec<&str> = TOPICS.iter().map(|topic| topic.usage).collect();
        Err((USAGE, format!("ipc-peer: unknown command {args:?}; the commands are:\n{}", commands.join("\n"))))
    })
}
