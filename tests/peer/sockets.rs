//! Peer commands of the sockets topic: trusted clients, and the two ends of descriptor passing.
//! They never use the code under test: each one checks the learner's other side.

use std::fs;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, UnixAddr, recvmsg, sendmsg};
use serde::{Deserialize, Serialize};

use super::{FAILED, PeerResult, failed};
use ipc_katas::grader::Payload;

#[derive(Debug, Serialize, Deserialize)]
pub enum Sockets {
    /// Connect to `path`, send client `id`'s `count` framed requests (u32 BE length), expect
    /// each one back reversed.
    UnixClient { path: PathBuf, id: u64, count: usize },
    /// Send `len` bytes (seed `seed`) to 127.0.0.1:`port`, `shutdown(Write)`, expect them back
    /// reversed, then end-of-file.
    TcpClient { port: u16, len: usize, seed: u64 },
    /// Connect to `path`, receive one descriptor (`SCM_RIGHTS`), save what it reads in `out`.
    FdRecv { path: PathBuf, out: PathBuf },
    /// Open `file`, read `skip` bytes, connect to `path` and send the open file (`SCM_RIGHTS`).
    FdSend { path: PathBuf, file: PathBuf, skip: usize },
}

impl Sockets {
    pub fn run(self) -> PeerResult {
        match self {
            Sockets::UnixClient { path, id, count } => unix_client(&path, id, count),
            Sockets::TcpClient { port, len, seed } => tcp_client(port, len, seed),
            Sockets::FdRecv { path, out } => fd_recv(&path, &out),
            Sockets::FdSend { path, file, skip } => fd_send(&path, &file, skip),
        }
    }
}

/// How long a trusted peer waits for the code under test before it says so.
const PATIENCE: Duration = Duration::from_secs(3);

/// The requests of client `id`: sizes that cross buffer boundaries, an empty one included.
pub fn unix_requests(id: u64, count: usize) -> Vec<Vec<u8>> {
    const SIZES: [usize; 6] = [17, 0, 65_537, 1, 200_000, 4096];
    (0..count).map(|i| Payload::new(SIZES[(i + id as usize) % SIZES.len()], id * 1000 + i as u64).bytes()).collect()
}

/// The answer the graded servers give: the request reversed.
pub fn reversed(request: &[u8]) -> Vec<u8> {
    request.iter().rev().copied().collect()
}

fn unix_client(path: &Path, id: u64, count: usize) -> PeerResult {
    let requests = unix_requests(id, count);
    let mut stream = UnixStream::connect(path).map_err(failed("connecting to the server"))?;
    stream.set_read_timeout(Some(PATIENCE)).map_err(failed("setting a read timeout"))?;
    for (i, request) in requests.iter().enumerate() {
        let mut frame = (request.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(request);
        stream.write_all(&frame).map_err(failed(&format!("sending request {i}")))?;
        let answer = read_frame(&mut stream).map_err(failed(&format!("reading the answer to request {i}")))?;
        if let Some(diff) = ipc_katas::grader::diff_bytes(&reversed(request), &answer) {
            return Err((FAILED, format!("the answer to request {i} is not the request reversed:\n{diff}")));
        }
    }
    Ok(())
}

/// A trusted frame reader: the length, then exactly that many bytes.
fn read_frame(from: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut header = [0u8; 4];
    from.read_exact(&mut header)?;
    let mut message = vec![0u8; u32::from_be_bytes(header) as usize];
    from.read_exact(&mut message)?;
    Ok(message)
}

fn tcp_client(port: u16, len: usize, seed: u64) -> PeerResult {
    let data = Payload::new(len, seed).bytes();
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).map_err(failed("connecting to the server"))?;
    stream.set_read_timeout(Some(PATIENCE)).map_err(failed("setting a read timeout"))?;
    stream.write_all(&data).map_err(failed("sending the data"))?;
    stream.shutdown(Shutdown::Write).map_err(failed("half-closing (shutdown(Write))"))?;
    let mut answer = Vec::new();
    if let Err(e) = stream.read_to_end(&mut answer) {
        let why = if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
            format!(
                "the client half-closed after its {} bytes and got {} bytes of answer, then nothing more and no \
                 end-of-file for {} s: the server must read until end-of-file (not one read), answer, and close \
                 the connection (or shutdown(Write)) so that the client sees where the answer ends",
                data.len(),
                answer.len(),
                PATIENCE.as_secs()
            )
        } else {
            format!("reading the answer: {e} (kind {:?})", e.kind())
        };
        return Err((FAILED, why));
    }
    match ipc_katas::grader::diff_bytes(&reversed(&data), &answer) {
        None => Ok(()),
        Some(diff) => Err((FAILED, format!("the answer is not the {} bytes sent, reversed:\n{diff}", data.len()))),
    }
}

fn fd_recv(path: &Path, out: &Path) -> PeerResult {
    let stream = UnixStream::connect(path).map_err(failed("connecting to the sender"))?;
    stream.set_read_timeout(Some(PATIENCE)).map_err(failed("setting a read timeout"))?;
    let mut byte = [0u8; 16];
    let mut data = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 253]);
    let message = recvmsg::<UnixAddr>(stream.as_raw_fd(), &mut data, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(|e| (FAILED, format!("receiving the descriptor (recvmsg): {e}")))?;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for control in message.cmsgs().map_err(|e| (FAILED, format!("reading the control messages: {e}")))? {
        if let ControlMessageOwned::ScmRights(rights) = control {
            // SAFETY: the kernel installed these descriptors in this process for us.
            fds.extend(rights.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    let bytes = message.bytes;
    if fds.len() != 1 {
        return Err((
            FAILED,
            format!(
                "the receiver got {bytes} bytes of data and {} descriptors, not one descriptor: send it as an \
                 SCM_RIGHTS control message with sendmsg (its number alone means nothing in another process)",
                fds.len()
            ),
        ));
    }
    let mut file = fs::File::from(fds.remove(0));
    let mut content = Vec::new();
    file.read_to_end(&mut content).map_err(failed("reading the received descriptor"))?;
    fs::write(out, content).map_err(failed("saving what was read"))
}

fn fd_send(path: &Path, file: &Path, skip: usize) -> PeerResult {
    let mut file = fs::File::open(file).map_err(failed("opening the file"))?;
    let mut skipped = vec![0u8; skip];
    file.read_exact(&mut skipped).map_err(failed("reading the first bytes"))?;
    let stream = UnixStream::connect(path).map_err(failed("connecting to the receiver"))?;
    let fds = [file.as_raw_fd()];
    sendmsg::<UnixAddr>(
        stream.as_raw_fd(),
        &[IoSlice::new(b"F")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(|e| (FAILED, format!("sending the descriptor (sendmsg): {e}")))?;
    Ok(())
}
