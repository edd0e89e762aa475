//! Peer commands of the interview topic: a trusted server in a program of its own, unrelated to
//! the test and to the code under test.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{FAILED, PeerResult, failed};

#[derive(Debug, Serialize, Deserialize)]
pub enum Interview {
    /// Bind `path`, say so on the FIFO `ready`, serve one client `count` framed requests (u32 BE
    /// length) answered reversed in small pieces, then expect end-of-file; remove `path`.
    ReverseServer { path: PathBuf, ready: PathBuf, count: usize },
}

impl Interview {
    pub fn run(self) -> PeerResult {
        match self {
            Interview::ReverseServer { path, ready, count } => reverse_server(&path, &ready, count),
        }
    }
}

/// How long the trusted server waits for the code under test before it says so.
const PATIENCE: Duration = Duration::from_secs(3);

/// The answers go out in pieces this large, so one `read` is never one answer.
const PIECE: usize = 1000;

fn reverse_server(path: &Path, ready: &Path, count: usize) -> PeerResult {
    let listener = UnixListener::bind(path).map_err(failed("binding the server socket"))?;
    let served = serve(&listener, ready, count);
    let _ = fs::remove_file(path);
    served
}

fn serve(listener: &UnixListener, ready: &Path, count: usize) -> PeerResult {
    // Listening now: tell the test, which waits on the FIFO's other end.
    OpenOptions::new()
        .write(true)
        .open(ready)
        .and_then(|mut f| f.write_all(b"!"))
        .map_err(failed("telling the test that the server listens"))?;
    listener.set_nonblocking(true).map_err(failed("setting up the listener"))?;
    let started = std::time::Instant::now();
    let mut stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && started.elapsed() < PATIENCE => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err((FAILED, format!("no client connected within {} s: {e}", PATIENCE.as_secs()))),
        }
    };
    stream.set_nonblocking(false).map_err(failed("setting up the connection"))?;
    stream.set_read_timeout(Some(PATIENCE)).map_err(failed("setting a read timeout"))?;
    for i in 0..count {
        let request = read_frame(&mut stream).map_err(|e| {
            (FAILED, format!("reading request {i} of {count}: {e} (kind {:?}): send each request as a frame", e.kind()))
        })?;
        let mut answer = (request.len() as u32).to_be_bytes().to_vec();
        answer.extend(request.iter().rev());
        for piece in answer.chunks(PIECE) {
            stream.write_all(piece).map_err(failed(&format!("answering request {i}")))?;
        }
    }
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) if rest.is_empty() => Ok(()),
        Ok(_) => Err((FAILED, format!("after {count} requests the client sent {} more bytes", rest.len()))),
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Err((
            FAILED,
            format!(
                "after its {count} requests the client kept the connection open for {} s: close it (drop the \
                 stream) when done, so that the server sees end-of-file",
                PATIENCE.as_secs()
            ),
        )),
        Err(e) => Err((FAILED, format!("waiting for the client to close: {e}"))),
    }
}

fn read_frame(from: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut header = [0u8; 4];
    from.read_exact(&mut header)?;
    let len = u32::from_be_bytes(header) as usize;
    if len > 1 << 20 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("a frame length of {len} bytes")));
    }
    let mut message = vec![0u8; len];
    from.read_exact(&mut message)?;
    Ok(message)
}
