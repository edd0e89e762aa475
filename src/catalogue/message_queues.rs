//! The message_queues topic: its katas in the order a learner meets them.

use super::{Kata, Topic};

pub const TOPIC: Topic = Topic {
    id: "message_queues",
    title: "Message queues (System V and POSIX)",
    summary: "msgget/msgsnd/msgrcv and mq_open/mq_send/mq_receive: whole messages kept by the \
              kernel, picked by type or delivered by priority, between processes that share \
              nothing but a key or a name, until someone removes the queue.",
    hang_causes: &[
        "receiving a type (msgrcv selector) or from a queue nobody sends to: a selector that matches nothing waits forever",
        "a full queue: send waits for room while the only receiver waits for something else",
        "a receive without IPC_NOWAIT, O_NONBLOCK or a timeout on a queue that stays empty",
        "the two sides opening different queues: another key, another name",
    ],
    katas: &[
        Kata {
            id: "message_queues::sysv_queue",
            title: "A System V message queue: typed messages, picked by type",
            question: Some(1),
            hints: &[
                "msgget(key, IPC_CREAT | IPC_EXCL | 0o600) makes a new queue or fails with EEXIST; \
                 msgget(key, 0) opens one. The queue is the kernel's: the only state you keep is its id.",
                "msgsnd and msgrcv take a pointer to `struct { long mtype; char mtext[]; }` and a size \
                 that counts ONLY mtext, never the mtype field (the C sample's sizeof(struct) is 8 bytes \
                 too many). Build the buffer as a Vec<libc::c_long> (aligned): [mtype, then the body's \
                 bytes], and pass body.len(); msgrcv returns the body's length.",
                "Pass the selector straight to msgrcv as msgtyp: the kernel does 0 / >0 / <0. Without \
                 MSG_NOERROR a message longer than your buffer fails with E2BIG and stays queued (that is \
                 what you want); IPC_NOWAIT makes an empty queue fail with ENOMSG, which try_receive turns \
                 into Ok(None). Retry on EINTR; remove with msgctl(id, IPC_RMID, null).",
            ],
        },
        Kata {
            id: "message_queues::posix_queue",
            title: "A POSIX message queue: named, with priorities",
            question: Some(1),
            hints: &[
                "nix::mqueue::mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0o600, Some(&MqAttr::new(0, \
                 capacity, max_size, 0))) creates; without O_CREAT and attributes it opens. Check the \
                 name yourself first: it must be '/' and then a name without '/', and say so in the error.",
                "mq_receive fails with EMSGSIZE unless the buffer is at least the queue's mq_msgsize, \
                 whoever made the queue: ask mq_getattr when you open it, and keep the size. Return only \
                 the bytes mq_receive says it wrote; receive_into refuses a shorter buffer itself \
                 (InvalidInput), so the caller learns why.",
                "mq_timedreceive wants an absolute CLOCK_REALTIME time: clock_gettime(CLOCK_REALTIME) + \
                 timeout (a TimeSpec), not the timeout itself. Non-blocking mode is mq_setattr with \
                 O_NONBLOCK (nix: mq_set_nonblock). nix's MqdT does not close itself: close it in Drop.",
            ],
        },
    ],
};
