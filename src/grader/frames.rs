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
    /// Part of the body's verdict: the first byte of the joined text is the outcome code.
    Verdict = b'V' as isize,
    /// A process other than the body returned out of the test body (a forked child that
    /// returned instead of exiting).
    Stray = b'S' as isize,
    /// How the supervisor saw the body end: `exit N PID`, `signal N PID` or `timeout MS PID`.
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

    /// The joined text of `tag` from `pid`.
    pub(crate) fn text(&self, tag: Tag, pid: u32) -> Option<String> {
        self.texts.get(&(tag, pid)).map(|t| String::from_utf8_lossy(t).into_owned())
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
        assert_eq!(heard.text(Tag::Verdict, pid).unwrap().len(), 10_000);
        assert_eq!(heard.phase().as_deref(), Some("reading"));
    }
}
