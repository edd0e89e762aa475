//! The interview topic: the five classic questions as katas, and the question registry the
//! mock interview reads.

use super::{Kata, Question, Topic};

pub const TOPIC: Topic = Topic {
    id: "interview",
    title: "The five classic interview questions",
    summary: "Shared memory or messages, pipes or sockets, named or anonymous pipes, races in shared \
              memory, and a process that dies holding resources: each answer made concrete and graded.",
    katas: &[
        Kata {
            id: "interview::q4_race_witness",
            title: "Catch the source's producer-consumer losing an item",
            file: "katas/interview/q4_race_witness.rs",
            question: Some(4),
            hints: &[
                "Make the SourcePc before forking, fork a producer (1, 2, 3, ... in order) and a consumer, \
                 and read produced() and consumed() once both are done: the journal lives in the shared \
                 memory, so the parent sees it.",
                "Either side may spin for ever once the count is wrong: wait for each child with a timeout \
                 (pidfd_open + poll), watch whether the journal still grows, SIGKILL a stalled run and \
                 waitpid both children before you read the journal.",
                "Scan consumed in order: a value never produced is Corrupted, a value seen before is \
                 Duplicated; failing both, the smallest item below the largest consumed one that never came \
                 is Lost. No anomaly: start a new attempt, until the budget is spent.",
            ],
        },
        Kata {
            id: "interview::q4_race_fixes",
            title: "Fix the source's producer-consumer three ways",
            file: "katas/interview/q4_race_fixes.rs",
            question: Some(4),
            hints: &[
                "Every fix makes the shared update indivisible: count.fetch_add / fetch_sub, or the whole \
                 update under a lock, or no shared count at all (two semaphores count the slots).",
                "Atomics: store the slot, then fetch_add(1, Release); the other side loads count with \
                 Acquire before it reads the slot. Mutex: PTHREAD_PROCESS_SHARED on the mutex AND on both \
                 condition variables, and wait in a while loop.",
                "Semaphores: sem_init(empty, 1, 10) and sem_init(full, 1, 0); produce = wait(empty), write, \
                 post(full); consume = wait(full), read, post(empty). One producer and one consumer each own \
                 their index, so no lock is needed.",
            ],
        },
        Kata {
            id: "interview::q5_supervisor",
            title: "A supervisor recovers what its killed worker held",
            file: "katas/interview/q5_supervisor.rs",
            question: Some(5),
            hints: &[
                "SIGKILL runs no handler, no atexit, no Drop: everything the kernel does not release by \
                 itself (SysV objects, the pidfile's contents, a robust mutex's state) is the supervisor's \
                 job, in recover and remove.",
                "Robust mutex: lock it in recover; EOWNERDEAD means you hold it and must call \
                 pthread_mutex_consistent before unlocking. Semaphore: SEM_UNDO in the worker, and/or SETVAL 1 \
                 in recover. Lock file: the worker must open it itself, or the supervisor's inherited \
                 descriptor keeps the flock alive.",
                "A message is committed once it is in the queue and counted under the mutex; recover drains \
                 the queue with msgrcv(IPC_NOWAIT) until ENOMSG and keeps the first `committed`. remove: \
                 IPC_RMID the segment, the queue and the semaphore, and unlink the lock file.",
            ],
        },
    ],
};

/// The five questions, in the source guide's order.
pub const QUESTIONS: &[Question] = &[
    Question {
        number: 1,
        title: "Shared memory versus message passing",
        prompt: "What are the advantages and disadvantages of shared memory compared with message passing?",
        katas: &["shared_memory::posix_shm", "shared_memory::sysv_segment"],
        answer: "solutions/interview/q1_shm_vs_messages.md",
    },
    Question {
        number: 2,
        title: "Pipes versus sockets",
        prompt: "When would you use a pipe, and when a socket?",
        katas: &["sockets::unix_server", "pipes::ask_child"],
        answer: "solutions/interview/q2_pipes_vs_sockets.md",
    },
    Question {
        number: 3,
        title: "Anonymous versus named pipes",
        prompt: "What is the difference between an anonymous pipe and a named pipe (FIFO)?",
        katas: &["fifos::send_receive", "fifos::make_fifo"],
        answer: "solutions/interview/q3_named_vs_anonymous.md",
    },
    Question {
        number: 4,
        title: "Race conditions in shared memory",
        prompt: "How do you handle race conditions in shared memory?",
        katas: &[
            "interview::q4_race_witness",
            "interview::q4_race_fixes",
            "sync::shared_counter",
            "producer_consumer::spsc_ring",
        ],
        answer: "solutions/interview/q4_races.md",
    },
    Question {
        number: 5,
        title: "A process dies holding a resource",
        prompt: "What happens if a process dies while it holds a system resource, such as a message queue, \
                 a shared memory segment or a lock?",
        katas: &["interview::q5_supervisor", "sync::robust_mutex", "sync::undo_semaphore"],
        answer: "solutions/interview/q5_supervisor.md",
    },
];
