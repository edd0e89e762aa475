//! The sockets topic: its katas in the order a learner meets them.

use super::{Kata, Topic};

pub const TOPIC: Topic = Topic {
    id: "sockets",
    title: "Sockets (Unix and TCP on loopback)",
    summary: "Streams without message boundaries and how to frame them; a Unix server for many \
              clients at once that survives a crashed predecessor; TCP on loopback with a port \
              the kernel picks and a half-close; socketpair and message sockets; passing an \
              open file to another process.",
    hang_causes: &[
        "both sides reading first: each waits for the other's message",
        "waiting for more bytes than were sent: a stream has no message boundaries, so read the length prefix, then exactly that many bytes",
        "a write side never closed or shut down, so the peer's read never sees end-of-file",
        "accept waiting for a client that connects elsewhere (another path or port), or never connects",
    ],
    katas: &[
        Kata {
            id: "sockets::framing",
            title: "Length-prefixed messages over any byte stream",
            question: None,
            hints: &[
                "A read returns what has arrived, anywhere from 1 byte to the size of your buffer: part \
                 of a frame, or one frame and the start of the next. Read the 4 length bytes first, then \
                 exactly that many: never read into a big buffer and call what came one message.",
                "Read::read_exact and Write::write_all loop over short reads and writes and retry \
                 Interrupted. read_exact cannot tell a clean end (no byte of a new frame) from a cut \
                 one, so read the length with your own loop: 0 bytes at its very start means Ok(None).",
                "Check the length against MAX_FRAME before vec![0; len]; u32::from_be_bytes and \
                 to_be_bytes give the network byte order. On writing, refuse a long message before \
                 the first write.",
            ],
        },
        Kata {
            id: "sockets::unix_server",
            title: "A Unix stream server for many clients at once, and its client",
            question: Some(2),
            hints: &[
                "Serve each accepted connection in its own thread (std::thread::scope lets the threads \
                 borrow the handler): a loop that serves one client to the end before accepting the next \
                 keeps every other client waiting as long as the first stays connected.",
                "bind fails with EADDRINUSE whenever the path exists, even if its server is long dead. \
                 Tell the two apart by connecting: ECONNREFUSED means nobody listens (remove the file and \
                 bind again); a connection means a live server (refuse). Check it is a socket first.",
                "For mode 0600 without a window: socket, bind, chmod the path, then listen (nix::sys::socket \
                 has them; UnixListener::from(OwnedFd) wraps the result). A connect is refused until \
                 listen. Remove the file in impl Drop; in serve, ignore one client's error, not accept's.",
            ],
        },
        Kata {
            id: "sockets::tcp",
            title: "TCP on loopback: a port the kernel chooses, and half-close",
            question: Some(2),
            hints: &[
                "Bind to (Ipv4Addr::LOCALHOST, 0): port 0 asks the kernel for a free port, and \
                 local_addr() (getsockname) tells you which. 0.0.0.0 would listen on every interface.",
                "The server knows the client is done only when it reads end-of-file. The client gets \
                 there with stream.shutdown(Shutdown::Write): its side is closed for writing, but it can \
                 still read the answer. Dropping the stream instead would close both directions.",
                "Both sides read with read_to_end, never a single read: 1 MiB arrives in many pieces. \
                 The server closes its write side after the answer so that the client's read_to_end ends.",
            ],
        },
        Kata {
            id: "sockets::socketpair",
            title: "A socketpair as a two-way channel, and messages that stay whole",
            question: Some(2),
            hints: &[
                "UnixStream::pair() gives two connected ends; after fork, each process drops the end it \
                 does not use. The child that kept the parent's end would never see end-of-file.",
                "Go in lockstep (write a request, read its answer) with your framing, then drop the \
                 parent's end so the child's read_frame returns None, and waitpid the child.",
                "For messages: nix::sys::socket::socketpair(AddressFamily::Unix, SockType::SeqPacket, \
                 None, SockFlag::SOCK_CLOEXEC). recv into MAX_MESSAGE bytes with MsgFlags::MSG_TRUNC: the \
                 return value is then the message's real length, and 0 means the other end closed.",
            ],
        },
        Kata {
            id: "sockets::pass_fd",
            title: "Pass an open file to another process (SCM_RIGHTS)",
            question: Some(2),
            hints: &[
                "A descriptor number means nothing in another process. The kernel can install a copy of \
                 the open file in the receiver: an SCM_RIGHTS control message, sent with sendmsg \
                 together with at least one byte of ordinary data.",
                "nix::sys::socket: sendmsg with [ControlMessage::ScmRights(&[fd])]; recvmsg with a buffer \
                 from nix::cmsg_space!, then message.cmsgs() yields ControlMessageOwned::ScmRights(fds).",
                "Wrap every received RawFd in an OwnedFd at once (they are yours to close), return the one \
                 and let the rest drop. Pass MsgFlags::MSG_CMSG_CLOEXEC; 0 bytes and no descriptor means \
                 the peer closed.",
            ],
        },
    ],
};
