//! Terminal output: colour on a terminal (unless NO_COLOR is set), plain text when piped.

use std::io::IsTerminal;

use ipc_katas::grader::Kind;

use super::grading::{State, TestResult};

pub struct Ui {
    terminal: bool,
    colour: bool,
}

impl Ui {
    pub fn new() -> Ui {
        let terminal = std::io::stdout().is_terminal();
        Ui { terminal, colour: terminal && std::env::var_os("NO_COLOR").is_none() }
    }

    /// Whether stdout is a terminal: progress that rewrites its line is shown only there.
    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    pub fn state(&self, state: State) -> String {
        match state {
            State::Solved => self.paint("32", "solved          "),
            State::Failing => self.paint("31", "failing         "),
            State::NotStarted => self.paint("2", "not started     "),
            State::DoesNotCompile => self.paint("33;1", "does not compile"),
        }
    }

    /// A test's outcome label, padded so that the test names after it line up.
    pub fn label(&self, test: &TestResult) -> String {
        let padded = format!("{:<19}", test.label());
        match (test.passed, test.kind) {
            (true, _) => padded,
            (false, Some(Kind::NotImplemented)) => self.paint("2", &padded),
            (false, _) => self.paint("31;1", &padded),
        }
    }

    /// `[#######-----------] 7/20`
    pub fn progress(&self, done: usize, total: usize) -> String {
        const WIDTH: usize = 30;
        let filled = (done * WIDTH).checked_div(total).unwrap_or(0);
        let bar = format!("{}{}", "#".repeat(filled), "-".repeat(WIDTH - filled));
        format!("[{}] {done}/{total} katas solved", self.paint("32", &bar))
    }
}
