//! A call of the graded code in a thread of the body, so that the test can watch it wait: which
//! system call the thread sleeps in (`/proc/self/task/TID/syscall`, `man 5 proc`), whether it
//! returned, and its result, a panic in it going on as the body's own.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::process::{self, Syscall};
use crate::grader::Sandbox;

/// How long a watch looks before it says the thread is [`Seen::Elsewhere`].
pub const WATCH: Duration = Duration::from_secs(3);

/// A call of the graded code running in its own thread of the body.
pub struct KataThread<T> {
    handle: JoinHandle<T>,
    tid: libc::pid_t,
    /// When the watches give up at the latest: before the sandbox's deadline.
    give_up: Instant,
}

/// A group of system calls a watched thread may wait in, and how many looks in a row (one a
/// millisecond) make it sure that it waits there.
#[derive(Clone, Copy, Debug)]
pub struct Wait<'a, L> {
    /// What the test calls waiting here, returned in [`Seen::In`].
    pub label: L,
    pub calls: &'a [libc::c_long],
    pub looks: u32,
}

/// What a watched thread was seen doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen<L> {
    /// Blocked in one of the calls of the [`Wait`] with this label, for its looks in a row.
    In(L),
    /// It had returned.
    Returned,
    /// None of the waits within the watch (it runs, or sleeps in another call: a polling loop).
    Elsewhere,
}

impl Sandbox {
    /// Runs `work` (a call of the graded code) in a new thread of the body.
    pub fn in_thread<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> KataThread<T> {
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            let _ = tx.send(process::gettid());
            work()
        });
        let tid = rx.recv().unwrap_or(0);
        KataThread { handle, tid, give_up: Instant::now() + self.bounded(Duration::from_secs(3600)) }
    }
}

impl<T> KataThread<T> {
    /// The kernel's id of the thread.
    pub fn tid(&self) -> libc::pid_t {
        self.tid
    }

    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the call to return and gives its result; a panic in it (a `todo!()`) goes on
    /// as the body's own.
    pub fn finish(self) -> T {
        self.handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Waits up to `limit` (and never past the sandbox's deadline) for the call to return,
    /// looking every millisecond; whether it did.
    pub fn finishes_within(&self, limit: Duration) -> bool {
        let until = (Instant::now() + limit).min(self.give_up);
        while !self.handle.is_finished() {
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// The system call the thread sleeps in now; None while it runs.
    pub fn syscall(&self) -> Option<Syscall> {
        process::syscall_of_thread(self.tid)
    }

    /// Watches the thread for up to [`WATCH`], one look a millisecond, until it has been in the
    /// calls of one of `waits` for that wait's looks in a row, or has returned.
    pub fn watch<L: Copy>(&self, waits: &[Wait<'_, L>]) -> Seen<L> {
        let until = (Instant::now() + WATCH).min(self.give_up);
        let mut runs = vec![0u32; waits.len()];
        while Instant::now() < until {
            if self.handle.is_finished() {
                return Seen::Returned;
            }
            let now = self.syscall().map(|call| call.number);
            for (run, wait) in runs.iter_mut().zip(waits) {
                if now.is_some_and(|n| wait.calls.contains(&n)) {
                    *run += 1;
                    if *run >= wait.looks {
                        return Seen::In(wait.label);
                    }
                } else {
                    *run = 0;
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if self.handle.is_finished() { Seen::Returned } else { Seen::Elsewhere }
    }

    /// Watches until the thread is blocked in one of `calls` (5 looks in a row), or returned:
    /// `Seen::In(())` when it waits in the kernel as it should.
    pub fn blocks_in(&self, calls: &[libc::c_long]) -> Seen<()> {
        self.watch(&[Wait { label: (), calls, looks: 5 }])
    }

    /// Waits, looking as often as it can, until the thread is in `call` with first argument
    /// `arg0` (if given); whether it was seen there before the watch ended.
    pub fn wait_until_in(&self, call: libc::c_long, arg0: Option<u64>) -> bool {
        let until = (Instant::now() + WATCH).min(self.give_up);
        loop {
            if self.syscall().is_some_and(|c| c.number == call && arg0.is_none_or(|a| c.args[0] == a)) {
                return true;
            }
            if Instant::now() >= until || self.handle.is_finished() {
                return false;
            }
            std::thread::yield_now();
        }
    }
}

/// The system calls the katas wait in, by what they do (x86-64 also has the old `open`).
pub mod calls {
    #[cfg(target_arch = "x86_64")]
    pub const OPEN: &[libc::c_long] = &[libc::SYS_open, libc::SYS_openat, libc::SYS_openat2];
    #[cfg(not(target_arch = "x86_64"))]
    pub const OPEN: &[libc::c_long] = &[libc::SYS_openat, libc::SYS_openat2];
    pub const READ: &[libc::c_long] = &[libc::SYS_read, libc::SYS_readv, libc::SYS_pread64];
    pub const WRITE: &[libc::c_long] = &[libc::SYS_write, libc::SYS_writev, libc::SYS_pwrite64];
    pub const MSGSND: &[libc::c_long] = &[libc::SYS_msgsnd];
    pub const MSGRCV: &[libc::c_long] = &[libc::SYS_msgrcv];
    pub const MQ_SEND: &[libc::c_long] = &[libc::SYS_mq_timedsend];
    pub const MQ_RECEIVE: &[libc::c_long] = &[libc::SYS_mq_timedreceive];
    pub const FUTEX: &[libc::c_long] = &[libc::SYS_futex];
}
