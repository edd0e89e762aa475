//! The peer program: the other side of a graded test, run as a separate program so that the two
//! processes share no ancestor's memory, only what the kernel gives them by name.
//!
//! The peer is the graded test binary itself, started again by [`Sandbox::peer`] with
//! `IPC_KATAS_PEER` in its environment: [`peer_commands!`](crate::peer_commands) registers a
//! function that runs before `main` (an ELF `.init_array` entry, as C's constructors are), and
//! when that variable is set it runs one peer command and exits instead of starting the test
//! harness. So the peer is `exec`ed fresh, like any unrelated program, yet needs no binary of its
//! own and is always built with the tests. The commands themselves live with the tests
//! (`tests/peer/`), since they call kata code; this module knows no topic.
//!
//! Its exit status tells the test what happened; stderr says why.
//!
//! [`Sandbox::peer`]: crate::grader::Sandbox::peer

use std::panic::{AssertUnwindSafe, catch_unwind};

/// The peer did its job.
pub const OK: i32 = 0;
/// The peer was called wrongly: a grader bug.
pub const USAGE: i32 = 2;
/// The kata code the peer ran reached a `todo!()`.
pub const NOT_IMPLEMENTED: i32 = 3;
/// An operation failed; stderr says which and why.
pub const FAILED: i32 = 4;
/// The kata code the peer ran panicked.
pub const PANICKED: i32 = 5;

/// The environment variable that turns the test binary into the peer program.
pub const ENV: &str = "IPC_KATAS_PEER";

/// What a peer command returns: `Err((exit status, why))` on failure.
pub type PeerResult = Result<(), (i32, String)>;

/// Turns an I/O error into a peer failure that says what was being done.
pub fn failed(what: &str) -> impl FnOnce(std::io::Error) -> (i32, String) + '_ {
    move |e| (FAILED, format!("{what}: {e} (kind {:?})", e.kind()))
}

/// The program to start as the peer: this test binary.
pub(crate) fn exe() -> &'static str {
    static EXE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    EXE.get_or_init(|| {
        std::env::current_exe().map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|_| "/proc/self/exe".into())
    })
}

/// Registers `run` (`fn(&[&str]) -> PeerResult`) as the peer program of this test binary: when
/// the binary starts with [`ENV`] set, the command in its arguments runs before `main` and the
/// process exits with its status. Use once, in the test binary's root.
#[macro_export]
macro_rules! peer_commands {
    ($run:path) => {
        #[used]
        // SAFETY: an `.init_array` entry is a function the C runtime calls before `main`, with no
        // arguments that it needs; `enter` only returns when this is not a peer run.
        #[unsafe(link_section = ".init_array")]
        static IPC_KATAS_PEER_ENTRY: extern "C" fn() = {
            extern "C" fn enter() {
                $crate::grader::peer::enter($run)
            }
            enter
        };
    };
}

/// Runs before `main` (see [`peer_commands!`](crate::peer_commands)): returns at once unless
/// this process was started as a peer; otherwise runs the command and exits.
pub fn enter(run: fn(&[&str]) -> PeerResult) {
    crate::grader::supervise::before_std_start();
    if std::env::var_os(ENV).is_none() {
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(main(&args, run));
}

/// Runs one peer command; returns the exit status.
fn main(args: &[String], run: fn(&[&str]) -> PeerResult) -> i32 {
    // SAFETY: prctl with integer arguments: die with the test that started us.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Panics are reported through the exit status; the default hook would only add noise.
    // The hook only keeps where the panic happened, for the report below.
    std::panic::set_hook(Box::new(super::remember_panic_location));
    let result = catch_unwind(AssertUnwindSafe(|| run(&args)));
    match result {
        Ok(Ok(())) => OK,
        Ok(Err((code, why))) => {
            eprintln!("{why}");
            code
        }
        Err(payload) => match super::caught_panic(payload.as_ref()) {
            super::Outcome::NotImplemented(_) => {
                eprintln!("{}", super::panic_text(payload.as_ref()));
                NOT_IMPLEMENTED
            }
            crash => {
                eprintln!("{}", crash.text());
                PANICKED
            }
        },
    }
}
