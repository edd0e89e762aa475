//! The practice CLI: `cargo run` shows the katas; `cargo run -- hint <kata>` helps.

use ipc_katas::catalogue::{self, TOPICS};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let code = match args.as_slice() {
        [] | ["list"] => {
            overview();
            0
        }
        ["topics"] => {
            // One graded topic per line: tests/<topic>.rs. Scripts (.ci/run) read this.
            TOPICS.iter().for_each(|t| println!("{}", t.id));
            0
        }
        ["hint", id] => hint(id, None),
        ["hint", id, level] => match level.parse::<usize>() {
            Ok(level) => hint(id, Some(level)),
            Err(_) => usage(&format!("the hint level must be a number, not {level:?}")),
        },
        ["--help" | "-h" | "help"] => {
            println!("{USAGE}");
            0
        }
        _ => usage(&format!("unknown command: {}", args.join(" "))),
    };
    std::process::exit(code);
}

const USAGE: &str = "\
usage:
  cargo run                       the katas, in order, with the file to edit and how to grade it
  cargo run -- hint KATA [LEVEL]  hints for KATA (for example pipes::child_to_parent), up to LEVEL
  cargo run -- topics             the graded topics, one per line (tests/<topic>.rs)
  cargo test                      grade every kata (cargo test --test pipes: one topic)";

fn usage(problem: &str) -> i32 {
    eprintln!("{problem}\n\n{USAGE}");
    2
}

fn overview() {
    println!("ipc-katas: practise Unix inter-process communication. Grading: {}\n", ipc_katas::GRADING);
    for topic in TOPICS {
        println!("{} — {}", topic.id, topic.title);
        println!("  {}", topic.summary);
        for kata in topic.katas {
            println!("  {:<28} {}", kata.id, kata.title);
            println!("  {:<28} edit {}, grade: {}", "", kata.file, kata.test_command());
        }
        println!();
    }
    println!("Start with the first kata: open its file, replace the todo!(), and run its grade command.");
}

fn hint(id: &str, level: Option<usize>) -> i32 {
    let Some(kata) = catalogue::kata(id) else {
        let known: Vec<&str> = catalogue::katas().map(|k| k.id).collect();
        return usage(&format!("no kata called {id:?}; the katas are: {}", known.join(", ")));
    };
    let shown = level.unwrap_or(1).clamp(1, kata.hints.len());
    println!("{} — {}\n", kata.id, kata.title);
    for (i, text) in kata.hints.iter().take(shown).enumerate() {
        println!("hint {} of {}: {text}\n", i + 1, kata.hints.len());
    }
    if shown < kata.hints.len() {
        println!("more: cargo run -- hint {} {}", kata.id, shown + 1);
    }
    0
}
