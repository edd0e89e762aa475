//! Checks of the repository itself, for CI and contributors: the catalogue, the stubs, the
//! answers, the graded tests and the model answers stay in step. Not graded tests, and never
//! part of a learner's `cargo test` (they need the `dev` feature:
//! `cargo test --features dev --test repo`): a learner's edited kata is not a stub any more.

use std::fs;
use std::path::Path;

use ipc_katas::catalogue::{Kata, QUESTIONS, Question, TOPICS, kata_for_test, katas, question, topic};

fn read(path: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_kata_has_a_stub_an_answer_hints_and_graded_tests() {
    for kata in katas() {
        assert!(topic(kata.topic()).is_some(), "{}: unknown topic", kata.id);
        let stub = read(&kata.file());
        assert!(stub.contains("todo!("), "{}: the stub {} has no todo!()", kata.id, kata.file());
        let answer = read(&kata.solution_file());
        assert!(!answer.contains("todo!("), "{}: the answer still has a todo!()", kata.id);
        assert!((2..=3).contains(&kata.hints.len()), "{}: give two or three hints", kata.id);
        let tests = read(&format!("tests/{}.rs", kata.topic()));
        let module = format!("mod {} {{", kata.name());
        assert!(tests.contains(&module), "{}: tests/{}.rs has no `{module}`", kata.id, kata.topic());
    }
}

#[test]
fn katas_and_solutions_have_the_same_modules() {
    for topic in TOPICS {
        let path = format!("{}/mod.rs", topic.id);
        assert_eq!(
            read(&format!("katas/{path}")),
            read(&format!("solutions/{path}")),
            "katas/{path} and solutions/{path} must be identical: they declare the same API"
        );
        assert!(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/{}.rs", topic.id)).exists());
    }
    assert_eq!(read("katas/mod.rs"), read("solutions/mod.rs"));
}

#[test]
fn every_topic_says_what_usually_hangs_it() {
    for topic in TOPICS {
        assert!((2..=5).contains(&topic.hang_causes.len()), "{}: give two to five hang causes", topic.id);
    }
}

#[test]
fn every_kata_file_in_the_tree_is_in_the_catalogue() {
    for topic in TOPICS {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("katas").join(topic.id);
        for entry in fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name == "mod.rs" {
                continue;
            }
            let file = format!("katas/{}/{name}", topic.id);
            assert!(katas().any(|k| k.file() == file), "{file} is not in the catalogue");
        }
    }
}

#[test]
fn the_five_questions_are_numbered_in_order() {
    assert_eq!(QUESTIONS.iter().map(|q| q.number).collect::<Vec<_>>(), [1, 2, 3, 4, 5], "src/catalogue/interview.rs");
}

/// A kata's question is kept once, in `Kata::question`; the model answer (written by hand) must
/// name every kata the catalogue links to its question, so that the two never tell a learner
/// different things.
#[test]
fn every_kata_linked_to_a_question_is_named_in_its_model_answer() {
    for kata in katas() {
        let Some(number) = kata.question else { continue };
        let q = question(number).unwrap_or_else(|| {
            panic!("src/catalogue/{}.rs: {} names question {number}; the questions are 1 to 5", kata.topic(), kata.id)
        });
        let opening = section(&read(q.answer), "## The question").join("\n");
        assert!(
            opening.contains(&format!("`{}`", kata.id)),
            "{}: its `## The question` section does not name `{}`, which src/catalogue/{}.rs links to Q{number}.\n\
             Fix: add `{}` to the Kata:/Related: lines there, or change that kata's `question`.",
            q.answer,
            kata.id,
            kata.topic(),
            kata.id
        );
    }
}

#[test]
fn test_names_map_to_their_kata() {
    assert_eq!(kata_for_test("pipes::ask_child::answers_in_order").unwrap().id, "pipes::ask_child");
    assert!(kata_for_test("pipes::ask_childish::x").is_none());
    assert!(kata_for_test("nothing").is_none());
}

// The interview questions: every question has a model answer in the fixed format, and an
// interview kata to set.

const SECTIONS: [&str; 5] =
    ["## The question", "## What a strong answer says", "## Rubric", "## The model answer", "## Follow-up questions"];

/// The lines of `text` under `heading`, up to the next `## ` heading.
fn section<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
    text.lines().skip_while(|l| l.trim_end() != heading).skip(1).take_while(|l| !l.starts_with("## ")).collect()
}

#[test]
fn every_model_answer_has_the_five_sections_in_order_and_three_numbered_follow_ups() {
    for q in QUESTIONS {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(q.answer);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("Q{}: {}: {e}", q.number, q.answer));
        let headings: Vec<&str> = text.lines().filter(|l| l.starts_with("## ")).map(str::trim_end).collect();
        assert_eq!(headings, SECTIONS, "Q{}: {} must have exactly these sections, in this order", q.number, q.answer);
        for heading in SECTIONS {
            let body = section(&text, heading);
            assert!(body.iter().any(|l| !l.trim().is_empty()), "Q{}: {heading} is empty", q.number);
        }
        let bullets = section(&text, "## What a strong answer says").iter().filter(|l| l.starts_with("- ")).count();
        assert!(bullets >= 3, "Q{}: `What a strong answer says` is a list of bullets ({bullets} found)", q.number);
        let rubric = section(&text, "## Rubric").join("\n");
        for mark in ["**Weak**", "**Solid**", "**Strong**"] {
            assert!(rubric.contains(mark), "Q{}: the rubric says what earns {mark}", q.number);
        }
        let follow_ups: Vec<&str> = section(&text, "## Follow-up questions")
            .into_iter()
            .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .collect();
        let numbered: Vec<String> = (1..=3).map(|n| format!("{n}. ")).collect();
        assert_eq!(follow_ups.len(), 3, "Q{}: exactly three numbered follow-up questions", q.number);
        for (line, prefix) in follow_ups.iter().zip(&numbered) {
            assert!(line.starts_with(prefix.as_str()), "Q{}: follow-ups are numbered 1. 2. 3.: {line}", q.number);
        }
    }
}

/// A mock interview sets one of a question's katas: each question has an interview kata of its
/// own, `interview::q<number>_…`, and every interview kata belongs to the question it is named for.
#[test]
fn every_question_has_an_interview_kata_of_its_own() {
    for q in QUESTIONS {
        let prefix = format!("interview::q{}_", q.number);
        assert!(
            q.katas().iter().any(|k| k.id.starts_with(&prefix)),
            "Q{}: no kata `{prefix}…` has `question: Some({})` in src/catalogue/interview.rs; its katas are {:?}.\n\
             Fix: give its interview kata `question: Some({})`.",
            q.number,
            q.number,
            q.katas().iter().map(|k| k.id).collect::<Vec<_>>(),
            q.number
        );
    }
    for kata in topic("interview").unwrap().katas {
        let named = kata.name().strip_prefix('q').and_then(|n| n.split('_').next()).and_then(|n| n.parse().ok());
        assert!(
            named.is_some() && kata.question == named,
            "src/catalogue/interview.rs: {} must have `question: Some(<the number in its name>)`, not {:?}",
            kata.id,
            kata.question
        );
    }
}

/// The header a kata's stub must open with: its id and title, how to grade it, how to get a
/// hint and, for an interview kata, where its model answer is. All of it follows from the
/// catalogue.
fn stub_header(kata: &Kata) -> Vec<String> {
    let mut lines = vec![
        format!("//! Kata {}: {}.", kata.id, kata.title),
        "//!".to_string(),
        format!("//! Grade it: `{}`", kata.test_command()),
        format!("//! Stuck? `cargo run -- hint {}`", kata.id),
    ];
    if let Some(q) = interview_question(kata) {
        lines.push(format!("//! Afterwards, read the model answer: `{}`.", q.answer));
    }
    lines
}

/// The header a kata's reference answer must open with.
fn answer_header(kata: &Kata) -> Vec<String> {
    let mut lines = vec![format!("//! Answer to kata {}: {}.", kata.id, kata.title)];
    if let Some(q) = interview_question(kata) {
        lines.extend(["//!".to_string(), format!("//! The model answer to the question: `{}`.", q.answer)]);
    }
    lines
}

/// The question an interview kata is the kata of (not merely related to).
fn interview_question(kata: &Kata) -> Option<&'static Question> {
    if kata.topic() == "interview" { kata.question.and_then(question) } else { None }
}

/// `file` opens with exactly `header`, followed by a blank `//!` line or by the end of the
/// module docs, so that the header is neither changed nor continued.
fn check_header(file: &str, header: &[String]) {
    let text = read(file);
    let lines: Vec<&str> = text.lines().collect();
    let expected = header.join("\n");
    let fix = format!(
        "Fix: make the file begin with these lines (the title comes from src/catalogue/; change it \
         there, and in both files, if it should read differently):\n{expected}\n"
    );
    for (n, want) in header.iter().enumerate() {
        let got = lines.get(n).copied().unwrap_or("(end of file)");
        assert!(got == want, "{file}, line {}: found\n{got}\nwhere the catalogue implies\n{want}\n{fix}", n + 1);
        assert!(want.len() <= 120, "{file}, line {}: longer than 120 characters; shorten the title", n + 1);
    }
    let next = lines.get(header.len()).copied().unwrap_or("");
    assert!(
        next == "//!" || !next.starts_with("//!"),
        "{file}, line {}: the header goes on ({next:?}); end it with a blank `//!` line.\n{fix}",
        header.len() + 1
    );
}

#[test]
fn every_stub_and_answer_opens_with_the_header_the_catalogue_implies() {
    for kata in katas() {
        check_header(&kata.file(), &stub_header(kata));
        check_header(&kata.solution_file(), &answer_header(kata));
    }
}

#[test]
fn every_topic_binary_is_also_the_peer_and_the_trees_hold_no_stray_files() {
    for topic in TOPICS {
        let tests = read(&format!("tests/{}.rs", topic.id));
        assert!(
            tests.lines().any(|l| l == "ipc_katas::peer_commands!(peer::run);"),
            "tests/{}.rs must register the peer program (ipc_katas::peer_commands!(peer::run);)",
            topic.id
        );
    }
    for tree in ["katas", "solutions"] {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(tree);
        for entry in fs::read_dir(&root).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                name == "mod.rs" || topic(&name).is_some(),
                "{tree}/{name} is neither mod.rs nor a topic of the catalogue"
            );
            if name == "mod.rs" {
                continue;
            }
            for file in fs::read_dir(root.join(&name)).unwrap() {
                let file = file.unwrap().file_name().into_string().unwrap();
                let path = format!("katas/{name}/{file}");
                let known = file == "mod.rs"
                    || katas().any(|k| k.file() == path)
                    || (tree == "solutions"
                        && file.ends_with(".md")
                        && QUESTIONS.iter().any(|q| q.answer == format!("solutions/{name}/{file}")));
                assert!(known, "{tree}/{name}/{file} is not in the catalogue");
            }
        }
    }
}
