//! The pipes topic: its katas in the order a learner meets them.

use super::{Kata, Topic};

pub const TOPIC: Topic = Topic {
    id: "pipes",
    title: "Anonymous pipes",
    summary: "pipe, fork, dup2 and exec: move bytes between a parent and its children, \
              build a shell pipeline, and survive a reader that went away.",
    hang_causes: &[
        "a write end of the pipe still open somewhere (in the parent, or inherited by another child), so the reader never sees end-of-file",
        "waiting for a child (waitpid) before draining the pipe it writes to: past the 64 KiB pipe buffer the child blocks in write and never exits",
        "both sides writing large data at once with nobody reading, or both reading first",
        "one pipe used for both directions, so a process reads back its own request",
    ],
    katas: &[
        Kata {
            id: "pipes::child_to_parent",
            title: "A child sends bytes to its parent",
            question: None,
            hints: &[
                "Make the pipe before you fork, so both processes hold both ends. Then each side \
                 closes the end it does not use: the child keeps only the write end, the parent only \
                 the read end.",
                "The parent sees end-of-file only when every write end is closed, its own included. \
                 Read until read returns 0 (File::read_to_end does it); one read returns at most what \
                 is in the pipe, never more than 64 KiB.",
                "Order matters: read everything first, then waitpid the child. A child writing more \
                 than the pipe holds blocks until the parent reads, so waiting first deadlocks. The \
                 child ends with libc::_exit(0), never a return (std::process::exit would also run exit \
                 handlers and flush stdio buffers it copied from the parent).",
            ],
        },
        Kata {
            id: "pipes::ask_child",
            title: "Ask a child questions over two pipes",
            question: Some(2),
            hints: &[
                "A pipe carries one direction: you need two, requests down and answers up. A byte \
                 stream has no message boundaries, so frame each message, for example a u32 length \
                 followed by the bytes.",
                "The child reads a request, calls answer(&request) and writes the answer, until it \
                 sees end-of-file on the request pipe. The parent closes the request pipe when it has \
                 sent everything; that is how the child knows it is done.",
                "Deadlock watch: if the parent writes every request before reading any answer, both \
                 pipes fill up and both sides block in write. Go in lockstep (send one request, read \
                 its answer), or write from one process or thread while reading in another.",
            ],
        },
        Kata {
            id: "pipes::pipeline",
            title: "Build the shell pipeline a | b | c",
            question: None,
            hints: &[
                "One pipe between each pair of neighbours, plus one to feed the first stage and one \
                 to collect the last. In each child, dup2 the right ends onto 0 and 1, then execvp. If an \
                 end already is fd 0 or 1 (the caller had closed its stdin), dup2(fd, fd) does nothing and \
                 keeps O_CLOEXEC: clear it with fcntl(fd, F_SETFD, 0) instead.",
                "Every process must close every pipe end it does not use, the parent included, or a \
                 stage never sees end-of-file and the pipeline hangs. Use O_CLOEXEC (pipe2) so exec \
                 drops the leftovers for you.",
                "Feed the input and collect the output at the same time (a writer thread, or a \
                 forked feeder), or a large input and a large output block each other. Report exec \
                 failures through a CLOEXEC pipe, as std::process::Command does; then waitpid every \
                 stage (again on EINTR: a caught signal interrupts it) and fail if any exited non-zero.",
            ],
        },
        Kata {
            id: "pipes::broken_pipe",
            title: "Write to a pipe nobody reads",
            question: None,
            hints: &[
                "A write to a pipe with no reader raises SIGPIPE, whose default action kills the \
                 process; write returns EPIPE only if the program catches, blocks or ignores the signal \
                 (man 2 write, EPIPE).",
                "Ignoring SIGPIPE for the whole process changes every other part of the program. A \
                 library should block it in the calling thread (pthread_sigmask), write, and restore \
                 the mask.",
                "A SIGPIPE raised while blocked stays pending: take it with sigtimedwait (zero \
                 timeout) before restoring the mask, or it kills you the moment you unblock it.",
            ],
        },
    ],
};
