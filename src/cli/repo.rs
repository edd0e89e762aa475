//! The learner's repository: the original stub of a kata, from git history.

use std::io;
use std::path::Path;
use std::process::Command;

use ipc_katas::catalogue::Kata;

/// The newest version of the kata's file in git that is still a stub (has a `todo!(`).
pub fn original_stub(root: &Path, kata: &Kata) -> io::Result<String> {
    let git = |args: &[&str]| -> io::Result<String> {
        let out = Command::new("git").current_dir(root).args(args).output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    for commit in git(&["log", "--format=%H", "--", kata.file])?.lines() {
        let text = git(&["show", &format!("{commit}:{}", kata.file)])?;
        if text.contains("todo!(") {
            return Ok(text);
        }
    }
    Err(io::Error::new(io::ErrorKind::NotFound, format!("git history holds no stub of {}", kata.file)))
}

/// Whether the kata's file differs from its original stub (false when git cannot tell).
pub fn has_an_attempt(root: &Path, kata: &Kata) -> bool {
    match (original_stub(root, kata), std::fs::read_to_string(root.join(kata.file))) {
        (Ok(stub), Ok(now)) => stub != now,
        _ => false,
    }
}
