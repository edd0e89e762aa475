//! Named pipes (FIFOs): `mkfifo`, then `open` by path from any process. The data never touches
//! the disk; the name stays in the file system until it is unlinked (`man 7 fifo`).
//!
//! This file is the same in `katas/` and `solutions/`: edit the kata files beside it.

mod make_fifo;
mod records;
mod send_receive;

pub use make_fifo::make_fifo;
pub use records::{MAX_RECORD, receive_records, send_records};
pub use send_receive::{receive, send};
