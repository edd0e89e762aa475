//! The producer_consumer topic: its katas in the order a learner meets them.

use super::{Kata, Topic};

pub const TOPIC: Topic = Topic {
    id: "producer_consumer",
    title: "Producer and consumer in shared memory",
    summary: "The source's busy-waiting producer-consumer with a shared count is the classic broken \
              answer: build the right one twice, a lock-free ring for one producer and one consumer \
              process, and a bounded buffer with semaphores for several of each.",
    hang_causes: &[
        "a lost wake-up: the consumer tested 'empty' and slept after the producer's wake, or the test is outside the lock",
        "waking the wrong side, or one waiter when several wait (signal where broadcast is needed)",
        "a futex or semaphore that is not process-shared, so the wake goes to the other process's copy",
        "a producer waiting on a full buffer whose consumer has gone or never started",
    ],
    katas: &[
        Kata {
            id: "producer_consumer::spsc_ring",
            title: "A single-producer single-consumer ring in shared memory",
            question: Some(4),
            hints: &[
                "Map a header and capacity slots with mmap(MAP_SHARED | MAP_ANONYMOUS) in new, before \
                 the test forks. Do not share a count: keep two positions, tail written only by the \
                 producer and head written only by the consumer, as AtomicU32 in the header.",
                "Let the positions run modulo 2 * capacity (slot = position % capacity): the ring is \
                 empty when tail == head and full when tail - head == capacity, with no slot wasted, so \
                 capacity 1 works. Write the slot, then store tail with Release; the consumer loads tail \
                 with Acquire before it reads the slot (and the same the other way round for head).",
                "To wait, spin a few hundred times, then set a 'sleeping' flag and sleep with \
                 libc::syscall(SYS_futex, &tail, FUTEX_WAIT, seen_tail, timeout): the kernel only sleeps \
                 if tail still equals seen_tail, so a push in between is not missed. After storing tail \
                 (SeqCst), the producer calls FUTEX_WAKE if the flag is set. Turn a deadline into the \
                 futex's relative timeout and return TimedOut when it has passed.",
            ],
        },
        Kata {
            id: "producer_consumer::bounded_buffer",
            title: "A bounded buffer for several producer and consumer processes",
            question: Some(4),
            hints: &[
                "Put three libc::sem_t in the shared mapping and sem_init them with pshared = 1: free \
                 (capacity), filled (0) and lock (1). Wrap them in a small type with post and wait \
                 methods over UnsafeCell<sem_t>, so that the unsafe code stays in one place.",
                "push: wait(free), wait(lock), write slot[next_in], next_in = (next_in + 1) % capacity, \
                 post(lock), post(filled). pop is the mirror image with filled and free. The index update \
                 must be under the lock: two producers that read the same next_in write the same slot.",
                "For the _timeout calls, sem_timedwait takes an absolute CLOCK_REALTIME time; compute it \
                 from the time left, retry on EINTR, map ETIMEDOUT to TimedOut, and use sem_trywait for a \
                 zero timeout (EAGAIN is TimedOut too). If the lock times out after you took a free slot, \
                 sem_post the slot back.",
            ],
        },
    ],
};
