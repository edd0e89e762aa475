//! Peer commands of the event_loop topic: clients, wakers and signal senders that are separate
//! programs. They never use the code under test: each one checks the learner's other side.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{FAILED, PeerResult, failed};

#[derive(Debug, Serialize, Deserialize)]
pub enum EventLoop {
    /// serve_many: connect to `path`, send client `id`'s `lines` request lines
    /// ([`EventLoop::serve_many_lines`]), the first half one at a time and the rest at once, and expect
    /// each answer ([`EventLoop::serve_many_answer`]) in order.
    LineClient { path: PathBuf, id: u64, lines: usize },
}

impl EventLoop {
    /// What a line client's failure says when the server did not answer in time (a hang, not a
    /// wrong answer).
    pub const NO_ANSWER: &str = "no answer within";

    pub fn run(self) -> PeerResult {
        match self {
            EventLoop::LineClient { path, id, lines } => line_client(&path, id, lines),
        }
    }

    /// The answer the serve_many tests' handler gives: `re:` and the line, or, for a line that starts
    /// with `big ` (a client that sends megabytes), `big ok` after 20 µs of work.
    #[allow(dead_code, reason = "each test binary includes every topic's peer; only event_loop serves lines")]
    pub fn serve_many_answer(line: &[u8]) -> Vec<u8> {
        if line.starts_with(b"big ") {
            std::thread::sleep(Duration::from_micros(20));
            return b"big ok".to_vec();
        }
        [&b"re:"[..], line].concat()
    }

    /// Client `id`'s request lines, without their newlines, of lengths from 10 to about 330 bytes.
    #[allow(dead_code, reason = "each test binary includes every topic's peer; only event_loop serves lines")]
    pub fn serve_many_lines(id: u64, count: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| format!("client {id} line {i} {}", "x".repeat((i * 37 + id as usize * 11) % 300)).into_bytes())
            .collect()
    }
}

fn line_client(path: &Path, id: u64, count: usize) -> PeerResult {
    let lines = EventLoop::serve_many_lines(id, count);
    let mut stream = UnixStream::connect(path).map_err(failed("connecting to the server"))?;
    stream.set_read_timeout(Some(Duration::from_secs(3))).map_err(failed("setting a read timeout"))?;
    let mut answers = BufReader::new(stream.try_clone().map_err(failed("cloning the socket"))?);
    let half = count / 2;
    let mut expect = |i: usize| -> PeerResult {
        let mut got = Vec::new();
        if let Err(e) = answers.read_until(b'\n', &mut got) {
            if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) {
                return Err((
                    FAILED,
                    format!("{} 3 s: client {id} had {i} of its {count} answers", EventLoop::NO_ANSWER),
                ));
            }
            return Err(failed(&format!("client {id}: reading the answer to line {i}"))(e));
        }
        let mut want = EventLoop::serve_many_answer(&lines[i]);
        want.push(b'\n');
        match ipc_katas::grader::diff_bytes(&want, &got) {
            None => Ok(()),
            Some(_) if got.is_empty() => {
                Err((FAILED, format!("client {id}: the server closed the connection before answering line {i}")))
            }
            Some(diff) => {
                Err((FAILED, format!("client {id}: the answer to line {i} is not `re:` and the line:\n{diff}")))
            }
        }
    };
    for (i, line) in lines.iter().enumerate().take(half) {
        stream.write_all(&[&line[..], b"\n"].concat()).map_err(failed(&format!("client {id}: sending line {i}")))?;
        expect(i)?;
    }
    let rest: Vec<u8> = lines[half..].iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
    stream.write_all(&rest).map_err(failed(&format!("client {id}: sending lines {half} to {count}")))?;
    (half..count).try_for_each(expect)
}
