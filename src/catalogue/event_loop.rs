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
                "An eventfd is a counter, not a queue: every write adds to it and a read takes it. So a wake \
                 sent before anyone waits is not lost: it sits in the counter, the descriptor stays readable, \
                 and the next wait returns at once. nix::sys::eventfd::EventFd::from_flags makes one.",
                "Flags: EFD_CLOEXEC | EFD_NONBLOCK, and EFD_SEMAPHORE for Counting::Semaphore (then a read \
                 takes 1 and returns 1). Both a write and a read move exactly 8 bytes, a u64 in native byte \
                 order (u64::to_ne_bytes): a 4-byte buffer is EINVAL. Refuse 0 and u64::MAX in wake before \
                 writing anything.",
                "wait: compute a deadline once; loop: poll(fd, POLLIN) for what is left of it, rounded up to \
                 whole milliseconds (0 ready: return None); EINTR: poll again for the time left; then read: \
                 8 bytes is the answer, EAGAIN means another holder took the counter first, so wait again.",
            ],
        },
        Kata {
            id: "event_loop::ticks_with_timerfd",
            title: "A periodic timerfd in the loop that counts the ticks it missed",
            question: None,
            hints: &[
                "timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC), then timerfd_settime with a struct itimerspec: \
                 it_value is the first expiry (relative to now), it_interval the period after it. Set both to the \
                 period: a zero it_interval is a one-shot timer, a zero it_value disarms it.",
                "A read(2) of a timerfd blocks until it has expired at least once, then returns 8 bytes: a u64, the \
                 number of expirations since the last read. Return that number, not 1: a loop that was busy for \
                 five periods must learn that it missed five ticks. A u32 buffer is EINVAL.",
                "Turn the Duration into a timespec yourself: tv_sec must fit a time_t (time_t::try_from, else \
                 InvalidInput), tv_nsec is subsec_nanos. Refuse a zero period before making anything, and keep the \
                 descriptor in an OwnedFd from the moment it exists, so an error of timerfd_settime closes it.",
            ],
        },
        Kata {
            id: "event_loop::signals_as_events",
            title: "Signals as events: block them first, then read them from a signalfd",
            question: None,
            hints: &[
                "Order is everything: pthread_sigmask(SIG_BLOCK) first, signalfd second. A signal \
                 that is not blocked is delivered the moment it arrives (its handler, or its default \
                 action: SIGUSR1 ends the process) and the descriptor never sees it. Check the whole \
                 list before blocking anything (SIGKILL and SIGSTOP cannot be blocked), and keep which \
                 signals the old mask did not block: those are the ones Drop unblocks.",
                "libc has what nix lacks for real-time signals: a libc::sigset_t from sigemptyset and \
                 sigaddset, libc::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK), OwnedFd::from_raw_fd. \
                 Each read returns whole libc::signalfd_siginfo records (128 bytes): ssi_signo, \
                 ssi_pid (the sender), ssi_int (sigqueue's value). Read a buffer of several and keep \
                 the ones you have not returned yet in a VecDeque.",
                "next: compute a deadline once; loop: return a kept event, else read (WouldBlock: \
                 nothing pending), else poll the fd for what is left of the deadline (round up to \
                 whole milliseconds); EINTR from poll only means a handled signal came, so loop \
                 again. Drop: narrow the fd to the signals you blocked (signalfd(fd, &those, 0)), read \
                 until WouldBlock and throw it away, then SIG_UNBLOCK those.",
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
