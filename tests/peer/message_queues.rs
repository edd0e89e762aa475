//! Peer commands of the message_queues topic: a queue opened by name (or key) from a program
//! that shares nothing with the test but that name.

use std::fs;

use super::{PeerResult, USAGE, failed};
use katas::message_queues::{PosixQueue, SysvQueue};

pub const COMMANDS: &str = "\
mq-send NAME PRIO IN           open the POSIX queue NAME (mq_open), send the bytes of IN with PRIO
kata-mq-send NAME PRIO IN      PosixQueue::open(NAME), then send the bytes of IN with PRIO
kata-mq-receive NAME N OUT     PosixQueue::open(NAME), receive N messages, save them in OUT
kata-msg-receive KEY SEL OUT   SysvQueue::open(KEY), receive(SEL), save the message in OUT
(OUT holds per message: a u64 LE type or priority, a u32 LE body length, the body)";

pub fn run(args: &[&str]) -> Option<PeerResult> {
    Some(match *args {
        ["mq-send", name, prio, input] => mq_send(name, prio, input),
        ["kata-mq-send", name, prio, input] => kata_mq_send(name, prio, input),
        ["kata-mq-receive", name, count, out] => kata_mq_receive(name, count, out),
        ["kata-msg-receive", key, selector, out] => kata_msg_receive(key, selector, out),
        _ => return None,
    })
}

fn number<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, (i32, String)> {
    text.parse().map_err(|_| (USAGE, format!("{what} must be a number, not {text:?}")))
}

/// Appends one message to a file of messages: its type or priority, its length, its body.
fn encode(out: &mut Vec<u8>, tag: u64, body: &[u8]) {
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
}

fn mq_send(name: &str, prio: &str, input: &str) -> PeerResult {
    use nix::mqueue::{MQ_OFlag, mq_close, mq_open, mq_send};
    let prio = number("PRIO", prio)?;
    let body = fs::read(input).map_err(failed("loading the input"))?;
    let mqd = mq_open(name, MQ_OFlag::O_WRONLY, nix::sys::stat::Mode::empty(), None)
        .map_err(|e| failed("mq_open of the queue")(e.into()))?;
    let sent = mq_send(&mqd, &body, prio).map_err(|e| failed("mq_send")(e.into()));
    let _ = mq_close(mqd);
    sent
}

fn kata_mq_send(name: &str, prio: &str, input: &str) -> PeerResult {
    let prio = number("PRIO", prio)?;
    let body = fs::read(input).map_err(failed("loading the input"))?;
    let queue = PosixQueue::open(name).map_err(failed("PosixQueue::open"))?;
    queue.send(&body, prio).map_err(failed("PosixQueue::send"))
}

fn kata_mq_receive(name: &str, count: &str, out: &str) -> PeerResult {
    let count: usize = number("N", count)?;
    let queue = PosixQueue::open(name).map_err(failed("PosixQueue::open"))?;
    let mut saved = Vec::new();
    for _ in 0..count {
        let message = queue.receive().map_err(failed("PosixQueue::receive"))?;
        encode(&mut saved, message.priority as u64, &message.body);
    }
    fs::write(out, saved).map_err(failed("saving what was received"))
}

fn kata_msg_receive(key: &str, selector: &str, out: &str) -> PeerResult {
    let key = number("KEY", key)?;
    let selector = number("SEL", selector)?;
    let queue = SysvQueue::open(key).map_err(failed("SysvQueue::open"))?;
    let message = queue.receive(selector).map_err(failed("SysvQueue::receive"))?;
    let mut saved = Vec::new();
    encode(&mut saved, message.mtype as u64, &message.body);
    fs::write(out, saved).map_err(failed("saving what was received"))
}
