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

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Pass => "OK",
            Outcome::WrongAnswer(_) => "WRONG ANSWER",
            Outcome::Crash(_) => "CRASH",
            Outcome::Hang(_) => "HANG",
            Outcome::Leak(_) => "LEAK",
            Outcome::NotImplemented(_) => "NOT YET IMPLEMENTED",
        }
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

    pub(crate) fn code(&self) -> u8 {
        match self {
            Outcome::Pass => b'P',
            Outcome::WrongAnswer(_) => b'W',
            Outcome::Crash(_) => b'C',
            Outcome::Hang(_) => b'H',
            Outcome::Leak(_) => b'L',
            Outcome::NotImplemented(_) => b'N',
        }
    }

    pub(crate) fn from_code(code: u8, text: String) -> Outcome {
        match code {
            b'P' => Outcome::Pass,
            b'W' => Outcome::WrongAnswer(text),
            b'H' => Outcome::Hang(text),
            b'L' => Outcome::Leak(text),
            b'N' => Outcome::NotImplemented(text),
            _ => Outcome::Crash(text),
        }
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
