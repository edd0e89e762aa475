//! Sockets: byte streams and message channels between any two processes, related or not, by
//! path (`AF_UNIX`) or by address (`AF_INET` on loopback). A stream keeps no message boundaries,
//! so the first kata frames messages; the others build servers, clients and channels on top,
//! and the last one passes an open file from one process to another (`man 7 unix`, `man 7 ip`).
//!
//! This file is the same in `katas/` and `solutions/`: edit the kata files beside it.

mod framing;
mod pass_fd;
mod socketpair;
mod tcp;
mod unix_server;

pub use framing::{MAX_FRAME, read_frame, write_frame};
pub use pass_fd::{recv_fd, send_fd};
pub use socketpair::{MAX_MESSAGE, MessageSocket, ask_child, message_pair};
pub use tcp::{TcpServer, exchange};
pub use unix_server::{UnixServer, call};
