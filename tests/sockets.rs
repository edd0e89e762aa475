//! Graded tests of the sockets topic: `cargo test --test sockets`.
//!
//! Each body runs in the grader's sandbox: a child process with a deadline, umask 0 (the mode
//! asked for is the mode made), SIGPIPE at its default action (as in C), and a leak audit
//! (descriptors, zombies, socket files left in the test's directory) after the kata returns.
//! Only loopback and Unix sockets: every socket file is in the test's own directory, every TCP
//! port is one the kernel chose. The other side of a server or a client is trusted code: a
//! separate program (the peer: the test binary started again) or a forked worker, never the learner's own other half.

// This binary is also the peer program its tests start as "another process" (tests/peer/).
mod peer;
use peer::Sockets;
ipc_katas::peer_commands!(peer::run);

use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ipc_katas::grade;
use ipc_katas::grader::{Failure, Payload, Peer, Sandbox, caught_alarms_every, data, size};
use ipc_katas::kit::{Removed, fd, signals};
use katas::sockets;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Helpers shared by the katas' tests.

/// A socket file the test binds itself; removed when dropped, so that a failing test does not
/// also report it as left behind.
struct TestSocket {
    listener: Option<UnixListener>,
    path: PathBuf,
}

impl TestSocket {
    fn bind(s: &Sandbox, name: &str) -> Result<TestSocket, Failure> {
        let path = s.path(name);
        let listener = UnixListener::bind(&path).map_err(Failure::test_error("bind its own socket"))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
            .map_err(Failure::test_error("chmod its socket"))?;
        Ok(TestSocket { listener: Some(listener), path })
    }

    fn listener(&self) -> &UnixListener {
        self.listener.as_ref().expect("listening")
    }

    /// Closes the listening socket but leaves its file: what a crashed server leaves behind.
    fn crash(&mut self) {
        self.listener = None;
    }

    /// Accepts one connection from `peer`; if the peer exits first, its failure is the report.
    fn accept_from(&self, peer: &mut Peer) -> Result<UnixStream, Failure> {
        let listener = self.listener();
        listener.set_nonblocking(true).map_err(Failure::test_error("make its listener non-blocking"))?;
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).map_err(Failure::test_error("make a connection blocking"))?;
                    return Ok(stream);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if peer.has_exited() {
                        peer.join()?;
                        return Err(Failure::crash("the peer program exited without connecting"));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(Failure::test_error("accept")(e)),
            }
        }
    }
}

impl Drop for TestSocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// The trusted framing: a u32 big-endian length, then the bytes.
fn framed(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        out.extend_from_slice(&(m.len() as u32).to_be_bytes());
        out.extend_from_slice(m);
    }
    out
}

fn trusted_read_frame(from: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; 4];
    match from.read_exact(&mut header) {
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    let mut message = vec![0u8; u32::from_be_bytes(header) as usize];
    from.read_exact(&mut message)?;
    Ok(Some(message))
}

fn reversed(request: &[u8]) -> Vec<u8> {
    request.iter().rev().copied().collect()
}

/// The body's result, unless a worker running kata code failed in a way that explains it better
/// (a todo!(), a crash, a wrong answer) than the SIGPIPE or EPIPE (`Broken pipe`) it got because
/// the body stopped reading at its own failure: then the body's failure is the cause, and the
/// worker's end is said as what followed from it.
fn prefer_worker(body: Result<(), Failure>, worker: Result<(), Failure>) -> Result<(), Failure> {
    let after_the_reader_stopped = |worker: &Failure| {
        worker.signal() == Some(libc::SIGPIPE) || worker.outcome().text().contains("kind BrokenPipe")
    };
    match (body, worker) {
        (Ok(()), worker) => worker,
        (Err(body), Err(worker)) if after_the_reader_stopped(&worker) => {
            let text = format!(
                "{}\n(Then the test stopped reading and closed its end, so the other process's write failed: {})",
                body.outcome().text(),
                worker.outcome().text().lines().next().unwrap_or("")
            );
            Err(match body.outcome() {
                ipc_katas::grader::Outcome::WrongAnswer(_) => Failure::wrong(text),
                _ => body,
            })
        }
        (Err(_), Err(worker)) => Err(worker),
        (Err(body), _) => Err(body),
    }
}

// ---------------------------------------------------------------------------------------------

mod framing {
    use super::*;

    /// The test's transport: an in-memory stream. Writes are merged into one byte stream (no
    /// boundaries survive) and accept only part of what they are given; reads return fewer bytes
    /// than asked for (1 to n-1 of n, as far as there are any); every fifth call fails with
    /// `Interrupted`, as a call cut short by a signal does.
    struct Transport {
        bytes: Vec<u8>,
        at: usize,
        state: u64,
        calls: u32,
        interrupts: bool,
        /// The most a read returns (1: one byte per read).
        max_read: usize,
    }

    impl Transport {
        fn new(seed: u64) -> Transport {
            Transport { bytes: Vec::new(), at: 0, state: seed, calls: 0, interrupts: true, max_read: usize::MAX }
        }

        fn reading(bytes: Vec<u8>, seed: u64) -> Transport {
            Transport { bytes, ..Transport::new(seed) }
        }

        /// 1 to n-1 of n (n itself when n is 1), at random.
        fn short(&mut self, n: usize) -> usize {
            self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            if n <= 1 { n } else { 1 + ((z ^ (z >> 31)) % (n as u64 - 1)) as usize }
        }

        fn interrupted(&mut self) -> bool {
            self.calls += 1;
            self.interrupts && self.calls % 5 == 0
        }
    }

    impl Write for Transport {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.interrupted() {
                return Err(io::Error::from(ErrorKind::Interrupted));
            }
            let n = self.short(buf.len());
            self.bytes.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Read for Transport {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.interrupted() {
                return Err(io::Error::from(ErrorKind::Interrupted));
            }
            let available = self.bytes.len() - self.at;
            let n = self.short(buf.len()).min(available).min(self.max_read);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// What the reader of each test does to read_frame, and what that asks of it: the hint of a
    /// wrong frame names the reader it came from, not every way a read can go wrong.
    const IN_PIECES: &str = "this transport gives 1 to n-1 of the n bytes asked for per read, and every fifth read \
                             fails with Interrupted: read the 4 length bytes until you have all 4, then exactly that \
                             many bytes (read_exact); retry Interrupted";
    const ONE_BYTE: &str = "this transport gives one byte per read: read the 4 length bytes until you have all 4, \
                            then exactly that many bytes (read_exact)";
    const ALL_AT_ONCE: &str = "this reader gives all that is asked for, so a read with a large buffer also takes \
                               the next frames' bytes, and what read_frame does not return is lost: read exactly the \
                               4 length bytes, then exactly that many (read_exact), never more";
    const A_SOCKET: &str = "a socket's read returns what has arrived: part of a frame, or the end of one and the \
                            start of the next. Read exactly the 4 length bytes, then exactly that many \
                            (read_exact), never more";

    /// What a wrong result of read_frame on the test's transport says when the same bytes read
    /// in one piece (a slice gives all that is asked) come out right: the fault is in how
    /// read_frame takes short reads or Interrupted, not in the check the test is about.
    const SHORT_READS: &str = "it mishandles short reads. This transport gives 1 to n-1 of the n bytes asked for \
                               per read, and every fifth read fails with Interrupted, as a socket may. Read the 4 \
                               length bytes until you have all 4, then exactly that many bytes (read_exact); retry \
                               Interrupted";

    /// Expects read_frame on `stream`, given through the test's transport, to fail with `kind`.
    fn expect_read_err(s: &Sandbox, what: &str, stream: &[u8], seed: u64, kind: ErrorKind) -> Result<(), Failure> {
        let result = sockets::read_frame(&mut Transport::reading(stream.to_vec(), seed));
        let Err(failure) = s.expect_err(what, result, kind) else { return Ok(()) };
        let mut whole = stream;
        match sockets::read_frame(&mut whole) {
            Err(e) if e.kind() == kind => Err(Failure::wrong(format!(
                "{} when its bytes came in pieces.\nWith the same bytes available in one read, read_frame does \
                     fail with {kind:?}: {SHORT_READS}",
                failure.outcome().text()
            ))),
            _ => Err(failure),
        }
    }

    /// Explains a wrong stream that write_frame wrote through the transport that takes part of
    /// each write: what it wrote, and that each write may take less than it was given.
    fn short_writes(expected: &[u8], got: &[u8]) -> Option<String> {
        let diff = data::diff_bytes(expected, got)?;
        Some(format!(
            "the stream write_frame wrote differs from the frames (u32 big-endian length, then the bytes, per \
             frame):\n{diff}\nThis transport takes only 1 to n-1 of the n bytes of each write (write returns how \
             many) and fails every fifth write with Interrupted, as a socket may: write until every byte is taken \
             (write_all, or a loop on write's count) and retry Interrupted"
        ))
    }

    /// Reads frames with the kata until it returns None, then checks them against `sent`.
    /// `hint`: what the reader `from` does, for the report of a wrong frame.
    fn read_all(s: &Sandbox, from: &mut impl Read, sent: &[Vec<u8>], how: &str, hint: &str) -> Result<(), Failure> {
        for (i, expected) in sent.iter().enumerate() {
            s.phase(format!("calling read_frame for frame {i} of {} {how}", sent.len()));
            let got = s.ok(&format!("read_frame (frame {i} of {}, {how})", sent.len()), sockets::read_frame(from));
            let got = got.map_err(|failure| {
                Failure::wrong(format!(
                    "{}\nThe stream holds only well-formed frames{}. Hint: {hint}",
                    failure.outcome().text(),
                    if i > 0 { format!(", and frames 0 to {} came out right", i - 1) } else { String::new() }
                ))
            })?;
            let Some(got) = got else {
                return Err(Failure::wrong(format!(
                    "read_frame returned None (end of stream) at frame {i} of {}, {how}\nHint: {hint}",
                    sent.len()
                )));
            };
            if let Some(diff) = data::diff_bytes(expected, &got) {
                return Err(Failure::wrong(format!(
                    "frame {i} of {} read {how} is wrong:\n{diff}\nHint: {hint}",
                    sent.len()
                )));
            }
        }
        s.phase(format!("calling read_frame after the last frame, {how}"));
        let last = s.ok(&format!("read_frame after the last frame ({how})"), sockets::read_frame(from))?;
        s.expect(last.is_none(), || {
            format!(
                "read_frame returned a message of {} after the last frame, {how}: at the end of the stream it must \
                 return None",
                size(last.as_ref().map_or(0, Vec::len))
            )
        })
    }

    #[test]
    fn a_frame_is_a_u32_big_endian_length_then_the_bytes() {
        grade!().run(|s| {
            let messages = vec![b"hello".to_vec(), Vec::new(), Payload::new(300, 1).bytes()];
            let mut wire = Vec::new();
            for m in &messages {
                s.call(format!("write_frame with {} into a Vec", size(m.len())), || {
                    sockets::write_frame(&mut wire, m)
                })?;
            }
            s.expect_bytes(
                "the bytes write_frame wrote (per frame: u32 big-endian length, then the bytes)",
                &framed(&messages),
                &wire,
            )
        });
    }

    /// Lists of up to 8 messages of 0 to 200 000 bytes, edge sizes often.
    fn message_lists() -> impl Strategy<Value = Vec<Payload>> {
        proptest::collection::vec(data::payload(200_000), 0..8)
    }

    #[test]
    fn any_list_of_messages_survives_short_writes_short_reads_and_interruptions() {
        grade!().property(16, (message_lists(), any::<u64>()), |s, (list, seed)| {
            let messages: Vec<Vec<u8>> = list.iter().map(Payload::bytes).collect();
            let mut transport = Transport::new(*seed);
            for (i, m) in messages.iter().enumerate() {
                s.phase(format!(
                    "calling write_frame for message {i} ({}) on a transport that takes part of each write",
                    size(m.len())
                ));
                s.ok("write_frame (on short writes and Interrupted)", sockets::write_frame(&mut transport, m))?;
            }
            if let Some(why) = short_writes(&framed(&messages), &transport.bytes) {
                return Err(Failure::wrong(why));
            }
            read_all(s, &mut transport, &messages, "through short reads and Interrupted", IN_PIECES)
        });
    }

    #[test]
    fn frames_written_back_to_back_are_read_one_at_a_time() {
        grade!().run(|s| {
            let messages = vec![Payload::new(100, 2).bytes(), Vec::new(), Payload::new(5000, 3).bytes(), vec![7]];
            let stream = framed(&messages);
            // A slice returns as much as asked for: a read with a large buffer gets several frames.
            let mut from: &[u8] = &stream;
            read_all(s, &mut from, &messages, "from frames back to back in one buffer", ALL_AT_ONCE)
        });
    }

    #[test]
    fn a_frame_delivered_one_byte_per_read_is_read_whole() {
        grade!().run(|s| {
            let messages = vec![Payload::new(3000, 4).bytes(), Vec::new(), vec![1]];
            let mut transport = Transport::reading(framed(&messages), 4);
            transport.interrupts = false;
            transport.max_read = 1;
            read_all(s, &mut transport, &messages, "one byte per read", ONE_BYTE)
        });
    }

    #[test]
    fn end_of_stream_before_a_frame_is_none_and_inside_one_is_unexpected_eof() {
        grade!().run(|s| {
            s.phase("calling read_frame on an empty stream");
            let got =
                s.ok("read_frame on an empty stream", sockets::read_frame(&mut Transport::reading(Vec::new(), 5)))?;
            s.expect(got.is_none(), || "read_frame on an empty stream must return None".to_string())?;
            let whole = framed(&[b"whole".to_vec()]);
            let cases: [(&str, Vec<u8>); 4] = [
                ("2 of the 4 length bytes", vec![0, 0]),
                ("3 of the 4 length bytes", vec![0, 0, 0]),
                ("the length 10 and 3 bytes", vec![0, 0, 0, 10, 1, 2, 3]),
                ("the length 1 and nothing", vec![0, 0, 0, 1]),
            ];
            for (what, stream) in cases {
                s.phase(format!("calling read_frame on a stream that ends after {what}"));
                let call = format!("read_frame on a stream that ends after {what}");
                expect_read_err(s, &call, &stream, 6, ErrorKind::UnexpectedEof)?;
            }
            s.phase("calling read_frame twice on a whole frame followed by 2 length bytes");
            let mut transport = Transport::reading([&whole[..], &[0, 0]].concat(), 7);
            let first = s.ok("read_frame on a whole frame", sockets::read_frame(&mut transport))?;
            s.expect_eq("the first frame", &Some(b"whole".to_vec()), &first)?;
            s.expect(transport.at == whole.len(), || {
                format!(
                    "read_frame returned the first frame but took {} from the stream, {} past its end: the next \
                     frame's bytes are gone, so the next call cannot see them. Read exactly the 4 length bytes, \
                     then exactly that many (read_exact), never more",
                    size(transport.at),
                    size(transport.at.saturating_sub(whole.len()))
                )
            })?;
            let second = sockets::read_frame(&mut transport);
            s.expect_err("read_frame on 2 length bytes after a whole frame", second, ErrorKind::UnexpectedEof).map(drop)
        });
    }

    #[test]
    fn a_length_above_max_frame_is_invalid_data_and_max_frame_itself_is_fine() {
        grade!().run(|s| {
            // A 4 GiB length followed by nothing: a reader that trusts it and allocates ends in
            // UnexpectedEof (or worse), not InvalidData.
            s.phase("calling read_frame on a frame that announces 4 GiB - 1");
            let call = "read_frame on a frame announcing 4 GiB - 1 bytes";
            expect_read_err(s, call, &[0xff; 4], 8, ErrorKind::InvalidData)?;
            let over = sockets::MAX_FRAME + 1;
            let stream = [&(over as u32).to_be_bytes()[..], &vec![9; over]].concat();
            s.phase("calling read_frame on a whole frame of MAX_FRAME + 1 bytes");
            let call = "read_frame on a frame of MAX_FRAME + 1 bytes";
            expect_read_err(s, call, &stream, 9, ErrorKind::InvalidData)?;
            let max = vec![Payload::new(sockets::MAX_FRAME, 10).bytes()];
            read_all(
                s,
                &mut Transport::reading(framed(&max), 10),
                &max,
                "with one frame of exactly MAX_FRAME bytes",
                IN_PIECES,
            )
        });
    }

    #[test]
    fn a_message_above_max_frame_is_invalid_input_and_nothing_is_written() {
        grade!().run(|s| {
            let mut wire = Vec::new();
            s.phase("calling write_frame with MAX_FRAME + 1 bytes");
            let result = sockets::write_frame(&mut wire, &vec![1; sockets::MAX_FRAME + 1]);
            s.expect_err("write_frame with MAX_FRAME + 1 bytes", result, ErrorKind::InvalidInput)?;
            s.expect(wire.is_empty(), || {
                format!("write_frame refused the message but wrote {} first: check before writing", size(wire.len()))
            })?;
            let max = Payload::new(sockets::MAX_FRAME, 11).bytes();
            s.call("write_frame with exactly MAX_FRAME bytes", || sockets::write_frame(&mut wire, &max))?;
            s.expect_bytes("the frame of MAX_FRAME bytes", &framed(&[max]), &wire)
        });
    }

    /// A stream whose first call fails with `ConnectionReset`, as a socket whose peer reset the
    /// connection does, and that works afterwards: retrying the error would hide it.
    struct ResetOnce {
        bytes: Vec<u8>,
        at: usize,
        failed: bool,
    }

    impl ResetOnce {
        fn fails(&mut self) -> bool {
            !std::mem::replace(&mut self.failed, true)
        }
    }

    impl Write for ResetOnce {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.fails() {
                return Err(io::Error::from(ErrorKind::ConnectionReset));
            }
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Read for ResetOnce {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.fails() {
                return Err(io::Error::from(ErrorKind::ConnectionReset));
            }
            let n = buf.len().min(self.bytes.len() - self.at);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    #[test]
    fn an_error_of_the_stream_other_than_interrupted_is_returned_at_once_not_retried() {
        grade!().run(|s| {
            const RETRIED: &str = "retry only Interrupted; any other error of the stream is the caller's to see";
            s.phase("calling write_frame on a stream whose first write fails with ConnectionReset");
            let mut stream = ResetOnce { bytes: Vec::new(), at: 0, failed: false };
            let result = sockets::write_frame(&mut stream, b"hello");
            if result.is_ok() {
                return Err(Failure::wrong(format!(
                    "write_frame returned Ok on a stream whose write failed with ConnectionReset, after writing \
                     it again ({} went out on the retry): {RETRIED}",
                    size(stream.bytes.len())
                )));
            }
            s.expect_err("write_frame on a stream whose write fails", result, ErrorKind::ConnectionReset)?;
            s.phase("calling read_frame on a stream whose first read fails with ConnectionReset");
            let mut stream = ResetOnce { bytes: framed(&[b"hello".to_vec()]), at: 0, failed: false };
            let result = sockets::read_frame(&mut stream);
            if let Ok(got) = &result {
                return Err(Failure::wrong(format!(
                    "read_frame returned Ok({}) on a stream whose read failed with ConnectionReset, after reading \
                     again: {RETRIED}",
                    data::shorten(&format!("{got:?}"))
                )));
            }
            s.expect_err("read_frame on a stream whose read fails", result, ErrorKind::ConnectionReset).map(drop)
        });
    }

    #[test]
    fn frames_cross_a_real_socket_from_another_process_intact() {
        grade!().run(|s| {
            let messages: Vec<Vec<u8>> = [sockets::MAX_FRAME, 0, 70_000, 1, 300_000, 4]
                .iter()
                .enumerate()
                .map(|(i, &n)| Payload::new(n, i as u64).bytes())
                .collect();
            let (mut ours, theirs) = UnixStream::pair().map_err(Failure::test_error("make a socketpair"))?;
            let our_fd = ours.as_raw_fd();
            let writer = s.fork("the writing process", || {
                // SAFETY: the writer's copy of the body's end: with it closed, the writer gets an
                // error instead of blocking forever if the body stops reading.
                unsafe { libc::close(our_fd) };
                let mut theirs = &theirs;
                for m in &messages {
                    sockets::write_frame(&mut theirs, m)
                        .map_err(|e| Failure::kata_error("write_frame on a socket", e))?;
                }
                Ok(())
            })?;
            drop(theirs);
            let result = read_all(s, &mut ours, &messages, "from a socket another process writes to", A_SOCKET);
            drop(ours);
            prefer_worker(result, writer.join())
        });
    }
}

// ---------------------------------------------------------------------------------------------

mod unix_server {
    use super::*;

    fn handler(request: &[u8]) -> Vec<u8> {
        reversed(request)
    }

    fn bind(s: &Sandbox, path: &Path) -> Result<sockets::UnixServer, Failure> {
        s.phase(format!("calling UnixServer::bind on {}", path.display()));
        s.ok("UnixServer::bind", sockets::UnixServer::bind(path))
    }

    /// Serves `n` client programs (`Sockets::UnixClient`, `count` requests each) and `others` connections
    /// the test made before with the kata's server.
    fn serve_client_programs(
        s: &Sandbox,
        server: &sockets::UnixServer,
        path: &Path,
        (n, count): (u64, u32),
        others: usize,
    ) -> Result<(), Failure> {
        let mut clients = Vec::new();
        for id in 0..n {
            clients.push(peer::start(s, Sockets::UnixClient { path: path.into(), id, count: count as usize })?);
        }
        s.phase(format!("calling serve({n}) while {n} client programs connect at once, {count} requests each"));
        let served = server.serve(n as usize + others, handler);
        if let (Err(e), true) = (&served, others > 0) {
            return Err(Failure::wrong(format!(
                "serve returned an error: {e} (kind {:?}). One client's broken frame must only end that client's \
                 connection: the server goes on serving the others",
                e.kind()
            )));
        }
        s.ok("serve", served)?;
        for client in &mut clients {
            client.join()?;
        }
        Ok(())
    }

    #[test]
    fn bind_makes_a_socket_file_only_its_owner_may_use_and_drop_removes_it() {
        grade!().run(|s| {
            let path = s.path("server.sock");
            let _cleanup = Removed(path.clone());
            let server = bind(s, &path)?;
            s.expect_eq("UnixServer::path", &path.as_path(), &server.path())?;
            let meta = fs::symlink_metadata(&path)
                .map_err(|e| Failure::wrong(format!("bind returned Ok, but there is nothing at the path: {e}")))?;
            s.expect(meta.file_type().is_socket(), || {
                "bind made something at the path that is not a socket".to_string()
            })?;
            let mode = meta.permissions().mode() & 0o7777;
            s.expect(mode == 0o600, || {
                format!(
                    "the socket file's mode is {mode:04o}, expected 0600: anyone with write permission on it may \
                     connect, and bind gives it the process's umask (0 here, so 0777). chmod it between bind and listen"
                )
            })?;
            s.phase("connecting to the server");
            let client = UnixStream::connect(&path);
            s.expect(client.is_ok(), || {
                format!("a client could not connect to the bound server: {:?}", client.as_ref().err())
            })?;
            drop(client);
            s.phase("dropping the server");
            drop(server);
            s.expect(fs::symlink_metadata(&path).is_err(), || {
                "the socket file is still there after the server was dropped: remove it in impl Drop (a socket \
                 file outlives its socket, and it would stop the next bind)"
                    .to_string()
            })
        });
    }

    #[test]
    fn eight_client_programs_at_once_each_get_their_own_answers() {
        grade!().run(|s| {
            let path = s.path("server.sock");
            let _cleanup = Removed(path.clone());
            let server = bind(s, &path)?;
            serve_client_programs(s, &server, &path, (8, 6), 0)
        });
    }

    #[test]
    fn a_client_is_answered_while_the_others_stay_connected() {
        const CLIENTS: usize = 8;
        grade!().run(|s| {
            let path = s.path("server.sock");
            let _cleanup = Removed(path.clone());
            let server = bind(s, &path)?;
            // Each client: connect, one request and its answer, say so on `answered`, wait (still
            // connected) until `go` closes, one more request, then close.
            let (answered_r, answered_w) = fd::pipe()?;
            let (go_r, go_w) = fd::pipe()?;
            let mut clients = Vec::new();
            for id in 0..CLIENTS {
                let (path, answered_w, go_r, go_w) =
                    (&path, answered_w.as_raw_fd(), go_r.as_raw_fd(), go_w.as_raw_fd());
                clients.push(s.fork(&format!("client {id}"), move || {
                    // SAFETY: our copy of the go pipe's write end; the body keeps its own.
                    unsafe { libc::close(go_w) };
                    signals::ignore_sigpipe();
                    let fail = |what: &str, e: io::Error| Failure::wrong(format!("client {id}: {what}: {e}"));
                    let mut stream = UnixStream::connect(path).map_err(|e| fail("connect", e))?;
                    for round in 0..2 {
                        let request = Payload::new(100 + id, (id * 10 + round) as u64).bytes();
                        stream.write_all(&framed(std::slice::from_ref(&request))).map_err(|e| fail("send", e))?;
                        match trusted_read_frame(&mut stream).map_err(|e| fail("read the answer", e))? {
                            Some(answer) if answer == reversed(&request) => {}
                            other => return Err(Failure::wrong(format!("client {id} got a wrong answer: {other:?}"))),
                        }
                        if round == 0 {
                            // SAFETY: one byte from a valid buffer into our pipe.
                            unsafe { libc::write(answered_w, b"a".as_ptr().cast(), 1) };
                            let mut byte = [0u8; 1];
                            // SAFETY: reads into a valid one-byte buffer until end-of-file.
                            while unsafe { libc::read(go_r, byte.as_mut_ptr().cast(), 1) } > 0 {}
                        }
                    }
                    Ok(())
                })?);
            }
            drop((answered_w, go_r));
            std::thread::scope(|scope| {
                s.phase(format!("calling serve({CLIENTS}) (in a thread) while {CLIENTS} clients connect and stay"));
                let serving = scope.spawn(|| server.serve(CLIENTS, handler));
                s.phase(format!("waiting for all {CLIENTS} connected clients to have a first answer"));
                let started = Instant::now();
                let mut answered = 0;
                let mut clients_gone = false;
                while answered < CLIENTS
                    && !serving.is_finished()
                    && !clients_gone
                    && started.elapsed() < Duration::from_secs(3)
                {
                    if fd::poll_readable(&answered_r, 10) {
                        let mut byte = [0u8; 1];
                        match nix::unistd::read(&answered_r, &mut byte) {
                            Ok(1) => answered += 1,
                            _ => clients_gone = true,
                        }
                    }
                }
                // Release the clients whatever happened, so that serve can end.
                drop(go_w);
                if serving.is_finished() && answered < CLIENTS {
                    let result = serving.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                    s.ok("serve", result)?;
                    return Err(Failure::wrong(format!(
                        "serve returned Ok after only {answered} of {CLIENTS} clients had an answer: it must serve \
                         every one of the connections it was asked for until each client closes"
                    )));
                }
                if answered < CLIENTS && !clients_gone {
                    // A client's own failure (a wrong answer) explains more than the count.
                    s.phase("waiting for the released clients to finish");
                    for client in clients {
                        client.join()?;
                    }
                    return Err(Failure::wrong(format!(
                        "only {answered} of {CLIENTS} connected clients had an answer after 3 s: serve handles one \
                         client at a time, and every other client waits as long as the first stays connected. \
                         Serve each connection in its own thread (std::thread::scope)"
                    )));
                }
                s.phase("waiting for serve to return after every client closed");
                let result = serving.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                for client in clients {
                    client.join()?;
                }
                s.ok("serve", result).map(drop)
            })
        });
    }

    #[test]
    fn a_stale_socket_file_from_a_crashed_server_does_not_stop_a_restart() {
        grade!().run(|s| {
            let mut crashed = TestSocket::bind(s, "server.sock")?;
            crashed.crash();
            let path = crashed.path.clone();
            let server = s.call("UnixServer::bind where a crashed server left its socket file", || {
                sockets::UnixServer::bind(&path)
            })?;
            serve_client_programs(s, &server, &path, (1, 3), 0)?;
            drop(server);
            s.expect(fs::symlink_metadata(&path).is_err(), || {
                "the socket file is still there after the server was dropped".to_string()
            })
        });
    }

    #[test]
    fn a_second_server_on_a_live_path_is_addr_in_use_and_the_first_keeps_its_path() {
        grade!().run(|s| {
            let path = s.path("server.sock");
            let _cleanup = Removed(path.clone());
            let first = bind(s, &path)?;
            let before =
                fs::symlink_metadata(&path).map_err(Failure::test_error("stat the first server's socket file"))?;
            let second = s.fork("the second server's process", || match sockets::UnixServer::bind(&path) {
                Err(e) if e.kind() == ErrorKind::AddrInUse => Ok(()),
                Err(e) => Err(Failure::wrong(format!(
                    "UnixServer::bind on a path where a server is listening should fail with AddrInUse, but \
                         failed with {:?}: {e}",
                    e.kind()
                ))),
                Ok(_) => Err(Failure::wrong(
                    "UnixServer::bind on a path where a server is listening returned Ok: it took the live \
                         server's path (removing a socket file before bind must only happen when nobody listens \
                         on it: connect first, and remove it only if the connection is refused)",
                )),
            })?;
            s.phase("waiting for the second server's bind to return");
            second.join()?;
            let after = fs::symlink_metadata(&path);
            s.expect(after.as_ref().is_ok_and(|m| m.ino() == before.ino() && m.file_type().is_socket()), || {
                "the first server's socket file was removed or replaced by the second bind: a path where a server \
                 is listening must be left alone"
                    .to_string()
            })?;
            s.phase("connecting to the first server after the second bind was refused");
            let client = UnixStream::connect(&path);
            s.expect(client.is_ok(), || format!("the first server no longer accepts connections: {:?}", client.err()))?;
            drop(first);
            Ok(())
        });
    }

    #[test]
    fn a_path_taken_by_a_regular_file_is_addr_in_use_and_the_file_is_kept() {
        grade!().run(|s| {
            let path = s.path("notes.txt");
            let content = b"somebody's notes, not a socket";
            fs::write(&path, content).map_err(Failure::test_error("write its file"))?;
            s.phase("calling UnixServer::bind on a path taken by a regular file");
            let result = sockets::UnixServer::bind(&path);
            let now = fs::read(&path).ok();
            let is_file = fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
            if !is_file {
                let _ = fs::remove_file(&path);
            }
            s.expect_err("UnixServer::bind on a regular file", result, ErrorKind::AddrInUse)?;
            s.expect(is_file && now.as_deref() == Some(&content[..]), || {
                "UnixServer::bind removed or changed the regular file at the path: connecting to a file that is not a \
                 socket is refused too, so check that it is a socket before removing anything"
                    .to_string()
            })
        });
    }

    #[test]
    fn a_path_too_long_for_a_unix_socket_address_is_an_error_that_says_so_and_makes_nothing() {
        grade!().run(|s| {
            // sun_path holds 108 bytes with its NUL; this path is longer, but a fine file name.
            let path = s.path(&"l".repeat(150));
            let _cleanup = Removed(path.clone());
            s.phase(format!("calling UnixServer::bind on a path of {} bytes", path.as_os_str().len()));
            let result = sockets::UnixServer::bind(&path);
            let made = fs::symlink_metadata(&path).is_ok();
            match &result {
                Err(e) if e.kind() == ErrorKind::InvalidInput || e.raw_os_error() == Some(libc::ENAMETOOLONG) => {}
                Err(e) => {
                    return Err(Failure::wrong(format!(
                        "UnixServer::bind on a path of {} bytes (a Unix socket address holds at most 107) failed \
                         with {:?}: {e}. The error is that the path is too long (ENAMETOOLONG, or InvalidInput as \
                         std says it){}",
                        path.as_os_str().len(),
                        e.kind(),
                        if e.kind() == ErrorKind::NotFound {
                            ": NotFound says a stale socket file was looked for after bind failed. Only AddrInUse \
                             from bind means a file is in the way; return any other bind error as it is"
                        } else {
                            ""
                        }
                    )));
                }
                Ok(_) => {
                    return Err(Failure::wrong(format!(
                        "UnixServer::bind on a path of {} bytes returned Ok: a Unix socket address holds at most \
                         107 bytes, so some other (cut) path was bound",
                        path.as_os_str().len()
                    )));
                }
            }
            s.expect(!made, || "UnixServer::bind failed but left a file at the path".to_string())
        });
    }

    #[test]
    fn a_path_where_a_datagram_socket_is_bound_is_an_error_and_that_socket_keeps_its_path() {
        grade!().run(|s| {
            let path = s.path("datagrams.sock");
            let _cleanup = Removed(path.clone());
            let theirs = UnixDatagram::bind(&path).map_err(Failure::test_error("bind its datagram socket"))?;
            let before = fs::symlink_metadata(&path).map_err(Failure::test_error("stat its socket file"))?;
            s.phase("calling UnixServer::bind on a path where a live datagram socket is bound");
            let result = sockets::UnixServer::bind(&path);
            let after = fs::symlink_metadata(&path);
            let kept = after.as_ref().is_ok_and(|m| m.ino() == before.ino());
            if let Ok(server) = result {
                drop(server);
                return Err(Failure::wrong(
                    "UnixServer::bind on a path where a datagram socket is bound returned Ok: it removed a live \
                     socket's file. A stream connect to it fails with EPROTOTYPE, not ECONNREFUSED: only a refused \
                     connection means nobody is there; any other connect error is an error, and the file stays",
                ));
            }
            s.expect(kept, || {
                "UnixServer::bind failed, but the datagram socket's file was removed or replaced: remove a socket \
                 file only when a connect to it is refused (ECONNREFUSED)"
                    .to_string()
            })?;
            s.phase("sending a datagram to the datagram socket's path");
            let client = UnixDatagram::unbound().map_err(Failure::test_error("make a datagram socket"))?;
            client.send_to(b"still here?", &path).map_err(Failure::test_error("send a datagram to its socket"))?;
            let mut buf = [0u8; 32];
            theirs.set_read_timeout(Some(Duration::from_secs(2))).map_err(Failure::test_error("set a timeout"))?;
            let n = theirs.recv(&mut buf).map_err(Failure::test_error("receive its datagram"))?;
            s.expect_bytes("the datagram", b"still here?", &buf[..n])
        });
    }

    #[test]
    fn a_client_that_announces_a_4_gib_frame_is_dropped_and_the_others_are_answered() {
        grade!().run(|s| {
            let path = s.path("server.sock");
            let _cleanup = Removed(path.clone());
            let server = bind(s, &path)?;
            let bad = s.fork("the client that announces 4 GiB", || {
                signals::ignore_sigpipe();
                let mut stream = UnixStream::connect(&path).map_err(|e| Failure::wrong(format!("connect: {e}")))?;
                stream
                    .write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3])
                    .map_err(|e| Failure::wrong(format!("send: {e}")))?;
                stream.set_read_timeout(Some(Duration::from_secs(3))).map_err(|e| Failure::crash(e.to_string()))?;
                let mut rest = Vec::new();
                match stream.read_to_end(&mut rest) {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == ErrorKind::ConnectionReset => Ok(()),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Err(Failure::wrong(
                        "a client that sent a frame length of 4 GiB was neither answered nor disconnected for 3 s: \
                         refuse a length above MAX_FRAME (read_frame's InvalidData) and close that connection",
                    )),
                    Err(e) => Err(Failure::wrong(format!("the bad client's read failed: {e}"))),
                }
            })?;
            serve_client_programs(s, &server, &path, (3, 2), 1)?;
            bad.join()
        });
    }

    #[test]
    fn call_sends_each_request_and_returns_the_answers_in_order() {
        grade!().run(|s| {
            let socket = TestSocket::bind(s, "trusted.sock")?;
            let requests: Vec<Vec<u8>> = [10, 0, 200_000, 1, 65_537, 4096, 3]
                .iter()
                .enumerate()
                .map(|(i, &n)| Payload::new(n, 20 + i as u64).bytes())
                .collect();
            let server = s.fork("the test's server", || {
                signals::ignore_sigpipe();
                let (mut stream, _) = socket.listener().accept().map_err(|e| Failure::crash(format!("accept: {e}")))?;
                stream.set_read_timeout(Some(Duration::from_secs(3))).map_err(|e| Failure::crash(e.to_string()))?;
                let mut served = 0;
                loop {
                    match trusted_read_frame(&mut stream) {
                        Ok(Some(request)) => {
                            served += 1;
                            if stream.write_all(&framed(&[reversed(&request)])).is_err() {
                                return Ok(()); // the client is gone; its own result tells
                            }
                        }
                        Ok(None) => return Ok(()),
                        Err(e) => {
                            return Err(Failure::wrong(format!(
                                "after {served} requests, call sent neither a whole frame nor closed the connection \
                                 for 3 s ({e}): it must send each request as a u32 big-endian length and the bytes, \
                                 and close the connection when done"
                            )));
                        }
                    }
                }
            })?;
            s.phase(format!("calling call with {} requests against the test's server", requests.len()));
            let result = sockets::call(&socket.path, &requests);
            let answers = s.ok("call", result)?;
            server.join()?;
            s.expect_eq("the number of answers", &requests.len(), &answers.len())?;
            for (i, (request, answer)) in requests.iter().zip(&answers).enumerate() {
                s.expect_bytes(&format!("answer {i} (the request reversed)"), &reversed(request), answer)?;
            }
            Ok(())
        });
    }

    #[test]
    fn call_to_nobody_is_not_found_or_connection_refused_at_once() {
        grade!().run(|s| {
            let missing = s.path("nobody.sock");
            s.phase("calling call on a path where nothing is");
            let result = sockets::call(&missing, &[b"hello".to_vec()]);
            s.expect_err("call on a missing path", result, ErrorKind::NotFound)?;
            let mut dead = TestSocket::bind(s, "dead.sock")?;
            dead.crash();
            s.phase("calling call on a socket file nobody listens on");
            let result = sockets::call(&dead.path, &[b"hello".to_vec()]);
            s.expect_err("call on a dead server's socket file", result, ErrorKind::ConnectionRefused).map(drop)
        });
    }
}

// ---------------------------------------------------------------------------------------------

mod tcp {
    use super::*;

    fn handler(data: &[u8]) -> Vec<u8> {
        reversed(data)
    }

    /// The local addresses (hex, as in /proc/net/tcp) of listening sockets on `port`.
    fn listening_on(port: u16) -> Vec<String> {
        let text = fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        text.lines()
            .skip(1)
            .filter_map(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                let (address, local_port) = cols.get(1)?.split_once(':')?;
                let listening = *cols.get(3)? == "0A";
                (listening && u16::from_str_radix(local_port, 16).ok()? == port).then(|| address.to_string())
            })
            .collect()
    }

    #[test]
    fn bind_listens_on_127_0_0_1_only_at_a_port_the_kernel_chose_and_two_servers_coexist() {
        grade!().run(|s| {
            let first = s.call("TcpServer::bind twice (two servers at once)", sockets::TcpServer::bind)?;
            let second = s.ok("TcpServer::bind while another server listens", sockets::TcpServer::bind())?;
            let (a, b) = (first.port(), second.port());
            s.expect(a != 0 && b != 0 && a != b, || {
                format!("the two servers report ports {a} and {b}: each must report the port the kernel chose for it")
            })?;
            for port in [a, b] {
                let addresses = listening_on(port);
                s.expect(!addresses.is_empty(), || {
                    format!("nothing listens on TCP port {port} (see /proc/net/tcp), the port the server reported")
                })?;
                s.expect(addresses.iter().all(|a| a == "0100007F"), || {
                    format!(
                        "the server on port {port} listens on {addresses:?} (hex, little-endian), not only 127.0.0.1 \
                         (0100007F): 00000000 is 0.0.0.0, every interface, open to the network"
                    )
                })?;
            }
            Ok(())
        });
    }

    #[test]
    fn serve_answers_four_client_programs_that_half_close() {
        grade!().run(|s| {
            let server = {
                s.phase("calling TcpServer::bind");
                s.ok("TcpServer::bind", sockets::TcpServer::bind())?
            };
            let port = server.port();
            let sizes = [1usize << 20, 0, 1, 300_000];
            std::thread::scope(|scope| {
                s.phase(format!("calling serve({}) in a thread", sizes.len()));
                let serving = scope.spawn(|| server.serve(sizes.len(), handler));
                // One client at a time: each needs the end of its answer before the next starts,
                // so a server that does not close a connection after answering is caught.
                for (i, len) in sizes.iter().enumerate() {
                    s.phase(format!(
                        "client program {i} of {} sends {} and half-closes, then reads the answer until the end",
                        sizes.len(),
                        size(*len)
                    ));
                    let joined = peer::start(s, Sockets::TcpClient { port, len: *len, seed: i as u64 })?.join();
                    if let Err(failure) = joined {
                        if serving.is_finished() {
                            let result = serving.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                            s.ok("serve", result)?;
                            return Err(failure);
                        }
                        // Let serve reach its count and return: empty clients that half-close at once.
                        s.phase("letting serve finish with empty clients after a client program failed");
                        let rest: Vec<_> = (i + 1..sizes.len())
                            .filter_map(|_| TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok())
                            .inspect(|c| drop(c.shutdown(Shutdown::Write)))
                            .collect();
                        let _ = serving.join();
                        drop(rest);
                        return Err(failure);
                    }
                }
                s.phase("waiting for serve to return after its last client");
                let result = serving.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                s.ok("serve", result).map(drop)
            })
        });
    }

    #[test]
    fn exchange_half_closes_and_reads_the_whole_answer() {
        grade!().run(|s| {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(Failure::test_error("listen"))?;
            let port = listener.local_addr().map_err(Failure::test_error("read its port"))?.port();
            let data = Payload::new(1 << 20, 30).bytes();
            let server = s.fork("the test's server", || {
                let (mut stream, _) = listener.accept().map_err(|e| Failure::crash(format!("accept: {e}")))?;
                stream.set_read_timeout(Some(Duration::from_secs(3))).map_err(|e| Failure::crash(e.to_string()))?;
                let mut got = Vec::new();
                if let Err(e) = stream.read_to_end(&mut got) {
                    return Err(Failure::wrong(format!(
                        "exchange sent {} and then no end-of-file for 3 s ({e}): after sending, it must half-close \
                         (stream.shutdown(Shutdown::Write)) so that the server knows the data is complete",
                        size(got.len())
                    )));
                }
                if let Some(diff) = data::diff_bytes(&data, &got) {
                    return Err(Failure::wrong(format!(
                        "the server did not receive the data exchange was given:\n{diff}"
                    )));
                }
                stream.write_all(&reversed(&got)).map_err(|e| {
                    Failure::wrong(format!(
                        "the server could not send its whole answer ({e}): exchange closed the connection before it \
                         had read the answer to the end. After sending, only half-close (shutdown(Write), not drop \
                         or shutdown(Both)), and read until end-of-file (read_to_end, not one read)"
                    ))
                })?;
                // Dropping the stream closes it: the client's read_to_end ends.
                Ok(())
            })?;
            drop(listener);
            s.phase("calling exchange with 1 MiB against the test's server");
            let result = sockets::exchange(port, &data);
            // The server's view (no end-of-file, a closed connection) explains a failure best.
            server.join()?;
            let answer = s.ok("exchange", result)?;
            s.expect_bytes("the answer exchange returned (the data reversed)", &reversed(&data), &answer)
        });
    }

    /// A TCP socket bound to 127.0.0.1 at a port the kernel chose, not listening: the port stays
    /// ours, and every connection to it is refused.
    fn bound_not_listening() -> Result<(OwnedFd, u16), Failure> {
        let failed = |what: &str| Failure::crash(format!("the test could not {what}: {}", io::Error::last_os_error()));
        // SAFETY: socket takes no pointers; a valid descriptor is owned at once.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(failed("make a socket"));
        }
        // SAFETY: fd is a new descriptor that nothing else owns.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        // SAFETY: a zeroed sockaddr_in is valid; the fields are set below.
        let mut address: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        address.sin_family = libc::AF_INET as libc::sa_family_t;
        address.sin_addr.s_addr = u32::from(Ipv4Addr::LOCALHOST).to_be();
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: address is a valid sockaddr_in of length len.
        if unsafe { libc::bind(fd.as_raw_fd(), (&address as *const libc::sockaddr_in).cast(), len) } != 0 {
            return Err(failed("bind"));
        }
        // SAFETY: address and len are valid out-pointers for a sockaddr_in.
        if unsafe { libc::getsockname(fd.as_raw_fd(), (&mut address as *mut libc::sockaddr_in).cast(), &mut len) } != 0
        {
            return Err(failed("read its port"));
        }
        Ok((fd, u16::from_be(address.sin_port)))
    }

    #[test]
    fn a_port_nobody_listens_on_is_connection_refused_at_once() {
        grade!().run(|s| {
            let holder = bound_not_listening()?;
            let port = holder.1;
            s.phase(format!("calling exchange on port {port}, where nobody listens"));
            let result = sockets::exchange(port, b"anyone there?");
            s.expect_err("exchange with a port nobody listens on", result, ErrorKind::ConnectionRefused)?;
            drop(holder);
            Ok(())
        });
    }
}

// ---------------------------------------------------------------------------------------------

mod socketpair {
    use super::*;

    fn reverse(request: &[u8]) -> Vec<u8> {
        reversed(request)
    }

    fn ask(s: &Sandbox, requests: &[Vec<u8>]) -> Result<(), Failure> {
        s.phase(format!(
            "calling ask_child with {} requests ({} in all)",
            requests.len(),
            size(requests.iter().map(Vec::len).sum())
        ));
        let answers = s.ok("ask_child", sockets::ask_child(requests, reverse))?;
        s.expect_eq("the number of answers", &requests.len(), &answers.len())?;
        for (i, (request, answer)) in requests.iter().zip(&answers).enumerate() {
            s.expect_bytes(&format!("answer {i} (its request reversed)"), &reversed(request), answer)?;
        }
        Ok(())
    }

    #[test]
    fn every_answer_comes_back_in_order_for_any_list_of_requests() {
        grade!().property(12, proptest::collection::vec(data::payload(200_000), 0..12), |s, list| {
            ask(s, &list.iter().map(Payload::bytes).collect::<Vec<_>>())
        });
    }

    #[test]
    fn megabytes_each_way_do_not_deadlock() {
        grade!().run(|s| ask(s, &(0..6).map(|i| Payload::new(sockets::MAX_FRAME, i).bytes()).collect::<Vec<_>>()));
    }

    #[test]
    fn with_nothing_to_ask_the_child_still_sees_the_end_and_exits() {
        grade!().run(|s| {
            s.phase(
                "calling ask_child with no request: the child must see end-of-file once the parent closes its end \
                 (a child that kept the parent's end open never does, and the parent waits for it forever)",
            );
            let answers = s.ok("ask_child with no request", sockets::ask_child(&[], reverse))?;
            s.expect(answers.is_empty(), || format!("ask_child returned {} answers to no request", answers.len()))
        });
    }

    fn with_pid(request: &[u8]) -> Vec<u8> {
        let mut answer = std::process::id().to_le_bytes().to_vec();
        answer.extend_from_slice(request);
        answer
    }

    #[test]
    fn answer_runs_in_the_child() {
        grade!().run(|s| {
            s.phase("calling ask_child with 3 requests, answered with the answering process's pid");
            let requests = vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()];
            let answers = s.ok("ask_child", sockets::ask_child(&requests, with_pid))?;
            s.expect_eq("the number of answers", &3, &answers.len())?;
            let me = std::process::id();
            for (request, answer) in requests.iter().zip(&answers) {
                s.expect(answer.len() == request.len() + 4 && &answer[4..] == request.as_slice(), || {
                    format!("a wrong answer: {answer:?}")
                })?;
                let pid = u32::from_le_bytes([answer[0], answer[1], answer[2], answer[3]]);
                s.expect(pid != me, || {
                    "answer ran in the parent: the child must answer (fork, then call answer there)".to_string()
                })?;
            }
            Ok(())
        });
    }

    #[test]
    fn messages_sent_back_to_back_arrive_one_by_one_where_a_stream_merges_them() {
        grade!().run(|s| {
            let sizes = [1usize, 100, 5, sockets::MAX_MESSAGE, 3, 2000, 1, 4096, 65_000, 7];
            let messages: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &n)| Payload::new(n, 40 + i as u64).bytes()).collect();
            // What a stream socket does with the same writes: one read gets them merged.
            let (mut a, mut b) = UnixStream::pair().map_err(Failure::test_error("make a stream socketpair"))?;
            for m in &messages[..3] {
                b.write_all(m).map_err(Failure::test_error("write to a stream socket"))?;
            }
            let mut buf = vec![0u8; 1 << 16];
            let merged = a.read(&mut buf).map_err(Failure::test_error("read a stream socket"))?;
            if merged != 106 {
                return Err(Failure::crash(format!("the test's stream demonstration read {merged} bytes, not 106")));
            }
            drop((a, b));
            let (ours, theirs) = s.call("message_pair", sockets::message_pair)?;
            let kind = fd::socket_type(&ours);
            s.expect(kind == libc::SOCK_SEQPACKET, || {
                format!(
                    "message_pair made {} sockets, not SOCK_SEQPACKET: {}",
                    fd::socket_type_name(kind),
                    if kind == libc::SOCK_STREAM {
                        "a stream merges messages (1, 100 and 5 bytes written back to back came out as one read of 106 bytes)"
                    } else {
                        "a datagram socketpair keeps boundaries but never tells the reader that the other end closed"
                    }
                )
            })?;
            let our_fd = ours.as_fd().as_raw_fd();
            let sender = s.fork("the sending child", || {
                // SAFETY: the child's copy of the parent's end: with it closed, the child gets an
                // error instead of blocking forever if the parent stops receiving.
                unsafe { libc::close(our_fd) };
                for (i, m) in messages.iter().enumerate() {
                    theirs.send(m).map_err(|e| Failure::kata_error(&format!("send of message {i}"), e))?;
                }
                match theirs.recv() {
                    Ok(Some(reply)) if reply == b"thanks" => Ok(()),
                    other => Err(Failure::wrong(format!("the child expected the parent's reply \"thanks\", got {other:?}"))),
                }
            })?;
            drop(theirs);
            let mut result = Ok(());
            for (i, expected) in messages.iter().enumerate() {
                s.phase(format!("calling recv for message {i} of {} sent back to back by a child", messages.len()));
                let got = match ours.recv() {
                    Ok(got) => got,
                    Err(e) => {
                        result = Err(Failure::kata_error(&format!("recv of message {i}"), e));
                        break;
                    }
                };
                let check = match &got {
                    None => Err(Failure::wrong(format!("recv returned None (the end) at message {i} of {}", messages.len()))),
                    Some(got) => s.expect_bytes(&format!("message {i}"), expected, got),
                };
                if check.is_err() {
                    result = check;
                    break;
                }
            }
            if result.is_ok() {
                s.phase("replying to the child with the parent's end");
                result = ours.send(b"thanks").map_err(|e| Failure::kata_error("send of the parent's reply", e));
            }
            if result.is_ok() {
                s.phase("calling recv after the child closed its end");
                result = match ours.recv() {
                    Ok(None) => Ok(()),
                    Ok(Some(m)) => Err(Failure::wrong(format!("recv after the child closed its end returned a message of {}", size(m.len())))),
                    Err(e) => Err(Failure::kata_error("recv after the child closed its end (expected None)", e)),
                };
            }
            drop(ours);
            prefer_worker(result, sender.join())
        });
    }

    /// The state letter of process `pid` (`man 5 proc`, /proc/<pid>/stat); '?' when it is gone.
    fn state_of(pid: libc::pid_t) -> char {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()).unwrap_or('?')
    }

    #[test]
    fn recv_keeps_waiting_through_caught_signals_until_the_message_comes() {
        grade!().run(|s| {
            let (ours, theirs) = s.call("message_pair", sockets::message_pair)?;
            let their_fd = theirs.as_fd().as_raw_fd();
            let what = "the receiving child, waiting in recv while SIGALRM is caught every 10 ms";
            let receiver = s.fork(what, || {
                // SAFETY: the child's copy of the sending end, which it never uses.
                unsafe { libc::close(their_fd) };
                caught_alarms_every(Some(Duration::from_millis(10)));
                let got = ours.recv();
                caught_alarms_every(None);
                match got {
                    Ok(Some(m)) if m == b"after the signals" => Ok(()),
                    Ok(other) => Err(Failure::wrong(format!(
                        "recv under caught signals returned {other:?}, not the message \"after the signals\""
                    ))),
                    Err(e) => Err(Failure::kata_error(
                        "recv, interrupted by a caught signal (EINTR from recv means: call it again, not: give up)",
                        e,
                    )),
                }
            })?;
            drop(ours);
            // 60 ms asleep under a signal every 10 ms: recv was interrupted several times.
            s.phase("watching the receiving child: it should sleep in recv through the signals");
            let started = Instant::now();
            let mut asleep_since = None;
            while started.elapsed() < Duration::from_secs(3) {
                match state_of(receiver.pid()) {
                    'S' => {
                        let since = *asleep_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= Duration::from_millis(60) {
                            break;
                        }
                    }
                    'Z' | 'X' | '?' => break,
                    _ => asleep_since = None,
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            s.phase("sending the message the child waits for");
            let body = b"after the signals";
            // SAFETY: body is valid for its length; a failure is reported below.
            let n = unsafe { libc::send(their_fd, body.as_ptr().cast(), body.len(), libc::MSG_NOSIGNAL) };
            let sent = n == body.len() as isize;
            let error = io::Error::last_os_error();
            s.phase("waiting for the receiving child");
            receiver.join()?;
            s.expect(sent, || format!("the test's send failed: {error}"))
        });
    }

    #[test]
    fn a_message_longer_than_max_message_is_invalid_data_never_cut() {
        grade!().run(|s| {
            let (ours, theirs) = s.call("message_pair", sockets::message_pair)?;
            let send_raw = |bytes: &[u8]| {
                // SAFETY: bytes is valid for its length; a failure is reported below.
                let n = unsafe {
                    libc::send(theirs.as_fd().as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL)
                };
                if n == bytes.len() as isize {
                    Ok(())
                } else {
                    Err(Failure::crash(format!("the test's send failed: {}", io::Error::last_os_error())))
                }
            };
            send_raw(&vec![5u8; sockets::MAX_MESSAGE + 1000])?;
            let max = Payload::new(sockets::MAX_MESSAGE, 50).bytes();
            send_raw(&max)?;
            s.phase("calling recv on a message of MAX_MESSAGE + 1000 bytes");
            let result = ours.recv();
            s.expect_err("recv of a message longer than MAX_MESSAGE", result, ErrorKind::InvalidData)?;
            let got = s.call("recv on a message of MAX_MESSAGE bytes", || ours.recv())?;
            s.expect_bytes("the message of MAX_MESSAGE bytes", &max, got.as_deref().unwrap_or_default())
        });
    }

    #[test]
    fn an_empty_or_too_long_message_is_invalid_input_and_nothing_is_sent() {
        grade!().run(|s| {
            let (ours, theirs) = s.call("message_pair", sockets::message_pair)?;
            for (what, message) in
                [("an empty message", Vec::new()), ("MAX_MESSAGE + 1 bytes", vec![1u8; sockets::MAX_MESSAGE + 1])]
            {
                s.phase(format!("calling send with {what}"));
                s.expect_err(&format!("send with {what}"), ours.send(&message), ErrorKind::InvalidInput)?;
                let mut buf = vec![0u8; 1 << 17];
                // SAFETY: buf is valid for its length; MSG_DONTWAIT never blocks.
                let n = unsafe {
                    libc::recv(theirs.as_fd().as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT)
                };
                s.expect(n < 0, || {
                    format!("send refused {what}, but a message of {n} bytes arrived at the other end")
                })?;
            }
            Ok(())
        });
    }
}

// ---------------------------------------------------------------------------------------------

mod pass_fd {
    use super::*;

    /// The current offset of an open file.
    fn offset(fd: RawFd) -> i64 {
        // SAFETY: lseek on a valid descriptor only reads its offset.
        unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) }
    }

    #[test]
    fn a_receiver_program_reads_the_file_from_where_this_process_had_got_to() {
        grade!().run(|s| {
            let content = Payload::new(100_000, 60).bytes();
            let file_path = s.path("data");
            fs::write(&file_path, &content).map_err(Failure::test_error("write its file"))?;
            let mut file = fs::File::open(&file_path).map_err(Failure::test_error("open its file"))?;
            let mut first = vec![0u8; 1000];
            file.read_exact(&mut first).map_err(Failure::test_error("read the first 1000 bytes"))?;
            // Nobody else may open it by name: only the open file can reach the receiver.
            fs::remove_file(&file_path).map_err(Failure::test_error("unlink its file"))?;
            let socket = TestSocket::bind(s, "fd.sock")?;
            let out = s.path("out");
            let mut receiver = peer::start(s, Sockets::FdRecv { path: socket.path.clone(), out: out.clone() })?;
            s.phase("waiting for the receiver program to connect");
            let stream = socket.accept_from(&mut receiver)?;
            s.call("send_fd with a file read up to byte 1000", || sockets::send_fd(&stream, file.as_fd()))?;
            receiver.join()?;
            let got = fs::read(&out).map_err(Failure::test_error("load what the receiver read"))?;
            s.expect_bytes(
                "what the receiver program read from the descriptor (the file from byte 1000 on)",
                &content[1000..],
                &got,
            )?;
            let now = offset(file.as_raw_fd());
            s.expect(now == content.len() as i64, || {
                format!(
                    "this process's offset in the file is {now} after the receiver read it to the end: the receiver \
                     must get the same open file (SCM_RIGHTS), whose offset both processes share"
                )
            })
        });
    }

    #[test]
    fn recv_fd_gets_an_open_file_from_a_sender_program_at_its_offset_close_on_exec() {
        grade!().run(|s| {
            let content = Payload::new(50_000, 61).bytes();
            let file_path = s.path("data");
            fs::write(&file_path, &content).map_err(Failure::test_error("write its file"))?;
            let socket = TestSocket::bind(s, "fd.sock")?;
            let mut sender =
                peer::start(s, Sockets::FdSend { path: socket.path.clone(), file: file_path.clone(), skip: 777 })?;
            s.phase("waiting for the sender program to connect");
            let stream = socket.accept_from(&mut sender)?;
            let fd = s.call("recv_fd while the sender program sends a file it has read up to byte 777", || {
                sockets::recv_fd(&stream)
            })?;
            sender.join()?;
            // SAFETY: F_GETFD only reads the descriptor's flags.
            let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
            let mut got = Vec::new();
            fs::File::from(fd)
                .read_to_end(&mut got)
                .map_err(|e| Failure::wrong(format!("reading the received descriptor failed: {e}")))?;
            s.expect_bytes("what the received descriptor reads (the file from byte 777 on)", &content[777..], &got)?;
            s.expect(flags >= 0 && flags & libc::FD_CLOEXEC != 0, || {
                "the received descriptor is not close-on-exec: receive with MSG_CMSG_CLOEXEC, or every program this \
                 process runs inherits it"
                    .to_string()
            })
        });
    }

    #[test]
    fn data_without_a_descriptor_is_invalid_data_and_a_closed_peer_is_unexpected_eof() {
        grade!().run(|s| {
            let (ours, mut theirs) = UnixStream::pair().map_err(Failure::test_error("make a socketpair"))?;
            theirs.write_all(b"F").map_err(Failure::test_error("write one byte"))?;
            s.phase("calling recv_fd on a byte sent without a descriptor");
            s.expect_err("recv_fd on a byte without a descriptor", sockets::recv_fd(&ours), ErrorKind::InvalidData)?;
            theirs.shutdown(Shutdown::Both).map_err(Failure::test_error("close its end"))?;
            drop(theirs);
            s.phase("calling recv_fd after the peer closed without sending");
            s.expect_err("recv_fd after the peer closed", sockets::recv_fd(&ours), ErrorKind::UnexpectedEof).map(drop)
        });
    }

    #[test]
    fn three_descriptors_in_one_message_are_invalid_data_and_none_is_left_open() {
        grade!().run(|s| {
            use nix::sys::socket::{ControlMessage, MsgFlags, UnixAddr, sendmsg};
            let (ours, theirs) = UnixStream::pair().map_err(Failure::test_error("make a socketpair"))?;
            let (r, w) = fd::pipe()?;
            let extra = r.try_clone().map_err(Failure::test_error("dup"))?;
            let fds = [r.as_raw_fd(), w.as_raw_fd(), extra.as_raw_fd()];
            sendmsg::<UnixAddr>(
                theirs.as_raw_fd(),
                &[io::IoSlice::new(b"F")],
                &[ControlMessage::ScmRights(&fds)],
                MsgFlags::empty(),
                None,
            )
            .map_err(|e| Failure::crash(format!("the test's sendmsg failed: {e}")))?;
            drop((r, w, extra));
            s.phase("calling recv_fd on a message carrying three descriptors");
            // The leak audit after the test finds any of the three that recv_fd left open.
            s.expect_err("recv_fd on a message with three descriptors", sockets::recv_fd(&ours), ErrorKind::InvalidData)
                .map(drop)
        });
    }
}
