//! The catalogue: every kata, in the order a learner meets them, with its title, the interview
//! question it makes concrete, and hints from a nudge to a near-answer. It is the one source of
//! these facts: a kata's files follow from its id (`katas/<topic>/<name>.rs`, the same under
//! `solutions/`, tests in `tests/<topic>.rs`), a question's katas from `Kata::question`. The
//! practice CLI reads it, the grader names katas from it, and `tests/repo.rs`
//! (`cargo test --features dev --test repo`) checks the files, the stub headers and the README
//! against it.

mod event_loop;
mod fifos;
mod interview;
mod message_queues;
mod pipes;
mod producer_consumer;
mod shared_memory;
mod signals;
mod sockets;
mod sync;
mod trust;

/// One topic: a module in `katas/` and `solutions/`, and a graded test file `tests/<id>.rs`.
#[derive(Debug)]
pub struct Topic {
    pub id: &'static str,
    pub title: &'static str,
    /// One paragraph: what the topic practises.
    pub summary: &'static str,
    /// What usually makes an attempt at this topic hang: a hung test lists them.
    pub hang_causes: &'static [&'static str],
    pub katas: &'static [Kata],
}

/// One kata: a function or type the learner writes.
#[derive(Debug)]
pub struct Kata {
    /// `topic::name`, also the module path of its graded tests (`tests/<topic>.rs`, `mod <name>`).
    pub id: &'static str,
    pub title: &'static str,
    /// The interview question (numbered from 1) this kata makes concrete, if any: the one record of the
    /// link ([`Question::katas`] reads it), named in the question's model answer too.
    pub question: Option<u8>,
    /// From a nudge to a near-answer.
    pub hints: &'static [&'static str],
}

impl Kata {
    pub fn topic(&self) -> &'static str {
        self.id.split("::").next().unwrap_or(self.id)
    }

    pub fn name(&self) -> &'static str {
        self.id.split("::").nth(1).unwrap_or(self.id)
    }

    /// The file the learner edits, `katas/<topic>/<name>.rs`: the id says where it is.
    pub fn file(&self) -> String {
        format!("katas/{}/{}.rs", self.topic(), self.name())
    }

    /// The reference answer's path, `solutions/<topic>/<name>.rs`.
    pub fn solution_file(&self) -> String {
        format!("solutions/{}/{}.rs", self.topic(), self.name())
    }

    /// The command that grades just this kata.
    pub fn test_command(&self) -> String {
        format!("cargo test --test {} {}::", self.topic(), self.name())
    }
}

/// Every topic, in the order a learner meets them; each file beside this one holds one.
pub const TOPICS: &[Topic] = &[
    pipes::TOPIC,
    fifos::TOPIC,
    shared_memory::TOPIC,
    message_queues::TOPIC,
    sockets::TOPIC,
    signals::TOPIC,
    sync::TOPIC,
    producer_consumer::TOPIC,
    interview::TOPIC,
    event_loop::TOPIC,
    trust::TOPIC,
];

/// One interview question: the prompt and a model answer to read after trying. The katas that
/// make its answer concrete are [`Question::katas`]; the last of them is its own kata.
#[derive(Debug)]
pub struct Question {
    /// From 1: the source guide's five, then today's.
    pub number: u8,
    pub title: &'static str,
    /// The question as an interviewer asks it.
    pub prompt: &'static str,
    /// The model answer, a Markdown file beside the reference answers. Its sections, in order:
    /// `## The question`, `## What a strong answer says`, `## Rubric`, `## The model answer`,
    /// `## Follow-up questions` (exactly three, numbered). The CLI shows them by heading.
    pub answer: &'static str,
}

impl Question {
    /// The katas that make the answer concrete, in catalogue order (the question's own interview
    /// kata last): those whose [`Kata::question`] is this question. A mock interview sets one.
    pub fn katas(&self) -> Vec<&'static Kata> {
        katas().filter(|k| k.question == Some(self.number)).collect()
    }

    /// The kata made for this question (its model answer is named in that kata's header): the
    /// last of [`Question::katas`], `interview::q<number>_…` for the classic five.
    pub fn own_kata(&self) -> Option<&'static Kata> {
        self.katas().last().copied()
    }
}

pub use interview::QUESTIONS;

/// The question with this number (from 1 to `QUESTIONS.len()`).
pub fn question(number: u8) -> Option<&'static Question> {
    QUESTIONS.iter().find(|q| q.number == number)
}

/// Every kata, topic by topic.
pub fn katas() -> impl Iterator<Item = &'static Kata> {
    TOPICS.iter().flat_map(|t| t.katas)
}

/// The kata a test grades: the longest kata id that the test's path (without the test binary's
/// crate name) starts with, e.g. `pipes::child_to_parent::…` grades `pipes::child_to_parent`.
pub fn kata_for_test(test: &str) -> Option<&'static Kata> {
    katas().filter(|k| test.starts_with(k.id) && test[k.id.len()..].starts_with("::")).max_by_key(|k| k.id.len())
}

pub fn kata(id: &str) -> Option<&'static Kata> {
    katas().find(|k| k.id == id)
}

pub fn topic(id: &str) -> Option<&'static Topic> {
    TOPICS.iter().find(|t| t.id == id)
}
