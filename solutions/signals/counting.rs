//! Answer to kata signals::counting: Count signals: standard ones coalesce, real-time ones queue.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

use nix::unistd::Pid;

/// How many values a counter keeps; later deliveries are still counted.
pub const MAX_VALUES: usize = 1024;

/// What the handler writes: one slot per signal number. Statics, because a handler gets no
/// context pointer; atomics, because they are the only shared state a handler may touch
/// (`man 7 signal-safety`: no locks, no allocation).
struct Slot {
    installed: AtomicBool,
    /// The next value's index: taken with fetch_add, so two threads never take the same one.
    next: AtomicUsize,
    /// Deliveries whose handler has finished.
    count: AtomicUsize,
    values: [AtomicI32; MAX_VALUES],
    /// Whether `values[i]` is stored. Handlers in two threads may finish out of order: the one
    /// that took index 1 can be done while the one that took index 0 has not stored yet, so a
    /// count of 1 does not say that `values[0]` holds a value. Each slot says it itself.
    stored: [AtomicBool; MAX_VALUES],
}

const NSIG: usize = 65;

static SLOTS: [Slot; NSIG] = [const {
    Slot {
        installed: AtomicBool::new(false),
        next: AtomicUsize::new(0),
        count: AtomicUsize::new(0),
        values: [const { AtomicI32::new(0) }; MAX_VALUES],
        stored: [const { AtomicBool::new(false) }; MAX_VALUES],
    }
}; NSIG];

/// The handler: async-signal-safe, it only reads the siginfo and updates atomics.
extern "C" fn record(signal: libc::c_int, info: *mut libc::siginfo_t, _context: *mut libc::c_void) {
    let Some(slot) = SLOTS.get(signal as usize) else { return };
    // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t. `sigval` is a union of an int
    // and a pointer; the int is its first 4 bytes on every ABI.
    let value = unsafe { *(&(*info).si_value() as *const libc::sigval as *const i32) };
    let n = slot.next.fetch_add(1, Ordering::Relaxed);
    if n < MAX_VALUES {
        slot.values[n].store(value, Ordering::Relaxed);
        // Release: a reader that sees the flag sees the value.
        slot.stored[n].store(true, Ordering::Release);
    }
    slot.count.fetch_add(1, Ordering::Release);
}

/// Counts the deliveries of one signal, and keeps the value each one carried (`sigqueue`), in
/// the order they were delivered. Dropping it restores the signal's previous disposition.
pub struct SignalCounter {
    signal: i32,
    previous: libc::sigaction,
}

impl SignalCounter {
    /// Installs a counting handler for `signal` (SA_SIGINFO, so that it sees the value;
    /// SA_RESTART, so that it does not break the program's blocking calls). The signal's mask
    /// is left alone. `InvalidInput` for a signal that cannot be caught (SIGKILL, SIGSTOP) or
    /// does not exist; `AlreadyExists` while another counter counts the same signal.
    /// See `man 2 sigaction`, `man 7 signal`.
    pub fn install(signal: i32) -> io::Result<SignalCounter> {
        if !(1..=libc::SIGRTMAX()).contains(&signal) || matches!(signal, libc::SIGKILL | libc::SIGSTOP) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("signal {signal} cannot be counted")));
        }
        let slot = &SLOTS[signal as usize];
        if slot.installed.swap(true, Ordering::AcqRel) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("signal {signal} is counted already")));
        }
        for stored in &slot.stored {
            stored.store(false, Ordering::Relaxed);
        }
        slot.next.store(0, Ordering::Relaxed);
        slot.count.store(0, Ordering::Release);
        // SAFETY: a zeroed sigaction is valid; we fill the handler, flags and an empty mask.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = record as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        // SAFETY: both structures are valid; `record` is async-signal-safe.
        let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let installed = unsafe {
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, &mut previous)
        };
        if installed != 0 {
            let err = io::Error::last_os_error();
            slot.installed.store(false, Ordering::Release);
            return Err(err);
        }
        Ok(SignalCounter { signal, previous })
    }

    /// The signal this counter counts.
    pub fn signal(&self) -> i32 {
        self.signal
    }

    /// How many times the signal has been delivered since `install`.
    pub fn count(&self) -> usize {
        SLOTS[self.signal as usize].count.load(Ordering::Acquire)
    }

    /// The value each delivery carried (`si_value.sival_int`; 0 for a signal sent by `kill`),
    /// in delivery order: the first [`MAX_VALUES`] deliveries, up to the first whose handler
    /// (in another thread) has not stored its value yet.
    pub fn values(&self) -> Vec<i32> {
        let slot = &SLOTS[self.signal as usize];
        let n = slot.next.load(Ordering::Acquire).min(MAX_VALUES);
        (0..n)
            .map_while(|i| slot.stored[i].load(Ordering::Acquire).then(|| slot.values[i].load(Ordering::Relaxed)))
            .collect()
    }
}

impl std::fmt::Debug for SignalCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalCounter").field("signal", &self.signal).field("count", &self.count()).finish()
    }
}

impl Drop for SignalCounter {
    fn drop(&mut self) {
        // SAFETY: `previous` is the disposition sigaction gave us at install.
        unsafe { libc::sigaction(self.signal, &self.previous, std::ptr::null_mut()) };
        SLOTS[self.signal as usize].installed.store(false, Ordering::Release);
    }
}

/// Sends `signal` with `value` to `pid` with `sigqueue`: a real-time signal is queued once per
/// call, in order, with its value; a standard one still coalesces. See `man 3 sigqueue`.
pub fn queue_signal(pid: Pid, signal: i32, value: i32) -> io::Result<()> {
    let mut sigval = libc::sigval { sival_ptr: std::ptr::null_mut() };
    // SAFETY: `sigval` is a union whose int member is its first 4 bytes; we write that member.
    unsafe { *(&mut sigval as *mut libc::sigval as *mut i32) = value };
    // SAFETY: sigqueue takes plain values.
    if unsafe { libc::sigqueue(pid.as_raw(), signal, sigval) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
