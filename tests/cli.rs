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
fn a_kata_may_be_named_without_its_topic_when_the_name_is_unique() {
    let root = tempfile::tempdir().unwrap();
    let out = cli(root.path(), &["hint", "child_to_parent"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).starts_with("pipes::child_to_parent"), "{}", stdout(&out));
}

#[test]
fn list_shows_every_kata_with_its_file() {
    let root = tempfile::tempdir().unwrap();
    let out = stdout(&cli(root.path(), &["list"]));
    for kata in ipc_katas::catalogue::katas() {
        assert!(out.contains(kata.id) && out.contains(&kata.file()), "{} missing:\n{out}", kata.id);
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
    for verb in ["list", "check", "hint", "reset", "solution", "watch", "mock"] {
        let out = cli(root.path(), &[verb, "--help"]);
        assert!(out.status.success() && stdout(&out).contains("Usage"), "{verb} --help");
    }
}

/// The CLI grading a copy of this repository, as a learner's clone: solved, failing, hung and
/// untouched katas, a reset, the watch and a mock round. They run `cargo test` inside the copy,
/// which compiles it (a minute or more the first time), so a plain `cargo test` skips them;
/// `.ci/run` runs them with `--include-ignored`. They share the copy, so they run one at a time.
mod in_a_copy_of_the_repository {
    use std::io::{BufRead, BufReader, Write};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Output, Stdio};
    use std::sync::OnceLock;
    use std::sync::mpsc::{self, Receiver};
    use std::time::{Duration, Instant};

    use serial_test::serial;

    /// The copy: every file git knows of (committed or not, minus what .gitignore ignores),
    /// committed afresh so that `reset` finds the stubs in its history.
    fn copy() -> &'static Path {
        static COPY: OnceLock<PathBuf> = OnceLock::new();
        COPY.get_or_init(|| {
            let here = Path::new(env!("CARGO_MANIFEST_DIR"));
            let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-repo");
            let _ = std::fs::remove_dir_all(&root);
            let files = Command::new("git")
                .current_dir(here)
                .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
                .output()
                .expect("git ls-files");
            for file in files.stdout.split(|&b| b == 0).filter(|f| !f.is_empty()) {
                let file = Path::new(std::str::from_utf8(file).unwrap());
                if here.join(file).is_file() {
                    std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
                    std::fs::copy(here.join(file), root.join(file)).unwrap();
                }
            }
            for args in [&["init", "-q"][..], &["add", "-A"], &["commit", "-qm", "a learner's clone"]] {
                let ok = Command::new("git")
                    .current_dir(&root)
                    .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"])
                    .args(args)
                    .status()
                    .unwrap()
                    .success();
                assert!(ok, "git {args:?} in the copy");
            }
            root
        })
    }

    /// The CLI, run in the copy with a target directory of its own (the outer `cargo test` holds
    /// the lock on this one).
    fn command(args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ipc-katas"));
        command
            .args(args)
            .env("IPC_KATAS_ROOT", copy())
            .env("CARGO_TARGET_DIR", target_dir())
            .env("NO_COLOR", "1")
            .env_remove("CARGO_BUILD_TARGET_DIR");
        command
    }

    /// Where the copy is built: `IPC_KATAS_CLI_TARGET` (CI points it at a directory whose
    /// dependencies are already built), or a directory of this one's own.
    fn target_dir() -> PathBuf {
        std::env::var_os("IPC_KATAS_CLI_TARGET")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-target"))
    }

    fn run(args: &[&str]) -> (Option<i32>, String) {
        let Output { status, stdout, stderr } = command(args).stdin(Stdio::null()).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
        (status.code(), text)
    }

    /// Puts `text` in the copy's file of a kata.
    fn write_kata(file: &str, text: &str) {
        std::fs::write(copy().join(file), text).unwrap();
    }

    fn answer(file: &str) -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file.replacen("katas/", "solutions/", 1)))
            .unwrap()
    }

    fn stub(file: &str) -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
    }

    /// The stub with every `todo!()` turned into an endless wait: an attempt that hangs.
    fn hung(file: &str) -> String {
        let stub = stub(file);
        let at = stub.find("\nuse ").expect("the stub has a use line");
        format!(
            "{}\nmacro_rules! todo {{ ($($t:tt)*) => {{ loop {{ std::thread::park() }} }} }}\n{}",
            &stub[..at],
            &stub[at..]
        )
    }

    const SOLVED: &str = "katas/pipes/child_to_parent.rs";
    const HUNG: &str = "katas/pipes/ask_child.rs";

    /// The copy as most tests want it: one kata solved, one hung, the others untouched stubs.
    fn solved_and_hung() {
        write_kata(SOLVED, &answer(SOLVED));
        write_kata(HUNG, &hung(HUNG));
    }

    #[test]
    #[ignore = "copies the repository and runs cargo test in it; .ci/run runs it"]
    #[serial]
    fn check_tells_solved_hung_and_untouched_katas_apart() {
        solved_and_hung();
        let started = Instant::now();
        let (code, out) = run(&["check", "pipes"]);
        assert_eq!(code, Some(1), "not every kata is solved, so check fails:\n{out}");
        assert!(out.contains("solved           pipes::child_to_parent"), "{out}");
        assert!(out.contains("failing          pipes::ask_child"), "{out}");
        assert!(out.contains("HANG") && out.contains("timed out after"), "the hang is named:\n{out}");
        // The stub parks for ever: the report shows what the kernel saw and names it.
        assert!(out.contains("What the kernel showed at the deadline:"), "the hang is explained:\n{out}");
        assert!(out.contains("Diagnosis: nothing will ever wake pid"), "the hang is diagnosed:\n{out}");
        assert!(out.contains("not started      pipes::pipeline"), "{out}");
        assert!(out.contains("Hint 1 of 3 is waiting: cargo run -- hint pipes::ask_child"), "{out}");
        eprintln!("check pipes took {:.1}s", started.elapsed().as_secs_f64());
    }

    #[test]
    #[ignore = "copies the repository and runs cargo test in it; .ci/run runs it"]
    #[serial]
    fn outcomes_come_from_the_grader_s_results_file_and_a_test_it_never_saw_is_libtest_s_failure() {
        solved_and_hung();
        // A check in the solved kata's tests that is no graded test: the grader never sees it.
        let tests = copy().join("tests/pipes.rs");
        let original = std::fs::read_to_string(&tests).unwrap();
        let extra = "mod child_to_parent {\n    #[test]\n    fn a_check_the_grader_never_saw() {\n        \
                     panic!(\"not graded\")\n    }\n";
        std::fs::write(&tests, original.replacen("mod child_to_parent {\n", extra, 1)).unwrap();
        let (code, out) = run(&["check", "pipes"]);
        std::fs::write(&tests, &original).unwrap();
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("failing          pipes::child_to_parent"), "{out}");
        let listed = |label: &str, test: &str| out.contains(&format!("    {label:<19} {test}\n"));
        assert!(listed("FAILED", "a_check_the_grader_never_saw"), "{out}");
        assert!(listed("ok", "empty_data_arrives_as_nothing"), "{out}");
        assert!(listed("HANG", "no_requests_get_no_answers"), "the hung kata's label, from the results file:\n{out}");
        // One JSON line per graded test that finished, in the file the CLI named.
        let file = target_dir().join("ipc-katas").join("results-pipes.jsonl");
        let lines = std::fs::read_to_string(&file).unwrap();
        let line = |test: &str| {
            lines
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .find(|v| v["test"] == test)
                .unwrap_or_else(|| panic!("no line for {test} in {}:\n{lines}", file.display()))
        };
        assert_eq!(line("pipes::child_to_parent::empty_data_arrives_as_nothing")["label"], "OK");
        let hang = line("pipes::ask_child::no_requests_get_no_answers");
        assert_eq!(hang["label"], "HANG", "{hang}");
        assert!(hang["text"].as_str().unwrap().starts_with("timed out after"), "{hang}");
        assert!(!lines.contains("a_check_the_grader_never_saw"), "{lines}");
    }

    const BROKEN: &str = "katas/fifos/records.rs";

    #[test]
    #[ignore = "copies the repository and runs cargo test in it; .ci/run runs it"]
    #[serial]
    fn a_kata_that_does_not_compile_is_shown_with_its_first_error_and_every_other_kata_is_graded() {
        solved_and_hung();
        let stub_lines = stub(BROKEN).lines().count();
        write_kata(BROKEN, &format!("{}\npub fn oops(x: u8 {{\n", stub(BROKEN)));
        let (code, out) = run(&[]);
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("does not compile fifos::records"), "{out}");
        assert!(out.contains("solved           pipes::child_to_parent"), "the others are graded:\n{out}");
        assert!(out.contains("failing          pipes::ask_child"), "{out}");
        assert!(out.contains("not started      fifos::make_fifo"), "{out}");
        assert!(out.contains(&format!("at {BROKEN}:{}:", stub_lines + 2)), "the error's file and line:\n{out}");
        let (code, out) = run(&["check", "fifos::records"]);
        assert_eq!(code, Some(1), "{out}");
        assert!(
            out.contains(&format!("--> {BROKEN}:{}:", stub_lines + 2)),
            "the whole error, as rustc prints it:\n{out}"
        );
        assert!(out.contains("error"), "{out}");
        let (code, out) = run(&["check", "pipes::child_to_parent"]);
        assert_eq!(code, Some(0), "another kata is still graded: {out}");
        for args in [&["hint", "fifos::records"][..], &["list"], &["solution", "fifos::records", "--reveal"]] {
            let (code, out) = run(args);
            assert_eq!(code, Some(0), "{args:?} works while a kata is broken:\n{out}");
        }
        let (code, out) = run(&["reset", "fifos::records", "--yes"]);
        assert_eq!(code, Some(0), "{out}");
        assert_eq!(std::fs::read_to_string(copy().join(BROKEN)).unwrap(), stub(BROKEN));
    }

    #[test]
    #[ignore = "copies the repository and runs cargo test in it; .ci/run runs it"]
    #[serial]
    fn the_answer_stays_hidden_until_the_kata_is_solved() {
        solved_and_hung();
        let (code, out) = run(&["solution", "pipes::pipeline"]);
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("not solved yet, so its answer stays hidden"), "{out}");
        let (code, out) = run(&["solution", "pipes::child_to_parent"]);
        assert_eq!(code, Some(0), "{out}");
        assert!(out.contains(&answer(SOLVED)), "the reference answer is shown whole:\n{out}");
    }

    #[test]
    #[ignore = "copies the repository and runs cargo test in it; .ci/run runs it"]
    #[serial]
    fn reset_puts_the_stub_back_and_the_kata_is_not_started_again() {
        solved_and_hung();
        let (code, out) = run(&["reset", "pipes::child_to_parent", "--yes"]);
        assert_eq!(code, Some(0), "{out}");
        assert_eq!(std::fs::read_to_string(copy().join(SOLVED)).unwrap(), stub(SOLVED));
        let (code, out) = run(&["check", "pipes::child_to_parent"]);
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("not started      pipes::child_to_parent"), "{out}");
    }

    /// The CLI's output, line by line, as it comes.
    fn lines_of(child: &mut Child) -> Receiver<String> {
        let (tx, rx) = mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        rx
    }

    /// Reads lines until one contains `needle`; fails with all that was read after `limit`.
    fn wait_for(lines: &Receiver<String>, seen: &mut Vec<String>, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no line with {needle:?} within {limit:?}; the output so far:\n{}", seen.join("\n"));
    }

    /// Kills the watch if a check fails, so that a red test leaves no process behind.
    struct Watching(Child);

    impl Drop for Watching {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    #[ignore = "copies the repository and runs cargo test in it; .ci/run runs it"]
    #[serial]
    fn watch_grades_each_save_keeps_its_keys_alive_during_a_hang_and_quits_on_q() {
        solved_and_hung();
        let child = command(&["watch", "pipes::child_to_parent"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut watching = Watching(child);
        let lines = lines_of(&mut watching.0);
        let mut seen = Vec::new();
        let build = Duration::from_secs(300); // the first grading may compile the copy
        wait_for(&lines, &mut seen, "solved           pipes::child_to_parent", build);

        // Saving the hung kata's file switches to it and grades it; a key is answered while
        // the attempt hangs, long before the grader's deadline ends the run.
        write_kata(HUNG, &format!("{}\n// saved again\n", hung(HUNG)));
        wait_for(&lines, &mut seen, "saved katas/pipes/ask_child.rs", Duration::from_secs(20));
        let asked = Instant::now();
        writeln!(watching.0.stdin.as_mut().unwrap(), "h").unwrap();
        wait_for(&lines, &mut seen, "Hint 1 of 3", Duration::from_secs(60));
        assert!(
            !seen.iter().any(|l| l.contains("failing          pipes::ask_child")),
            "the hint came only after the hung run ended ({:?}):\n{}",
            asked.elapsed(),
            seen.join("\n")
        );
        wait_for(&lines, &mut seen, "failing          pipes::ask_child", Duration::from_secs(60));
        wait_for(&lines, &mut seen, "timed out after", Duration::from_secs(5));

        writeln!(watching.0.stdin.as_mut().unwrap(), "q").unwrap();
        wait_for(&lines, &mut seen, "Bye", Duration::from_secs(30));
        let status = watching.0.wait().unwrap();
        assert!(status.success(), "{status}");
    }

    #[test]
    #[ignore = "copies the repository and runs cargo test in it; .ci/run runs it"]
    #[serial]
    fn a_mock_round_with_a_fixed_seed_hides_hints_times_and_debriefs() {
        let _ = std::fs::remove_file(copy().join(".ipc-katas-state"));
        let (code, out) = run(&["mock", "--seed", "2026"]);
        assert_eq!(code, Some(0), "{out}");
        let task = out.lines().find_map(|l| l.strip_prefix("Coding task — ")).expect("the round names its kata");
        let kata = task.split(": ").next().unwrap().to_string();
        let question = out.lines().find(|l| l.starts_with("Question ")).expect("the round names its question");
        assert!(out.contains("45 minutes, until"), "{out}");

        // The same seed sets the same round, on the partner's sheet too.
        let (_, sheet) = run(&["mock", "--interviewer", "--seed", "2026"]);
        assert!(sheet.contains(question) && sheet.contains(&kata), "{sheet}");
        for part in ["What a strong answer says", "Rubric", "Follow-up questions"] {
            assert!(sheet.contains(part), "the interviewer's sheet has no {part}:\n{sheet}");
        }
        let (code, again) = run(&["mock"]);
        assert_eq!(code, Some(1), "a second round while one is under way:\n{again}");
        assert!(again.contains("under way") && again.contains(&kata), "{again}");
        let (code, hint) = run(&["hint", &kata]);
        assert_eq!(code, Some(1), "{hint}");
        assert!(hint.contains("hints are hidden"), "{hint}");

        let (code, debrief) = run(&["mock", "--submit"]);
        assert_eq!(code, Some(1), "a stub does not pass:\n{debrief}");
        for part in ["of your 45 minutes", "tests passed  0 of", "Rubric", "Follow-up questions", "The model answer"] {
            assert!(debrief.contains(part), "the debrief has no {part:?}:\n{debrief}");
        }
        let state = std::fs::read_to_string(copy().join(".ipc-katas-state")).unwrap_or_default();
        assert!(!state.contains("mock"), "the round is over: {state}");
        let (code, _) = run(&["hint", &kata]);
        assert_eq!(code, Some(0), "hints show again after the round");
    }
}
