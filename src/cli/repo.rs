//! The learner's repository: the original version of a file, from git's committed history, never
//! from the learner's working copy.

use std::io;
use std::path::Path;
use std::process::Command;

use ipc_katas::catalogue::{self, Kata};

fn git(root: &Path, args: &[&str]) -> io::Result<String> {
    let out = Command::new("git").current_dir(root).args(args).output().map_err(|e| {
        io::Error::new(e.kind(), format!("could not run git ({e}): the original stubs come from git's history"))
    })?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The newest committed version of the kata's file that is still a stub (has a `todo!(`).
pub fn original_stub(root: &Path, kata: &Kata) -> io::Result<String> {
    stub_of(root, &kata.file())
}

fn stub_of(root: &Path, file: &str) -> io::Result<String> {
    for commit in git(root, &["log", "--format=%H", "--", file])?.lines() {
        let text = git(root, &["show", &format!("{commit}:{file}")])?;
        if text.contains("todo!(") {
            return Ok(text);
        }
    }
    Err(io::Error::new(io::ErrorKind::NotFound, format!("git history holds no stub of {file}")))
}

/// The original of any file of the attempt: a kata's stub (see [`original_stub`]); for an
/// answer in `solutions/`, or a module file, the committed version.
pub fn original(root: &Path, file: &str) -> io::Result<String> {
    if catalogue::katas().any(|k| k.file() == file) {
        return stub_of(root, file);
    }
    git(root, &["show", &format!("HEAD:{file}")])
}

/// Whether the kata's file differs from its original stub (false when git cannot tell).
pub fn has_an_attempt(root: &Path, kata: &Kata) -> bool {
    match (original_stub(root, kata), std::fs::read_to_string(root.join(kata.file()))) {
        (Ok(stub), Ok(now)) => stub != now,
        _ => false,
    }
}
