//! The mock interview: one of the interview questions to answer aloud, and a kata to code
//! against a timer, with the hints hidden. `--submit` grades it and hands out the debrief: the
//! time taken, the tests passed, the rubric, the follow-up questions and the model answer.
//! `--interviewer` prints the sheet a practice partner reads from.

use std::io;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use ipc_katas::catalogue::{self, Kata, QUESTIONS, Question};

use super::grading::State;
use super::report::{self, NextHint};
use super::state::{MockRound, StateFile};
use super::ui::Ui;

/// The longest round a timer accepts: a real interview loop is shorter.
pub const MAX_MINUTES: u64 = 240;

/// A question and a kata, picked from a seed: the same seed picks the same pair on any machine.
#[derive(Debug)]
pub struct Pick {
    pub question: &'static Question,
    pub kata: &'static Kata,
}

/// splitmix64: a tiny, well-mixed generator; all a repeatable pick needs.
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The pair for `seed`, from `question` if one is given, among the katas `done` says are not
/// done yet (the learner's solved or started katas make a poor interview), or among all of them
/// when every one is done. The same seed and the same progress pick the same pair.
pub fn pick(seed: u64, question: Option<u8>, done: &dyn Fn(&Kata) -> bool) -> io::Result<Pick> {
    let first = mix(seed);
    let fresh = |q: &Question| -> Vec<&'static Kata> { q.katas().into_iter().filter(|k| !done(k)).collect() };
    let question = match question {
        Some(n) => catalogue::question(n).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("there is no question {n}: the questions are 1 to {}", QUESTIONS.len()),
            )
        })?,
        None => {
            let open: Vec<&'static Question> = QUESTIONS.iter().filter(|q| !fresh(q).is_empty()).collect();
            let from: Vec<&'static Question> = if open.is_empty() { QUESTIONS.iter().collect() } else { open };
            from[(first % from.len() as u64) as usize]
        }
    };
    let open = fresh(question);
    let katas = if open.is_empty() { question.katas() } else { open };
    let Some(&kata) = katas.get((mix(first) % katas.len().max(1) as u64) as usize) else {
        return Err(io::Error::other(format!("no kata of the catalogue makes Q{} concrete", question.number)));
    };
    Ok(Pick { question, kata })
}

/// Whether the learner has already worked on `kata` (its file is no longer the stub).
fn done(root: &Path) -> impl Fn(&Kata) -> bool + '_ {
    move |kata| super::repo::has_an_attempt(root, kata)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `HH:MM` of a Unix time in the local time zone.
fn clock(unix: u64) -> String {
    let t = libc::time_t::try_from(unix).unwrap_or(0);
    // SAFETY: an all-zero `tm` is a valid value of a plain C struct of integers (and a pointer
    // that localtime_r overwrites); localtime_r only writes into the `tm` we pass.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        tm
    };
    format!("{:02}:{:02}", tm.tm_hour, tm.tm_min)
}

/// The text under `## <heading>` in a model answer, up to the next `## `.
pub fn section(doc: &str, heading: &str) -> Option<String> {
    let mut lines = doc.lines().skip_while(|l| l.trim_end() != format!("## {heading}"));
    lines.next()?;
    let body: Vec<&str> = lines.take_while(|l| !l.starts_with("## ")).collect();
    let text = body.join("\n").trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn model_answer(root: &Path, question: &Question) -> io::Result<String> {
    std::fs::read_to_string(root.join(question.answer)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("the model answer of Q{} ({}) cannot be read: {e}", question.number, question.answer),
        )
    })
}

fn print_section(ui: &Ui, doc: &str, heading: &str) {
    println!("{}", ui.bold(heading));
    match section(doc, heading) {
        Some(text) => println!("{}\n", indent(&text)),
        None => println!("  (this model answer has no `## {heading}` section)\n"),
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| if l.is_empty() { String::new() } else { format!("  {l}") }).collect::<Vec<_>>().join("\n")
}

/// The kata's brief: the doc comment of each public item in its original stub (from git; the
/// learner's file only if git has none), with the item's first line.
fn brief(root: &Path, kata: &Kata) -> io::Result<String> {
    let text = match super::repo::original_stub(root, kata) {
        Ok(stub) => stub,
        Err(_) => std::fs::read_to_string(root.join(kata.file()))?,
    };
    let mut out = Vec::new();
    let mut in_doc = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(doc) = trimmed.strip_prefix("///") {
            out.push(format!("  {}", doc.strip_prefix(' ').unwrap_or(doc)));
            in_doc = true;
        } else if in_doc && !trimmed.starts_with("#[") {
            out.push(format!("  {}\n", line.trim_end_matches(" {").trim_end_matches('{').trim_end()));
            in_doc = false;
        }
    }
    Ok(out.join("\n"))
}

fn question_heading(ui: &Ui, question: &Question) -> String {
    ui.bold(&format!("Question {} of {} — {}", question.number, QUESTIONS.len(), question.title))
}

/// `cargo run -- mock`: starts a round.
pub fn start(ui: &Ui, root: &Path, seed: Option<u64>, question: Option<u8>, minutes: u64) -> io::Result<bool> {
    if !(1..=MAX_MINUTES).contains(&minutes) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--minutes {minutes}: give a time from 1 to {MAX_MINUTES} minutes"),
        ));
    }
    let mut state = StateFile::load(root);
    if let Some(round) = &state.mock {
        println!(
            "A mock interview is under way: {} (question {}), started {} minutes ago.\n\
             Submit it with `cargo run -- mock --submit`, or give it up with `cargo run -- mock --abandon`.",
            round.kata,
            round.question,
            now().saturating_sub(round.started) / 60
        );
        return Ok(false);
    }
    let seed = seed.unwrap_or_else(|| mix(now() ^ u64::from(std::process::id())) % 10_000);
    let pick = pick(seed, question, &done(root))?;
    let doc = model_answer(root, pick.question)?;
    let started = now();
    state.set_mock(Some(MockRound {
        kata: pick.kata.id.to_string(),
        question: pick.question.number,
        started,
        minutes,
        seed,
    }))?;

    println!("{}", ui.bold("Mock interview"));
    println!("{}\n", ui.dim(&format!("seed {seed}: `cargo run -- mock --seed {seed}` sets the same round again")));
    println!("{}", question_heading(ui, pick.question));
    println!("{}\n", indent(&section(&doc, "The question").unwrap_or_else(|| pick.question.prompt.to_string())));
    println!("  Answer it aloud first, in two or three minutes, as you would to an interviewer.\n");
    println!("{}", ui.bold(&format!("Coding task — {}: {}", pick.kata.id, pick.kata.title)));
    println!("  open   {}   (the brief below is its doc comments)\n", pick.kata.file());
    println!("{}", brief(root, pick.kata)?);
    if super::repo::has_an_attempt(root, pick.kata) {
        println!("  Note: {} already holds an attempt of yours. Start from the stub with", pick.kata.file());
        println!("  `cargo run -- reset {}`, or carry on from it.\n", pick.kata.id);
    }
    println!(
        "{} minutes, until {}. Hints are hidden until you submit. When you are done:",
        ui.bold(&minutes.to_string()),
        clock(started + minutes * 60)
    );
    println!("  cargo run -- mock --submit");
    println!("{}", ui.dim("A practice partner reads from: cargo run -- mock --interviewer"));
    Ok(true)
}

/// `cargo run -- mock --submit`: grades the round's kata and hands out the debrief.
pub fn submit(ui: &Ui, root: &Path, solutions: bool) -> io::Result<bool> {
    let mut state = StateFile::load(root);
    let round = state.mock.clone().ok_or_else(no_round)?;
    let (kata, question) = round_of(&round)?;
    let taken = now().saturating_sub(round.started);
    let run = report::grade_kata(ui, root, kata, solutions)?;
    let result = report::kata_report(ui, kata, &run, NextHint::Level(state.hints_shown(kata.id)));
    let tests = run.of_kata(kata);
    let passed = tests.iter().filter(|t| t.passed).count();
    state.set_mock(None)?;

    println!("\n{}", ui.bold("Debrief"));
    let minutes = taken.div_ceil(60);
    let time = if minutes <= round.minutes {
        format!("{minutes} of your {} minutes", round.minutes)
    } else {
        format!("{minutes} minutes: {} over your {}", minutes - round.minutes, round.minutes)
    };
    println!("  time taken    {time}");
    println!("  tests passed  {passed} of {}{}\n", tests.len(), if result == State::Solved { ": solved" } else { "" });
    let doc = model_answer(root, question)?;
    println!("{}\n", question_heading(ui, question));
    print_section(ui, &doc, "Rubric");
    print_section(ui, &doc, "Follow-up questions");
    print_section(ui, &doc, "The model answer");
    println!(
        "{}",
        ui.dim(&format!("The whole model answer: {}. The reference code: {}", question.answer, kata.solution_file()))
    );
    Ok(result == State::Solved)
}

/// `cargo run -- mock --interviewer`: the sheet a practice partner reads from.
pub fn interviewer(ui: &Ui, root: &Path, seed: Option<u64>, question: Option<u8>) -> io::Result<bool> {
    let state = StateFile::load(root);
    let (kata, question, note) = match (&state.mock, seed, question) {
        (Some(round), None, None) => {
            let (kata, question) = round_of(round)?;
            let left = (round.started + round.minutes * 60).saturating_sub(now()) / 60;
            (
                kata,
                question,
                format!("The round under way (seed {}): {left} of {} minutes left.", round.seed, round.minutes),
            )
        }
        _ => {
            let seed = seed.unwrap_or_else(|| mix(now()) % 10_000);
            let pick = pick(seed, question, &done(root))?;
            let note = format!(
                "The candidate starts the same round with: cargo run -- mock --seed {seed}{}",
                match question {
                    Some(n) => format!(" --question {n}"),
                    None => String::new(),
                }
            );
            (pick.kata, pick.question, note)
        }
    };
    let doc = model_answer(root, question)?;
    println!("{}", ui.bold("Interviewer's sheet (do not show the candidate)"));
    println!("{}\n", ui.dim(&note));
    println!("{}", question_heading(ui, question));
    println!("{}\n", indent(&section(&doc, "The question").unwrap_or_else(|| question.prompt.to_string())));
    println!("{}", ui.bold("The coding task"));
    println!(
        "  {}: {}\n  The candidate edits {}; the reference is {}.\n",
        kata.id,
        kata.title,
        kata.file(),
        kata.solution_file()
    );
    print_section(ui, &doc, "What a strong answer says");
    print_section(ui, &doc, "Rubric");
    print_section(ui, &doc, "Follow-up questions");
    println!("{}", ui.dim(&format!("The whole model answer: {}", question.answer)));
    Ok(true)
}

/// `cargo run -- mock --abandon`.
pub fn abandon(root: &Path) -> io::Result<bool> {
    let mut state = StateFile::load(root);
    let round = state.mock.clone().ok_or_else(no_round)?;
    state.set_mock(None)?;
    println!(
        "The mock interview on {} is given up; its hints show again. Start another: cargo run -- mock",
        round.kata
    );
    Ok(true)
}

fn no_round() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "no mock interview is under way: start one with `cargo run -- mock`")
}

fn round_of(round: &MockRound) -> io::Result<(&'static Kata, &'static Question)> {
    let stale = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the mock round in .ipc-katas-state names {} (Q{}), which this version does not know: `cargo run -- mock --abandon`",
                round.kata, round.question
            ),
        )
    };
    Ok((catalogue::kata(&round.kata).ok_or_else(stale)?, catalogue::question(round.question).ok_or_else(stale)?))
}

/// The kata under a mock round, if one is under way: its hints and answer stay hidden.
pub fn hidden_kata(root: &Path) -> Option<String> {
    StateFile::load(root).mock.map(|m| m.kata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_picks_the_same_round_and_seeds_reach_every_question() {
        let a = pick(42, None, &|_| false).unwrap();
        let b = pick(42, None, &|_| false).unwrap();
        assert_eq!((a.question.number, a.kata.id), (b.question.number, b.kata.id));
        let numbers: std::collections::BTreeSet<u8> =
            (0..200).map(|s| pick(s, None, &|_| false).unwrap().question.number).collect();
        assert_eq!(numbers.len(), QUESTIONS.len());
        for seed in 0..50 {
            let p = pick(seed, Some(3), &|_| false).unwrap();
            assert_eq!(p.question.number, 3);
            assert_eq!(p.kata.question, Some(3));
        }
    }

    #[test]
    fn a_round_skips_the_katas_already_worked_on_while_any_is_left() {
        let q1 = catalogue::question(1).unwrap();
        let keep = q1.katas()[0].id;
        for seed in 0..50 {
            let p = pick(seed, None, &|k: &Kata| k.id != keep).unwrap();
            assert_eq!((p.question.number, p.kata.id), (1, keep), "seed {seed}");
            let all = pick(seed, Some(2), &|_| true).unwrap();
            assert_eq!(all.kata.question, Some(2));
        }
    }

    #[test]
    fn a_question_out_of_range_is_a_clear_error() {
        let past = QUESTIONS.len() as u8 + 1;
        let err = pick(1, Some(past), &|_| false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains(&format!("1 to {}", QUESTIONS.len())), "{err}");
    }

    #[test]
    fn a_section_is_the_text_under_its_heading() {
        let doc = "# Q\n\n## The question\n\nWhy?\n\n## Rubric\n- weak\n- strong\n\n## Follow-up questions\n1. a\n";
        assert_eq!(section(doc, "The question").as_deref(), Some("Why?"));
        assert_eq!(section(doc, "Rubric").as_deref(), Some("- weak\n- strong"));
        assert_eq!(section(doc, "Follow-up questions").as_deref(), Some("1. a"));
        assert_eq!(section(doc, "Missing"), None);
    }
}
