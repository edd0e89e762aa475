//! Answer to kata sync::undo_semaphore: A SysV semaphore that the kernel releases for a dead holder.

use std::io;

use nix::errno::Errno;

/// The largest value a SysV semaphore may hold (`SEMVMX`, `man 2 semop`).
const SEMVMX: i32 = 32767;

/// One SysV semaphore (`man 2 semget`, `man 2 semop`). [`acquire`](UndoSemaphore::acquire)
/// and [`release`](UndoSemaphore::release) both pass `SEM_UNDO`, so if a process exits or is
/// killed, the kernel undoes what it still holds. The set outlives every process until
/// [`remove`](UndoSemaphore::remove).
#[derive(Debug)]
pub struct UndoSemaphore {
    id: i32,
}

/// The argument of `semctl` (`man 2 semctl`: the calling program must define it).
#[repr(C)]
#[allow(dead_code, reason = "only val is used; the pointers give the union its size and alignment")]
union Semun {
    val: libc::c_int,
    buf: *mut libc::semid_ds,
    array: *mut libc::c_ushort,
}

impl UndoSemaphore {
    /// Creates a set of one semaphore, owner read and write only (0600), exclusively
    /// (`IPC_CREAT | IPC_EXCL`), with the value `initial` (`semctl(SETVAL)`). `key` `None` is
    /// `IPC_PRIVATE`.
    ///
    /// Errors: `initial` outside 0..=32767 is `InvalidInput`; a key that is taken
    /// `AlreadyExists`.
    pub fn create(key: Option<i32>, initial: i32) -> io::Result<UndoSemaphore> {
        if !(0..=SEMVMX).contains(&initial) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a semaphore's value is 0 to {SEMVMX}, not {initial}"),
            ));
        }
        // SAFETY: semget takes plain integers.
        let id = Errno::result(unsafe {
            libc::semget(key.unwrap_or(libc::IPC_PRIVATE), 1, libc::IPC_CREAT | libc::IPC_EXCL | 0o600)
        })?;
        let sem = UndoSemaphore { id };
        // semctl's fourth argument is a `union semun` (`man 2 semctl`; the caller defines it),
        // which glibc reads with va_arg as the whole pointer-sized union: pass one, not a bare
        // int, which only reads right where the int sits in the union's first bytes.
        let arg = Semun { val: initial };
        // SAFETY: SETVAL reads arg.val from the union passed by value; no pointer is used.
        if let Err(e) = Errno::result(unsafe { libc::semctl(id, 0, libc::SETVAL, arg) }) {
            let _ = sem.remove();
            return Err(e.into());
        }
        Ok(sem)
    }

    /// The set's id, for `ipcs`.
    pub fn id(&self) -> i32 {
        self.id
    }

    /// Waits until the value is at least 1 and takes 1, with `SEM_UNDO`.
    pub fn acquire(&self) -> io::Result<()> {
        self.op(-1)
    }

    /// Gives 1 back, with `SEM_UNDO`, cancelling the undo that `acquire` recorded.
    pub fn release(&self) -> io::Result<()> {
        self.op(1)
    }

    /// The current value (`semctl(GETVAL)`).
    pub fn value(&self) -> io::Result<i32> {
        // SAFETY: GETVAL takes no argument.
        Ok(Errno::result(unsafe { libc::semctl(self.id, 0, libc::GETVAL) })?)
    }

    /// Removes the set (`semctl(IPC_RMID)`) at once; processes waiting on it fail with `EIDRM`.
    pub fn remove(&self) -> io::Result<()> {
        // SAFETY: IPC_RMID takes no argument.
        Errno::result(unsafe { libc::semctl(self.id, 0, libc::IPC_RMID) })?;
        Ok(())
    }

    fn op(&self, delta: libc::c_short) -> io::Result<()> {
        let mut op = libc::sembuf { sem_num: 0, sem_op: delta, sem_flg: libc::SEM_UNDO as libc::c_short };
        loop {
            // SAFETY: op is one valid sembuf, and we pass a count of one.
            match Errno::result(unsafe { libc::semop(self.id, &mut op, 1) }) {
                Ok(_) => return Ok(()),
                // A caught signal interrupted the wait (`man 2 semop`): wait again.
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}
