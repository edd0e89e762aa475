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
                "Build every C string and pointer array (argv, envp) before fork: between fork and exec the \
                 child may only make async-signal-safe calls (man 7 signal-safety), no allocation. Make the pipes \
                 with pipe2(O_CLOEXEC); in the child dup2 the read end of the input pipe onto 0 and the write end \
                 of the output pipe onto 1 (the copies dup2 makes are not close-on-exec), then execve.",
                "The caller's own descriptors without close-on-exec: close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) in the \
                 child marks them all, and still lets a close-on-exec error pipe carry exec's errno back (write it, \
                 then _exit; the parent reads 4 bytes or end-of-file, which means the exec worked). Empty the \
                 signal mask and put SIGPIPE back to SIG_DFL there too: both survive exec.",
                "In the parent, close the child's ends at once, make your two ends non-blocking (they are your own \
                 open file descriptions), and poll both in one loop: write while POLLOUT, read while POLLIN, close \
                 stdin when the input is written (EPIPE means the program stopped reading; block SIGPIPE while you \
                 write), stop at end-of-file on stdout, then waitpid(pid) (never -1) through EINTR.",
            ],
        },
        Kata {
            id: "event_loop::serve_many",
            title: "One thread and one epoll instance serve many clients",
            question: Some(6),
            hints: &[
                "TODO serve_many hint 1",
                "TODO serve_many hint 2",
                "TODO serve_many hint 3",
            ],
        },
    ],
};
