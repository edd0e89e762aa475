//! The trust topic: sharing with a process you do not trust, and locks that hold when a holder dies.

use super::{Kata, Topic};

pub const TOPIC: Topic = Topic {
    id: "trust",
    title: "Trust: sharing with a process you do not trust",
    summary: "Share bytes through a sealed memfd that its sender can no longer change or cut short, and \
              take the same lock of a file three ways (fcntl record locks, open-file-description locks and \
              flock), learning which survive another descriptor's close, which a child shares, and that the \
              kernel frees them all when a holder dies.",
    hang_causes: &[
        "a blocking lock (F_SETLKW, F_OFD_SETLKW, or flock without LOCK_NB) where the kata asks to try without waiting",
        "recvmsg on a socket whose sender never sends, or sends on another socket",
    ],
    katas: &[
        Kata {
            id: "trust::sealed_memfd",
            title: "Share bytes the receiver can trust: a sealed memfd over SCM_RIGHTS",
            question: Some(7),
            hints: &[
                "The sender: memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING) (nix::sys::memfd), write the \
                 bytes with write(2) (a File::from(fd) and write_all will do), fcntl(F_ADD_SEALS, F_SEAL_SHRINK \
                 | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL), then send the descriptor as in sockets::pass_fd, \
                 with MSG_NOSIGNAL. Without MFD_ALLOW_SEALING the memfd is born with F_SEAL_SEAL and every \
                 F_ADD_SEALS is EPERM.",
                "The receiver must check before it trusts: fcntl(F_GET_SEALS) on what arrived. EINVAL means \
                 it can never be sealed (a pipe, a plain file): refuse it as PermissionDenied. Any of SHRINK, \
                 GROW or WRITE missing means its sender can still change it: refuse that too. Seals can \
                 only be added, never removed, so what you see now holds for good. Then fstat for the size \
                 (it cannot move now), and refuse more than max_len.",
                "Map it with mmap(len, PROT_READ, MAP_SHARED, fd, 0), close the descriptor (the mapping keeps \
                 the file), and keep (address, length) in Sealed; bytes() is slice::from_raw_parts, sound \
                 because no one can write those pages; Drop munmaps. A file of 0 bytes has no mapping \
                 (mmap of 0 bytes is EINVAL). Receive with MSG_CMSG_CLOEXEC and room for many descriptors, \
                 so that every one that came is yours to close.",
            ],
        },
        Kata {
            id: "trust::file_locks",
            title: "One lock, three ways: fcntl record locks, open-file-description locks and flock",
            question: None,
            hints: &[
                "Open the file read-write (OpenOptions, no create), then one call per kind: fcntl(F_SETLK) for \
                 Record, fcntl(F_OFD_SETLK) for OpenFile (nix::fcntl::FcntlArg has both), flock(LOCK_EX | \
                 LOCK_NB) for Flock (nix::fcntl::Flock::lock with FlockArg::LockExclusiveNonblock). Never the \
                 waiting forms (F_SETLKW, F_OFD_SETLKW, flock without LOCK_NB): try_lock must not wait.",
                "The struct flock for both fcntl kinds: l_type F_WRLCK (exclusive), l_whence SEEK_SET, \
                 l_start 0, l_len 0 (to the end, however far the file grows), l_pid 0 (the OFD commands \
                 insist on it). A lock held by someone else is EAGAIN (POSIX also allows EACCES: treat both \
                 as Ok(None)); flock says EWOULDBLOCK.",
                "The differences are the kernel's, not your code's, as long as each kind really is the call it \
                 names: a Record lock vanishes when any descriptor of the file closes in your process, so \
                 never stand one in for OpenFile. Drop: F_UNLCK with the same command (or LOCK_UN), then the \
                 file closes; a process killed with SIGKILL loses all three, the kernel sees to that.",
            ],
        },
        Kata {
            id: "trust::futex_mutex",
            title: "A process-shared mutex on a raw futex: no system call unless someone waits",
            question: None,
            hints: &[
                "One AtomicU32 in a MAP_SHARED | MAP_ANONYMOUS mapping, then the value. Three states: 0 unlocked, \
                 1 locked, 2 locked and someone may wait. lock: compare_exchange(0, 1); if that worked you hold it, \
                 with no system call. unlock (the guard's Drop): swap(0); only if the old value was 2, \
                 futex(FUTEX_WAKE, 1). The two-state mutex, which wakes on every unlock, makes a system call each \
                 time.",
                "The slow path: while state.swap(2) != 0, futex(word, FUTEX_WAIT_BITSET, 2, deadline, null, \
                 FUTEX_BITSET_MATCH_ANY) through libc::syscall(libc::SYS_futex, ...). Swap in 2, never 1: a woken \
                 locker does not know whether others still sleep, so it must leave the mark that makes its own \
                 unlock wake one. EAGAIN (the word was not 2 any more) and EINTR both mean: loop. Never add \
                 FUTEX_PRIVATE_FLAG: a private futex is keyed by this process's address space, and a wake from \
                 another process never finds you.",
                "lock_within: clock_gettime(CLOCK_MONOTONIC) plus the timeout, once, as a libc::timespec (refuse a \
                 timeout that overflows it), and pass that absolute time to every FUTEX_WAIT_BITSET; ETIMEDOUT is \
                 Ok(None). lock passes a null timeout. get and set read and write the value through raw pointers: \
                 no & or &mut to memory other processes write.",
            ],
        },
        Kata {
            id: "trust::named_semaphore",
            title: "A named semaphore as a lock, with a lease for when its holder dies",
            question: None,
            hints: &[
                "libc has what nix lacks: libc::sem_open(name, O_CREAT | O_EXCL, 0o600 as c_uint, 1) returns \
                 SEM_FAILED on error; sem_timedwait, sem_post, sem_close, sem_unlink. The lease is a POSIX shared \
                 memory object of the same name (nix::sys::mman::shm_open, ftruncate to 4 bytes, mmap it shared): \
                 one u32, the holder's pid, reached with AtomicU32::from_ptr. Create the lease first and the \
                 semaphore last; open the semaphore first.",
                "lock_within: a deadline once; then loop: sem_timedwait for a slice (20 ms, or what is left), \
                 whose deadline is absolute on CLOCK_REALTIME (clock_gettime plus the slice); ETIMEDOUT ends the \
                 slice, EINTR just loops. Taken: store your pid in the lease. Not taken: load the lease; a holder \
                 pid for which kill(pid, 0) fails with ESRCH is dead.",
                "Taking over: compare_exchange(dead pid, your pid) on the lease; only the one waiter whose swap \
                 worked owns the lock now, with the semaphore still taken (do not post it: that would let two in). \
                 The guard's Drop stores 0 in the lease, then sem_post. The lock's Drop: sem_close and munmap; \
                 unlink: sem_unlink and shm_unlink.",
            ],
        },
    ],
};
