//! The katas, one module per topic. This file is the same in `katas/` and `solutions/`.

pub mod event_loop;
pub mod fifos;
pub mod interview;
pub mod message_queues;
pub mod pipes;
pub mod producer_consumer;
pub mod shared_memory;
pub mod signals;
pub mod sockets;
pub mod sync;
pub mod trust;
