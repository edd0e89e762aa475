//! The test kit: what graded tests share beyond the sandbox itself. Each piece reads the kernel's
//! own view (`/proc`, `man 5 proc`) or makes a trusted other side, so that a test says what the
//! attempt did, not what an answer usually does.
//!
//! - [`thread`]: run a call of the graded code in a thread and see which system call it waits in.
//! - [`process`]: the state and system call of a process: asleep in the kernel, or spinning.
//! - [`fd`]: pipes, polls and one-byte handshakes on plain descriptors.
//! - [`arrivals`]: tagged messages and the one check that none was lost, cut, mixed or repeated.
//! - [`sysv`]: the kernel's tables of SysV objects, `/proc/sysvipc/{shm,msg,sem}`.
//! - [`signals`]: the test's own signal tools: a ticking timer, masks, dispositions, names.
//! - [`owned`]: objects the test makes itself (a FIFO, a file, shared memory), removed on drop.
//! - [`seccomp`]: a filter that catches the futex calls of code that should make none.

pub mod arrivals;
pub mod fd;
pub mod owned;
pub mod process;
pub mod seccomp;
pub mod signals;
pub mod thread;

/// The kernel's tables of SysV objects: the grader's own reader, for the tests too.
pub use crate::grader::sysv;

pub use arrivals::Arrivals;
pub use owned::{Removed, SharedMem, TestFifo};
pub use thread::{KataThread, Seen, Wait};

use crate::grader::Failure;

/// A hint for a failed check: `check.hint("read until end-of-file")?`.
pub trait Hint<T> {
    /// On failure, appends `Hint: {hint}` to its text ([`Failure::hint`]).
    fn hint(self, hint: impl std::fmt::Display) -> Result<T, Failure>;
}

impl<T> Hint<T> for Result<T, Failure> {
    fn hint(self, hint: impl std::fmt::Display) -> Result<T, Failure> {
        self.map_err(|failure| failure.hint(hint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_made_here_is_in_the_table_with_its_mode_and_creator() {
        // SAFETY: plain values; the queue is removed below.
        let id = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) };
        assert!(id >= 0, "msgget: {}", std::io::Error::last_os_error());
        let row = sysv::row("msg", id);
        // SAFETY: our own queue.
        unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
        let row = row.expect("the new queue is listed");
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        assert_eq!((row.key, row.mode(), row.cuid, row.qnum), (libc::IPC_PRIVATE, 0o600, uid, 0));
        assert!(sysv::row("msg", id).is_none(), "a removed queue is gone from the table");
    }

    #[test]
    fn a_tagged_message_has_its_length_and_differs_by_sender_and_number() {
        let a = arrivals::tagged(0, 1, 100);
        assert_eq!(a.len(), 100);
        assert_ne!(a, arrivals::tagged(1, 1, 100));
        assert_ne!(a, arrivals::tagged(0, 2, 100));
        assert_eq!(a, arrivals::tagged(0, 1, 100));
    }

    #[test]
    fn a_thread_asleep_in_read_is_seen_there_and_this_process_runs() {
        let (r, w) = fd::pipe().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            tx.send(process::gettid()).unwrap();
            fd::read_byte(&r)
        });
        let tid = rx.recv().unwrap();
        let started = std::time::Instant::now();
        while process::syscall_of_thread(tid).is_none_or(|c| c.number != libc::SYS_read) {
            assert!(started.elapsed().as_secs() < 3, "the reader was never seen in read");
            std::thread::yield_now();
        }
        assert!(fd::write_byte(&w));
        assert_eq!(reader.join().unwrap(), Some(b'!'));
        assert!(process::state(std::process::id() as i32).is_some());
    }

    #[test]
    fn a_failure_with_a_hint_says_it_after_its_text() {
        let failed: Result<(), Failure> = Err(Failure::wrong("lost a message"));
        let text = failed.hint("read until end-of-file").unwrap_err().outcome().text().to_string();
        assert_eq!(text, "lost a message\nHint: read until end-of-file");
    }
}
