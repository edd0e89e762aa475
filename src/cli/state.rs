//! The learner's progress file, `.ipc-katas-state` at the top of the repository (git ignores
//! it): one `hint KATA LEVEL` line per kata whose hints were read.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub struct HintLevels {
    path: PathBuf,
    levels: BTreeMap<String, usize>,
}

impl HintLevels {
    pub fn load(root: &Path) -> HintLevels {
        let path = root.join(".ipc-katas-state");
        let text = fs::read_to_string(&path).unwrap_or_default();
        let levels = text
            .lines()
            .filter_map(|line| match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["hint", kata, level] => Some((kata.to_string(), level.parse().ok()?)),
                _ => None,
            })
            .collect();
        HintLevels { path, levels }
    }

    /// How many hints of `kata` were shown so far.
    pub fn shown(&self, kata: &str) -> usize {
        self.levels.get(kata).copied().unwrap_or(0)
    }

    pub fn set(&mut self, kata: &str, level: usize) -> io::Result<()> {
        self.levels.insert(kata.to_string(), level);
        let text: String = self.levels.iter().map(|(k, l)| format!("hint {k} {l}\n")).collect();
        fs::write(&self.path, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_levels_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut levels = HintLevels::load(dir.path());
        assert_eq!(levels.shown("pipes::child_to_parent"), 0);
        levels.set("pipes::child_to_parent", 2).unwrap();
        assert_eq!(HintLevels::load(dir.path()).shown("pipes::child_to_parent"), 2);
    }
}
