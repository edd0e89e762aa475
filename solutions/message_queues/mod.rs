//! Message queues: the kernel keeps whole messages, not a byte stream. System V queues
//! (`msgget`, `msgsnd`, `msgrcv`) are found by a numeric key and pick messages by type; POSIX
//! queues (`mq_open`, `mq_send`, `mq_receive`) are found by a name and deliver the highest
//! priority first. Both outlive every process that uses them, until they are removed
//! (`man 7 sysvipc`, `man 7 mq_overview`).
//!
//! This file is the same in `katas/` and `solutions/`: edit the kata files beside it.

mod posix_queue;
mod sysv_queue;

pub use posix_queue::{MAX_PRIORITY, PosixMessage, PosixQueue};
pub use sysv_queue::{MAX_BODY, SysvMessage, SysvQueue};
