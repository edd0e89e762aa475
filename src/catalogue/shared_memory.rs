//! The shared_memory topic: its katas in the order a learner meets them.

use super::{Kata, Topic};

pub const TOPIC: Topic = Topic {
    id: "shared_memory",
    title: "Shared memory",
    summary: "SysV segments and POSIX shared memory objects: one region of memory in several \
              processes, made owner-only and exclusively, and removed when the last user is done.",
    hang_causes: &[
        "waiting for a flag the other process never sets: a MAP_PRIVATE mapping or a copy instead of the shared segment, so its write is not seen",
        "a flag read without an atomic (or volatile) load: the compiler may read it once and spin on that value forever",
        "a futex or semaphore that is not process-shared (FUTEX_PRIVATE_FLAG, pshared 0): the other process wakes its own copy",
        "attaching by a key or name that points at another object than the one the other side writes",
    ],
    katas: &[
        Kata {
            id: "shared_memory::sysv_segment",
            title: "A SysV shared memory segment",
            question: Some(1),
            hints: &[
                "nix has no SysV calls: use libc::shmget, shmat, shmdt and shmctl, each in its own small \
                 unsafe block with a // SAFETY: note. shmat returns (void*)-1 on failure, not null.",
                "Create with IPC_CREAT | IPC_EXCL | 0o600: 0666 lets every user read and write your memory, \
                 and without IPC_EXCL a taken key silently hands you somebody else's segment. Check size 0 \
                 yourself and return InvalidInput.",
                "remove() is shmctl(id, IPC_RMID, null): the segment then disappears at the last shmdt. Drop \
                 must shmdt the address shmat gave you. attach() learns the size with shmctl(IPC_STAT) \
                 (shm_segsz) and returns the errno when the id is gone.",
            ],
        },
        Kata {
            id: "shared_memory::posix_shm",
            title: "POSIX shared memory, opened by name",
            question: Some(1),
            hints: &[
                "nix::sys::mman has shm_open, mmap and shm_unlink; nix::unistd::ftruncate sizes the object. \
                 A new object has 0 bytes: touching a mapping past its end is SIGBUS.",
                "Check the name before calling anything: it must be '/' then 1 to 255 bytes (NAME_MAX, as \
                 for mq_open) without '/'. glibc would accept \"name\" without the slash, other systems do not, so refuse it with \
                 InvalidInput. Create with O_CREAT | O_EXCL | O_RDWR and mode 0600.",
                "After mmap the descriptor can be closed: the mapping keeps the object alive. open() takes the \
                 size from fstat. Drop only munmaps; unlink(name) is shm_unlink, which removes \
                 /dev/shm/<name> while mappings stay valid.",
            ],
        },
    ],
};
