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
                "Right after Command::spawn the child is yours and unreaped, so its pid cannot belong to anyone \
                 else yet: call pidfd_open(pid, 0) at once (libc::syscall(libc::SYS_pidfd_open, ...)) and from \
                 then on use only the pidfd. Dropping std's Child neither waits nor kills.",
                "Put every pidfd in one epoll instance (EPOLL_CLOEXEC) with the child's id as the event's data: a \
                 pidfd turns readable when its process exits, so one epoll_wait with the timeout waits for all the \
                 children at once, whatever order they end in.",
                "Reap the ready child with waitid(P_PIDFD, pidfd, &mut info, WEXITED) and read info.si_code: \
                 CLD_EXITED means si_status is an exit code, CLD_KILLED or CLD_DUMPED a signal number. Signal with \
                 pidfd_send_signal(pidfd, sig, NULL, 0); in Drop, SIGKILL and then reap every child left.",
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
                "TODO serve_many hint 1",
                "TODO serve_many hint 2",
                "TODO serve_many hint 3",
            ],
        },
    ],
};
