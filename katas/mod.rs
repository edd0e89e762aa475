//! The katas, one module per topic. This file is the same in `katas/` and `solutions/`.

pub mod fifos;
pub mod pipes;
pub mod producer_consumer;
