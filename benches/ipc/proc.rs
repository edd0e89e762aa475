//! The processes and shared memory every benchmark uses: a forked peer pinned to its own CPU
//! (killed and reaped when dropped), an anonymous shared mapping, the clean-up of System V
//! queues if the run is interrupted, and the watchdog that ends a run whose benchmark hangs.

use std::fs::File;
use std::io::{self, Read, Write};
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, munmap};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pipe};

pub use crate::machine::usable_cpus;

/// Which of the two processes of a benchmark.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    /// The measuring process: the first usable CPU.
    Main,
    /// The peer: the second usable CPU.
    Peer,
}

/// Pins the calling thread to its side's CPU (`man 2 sched_setaffinity`); does nothing with
/// fewer than two usable CPUs, where both sides must share one anyway.
pub fn pin(side: Side) -> io::Result<()> {
    let cpus = usable_cpus();
    if cpus.len() < 2 {
        return Ok(());
    }
    let cpu = cpus[if side == Side::Main { 0 } else { 1 }];
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit of `set`; `cpu` came from a cpu_set_t, so it is in range.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is this thread.
    if unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A peer process, forked from the measuring one and pinned to the second usable CPU. Dropping it kills
/// and reaps it if [`Peer::join`] has not; `join` reaps it and reports how it ended.
#[derive(Debug)]
pub struct Peer {
    pid: Option<Pid>,
    ready: File,
}

/// The peer's side of the "I am set up" handshake.
pub struct Ready(File);

impl Ready {
    /// Tells the measuring process that the peer is set up (one byte on a pipe).
    pub fn signal(&mut self) -> io::Result<()> {
        self.0.write_all(b"r")
    }
}

impl Peer {
    /// Forks a peer that runs `body` and exits: status 0 if it returned `Ok`, 1 otherwise (an
    /// error or a panic; the panic message is printed by the hook as usual). The child never
    /// returns into the caller.
    pub fn spawn(body: impl FnOnce(&mut Ready) -> io::Result<()>) -> io::Result<Peer> {
        set_phase(Phase::Starting);
        let (ready_rx, ready_tx) = pipe()?;
        // SAFETY: the bench is single-threaded when it forks (criterion runs without its thread
        // pool here), so the child may allocate and use std freely.
        match unsafe { fork() }? {
            ForkResult::Child => {
                drop(ready_rx);
                // A peer must die of Ctrl-C, not run the measuring process's clean-up.
                // SAFETY: restoring the default disposition has no preconditions.
                unsafe {
                    libc::signal(libc::SIGINT, libc::SIG_DFL);
                    libc::signal(libc::SIGTERM, libc::SIG_DFL);
                }
                let mut ready = Ready(File::from(ready_tx));
                let ok = pin(Side::Peer).is_ok()
                    && matches!(catch_unwind(AssertUnwindSafe(|| body(&mut ready))), Ok(Ok(())));
                // SAFETY: _exit ends the child at once, without running the parent's atexit
                // handlers or destructors that belong to the parent.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            ForkResult::Parent { child } => {
                drop(ready_tx);
                track_child(child);
                Ok(Peer { pid: Some(child), ready: File::from(ready_rx) })
            }
        }
    }

    /// The peer's process id.
    pub fn pid(&self) -> Pid {
        self.pid.expect("a peer not joined yet")
    }

    /// Waits until the peer calls [`Ready::signal`]; `UnexpectedEof` if it died first.
    pub fn wait_ready(&mut self) -> io::Result<()> {
        set_phase(Phase::Setup);
        let mut byte = [0u8; 1];
        self.ready.read_exact(&mut byte)
    }

    /// Reaps the peer; an error unless it exited with status 0.
    pub fn join(mut self) -> io::Result<()> {
        let pid = self.pid.take().expect("a peer is joined once");
        set_phase(Phase::Joining);
        let status = waitpid(pid, None)?;
        untrack_child(pid);
        match status {
            WaitStatus::Exited(_, 0) => Ok(()),
            other => Err(io::Error::other(format!("the peer process failed: {other:?}"))),
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            untrack_child(pid);
        }
    }
}

/// An anonymous shared mapping (`MAP_SHARED | MAP_ANONYMOUS`), zero-filled, made before a fork
/// so that parent and peer see the same pages; nothing to remove by name, even after Ctrl-C.
pub struct SharedMapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl SharedMapping {
    pub fn new(len: usize) -> io::Result<SharedMapping> {
        let length = NonZeroUsize::new(len).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: a fresh anonymous mapping aliases no Rust object.
        let ptr = unsafe {
            mmap_anonymous(None, length, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED)
        }?;
        Ok(SharedMapping { ptr: ptr.cast(), len })
    }

    /// The first byte; page-aligned.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The mapping viewed as a `T` at its start. `T` must be made of atomics and `UnsafeCell`s
    /// for which all-zero bytes are a valid value, and fit in the mapping.
    pub fn get<T>(&self) -> &T {
        assert!(size_of::<T>() <= self.len && align_of::<T>() <= 4096);
        // SAFETY: the mapping is page-aligned, large enough (checked), zero-filled at creation
        // (a valid T, as documented) and lives as long as `self`.
        unsafe { &*self.ptr.as_ptr().cast::<T>() }
    }
}

impl Drop for SharedMapping {
    fn drop(&mut self) {
        // SAFETY: the range is the one mmap returned; no reference into it outlives `self`.
        let _ = unsafe { munmap(self.ptr.cast(), self.len) };
    }
}

/// System V queues and peers alive now, so that Ctrl-C (SIGINT) or SIGTERM removes and reaps
/// them: a queue outlives every process until it is removed (`man 7 sysvipc`).
const SLOTS: usize = 8;
static QUEUES: [AtomicI32; SLOTS] = [const { AtomicI32::new(-1) }; SLOTS];
static CHILDREN: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];

fn put(table: &[AtomicI32; SLOTS], empty: i32, value: i32) {
    for slot in table {
        if slot.compare_exchange(empty, value, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            return;
        }
    }
}

fn take(table: &[AtomicI32; SLOTS], empty: i32, value: i32) {
    for slot in table {
        let _ = slot.compare_exchange(value, empty, Ordering::SeqCst, Ordering::SeqCst);
    }
}

fn track_child(pid: Pid) {
    put(&CHILDREN, 0, pid.as_raw());
}

fn untrack_child(pid: Pid) {
    take(&CHILDREN, 0, pid.as_raw());
}

/// A System V message queue made for one benchmark (`IPC_PRIVATE`, 0600), removed when
/// dropped, or by the interrupt handler.
pub struct SysvId(pub i32);

impl SysvId {
    pub fn track(id: i32) -> SysvId {
        put(&QUEUES, -1, id);
        SysvId(id)
    }
}

impl Drop for SysvId {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID takes no buffer; a queue already gone is EINVAL, ignored.
        unsafe { libc::msgctl(self.0, libc::IPC_RMID, std::ptr::null_mut()) };
        take(&QUEUES, -1, self.0);
    }
}

/// Removes the tracked queues and kills and reaps the tracked peers. Only async-signal-safe
/// calls (`man 7 signal-safety`): msgctl, kill, waitpid.
fn remove_everything() {
    for slot in &QUEUES {
        let id = slot.load(Ordering::SeqCst);
        if id >= 0 {
            // SAFETY: IPC_RMID takes no buffer.
            unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
        }
    }
    for slot in &CHILDREN {
        let pid = slot.load(Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: kill and waitpid on our own child; a null status pointer is allowed.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

extern "C" fn interrupted(signal: libc::c_int) {
    remove_everything();
    // SAFETY: back to the default action, then die of the same signal, as the shell expects.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

/// Installs the clean-up for SIGINT and SIGTERM in the measuring process.
pub fn clean_up_on_interrupt() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `interrupted` only makes async-signal-safe calls.
        unsafe { libc::signal(signal, interrupted as *const () as libc::sighandler_t) };
    }
}

// ---------------------------------------------------------------------------------------------
// Bounded waits: a benchmark whose peer died or never answers ends the run with a message that
// names it, instead of hanging it.

/// How long a spinning or sleeping wait gives its peer before it fails: far longer than any
/// sample takes.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// How long one sample (one call of a benchmark body) may take before the watchdog ends the
/// run: a backstop for the waits inside system calls (`msgrcv`, `mq_receive`, ...).
const WATCHDOG_SECONDS: u32 = 60; // `hung` says "60 s"

/// The error of a wait that ran out of [`PATIENCE`].
pub fn no_answer(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "{what}: no answer from the other process in {} s (it died, or a wake-up was lost)",
            PATIENCE.as_secs()
        ),
    )
}

/// Spins until `done` says so, or fails after [`PATIENCE`]. The clock is read once every 64 Ki
/// checks, so the check costs next to nothing while the other side answers.
pub fn spin_until(what: &str, mut done: impl FnMut() -> bool) -> io::Result<()> {
    let mut spins = 0u32;
    let mut since = None;
    while !done() {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins & 0xffff == 0 && since.get_or_insert_with(Instant::now).elapsed() > PATIENCE {
            return Err(no_answer(what));
        }
    }
    Ok(())
}

/// What a benchmark body is doing, for the watchdog's message.
#[derive(Clone, Copy)]
#[repr(usize)]
pub enum Phase {
    Starting,
    Setup,
    Timing,
    Joining,
}

const PHASES: [&str; 4] = [
    "starting the peer process",
    "waiting for the peer to set up",
    "timing (the two processes exchange messages)",
    "waiting for the peer to exit",
];

static PHASE: AtomicUsize = AtomicUsize::new(0);
static CURRENT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static CURRENT_LEN: AtomicUsize = AtomicUsize::new(0);

pub fn set_phase(phase: Phase) {
    PHASE.store(phase as usize, Ordering::SeqCst);
}

/// Runs one sample of the benchmark `id` under the watchdog: if it has not returned after
/// [`WATCHDOG_SECONDS`], SIGALRM prints which benchmark hung in which phase, removes the
/// queues, kills the peers and ends the run (exit status 3).
pub fn watched<T>(id: &'static str, body: impl FnOnce() -> T) -> T {
    CURRENT.store(id.as_ptr().cast_mut(), Ordering::SeqCst);
    CURRENT_LEN.store(id.len(), Ordering::SeqCst);
    set_phase(Phase::Starting);
    // SAFETY: `hung` only makes async-signal-safe calls; alarm takes no pointer.
    unsafe {
        libc::signal(libc::SIGALRM, hung as *const () as libc::sighandler_t);
        libc::alarm(WATCHDOG_SECONDS);
    }
    let result = body();
    // SAFETY: cancels the alarm; no pointer.
    unsafe { libc::alarm(0) };
    result
}

fn write_stderr(bytes: &[u8]) {
    // SAFETY: write(2) is async-signal-safe; the buffer is valid for its length.
    unsafe { libc::write(libc::STDERR_FILENO, bytes.as_ptr().cast(), bytes.len()) };
}

extern "C" fn hung(_: libc::c_int) {
    let (ptr, len) = (CURRENT.load(Ordering::SeqCst), CURRENT_LEN.load(Ordering::SeqCst));
    write_stderr(b"\nipc bench: HUNG: ");
    if !ptr.is_null() {
        // SAFETY: CURRENT and CURRENT_LEN describe a &'static str (set by `watched`).
        write_stderr(unsafe { std::slice::from_raw_parts(ptr, len) });
    }
    write_stderr(b" made no progress for 60 s while ");
    write_stderr(PHASES[PHASE.load(Ordering::SeqCst).min(PHASES.len() - 1)].as_bytes());
    write_stderr(
        b".\nUsual causes: the peer process died (its error is printed above), a wake-up was lost \
          (a waiter slept after the value it waits for was published), or both sides wait to \
          receive.\nThe peers were killed and the queues removed; the run stops here.\n",
    );
    remove_everything();
    // SAFETY: ends the process at once; nothing else is safe in a signal handler.
    unsafe { libc::_exit(3) }
}
