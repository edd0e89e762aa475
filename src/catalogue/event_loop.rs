//! The event_loop topic: modern Linux, where every IPC channel is a descriptor one loop can wait on.

use super::{Kata, Topic};

pub const TOPIC: Topic = Topic {
    id: "event_loop",
    title: "Event loops: every channel a descriptor",
    summary: "Wake a loop from another process with an eventfd, count timer ticks with a timerfd, \
              read signals from a signalfd, supervise children through pidfds, start a program that \
              inherits no stray descriptor, and serve many clients from one thread with edge-triggered \
              epoll.",
    hang_causes: &[
        "edge-triggered epoll without reading until WouldBlock: the rest of the data never makes a new edge",
        "a blocking descriptor in the loop: one read or accept that waits stops every other channel",
        "a signal read from a signalfd but never blocked first, or blocked in only one thread",
        "a write end of a pipe leaked into a child or an exec'd program, so the reader never sees end-of-file",
    ],
    katas: &[
        Kata {
            id: "event_loop::wake_with_eventfd",
            title: "Wake an event loop from another process through an eventfd",
            question: None,
            hints: &[
                "TODO wake_with_eventfd hint 1",
                "TODO wake_with_eventfd hint 2",
                "TODO wake_with_eventfd hint 3",
            ],
        },
        Kata {
            id: "event_loop::ticks_with_timerfd",
            title: "A periodic timerfd in the loop that counts the ticks it missed",
            question: None,
            hints: &[
                "TODO ticks_with_timerfd hint 1",
                "TODO ticks_with_timerfd hint 2",
                "TODO ticks_with_timerfd hint 3",
            ],
        },
        Kata {
            id: "event_loop::signals_as_events",
            title: "Signals as events: block them first, then read them from a signalfd",
            question: None,
            hints: &[
                "TODO signals_as_events hint 1",
                "TODO signals_as_events hint 2",
                "TODO signals_as_events hint 3",
            ],
        },
        Kata {
            id: "event_loop::pidfd_supervisor",
            title: "Supervise children through pidfds, never by a bare pid",
            question: None,
            hints: &[
                "TODO pidfd_supervisor hint 1",
                "TODO pidfd_supervisor hint 2",
                "TODO pidfd_supervisor hint 3",
            ],
        },
        Kata {
            id: "event_loop::exec_hygiene",
            title: "Start a program that inherits only descriptors 0, 1 and 2",
            question: None,
            hints: &[
                "TODO exec_hygiene hint 1",
                "TODO exec_hygiene hint 2",
                "TODO exec_hygiene hint 3",
            ],
        },
        Kata {
            id: "event_loop::serve_many",
            title: "One thread and one epoll instance serve many clients",
            question: Some(6),
            hints: &[
                "One loop: epoll_create1(EPOLL_CLOEXEC), register the listener and every accepted client \
                 with EPOLLIN | EPOLLRDHUP | EPOLLET (each set non-blocking), and stop without EPOLLET; then \
                 epoll_wait and act on each event. Give each client its own input buffer (an unfinished line) \
                 and output buffer (answers the socket has not taken yet).",
                "An edge says only that something changed: on the listener's, accept until WouldBlock; on a \
                 client's, read until WouldBlock, but at most 64 KiB a turn: a client with more goes to the back \
                 of your own ready queue, and epoll_wait takes timeout 0 while that queue is not empty. Send with \
                 MSG_NOSIGNAL until EAGAIN, keep the rest, add EPOLLOUT (epoll_ctl MOD) and send it when writable; \
                 do not read a client that has 1 MiB of answers unsent.",
                "Per client: readable (no WouldBlock since its last EPOLLIN), writable (no EAGAIN since its last \
                 EPOLLOUT), eof, queued. A turn: while readable, not at eof and not backed up, read into the input \
                 buffer and answer each whole line (longer than MAX_LINE: close); then flush. Read 0 sets eof; at \
                 eof with nothing unsent, or on EPOLLHUP/EPOLLERR or a send error, epoll_ctl DEL then drop the \
                 socket. The stop event ends the loop whether it is a byte or end-of-file.",
            ],
        },
    ],
};
