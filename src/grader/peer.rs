//! The peer program (`ipc-peer`): the other side of a graded test, run as a separate program so
//! that the two processes share no ancestor's memory, only what the kernel gives them by name.
//!
//! `ipc-peer <command> <args…>`; its exit status tells the test what happened.

use std::fs;
use std::io::{Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// The peer did its job.
pub const OK: i32 = 0;
/// The peer was called wrongly: a grader bug.
pub const USAGE: i32 = 2;
/// The kata code the peer ran reached a `todo!()`.
pub const NOT_IMPLEMENTED: i32 = 3;
/// An operation failed; stderr says which and why.
pub const FAILED: i32 = 4;
/// The kata code the peer ran panicked.
pub const PANICKED: i32 = 5;

const COMMANDS: &str = "\
fifo-read FIFO OUT        open FIFO read-only, read to end-of-file, save the bytes in OUT
fifo-write FIFO IN        open FIFO write-only, write the bytes of IN, close
kata-send FIFO IN         fifos::send(FIFO, bytes of IN) with the code under test
kata-receive FIFO OUT     fifos::receive(FIFO) with the code under test, save the bytes in OUT";

/// Runs one peer command; returns the exit status.
pub fn main(args: Vec<String>) -> i32 {
    // SAFETY: prctl with integer arguments: die with the test that started us.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Panics are reported through the exit status; the default hook would only add noise.
    std::panic::set_hook(Box::new(|_| {}));
    let result = catch_unwind(AssertUnwindSafe(|| run(&args)));
    match result {
        Ok(Ok(())) => OK,
        Ok(Err((code, why))) => {
            eprintln!("{why}");
            code
        }
        Err(payload) => {
            let text = super::panic_text(payload.as_ref());
            eprintln!("{text}");
            if matches!(super::panic_outcome(&text), super::Outcome::NotImplemented(_)) {
                NOT_IMPLEMENTED
            } else {
                PANICKED
            }
        }
    }
}

type PeerResult = Result<(), (i32, String)>;

fn failed(what: &str) -> impl FnOnce(std::io::Error) -> (i32, String) + '_ {
    move |e| (FAILED, format!("{what}: {e} (kind {:?})", e.kind()))
}

fn run(args: &[&str]) -> PeerResult {
    match args {
        ["fifo-read", fifo, out] => {
            let mut data = Vec::new();
            fs::File::open(fifo).and_then(|mut f| f.read_to_end(&mut data)).map_err(failed("reading the FIFO"))?;
            fs::write(out, data).map_err(failed("saving what was read"))
        }
        ["fifo-write", fifo, input] => {
            let data = fs::read(input).map_err(failed("loading the input"))?;
            let mut f = fs::OpenOptions::new().write(true).open(fifo).map_err(failed("opening the FIFO"))?;
            f.write_all(&data).map_err(failed("writing the FIFO"))
        }
        ["kata-send", fifo, input] => {
            let data = fs::read(input).map_err(failed("loading the input"))?;
            crate::fifos::send(Path::new(fifo), &data).map_err(failed("fifos::send"))
        }
        ["kata-receive", fifo, out] => {
            let data = crate::fifos::receive(Path::new(fifo)).map_err(failed("fifos::receive"))?;
            fs::write(out, data).map_err(failed("saving what was received"))
        }
        _ => Err((USAGE, format!("ipc-peer: unknown command {args:?}; the commands are:\n{COMMANDS}"))),
    }
}
