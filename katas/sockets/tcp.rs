//! Kata sockets::tcp: TCP on loopback: a port the kernel chooses, and half-close.
//!
//! Grade it: `cargo test --test sockets tcp::`
//! Stuck? `cargo run -- hint sockets::tcp`

use std::io;
use std::net::TcpListener;

/// A TCP server listening on 127.0.0.1 at a port the kernel chose. Dropping it closes the
/// listening socket, so that later connections are refused.
///
/// The field is a suggestion: change it as you like (the grader only uses the methods).
#[derive(Debug)]
pub struct TcpServer {
    listener: TcpListener,
}

impl TcpServer {
    /// Listen on the loopback address 127.0.0.1 only (not every interface: nothing outside
    /// this machine may connect), at a port the kernel picks (never a fixed port: two servers,
    /// or two test runs, at once must both work).
    ///
    /// Read first: `man 7 ip` (port 0, INADDR_LOOPBACK), `man 2 bind`, `man 2 getsockname`.
    ///
    /// The grader checks the address and port in `/proc/net/tcp`, and two servers at once.
    pub fn bind() -> io::Result<TcpServer> {
        todo!("listen on 127.0.0.1 at a port the kernel chooses")
    }

    /// The port clients connect to (the one the kernel chose).
    pub fn port(&self) -> u16 {
        todo!("the port of {:?}", self.listener)
    }

    /// Serve `clients` connections, one after another. On each: read everything the client
    /// sends until it signals the end of its data (end-of-file: it half-closed its side), then
    /// write `handler(data)` and close, so that the client sees the end of the answer.
    ///
    /// Read first: `man 2 shutdown`, `man 7 tcp`.
    ///
    /// The grader's clients are separate programs that send up to 1 MiB each (it arrives in
    /// pieces) and wait for the end of the answer.
    pub fn serve(&self, clients: usize, handler: impl Fn(&[u8]) -> Vec<u8>) -> io::Result<()> {
        let _ = handler;
        todo!("serve {clients} clients on {:?}", self.listener)
    }
}

/// Connect to 127.0.0.1 at `port`, send all of `data`, signal the end of it while keeping the
/// connection open for the answer (`shutdown(Write)`), and return the whole answer: everything
/// the server sends until it closes.
///
/// Errors: nobody listens at `port` → `ConnectionRefused`, at once (no retrying forever).
///
/// The grader's server answers only after it has seen the end of your data, and answers with
/// more than one `read` can return.
pub fn exchange(port: u16, data: &[u8]) -> io::Result<Vec<u8>> {
    todo!("send {} bytes to 127.0.0.1:{port} and read the answer", data.len())
}
