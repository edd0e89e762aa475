//! Answer to kata sockets::tcp: TCP on loopback: a port the kernel chooses, and half-close.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};

/// A TCP server listening on 127.0.0.1 at a port the kernel chose. Dropping it closes the
/// listening socket: later connections are refused.
#[derive(Debug)]
pub struct TcpServer {
    listener: TcpListener,
    port: u16,
}

impl TcpServer {
    /// Listens on 127.0.0.1 (loopback only: nothing outside this machine can connect) at port 0,
    /// which tells the kernel to pick a free port; read it back with `getsockname`
    /// (`local_addr`). A fixed port fails as soon as two servers run at once.
    /// See `man 7 ip`, `man 2 bind`, `man 2 getsockname`.
    pub fn bind() -> io::Result<TcpServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        Ok(TcpServer { listener, port })
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves `clients` connections one after another: reads everything the client sends until
    /// it half-closes (end-of-file), writes `handler(data)`, and closes the connection so that
    /// the client sees the end of the answer. See `man 2 shutdown`.
    pub fn serve(&self, clients: usize, handler: impl Fn(&[u8]) -> Vec<u8>) -> io::Result<()> {
        for _ in 0..clients {
            let (mut stream, _) = self.listener.accept()?;
            let mut data = Vec::new();
            stream.read_to_end(&mut data)?;
            stream.write_all(&handler(&data))?;
            stream.shutdown(Shutdown::Write)?;
        }
        Ok(())
    }
}

/// Connects to 127.0.0.1:`port`, sends all of `data`, half-closes (`shutdown(Write)`: the server
/// sees end-of-file, and this side can still read), and reads the answer until the server
/// closes. A port where nobody listens is `ConnectionRefused`, at once.
pub fn exchange(port: u16, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.write_all(data)?;
    stream.shutdown(Shutdown::Write)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(answer)
}
