//! The catalogue: every kata, in the order a learner meets them, with where its stub, answer
//! and tests live and three hints from a nudge to a near-answer. The practice CLI reads it, the
//! grader names katas from it, and `tests` below keep it in step with the files.

/// One topic: a module in `katas/` and `solutions/`, and a graded test file `tests/<id>.rs`.
#[derive(Debug)]
pub struct Topic {
    pub id: &'static str,
    pub title: &'static str,
    /// One paragraph: what the topic practises.
    pub summary: &'static str,
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

pub const TOPICS: &[Topic] = &[
    Topic {
        id: "pipes",
        title: "Anonymous pipes",
        summary: "pipe, fork, dup2 and exec: move bytes between a parent and its children, \
                  build a shell pipeline, and survive a reader that went away.",
    },
    Topic {
        id: "fifos",
        title: "Named pipes (FIFOs)",
        summary: "mkfifo and open: a pipe with a name in the file system, between processes \
                  that share no ancestor, with records that several writers send at once.",
    },
];

pub const KATAS: &[Kata] = &[
    Kata {
        id: "pipes::child_to_parent",
        title: "A child sends bytes to its parent",
        file: "katas/pipes/child_to_parent.rs",
        question: None,
        hints: &[
            "Make the pipe before you fork, so both processes hold both ends. Then each side \
             closes the end it does not use: the child keeps only the write end, the parent only \
             the read end.",
            "The parent sees end-of-file only when every write end is closed, its own included. \
             Read until read returns 0 (File::read_to_end does it); one read returns at most what \
             is in the pipe, never more than 64 KiB.",
            "Order matters: read everything first, then waitpid the child. A child writing more \
             than the pipe holds blocks until the parent reads, so waiting first deadlocks. The \
             child ends with std::process::exit(0) (or libc::_exit), never a return.",
        ],
    },
    Kata {
        id: "pipes::ask_child",
        title: "Ask a child questions over two pipes",
        file: "katas/pipes/ask_child.rs",
        question: Some(2),
        hints: &[
            "A pipe carries one direction: you need two, requests down and answers up. A byte \
             stream has no message boundaries, so frame each message, for example a u32 length \
             followed by the bytes.",
            "The child reads a request, calls answer(&request) and writes the answer, until it \
             sees end-of-file on the request pipe. The parent closes the request pipe when it has \
             sent everything; that is how the child knows it is done.",
            "Deadlock watch: if the parent writes every request before reading any answer, both \
             pipes fill up and both sides block in write. Go in lockstep (send one request, read \
             its answer), or write from one process or thread while reading in another.",
        ],
    },
    Kata {
        id: "pipes::pipeline",
        title: "A shell pipeline: a | b | c",
        file: "katas/pipes/pipeline.rs",
        question: None,
        hints: &[
            "One pipe between each pair of neighbours, plus one to feed the first stage and one \
             to collect the last. In each child, dup2 the right ends onto 0 and 1, then execvp.",
            "Every process must close every pipe end it does not use, the parent included, or a \
             stage never sees end-of-file and the pipeline hangs. Use O_CLOEXEC (pipe2) so exec \
             drops the leftovers for you.",
            "Feed the input and collect the output at the same time (a writer thread, or a \
             forked feeder), or a large input and a large output block each other. Report exec \
             failures through a CLOEXEC pipe, as std::process::Command does; then waitpid every \
             stage and fail if any exited non-zero.",
        ],
    },
    Kata {
        id: "pipes::broken_pipe",
        title: "Write to a pipe nobody reads",
        file: "katas/pipes/broken_pipe.rs",
        question: None,
        hints: &[
            "A write to a pipe with no reader raises SIGPIPE, whose default action kills the \
             process; only if the signal is ignored or blocked does write return EPIPE.",
            "Ignoring SIGPIPE for the whole process changes every other part of the program. A \
             library should block it in the calling thread (pthread_sigmask), write, and restore \
             the mask.",
            "A SIGPIPE raised while blocked stays pending: take it with sigtimedwait (zero \
             timeout) before restoring the mask, or it kills you the moment you unblock it.",
        ],
    },
    Kata {
        id: "fifos::make_fifo",
        title: "Make a named pipe",
        file: "katas/fifos/make_fifo.rs",
        question: Some(3),
        hints: &[
            "mkfifo(3) makes the name; nix::unistd::mkfifo wraps it and returns an Errno, which \
             converts into io::Error.",
            "Give the mode explicitly: 0o600, owner read and write. 0666 lets every user on the \
             machine read and write your pipe.",
            "Do not remove an existing file first: if the path is taken, fail with the error \
             mkfifo gives (EEXIST, io::ErrorKind::AlreadyExists).",
        ],
    },
    Kata {
        id: "fifos::send_receive",
        title: "Send bytes through a FIFO between unrelated processes",
        file: "katas/fifos/send_receive.rs",
        question: Some(3),
        hints: &[
            "Opening a FIFO blocks until the other end is opened too: a writer waits for a \
             reader, a reader for a writer. Plain File::open and OpenOptions do exactly that.",
            "The reader sees end-of-file when the writer closes, so read to the end; the writer \
             must write everything (write_all) and then close by dropping the File.",
            "Open the reading side read-only. A reader that opens with O_RDWR is a writer too, \
             and never sees end-of-file. Do not unlink the FIFO: it belongs to whoever made it.",
        ],
    },
    Kata {
        id: "fifos::records",
        title: "Several writers, one reader, records kept whole",
        file: "katas/fifos/records.rs",
        question: Some(3),
        hints: &[
            "A write of at most PIPE_BUF (4096) bytes to a pipe or FIFO is atomic: it is never \
             mixed with another writer's data. Larger writes, or one record sent in two writes, \
             can be.",
            "Build each record (its 2-byte length, then its bytes) in one buffer and send it with \
             a single write; check that write wrote all of it. Refuse a record that cannot fit \
             before writing anything.",
            "The reader opens read-only and reads until end-of-file (every writer closed), then \
             splits the stream into records by their lengths; a record cut short at the end is \
             an error (InvalidData), not a record.",
        ],
    },
];

/// The kata a test grades: the longest kata id that the test's path (without the test binary's
/// crate name) starts with, e.g. `pipes::child_to_parent::…` grades `pipes::child_to_parent`.
pub fn kata_for_test(test: &str) -> Option<&'static Kata> {
    KATAS.iter().filter(|k| test.starts_with(k.id) && test[k.id.len()..].starts_with("::")).max_by_key(|k| k.id.len())
}

pub fn kata(id: &str) -> Option<&'static Kata> {
    KATAS.iter().find(|k| k.id == id)
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
        for kata in KATAS {
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
    fn every_kata_file_in_the_tree_is_in_the_catalogue() {
        for topic in TOPICS {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("katas").join(topic.id);
            for entry in fs::read_dir(&dir).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                if name == "mod.rs" {
                    continue;
                }
                let file = format!("katas/{}/{name}", topic.id);
                assert!(KATAS.iter().any(|k| k.file == file), "{file} is not in the catalogue");
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
