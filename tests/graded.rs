//! Every graded test, one module per topic (`tests/<topic>.rs`), in one test binary: a test's
//! path is its kata's id, so `cargo test pipes::child_to_parent::` grades one kata and
//! `cargo test pipes::` one topic. The kata code comes from the `katas` crate (`attempt/`): your
//! files in `katas/`, or the reference answers with `--features solutions`.
//!
//! This binary is also the peer program the tests start as "another process" (`peer/`).

mod peer;

ipc_katas::peer_commands!(peer::run);

mod fifos;
mod interview;
mod message_queues;
mod pipes;
mod producer_consumer;
mod shared_memory;
mod signals;
mod sockets;
mod sync;
