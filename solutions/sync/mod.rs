//! Synchronisation between processes: what keeps a shared counter exact and a lock usable when
//! its holder dies. Atomics and `PTHREAD_PROCESS_SHARED` mutexes in `MAP_SHARED` memory
//! (`man 2 mmap`, `man 3 pthread_mutexattr_setpshared`), robust mutexes
//! (`man 3 pthread_mutexattr_setrobust`), and SysV semaphores with `SEM_UNDO` (`man 2 semop`).
//!
//! This file is the same in `katas/` and `solutions/`: edit the kata files beside it.

mod robust_mutex;
mod shared_counter;
mod undo_semaphore;

pub use robust_mutex::{RobustGuard, RobustMutex};
pub use shared_counter::{AtomicCounter, MutexCounter, SemaphoreCounter};
pub use undo_semaphore::UndoSemaphore;
