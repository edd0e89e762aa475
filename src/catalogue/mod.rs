//! The catalogue: every kata, in the order a learner meets them, with where its stub, answer
//! and tests live and three hints from a nudge to a near-answer. The practice CLI reads it, the
//! grader names katas from it, and `tests` below keep it in step with the files.

mod fifos;
mod interview;
mod message_queues;
mod pipes;
mod producer_consumer;
mod shared_memory;
mod signals;
mod sockets;
mod sync;

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
    /// The file the learner edits; the answer is the same path under `solutions/`.
    pub file: &'static str,
    /// The interview question (1 to 5) this kata makes concrete, if any.
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

    /// The reference answer's path.
    pub fn solution_file(&self) -> String {
        self.file.replacen("katas/", "solutions/", 1)
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
];

/// One of the five classic interview questions: the prompt, the katas that make its answer
/// concrete, and a model answer to read after trying.
#[derive(Debug)]
pub struct Question {
    /// 1 to 5, as in the source guide.
    pub number: u8,
    pub title: &'static str,
    /// The question as an interviewer asks it.
    pub prompt: &'static str,
    /// Katas that make the answer concrete; a mock interview sets one of them.
    pub katas: &'static [&'static str],
    /// The model answer, a Markdown file beside the reference answers. Its sections, in order:
    /// `## The question`, `## What a strong answer says`, `## Rubric`, `## The model answer`,
    /// `## Follow-up questions` (exactly three, numbered). The CLI shows them by heading.
    pub answer: &'static str,
}

pub use interview::QUESTIONS;

/// The question with this number (1 to 5).
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

#[cfg(test)]
mod tests {
    //! The catalogue, the stubs, the answers and the graded tests stay in step.
    use super::*;
    use std::fs;
    use std::path::Path;

    fn read(path: &str) -> String {
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn every_kata_has_a_stub_an_answer_hints_and_graded_tests() {
        for kata in katas() {
            assert!(topic(kata.topic()).is_some(), "{}: unknown topic", kata.id);
            let stub = read(kata.file);
            assert!(stub.contains("todo!("), "{}: the stub {} has no todo!()", kata.id, kata.file);
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
                assert!(katas().any(|k| k.file == file), "{file} is not in the catalogue");
            }
        }
    }

    #[test]
    fn the_five_questions_are_numbered_in_order_and_name_real_katas() {
        assert_eq!(QUESTIONS.iter().map(|q| q.number).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        for q in QUESTIONS {
            assert!(!q.katas.is_empty(), "Q{} sets no kata", q.number);
            for id in q.katas {
                assert!(kata(id).is_some(), "Q{} names {id}, which is not in the catalogue", q.number);
            }
        }
    }

    #[test]
    fn test_names_map_to_their_kata() {
        assert_eq!(kata_for_test("pipes::ask_child::answers_in_order").unwrap().id, "pipes::ask_child");
        assert!(kata_for_test("pipes::ask_childish::x").is_none());
        assert!(kata_for_test("nothing").is_none());
    }
}
