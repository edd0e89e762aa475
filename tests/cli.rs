//! The practice CLI, run as a learner runs it. These tests need no grading run (no nested
//! cargo): hints, reset, listing and errors. Not graded tests: they pass in both modes.

use std::path::Path;
use std::process::{Command, Output};

fn cli(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ipc-katas"))
        .args(args)
        .env("IPC_KATAS_ROOT", root)
        .env("NO_COLOR", "1")
        .output()
        .expect("the CLI runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn each_hint_call_shows_one_more_hint_and_remembers_it() {
    let root = tempfile::tempdir().unwrap();
    let first = stdout(&cli(root.path(), &["hint", "pipes::child_to_parent"]));
    assert!(first.contains("Hint 1 of 3") && !first.contains("Hint 2 of 3"), "{first}");
    let second = stdout(&cli(root.path(), &["hint", "pipes::child_to_parent"]));
    assert!(second.contains("Hint 2 of 3") && !second.contains("Hint 3 of 3"), "{second}");
    let state = std::fs::read_to_string(root.path().join(".ipc-katas-state")).unwrap();
    assert_eq!(state, "hint pipes::child_to_parent 2\n");
}

#[test]
fn an_unknown_kata_is_an_error_that_lists_the_katas() {
    let root = tempfile::tempdir().unwrap();
    let out = cli(root.path(), &["hint", "pipes::nope"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no kata called \"pipes::nope\"") && err.contains("pipes::child_to_parent"), "{err}");
}

#[test]
fn list_shows_every_kata_with_its_file() {
    let root = tempfile::tempdir().unwrap();
    let out = stdout(&cli(root.path(), &["list"]));
    for kata in ipc_katas::catalogue::katas() {
        assert!(out.contains(kata.id) && out.contains(kata.file), "{} missing:\n{out}", kata.id);
    }
}

const KATA_FILE: &str = "katas/pipes/child_to_parent.rs";

/// A git repository holding the kata's stub, then a committed attempt on top; returns the stub.
fn repo_with_an_attempt(root: &Path) -> String {
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .current_dir(root)
            .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"])
            .args(args)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    let stub = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(KATA_FILE)).unwrap();
    std::fs::create_dir_all(root.join("katas/pipes")).unwrap();
    std::fs::write(root.join(KATA_FILE), &stub).unwrap();
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "stubs"]);
    std::fs::write(root.join(KATA_FILE), "pub fn child_to_parent() {}\n").unwrap();
    git(&["commit", "-qam", "my attempt"]);
    stub
}

#[test]
fn reset_restores_the_stub_from_git_history() {
    let root = tempfile::tempdir().unwrap();
    let stub = repo_with_an_attempt(root.path());
    let out = cli(root.path(), &["reset", "pipes::child_to_parent", "--yes"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(root.path().join(KATA_FILE)).unwrap(), stub);
}

#[test]
fn reset_without_a_terminal_asks_for_yes_and_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    repo_with_an_attempt(root.path());
    let out = cli(root.path(), &["reset", "pipes::child_to_parent"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(root.path().join(KATA_FILE)).unwrap(), "pub fn child_to_parent() {}\n");
}

#[test]
fn every_verb_has_help() {
    let root = tempfile::tempdir().unwrap();
    for verb in ["list", "check", "hint", "reset", "solution"] {
        let out = cli(root.path(), &[verb, "--help"]);
        assert!(out.status.success() && stdout(&out).contains("Usage"), "{verb} --help");
    }
}
