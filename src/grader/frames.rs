//! The report channel from a sandbox back to the test process.
//!
//! Every process of a sandbox (the body, children it forks, the supervisor) reports through one
//! pipe. A frame is `[tag: u8][pid: u32 LE][len: u16 LE][text]` and is written with a single
//! `write(2)` of at most `PIPE_BUF` bytes, so frames from different processes never interleave
//! (`man 7 pipe`, "PIPE_BUF"). Longer texts are split into several frames with the same tag and
//! pid, which the reader joins again.

use std::collections::BTreeMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

/// Largest frame written in one `write`: `PIPE_BUF` on Linux.
const FRAME_MAX: usize = 4096;
const HEADER: usize = 1 + 4 + 2;

/// What a frame says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Tag {
    /// The phase the sandbox is in; the last one names where a hang happened.
    Phase = b'P' as isize,
    /// Part of the body's verdict: the joined bytes are a `Verdict::encode`.
    Verdict = b'V' as isize,
    /// A process other than the body returned out of the test body (a forked child that
    /// returned instead of exiting).
    Stray = b'S' as isize,
    /// How the supervisor saw the body end: one [`Ended::encode`].
    Ended = b'E' as isize,
    /// An IPC object the test may create, one per frame, for the audit and the clean-up.
    Track = b'T' as isize,
    /// What the test saw the graded code doing while it waited (the system call it sleeps in,
    /// its signal mask): a hang report says it in place of the usual causes. One frame, the
    /// last one counts; an empty one takes it back.
    Evidence = b'D' as isize,
    /// What the kernel showed of the sandbox's processes at the deadline (see `forensics`), or a
    /// process's role in words ("role the notifier"), sent by a forked worker.
    Forensics = b'K' as isize,
}

impl Tag {
    fn from_byte(b: u8) -> Option<Tag> {
        [Tag::Phase, Tag::Verdict, Tag::Stray, Tag::Ended, Tag::Track, Tag::Evidence, Tag::Forensics]
            .into_iter()
            .find(|t| *t as u8 == b)
    }
}

/// How the supervisor saw the body end, as it tells the test process in its `Ended` frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The body exited with this status (it writes its verdict first, then exits with 0).
    Exited(i32),
    /// The body died of this signal.
    Signalled(i32),
    /// The deadline passed after this many milliseconds; the supervisor killed the sandbox.
    TimedOut { after_ms: u64 },
    /// The supervisor was told to stop by this signal and killed the sandbox.
    Interrupted(i32),
    /// The supervisor could not fork the body: this errno.
    ForkFailed(i32),
}

/// Bytes of an encoded [`Ended`]: `[how u8][value i64 LE][body pid u32 LE]`.
pub(crate) const ENDED_LEN: usize = 1 + 8 + 4;

impl Ended {
    /// On the stack, without allocating: the supervisor sends it.
    pub(crate) fn encode(self, body_pid: u32) -> [u8; ENDED_LEN] {
        let (how, value) = match self {
            Ended::Exited(status) => (b'x', status as i64),
            Ended::Signalled(signal) => (b's', signal as i64),
            Ended::TimedOut { after_ms } => (b't', after_ms as i64),
            Ended::Interrupted(signal) => (b'i', signal as i64),
            Ended::ForkFailed(errno) => (b'f', errno as i64),
        };
        let mut out = [0u8; ENDED_LEN];
        out[0] = how;
        out[1..9].copy_from_slice(&value.to_le_bytes());
        out[9..].copy_from_slice(&body_pid.to_le_bytes());
        out
    }

    /// What [`Ended::encode`] made, and the body's pid; `None` for anything else.
    pub(crate) fn decode(bytes: &[u8]) -> Option<(Ended, u32)> {
        let bytes: &[u8; ENDED_LEN] = bytes.try_into().ok()?;
        let value = i64::from_le_bytes(bytes[1..9].try_into().ok()?);
        let pid = u32::from_le_bytes(bytes[9..].try_into().ok()?);
        let ended = match bytes[0] {
            b'x' => Ended::Exited(value as i32),
            b's' => Ended::Signalled(value as i32),
            b't' => Ended::TimedOut { after_ms: value as u64 },
            b'i' => Ended::Interrupted(value as i32),
            b'f' => Ended::ForkFailed(value as i32),
            _ => return None,
        };
        Some((ended, pid))
    }
}

/// The write end of the report pipe in this process, or -1 outside a sandbox.
static REPORT_FD: AtomicI32 = AtomicI32::new(-1);

pub(crate) fn set_report_fd(fd: RawFd) {
    REPORT_FD.store(fd, Ordering::SeqCst);
}

/// Whether this process runs inside a sandbox (the body or one of its descendants).
pub(crate) fn in_sandbox() -> bool {
    REPORT_FD.load(Ordering::SeqCst) >= 0
}

/// Sends `text` under `tag`. Uses only `write(2)` on a stack buffer, so it is safe to call in a
/// freshly forked child of a multi-threaded process. Does nothing outside a sandbox.
pub(crate) fn send(tag: Tag, text: &[u8]) {
    send_to(REPORT_FD.load(Ordering::SeqCst), tag, text);
}

pub(crate) fn send_to(fd: RawFd, tag: Tag, text: &[u8]) {
    if fd < 0 {
        return;
    }
    // SAFETY: getpid has no preconditions and cannot fail.
    let pid = unsafe { libc::getpid() } as u32;
    let mut buf = [0u8; FRAME_MAX];
    if tag == Tag::Phase || tag == Tag::Evidence {
        // A phase is one frame: a hang names the last one whole, never half of it.
        let len = text.len().min(FRAME_MAX - HEADER);
        write_frame(fd, &mut buf, tag, pid, &text[..len]);
        return;
    }
    for chunk in text.chunks(FRAME_MAX - HEADER) {
        write_frame(fd, &mut buf, tag, pid, chunk);
    }
}

fn write_frame(fd: RawFd, buf: &mut [u8; FRAME_MAX], tag: Tag, pid: u32, chunk: &[u8]) {
    buf[0] = tag as u8;
    buf[1..5].copy_from_slice(&pid.to_le_bytes());
    buf[5..7].copy_from_slice(&(chunk.len() as u16).to_le_bytes());
    buf[HEADER..HEADER + chunk.len()].copy_from_slice(chunk);
    let len = HEADER + chunk.len();
    loop {
        // SAFETY: buf is valid for len bytes; a bad fd only makes write fail with EBADF.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), len) };
        if n >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

/// Everything the test process heard from one sandbox.
#[derive(Debug, Default)]
pub(crate) struct Heard {
    buffer: Vec<u8>,
    /// Frames joined per (tag, pid), in arrival order of their first frame.
    texts: BTreeMap<(Tag, u32), Vec<u8>>,
    last_phase: Option<(u32, Vec<u8>)>,
    evidence: Vec<u8>,
    tracked: Vec<String>,
}

impl Heard {
    /// Adds bytes read from the pipe and parses every complete frame.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
        let mut at = 0;
        while self.buffer.len() - at >= HEADER {
            let head = &self.buffer[at..at + HEADER];
            let len = u16::from_le_bytes([head[5], head[6]]) as usize;
            if self.buffer.len() - at < HEADER + len {
                break;
            }
            let pid = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
            let text = self.buffer[at + HEADER..at + HEADER + len].to_vec();
            match Tag::from_byte(head[0]) {
                Some(Tag::Phase) => self.last_phase = Some((pid, text)),
                Some(Tag::Evidence) => self.evidence = text,
                Some(Tag::Track) => self.tracked.push(String::from_utf8_lossy(&text).into_owned()),
                Some(tag) => self.texts.entry((tag, pid)).or_default().extend_from_slice(&text),
                None => {}
            }
            at += HEADER + len;
        }
        self.buffer.drain(..at);
    }

    pub(crate) fn phase(&self) -> Option<String> {
        self.last_phase.as_ref().map(|(_, t)| String::from_utf8_lossy(t).into_owned())
    }

    /// The last evidence a test sent about a wait, if any.
    pub(crate) fn evidence(&self) -> Option<String> {
        (!self.evidence.is_empty()).then(|| String::from_utf8_lossy(&self.evidence).into_owned())
    }

    /// The joined bytes of `tag` from `pid`.
    pub(crate) fn bytes(&self, tag: Tag, pid: u32) -> Option<&[u8]> {
        self.texts.get(&(tag, pid)).map(Vec::as_slice)
    }

    /// How the supervisor saw the body end, and the body's pid: its `Ended` frame.
    pub(crate) fn ended(&self) -> Option<(Ended, u32)> {
        self.texts.iter().filter(|((tag, _), _)| *tag == Tag::Ended).find_map(|(_, bytes)| Ended::decode(bytes))
    }

    /// Every `Track` frame, in order.
    pub(crate) fn tracked(&self) -> &[String] {
        &self.tracked
    }

    /// Every (pid, text) sent under `tag`.
    pub(crate) fn all(&self, tag: Tag) -> Vec<(u32, String)> {
        self.texts
            .iter()
            .filter(|((t, _), _)| *t == tag)
            .map(|((_, pid), text)| (*pid, String::from_utf8_lossy(text).into_owned()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_and_join_again() {
        let (r, w) = nix::unistd::pipe().unwrap();
        use std::os::fd::AsRawFd;
        let long = vec![b'x'; 10_000];
        send_to(w.as_raw_fd(), Tag::Verdict, &long);
        send_to(w.as_raw_fd(), Tag::Phase, b"reading");
        drop(w);
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(r), &mut all).unwrap();
        let mut heard = Heard::default();
        // Feed in awkward pieces to prove partial frames are kept for later.
        for piece in all.chunks(333) {
            heard.feed(piece);
        }
        let pid = std::process::id();
        assert_eq!(heard.bytes(Tag::Verdict, pid).unwrap().len(), 10_000);
        assert_eq!(heard.phase().as_deref(), Some("reading"));
    }

    #[test]
    fn an_ended_frame_says_how_the_body_ended_and_its_pid() {
        let all = [
            Ended::Exited(0),
            Ended::Exited(3),
            Ended::Signalled(libc::SIGPIPE),
            Ended::TimedOut { after_ms: 5_012 },
            Ended::Interrupted(libc::SIGTERM),
            Ended::ForkFailed(libc::EAGAIN),
        ];
        for ended in all {
            assert_eq!(Ended::decode(&ended.encode(4_000_001)), Some((ended, 4_000_001)));
        }
        assert_eq!(Ended::decode(b"signal 6 12345"), None, "text is no Ended frame");
        assert_eq!(Ended::decode(&[b'?'; ENDED_LEN]), None, "no such way to end");
        let (r, w) = nix::unistd::pipe().unwrap();
        use std::os::fd::AsRawFd;
        send_to(w.as_raw_fd(), Tag::Ended, &Ended::Signalled(libc::SIGABRT).encode(77));
        drop(w);
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(r), &mut all).unwrap();
        let mut heard = Heard::default();
        heard.feed(&all);
        assert_eq!(heard.ended(), Some((Ended::Signalled(libc::SIGABRT), 77)));
    }
}
