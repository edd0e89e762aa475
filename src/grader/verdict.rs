//! The six outcomes of a graded test, and the words a learner reads for each.

use std::fmt;
use std::time::Duration;

/// What happened to one graded test: exactly one of the outcomes of docs/grading.md.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// The code returned, but not what the kata asks for.
    WrongAnswer(String),
    /// A process died of a signal, or the code panicked.
    Crash(String),
    /// The deadline passed. The text names the phase.
    Hang(String),
    /// The answer was right, but something was not released.
    Leak(String),
    /// A `todo!()` was reached: the kata is not attempted yet.
    NotImplemented(String),
}

/// Which of the six outcomes, without its words: what a verdict frame and the CLI's results
/// file carry, and the one place the labels are spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Pass,
    WrongAnswer,
    Crash,
    Hang,
    Leak,
    NotImplemented,
}

impl Kind {
    pub const ALL: [Kind; 6] =
        [Kind::Pass, Kind::WrongAnswer, Kind::Crash, Kind::Hang, Kind::Leak, Kind::NotImplemented];

    /// The word a report shows: `WRONG ANSWER`, `HANG`, … (`OK` for a pass).
    pub fn label(self) -> &'static str {
        match self {
            Kind::Pass => "OK",
            Kind::WrongAnswer => "WRONG ANSWER",
            Kind::Crash => "CRASH",
            Kind::Hang => "HANG",
            Kind::Leak => "LEAK",
            Kind::NotImplemented => "NOT YET IMPLEMENTED",
        }
    }

    /// The kind whose [`Kind::label`] is `label`.
    pub fn from_label(label: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.label() == label)
    }

    fn byte(self) -> u8 {
        self as u8
    }

    fn from_byte(byte: u8) -> Option<Kind> {
        Kind::ALL.get(byte as usize).copied()
    }
}

impl Outcome {
    pub fn kind(&self) -> Kind {
        match self {
            Outcome::Pass => Kind::Pass,
            Outcome::WrongAnswer(_) => Kind::WrongAnswer,
            Outcome::Crash(_) => Kind::Crash,
            Outcome::Hang(_) => Kind::Hang,
            Outcome::Leak(_) => Kind::Leak,
            Outcome::NotImplemented(_) => Kind::NotImplemented,
        }
    }

    /// The outcome of `kind` with `text` (a pass has none).
    pub fn of(kind: Kind, text: String) -> Outcome {
        match kind {
            Kind::Pass => Outcome::Pass,
            Kind::WrongAnswer => Outcome::WrongAnswer(text),
            Kind::Crash => Outcome::Crash(text),
            Kind::Hang => Outcome::Hang(text),
            Kind::Leak => Outcome::Leak(text),
            Kind::NotImplemented => Outcome::NotImplemented(text),
        }
    }

    pub fn label(&self) -> &'static str {
        self.kind().label()
    }

    pub fn text(&self) -> &str {
        match self {
            Outcome::Pass => "",
            Outcome::WrongAnswer(t)
            | Outcome::Crash(t)
            | Outcome::Hang(t)
            | Outcome::Leak(t)
            | Outcome::NotImplemented(t) => t,
        }
    }
}

/// An [`Outcome`] with the facts it was put into words from, kept as facts: the signal a
/// process of the test died of, and the phase the test was in when it ended. A test asks
/// `verdict.signal() == Some(libc::SIGPIPE)`, never the text. (The outcome's variants hold
/// their text alone, as the graded tests match them, so the facts live beside it.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    outcome: Outcome,
    signal: Option<i32>,
    phase: Option<String>,
    /// A hang that nothing the test saw explained: its report lists only the usual causes.
    /// Known where the deadline passed, in the test's own process, so never encoded.
    unexplained: bool,
}

/// Longest phase a verdict carries across a process boundary: a phase is a line.
const PHASE_MAX: usize = 1024;
/// `phase_len` of a verdict without a phase.
const NO_PHASE: u16 = u16::MAX;

impl Verdict {
    pub fn new(outcome: Outcome) -> Verdict {
        Verdict { outcome, signal: None, phase: None, unexplained: false }
    }

    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    pub fn into_outcome(self) -> Outcome {
        self.outcome
    }

    /// The signal a process of the test died of, when that is what ended it.
    pub fn signal(&self) -> Option<i32> {
        self.signal
    }

    /// The phase the test was in when it ended (see [`Sandbox::phase`](super::Sandbox::phase)).
    pub fn phase(&self) -> Option<&str> {
        self.phase.as_deref()
    }

    /// Whether this is a hang that nothing the test saw explained (no diagnosis, no evidence
    /// from the kata's tests): its report can only list what usually causes such a hang.
    pub fn unexplained(&self) -> bool {
        self.unexplained
    }

    pub(crate) fn with_unexplained(mut self) -> Verdict {
        self.unexplained = true;
        self
    }

    pub(crate) fn with_signal(mut self, signal: i32) -> Verdict {
        self.signal = Some(signal);
        self
    }

    pub(crate) fn with_phase(mut self, phase: impl Into<String>) -> Verdict {
        self.phase = Some(phase.into());
        self
    }

    /// The same verdict and text as an outcome of `kind`.
    pub(crate) fn with_kind(self, kind: Kind) -> Verdict {
        let text = self.outcome.text().to_string();
        Verdict { outcome: Outcome::of(kind, text), ..self }
    }

    /// The same verdict, its text changed by `f` (a pass stays a pass).
    pub(crate) fn map_text(self, f: impl FnOnce(&str) -> String) -> Verdict {
        let kind = self.outcome.kind();
        let text = f(self.outcome.text());
        Verdict { outcome: Outcome::of(kind, text), ..self }
    }

    /// `[kind u8][has signal u8][signal i32 LE][phase len u16 LE, or 0xffff for none][phase][text]`:
    /// the text comes last and runs to the end, so cutting the message short cuts only its text.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let text = self.outcome.text().as_bytes();
        let phase = self.phase.as_deref().map(|p| &p.as_bytes()[..p.len().min(PHASE_MAX)]);
        let mut out = Vec::with_capacity(8 + phase.map_or(0, <[u8]>::len) + text.len());
        out.push(self.outcome.kind().byte());
        out.push(self.signal.is_some() as u8);
        out.extend_from_slice(&self.signal.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&phase.map_or(NO_PHASE, |p| p.len() as u16).to_le_bytes());
        out.extend_from_slice(phase.unwrap_or(&[]));
        out.extend_from_slice(text);
        out
    }

    /// What [`Verdict::encode`] made; `None` for anything else.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Verdict> {
        let (&kind, rest) = bytes.split_first()?;
        let kind = Kind::from_byte(kind)?;
        let (&has_signal, rest) = rest.split_first()?;
        let (signal, rest) = rest.split_first_chunk::<4>()?;
        let (phase_len, rest) = rest.split_first_chunk::<2>()?;
        let (phase, text) = match u16::from_le_bytes(*phase_len) {
            NO_PHASE => (None, rest),
            len => {
                let (phase, text) = rest.split_at_checked(len as usize)?;
                (Some(String::from_utf8_lossy(phase).into_owned()), text)
            }
        };
        Some(Verdict {
            outcome: Outcome::of(kind, String::from_utf8_lossy(text).into_owned()),
            signal: (has_signal != 0).then(|| i32::from_le_bytes(*signal)),
            phase,
            unexplained: false,
        })
    }
}

/// What a graded test's report says about the test besides its outcome, as plain data: the
/// grader knows no kata and no topic. `grade!()` fills it in from the catalogue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    /// The lines under the outcome's text (which kata, the file to edit, the command that grades
    /// it, where its hint is), each shown indented after a blank line. None: no footer.
    pub footer: Vec<String>,
    /// What usually makes this test hang: a hang report lists them when it knows no better.
    pub hang_causes: Vec<String>,
}

/// The report a learner reads when a graded test fails.
pub struct Report<'a> {
    pub test: &'a str,
    pub subject: &'a Subject,
    pub outcome: &'a Outcome,
    pub elapsed: Duration,
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        if let Outcome::Pass = self.outcome {
            return write!(f, "{}: OK ({secs:.1}s)", self.test);
        }
        write!(f, "{}: {} ({secs:.1}s)", self.test, self.outcome.label())?;
        for line in self.outcome.text().lines() {
            write!(f, "\n    {line}")?;
        }
        if !self.subject.footer.is_empty() {
            writeln!(f)?;
        }
        for line in &self.subject.footer {
            write!(f, "\n    {line}")?;
        }
        Ok(())
    }
}

/// The signal's name and what usually sends it in IPC code.
pub fn signal_story(sig: i32) -> String {
    let (name, why) = match sig {
        libc::SIGSEGV => (
            "SIGSEGV",
            "an invalid memory access: a pointer into memory that was unmapped or detached (shmdt, munmap) or never mapped, or an index past the end of a mapping",
        ),
        libc::SIGBUS => (
            "SIGBUS",
            "touching a page of a mapping that the object behind it does not cover: mmap of a shared memory object without ftruncate to its size first, or beyond its end",
        ),
        libc::SIGPIPE => (
            "SIGPIPE",
            "a write to a pipe, FIFO or socket whose reading end is closed everywhere: close the ends you do not use, check that the reader is alive, or ignore SIGPIPE and handle EPIPE (io::ErrorKind::BrokenPipe)",
        ),
        libc::SIGABRT => (
            "SIGABRT",
            "abort(): std::process::abort, a panic while panicking or in a forked child that aborts, or a C library assertion (a double free, a corrupted heap)",
        ),
        libc::SIGKILL => (
            "SIGKILL",
            "killed outright: by the grader's deadline, by another process, or by the kernel when memory ran out",
        ),
        libc::SIGTERM => ("SIGTERM", "asked to terminate, with no handler installed to do it gracefully"),
        libc::SIGINT => ("SIGINT", "interrupted (Ctrl-C), with no handler installed"),
        libc::SIGUSR1 => (
            "SIGUSR1",
            "SIGUSR1 arrived before a handler was installed or while none was: its default action terminates the process (install the handler, or block the signal, before the process that sends it can run)",
        ),
        libc::SIGUSR2 => (
            "SIGUSR2",
            "SIGUSR2 arrived before a handler was installed or while none was: its default action terminates the process",
        ),
        libc::SIGALRM => ("SIGALRM", "an alarm() or timer fired with no handler installed"),
        libc::SIGFPE => ("SIGFPE", "an arithmetic fault, such as an integer division by zero in C code"),
        libc::SIGILL => (
            "SIGILL",
            "an illegal instruction: often a Rust panic that could not unwind across an `extern \"C\"` boundary",
        ),
        libc::SIGSYS => ("SIGSYS", "a bad system call (a seccomp filter refused it)"),
        libc::SIGXFSZ => ("SIGXFSZ", "a file grew past the file-size limit"),
        libc::SIGHUP => ("SIGHUP", "the controlling terminal or session leader went away, with no handler installed"),
        s if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&s) => {
            return format!(
                "real-time signal SIGRTMIN+{} (signal {s}): its default action terminates the process; install the handler or block the signal before anyone sends it",
                s - libc::SIGRTMIN()
            );
        }
        s => return format!("signal {s}"),
    };
    format!("{name} (signal {sig}): usually {why}")
}

/// The signal's name alone: `SIGINT`, or `signal 40`.
pub fn signal_name(sig: i32) -> String {
    let story = signal_story(sig);
    match story.split_once(" (signal ") {
        Some((name, _)) => name.to_string(),
        None => story.split_once(':').map_or(story.clone(), |(name, _)| name.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_crosses_a_process_boundary_whole() {
        let verdicts = [
            Verdict::new(Outcome::Pass),
            Verdict::new(Outcome::WrongAnswer("expected 1\ngot 2 é".into())).with_phase("reading"),
            Verdict::new(Outcome::Crash("died".into())).with_signal(libc::SIGPIPE).with_phase(""),
            Verdict::new(Outcome::Hang(String::new())).with_phase("waiting for the writer"),
            Verdict::new(Outcome::Leak("fd 3".into())).with_signal(-1),
            Verdict::new(Outcome::NotImplemented("todo".into())),
        ];
        for verdict in verdicts {
            assert_eq!(Verdict::decode(&verdict.encode()).as_ref(), Some(&verdict));
        }
    }

    #[test]
    fn a_verdict_cut_short_loses_only_the_end_of_its_text() {
        let verdict = Verdict::new(Outcome::Crash("abcdef".into())).with_signal(libc::SIGSEGV).with_phase("p");
        let bytes = verdict.encode();
        let cut = Verdict::decode(&bytes[..bytes.len() - 2]).unwrap();
        assert_eq!((cut.outcome(), cut.signal(), cut.phase()), (&Outcome::Crash("abcd".into()), Some(11), Some("p")));
        assert_eq!(Verdict::decode(&bytes[..7]), None, "a header cut short is no verdict");
        assert_eq!(Verdict::decode(&[9, 0, 0, 0, 0, 0, 0xff, 0xff]), None, "no such kind");
    }

    #[test]
    fn every_kind_has_one_label() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_label(kind.label()), Some(kind));
            assert_eq!(Kind::from_byte(kind.byte()), Some(kind));
            assert_eq!(Outcome::of(kind, "x".into()).kind(), kind);
        }
        assert_eq!(Kind::from_label("FAILED"), None);
    }
}
