//! Answer to kata sockets::unix_server: A Unix stream server for many clients at once, and its client.

use std::fs;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use nix::sys::socket::{AddressFamily, Backlog, SockFlag, SockType, UnixAddr, bind, listen, socket};

use super::framing::{read_frame, write_frame};

/// A listening Unix stream socket bound to a path. Dropping it closes the socket and removes
/// the socket file.
#[derive(Debug)]
pub struct UnixServer {
    listener: UnixListener,
    path: PathBuf,
}

impl UnixServer {
    /// Binds a stream socket to `path` (mode 0600) and listens. A socket file left by a server
    /// that died (nobody accepts on it: `connect` is refused) is removed and the bind retried;
    /// a path where a server is listening, or that is not a socket, is `AddrInUse` and is left
    /// alone. See `man 7 unix`, `man 2 bind`, `man 2 listen`.
    pub fn bind(path: &Path) -> io::Result<UnixServer> {
        let listener = match bind_owner_only(path) {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                remove_if_stale(path)?;
                bind_owner_only(path)?
            }
            other => other?,
        };
        Ok(UnixServer { listener, path: path.to_path_buf() })
    }

    /// The path clients connect to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts `clients` connections and serves each in its own thread, so that a slow or idle
    /// client never holds up the others: every request frame is answered with the frame
    /// `handler(request)`, until the client closes. A client that breaks the protocol (a bad
    /// frame, a write that fails) loses its connection; the others go on. Returns once every
    /// connection has ended; an error of `accept` itself ends the serving.
    pub fn serve(&self, clients: usize, handler: impl Fn(&[u8]) -> Vec<u8> + Sync) -> io::Result<()> {
        let handler = &handler;
        std::thread::scope(|scope| {
            for _ in 0..clients {
                let (stream, _) = self.listener.accept()?;
                scope.spawn(move || {
                    // One client's broken protocol ends its connection and nothing else.
                    let _ = serve_client(stream, handler);
                });
            }
            Ok(())
        })
    }
}

impl Drop for UnixServer {
    fn drop(&mut self) {
        // The listener closes after this; nobody can connect to a removed path meanwhile.
        let _ = fs::remove_file(&self.path);
    }
}

fn serve_client(mut stream: UnixStream, handler: &impl Fn(&[u8]) -> Vec<u8>) -> io::Result<()> {
    while let Some(request) = read_frame(&mut stream)? {
        write_frame(&mut stream, &handler(&request))?;
    }
    stream.flush()
}

/// socket + bind + chmod 0600 + listen. The mode is set before `listen`: until then a connect is
/// refused, so nobody else can get in through the moment the file has the process's umask.
fn bind_owner_only(path: &Path) -> io::Result<UnixListener> {
    let fd = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    let address = UnixAddr::new(path)?;
    bind(fd.as_raw_fd(), &address)?;
    let ready =
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).and_then(|()| Ok(listen(&fd, Backlog::MAXCONN)?));
    if let Err(e) = ready {
        let _ = fs::remove_file(path);
        return Err(e);
    }
    Ok(UnixListener::from(fd))
}

/// Removes the socket file at `path` if no server listens on it; `AddrInUse` otherwise.
/// Connecting tells: a listening server accepts (or queues) the connection; a socket file whose
/// server is gone refuses it. Anything that is not a socket is never removed.
///
/// Two servers restarting at the same moment over the same stale file can still race (both see
/// it refused, one removes the other's fresh file); a lock file beside the socket, held with
/// `flock`, closes that window when it matters.
fn remove_if_stale(path: &Path) -> io::Result<()> {
    let in_use = |why: &str| io::Error::new(io::ErrorKind::AddrInUse, format!("{}: {why}", path.display()));
    if !fs::symlink_metadata(path)?.file_type().is_socket() {
        return Err(in_use("the path is taken by something that is not a socket"));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(in_use("a server is listening on this socket")),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => fs::remove_file(path),
        // Anything but a refusal (EPROTOTYPE from a datagram socket bound there, EACCES) means
        // a live socket we may not take: the path is in use, and left alone.
        Err(e) => Err(in_use(&format!("a live socket is bound here (connecting to it: {e})"))),
    }
}

/// Connects to the server at `path`, sends each request as a frame and reads its answer before
/// the next; returns the answers in order. The server closing early is `UnexpectedEof`; nobody
/// at `path` is `NotFound` (no file) or `ConnectionRefused` (a dead server's file).
pub fn call(path: &Path, requests: &[Vec<u8>]) -> io::Result<Vec<Vec<u8>>> {
    let mut stream = UnixStream::connect(path)?;
    let mut answers = Vec::with_capacity(requests.len());
    for request in requests {
        write_frame(&mut stream, request)?;
        let answer = read_frame(&mut stream)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection before it answered")
        })?;
        answers.push(answer);
    }
    Ok(answers)
}
