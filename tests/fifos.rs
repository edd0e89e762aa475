//! Graded tests of the fifos topic: `cargo test --test fifos`.
//!
//! Each body runs in the grader's sandbox: a child process with a deadline, umask 0 (the mode
//! asked for is the mode made), and a leak audit (descriptors, zombies, FIFOs left in the test's
//! directory) after the kata returns. The other side of a send or receive is an unrelated
//! program (the peer: the test binary started again), never a fork of the test, so the two sides share nothing but the name.

// This binary is also the peer program its tests start as "another process" (tests/peer/).
mod peer;
use peer::Fifo;
ipc_katas::peer_commands!(peer::run);

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use ipc_katas::grade;
use ipc_katas::grader::{
    Failure, Outcome, Payload, Peer, PeerOutput, Sandbox, Worker, caught_alarms_every, data, size,
};
use ipc_katas::kit::arrivals::{self, TAG_OVERHEAD};
use ipc_katas::kit::thread::calls;
use ipc_katas::kit::{Arrivals, KataThread, Seen, TestFifo, Wait, fd, signals};
use katas::fifos;
use proptest::prelude::*;

/// How the tests wait for a peer program once the kata code on the other side has returned.
trait FifoPeer {
    fn exits_within(&self, limit: Duration) -> bool;
    fn join_reader_after(&mut self, s: &Sandbox, call: &str) -> Result<PeerOutput, Failure>;
    fn join_writer_after(&mut self, s: &Sandbox, call: &str) -> Result<PeerOutput, Failure>;
}

impl FifoPeer for Peer {
    /// Waits up to `limit` for the peer to exit (checking every millisecond); true if it did.
    fn exits_within(&self, limit: Duration) -> bool {
        let started = Instant::now();
        while !self.has_exited() {
            if started.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Joins a reader program once the kata code that wrote to it (`call`) has returned: the
    /// reader must then see end-of-file at once, so a reader still waiting is the writer's fault.
    /// A hang, not a wrong answer, so that a property stops at once instead of shrinking.
    fn join_reader_after(&mut self, s: &Sandbox, call: &str) -> Result<PeerOutput, Failure> {
        s.phase(format!("waiting for the reader program to see end-of-file after {call} returned"));
        if !self.exits_within(Duration::from_secs(3)) {
            return Err(Failure::hang(format!(
                "{call} returned, but 3 s later the reader program was still waiting for end-of-file. {call} \
                 must close the FIFO before it returns (let the File drop), and must not return before a reader \
                 has opened it: with nobody reading, the bytes are lost when the last descriptor closes (an \
                 O_RDWR or O_NONBLOCK open does not wait for a reader), and a reader that comes later waits forever"
            )));
        }
        self.join()
    }

    /// Joins a writer program once the kata code that read from it (`call`) has returned.
    fn join_writer_after(&mut self, s: &Sandbox, call: &str) -> Result<PeerOutput, Failure> {
        s.phase(format!("waiting for the writer program to finish after {call} returned"));
        if !self.exits_within(Duration::from_secs(3)) {
            return Err(Failure::hang(format!(
                "{call} returned, but 3 s later the writer program was still waiting for a reader. {call} must \
                 wait in open for a writer (open read-only and blocking) and read until end-of-file: opened with \
                 O_NONBLOCK, it may return before any writer came, and the writer then waits for a reader forever"
            )));
        }
        self.join()
    }
}

/// What a file is, in words.
fn kind(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_fifo() {
        "FIFO"
    } else if t.is_file() {
        "regular file"
    } else if t.is_dir() {
        "directory"
    } else if t.is_symlink() {
        "symbolic link"
    } else {
        "special file"
    }
}

/// Opens the read end of a FIFO without waiting for a writer.
fn open_nonblocking_reader(path: &Path) -> Result<File, Failure> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(Failure::test_error("open the FIFO for reading"))
}

/// Reads what is there now from a non-blocking descriptor; true once it reports end-of-file.
fn read_available(from: &File, into: &mut Vec<u8>) -> Result<bool, Failure> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match (&*from).read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(Failure::test_error("read the FIFO")(e)),
        }
    }
}

/// What a call of the kata was seen waiting in while nobody was at the other end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Doing {
    /// Blocked in open(2): waiting for the other end, as it should.
    Opening,
    /// Blocked in read(2) or write(2): it got past open without waiting.
    Transferring,
}

/// Watches the call for up to 3 s: blocked in open for 5 looks in a row, in one of `transfer`
/// calls for 200 in a row, or returned; `Seen::Elsewhere` for none of these (for example a loop
/// that retries a non-blocking open).
fn watch<T>(call: &KataThread<T>, transfer: &[libc::c_long]) -> Seen<Doing> {
    call.watch(&[
        Wait { label: Doing::Opening, calls: calls::OPEN, looks: 5 },
        Wait { label: Doing::Transferring, calls: transfer, looks: 200 },
    ])
}

mod make_fifo {
    use super::*;

    /// Calls `make_fifo` on a path that is taken and expects `AlreadyExists`.
    fn on_taken_path(s: &Sandbox, path: &Path, taken_by: &str) -> Result<(), Failure> {
        s.phase(format!("calling make_fifo on a path taken by {taken_by}"));
        let call = format!("make_fifo on a path taken by {taken_by}");
        s.expect_err(&call, fifos::make_fifo(path), ErrorKind::AlreadyExists).map(drop)
    }

    #[test]
    fn creates_a_fifo_that_only_its_owner_may_read_and_write() {
        grade!().run(|s| {
            let path = s.path("fifo");
            s.call("make_fifo", || fifos::make_fifo(&path))?;
            let meta = fs::symlink_metadata(&path);
            let _ = fs::remove_file(&path);
            let meta = meta.map_err(|e| {
                Failure::wrong(format!("make_fifo returned Ok, but there is nothing at {}: {e}", path.display()))
            })?;
            s.expect(meta.file_type().is_fifo(), || {
                format!(
                    "make_fifo made a {}, not a FIFO: call mkfifo (nix::unistd::mkfifo), not File::create",
                    kind(&meta)
                )
            })?;
            let mode = meta.permissions().mode() & 0o7777;
            s.expect(mode == 0o600, || {
                format!(
                    "the FIFO's mode is {mode:04o}, expected 0600 (owner read and write, nobody else){}",
                    if mode & 0o066 != 0 {
                        ": other users may open it, and with 0666 anyone on the machine may read or write your pipe"
                    } else {
                        ""
                    }
                )
            })?;
            // SAFETY: geteuid has no preconditions.
            let me = unsafe { libc::geteuid() };
            s.expect_eq("the FIFO's owner (uid)", &me, &meta.uid())
        });
    }

    #[test]
    fn a_path_taken_by_a_fifo_is_already_exists_and_that_fifo_is_left_alone() {
        grade!().run(|s| {
            let path = s.path("theirs");
            nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o640))
                .map_err(|e| Failure::crash(format!("the test could not make its FIFO: {e}")))?;
            // Holding it open shows whether the FIFO we made is still the one at the path.
            let held = open_nonblocking_reader(&path)?;
            let result = on_taken_path(s, &path, "another FIFO");
            let now = fs::symlink_metadata(&path);
            let then = held.metadata().map_err(Failure::test_error("stat its FIFO"))?;
            let _ = fs::remove_file(&path);
            result?;
            let removed = "make_fifo removed the FIFO that was at the path: never remove what is there; fail with \
                           AlreadyExists";
            let now = now.map_err(|_| Failure::wrong(removed))?;
            s.expect(then.nlink() > 0 && now.ino() == then.ino() && now.dev() == then.dev(), || {
                "make_fifo replaced the FIFO that was at the path with a new one: never remove what is there; \
                 fail with AlreadyExists"
                    .to_string()
            })?;
            s.expect_eq("the mode of the FIFO that was there", &0o640, &(now.permissions().mode() & 0o7777))
        });
    }

    #[test]
    fn a_path_taken_by_a_regular_file_is_already_exists_and_the_file_keeps_its_content() {
        grade!().run(|s| {
            let path = s.path("precious.txt");
            let content = b"somebody's work, not to be lost";
            fs::write(&path, content).map_err(Failure::test_error("write its file"))?;
            on_taken_path(s, &path, "a regular file")?;
            let meta = fs::symlink_metadata(&path)
                .map_err(|_| Failure::wrong("make_fifo removed the regular file that was at the path"))?;
            s.expect(meta.is_file(), || "make_fifo replaced the regular file that was at the path".to_string())?;
            let now = fs::read(&path).map_err(Failure::test_error("read its file back"))?;
            s.expect(now == content, || {
                format!("make_fifo changed the file that was at the path (it now holds {})", size(now.len()))
            })
        });
    }

    #[test]
    fn a_path_taken_by_a_directory_or_a_dangling_symlink_is_already_exists() {
        grade!().run(|s| {
            let dir = s.path("dir");
            fs::create_dir(&dir).map_err(Failure::test_error("make a directory"))?;
            fs::write(dir.join("keep"), b"x").map_err(Failure::test_error("write a file"))?;
            on_taken_path(s, &dir, "a directory")?;
            s.expect(dir.join("keep").is_file(), || "make_fifo removed the directory that was at the path".into())?;
            let link = s.path("link");
            std::os::unix::fs::symlink("nowhere", &link).map_err(Failure::test_error("make a symlink"))?;
            let result = on_taken_path(s, &link, "a symbolic link to nothing");
            let target_made = fs::symlink_metadata(s.path("nowhere")).is_ok();
            let _ = fs::remove_file(s.path("nowhere"));
            result?;
            s.expect(!target_made, || "make_fifo made a file where the symbolic link points".into())?;
            let still_link = fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink());
            s.expect(still_link, || "make_fifo removed the symbolic link that was at the path".into())
        });
    }

    #[test]
    fn a_missing_directory_is_not_found_and_nothing_is_created() {
        grade!().run(|s| {
            let path = s.path("no-such-dir").join("fifo");
            s.phase("calling make_fifo in a directory that does not exist");
            s.expect_err("make_fifo in a missing directory", fifos::make_fifo(&path), ErrorKind::NotFound)?;
            let made = s.path("no-such-dir").exists();
            let _ = fs::remove_dir_all(s.path("no-such-dir"));
            s.expect(!made, || "make_fifo created the missing directory: report NotFound, make nothing".into())
        });
    }

    #[test]
    fn a_path_with_a_nul_byte_is_invalid_input() {
        grade!().run(|s| {
            let path = s.dir().join(OsStr::from_bytes(b"fi\0fo"));
            s.phase("calling make_fifo with a path that contains a NUL byte");
            let result = fifos::make_fifo(&path);
            let made: Vec<_> = fs::read_dir(s.dir())
                .map_err(Failure::test_error("list its directory"))?
                .filter_map(|e| Some(e.ok()?.path()))
                .collect();
            for p in &made {
                let _ = fs::remove_file(p);
            }
            s.expect_err("make_fifo with a NUL byte in the path", result, ErrorKind::InvalidInput)?;
            s.expect(made.is_empty(), || {
                format!("make_fifo made {made:?}: the path was cut at the NUL byte; refuse such a path instead")
            })
        });
    }

    #[test]
    fn the_fifo_outlives_the_process_that_made_it() {
        grade!().run(|s| {
            let path = s.path("lasting");
            s.phase("calling make_fifo in a process that then exits");
            let maker = s.fork("the process that calls make_fifo", || {
                fifos::make_fifo(&path).map_err(|e| Failure::kata_error("make_fifo", e))
            })?;
            maker.join()?;
            s.phase("checking the FIFO after its maker exited");
            let still = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_fifo());
            s.expect(still, || {
                "the FIFO is gone once the process that made it exited: a FIFO lives in the file system \
                 until someone unlinks it; make_fifo must not remove it"
                    .to_string()
            })?;
            // And it still works as a pipe: both ends open by name, bytes go through.
            let reader = open_nonblocking_reader(&path)?;
            let mut writer =
                OpenOptions::new().write(true).open(&path).map_err(Failure::test_error("open it for writing"))?;
            let _ = fs::remove_file(&path);
            writer.write_all(b"still here").map_err(Failure::test_error("write it"))?;
            drop(writer);
            let mut got = Vec::new();
            read_available(&reader, &mut got)?;
            s.expect_bytes("the bytes through the FIFO", b"still here", &got)
        });
    }
}

mod send_receive {
    use super::*;

    /// The learner's `send` in the body, a trusted reader in an unrelated program.
    fn send_to_a_reader_program(s: &Sandbox, data: &[u8]) -> Result<(), Failure> {
        let fifo = TestFifo::new(s, "fifo")?;
        let out = s.path("out");
        let mut reader = peer::start(s, Fifo::Read { fifo: fifo.path().into(), out: out.clone() })?;
        s.call(format!("send with {} while a reader program reads the FIFO", size(data.len())), || {
            fifos::send(fifo.path(), data)
        })?;
        reader.join_reader_after(s, "send")?;
        let got = fs::read(&out).map_err(Failure::test_error("load what the reader read"))?;
        s.expect_bytes("the bytes the reader program got", data, &got)
    }

    /// The learner's `receive` in the body, a trusted writer in an unrelated program.
    fn receive_from_a_writer_program(s: &Sandbox, data: &[u8]) -> Result<(), Failure> {
        let fifo = TestFifo::new(s, "fifo")?;
        let input = s.path("in");
        fs::write(&input, data).map_err(Failure::test_error("save the input"))?;
        let mut writer = peer::start(s, Fifo::Write { fifo: fifo.path().into(), input: input.clone() })?;
        let got = s.call(format!("receive while a writer program sends {} and closes", size(data.len())), || {
            s.watched(|| fifos::receive(fifo.path()))
        })?;
        // Check first: a receive that returned too early leaves the writer waiting for a reader.
        s.expect_bytes("the bytes receive returned", data, &got)?;
        writer.join_writer_after(s, "receive").map(drop)
    }

    #[test]
    fn send_delivers_bytes_intact_to_a_reader_in_another_program() {
        grade!().run(|s| send_to_a_reader_program(s, &Payload::new(200_000, 1).bytes()));
    }

    #[test]
    fn receive_returns_the_bytes_of_a_writer_in_another_program_intact() {
        grade!().run(|s| receive_from_a_writer_program(s, &Payload::new(200_000, 2).bytes()));
    }

    #[test]
    fn any_payload_up_to_1_mib_sent_arrives_intact_in_another_program() {
        grade!().property(12, data::payload(1 << 20), |s, p| send_to_a_reader_program(s, &p.bytes()));
    }

    #[test]
    fn any_payload_up_to_1_mib_from_another_program_is_received_intact() {
        grade!().property(12, data::payload(1 << 20), |s, p| receive_from_a_writer_program(s, &p.bytes()));
    }

    #[test]
    fn bytes_go_from_send_in_one_program_to_receive_in_another_and_the_fifo_stays() {
        grade!().run(|s| {
            let fifo = TestFifo::new(s, "fifo")?;
            let input = s.path("in");
            let data = Payload::new(300_000, 3).bytes();
            fs::write(&input, &data).map_err(Failure::test_error("save the input"))?;
            let mut sender = peer::start(s, Fifo::KataSend { fifo: fifo.path().into(), input: input.clone() })?;
            s.phase("calling receive (in a thread) while another program calls send on the same FIFO");
            let handle = s.in_thread({
                let path = fifo.path().to_path_buf();
                move || fifos::receive(&path)
            });
            // A sending program that fails before it opens the FIFO (a todo!(), an error) is
            // reported, rather than left for receive to wait for.
            while !handle.is_finished() && !sender.has_exited() {
                std::thread::sleep(Duration::from_millis(1));
            }
            if !handle.is_finished() {
                sender.join()?;
                s.phase("waiting for receive to return after the sending program closed the FIFO");
            }
            let got = s.ok("receive", handle.finish())?;
            if let Some(diff) = data::diff_bytes(&data, &got) {
                let sender_said = if !sender.exits_within(Duration::from_secs(1)) {
                    "\nThe sending program was still running: receive returned before the writer closed the FIFO"
                        .to_string()
                } else {
                    match sender.join() {
                        Err(e) => format!("\nThe sending program (your send) failed too: {}", e.outcome().text()),
                        Ok(_) => String::new(),
                    }
                };
                return Err(Failure::wrong(format!(
                    "the bytes receive returned differ from what send sent in the other program:\n{diff}{sender_said}"
                )));
            }
            sender.join()?; // receive saw end-of-file, so the sender has closed the FIFO
            let stays = fs::symlink_metadata(fifo.path()).is_ok_and(|m| m.file_type().is_fifo());
            s.expect(stays, || {
                "the FIFO is gone after both programs finished: neither send nor receive may unlink it; \
                 it stays until whoever made it removes it"
                    .to_string()
            })
        });
    }

    #[test]
    fn send_waits_in_open_for_a_reader_that_comes_late() {
        grade!().run(|s| {
            let fifo = TestFifo::new(s, "late")?;
            let out = s.path("out");
            // Less than the pipe buffer: a send that does not wait for a reader returns at once.
            let data = Payload::new(3000, 4).bytes();
            s.phase("calling send (in a thread) with no reader yet");
            let handle = s.in_thread({
                let (path, data) = (fifo.path().to_path_buf(), data.clone());
                move || fifos::send(&path, &data)
            });
            s.phase("watching send wait in open for a reader");
            match watch(&handle, calls::WRITE) {
                Seen::Returned => {
                    return Err(Failure::wrong(match handle.finish() {
                        Ok(()) => "send returned Ok before any reader had opened the FIFO: it must wait in open \
                                   until a reader comes (open the FIFO write-only and blocking)"
                            .to_string(),
                        Err(e) => format!(
                            "send failed with `{e}` (kind {:?}) while no reader had opened the FIFO yet: it \
                             must wait for one. A write-only open with O_NONBLOCK fails with ENXIO when there \
                             is no reader; open the FIFO blocking.",
                            e.kind()
                        ),
                    }));
                }
                Seen::In(Doing::Transferring) => {
                    return Err(Failure::wrong(
                        "send was writing before any reader had opened the FIFO: it did not wait in open. \
                         Opened read-write (O_RDWR), a FIFO opens at once, and bytes written with no reader \
                         are lost when the last descriptor closes. Open it write-only.",
                    ));
                }
                Seen::In(Doing::Opening) | Seen::Elsewhere => {}
            }
            s.phase("starting a reader program now that send waits");
            let mut reader = peer::start(s, Fifo::Read { fifo: fifo.path().into(), out: out.clone() })?;
            s.phase("waiting for send to return once a reader has come");
            s.ok("send", handle.finish())?;
            reader.join_reader_after(s, "send")?;
            let got = fs::read(&out).map_err(Failure::test_error("load what the reader read"))?;
            s.expect_bytes("the bytes the late reader got", &data, &got)
        });
    }

    #[test]
    fn receive_waits_in_open_for_a_writer_that_comes_late() {
        grade!().run(|s| {
            let fifo = TestFifo::new(s, "late")?;
            let input = s.path("in");
            let data = Payload::new(100_000, 5).bytes();
            fs::write(&input, &data).map_err(Failure::test_error("save the input"))?;
            s.phase("calling receive (in a thread) with no writer yet");
            let handle = s.in_thread({
                let path = fifo.path().to_path_buf();
                move || fifos::receive(&path)
            });
            s.phase("watching receive wait in open for a writer");
            match watch(&handle, calls::READ) {
                Seen::Returned => {
                    return Err(Failure::wrong(match handle.finish() {
                        Ok(got) => format!(
                            "receive returned {} before any writer had opened the FIFO: it must wait in open \
                             until a writer comes. A read-only open with O_NONBLOCK returns at once, and read \
                             then reports end-of-file; open the FIFO blocking.",
                            size(got.len())
                        ),
                        Err(e) => format!(
                            "receive failed with `{e}` (kind {:?}) while no writer had opened the FIFO yet: \
                             it must wait in open for one",
                            e.kind()
                        ),
                    }));
                }
                Seen::In(Doing::Transferring) => {
                    return Err(Failure::wrong(
                        "receive was already reading before any writer had opened the FIFO: it did not wait \
                         in open. Opened read-write (O_RDWR), a FIFO opens at once, and the reader, being a \
                         writer too, never sees end-of-file. Open it read-only.",
                    ));
                }
                Seen::In(Doing::Opening) | Seen::Elsewhere => {}
            }
            s.phase("starting a writer program now that receive waits");
            let mut writer = peer::start(s, Fifo::Write { fifo: fifo.path().into(), input: input.clone() })?;
            s.phase("waiting for receive to return after a writer program came, wrote and closed the FIFO");
            let got = s.ok("receive", handle.finish())?;
            s.expect_bytes("the bytes receive returned", &data, &got)?;
            writer.join_writer_after(s, "receive").map(drop)
        });
    }

    #[test]
    fn receive_leaves_the_fifo_in_place() {
        grade!().run(|s| {
            let fifo = TestFifo::new(s, "fifo")?;
            let input = s.path("in");
            fs::write(&input, b"a short message").map_err(Failure::test_error("save the input"))?;
            let before = fs::symlink_metadata(fifo.path()).map_err(Failure::test_error("stat its FIFO"))?;
            let mut writer = peer::start(s, Fifo::Write { fifo: fifo.path().into(), input: input.clone() })?;
            let got = s.call("receive while a writer program sends a short message", || {
                s.watched(|| fifos::receive(fifo.path()))
            })?;
            s.expect_bytes("the bytes receive returned", b"a short message", &got)?;
            writer.join_writer_after(s, "receive")?;
            let after = fs::symlink_metadata(fifo.path());
            s.expect(after.is_ok_and(|m| m.file_type().is_fifo() && m.ino() == before.ino()), || {
                "the FIFO is gone (or was replaced) after receive returned: leave it where it is; it belongs \
                 to whoever made it, and other writers may still use it"
                    .to_string()
            })
        });
    }

    #[test]
    fn a_missing_path_is_not_found_and_no_file_is_created() {
        grade!().run(|s| {
            let path = s.path("typo");
            s.phase("calling send on a path where nothing is");
            let sent = fifos::send(&path, b"into the void");
            let made = fs::symlink_metadata(&path).ok();
            let _ = fs::remove_file(&path);
            s.expect(made.is_none(), || {
                format!(
                    "send made a {} at {} where nothing was: never create a file when sending (File::create \
                     leaves a regular file where a FIFO should be); open without O_CREAT and report NotFound",
                    made.as_ref().map_or("file", kind),
                    path.display()
                )
            })?;
            s.expect_err("send on a missing path", sent, ErrorKind::NotFound)?;
            s.phase("calling receive on a path where nothing is");
            let received = fifos::receive(&path);
            let made = fs::symlink_metadata(&path).is_ok();
            let _ = fs::remove_file(&path);
            s.expect(!made, || "receive created a file where nothing was: open without O_CREAT".to_string())?;
            s.expect_err("receive on a missing path", received, ErrorKind::NotFound).map(drop)
        });
    }

    #[test]
    fn a_regular_file_or_a_directory_is_invalid_input_and_is_left_unchanged() {
        grade!().run(|s| {
            let path = s.path("notes.txt");
            let content = b"a regular file, not a FIFO";
            fs::write(&path, content).map_err(Failure::test_error("write its file"))?;
            s.phase("calling send on a regular file");
            let sent = fifos::send(&path, b"overwritten!");
            let now = fs::read(&path).map_err(Failure::test_error("read its file back"))?;
            s.expect(now == content, || {
                format!(
                    "send changed the regular file at the path (it now holds {}): refuse a path that is not a \
                     FIFO and leave it as it is. Open without O_CREAT or O_TRUNC (not File::create), then check \
                     the file type on the open file",
                    size(now.len())
                )
            })?;
            s.expect_err("send on a regular file", sent, ErrorKind::InvalidInput)?;
            s.phase("calling receive on a regular file");
            let received = fifos::receive(&path);
            s.expect_err("receive on a regular file", received, ErrorKind::InvalidInput)?;
            let dir = s.path("a-directory");
            fs::create_dir(&dir).map_err(Failure::test_error("make a directory"))?;
            s.phase("calling send on a directory");
            s.expect_err("send on a directory", fifos::send(&dir, b"x"), ErrorKind::InvalidInput)?;
            s.phase("calling receive on a directory");
            s.expect_err("receive on a directory", fifos::receive(&dir), ErrorKind::InvalidInput).map(drop)
        });
    }
}

mod records {
    use super::*;

    const SEND_HINT: &str = "each record must go out in ONE write of its 2-byte length and its bytes together \
        (at most PIPE_BUF = 4096 bytes, which the kernel never mixes with another writer's bytes); a length \
        and a body in two writes, one write_all of many records, or a BufWriter let other writers' bytes in";

    const RECEIVE_HINT: &str = "read until end-of-file, then split the stream by the lengths: a u16 \
        little-endian length, then that many bytes, again and again";

    /// Record `seq` of writer `writer`: sizes from the smallest to MAX_RECORD, many large ones.
    fn record(writer: u32, seq: u32) -> Vec<u8> {
        let h = arrivals::mix((writer as u64) << 32 | seq as u64);
        let len = match h % 8 {
            0 => fifos::MAX_RECORD,
            1 => TAG_OVERHEAD,
            2..=4 => TAG_OVERHEAD + (h >> 8) as usize % 200,
            _ => TAG_OVERHEAD + (h >> 8) as usize % (fifos::MAX_RECORD - TAG_OVERHEAD + 1),
        };
        arrivals::tagged(writer, seq, len)
    }

    fn writer_records(writer: u32, count: u32) -> Vec<Vec<u8>> {
        (0..count).map(|seq| record(writer, seq)).collect()
    }

    /// The stream `send_records` must write: each record's length (u16 LE) then its bytes.
    fn framed(records: &[Vec<u8>]) -> Vec<u8> {
        let mut stream = Vec::new();
        for r in records {
            stream.extend_from_slice(&(r.len() as u16).to_le_bytes());
            stream.extend_from_slice(r);
        }
        stream
    }

    /// Splits a stream into records by their lengths; the error says where a cut record begins.
    fn split(stream: &[u8]) -> (Vec<&[u8]>, Option<String>) {
        let mut records = Vec::new();
        let mut at = 0;
        while at < stream.len() {
            let Some(&[a, b]) = stream.get(at..at + 2) else {
                return (records, Some(format!("the stream ends in the middle of a length, at byte {at}")));
            };
            let len = u16::from_le_bytes([a, b]) as usize;
            let Some(record) = stream.get(at + 2..at + 2 + len) else {
                let left = stream.len() - at - 2;
                let cut = format!(
                    "the stream ends in the middle of a record: {len} bytes announced at byte {at}, {left} left"
                );
                return (records, Some(cut));
            };
            records.push(record);
            at += 2 + len;
        }
        (records, None)
    }

    /// Checks that `got` holds every record of every writer, each whole, none twice, each
    /// writer's in order; `cut` says where the stream ended in the middle of a record, after `got`.
    fn check_arrivals(
        s: &Sandbox,
        got: &[&[u8]],
        cut: Option<String>,
        sent: &[Vec<Vec<u8>>],
        hint: &str,
    ) -> Result<(), Failure> {
        Arrivals::new("record", "writer").mixed("records were mixed or split").cut(cut).hint(hint).check(s, got, sent)
    }

    fn write_fd(fd: RawFd, bytes: &[u8]) -> isize {
        // SAFETY: bytes is valid for its length; a bad fd only fails with EBADF.
        unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) }
    }

    /// Reads one byte (blocking); 0 at end-of-file.
    fn read_byte(fd: RawFd) -> isize {
        let mut byte = [0u8; 1];
        loop {
            // SAFETY: byte is valid for one byte.
            let n = unsafe { libc::read(fd, byte.as_mut_ptr().cast(), 1) };
            if n >= 0 || io::Error::last_os_error().kind() != ErrorKind::Interrupted {
                return n;
            }
        }
    }

    const WRITERS: u32 = 4;
    const PER_WRITER: u32 = 2000;

    #[test]
    fn records_of_several_writer_processes_at_once_arrive_whole_none_lost_each_writers_in_order() {
        grade!().run(|s| {
            let fifo = TestFifo::new(s, "records")?;
            let sent: Vec<Vec<Vec<u8>>> = (0..WRITERS).map(|w| writer_records(w, PER_WRITER)).collect();
            // The reader opens first and without waiting; our own write end keeps end-of-file away
            // until every writer has finished.
            let reader = open_nonblocking_reader(fifo.path())?;
            let holder = OpenOptions::new()
                .write(true)
                .open(fifo.path())
                .map_err(Failure::test_error("open the FIFO for writing"))?;
            s.phase(format!("{WRITERS} writer processes call send_records at once, {PER_WRITER} records each"));
            let mut writers = Vec::new();
            for (w, records) in sent.iter().enumerate() {
                let path = fifo.path();
                writers.push(s.fork(&format!("writer {w}"), move || {
                    fifos::send_records(path, records).map_err(|e| Failure::kata_error("send_records", e))
                })?);
            }
            s.phase("reading the FIFO while the writers send");
            let mut stream = Vec::new();
            loop {
                let all_done = writers.iter().all(Worker::has_exited);
                fd::poll_readable(&reader, 10);
                read_available(&reader, &mut stream)?;
                if all_done {
                    break;
                }
            }
            for writer in writers {
                writer.join()?;
            }
            drop(holder);
            s.phase("reading what is left in the FIFO after every writer closed it");
            while !read_available(&reader, &mut stream)? {
                fd::poll_readable(&reader, 10);
            }
            let (got, cut) = split(&stream);
            check_arrivals(s, &got, cut, &sent, SEND_HINT)
        });
    }

    /// Bytes waiting in the FIFO (`FIONREAD`, `man 7 pipe`).
    fn bytes_waiting(fd: RawFd) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int.
        unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
        n.max(0) as usize
    }

    /// Starts a writer process that calls `send_records` with 100 records of PIPE_BUF - 2 bytes
    /// (400 KB, many times what a pipe holds), under `alarms` (a caught SIGALRM, no SA_RESTART),
    /// and waits until the FIFO is too full for another record: the writer is blocked in write.
    fn start_blocked_writer(
        s: &Sandbox,
        fifo: &TestFifo,
        reader: &File,
        alarms: Option<Duration>,
    ) -> Result<(Worker, Vec<Vec<u8>>), Failure> {
        let records = writer_records(0, 100)
            .into_iter()
            .map(|mut r| {
                r.resize(libc::PIPE_BUF - 2, 0xa5);
                r
            })
            .collect::<Vec<_>>();
        // SAFETY: F_GETPIPE_SZ takes no argument.
        let capacity = unsafe { libc::fcntl(reader.as_raw_fd(), libc::F_GETPIPE_SZ) }.max(0) as usize;
        let reader_fd = reader.as_raw_fd();
        let path = fifo.path();
        let sent = &records;
        let writer = s.fork("the writer", move || {
            // SAFETY: our copy of the test's read end: the reader is the test, not us.
            unsafe { libc::close(reader_fd) };
            signals::ignore_sigpipe();
            caught_alarms_every(alarms);
            let result = fifos::send_records(path, sent);
            caught_alarms_every(None);
            result.map_err(|e| Failure::kata_error("send_records", e))
        })?;
        let give_up = Instant::now() + Duration::from_secs(5);
        while bytes_waiting(reader.as_raw_fd()) + libc::PIPE_BUF <= capacity {
            if writer.has_exited() {
                writer.join()?;
                return Err(Failure::wrong(
                    "send_records returned before the FIFO was full, with 400 KB to send and nobody reading",
                ));
            }
            if Instant::now() > give_up {
                return Err(Failure::wrong(format!(
                    "send_records wrote only {} in 5 s into a FIFO with a reader",
                    size(bytes_waiting(reader.as_raw_fd()))
                )));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok((writer, records))
    }

    #[test]
    fn a_writer_blocked_on_a_full_fifo_keeps_going_through_caught_signals() {
        grade!().run(|s| {
            let fifo = TestFifo::new(s, "records")?;
            let reader = open_nonblocking_reader(fifo.path())?;
            s.phase("send_records of 100 records of 4094 bytes, SIGALRM caught every 5 ms, nobody reading yet");
            let (writer, records) = start_blocked_writer(s, &fifo, &reader, Some(Duration::from_millis(5)))?;
            // About 40 signals reach the writer while it waits in write for room.
            std::thread::sleep(Duration::from_millis(200));
            s.phase("reading the FIFO while the interrupted writer goes on");
            let mut stream = Vec::new();
            while !writer.has_exited() {
                fd::poll_readable(&reader, 10);
                read_available(&reader, &mut stream)?;
            }
            writer.join().map_err(|f| match f.outcome() {
                Outcome::WrongAnswer(text) if text.contains("Interrupted") => Failure::wrong(format!(
                    "{text}: a blocked write that a caught signal interrupts fails with EINTR before it wrote \
                     anything (a write of at most PIPE_BUF bytes is all or nothing): write the same record again"
                )),
                _ => f,
            })?;
            while !read_available(&reader, &mut stream)? {
                fd::poll_readable(&reader, 10);
            }
            let (got, cut) = split(&stream);
            check_arrivals(s, &got, cut, &[records], SEND_HINT)
        });
    }

    #[test]
    fn a_reader_that_goes_away_makes_send_records_fail_with_broken_pipe() {
        grade!().run(|s| {
            let fifo = TestFifo::new(s, "records")?;
            let reader = open_nonblocking_reader(fifo.path())?;
            s.phase("send_records of 100 records of 4094 bytes, nobody reading yet");
            let (writer, _) = start_blocked_writer(s, &fifo, &reader, None)?;
            s.phase("closing the only read end while send_records waits for room");
            drop(reader);
            let give_up = Instant::now() + Duration::from_secs(3);
            while !writer.has_exited() {
                if Instant::now() > give_up {
                    return Err(Failure::wrong(
                        "send_records was still running 3 s after the last reader closed the FIFO: a write with \
                         no reader fails with EPIPE (`man 7 pipe`), and retrying it never succeeds; return the \
                         error (only EINTR is worth a retry)",
                    ));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            match writer.join() {
                Ok(()) => Err(Failure::wrong(
                    "send_records returned Ok although the reader closed the FIFO before it had written 400 KB: \
                     the records it could not write are lost; return the EPIPE error",
                )),
                Err(f) if f.outcome().text().contains("BrokenPipe") => Ok(()),
                Err(f) => Err(Failure::wrong(format!(
                    "{}: after the reader went away send_records should fail with the BrokenPipe (EPIPE) its \
                     write got",
                    f.outcome().text()
                ))),
            }
        });
    }

    #[test]
    fn receive_records_returns_every_record_of_several_writers_once_the_last_one_closes() {
        const TRUSTED: u32 = 3;
        grade!().run(|s| {
            let fifo = TestFifo::new(s, "records")?;
            let sent: Vec<Vec<Vec<u8>>> = (0..TRUSTED).map(|w| writer_records(w, 300)).collect();
            // Each writer opens the FIFO, says so on `ready`, then waits for `go` to close before it
            // writes: every writer has opened before any closes, so end-of-file means "all done".
            let (ready_r, ready_w) = fd::pipe()?;
            let (go_r, go_w) = fd::pipe()?;
            let mut writers = Vec::new();
            for (w, records) in sent.iter().enumerate() {
                let path = fifo.path();
                let (ready_w, go_r, go_w) = (ready_w.as_raw_fd(), go_r.as_raw_fd(), go_w.as_raw_fd());
                writers.push(s.fork(&format!("trusted writer {w}"), move || {
                    // SAFETY: our copy of the go pipe's write end; the body keeps its own.
                    unsafe { libc::close(go_w) };
                    let fifo = OpenOptions::new()
                        .write(true)
                        .open(path)
                        .map_err(|e| Failure::crash(format!("could not open the FIFO: {e}")))?;
                    write_fd(ready_w, b"r");
                    while read_byte(go_r) > 0 {}
                    for frame in records.iter().map(|r| framed(std::slice::from_ref(r))) {
                        let n = write_fd(fifo.as_raw_fd(), &frame);
                        if n != frame.len() as isize {
                            let e = io::Error::last_os_error();
                            return Err(Failure::crash(format!("wrote {n} of {} bytes: {e}", frame.len())));
                        }
                    }
                    Ok(())
                })?);
            }
            drop((ready_w, go_r));
            s.phase(format!("calling receive_records (in a thread) while {TRUSTED} writer processes open the FIFO"));
            let handle = s.in_thread({
                let path = fifo.path().to_path_buf();
                move || fifos::receive_records(&path)
            });
            s.phase("waiting for every writer to open the FIFO");
            let mut ready = 0;
            while ready < TRUSTED {
                if handle.is_finished() {
                    let result = handle.finish();
                    return Err(Failure::wrong(format!(
                        "receive_records returned {} before the writers had even opened the FIFO: it must wait \
                         in open for a writer (read-only, blocking) and read until every writer has closed",
                        match result {
                            Ok(records) => format!("{} records", records.len()),
                            Err(e) => format!("the error `{e}` (kind {:?})", e.kind()),
                        }
                    )));
                }
                if fd::poll_readable(&ready_r, 10) {
                    if read_byte(ready_r.as_raw_fd()) != 1 {
                        // Every writer is gone before it could open the FIFO: their reports say why.
                        for writer in writers {
                            writer.join()?;
                        }
                        return Err(Failure::crash("the trusted writers exited before they opened the FIFO"));
                    }
                    ready += 1;
                }
            }
            drop(go_w);
            s.phase("waiting for receive_records to return after every writer closed the FIFO");
            let got = s.ok("receive_records", handle.finish())?;
            for writer in writers {
                writer.join()?;
            }
            let got: Vec<&[u8]> = got.iter().map(Vec::as_slice).collect();
            check_arrivals(s, &got, None, &sent, RECEIVE_HINT)
        });
    }

    #[test]
    fn a_record_longer_than_max_record_is_invalid_input_and_nothing_is_written() {
        grade!().run(|s| {
            let fifo = TestFifo::new(s, "records")?;
            // A reader is there already, so a sender that opens the FIFO before checking does not wait.
            let reader = open_nonblocking_reader(fifo.path())?;
            let bytes = |n: usize| Payload::new(n, n as u64).bytes();
            let too_long = fifos::MAX_RECORD + 1;
            let cases = [
                ("one record of MAX_RECORD + 1 bytes", vec![bytes(too_long)]),
                ("two small records, then one of MAX_RECORD + 1 bytes", vec![bytes(10), bytes(100), bytes(too_long)]),
                ("a record of MAX_RECORD + 1 bytes between small ones", vec![bytes(5), bytes(too_long), bytes(7)]),
            ];
            for (what, records) in &cases {
                s.phase(format!("calling send_records with {what}"));
                let result = fifos::send_records(fifo.path(), records);
                let mut written = Vec::new();
                read_available(&reader, &mut written)?;
                s.expect_err(&format!("send_records with {what}"), result, ErrorKind::InvalidInput)?;
                s.expect(written.is_empty(), || {
                    format!(
                        "send_records refused {what}, but only after writing {} into the FIFO: check every \
                         record before writing anything",
                        size(written.len())
                    )
                })?;
            }
            Ok(())
        });
    }

    #[test]
    fn records_of_max_record_bytes_and_of_none_go_out_as_a_u16_le_length_then_the_bytes() {
        grade!().run(|s| {
            let fifo = TestFifo::new(s, "records")?;
            let reader = open_nonblocking_reader(fifo.path())?;
            // PIPE_BUF - 2, not MAX_RECORD: the most one atomic write can carry with its length.
            s.expect_eq(
                "MAX_RECORD (PIPE_BUF - 2: a record and its 2-byte length in one write)",
                &4094,
                &fifos::MAX_RECORD,
            )?;
            let records = vec![Payload::new(libc::PIPE_BUF - 2, 1).bytes(), Vec::new(), vec![0x5a]];
            s.call("send_records with records of 4094 (PIPE_BUF - 2), 0 and 1 bytes", || {
                fifos::send_records(fifo.path(), &records)
            })?;
            let mut got = Vec::new();
            read_available(&reader, &mut got)?;
            s.expect_bytes(
                "the stream send_records wrote (per record: u16 little-endian length, bytes)",
                &framed(&records),
                &got,
            )
        });
    }

    #[test]
    fn a_stream_cut_in_the_middle_of_a_record_is_invalid_data() {
        grade!().run(|s| {
            let fifo = TestFifo::new(s, "records")?;
            let input = s.path("in");
            let whole = framed(&[b"a whole record".to_vec()]);
            let cases = [
                ("40 of the 100 bytes its length announces", [&whole[..], &100u16.to_le_bytes(), &[7; 40]].concat()),
                ("one byte of its 2-byte length", [&whole[..], &[9]].concat()),
            ];
            for (what, stream) in &cases {
                fs::write(&input, stream).map_err(Failure::test_error("save the input"))?;
                let mut writer = peer::start(s, Fifo::Write { fifo: fifo.path().into(), input: input.clone() })?;
                s.phase(format!("calling receive_records on a stream whose last record ends after {what}"));
                let result = fifos::receive_records(fifo.path());
                let call = format!("receive_records on a stream whose last record ends after {what}");
                s.expect_err(&call, result, ErrorKind::InvalidData)?;
                writer.join_writer_after(s, "receive_records")?;
            }
            Ok(())
        });
    }

    /// Lists of up to 40 records, empty and MAX_RECORD-long ones often.
    fn record_lists() -> impl Strategy<Value = Vec<Payload>> {
        let len = prop_oneof![1 => Just(0), 1 => Just(fifos::MAX_RECORD), 4 => 0..=fifos::MAX_RECORD];
        proptest::collection::vec((len, any::<u64>()).prop_map(|(len, seed)| Payload::new(len, seed)), 0..40)
    }

    fn expect_records(s: &Sandbox, expected: &[Vec<u8>], got: &[Vec<u8>]) -> Result<(), Failure> {
        s.expect_eq("the number of records receive_records returned", &expected.len(), &got.len())?;
        for (i, (e, g)) in expected.iter().zip(got).enumerate() {
            s.expect_bytes(&format!("record {i} returned by receive_records"), e, g)?;
        }
        Ok(())
    }

    #[test]
    fn any_list_of_records_goes_out_and_comes_back_as_a_u16_le_length_then_the_bytes() {
        grade!().property(12, record_lists(), |s, list| {
            let records: Vec<Vec<u8>> = list.iter().map(Payload::bytes).collect();
            let stream = framed(&records);
            let fifo = TestFifo::new(s, "records")?;
            let (out, input) = (s.path("out"), s.path("in"));
            let mut reader = peer::start(s, Fifo::Read { fifo: fifo.path().into(), out: out.clone() })?;
            s.call(format!("send_records with {} records while a reader program reads", records.len()), || {
                fifos::send_records(fifo.path(), &records)
            })?;
            reader.join_reader_after(s, "send_records")?;
            let got = fs::read(&out).map_err(Failure::test_error("load what the reader read"))?;
            s.expect_bytes(
                "the stream send_records wrote (per record: u16 little-endian length, bytes)",
                &stream,
                &got,
            )?;
            fs::write(&input, &stream).map_err(Failure::test_error("save the input"))?;
            let mut writer = peer::start(s, Fifo::Write { fifo: fifo.path().into(), input: input.clone() })?;
            let got = s
                .call(format!("receive_records while a writer program sends {} records", records.len()), || {
                    s.watched(|| fifos::receive_records(fifo.path()))
                })?;
            expect_records(s, &records, &got)?;
            writer.join_writer_after(s, "receive_records").map(drop)
        });
    }
}
