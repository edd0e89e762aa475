//! The sync topic: its katas in the order a learner meets them.

use super::{Kata, Topic};

pub const TOPIC: Topic = Topic {
    id: "sync",
    title: "Synchronisation between processes",
    summary: "Atomics, process-shared and robust mutexes, and semaphores with SEM_UNDO: a shared \
              counter that stays exact, and locks that survive the death of their holder.",
    hang_causes: &[
        "a lock held by a process that died: no robust mutex (EOWNERDEAD) and no SEM_UNDO, so nobody ever releases it",
        "a mutex, condition variable or semaphore that is not process-shared: each process waits on its own copy",
        "a lost wake-up: the condition signalled before the waiter checked its predicate, or checked outside the mutex",
        "two locks taken in opposite orders by two processes",
    ],
    katas: &[
        Kata {
            id: "sync::shared_counter",
            title: "One counter, several processes, an exact total",
            question: Some(4),
            hints: &[
                "The memory must be shared and survive fork: mmap_anonymous with MAP_SHARED. MAP_PRIVATE \
                 gives every child its own copy to count in.",
                "An increment is read-modify-write: load then store loses updates when two processes \
                 interleave. Use AtomicU64::fetch_add, or hold a lock around the whole `count += 1`.",
                "The mutex needs pthread_mutexattr_setpshared(PTHREAD_PROCESS_SHARED) before \
                 pthread_mutex_init, and the semaphore sem_init(sem, 1, 1): pshared 1. Without it a process \
                 that sleeps on the lock is never woken by another process. Drop runs in every process that \
                 drops a copy: remember getpid() in new, and destroy the mutex or semaphore only there.",
            ],
        },
        Kata {
            id: "sync::robust_mutex",
            title: "A robust mutex: a lock that comes back when its holder dies",
            question: Some(5),
            hints: &[
                "pthread_mutexattr_setrobust(PTHREAD_MUTEX_ROBUST) as well as PTHREAD_PROCESS_SHARED: a plain \
                 mutex whose holder dies stays locked forever. Drop of RobustMutex runs in every process \
                 that holds a copy: record getpid() in new and call pthread_mutex_destroy only there.",
                "pthread_mutex_lock returns EOWNERDEAD when the last holder died: you do hold the lock then. \
                 It is not an error for the caller; record it in the guard, and do not call \
                 pthread_mutex_consistent yet: the value is not repaired.",
                "mark_consistent calls pthread_mutex_consistent, once, while the guard holds the lock after \
                 EOWNERDEAD. Unlocking without it is the safe failure: the mutex turns ENOTRECOVERABLE, so \
                 half-updated data is never passed on as clean.",
            ],
        },
        Kata {
            id: "sync::undo_semaphore",
            title: "A SysV semaphore that the kernel releases for a dead holder",
            question: Some(5),
            hints: &[
                "semget(key, 1, IPC_CREAT | IPC_EXCL | 0o600), then semctl(id, 0, SETVAL, arg) where arg is a \
                 `union semun` you declare (#[repr(C)] union with val: c_int, buf and array pointers): glibc \
                 reads the whole union, not an int. libc has the calls; nix does not.",
                "semop with one sembuf { sem_num: 0, sem_op: -1 or +1, sem_flg: SEM_UNDO }: the kernel keeps \
                 an adjustment per process and applies it when the process dies.",
                "Pass SEM_UNDO on release too, or the adjustments of a process that acquired and released \
                 add up, and the value grows when it exits. Retry semop on EINTR.",
            ],
        },
    ],
};
