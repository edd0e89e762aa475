//! The interview topic: the five classic questions as katas, and the question registry the
//! mock interview reads. A question's katas are those whose `question` names it.

use super::{Kata, Question, Topic};

pub const TOPIC: Topic = Topic {
    id: "interview",
    title: "The five classic interview questions",
    summary: "Shared memory or messages, pipes or sockets, named or anonymous pipes, races in shared \
              memory, and a process that dies holding resources: each answer made concrete and graded.",
    hang_causes: &[
        "a write end of a pipe still open somewhere, so the reader never sees end-of-file",
        "a lock or semaphore held by a process that was killed (no robust mutex, no SEM_UNDO)",
        "a futex, mutex or semaphore that is not process-shared, so the other process never wakes",
        "a lost wake-up: the notification arrived before the wait began",
    ],
    katas: &[
        Kata {
            id: "interview::q1_shm_vs_messages",
            title: "The same payloads through shared memory and through a message queue",
            question: Some(1),
            hints: &[
                "Shared memory gives you bytes and nothing else. Put a small header at the start of the \
                 segment: a state word (empty, being written, full, being read) and the payload's length, \
                 then the payload. A message queue gives you boundaries but at most MAX_BODY bytes a \
                 message: send the length first, then the chunks.",
                "The state word is an AtomicU32 in the segment (AtomicU32::from_ptr on shmat's address). \
                 Claim the slot with compare_exchange (EMPTY -> WRITING, FULL -> READING), copy, then store \
                 the next state with Ordering::Release; the other side loads with Acquire. To wait, \
                 futex(FUTEX_WAIT) on that word (not FUTEX_PRIVATE_FLAG: the waker is another process), \
                 with the time that is left. FUTEX_WAKE is a system call: count the sleepers in a second \
                 header word (add before the wait, check the state again, subtract after) and wake only \
                 when the count is not 0, with SeqCst on both sides.",
                "Chunking: with the length first, receive_payload reads exactly len bytes of chunks and \
                 stops; an empty payload is just the length 0, and a payload of exactly 8192 or 16384 bytes \
                 needs no end marker. A rule like \"a short chunk ends the payload\" breaks on those sizes.",
            ],
        },
        Kata {
            id: "interview::q2_pipes_vs_sockets",
            title: "One conversation over two pipes and over one Unix socket",
            question: Some(2),
            hints: &[
                "Write the client's loop once, over any Read and Write: write a frame (u32 big-endian \
                 length, then the bytes), then read exactly one frame back with read_exact. Then use it \
                 over two pipes and over a UnixStream (stream.try_clone() gives a second handle to read \
                 with).",
                "Pipes: make both before the fork. The child keeps the read end of the request pipe and \
                 the write end of the answer pipe and drops the other two; the parent the opposite. A \
                 write end left open anywhere means the child never sees end-of-file and never exits.",
                "Order in the parent: converse, drop both pipe ends, then waitpid the child. Socket: \
                 UnixStream::connect(path), converse, and let the stream drop: the server waits for that \
                 end-of-file.",
            ],
        },
        Kata {
            id: "interview::q3_named_vs_anonymous",
            title: "A FIFO outlives its maker; a pipe ends with its last descriptor",
            question: Some(3),
            hints: &[
                "create_fifo_in_child: fork; the child calls mkfifo(path, 0600) and exits with 0 or with \
                 the errno; the parent waitpids and turns a non-zero status back into \
                 io::Error::from_raw_os_error. remove_fifo: symlink_metadata first, unlink only a FIFO.",
                "pipe_inode: fs::read_link(\"/proc/self/fd/N\") is \"pipe:[12345]\" for a pipe; anything \
                 else is InvalidInput. The number is the inode fstat reports.",
                "gather: one pipe, then the forks; each child writes its record in one write and calls \
                 _exit. The parent must drop its own write end before reading: end-of-file comes when \
                 the last write end closes, in every process. Read to end, then reap every child.",
            ],
        },
        Kata {
            id: "interview::q4_race_witness",
            title: "Prove that the source's producer-consumer loses or duplicates items",
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
            question: Some(4),
            hints: &[
                "Every fix makes the shared update indivisible: count.fetch_add / fetch_sub, or the whole \
                 update under a lock, or no shared count at all (two semaphores count the slots).",
                "Atomics: store the slot, then fetch_add(1) (Release at least; SeqCst if you then check \
                 a sleepers count to decide whether to FUTEX_WAKE, as a sleeper adds itself and re-checks \
                 the count with SeqCst); the other side loads count with Acquire before it reads the slot. \
                 Mutex: PTHREAD_PROCESS_SHARED on the mutex AND on both condition variables, and wait in a \
                 while loop.",
                "Semaphores: sem_init(empty, 1, 10) and sem_init(full, 1, 0); produce = wait(empty), write, \
                 post(full); consume = wait(full), read, post(empty). One producer and one consumer each own \
                 their index, so no lock is needed.",
            ],
        },
        Kata {
            id: "interview::q5_supervisor",
            title: "A supervisor recovers what its killed worker held",
            question: Some(5),
            hints: &[
                "SIGKILL runs no handler, no atexit, no Drop: everything the kernel does not release by \
                 itself (SysV objects, the pidfile's contents, a robust mutex's state) is the supervisor's \
                 job, in recover and remove.",
                "Robust mutex: lock it in recover; EOWNERDEAD means you hold it. Repair `committed` first, \
                 then call pthread_mutex_consistent, then unlock: unlocked without it, the mutex turns \
                 ENOTRECOVERABLE (then destroy it and init it again; the worker is dead, nobody else uses \
                 it). Semaphore: SEM_UNDO in the worker, and/or SETVAL 1 in recover (semctl's fourth \
                 argument is a union semun). Lock file: the worker must open it itself, or the supervisor's \
                 inherited descriptor keeps the flock alive.",
                "A message is committed once it is in the queue and counted under the mutex; StateGuard::commit \
                 sends first, then counts, so a kill between the two leaves one uncounted message. recover \
                 drains the queue with msgrcv(IPC_NOWAIT) until ENOMSG and keeps the first `committed`. \
                 remove: IPC_RMID the segment, the queue and the semaphore, and unlink the lock file.",
            ],
        },
    ],
};

/// The questions: the source guide's five classic ones, in its order, then the ones today's
/// interviews add.
pub const QUESTIONS: &[Question] = &[
    Question {
        number: 1,
        title: "Shared memory versus message passing",
        prompt: "What are the advantages and disadvantages of shared memory compared with message passing?",
        answer: "solutions/interview/q1_shm_vs_messages.md",
    },
    Question {
        number: 2,
        title: "Pipes versus sockets",
        prompt: "When would you use a pipe, and when a socket?",
        answer: "solutions/interview/q2_pipes_vs_sockets.md",
    },
    Question {
        number: 3,
        title: "Anonymous versus named pipes",
        prompt: "What is the difference between an anonymous pipe and a named pipe (FIFO)?",
        answer: "solutions/interview/q3_named_vs_anonymous.md",
    },
    Question {
        number: 4,
        title: "Race conditions in shared memory",
        prompt: "How do you handle race conditions in shared memory?",
        answer: "solutions/interview/q4_races.md",
    },
    Question {
        number: 5,
        title: "A process dies holding a resource",
        prompt: "What happens if a process dies while it holds a system resource, such as a message queue, \
                 a shared memory segment or a lock?",
        answer: "solutions/interview/q5_supervisor.md",
    },
    Question {
        number: 6,
        title: "One process, many channels",
        prompt: "How would one process serve many IPC channels at once?",
        answer: "solutions/interview/q6_many_channels.md",
    },
    Question {
        number: 7,
        title: "Sharing memory with a process you do not trust",
        prompt: "How do you share memory with a process you do not trust?",
        answer: "solutions/interview/q7_untrusted_memory.md",
    },
];
