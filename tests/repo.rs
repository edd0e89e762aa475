//! Checks of the repository itself, for CI and contributors: the catalogue (`src/catalogue/`)
//! is the one source of every kata fact, and everything that repeats one of them (the stubs'
//! and answers' paths and headers, the module lists, the peer program, the test files, the
//! classic mistakes, the README's Topics table, the model answers) is checked against it here.
//! Each failure names the file and the fix. Not graded tests, and never part of a learner's
//! `cargo test` (they need the `dev` feature: `cargo test --features dev --test repo`): a
//! learner's edited kata is not a stub any more.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use ipc_katas::catalogue::{Kata, QUESTIONS, Question, TOPICS, kata_for_test, katas, question, topic};

fn read(path: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_kata_has_a_stub_an_answer_and_hints() {
    for kata in katas() {
        for file in [kata.file(), kata.solution_file()] {
            assert!(
                root().join(&file).is_file(),
                "{file} is missing: src/catalogue/{}.rs lists {}, whose files follow from its id.\n\
                 Fix: write the file (the stub under katas/, the answer under solutions/), or remove the kata.",
                kata.topic(),
                kata.id
            );
        }
        let stub = read(&kata.file());
        assert!(
            stub.contains("todo!("),
            "{}: the stub has no todo!() left for the learner; if you solved it in place, `git checkout` it",
            kata.file()
        );
        let answer = read(&kata.solution_file());
        assert!(!answer.contains("todo!("), "{}: the answer still has a todo!()", kata.solution_file());
        assert!(
            (2..=3).contains(&kata.hints.len()),
            "src/catalogue/{}.rs: {}: give two or three hints",
            kata.topic(),
            kata.id
        );
    }
}

#[test]
fn every_topic_says_what_usually_hangs_it() {
    for topic in TOPICS {
        assert!((2..=5).contains(&topic.hang_causes.len()), "{}: give two to five hang causes", topic.id);
    }
}

#[test]
fn the_questions_are_numbered_from_1_in_order() {
    let numbers: Vec<u8> = QUESTIONS.iter().map(|q| q.number).collect();
    let expected: Vec<u8> = (1..=QUESTIONS.len() as u8).collect();
    assert_eq!(numbers, expected, "src/catalogue/interview.rs");
}

/// `mock --question N` accepts exactly the registry's numbers.
#[test]
fn the_mock_interview_accepts_every_question_number_and_no_other() {
    let main = read("src/main.rs");
    let range = format!("value_parser!(u8).range(1..={})", QUESTIONS.len());
    assert!(main.contains(&range), "src/main.rs: `mock --question` must take {range}, one per question");
}

/// A kata's question is kept once, in `Kata::question`; the model answer (written by hand) must
/// name every kata the catalogue links to its question, so that the two never tell a learner
/// different things.
#[test]
fn every_kata_linked_to_a_question_is_named_in_its_model_answer() {
    for kata in katas() {
        let Some(number) = kata.question else { continue };
        let q = question(number).unwrap_or_else(|| {
            panic!("src/catalogue/{}.rs: {} names question {number}; the questions are 1 to {}", kata.topic(), kata.id, QUESTIONS.len())
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

/// A mock interview sets one of a question's katas. Each question has a kata of its own, the last
/// one linked to it (`interview::q<number>_…` for the five classic questions), whose stub names
/// the model answer; every interview kata belongs to the question it is named for.
#[test]
fn every_question_has_a_kata_of_its_own() {
    for q in QUESTIONS {
        let own = q.own_kata().unwrap_or_else(|| {
            panic!("Q{}: no kata has `question: Some({})` in src/catalogue/; give its own kata one", q.number, q.number)
        });
        let prefix = format!("interview::q{}_", q.number);
        assert!(
            q.number > 5 || own.id.starts_with(&prefix),
            "Q{}: its own kata (the last linked to it) is {}, not `{prefix}…`.\n\
             Fix: give its interview kata `question: Some({})` in src/catalogue/interview.rs.",
            q.number,
            own.id,
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

/// The question `kata` is the own kata of (not merely related to).
fn interview_question(kata: &Kata) -> Option<&'static Question> {
    kata.question.and_then(question).filter(|q| q.own_kata().is_some_and(|own| own.id == kata.id))
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
fn every_topic_binary_is_also_the_peer() {
    for topic in TOPICS {
        let tests = read(&format!("tests/{}.rs", topic.id));
        assert!(
            tests.lines().any(|l| l == "ipc_katas::peer_commands!(peer::run);"),
            "tests/{}.rs must register the peer program (ipc_katas::peer_commands!(peer::run);)",
            topic.id
        );
    }
}

/// What `tree`/`path` is for, if the catalogue knows it.
fn known_file(tree: &str, path: &str) -> bool {
    let full = format!("{tree}/{path}");
    path == "mod.rs"
        || TOPICS.iter().any(|t| path == format!("{}/mod.rs", t.id))
        || katas().any(|k| full == k.file() || full == k.solution_file())
        || (tree == "solutions" && QUESTIONS.iter().any(|q| q.answer == full))
}

/// Like rustlings' `dev check`: `katas/` and `solutions/` hold the catalogue's kata files, the
/// model answers and the `mod.rs` files, nothing else (a stray file is a kata nobody grades, or
/// a leftover that a learner takes for one).
#[test]
fn the_kata_trees_hold_no_stray_files() {
    for tree in ["katas", "solutions"] {
        let mut dirs = vec![String::new()];
        while let Some(dir) = dirs.pop() {
            for name in entries(&format!("{tree}/{dir}")) {
                let path = format!("{dir}{name}");
                if root().join(tree).join(&path).is_dir() && dir.is_empty() && topic(&name).is_some() {
                    dirs.push(format!("{path}/"));
                    continue;
                }
                let fix = match path.split_once('/') {
                    Some((t, rest)) if rest.ends_with(".rs") && !rest.contains('/') => format!(
                        "if it is a new kata, add `{t}::{}` to src/catalogue/{t}.rs and declare it in the mod.rs \
                         of both trees; otherwise move it out of {tree}/ or delete it",
                        rest.trim_end_matches(".rs")
                    ),
                    _ => format!(
                        "move it out of {tree}/ or delete it (a topic's directory is named in TOPICS, \
                         src/catalogue/mod.rs)"
                    ),
                };
                assert!(
                    known_file(tree, &path),
                    "{tree}/{path} is not a file of the catalogue: {tree}/ holds only the kata files \
                     ({tree}/<topic>/<name>.rs for each kata in src/catalogue/){}, and the mod.rs files.\n\
                     Fix: {fix}.",
                    if tree == "solutions" { ", the model answers (solutions/interview/*.md)" } else { "" }
                );
            }
        }
    }
}

// The lists that repeat the catalogue (module declarations, the peer program, the test files,
// the classic mistakes, the README's Topics table): each checked against it, so that adding or
// renaming a kata or a topic fails here, naming the file to edit, until every list agrees.

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The names of the directory's entries, sorted.
fn entries(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The modules a file declares at its top level (`mod x;` or `pub mod x;`).
fn declared_modules(file: &str) -> BTreeSet<String> {
    read(file)
        .lines()
        .filter_map(|l| l.strip_prefix("pub ").unwrap_or(l).strip_prefix("mod ")?.strip_suffix(';'))
        .map(str::to_string)
        .collect()
}

fn topic_ids() -> BTreeSet<String> {
    TOPICS.iter().map(|t| t.id.to_string()).collect()
}

/// Asserts that `file` declares exactly `want`, naming what to add and what to remove.
fn assert_same_modules(file: &str, found: &BTreeSet<String>, want: &BTreeSet<String>, source: &str) {
    let missing: Vec<&String> = want.difference(found).collect();
    let extra: Vec<&String> = found.difference(want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{file} does not declare the modules {source} implies.\n\
         Fix: declare {missing:?} (`mod <name>;`) and remove {extra:?} there, or change {source}."
    );
}

#[test]
fn every_kata_id_is_topic_colon_colon_name_of_its_own_topic_and_unique() {
    let mut seen = BTreeSet::new();
    for topic in TOPICS {
        for kata in topic.katas {
            let ok = kata.id.split("::").count() == 2
                && kata.topic() == topic.id
                && kata.name().chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            assert!(
                ok,
                "src/catalogue/{}.rs: the kata id {:?} must be `{}::<name>` (lower case, digits, _): \
                 its files and tests are found from it",
                topic.id, kata.id, topic.id
            );
            assert!(seen.insert(kata.id), "src/catalogue/{}.rs: {} is in the catalogue twice", topic.id, kata.id);
        }
    }
}

#[test]
fn the_catalogue_has_one_module_file_per_topic() {
    let files: BTreeSet<String> =
        entries("src/catalogue").into_iter().filter_map(|f| Some(f.strip_suffix(".rs")?.to_string())).collect();
    let mut want = topic_ids();
    assert_same_modules("src/catalogue/mod.rs", &declared_modules("src/catalogue/mod.rs"), &want, "TOPICS there");
    want.insert("mod".to_string());
    assert_eq!(
        files, want,
        "src/catalogue/ must hold mod.rs and one <topic>.rs for each entry of TOPICS in src/catalogue/mod.rs, \
         no other file: add the topic to TOPICS, or remove the file"
    );
}

#[test]
fn the_kata_trees_declare_exactly_the_catalogues_topics_and_katas() {
    for tree in ["katas", "solutions"] {
        let file = format!("{tree}/mod.rs");
        assert_same_modules(
            &file,
            &declared_modules(&file),
            &topic_ids(),
            "the catalogue's topics (src/catalogue/mod.rs)",
        );
        for topic in TOPICS {
            let file = format!("{tree}/{}/mod.rs", topic.id);
            let want = topic.katas.iter().map(|k| k.name().to_string()).collect();
            let source = format!("the katas of src/catalogue/{}.rs", topic.id);
            assert_same_modules(&file, &declared_modules(&file), &want, &source);
        }
    }
    // Both trees declare the same API, so their module files are one text.
    for file in std::iter::once("mod.rs".to_string()).chain(TOPICS.iter().map(|t| format!("{}/mod.rs", t.id))) {
        assert!(
            read(&format!("katas/{file}")) == read(&format!("solutions/{file}")),
            "katas/{file} and solutions/{file} differ: they declare the same API. \
             Fix: make them identical (`cp katas/{file} solutions/{file}`, or the other way)."
        );
    }
}

/// Every topic has its graded test file `tests/<topic>.rs`, with a module per kata; every other
/// test file is a check of the repository, which a learner's plain `cargo test` never runs.
#[test]
fn every_topic_has_its_graded_tests_and_every_other_test_needs_the_dev_feature() {
    for topic in TOPICS {
        let file = format!("tests/{}.rs", topic.id);
        assert!(root().join(&file).is_file(), "{file} is missing: every topic has a graded test file of its own");
        let tests = read(&file);
        for kata in topic.katas {
            let module = format!("mod {} {{", kata.name());
            assert!(tests.contains(&module), "{file} has no `{module}`: {}'s graded tests go there", kata.id);
        }
    }
    let manifest = read("Cargo.toml");
    for file in entries("tests") {
        let Some(name) = file.strip_suffix(".rs") else { continue };
        if topic(name).is_some() {
            continue;
        }
        let block = manifest
            .split("[[test]]")
            .skip(1)
            .map(|b| b.split("\n[").next().unwrap_or(b))
            .find(|b| b.contains(&format!("path = \"tests/{file}\"")));
        assert!(
            block.is_some_and(|b| b.lines().any(|l| l.starts_with("required-features") && l.contains("\"dev\""))),
            "tests/{file} is not a topic of the catalogue, so it must not run in a learner's `cargo test`.\n\
             Fix: give it a [[test]] in Cargo.toml with `required-features = [\"dev\"]`, or add topic `{name}` \
             to src/catalogue/, or remove the file."
        );
    }
}

#[test]
fn the_peer_program_declares_each_of_its_topics_once() {
    let files: BTreeSet<String> = entries("tests/peer")
        .into_iter()
        .filter(|f| f != "mod.rs")
        .filter_map(|f| Some(f.strip_suffix(".rs")?.into()))
        .collect();
    assert_same_modules(
        "tests/peer/mod.rs",
        &declared_modules("tests/peer/mod.rs"),
        &files,
        "the files in tests/peer/",
    );
    // A topic's command enum left out of `peer::Command` is dead code, which clippy refuses.
    for name in &files {
        assert!(
            topic(name).is_some(),
            "tests/peer/{name}.rs: `{name}` is not a topic of the catalogue; rename or remove it"
        );
    }
}

#[test]
fn every_classic_mistake_is_filed_under_its_topic_and_kata() {
    for dir in entries("tests/mistakes") {
        let Some(topic) = topic(&dir) else {
            panic!(
                "tests/mistakes/{dir}/: `{dir}` is not a topic of the catalogue; move its patches to tests/mistakes/<topic>/"
            )
        };
        for file in entries(&format!("tests/mistakes/{dir}")) {
            let kata = file.strip_suffix(".patch").and_then(|f| f.split_once('-')).map(|(kata, _)| kata);
            assert!(
                kata.is_some_and(|k| topic.katas.iter().any(|t| t.name() == k)),
                "tests/mistakes/{dir}/{file}: a mistake is named <kata>-<what>.patch after a kata of {dir} \
                 (.ci/mistakes grades that kata); rename it"
            );
        }
    }
}

/// The README's Topics table, as the catalogue has it.
fn topics_table() -> String {
    let mut table = String::from("| topic | katas |\n| --- | --- |\n");
    for topic in TOPICS {
        let katas: Vec<String> = topic.katas.iter().map(|k| format!("`{}`", k.name())).collect();
        table.push_str(&format!("| {} | {} |\n", topic.id, katas.join(", ")));
    }
    table
}

#[test]
fn the_readme_topics_table_is_the_catalogue() {
    let readme = read("README.md");
    let table =
        readme.split("\n## Topics\n\n").nth(1).and_then(|rest| rest.split("\n\n").next()).map(|t| format!("{t}\n"));
    let want = topics_table();
    assert!(
        table.as_deref() == Some(want.as_str()),
        "README.md: the table under `## Topics` is not the catalogue's topics and katas, in order.\n\
         Fix: replace it (up to the blank line after it) with:\n\n{want}"
    );
}
