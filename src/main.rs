//! The practice CLI. `cargo run` shows where you stand and what to do next; `cargo test` stays
//! the grader underneath: this program runs it and explains what it says.

mod cli;

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use cli::grading::State;
use cli::report::{NextHint, grade, grade_kata, kata_report};
use cli::state::StateFile;
use cli::ui::Ui;
use cli::{mock, repo, watch};
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
    /// Grade the kata you are editing each time you save a file in katas/ (keys: h hint, n next, r again, q quit).
    Watch {
        /// The kata to start with (default: the first one still holding a todo!()).
        kata: Option<String>,
    },
    /// A mock interview: a question to answer aloud and a kata to code against a timer, hints hidden.
    Mock(MockArgs),
    /// Remove what test runs that were killed outright (SIGKILL) left behind: only what a grader
    /// run provably made (its temporary directory, and the IPC objects and names it recorded).
    Clean {
        /// Only list what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// The graded topics, one per line (tests/<topic>.rs); for scripts.
    #[command(hide = true)]
    Topics,
}

#[derive(Args)]
#[command(after_help = "A round: `mock` starts it, `mock --submit` grades it and shows the debrief. \
A practice partner runs `mock --interviewer` (same repository, or the same --seed) for the rubric and follow-ups.")]
struct MockArgs {
    /// Pick the round from this number: the same seed sets the same question and kata.
    #[arg(long)]
    seed: Option<u64>,
    /// The question to practise, 1 to 6 (default: picked at random).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=7))]
    question: Option<u8>,
    /// Minutes on the timer.
    #[arg(long, default_value_t = 45, value_parser = clap::value_parser!(u64).range(1..=mock::MAX_MINUTES))]
    minutes: u64,
    /// Grade the round's kata and show the debrief: time, tests, rubric, follow-ups, model answer.
    #[arg(long, conflicts_with_all = ["interviewer", "abandon", "seed", "question"])]
    submit: bool,
    /// Print the interviewer's sheet: the prompt, what a strong answer says, the rubric, follow-ups.
    #[arg(long, conflicts_with = "abandon")]
    interviewer: bool,
    /// Give up the round under way (its hints show again).
    #[arg(long, conflicts_with_all = ["seed", "question"])]
    abandon: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::catch_interrupts();
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
        Some(Verb::Watch { kata }) => match kata.as_deref().map(find_kata).transpose() {
            Ok(kata) => watch::watch(&ui, &root, kata, cli.solutions),
            Err(e) => Err(e),
        },
        Some(Verb::Mock(args)) => {
            if args.submit {
                mock::submit(&ui, &root, cli.solutions)
            } else if args.interviewer {
                mock::interviewer(&ui, &root, args.seed, args.question)
            } else if args.abandon {
                mock::abandon(&root)
            } else {
                mock::start(&ui, &root, args.seed, args.question, args.minutes)
            }
        }
        Some(Verb::Clean { dry_run }) => clean(dry_run),
        Some(Verb::Topics) => {
            TOPICS.iter().for_each(|t| println!("{}", t.id));
            Ok(true)
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
            eprintln!("\n{e}");
            ExitCode::from(130)
        }
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

/// The kata `id` names: its full id (`pipes::child_to_parent`), or its name alone when only one
/// topic has a kata of that name (`child_to_parent`).
fn find_kata(id: &str) -> io::Result<&'static Kata> {
    let by_name: Vec<&Kata> = catalogue::katas().filter(|k| k.name() == id).collect();
    if let [kata] = by_name.as_slice() {
        return Ok(kata);
    }
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
            println!("  {:<32} {}", "", ui.dim(&format!("edit {}   grade: {}", kata.file(), kata.test_command())));
        }
    }
}

fn clean(dry_run: bool) -> io::Result<bool> {
    let found = ipc_katas::grader::leftovers::find();
    if found.is_empty() {
        println!("Nothing to clean: no test run of yours was killed before it could clean up.");
        return Ok(true);
    }
    let mut failed = Vec::new();
    for leftover in &found {
        println!("A test run (process {}, gone) left:", leftover.pid);
        for object in &leftover.objects {
            println!("  {object}");
        }
        if !dry_run {
            failed.extend(leftover.remove());
        }
    }
    if dry_run {
        println!("\n(--dry-run: nothing removed)");
    } else if failed.is_empty() {
        println!("\nRemoved.");
    } else {
        println!("\nCould not remove:\n  {}", failed.join("\n  "));
    }
    Ok(failed.is_empty())
}

fn overview(ui: &Ui, root: &Path, solutions: bool) -> io::Result<bool> {
    println!("{}", ui.bold("ipc-katas: Unix inter-process communication, graded by cargo test"));
    println!(
        "{}\n",
        ui.dim("Grading runs `cargo test`; the first time, it compiles the tests (about a minute on 2 CPUs).")
    );
    let leftovers = ipc_katas::grader::leftovers::find();
    if !leftovers.is_empty() {
        println!(
            "{}\n",
            ui.bold(&format!(
                "{} earlier test run(s) were killed before they could clean up: `cargo run -- clean` removes what they left.",
                leftovers.len()
            ))
        );
    }
    let run = grade(ui, root, "every kata", None, solutions)?;
    let states: Vec<(&Kata, State)> = catalogue::katas().map(|kata| (kata, run.state(kata))).collect();
    println!();
    for topic in TOPICS {
        println!("{} — {}", ui.bold(topic.id), topic.title);
        for (kata, state) in states.iter().filter(|(k, _)| k.topic() == topic.id) {
            println!("  {} {:<32} {}", ui.state(*state), kata.id, kata.title);
        }
    }
    for broken in &run.broken {
        let first = broken.error.lines().next().unwrap_or("");
        println!(
            "\n{} does not compile ({first}, at {}): `cargo run -- check <kata>` shows the whole error.",
            broken.file, broken.at
        );
    }
    let solved = states.iter().filter(|(_, s)| *s == State::Solved).count();
    println!("\n{}\n", ui.progress(solved, states.len()));
    match states.iter().find(|(_, s)| *s != State::Solved) {
        None => println!("Every kata is solved. Read the reference answers: cargo run -- solution <kata>"),
        Some((kata, _)) => {
            println!("Next: {} — {}", ui.bold(kata.id), kata.title);
            println!("  open   {}", kata.file());
            println!("  grade  cargo run -- check {}   (or: {})", kata.id, kata.test_command());
            println!("  stuck? cargo run -- hint {}", kata.id);
        }
    }
    Ok(solved == states.len())
}

fn check(ui: &Ui, root: &Path, target: &str, solutions: bool) -> io::Result<bool> {
    let (topic, katas): (&Topic, Vec<&Kata>) = match (find_kata(target).ok(), catalogue::topic(target)) {
        (Some(kata), _) => (catalogue::topic(kata.topic()).expect("every kata has a topic"), vec![kata]),
        (None, Some(topic)) => (topic, topic.katas.iter().collect()),
        (None, None) => {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{target:?} is neither a kata nor a topic: see `cargo run -- list`"),
            ));
        }
    };
    let (what, filter) = match katas.as_slice() {
        [kata] => (kata.id, format!("{}::", kata.id)),
        _ => (topic.id, format!("{}::", topic.id)),
    };
    let run = grade(ui, root, what, Some(&filter), solutions)?;
    let state = StateFile::load(root);
    let hidden = mock::hidden_kata(root);
    let mut all_solved = true;
    for kata in katas {
        let next = if hidden.as_deref() == Some(kata.id) {
            NextHint::Hidden
        } else {
            NextHint::Level(state.hints_shown(kata.id))
        };
        all_solved &= kata_report(ui, kata, &run, next) == State::Solved;
    }
    Ok(all_solved)
}

fn hint(ui: &Ui, root: &Path, kata: &Kata, level: Option<usize>) -> io::Result<bool> {
    if mock::hidden_kata(root).as_deref() == Some(kata.id) {
        println!("{} is your mock interview's kata: its hints are hidden until `cargo run -- mock --submit`.", kata.id);
        return Ok(false);
    }
    let mut state = StateFile::load(root);
    let shown = level.unwrap_or(state.hints_shown(kata.id) + 1).clamp(1, kata.hints.len());
    println!("{} — {}\n", ui.bold(kata.id), kata.title);
    for (i, text) in kata.hints.iter().take(shown).enumerate() {
        println!("Hint {} of {}: {text}\n", i + 1, kata.hints.len());
    }
    if shown < kata.hints.len() {
        println!("{}", ui.dim(&format!("Run it again for hint {}.", shown + 1)));
    } else {
        let text = format!(
            "That was the last hint. Still stuck? The man pages in the kata's doc comment, then: cargo run -- solution {} --reveal",
            kata.id
        );
        println!("{}", ui.dim(&text));
    }
    let most = shown.max(state.hints_shown(kata.id));
    state.set_hints_shown(kata.id, most)?;
    Ok(true)
}

fn reset(root: &Path, kata: &Kata, yes: bool) -> io::Result<bool> {
    let stub = repo::original_stub(root, kata)?;
    let path = root.join(kata.file());
    if !yes {
        if !io::stdin().is_terminal() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not asking on a non-terminal: pass --yes to reset",
            ));
        }
        print!("Restore {} to its original stub? Your code in it will be lost. [y/N] ", kata.file());
        io::stdout().flush()?;
        let mut answer = String::new();
        io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("Left as it is.");
            return Ok(false);
        }
    }
    std::fs::write(&path, stub)?;
    println!("{} is a stub again. Grade it with: {}", kata.file(), kata.test_command());
    Ok(true)
}

fn solution(ui: &Ui, root: &Path, kata: &Kata, reveal: bool, solutions: bool) -> io::Result<bool> {
    if mock::hidden_kata(root).as_deref() == Some(kata.id) {
        println!("{} is your mock interview's kata: `cargo run -- mock --submit` shows its answers.", kata.id);
        return Ok(false);
    }
    if !reveal {
        let run = grade_kata(ui, root, kata, solutions)?;
        if run.state(kata) != State::Solved {
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
    // The model answer of the interview question this kata makes concrete.
    let question = kata.question.and_then(catalogue::question);
    if let Some(question) = question {
        let doc = std::fs::read_to_string(root.join(question.answer))?;
        println!(
            "{}\n",
            ui.bold(&format!("Q{} — {}: the model answer ({})", question.number, question.title, question.answer))
        );
        println!("{doc}");
    }
    Ok(true)
}
