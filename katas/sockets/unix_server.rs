//! Kata sockets::unix_server: A Unix stream server for many clients at once, and its client.
//!
//! Grade it: `cargo test --test sockets unix_server::`
//! Stuck? `cargo run -- hint sockets::unix_server`

use std::io;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// A listening Unix stream socket bound to a path. Dropping it closes the socket and removes
/// its socket file: write `impl Drop for UnixServer` (the file outlives the socket otherwise, and
/// stops the next `bind`).
///
/// The fields are a suggestion: change them as you like (the grader only uses the methods).
#[derive(Debug)]
pub struct UnixServer {
    listener: UnixListener,
    path: PathBuf,
}

impl UnixServer {
    /// Bind a stream socket to `path` and listen on it. The socket file must have mode `0600`
    /// (only its owner may connect: connecting needs write permission on the file).
    ///
    /// A socket file outlives the process that bound it. If `path` holds a socket file whose
    /// server is gone (it crashed before removing it), remove it and bind: a restart must work.
    /// But if a server is still listening there, do not take its path: fail with `AddrInUse`
    /// and leave its file alone. Anything at `path` that is not a socket is never removed
    /// (`AddrInUse` too).
    ///
    /// Read first: `man 7 unix`, `man 2 bind`, `man 2 listen`, `man 2 connect` (ECONNREFUSED).
    ///
    /// The grader checks the file type and mode (it runs your code with umask 0), a restart over
    /// a crashed server's file, a second server on a live path, a regular file at the path, and
    /// that dropping the server removes the file.
    pub fn bind(path: &Path) -> io::Result<UnixServer> {
        todo!("bind and listen on a Unix socket at {path:?}")
    }

    /// The path clients connect to.
    pub fn path(&self) -> &Path {
        let _ = &self.listener;
        todo!("the path of {:?}", self.path)
    }

    /// Accept `clients` connections and serve them all at once: on each connection, read
    /// request frames (use your `read_frame` and `write_frame` from `sockets::framing`) and
    /// answer each with the frame `handler(request)`, until that client closes. Return once
    /// every connection has ended.
    ///
    /// A client that breaks the protocol (a bad frame) loses its connection; it must not stop
    /// the server or keep the other clients waiting. An error of `accept` itself is returned.
    ///
    /// Read first: `man 2 accept`, `std::thread::scope`.
    ///
    /// The grader starts many client processes at once, some of which stay connected until all
    /// the others have had an answer; it checks every answer, and a client that sends a frame
    /// length of 4 GiB.
    pub fn serve(&self, clients: usize, handler: impl Fn(&[u8]) -> Vec<u8> + Sync) -> io::Result<()> {
        let _ = handler;
        todo!("serve {clients} clients on {:?}", self.path)
    }
}

/// Connect to the server at `path`, send each request as a frame and read its answer before
/// sending the next; return the answers in order.
///
/// Errors: nothing at `path` → `NotFound`; a socket file nobody listens on →
/// `ConnectionRefused`; the server closes before answering → `UnexpectedEof`.
///
/// The grader runs your `call` against its own server, with empty and large requests.
pub fn call(path: &Path, requests: &[Vec<u8>]) -> io::Result<Vec<Vec<u8>>> {
    todo!("send {} requests to the server at {path:?}", requests.len())
}
