//! The interview topic: the five classic questions as katas, and the question registry the
//! mock interview reads.

use super::{Question, Topic};

pub const TOPIC: Topic = Topic {
    id: "interview",
    title: "The five classic interview questions",
    summary: "Shared memory or messages, pipes or sockets, named or anonymous pipes, races in shared \
              memory, and a process that dies holding resources: each answer made concrete and graded.",
    katas: &[],
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
        katas: &["sync::shared_counter", "producer_consumer::spsc_ring"],
        answer: "solutions/interview/q4_races.md",
    },
    Question {
        number: 5,
        title: "A process dies holding a resource",
        prompt: "What happens if a process dies while it holds a system resource, such as a message queue, \
                 a shared memory segment or a lock?",
        katas: &["sync::robust_mutex", "sync::undo_semaphore"],
        answer: "solutions/interview/q5_supervisor.md",
    },
];
