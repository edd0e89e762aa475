//! The learner's progress file, `.ipc-katas-state` at the top of the repository (git ignores
//! it). One line per fact, so that a person can read it and delete a line to undo it:
//!
//! ```text
//! hint pipes::child_to_parent 2
//! mock fifos::send_receive 3 1795960800 45 1234
//! ```
//!
//! `hint KATA LEVEL`: how many of the kata's hints were shown. `mock KATA QUESTION STARTED
//! MINUTES SEED`: the mock interview under way (started in seconds since the Unix epoch).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A mock interview under way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MockRound {
    pub kata: String,
    pub question: u8,
    /// Seconds since the Unix epoch.
    pub started: u64,
    pub minutes: u64,
    pub seed: u64,
}

pub struct StateFile {
    path: PathBuf,
    hints: BTreeMap<String, usize>,
    pub mock: Option<MockRound>,
}

impl StateFile {
    /// The state of the repository at `root`; a missing or unreadable file is a fresh start,
    /// and a line this version does not understand is skipped.
    pub fn load(root: &Path) -> StateFile {
        let path = root.join(".ipc-katas-state");
        let text = fs::read_to_string(&path).unwrap_or_default();
        let mut state = StateFile { path, hints: BTreeMap::new(), mock: None };
        for line in text.lines() {
            match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["hint", kata, level] => {
                    if let Ok(level) = level.parse() {
                        state.hints.insert(kata.to_string(), level);
                    }
                }
                ["mock", kata, question, started, minutes, seed] => {
                    let parsed = (|| {
                        Some(MockRound {
                            kata: kata.to_string(),
                            question: question.parse().ok()?,
                            started: started.parse().ok()?,
                            minutes: minutes.parse().ok()?,
                            seed: seed.parse().ok()?,
                        })
                    })();
                    state.mock = parsed.or(state.mock);
                }
                _ => {}
            }
        }
        state
    }

    /// How many hints of `kata` were shown so far.
    pub fn hints_shown(&self, kata: &str) -> usize {
        self.hints.get(kata).copied().unwrap_or(0)
    }

    pub fn set_hints_shown(&mut self, kata: &str, level: usize) -> io::Result<()> {
        self.hints.insert(kata.to_string(), level);
        self.save()
    }

    pub fn set_mock(&mut self, mock: Option<MockRound>) -> io::Result<()> {
        self.mock = mock;
        self.save()
    }

    fn save(&self) -> io::Result<()> {
        let mut text: String = self.hints.iter().map(|(k, l)| format!("hint {k} {l}\n")).collect();
        if let Some(m) = &self.mock {
            text.push_str(&format!("mock {} {} {} {} {}\n", m.kata, m.question, m.started, m.minutes, m.seed));
        }
        fs::write(&self.path, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_levels_and_the_mock_round_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = StateFile::load(dir.path());
        assert_eq!(state.hints_shown("pipes::child_to_parent"), 0);
        assert_eq!(state.mock, None);
        state.set_hints_shown("pipes::child_to_parent", 2).unwrap();
        let round = MockRound { kata: "fifos::send_receive".into(), question: 3, started: 17, minutes: 45, seed: 9 };
        state.set_mock(Some(round.clone())).unwrap();
        let again = StateFile::load(dir.path());
        assert_eq!(again.hints_shown("pipes::child_to_parent"), 2);
        assert_eq!(again.mock, Some(round));
    }

    #[test]
    fn a_damaged_line_is_skipped_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".ipc-katas-state"), "hint a::b x\nmock a::b 3\ngarbage\nhint c::d 1\n").unwrap();
        let state = StateFile::load(dir.path());
        assert_eq!(state.hints_shown("a::b"), 0);
        assert_eq!(state.hints_shown("c::d"), 1);
        assert_eq!(state.mock, None);
    }
}
