//! Shared memory: one region of memory in the address space of several processes. SysV
//! segments (`shmget`, `shmat`, `shmdt`, `shmctl`; `man 7 sysvipc`) live by id until removed;
//! POSIX objects (`shm_open`, `ftruncate`, `mmap`, `shm_unlink`; `man 7 shm_overview`) live by
//! name under `/dev/shm` until unlinked. Either way the memory outlives the processes that made
//! it unless someone removes it.
//!
//! This file is the same in `katas/` and `solutions/`: edit the kata files beside it.

mod posix_shm;
mod sysv_segment;

pub use posix_shm::PosixShm;
pub use sysv_segment::SysvSegment;
