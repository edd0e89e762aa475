//! Self-tests of the hang forensics: one deliberately deadlocking body for each classic pattern,
//! each named by its sentence. They are not graded tests: they pass with the stubs and with the
//! answers alike, as root and as an ordinary user.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use super::super::supervise;
use super::super::*;

/// Long enough for each deadlock to set itself up on a loaded machine, short enough to keep the
/// self-tests quick.
const DEADLINE: Duration = Duration::from_millis(1500);

fn hang(body: impl FnOnce(&mut Sandbox) -> Result<(), Failure>) -> String {
    // A subject with a usual cause, to show when no rule of the picture names the deadlock.
    let subject = Subject { footer: Vec::new(), hang_causes: vec!["a deliberate deadlock".to_string()] };
    let verdict = Grade::new("grader::forensics_self_test").subject(subject).deadline(DEADLINE).verdict(body);
    let Outcome::Hang(text) = verdict.outcome().clone() else { panic!("{verdict:?}") };
    // The fact the CLI reads, and the words the learner reads, agree.
    assert_eq!(verdict.unexplained(), text.contains("Usual causes"), "{text}");
    if std::env::var_os("SHOW_HANGS").is_some() {
        eprintln!("----\n{text}");
    }
    text
}

/// The body's pid, from the picture's first line.
fn finished_body(text: &str) -> String {
    let line = text.lines().find(|l| l.contains("(your code):")).unwrap_or_else(|| panic!("{text}"));
    line.split_whitespace().nth(1).unwrap().to_string()
}

/// The report's diagnosis line, checked for each needle.
fn diagnosed(text: &str, needles: &[&str]) {
    let line = text.lines().find(|l| l.starts_with("Diagnosis: ")).unwrap_or_else(|| panic!("no diagnosis:\n{text}"));
    for needle in needles {
        assert!(line.contains(needle), "the diagnosis does not say {needle:?}:\n{text}");
    }
    assert!(!text.contains("Usual causes"), "a diagnosed hang lists no usual causes:\n{text}");
    assert!(text.lines().count() <= 16, "the report is too long:\n{text}");
}

fn pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    (fds[0], fds[1])
}

/// Forks a child that runs `child` (raw system calls only) and exits.
fn fork(child: impl FnOnce()) -> i32 {
    // SAFETY: the body is single-threaded; the child runs `child` and leaves with _exit.
    match unsafe { libc::fork() } {
        0 => {
            child();
            // SAFETY: _exit ends the child without returning into the test.
            unsafe { libc::_exit(0) }
        }
        pid => pid,
    }
}

fn write_all(fd: i32, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: data is valid for its length.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n <= 0 {
            return;
        }
        data = &data[n as usize..];
    }
}

fn read_to_end(fd: i32) {
    let mut buf = [0u8; 4096];
    // SAFETY: buf is valid for its length.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

fn wait(pid: i32) {
    let mut status = 0;
    // SAFETY: pid is our child; status is a valid out-pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
}

fn close(fd: i32) {
    // SAFETY: the fd is ours.
    unsafe { libc::close(fd) };
}

/// Waits until `pid` sleeps in a system call (its state in /proc is S), for tests that must
/// change something behind a sleeper's back.
fn until_asleep(pid: i32) {
    for _ in 0..5000 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or("").trim_start().chars().next();
        if state == Some('S') {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_write_end_left_open_in_the_reader_is_named_with_its_fd() {
    let dir = tempfile::tempdir().unwrap();
    let fd_file = dir.path().join("fd");
    let text = hang(|_| {
        let (r, w) = pipe();
        std::fs::write(&fd_file, w.to_string()).unwrap();
        let child = fork(|| {
            close(r);
            write_all(w, b"hello");
        });
        read_to_end(r); // the parent still holds w
        wait(child);
        Ok(())
    });
    let w = std::fs::read_to_string(&fd_file).unwrap();
    let in_reader = format!("still open in pid {} (your code) as fd {w}", finished_body(&text));
    diagnosed(&text, &["end-of-file never comes on pipe A", &in_reader, "its own included"]);
    assert!(text.contains("read(fd 3 = read end of pipe A)"), "{text}");
    assert!(text.contains("exited, not yet reaped (a zombie)"), "{text}");
}

#[test]
fn waiting_for_a_child_before_draining_its_pipe_is_named() {
    let text = hang(|_| {
        let (r, w) = pipe();
        let child = fork(|| {
            close(r);
            write_all(w, &vec![7u8; 1 << 20]);
        });
        close(w);
        wait(child); // before reading: the child blocks once the pipe is full
        read_to_end(r);
        Ok(())
    });
    diagnosed(&text, &["waits for its child", "blocked writing pipe A", "65536 bytes unread", "Read everything first"]);
}

#[test]
fn both_sides_writing_full_pipes_is_named() {
    let text = hang(|_| {
        let (down_r, down_w) = pipe();
        let (up_r, up_w) = pipe();
        let child = fork(|| {
            close(down_w);
            close(up_r);
            write_all(up_w, &vec![1u8; 1 << 20]);
            read_to_end(down_r);
        });
        close(down_r);
        close(up_w);
        write_all(down_w, &vec![2u8; 1 << 20]);
        read_to_end(up_r);
        wait(child);
        Ok(())
    });
    diagnosed(&text, &["both sides write and neither reads", "your code", "the child your code forked"]);
}

#[test]
fn a_fifo_open_waiting_for_a_writer_is_named() {
    let text = hang(|s| {
        let path = s.path("lonely");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let _ = std::fs::File::open(&path); // blocks: nobody opens it for writing
        Ok(())
    });
    diagnosed(&text, &["blocked opening the FIFO", "lonely for reading", "for writing"]);
}

#[test]
fn a_fifo_reader_that_opened_read_write_is_named() {
    let text = hang(|s| {
        let path = s.path("records");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid path; O_RDWR on a FIFO does not block.
        let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_RDWR) };
        let child = fork(|| {
            // SAFETY: a valid path.
            let w = unsafe { libc::open(c_path.as_ptr(), libc::O_WRONLY) };
            write_all(w, b"a record");
        });
        read_to_end(fd);
        wait(child);
        Ok(())
    });
    diagnosed(&text, &["end-of-file never comes on the FIFO", "opened read-write (O_RDWR)", "Open it read-only"]);
}

static REAPED: AtomicBool = AtomicBool::new(false);

extern "C" fn reap_all(_: libc::c_int) {
    // SAFETY: waitpid is async-signal-safe.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {
        REAPED.store(true, Ordering::SeqCst);
    }
}

#[test]
fn waiting_for_sigchld_from_a_child_reaped_already_is_named() {
    let text = hang(|_| {
        // SAFETY: installs an async-signal-safe handler in the body process.
        unsafe { libc::signal(libc::SIGCHLD, reap_all as *const () as libc::sighandler_t) };
        fork(|| {});
        while !REAPED.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
        // SAFETY: pause has no preconditions.
        unsafe { libc::pause() };
        Ok(())
    });
    diagnosed(&text, &["waits in pause() for SIGCHLD", "has no child left"]);
}

#[test]
fn a_non_robust_mutex_whose_holder_died_is_named() {
    let text = hang(|_| {
        // SAFETY: a fresh shared anonymous mapping, big enough for a pthread mutex.
        let mutex = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        } as *mut libc::pthread_mutex_t;
        // SAFETY: the attribute and the mutex are valid and initialised in order.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            libc::pthread_mutexattr_init(&mut attr);
            libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
            libc::pthread_mutex_init(mutex, &attr);
        }
        let (r, w) = pipe();
        let holder = fork(|| {
            // SAFETY: the mutex is initialised and shared.
            unsafe { libc::pthread_mutex_lock(mutex) };
            write_all(w, b"!");
            // SAFETY: pause has no preconditions; the parent kills this process.
            unsafe { libc::pause() };
        });
        let mut byte = [0u8; 1];
        // SAFETY: byte is valid for one byte.
        unsafe { libc::read(r, byte.as_mut_ptr().cast(), 1) };
        // SAFETY: holder is our child.
        unsafe { libc::kill(holder, libc::SIGKILL) };
        wait(holder);
        // SAFETY: the mutex is initialised; its holder is dead, so this blocks for ever.
        unsafe { libc::pthread_mutex_lock(mutex) };
        Ok(())
    });
    diagnosed(&text, &["waits for the mutex", "died holding the lock", "not robust", "PTHREAD_MUTEX_ROBUST"]);
}

#[test]
fn a_semaphore_held_by_a_killed_process_without_undo_is_named() {
    let text = hang(|s| {
        // SAFETY: semget and semctl take integers.
        let id = unsafe { libc::semget(libc::IPC_PRIVATE, 1, libc::IPC_CREAT | 0o600) };
        s.track(Tracked::SysvId { kind: "sem", id });
        // SAFETY: as above.
        unsafe { libc::semctl(id, 0, libc::SETVAL, 1) };
        let (r, w) = pipe();
        let holder = fork(|| {
            let mut op = libc::sembuf { sem_num: 0, sem_op: -1, sem_flg: 0 };
            // SAFETY: one valid sembuf.
            unsafe { libc::semop(id, &mut op, 1) };
            write_all(w, b"!");
            // SAFETY: pause has no preconditions; the parent kills this process.
            unsafe { libc::pause() };
        });
        let mut byte = [0u8; 1];
        // SAFETY: byte is valid for one byte.
        unsafe { libc::read(r, byte.as_mut_ptr().cast(), 1) };
        // SAFETY: holder is our child.
        unsafe { libc::kill(holder, libc::SIGKILL) };
        wait(holder);
        let mut op = libc::sembuf { sem_num: 0, sem_op: -1, sem_flg: 0 };
        // SAFETY: one valid sembuf; blocks for ever.
        unsafe { libc::semop(id, &mut op, 1) };
        Ok(())
    });
    diagnosed(&text, &["waits in semop for semaphore 0", "its value is 0, it needs 1", "is gone", "SEM_UNDO"]);
}

#[test]
fn a_futex_word_changed_without_a_wake_is_a_lost_wake_up() {
    let text = hang(|_| {
        // SAFETY: a fresh shared anonymous mapping holding one zeroed word.
        let word = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        } as *const AtomicU32;
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        fork(|| {
            until_asleep(parent);
            // SAFETY: the word lives in the shared mapping; no FUTEX_WAKE follows: the bug.
            unsafe { (*word).store(1, Ordering::SeqCst) };
        });
        // SAFETY: the word is valid; waits while it holds 0.
        unsafe { libc::syscall(libc::SYS_futex, word, libc::FUTEX_WAIT, 0, std::ptr::null::<libc::timespec>()) };
        Ok(())
    });
    diagnosed(&text, &["a lost wake-up", "changes from 0", "it holds 1", "no FUTEX_WAKE came"]);
}

#[test]
fn a_receive_on_an_empty_queue_with_no_sender_left_is_named() {
    let text = hang(|s| {
        // SAFETY: msgget takes integers.
        let id = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) };
        s.track(Tracked::SysvId { kind: "msg", id });
        let sender = fork(|| {}); // the sender that forgets to send
        wait(sender);
        let mut buf = [0u8; 64];
        // SAFETY: buf holds a long type and the text; blocks for ever.
        unsafe { libc::msgrcv(id, buf.as_mut_ptr().cast(), 32, 7, 0) };
        Ok(())
    });
    diagnosed(&text, &["waits in msgrcv for a message of type 7", "which is empty", "no process of the test is left"]);
}

static HANDLED: AtomicBool = AtomicBool::new(false);

extern "C" fn note(_: libc::c_int) {
    HANDLED.store(true, Ordering::SeqCst);
}

#[test]
fn a_signal_delivered_before_pause_is_named() {
    let text = hang(|_| {
        // SAFETY: an async-signal-safe handler, installed in the body process.
        unsafe { libc::signal(libc::SIGUSR1, note as *const () as libc::sighandler_t) };
        // SAFETY: getppid/kill in the child are async-signal-safe.
        let child = fork(|| unsafe {
            libc::kill(libc::getppid(), libc::SIGUSR1);
        });
        while !HANDLED.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
        // SAFETY: pause has no preconditions; the signal came already: the bug.
        unsafe { libc::pause() };
        wait(child);
        Ok(())
    });
    diagnosed(
        &text,
        &["waits in pause() for a signal", "no other process of the test is left", "came before the wait"],
    );
}

#[test]
fn a_signal_kept_blocked_through_sigsuspend_is_named() {
    let text = hang(|_| {
        // SAFETY: sigset manipulation on local sets; the handler is async-signal-safe.
        unsafe {
            libc::signal(libc::SIGUSR1, note as *const () as libc::sighandler_t);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR1);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            let child = fork(|| {
                libc::kill(libc::getppid(), libc::SIGUSR1);
            });
            wait(child);
            // The bug: the mask passed to sigsuspend still blocks SIGUSR1.
            libc::sigsuspend(&set);
        }
        Ok(())
    });
    diagnosed(&text, &["waits in sigsuspend", "SIGUSR1 is already pending and blocked"]);
}

#[test]
fn the_snapshot_takes_under_100_ms_and_leaves_the_outcome_a_hang() {
    let finished = supervise::run(DEADLINE, || {
        let (r, w) = pipe();
        for _ in 0..4 {
            fork(|| read_to_end(r));
        }
        read_to_end(r);
        close(w);
    })
    .unwrap();
    let explained = super::explain(&finished.heard).expect("a snapshot");
    let took = explained.took_us.expect("the snapshot says how long it took");
    if std::env::var_os("SHOW_HANGS").is_some() {
        eprintln!("the snapshot of 5 processes took {took} us");
    }
    assert!(took < 100_000, "the snapshot took {took} us");
    assert_eq!(explained.picture.iter().filter(|l| l.starts_with("pid ")).count(), 5, "{:?}", explained.picture);
    assert!(explained.diagnosis.as_deref().unwrap_or("").contains("end-of-file never comes"), "{explained:?}");
}

#[test]
fn a_hang_with_no_matching_rule_shows_the_picture_and_the_usual_causes() {
    let text = hang(|_| {
        loop {
            std::hint::spin_loop()
        }
    });
    assert!(text.contains("your code): running (not blocked)"), "{text}");
    assert!(text.contains("Usual causes"), "{text}");
}

#[test]
fn what_the_kernel_refused_is_said_and_the_usual_causes_follow() {
    use std::os::fd::AsRawFd;
    let (r, w) = nix::unistd::pipe().unwrap();
    let stream = "\x1ebody 41 0\n\x1estatus 41 0\nName:\tx\nState:\tS (sleeping)\nPPid:\t40\n\x1edenied 41 13\nsyscall\x1etook 900 0\n";
    frames::send_to(w.as_raw_fd(), Tag::Forensics, stream.as_bytes());
    drop(w);
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::fs::File::from(r), &mut bytes).unwrap();
    let mut heard = frames::Heard::default();
    heard.feed(&bytes);
    let explained = super::explain(&heard).expect("a snapshot");
    assert!(explained.diagnosis.is_none(), "{explained:?}");
    let text = explained.text();
    assert!(text.contains("Could not see: the blocked system calls (/proc/PID/syscall): Permission denied"), "{text}");
    assert!(text.contains("pid 41 (your code): (its system call could not be read)"), "{text}");
}

#[test]
fn a_thread_parked_for_ever_with_no_other_thread_is_named() {
    let text = hang(|_| {
        loop {
            std::thread::park()
        }
    });
    diagnosed(&text, &["nothing will ever wake pid", "(your code)", "a private futex", "no other thread to wake it"]);
}

#[test]
fn an_accept_with_no_client_left_is_named() {
    let text = hang(|s| {
        let listener = std::os::unix::net::UnixListener::bind(s.path("server.sock")).unwrap();
        let client = fork(|| {}); // the client that never connects
        wait(client);
        let _ = listener.accept();
        Ok(())
    });
    diagnosed(&text, &["waits in accept(fd", "= socket A) for a connection", "no process of the test is left"]);
}
