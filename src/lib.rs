//! ipc-katas: practise Unix inter-process communication, graded by `cargo test`.
//!
//! This package is the grader, the catalogue and the practice CLI. It never depends on the kata
//! code: the learner's attempt (`katas/`, or `solutions/` with `--features solutions`) is the
//! `katas` crate in `attempt/`, which only the graded tests (`tests/<topic>.rs`) use. So the CLI
//! builds and runs whatever state the katas are in.
//!
//! - [`catalogue`]: every kata, its files, its tests and its hints.
//! - [`grader`]: the sandbox that runs graded tests and explains what went wrong. It knows no
//!   kata: [`graded`] tells it what a graded test's report says about its kata.
//! - [`kit`]: what graded tests share beyond the sandbox: watching a call wait, the kernel's tables,
//!   tagged arrivals, objects the test owns.

pub mod catalogue;
pub mod grader;
pub mod kit;

/// A [`Grade`](crate::grader::Grade) for the enclosing test function, with its kata's footer
/// and its topic's usual hang causes (see [`graded`]).
#[macro_export]
macro_rules! grade {
    () => {
        $crate::graded(&$crate::test_name!())
    };
}

/// The [`Grade`](grader::Grade) of the graded test named `test` (`pipes::child_to_parent::…`):
/// its report names the kata the test's module path starts with, the file to edit, the command
/// that grades it and its hint, and a hang lists its topic's usual causes.
///
/// Panics when the path names no kata of the catalogue: a graded test must grade one.
pub fn graded(test: &str) -> grader::Grade {
    let Some(kata) = catalogue::kata_for_test(test) else {
        panic!("{test} grades no kata: its module path must start with a kata id from src/catalogue/")
    };
    grader::Grade::new(test).subject(subject(kata))
}

/// What a report says about `kata`'s tests.
fn subject(kata: &catalogue::Kata) -> grader::Subject {
    let causes = catalogue::topic(kata.topic()).map_or(&[][..], |t| t.hang_causes);
    grader::Subject {
        footer: vec![
            format!("kata:  {} ({})", kata.id, kata.title),
            format!("edit:  {}", kata.file()),
            format!("grade: {}", kata.test_command()),
            format!("hint:  cargo run -- hint {}", kata.id),
        ],
        hang_causes: causes.iter().map(|c| c.to_string()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_graded_test_names_its_kata_file_command_and_hint() {
        let kata = catalogue::kata("pipes::child_to_parent").unwrap();
        let subject = subject(kata);
        assert_eq!(subject.footer[0], format!("kata:  pipes::child_to_parent ({})", kata.title));
        assert_eq!(subject.footer[1], "edit:  katas/pipes/child_to_parent.rs");
        assert_eq!(subject.footer[2], "grade: cargo test --test pipes child_to_parent::");
        assert_eq!(subject.footer[3], "hint:  cargo run -- hint pipes::child_to_parent");
        assert_eq!(subject.hang_causes.len(), catalogue::topic("pipes").unwrap().hang_causes.len());
    }

    #[test]
    fn a_graded_test_that_names_no_kata_panics_saying_so() {
        let payload = std::panic::catch_unwind(|| graded("pipes::no_such_kata::a_test")).err().unwrap();
        let text = payload.downcast_ref::<String>().unwrap();
        assert!(text.contains("pipes::no_such_kata::a_test grades no kata"), "{text}");
    }
}
