//! Trust: sharing with a process you do not trust, and locks that hold when a holder dies. What
//! another process hands you (a descriptor, a file, memory) can change under you unless the
//! kernel forbids it: a sealed memfd cannot be written or cut short (`man 2 memfd_create`), and a
//! lock the kernel keeps for a process is released when that process dies (`man 2 fcntl`,
//! `man 2 flock`).
//!
//! This file is the same in `katas/` and `solutions/`: edit the kata files beside it.

mod file_locks;
mod futex_mutex;
mod named_semaphore;
mod sealed_memfd;

pub use file_locks::{FileLock, LockKind};
pub use futex_mutex::{FutexGuard, FutexMutex};
pub use named_semaphore::{MAX_LOCK_NAME, NamedGuard, NamedLock};
pub use sealed_memfd::{MAX_MEMFD_NAME, Sealed, receive_sealed, share_sealed};
