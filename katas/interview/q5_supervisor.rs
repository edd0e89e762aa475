//! Kata interview::q5_supervisor: A supervisor recovers what its killed worker held.
//!
//! Grade it: `cargo test --test interview q5_supervisor::`
//! Stuck? `cargo run -- hint interview::q5_supervisor`
//! Afterwards, read the model answer: `solutions/interview/q5_supervisor.md`.
//!
//! A worker dies holding five resources; its supervisor recovers every lock, keeps every
//! committed message, and leaks nothing.
//!
//! The story: a supervisor sets up a SysV shared memory segment (holding a robust mutex and a
//! commit counter), a SysV message queue, a SysV semaphore and a lock file, then forks a worker.
//! The worker takes the lock file (`flock`, and writes its pid into it: a pidfile), takes the
//! semaphore, commits messages (each one sent on the queue and counted under the mutex) and may
//! hold the mutex. Then the worker is SIGKILLed at any point: no signal handler, no `atexit`,
//! no `Drop` runs. Afterwards the supervisor must:
//! - take every lock back: the robust mutex (`EOWNERDEAD`: repair `committed` against the queue
//!   first, then `pthread_mutex_consistent`; a mutex left `ENOTRECOVERABLE` can only be
//!   destroyed and made again), the
//!   semaphore (`SEM_UNDO` when the worker took it, or a repair), the lock file (the kernel drops
//!   a dead process's `flock`, but only if no other process holds the same open file
//!   description), and the stale pidfile (it must no longer name the dead worker);
//! - hand back every message committed before the kill, intact and in order;
//! - and, in [`Supervisor::remove`], remove all of it: nothing may outlive the supervisor.
//!
//! Read first: `man 7 sysvipc`, `man 2 shmget`, `man 2 shmat`, `man 2 msgget`, `man 2 msgsnd`,
//! `man 2 semget`, `man 2 semop` (SEM_UNDO), `man 3 pthread_mutexattr_setrobust`,
//! `man 3 pthread_mutex_consistent`, `man 2 flock`, `man 2 open` (O_EXCL), `man 2 kill`,
//! `man 2 waitpid`. libc has the SysV calls (nix does not); every unsafe block gets a
//! `// SAFETY:` comment.
//!
//! The grader kills the worker at every point of its protocol (a property over what it holds
//! and how many messages it committed), then checks with its own system calls: the mutex
//! locks cleanly (`pthread_mutex_trylock` returns 0), the semaphore can be taken without
//! waiting, the lock file can be `flock`ed and does not name the dead pid, the messages are the
//! committed ones; after `remove`, the segment, the queue, the semaphore and the lock file are
//! gone and no child is left. A supervisor that forgets one resource fails naming it. Objects
//! are created `0600` and exclusively (a taken key is `AlreadyExists`).

use std::io;
use std::marker::PhantomData;
use std::path::PathBuf;

/// The largest message [`StateGuard::commit`] accepts, in bytes.
pub const MAX_MESSAGE: usize = 1024;

/// Where the worker's resources live: keys for the three SysV objects and a path for the lock
/// file. The grader hands out keys and a path that are free and unique to the test.
#[derive(Clone, Debug)]
pub struct Resources {
    pub segment_key: i32,
    pub queue_key: i32,
    pub semaphore_key: i32,
    pub lock_file: PathBuf,
}

/// The ids of the SysV objects, for `ipcs` and for the grader's own checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SupervisorIds {
    pub segment: i32,
    pub queue: i32,
    pub semaphore: i32,
}

/// The start of the shared memory segment: this layout is part of the task (the grader attaches
/// the segment and checks the mutex itself). `mutex` is a process-shared robust mutex that
/// guards `committed`, the number of messages committed so far.
#[repr(C)]
pub struct SegmentState {
    pub mutex: libc::pthread_mutex_t,
    pub committed: u64,
}

/// The supervisor: owns the resources and the worker process.
pub struct Supervisor {
    // Your fields: the ids, the attached segment, the lock file's path, the worker's pid, …
}

/// The worker's side, in the forked worker process: what it may do with the resources.
pub struct Worker {
    // Your fields.
}

/// The robust mutex, held by the worker until the guard is dropped (or the worker is killed).
/// Commits go through it, and it borrows the [`Worker`] mutably: a worker holding it cannot
/// lock the mutex again (the mutex is not recursive: a second lock would wait for ever).
pub struct StateGuard<'a> {
    // Your fields; keep the lifetime, e.g. with PhantomData<&'a mut Worker>.
    _worker: PhantomData<&'a mut Worker>,
}

impl Supervisor {
    /// Creates every resource, owner read and write only (0600) and exclusively: the segment
    /// (sized for a [`SegmentState`], its mutex process-shared and robust, `committed` 0), the
    /// queue, the semaphore (one, value 1), and the lock file (empty).
    ///
    /// Errors: a taken key or an existing lock file → `AlreadyExists`, with nothing left
    /// behind; otherwise the errno.
    pub fn create(resources: &Resources) -> io::Result<Supervisor> {
        todo!("create the segment, the queue, the semaphore and the lock file of {resources:?}")
    }

    /// The SysV ids.
    pub fn ids(&self) -> SupervisorIds {
        todo!("the SysV ids")
    }

    /// Forks the worker: the child runs `work` with its [`Worker`] and exits (`_exit`, status 0
    /// if `work` returned `Ok`), never returning into the caller. One worker at a time.
    pub fn spawn(&mut self, work: impl FnOnce(&mut Worker) -> io::Result<()>) -> io::Result<()> {
        let _ = work;
        todo!("fork the worker")
    }

    /// SIGKILLs the worker (if it still runs) and reaps it.
    pub fn kill_worker(&mut self) -> io::Result<()> {
        todo!("kill and reap the worker")
    }

    /// After the worker died: takes every lock back and makes it usable (the mutex consistent
    /// and unlocked, the semaphore free, the lock file unlocked and no longer naming the dead
    /// worker), and returns the committed messages, in the order they were committed, taking
    /// them off the queue. The resources stay until [`Supervisor::remove`].
    pub fn recover(&mut self) -> io::Result<Vec<Vec<u8>>> {
        todo!("recover the locks and the committed messages")
    }

    /// Removes every resource: the segment, the queue, the semaphore and the lock file.
    pub fn remove(self) -> io::Result<()> {
        todo!("remove every resource")
    }
}

impl Worker {
    /// Takes the lock file: opens it itself, `flock(LOCK_EX)`, and writes its pid into it.
    pub fn lock_file(&self) -> io::Result<()> {
        todo!("lock the lock file and write the pid")
    }

    /// Takes the semaphore (waits while it is 0).
    pub fn acquire_semaphore(&self) -> io::Result<()> {
        todo!("acquire the semaphore")
    }

    /// Locks the robust mutex and holds it until the guard is dropped. If a previous holder
    /// died holding it, the worker cannot repair `committed`: an error (only `recover` can).
    pub fn lock_state(&mut self) -> io::Result<StateGuard<'_>> {
        todo!("lock the robust mutex")
    }
}

impl StateGuard<'_> {
    /// Commits one message: sends it on the queue and counts it in `committed`, under the mutex
    /// this guard holds. Once this returns, the message must survive the worker's death.
    ///
    /// Errors: longer than [`MAX_MESSAGE`] → `InvalidInput`, nothing sent.
    pub fn commit(&mut self, message: &[u8]) -> io::Result<()> {
        todo!("commit a message of {} bytes", message.len())
    }
}
