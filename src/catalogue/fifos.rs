//! The fifos topic: its katas in the order a learner meets them.

use super::{Kata, Topic};

pub const TOPIC: Topic = Topic {
    id: "fifos",
    title: "Named pipes (FIFOs)",
    summary: "mkfifo and open: a pipe with a name in the file system, between processes \
              that share no ancestor, with records that several writers send at once.",
    hang_causes: &[
        "a blocking open with no process at the other end: open for reading waits for a writer, and the other way round",
        "two processes opening two FIFOs in opposite orders, each waiting in open for the other",
        "a write end still open somewhere, so the reader never sees end-of-file",
        "the FIFO made at another path than the one the other side opens",
    ],
    katas: &[
        Kata {
            id: "fifos::make_fifo",
            title: "Make a named pipe",
            question: Some(3),
            hints: &[
                "mkfifo(3) makes the name; nix::unistd::mkfifo wraps it and returns an Errno, which \
                 converts into io::Error.",
                "Give the mode explicitly: 0o600, owner read and write. 0666 lets every user on the \
                 machine read and write your pipe.",
                "Do not remove an existing file first: if the path is taken, fail with the error \
                 mkfifo gives (EEXIST, io::ErrorKind::AlreadyExists).",
            ],
        },
        Kata {
            id: "fifos::send_receive",
            title: "Send bytes through a FIFO between unrelated processes",
            question: Some(3),
            hints: &[
                "Opening a FIFO blocks until the other end is opened too: a writer waits for a \
                 reader, a reader for a writer. Plain File::open and OpenOptions do exactly that.",
                "The reader sees end-of-file when the writer closes, so read to the end; the writer \
                 must write everything (write_all) and then close by dropping the File.",
                "Open the reading side read-only. A reader that opens with O_RDWR is a writer too, \
                 and never sees end-of-file. Do not unlink the FIFO: it belongs to whoever made it.",
            ],
        },
        Kata {
            id: "fifos::records",
            title: "Several writers, one reader, records kept whole",
            question: Some(3),
            hints: &[
                "A write of at most PIPE_BUF (4096) bytes to a pipe or FIFO is atomic: it is never \
                 mixed with another writer's data. Larger writes, or one record sent in two writes, \
                 can be.",
                "Build each record (its 2-byte length, then its bytes) in one buffer and send it with \
                 a single write; check that write wrote all of it. Refuse a record that cannot fit \
                 before writing anything.",
                "The reader opens read-only and reads until end-of-file (every writer closed), then \
                 splits the stream into records by their lengths; a record cut short at the end is \
                 an error (InvalidData), not a record.",
            ],
        },
    ],
};
