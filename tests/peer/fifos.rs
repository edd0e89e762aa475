//! Peer commands of the fifos topic.

use std::fs;
use std::io::{Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{PeerResult, failed};

#[derive(Debug, Serialize, Deserialize)]
pub enum Fifo {
    /// Open `fifo` read-only, read to end-of-file, save the bytes in `out`.
    Read { fifo: PathBuf, out: PathBuf },
    /// Open `fifo` write-only, write the bytes of `input`, close.
    Write { fifo: PathBuf, input: PathBuf },
    /// `fifos::send(fifo, bytes of input)` with the code under test.
    KataSend { fifo: PathBuf, input: PathBuf },
}

impl Fifo {
    pub fn run(self) -> PeerResult {
        match self {
            Fifo::Read { fifo, out } => {
                let mut data = Vec::new();
                fs::File::open(fifo).and_then(|mut f| f.read_to_end(&mut data)).map_err(failed("reading the FIFO"))?;
                fs::write(out, data).map_err(failed("saving what was read"))
            }
            Fifo::Write { fifo, input } => {
                let data = fs::read(input).map_err(failed("loading the input"))?;
                let mut f = fs::OpenOptions::new().write(true).open(fifo).map_err(failed("opening the FIFO"))?;
                f.write_all(&data).map_err(failed("writing the FIFO"))
            }
            Fifo::KataSend { fifo, input } => {
                let data = fs::read(input).map_err(failed("loading the input"))?;
                katas::fifos::send(&fifo, &data).map_err(failed("fifos::send"))
            }
        }
    }
}
