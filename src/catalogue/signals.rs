//! The signals topic: its katas in the order a learner meets them.

use super::{Kata, Topic};

pub const TOPIC: Topic = Topic {
    id: "signals",
    title: "Signals",
    summary: "Wait for a signal without losing it, count signals with a handler that only touches \
              atomics (standard signals coalesce, real-time ones queue), reap every child on \
              SIGCHLD, and shut a worker down cleanly on SIGTERM.",
    hang_causes: &[
        "a missed wake-up: the signal arrived before the wait began (check a flag, or block the signal and use sigsuspend or sigtimedwait)",
        "the signal blocked and never unblocked, so it stays pending",
        "waiting for a count that standard signals never reach: they are not queued, two sent close together may arrive as one (use real-time signals)",
        "the handler installed after the sender already sent: the default action ran, or the signal was ignored",
    ],
    katas: &[
        Kata {
            id: "signals::wait_for_child_signal",
            title: "Never miss a child's signal",
            question: None,
            hints: &[
                "A signal that arrives while it is not blocked is handled at once. If that happens \
                 just before pause() starts, pause() has nothing left to wait for and sleeps forever. \
                 Checking a flag first does not help: the signal can land between the check and the \
                 pause.",
                "Block SIGUSR1 before the fork (pthread_sigmask(SIG_BLOCK)). A blocked signal stays \
                 pending, whenever the child sends it, until you take it: then wait with an atomic \
                 'unblock and sleep' (sigsuspend), or take it directly (sigtimedwait, sigwaitinfo, \
                 or a signalfd).",
                "sigtimedwait(&{SIGUSR1}, &mut info, &timeout) returns the signal and fills info; \
                 info.si_pid() is the sender. Then waitpid(child) (never wait(NULL): the caller may \
                 have other children) and restore the old mask.",
            ],
        },
        Kata {
            id: "signals::counting",
            title: "Count signals: standard ones coalesce, real-time ones queue",
            question: None,
            hints: &[
                "A handler gets no pointer to your struct: the state it updates must be a static. \
                 Make it atomics only (an AtomicUsize count, an array of AtomicI32 values): a \
                 Mutex or a Vec::push in a handler deadlocks when the signal lands while the main \
                 code holds that lock (or malloc's).",
                "Install with libc::sigaction and SA_SIGINFO so the handler is \
                 extern \"C\" fn(c_int, *mut siginfo_t, *mut c_void) and can read \
                 (*info).si_value(); keep the old sigaction to restore in Drop. sigval is a union: \
                 its int member is its first 4 bytes.",
                "The kernel keeps one pending bit per standard signal, so 20 kills while it is \
                 blocked deliver once. Real-time signals (SIGRTMIN()..=SIGRTMAX()) sent with \
                 libc::sigqueue(pid, sig, value) are queued: each is delivered, lowest first, in \
                 the order sent.",
            ],
        },
        Kata {
            id: "signals::reaping",
            title: "Reap every child on SIGCHLD, however many signals coalesced",
            question: None,
            hints: &[
                "When 50 children exit at once you may get a single SIGCHLD: a signal that is \
                 already pending does not pend twice. One SIGCHLD means 'at least one child \
                 exited', never 'exactly one'.",
                "So on each SIGCHLD, loop waitpid(-1, WNOHANG) until it returns 0 (children left, \
                 none exited) or ECHILD (no children at all). WNOHANG keeps you from waiting for \
                 a child that is still running.",
                "To wait with a timeout: block SIGCHLD and poll a signalfd for it (nix::sys::signalfd), \
                 or have a handler write a byte to a non-blocking self-pipe and poll the pipe. A \
                 handler needs SA_RESTART, or every child's exit breaks the program's blocking \
                 reads with EINTR.",
            ],
        },
        Kata {
            id: "signals::shutdown",
            title: "Shut down cleanly on SIGTERM",
            question: Some(5),
            hints: &[
                "SIGTERM's default action kills the process on the spot: no destructor runs, and \
                 SysV queues and POSIX shm names outlive it. Decide how SIGTERM is handled before \
                 you create anything.",
                "Block SIGTERM and SIGINT first (pthread_sigmask), then create the objects, call \
                 ready(), and take the signal with sigwait (SigSet::wait): a signal that came \
                 during ready() is pending, so it is not lost.",
                "Wrap each object in a type whose Drop removes it (msgctl(IPC_RMID), shm_unlink), and the \
                 blocked mask in one whose Drop restores it, so every way out of the function, errors and \
                 a panic in ready() included, cleans up. Create with IPC_CREAT | IPC_EXCL | 0o600 and \
                 O_CREAT | O_EXCL, mode 0600.",
            ],
        },
    ],
};
