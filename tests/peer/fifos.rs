//! Peer commands of the fifos topic.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use super::{PeerResult, failed};

pub const COMMANDS: &str = "\
fifo-read FIFO OUT        open FIFO read-only, read to end-of-file, save the bytes in OUT
fifo-write FIFO IN        open FIFO write-only, write the bytes of IN, close
kata-send FIFO IN         fifos::send(FIFO, bytes of IN) with the code under test
kata-receive FIFO OUT     fifos::receive(FIFO) with the code under test, save the bytes in OUT";

pub fn run(args: &[&str]) -> Option<PeerResult> {
    Some(match *args {
        ["fifo-read", fifo, out] => read(fifo, out),
        ["fifo-write", fifo, input] => write(fifo, input),
        ["kata-send", fifo, input] => kata_send(fifo, input),
        ["kata-receive", fifo, out] => kata_receive(fifo, out),
        _ => return None,
    })
}

fn read(fifo: &str, out: &str) -> PeerResult {
    let mut data = Vec::new();
    fs::File::open(fifo).and_then(|mut f| f.read_to_end(&mut data)).map_err(failed("reading the FIFO"))?;
    fs::write(out, data).map_err(failed("saving what was read"))
}

fn write(fifo: &str, input: &str) -> PeerResult {
    let data = fs::read(input).map_err(failed("loading the input"))?;
    let mut f = fs::OpenOptions::new().write(true).open(fifo).map_err(failed("opening the FIFO"))?;
    f.write_all(&data).map_err(failed("writing the FIFO"))
}

fn kata_send(fifo: &str, input: &str) -> PeerResult {
    let data = fs::read(input).map_err(failed("loading the input"))?;
    katas::fifos::send(Path::new(fifo), &data).map_err(failed("fifos::send"))
}

fn kata_receive(fifo: &str, out: &str) -> PeerResult {
    let data = katas::fifos::receive(Path::new(fifo)).map_err(failed("fifos::receive"))?;
    fs::write(out, data).map_err(failed("saving what was received"))
}
