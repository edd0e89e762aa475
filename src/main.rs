//! The practice CLI. `cargo run` shows where you stand and what to do next; `cargo test` stays
//! the grader underneath: this program runs it and explains what it says.

mod cli;

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};
use cli::grading::{self, State, TopicRun};
use cli::state::HintLevels;
use cli::ui::Ui;
use ipc_katas::catalogue::{self, Kata, TOPICS, Topic};

#[derive(Parser)]
#[command(name = "ipc-katas", about = "Practise Unix inter-process communication: katas graded by cargo test.")]
#[command(after_help = "With no command: grade every kata, show your progress and the next kata to do.")]
struct Cli {
    #[command(subcommand)]
    command: Option<Verb>,
    /// Grade the reference answers in solutions/ instead of your katas (to check the repo).
    #[arg(long, global = true)]
    solutions: bool,
}

#[derive(Subcommand)]
enum Verb {
    /// The katas in order, with the file to edit and how to grade each (no grading: instant).
    List,
    /// Grade one kata (pipes::child_to_parent) or one topic (pipes) and explain each failure.
    Check {
        /// A kata id or a topic id.
        target: String,
    },
    /// Show the next hint for a kata; each call shows one more, up to the last.
    Hint {
        kata: String,
        /// Show hints up to this level instead of the next one.
        #[arg(long)]
        level: Option<usize>,
    },
    /// Restore a kata's file to its original stub (asks first: your code in it is lost).
    Reset {
        kata: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Show the reference answer of a kata you have solved.
    Solution {
        kata: String,
        /// Show it even though the kata is not solved yet.
        #[arg(long)]
        reveal: bool,
    },
    /// The graded topics, one per line (tests/<topic>.rs); for scripts.
    #[command(hide = true)]
    Topics,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ui = Ui::new();
    let root = repo_root();
    let result = match cli.command {
        None => overview(&ui, &root, cli.solutions),
        Some(Verb::List) => {
            list(&ui);
            Ok(true)
        }
        Some(Verb::Check { target }) => check(&ui, &root, &target, cli.solutions),
        Some(Verb::Hint { kata, level }) => find_kata(&kata).and_then(|k| hint(&ui, &root, k, level)),
        Some(Verb::Reset { kata, yes }) => find_kata(&kata).and_then(|k| reset(&root, k, yes)),
        Some(Verb::Solution { kata, reveal }) => {
            find_kata(&kata).and_then(|k| solution(&ui, &root, k, reveal, cli.solutions))
        }
        Some(Verb::Topics) => {
            TOPICS.iter().for_each(|t| println!("{}", t.id));
            Ok(true)
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The repository to work on: `IPC_KATAS_ROOT`, or the one this program was built from.
fn repo_root() -> PathBuf {
    std::env::var_os("IPC_KATAS_ROOT").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn find_kata(id: &str) -> io::Result<&'static Kata> {
    catalogue::kata(id).ok_or_else(|| {
        let known: Vec<&str> = catalogue::katas().map(|k| k.id).collect();
        io::Error::new(io::ErrorKind::NotFound, format!("no kata called {id:?}; the katas are: {}", known.join(", ")))
    })
}

fn list(ui: &Ui) {
    for topic in TOPICS {
        println!("{} — {}", ui.bold(topic.id), topic.title);
        for kata in topic.katas {
            println!("  {:<32} {}", kata.id, kata.title);
            println!("  {:<32} {}", "", ui.dim(&format!("edit {}   grade: {}", kata.file, kata.test_command())));
        }
    }
}

/// Grades one topic, saying so first: grading runs `cargo test` and may compile.
fn grade_topic(ui: &Ui, root: &Path, topic: &Topic, filter: Option<&str>, solutions: bool) -> io::Result<TopicRun> {
    print!("{}", ui.dim(&format!("grading {} … ", topic.id)));
    io::stdout().flush()?;
    let run = grading::run_topic(root, topic.id, filter, solutions)?;
    println!("{}", ui.dim(&format!("{} tests in {:.1}s", run.results.len(), run.elapsed.as_secs_f64())));
    Ok(run)
}

fn overview(ui: &Ui, root: &Path, solutions: bool) -> io::Result<bool> {
    println!("{}", ui.bold("ipc-katas: Unix inter-process communication, graded by cargo test"));
    println!("{}\n", ui.dim("Grading runs `cargo test`; the first time, it compiles the tests (a minute or two)."));
    let mut states = Vec::new();
    for topic in TOPICS {
        let run = grade_topic(ui, root, topic, None, solutions)?;
        states.extend(topic.katas.iter().map(|kata| (kata, State::of(&run.of_kata(kata)))));
    }
    println!();
    for topic in TOPICS {
        println!("{} — {}", ui.bold(topic.id), topic.title);
        for (kata, state) in states.iter().filter(|(k, _)| k.topic() == topic.id) {
            println!("  {} {:<32} {}", ui.state(*state), kata.id, kata.title);
        }
    }
    let solved = states.iter().filter(|(_, s)| *s == State::Solved).count();
    println!("\n{}\n", ui.progress(solved, states.len()));
    match states.iter().find(|(_, s)| *s != State::Solved) {
        None => println!("Every kata is solved. Read the reference answers: cargo run -- solution <kata>"),
        Some((kata, _)) => {
            println!("Next: {} — {}", ui.bold(kata.id), kata.title);
            println!("  open   {}", kata.file);
            println!("  grade  cargo run -- check {}   (or: {})", kata.id, kata.test_command());
            println!("  stuck? cargo run -- hint {}", kata.id);
        }
    }
    Ok(solved == states.len())
}

fn check(ui: &Ui, root: &Path, target: &str, solutions: bool) -> io::Result<bool> {
    let (topic, katas): (&Topic, Vec<&Kata>) = match (catalogue::kata(target), catalogue::topic(target)) {
        (Some(kata), _) => (catalogue::topic(kata.topic()).expect("every kata has a topic"), vec![kata]),
        (None, Some(topic)) => (topic, topic.katas.iter().collect()),
        (None, None) => {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{target:?} is neither a kata nor a topic: see `cargo run -- list`"),
            ));
        }
    };
    let filter = (katas.len() == 1).then(|| format!("{}::", katas[0].name()));
    let run = grade_topic(ui, root, topic, filter.as_deref(), solutions)?;
    let hints = HintLevels::load(root);
    let mut all_solved = true;
    for kata in katas {
        let tests = run.of_kata(kata);
        let state = State::of(&tests);
        all_solved &= state == State::Solved;
        println!("\n{} {} — {}", ui.state(state), ui.bold(kata.id), kata.title);
        for test in &tests {
            let name = test.name.split_once("::").map_or(test.name.as_str(), |(_, n)| n);
            println!("    {} {name}", ui.label(test.label.as_deref().unwrap_or("ok")));
        }
        match state {
            State::Solved => {
                println!("  All {} tests pass. The reference answer: cargo run -- solution {}", tests.len(), kata.id)
            }
            State::NotStarted => println!("  Not attempted yet: open {} and replace the todo!().", kata.file),
            State::Failing => explain(ui, kata, &tests, hints.shown(kata.id)),
        }
    }
    Ok(all_solved)
}

/// The reports of the failed tests (the first three in full) and the next hint to read.
fn explain(ui: &Ui, kata: &Kata, tests: &[&grading::TestResult], hints_shown: usize) {
    let failed: Vec<_> =
        tests.iter().filter(|t| !t.passed && t.label.as_deref() != Some("NOT YET IMPLEMENTED")).collect();
    for test in failed.iter().take(3) {
        println!();
        for line in test.report.lines().take_while(|l| !l.trim_start().starts_with("kata:")) {
            println!("  {line}");
        }
    }
    if failed.len() > 3 {
        println!("\n  {} more failing; all of them: {}", failed.len() - 3, kata.test_command());
    }
    if hints_shown < kata.hints.len() {
        println!(
            "\n  {}",
            ui.dim(&format!(
                "Hint {} of {} is waiting: cargo run -- hint {}",
                hints_shown + 1,
                kata.hints.len(),
                kata.id
            ))
        );
    }
}

fn hint(ui: &Ui, root: &Path, kata: &Kata, level: Option<usize>) -> io::Result<bool> {
    let mut levels = HintLevels::load(root);
    let shown = level.unwrap_or(levels.shown(kata.id) + 1).clamp(1, kata.hints.len());
    println!("{} — {}\n", ui.bold(kata.id), kata.title);
    for (i, text) in kata.hints.iter().take(shown).enumerate() {
        println!("Hint {} of {}: {text}\n", i + 1, kata.hints.len());
    }
    if shown < kata.hints.len() {
        println!("{}", ui.dim(&format!("Run it again for hint {}.", shown + 1)));
    } else {
        println!("{}", ui.dim("That was the last hint. Still stuck? The man pages in the kata's doc comment, then: cargo run -- solution <kata> --reveal"));
    }
    levels.set(kata.id, shown.max(levels.shown(kata.id)))?;
    Ok(true)
}

/// The newest version of the kata's file in git that is still a stub (has a `todo!(`).
fn original_stub(root: &Path, kata: &Kata) -> io::Result<String> {
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

fn reset(root: &Path, kata: &Kata, yes: bool) -> io::Result<bool> {
    let stub = original_stub(root, kata)?;
    let path = root.join(kata.file);
    if !yes {
        if !io::stdin().is_terminal() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not asking on a non-terminal: pass --yes to reset",
            ));
        }
        print!("Restore {} to its original stub? Your code in it will be lost. [y/N] ", kata.file);
        io::stdout().flush()?;
        let mut answer = String::new();
        io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("Left as it is.");
            return Ok(false);
        }
    }
    std::fs::write(&path, stub)?;
    println!("{} is a stub again. Grade it with: {}", kata.file, kata.test_command());
    Ok(true)
}

fn solution(ui: &Ui, root: &Path, kata: &Kata, reveal: bool, solutions: bool) -> io::Result<bool> {
    if !reveal {
        let topic = catalogue::topic(kata.topic()).expect("every kata has a topic");
        let run = grade_topic(ui, root, topic, Some(&format!("{}::", kata.name())), solutions)?;
        if State::of(&run.of_kata(kata)) != State::Solved {
            println!(
                "{} is not solved yet, so its answer stays hidden. Try a hint (cargo run -- hint {}), or pass --reveal.",
                kata.id, kata.id
            );
            return Ok(false);
        }
    }
    let path = root.join(kata.solution_file());
    println!("{}\n", ui.bold(&format!("{} — reference answer ({})", kata.id, kata.solution_file())));
    println!("{}", std::fs::read_to_string(path)?);
    Ok(true)
}
