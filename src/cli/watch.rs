//! `cargo run -- watch`: re-grade the kata being edited each time a file under `katas/` is
//! saved. Keys: `h` the next hint, `n` skip to the next kata, `r` grade again, `q` quit.
//!
//! Grading runs in the background (`cargo test` in its own process group), so the screen and
//! the keys stay alive while an attempt hangs; the grader's own deadline ends such a run. A save
//! during a run is graded when the run ends: stopping a run half-way would skip the grader's
//! clean-up of the IPC objects the attempt made.

use std::collections::HashMap;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use ipc_katas::catalogue::{self, Kata};
use nix::sys::termios::{self, LocalFlags, SetArg, Termios};
use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{DebounceEventResult, new_debouncer};

use super::grading::{Grading, Run, State};
use super::report::{self, NextHint};
use super::state::StateFile;
use super::ui::Ui;

enum Event {
    Key(char),
    /// A file under `katas/` was saved.
    Saved(PathBuf),
    /// The watcher failed (the directory was removed, inotify limits).
    WatchError(String),
}

/// Keys one at a time, without echo, while it lives; the terminal as it was afterwards.
struct RawKeys {
    saved: Termios,
}

impl RawKeys {
    fn new() -> io::Result<RawKeys> {
        let stdin = io::stdin();
        let saved = termios::tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        // No line editing, no echo, and Ctrl-C arrives as a key (so that quitting restores the
        // terminal). Output processing stays on: `\n` still starts a new line.
        raw.local_flags.remove(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw)?;
        Ok(RawKeys { saved })
    }
}

impl Drop for RawKeys {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(io::stdin(), SetArg::TCSANOW, &self.saved);
    }
}

/// Reads keys on a thread: single key presses on a terminal, or the first character of each
/// line when stdin is a pipe (scripts and tests). End of input stops the keys, not the watch.
fn read_keys(events: Sender<Event>) {
    thread::spawn(move || {
        if io::stdin().is_terminal() {
            let mut byte = [0u8; 1];
            while io::stdin().read(&mut byte).is_ok_and(|n| n == 1) {
                let key = match byte[0] {
                    3 | 4 => 'q', // Ctrl-C, Ctrl-D
                    b => char::from(b).to_ascii_lowercase(),
                };
                if events.send(Event::Key(key)).is_err() {
                    return;
                }
            }
        } else {
            for line in io::stdin().lock().lines() {
                let Ok(line) = line else { return };
                if let Some(key) = line.trim().chars().next() {
                    if events.send(Event::Key(key.to_ascii_lowercase())).is_err() {
                        return;
                    }
                }
            }
        }
    });
}

/// The first kata whose file still holds a `todo!(`: the next to do, without grading them all.
fn first_unattempted(root: &Path) -> &'static Kata {
    catalogue::katas()
        .find(|k| std::fs::read_to_string(root.join(k.file())).is_ok_and(|text| text.contains("todo!(")))
        .unwrap_or_else(|| catalogue::katas().next().expect("the catalogue has katas"))
}

/// When each file under `katas/` was last changed: the watcher also reports files being read
/// (the compiler reads every kata while grading), so only a new modification time is a save.
struct Saves(HashMap<PathBuf, SystemTime>);

impl Saves {
    fn new(dir: &Path) -> Saves {
        let mut saves = Saves(HashMap::new());
        let mut dirs = vec![dir.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    saves.changed(&path);
                }
            }
        }
        saves
    }

    /// Whether `path` was modified since it was last seen.
    fn changed(&mut self, path: &Path) -> bool {
        let Ok(modified) = std::fs::metadata(path).and_then(|m| m.modified()) else { return false };
        self.0.insert(path.to_path_buf(), modified) != Some(modified)
    }
}

/// The kata whose file is `path`, if it is one.
fn kata_of(root: &Path, path: &Path) -> Option<&'static Kata> {
    let relative = path.strip_prefix(root).ok()?;
    catalogue::katas().find(|k| Path::new(&k.file()) == relative)
}

struct Watch<'a> {
    ui: &'a Ui,
    root: &'a Path,
    solutions: bool,
    kata: &'static Kata,
    running: Option<(Grading, Instant)>,
    /// A save came during the run: grade again when it ends.
    again: bool,
    quitting: bool,
}

impl Watch<'_> {
    fn keys_line(&self) -> String {
        self.ui.dim("[h] hint  [n] next kata  [r] grade again  [q] quit      watching katas/ for saves")
    }

    fn start_grading(&mut self, why: &str) -> io::Result<()> {
        if self.running.is_some() {
            self.again = true;
            println!("{}", self.ui.dim(&format!("{why}: grading it as soon as the current run ends")));
            return Ok(());
        }
        if self.ui.is_terminal() {
            print!("\x1b[2J\x1b[H"); // a clean screen for each grading, as rustlings does
        }
        println!("{} {} — {}", self.ui.bold("watch ·"), self.ui.bold(self.kata.id), self.kata.title);
        println!("{}", self.ui.dim(&format!("{why}; edit {}", self.kata.file())));
        let filter = format!("{}::", self.kata.id);
        let grading = Grading::start(self.root, Some(&filter), self.solutions)?;
        self.running = Some((grading, Instant::now()));
        Ok(())
    }

    fn finished(&mut self, result: io::Result<Run>) {
        self.running = None;
        if self.again && !self.quitting {
            self.again = false;
            if let Err(e) = self.start_grading("saved again") {
                println!("cannot grade: {e}");
            }
            return;
        }
        if self.ui.is_terminal() {
            print!("\r\x1b[K");
        }
        match result {
            Ok(run) => {
                let next = match super::mock::hidden_kata(self.root) {
                    Some(hidden) if hidden == self.kata.id => NextHint::Hidden,
                    _ => NextHint::Level(StateFile::load(self.root).hints_shown(self.kata.id)),
                };
                println!(
                    "{}",
                    self.ui.dim(&format!("{} tests in {:.1}s", run.results.len(), run.elapsed.as_secs_f64()))
                );
                if report::kata_report(self.ui, self.kata, &run, next) == State::Solved {
                    println!("\n  Solved. [n] goes on to the next kata.");
                }
            }
            Err(e) => println!("\n{e}"),
        }
        println!("\n{}", self.keys_line());
    }

    fn key(&mut self, key: char) -> io::Result<()> {
        match key {
            'q' => {
                if self.running.is_some() && !self.quitting {
                    self.quitting = true;
                    println!(
                        "\nQuitting when the current run ends, so that the grader cleans up (q again: stop it now)."
                    );
                } else {
                    self.quitting = true;
                    self.running = None; // Drop stops the run.
                }
            }
            'h' => self.hint()?,
            'n' => {
                let all: Vec<&'static Kata> = catalogue::katas().collect();
                let at = all.iter().position(|k| k.id == self.kata.id).unwrap_or(0);
                self.kata = all[(at + 1) % all.len()];
                self.start_grading("next kata")?;
            }
            'r' => self.start_grading("grading again")?,
            _ => println!("{}", self.keys_line()),
        }
        Ok(())
    }

    fn hint(&mut self) -> io::Result<()> {
        if super::mock::hidden_kata(self.root).as_deref() == Some(self.kata.id) {
            println!("\nHints are hidden during a mock interview: `cargo run -- mock --submit` ends it.");
            return Ok(());
        }
        let mut state = StateFile::load(self.root);
        let level = (state.hints_shown(self.kata.id) + 1).min(self.kata.hints.len());
        println!("\nHint {level} of {}: {}", self.kata.hints.len(), self.kata.hints[level - 1]);
        state.set_hints_shown(self.kata.id, level)?;
        println!("\n{}", self.keys_line());
        Ok(())
    }
}

/// Runs the watch until `q`; grades `kata`, or the first kata not attempted yet.
pub fn watch(ui: &Ui, root: &Path, kata: Option<&'static Kata>, solutions: bool) -> io::Result<bool> {
    let root = &root.canonicalize()?;
    let katas_dir = root.join("katas");
    let mut saves = Saves::new(&katas_dir);
    let (tx, events) = mpsc::channel();
    let watcher_events = tx.clone();
    let mut debouncer = new_debouncer(Duration::from_millis(300), move |result: DebounceEventResult| {
        let event = match result {
            Ok(changed) => changed.into_iter().map(|e| Event::Saved(e.path)).collect(),
            Err(e) => vec![Event::WatchError(e.to_string())],
        };
        for event in event {
            let _ = watcher_events.send(event);
        }
    })
    .map_err(io::Error::other)?;
    debouncer
        .watcher()
        .watch(&katas_dir, RecursiveMode::Recursive)
        .map_err(|e| io::Error::other(format!("cannot watch {}: {e}", katas_dir.display())))?;
    let _raw = if io::stdin().is_terminal() { Some(RawKeys::new()?) } else { None };
    read_keys(tx);

    let kata = kata.unwrap_or_else(|| first_unattempted(root));
    let mut watch = Watch { ui, root, solutions, kata, running: None, again: false, quitting: false };
    watch.start_grading("starting")?;
    while !(watch.quitting && watch.running.is_none()) {
        if super::interrupted() {
            // SIGTERM, SIGHUP, or Ctrl-C when the terminal is not in raw mode: stop the run the
            // way that lets the grader clean up, then leave.
            if let Some((mut grading, _)) = watch.running.take() {
                grading.stop();
            }
            println!("\nInterrupted: the run was stopped and cleaned up.");
            return Err(io::Error::new(io::ErrorKind::Interrupted, "watch interrupted"));
        }
        let done = match &mut watch.running {
            Some((grading, since)) => {
                let result = grading.wait_for(Duration::ZERO);
                if result.is_none() && ui.is_terminal() {
                    let doing = grading.progress();
                    print!("\r\x1b[K{}", ui.dim(&format!("grading … {:.0}s, {doing}", since.elapsed().as_secs_f64())));
                    io::stdout().flush()?;
                }
                result
            }
            None => None,
        };
        if let Some(result) = done {
            watch.finished(result);
            continue;
        }
        match events.recv_timeout(Duration::from_millis(100)) {
            Ok(Event::Key(key)) => watch.key(key)?,
            Ok(Event::Saved(path)) => {
                if path.extension().is_some_and(|e| e == "rs") && saves.changed(&path) {
                    if let Some(kata) = kata_of(root, &path) {
                        watch.kata = kata;
                    }
                    let shown = path.strip_prefix(root).unwrap_or(&path).display().to_string();
                    watch.start_grading(&format!("saved {shown}"))?;
                }
            }
            Ok(Event::WatchError(e)) => println!("the file watcher failed: {e}"),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    println!("\nBye. Your progress: cargo run");
    Ok(true)
}
