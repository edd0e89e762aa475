//! The minimal loops: each mechanism driven by its raw system calls, with nothing around them.
//! They are the yardstick for the reference answers' overhead, and the two limits (one cache
//! line bouncing between CPUs, and `memcpy`) the yardstick for every mechanism.

use std::fs::File;
use std::hint::spin_loop;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::mqueue::{MQ_OFlag, MqAttr, MqdT, mq_open, mq_receive, mq_send, mq_unlink};
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, recv, send, socketpair};
use nix::sys::stat::Mode;
use nix::unistd::{Pid, mkfifo, pipe};

use crate::proc::{PATIENCE, Peer, Phase, SharedMapping, SysvId, no_answer, set_phase, spin_until};

/// The size of one latency message.
pub const MSG: usize = 64;
/// What a throughput run moves.
pub const TOTAL: usize = 64 << 20;

/// A 64 MiB buffer with every page written: `vec![0; n]` would map zero pages lazily, and the
/// first pass over it would time page faults instead of the copy.
pub fn buffer() -> Vec<u8> {
    vec![0xa5; TOTAL]
}

/// Times `iters` round trips of `round_trip`, after one untimed round trip that proves the
/// peer is up (it answers `iters + 1` times).
pub fn timed(iters: u64, mut round_trip: impl FnMut() -> io::Result<()>) -> io::Result<Duration> {
    round_trip()?;
    set_phase(Phase::Timing);
    let start = Instant::now();
    for _ in 0..iters {
        round_trip()?;
    }
    Ok(start.elapsed())
}

/// The peer's side of a byte-stream round trip: read a message, send it back, `rounds` times.
pub fn echo(rounds: u64, mut rx: impl Read, mut tx: impl Write) -> io::Result<()> {
    let mut buf = [0u8; MSG];
    for _ in 0..rounds {
        rx.read_exact(&mut buf)?;
        tx.write_all(&buf)?;
    }
    Ok(())
}

fn ping(iters: u64, mut rx: impl Read, mut tx: impl Write) -> io::Result<Duration> {
    let mut buf = [7u8; MSG];
    timed(iters, || {
        tx.write_all(&buf)?;
        rx.read_exact(&mut buf)
    })
}

// ---------------------------------------------------------------------------------------------
// The limits.

/// One cache line, alone on its 64 bytes.
#[repr(C, align(64))]
pub struct Line(pub AtomicU64);

/// The latency floor: one counter in one cache line, incremented in turn by the two
/// processes (odd by this one, even by the peer); each round trip moves the line there and back.
pub fn cache_line(iters: u64) -> io::Result<Duration> {
    let map = SharedMapping::new(4096)?;
    let rounds = iters + 1;
    let peer = Peer::spawn(|_| {
        let line = map.get::<Line>();
        for i in 0..rounds {
            spin_until("cache line (peer)", || line.0.load(Ordering::Acquire) == 2 * i + 1)?;
            line.0.store(2 * i + 2, Ordering::Release);
        }
        Ok(())
    })?;
    let line = map.get::<Line>();
    let mut i = 0;
    let elapsed = timed(iters, || {
        line.0.store(2 * i + 1, Ordering::Release);
        spin_until("cache line", || line.0.load(Ordering::Acquire) == 2 * i + 2)?;
        i += 1;
        Ok(())
    })?;
    peer.join()?;
    Ok(elapsed)
}

/// The throughput ceiling: one thread copying 64 MiB from one buffer to another (both touched
/// beforehand, so no page fault is timed).
pub fn memcpy(iters: u64) -> io::Result<Duration> {
    let source = buffer();
    let mut target = buffer();
    let start = Instant::now();
    for _ in 0..iters {
        target.copy_from_slice(std::hint::black_box(&source));
        std::hint::black_box(&mut target);
    }
    Ok(start.elapsed())
}

// ---------------------------------------------------------------------------------------------
// Shared memory.

/// A 64-byte message and its sequence number, on separate cache lines.
#[repr(C)]
pub struct Mailbox {
    pub seq: Line,
    pub data: std::cell::UnsafeCell<[u8; MSG]>,
}

// SAFETY: `data` is only written by the side that owns the turn (set by `seq`, with Release
// and Acquire), and read by the other after it saw the new `seq`.
unsafe impl Sync for Mailbox {}

impl Mailbox {
    fn put(&self, seq: u64, message: &[u8; MSG]) {
        // SAFETY: it is this side's turn: the other side reads `data` only after it sees `seq`.
        unsafe { *self.data.get() = *message };
        self.seq.0.store(seq, Ordering::Release);
    }

    fn spin_take(&self, seq: u64, message: &mut [u8; MSG]) -> io::Result<()> {
        spin_until("shared memory, spinning", || self.seq.0.load(Ordering::Acquire) == seq)?;
        // SAFETY: the writer stored `data` before `seq` (Release) and waits for our answer.
        *message = unsafe { *self.data.get() };
        Ok(())
    }
}

/// Two mailboxes, one each way.
#[repr(C)]
struct Mailboxes {
    to_peer: Mailbox,
    to_main: Mailbox,
}

/// Shared memory, spinning: the message is copied into a shared mailbox, its sequence number
/// published with a Release store, and the other side spins until it sees it.
pub fn shm_spin(iters: u64) -> io::Result<Duration> {
    let map = SharedMapping::new(4096)?;
    let rounds = iters + 1;
    let peer = Peer::spawn(|_| {
        let boxes = map.get::<Mailboxes>();
        let mut message = [0u8; MSG];
        for i in 1..=rounds {
            boxes.to_peer.spin_take(i, &mut message)?;
            boxes.to_main.put(i, &message);
        }
        Ok(())
    })?;
    let boxes = map.get::<Mailboxes>();
    let mut message = [7u8; MSG];
    let mut i = 0;
    let elapsed = timed(iters, || {
        i += 1;
        boxes.to_peer.put(i, &message);
        boxes.to_main.spin_take(i, &mut message)
    })?;
    peer.join()?;
    Ok(elapsed)
}

/// How many times a round-trip waiter checks before it sleeps: none, so that every round trip
/// pays for two wake-ups, which is what this row measures. With 200 checks (the reference
/// ring's count then) the loop fell, from run to run, into a regime where both sides caught
/// each other spinning (2 µs) or one where both slept (30 µs), and the medians swung between
/// the two.
const SPINS: u32 = 0;

/// How many times a side of the shared-memory stream checks before it sleeps.
const STREAM_SPINS: u32 = 20_000;

/// A word to wait on and a flag saying that someone sleeps on it.
#[repr(C)]
struct Doorbell {
    word: Line,
    sleeps: Line,
}

/// `futex(2)` on the low half of a 64-bit word (a little-endian machine: x86, arm); 32 bits
/// are enough for FUTEX_WAIT to see that a growing count has changed. Not
/// `FUTEX_PRIVATE_FLAG`: the other side is another process. A wait returns when woken, at
/// once if the word no longer holds `value`, on a signal, or after `timeout`: the caller checks
/// again either way.
fn futex(word: &AtomicU64, op: libc::c_int, value: u32, timeout: Option<Duration>) {
    let word = word.as_ptr().cast::<AtomicU32>();
    let ts = timeout
        .map(|t| libc::timespec { tv_sec: t.as_secs() as libc::time_t, tv_nsec: t.subsec_nanos() as libc::c_long });
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` points into a live shared mapping; `ts_ptr` is null or points to a
    // timespec that outlives the call; FUTEX_WAIT/WAKE take no other pointer.
    unsafe { libc::syscall(libc::SYS_futex, word, op, value, ts_ptr) };
}

/// How long one FUTEX_WAIT sleeps at most before the waiter checks its deadline.
const NAP: Duration = Duration::from_millis(100);

impl Doorbell {
    /// Publishes `value` and wakes the other side if it has said that it sleeps.
    ///
    /// Only the sleeper lowers its flag. A waker that lowered it (`swap(0)`) lost wake-ups on
    /// this machine, hanging the benchmark: preempted between its store and its swap, it let
    /// the sleeper see the value, answer and raise the flag for the *next* value; the late swap
    /// took that flag, and the next ring found it down and woke nobody.
    fn ring(&self, value: u64) {
        self.word.0.store(value, Ordering::SeqCst);
        if self.sleeps.0.load(Ordering::SeqCst) == 1 {
            futex(&self.word.0, libc::FUTEX_WAKE, 1, None);
        }
    }

    /// Waits until the word reaches `value` (it only grows): spins `spins` times, then
    /// sleeps in FUTEX_WAIT. The flag is raised before the last check, and the waker reads it
    /// after its store (both SeqCst): either the check sees the value or the waker sees the
    /// flag. Fails after [`PATIENCE`].
    fn wait(&self, value: u64, spins: u32) -> io::Result<u64> {
        for _ in 0..spins {
            let now = self.word.0.load(Ordering::Acquire);
            if now >= value {
                return Ok(now);
            }
            spin_loop();
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            self.sleeps.0.store(1, Ordering::SeqCst);
            let now = self.word.0.load(Ordering::SeqCst);
            if now >= value {
                self.sleeps.0.store(0, Ordering::SeqCst);
                return Ok(now);
            }
            if Instant::now() > deadline {
                self.sleeps.0.store(0, Ordering::SeqCst);
                return Err(no_answer("shared memory, futex wake-up"));
            }
            futex(&self.word.0, libc::FUTEX_WAIT, now as u32, Some(NAP));
        }
    }
}

#[repr(C)]
struct Doorbells {
    to_peer: Doorbell,
    to_main: Doorbell,
    data: [Line; 2],
}

/// Shared memory with a blocking wake-up: spin a little, then sleep in `futex(FUTEX_WAIT)`;
/// the other side wakes a sleeper with `FUTEX_WAKE` (the reference ring's scheme, raw).
pub fn shm_futex(iters: u64) -> io::Result<Duration> {
    let map = SharedMapping::new(4096)?;
    let rounds = iters + 1;
    let peer = Peer::spawn(|_| {
        let bells = map.get::<Doorbells>();
        for i in 1..=rounds {
            bells.to_peer.wait(i, SPINS)?;
            bells.data[1].0.store(bells.data[0].0.load(Ordering::Relaxed), Ordering::Relaxed);
            bells.to_main.ring(i);
        }
        Ok(())
    })?;
    let bells = map.get::<Doorbells>();
    let mut i = 0;
    let elapsed = timed(iters, || {
        i += 1;
        bells.data[0].0.store(i, Ordering::Relaxed);
        bells.to_peer.ring(i);
        bells.to_main.wait(i, SPINS).map(drop)
    })?;
    peer.join()?;
    Ok(elapsed)
}

/// A ring of `slots` buffers of (up to) 64 KiB in shared memory, for the throughput of shared
/// memory: the sender copies each message in, the receiver copies it out. Each side counts
/// its messages in a [`Doorbell`] (spin a little, then sleep in a futex): on a busy machine a
/// side that only spun would burn the time slices its peer needs.
///
/// A message larger than 64 KiB is copied and published in 64 KiB pieces, as a byte ring
/// would: the receiver starts copying a 1 MiB message out while the rest is still going in,
/// and the ring (4 MiB) stays in the caches. A waiting side spins longer
/// here than in the round trip ([`STREAM_SPINS`]): a message is on its way, a sleep would cost
/// a wake-up per message.
pub fn shm_stream(iters: u64, message: usize) -> io::Result<Duration> {
    let size = message.min(64 << 10);
    let slots = (4 << 20) / size;
    let map = SharedMapping::new(4096 + slots * size)?;
    let messages = (TOTAL / size) as u64;
    let bells = || map.get::<[Doorbell; 2]>();
    // SAFETY (both uses below): slot `n % slots` is written only by the sender while
    // n - received < slots, and read only by the receiver once sent > n (the doorbells order
    // the copies); the slots lie inside the mapping, after the first page.
    let slot = |n: u64| unsafe { map.as_ptr().add(4096 + (n as usize % slots) * size) };
    let mut peer = Peer::spawn(|ready| {
        let source = buffer();
        ready.signal()?;
        let [sent, received] = bells();
        let mut free_until = slots as u64;
        for n in 0..iters * messages {
            if n >= free_until {
                free_until = received.wait(n + 1 - slots as u64, STREAM_SPINS)? + slots as u64;
            }
            let at = (n % messages) as usize * size;
            // SAFETY: see above; `source` has `size` bytes at `at`.
            unsafe { std::ptr::copy_nonoverlapping(source[at..].as_ptr(), slot(n), size) };
            sent.ring(n + 1);
        }
        Ok(())
    })?;
    let mut target = buffer();
    peer.wait_ready()?;
    let [sent, received] = bells();
    let mut available = 0;
    let start = Instant::now();
    for n in 0..iters * messages {
        if n >= available {
            available = sent.wait(n + 1, STREAM_SPINS)?;
        }
        let at = (n % messages) as usize * size;
        // SAFETY: see above; `target` has `size` bytes at `at`.
        unsafe { std::ptr::copy_nonoverlapping(slot(n), target[at..].as_mut_ptr(), size) };
        received.ring(n + 1);
    }
    let elapsed = start.elapsed();
    std::hint::black_box(&target);
    peer.join()?;
    Ok(elapsed)
}

// ---------------------------------------------------------------------------------------------
// Byte streams: pipes, FIFOs, Unix stream sockets, TCP.

/// Moves `iters` × 64 MiB in `size`-byte writes from the peer (which owns `tx`) to this process
/// (which reads `rx` into a 64 MiB buffer, `size` bytes per read).
pub fn stream_throughput<R: Read, W: Write>(
    iters: u64,
    size: usize,
    make: impl FnOnce() -> io::Result<(R, W)>,
) -> io::Result<Duration> {
    let (mut rx, tx) = make()?;
    let mut tx = Some(tx);
    let mut peer = Peer::spawn(|ready| {
        let mut tx = tx.take().expect("the sending end");
        let source = buffer();
        ready.signal()?;
        for _ in 0..iters {
            for chunk in source.chunks(size) {
                tx.write_all(chunk)?;
            }
        }
        Ok(())
    })?;
    drop(tx);
    let mut target = buffer();
    peer.wait_ready()?;
    let start = Instant::now();
    for _ in 0..iters {
        for chunk in target.chunks_mut(size) {
            rx.read_exact(chunk)?;
        }
    }
    let elapsed = start.elapsed();
    peer.join()?;
    Ok(elapsed)
}

/// Two pipes, one each way.
pub fn pipes() -> io::Result<((File, File), (File, File))> {
    let (a_rx, a_tx) = pipe()?;
    let (b_rx, b_tx) = pipe()?;
    Ok(((File::from(a_rx), File::from(a_tx)), (File::from(b_rx), File::from(b_tx))))
}

pub fn pipe_latency(iters: u64) -> io::Result<Duration> {
    let ((to_peer_rx, to_peer_tx), (to_main_rx, to_main_tx)) = pipes()?;
    let peer = Peer::spawn(|_| echo(iters + 1, &to_peer_rx, &to_main_tx))?;
    drop((to_peer_rx, to_main_tx));
    let elapsed = ping(iters, to_main_rx, to_peer_tx)?;
    peer.join()?;
    Ok(elapsed)
}

pub fn pipe_throughput(iters: u64, size: usize) -> io::Result<Duration> {
    stream_throughput(iters, size, || {
        let (rx, tx) = pipe()?;
        Ok((File::from(rx), File::from(tx)))
    })
}

/// Two FIFOs in a fresh private directory, opened by both sides, then unlinked at once: the
/// open descriptors keep working and nothing is left in the file system.
fn fifo_pair<T>(
    peer_side: impl FnOnce(File, File) -> io::Result<()>,
    main_side: impl FnOnce(File, File) -> io::Result<T>,
) -> io::Result<T> {
    let dir = tempfile::tempdir()?;
    let (down, up) = (dir.path().join("down"), dir.path().join("up"));
    mkfifo(&down, Mode::S_IRUSR | Mode::S_IWUSR)?;
    mkfifo(&up, Mode::S_IRUSR | Mode::S_IWUSR)?;
    let mut peer_side = Some(peer_side);
    let peer = Peer::spawn(|_| {
        // Same order as the main side (down, then up): the opens pair up without a deadlock.
        let rx = File::open(&down)?;
        let tx = File::options().write(true).open(&up)?;
        peer_side.take().expect("once")(rx, tx)
    })?;
    let tx = File::options().write(true).open(&down)?;
    let rx = File::open(&up)?;
    drop(dir);
    let result = main_side(rx, tx)?;
    peer.join()?;
    Ok(result)
}

pub fn fifo_latency(iters: u64) -> io::Result<Duration> {
    fifo_pair(|rx, tx| echo(iters + 1, rx, tx), |rx, tx| ping(iters, rx, tx))
}

pub fn fifo_throughput(iters: u64, size: usize) -> io::Result<Duration> {
    // The peer sends on "up"; what it reads on "down" is the start signal.
    fifo_pair(
        |mut rx, mut tx| {
            let source = buffer();
            rx.read_exact(&mut [0u8; 1])?;
            for _ in 0..iters {
                for chunk in source.chunks(size) {
                    tx.write_all(chunk)?;
                }
            }
            Ok(())
        },
        |mut rx, mut tx| {
            let mut target = buffer();
            tx.write_all(b"g")?;
            let start = Instant::now();
            for _ in 0..iters {
                for chunk in target.chunks_mut(size) {
                    rx.read_exact(chunk)?;
                }
            }
            Ok(start.elapsed())
        },
    )
}

/// Round trips over a connected two-way stream pair: the peer echoes on its end.
fn two_way_latency<S>(iters: u64, (main, peer_end): (S, S)) -> io::Result<Duration>
where
    for<'a> &'a S: Read + Write,
{
    let peer = Peer::spawn(|_| echo(iters + 1, &peer_end, &peer_end))?;
    drop(peer_end);
    let elapsed = ping(iters, &main, &main)?;
    peer.join()?;
    Ok(elapsed)
}

pub fn unix_stream_latency(iters: u64) -> io::Result<Duration> {
    two_way_latency(iters, UnixStream::pair()?)
}

/// Frames on a Unix stream pair, as the reference `write_frame`/`read_frame` make them and
/// with the same system calls, minus their allocations: the sender writes a 4-byte length and
/// the message in one `write` (from a buffer it reuses), the receiver reads the length, then
/// the message straight into its target.
pub fn unix_stream_throughput(iters: u64, size: usize) -> io::Result<Duration> {
    let (mut main, mut peer_end) = UnixStream::pair()?;
    let mut frame = Vec::with_capacity(4 + size);
    message_throughput(
        iters,
        size,
        |chunk| {
            frame.clear();
            frame.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
            frame.extend_from_slice(chunk);
            peer_end.write_all(&frame)
        },
        |chunk| {
            let mut header = [0u8; 4];
            main.read_exact(&mut header)?;
            main.read_exact(chunk)
        },
    )
}

/// A connected loopback TCP pair, Nagle off on both ends (`TCP_NODELAY`, `man 7 tcp`).
pub fn tcp_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let client = TcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    Ok((client, server))
}

pub fn tcp_latency(iters: u64) -> io::Result<Duration> {
    two_way_latency(iters, tcp_pair()?)
}

pub fn tcp_throughput(iters: u64, size: usize) -> io::Result<Duration> {
    stream_throughput(iters, size, tcp_pair)
}

// ---------------------------------------------------------------------------------------------
// Message channels: SOCK_SEQPACKET, System V and POSIX message queues.

fn seqpacket() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?)
}

pub fn seqpacket_latency(iters: u64) -> io::Result<Duration> {
    let (main, peer_end) = seqpacket()?;
    let peer = Peer::spawn(|_| {
        let mut buf = [0u8; MSG];
        for _ in 0..=iters {
            let n = recv(peer_end.as_raw_fd(), &mut buf, MsgFlags::empty())?;
            send(peer_end.as_raw_fd(), &buf[..n], MsgFlags::empty())?;
        }
        Ok(())
    })?;
    drop(peer_end);
    let mut buf = [7u8; MSG];
    let elapsed = timed(iters, || {
        send(main.as_raw_fd(), &buf, MsgFlags::empty())?;
        recv(main.as_raw_fd(), &mut buf, MsgFlags::empty())?;
        Ok(())
    })?;
    peer.join()?;
    Ok(elapsed)
}

/// Messages of `size` bytes, one `send` each; `recv` into the 64 MiB target.
pub fn seqpacket_throughput(iters: u64, size: usize) -> io::Result<Duration> {
    let (main, peer_end) = seqpacket()?;
    message_throughput(
        iters,
        size,
        |chunk| Ok(send(peer_end.as_raw_fd(), chunk, MsgFlags::empty()).map(drop)?),
        |chunk| Ok(recv(main.as_raw_fd(), chunk, MsgFlags::empty()).map(drop)?),
    )
}

/// Moves `iters` × 64 MiB as `size`-byte messages: the peer calls `send` on each piece of its
/// source, this process `receive` on each piece of its target.
pub fn message_throughput<S, R>(iters: u64, size: usize, mut send: S, mut receive: R) -> io::Result<Duration>
where
    S: FnMut(&[u8]) -> io::Result<()>,
    R: FnMut(&mut [u8]) -> io::Result<()>,
{
    let mut peer = Peer::spawn(|ready| {
        let source = buffer();
        ready.signal()?;
        for _ in 0..iters {
            for chunk in source.chunks(size) {
                send(chunk)?;
            }
        }
        Ok(())
    })?;
    let mut target = buffer();
    peer.wait_ready()?;
    let start = Instant::now();
    for _ in 0..iters {
        for chunk in target.chunks_mut(size) {
            receive(chunk)?;
        }
    }
    let elapsed = start.elapsed();
    peer.join()?;
    Ok(elapsed)
}

/// The largest body the System V benchmarks send (the default `msgmax` is 8192).
pub const SYSV_BODY: usize = 4096;

/// A System V message as `msgsnd` and `msgrcv` take it: the type, then the body.
#[repr(C)]
pub struct SysvBuf {
    pub mtype: libc::c_long,
    pub text: [u8; SYSV_BODY],
}

/// A new private System V queue (`msgget(IPC_PRIVATE, 0600)`), removed when dropped.
pub fn sysv_queue() -> io::Result<SysvId> {
    // SAFETY: msgget takes no pointer.
    let id = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) };
    if id < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(SysvId::track(id))
}

fn msgsnd(id: i32, buf: &SysvBuf, len: usize) -> io::Result<()> {
    // SAFETY: `buf` is a type followed by at least `len` bytes.
    if unsafe { libc::msgsnd(id, (buf as *const SysvBuf).cast(), len, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn msgrcv(id: i32, buf: &mut SysvBuf, len: usize, mtype: libc::c_long) -> io::Result<usize> {
    // SAFETY: `buf` is a type followed by at least `len` bytes of room.
    let n = unsafe { libc::msgrcv(id, (buf as *mut SysvBuf).cast(), len, mtype, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// One queue both ways: type 1 goes to the peer, type 2 comes back.
pub fn sysv_latency(iters: u64) -> io::Result<Duration> {
    let queue = sysv_queue()?;
    let id = queue.0;
    let peer = Peer::spawn(|_| {
        let mut buf = SysvBuf { mtype: 0, text: [0; SYSV_BODY] };
        for _ in 0..=iters {
            let n = msgrcv(id, &mut buf, MSG, 1)?;
            buf.mtype = 2;
            msgsnd(id, &buf, n)?;
        }
        Ok(())
    })?;
    let mut buf = SysvBuf { mtype: 1, text: [7; SYSV_BODY] };
    let elapsed = timed(iters, || {
        buf.mtype = 1;
        msgsnd(id, &buf, MSG)?;
        msgrcv(id, &mut buf, MSG, 2).map(drop)
    })?;
    peer.join()?;
    Ok(elapsed)
}

pub fn sysv_throughput(iters: u64, size: usize) -> io::Result<Duration> {
    if size > SYSV_BODY {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "larger than msgmax"));
    }
    let queue = sysv_queue()?;
    let id = queue.0;
    let mut out = Box::new(SysvBuf { mtype: 1, text: [0; SYSV_BODY] });
    let mut inp = Box::new(SysvBuf { mtype: 0, text: [0; SYSV_BODY] });
    message_throughput(
        iters,
        size,
        |chunk| {
            out.text[..chunk.len()].copy_from_slice(chunk);
            msgsnd(id, &out, chunk.len())
        },
        |chunk| {
            let n = msgrcv(id, &mut inp, chunk.len(), 1)?;
            chunk[..n].copy_from_slice(&inp.text[..n]);
            Ok(())
        },
    )
}

/// A POSIX queue descriptor that is closed when dropped (nix's `MqdT` is not): a run opens one
/// per sample, thousands on a fast machine, and leaking them ends in EMFILE.
pub struct Queue(Option<MqdT>);

impl std::ops::Deref for Queue {
    type Target = MqdT;

    fn deref(&self) -> &MqdT {
        self.0.as_ref().expect("a queue is open until dropped")
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        if let Some(queue) = self.0.take() {
            let _ = nix::mqueue::mq_close(queue);
        }
    }
}

/// A POSIX queue for messages of `size` bytes, opened and unlinked at once: the descriptor
/// (inherited by the peer) keeps it alive, and nothing is left in /dev/mqueue even after Ctrl-C.
pub fn posix_queue(size: usize) -> io::Result<Queue> {
    let name = format!("/ipc-bench-{}-{size}", std::process::id());
    let attr = MqAttr::new(0, 10, size as nix::mqueue::mq_attr_member_t, 0);
    let flags = MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL | MQ_OFlag::O_RDWR | MQ_OFlag::O_CLOEXEC;
    let queue = mq_open(name.as_str(), flags, Mode::S_IRUSR | Mode::S_IWUSR, Some(&attr))?;
    let queue = Queue(Some(queue));
    mq_unlink(name.as_str())?;
    Ok(queue)
}

/// Two queues, one each way.
pub fn posix_latency(iters: u64) -> io::Result<Duration> {
    let down = posix_queue(MSG)?;
    let up = posix_queue(MSG + 1)?;
    let peer = Peer::spawn(|_| {
        let mut buf = [0u8; MSG + 1];
        let mut priority = 0;
        for _ in 0..=iters {
            let n = mq_receive(&down, &mut buf[..MSG], &mut priority)?;
            mq_send(&up, &buf[..n], 0)?;
        }
        Ok(())
    })?;
    let mut buf = [7u8; MSG + 1];
    let mut priority = 0;
    let elapsed = timed(iters, || {
        mq_send(&down, &buf[..MSG], 0)?;
        mq_receive(&up, &mut buf, &mut priority)?;
        Ok(())
    })?;
    peer.join()?;
    Ok(elapsed)
}

pub fn posix_throughput(iters: u64, size: usize) -> io::Result<Duration> {
    let queue = posix_queue(size)?;
    let mut priority = 0;
    message_throughput(
        iters,
        size,
        |chunk| Ok(mq_send(&queue, chunk, 0)?),
        |chunk| Ok(mq_receive(&queue, chunk, &mut priority).map(drop)?),
    )
}

// ---------------------------------------------------------------------------------------------
// Signals.

static DELIVERED: AtomicU64 = AtomicU64::new(0);

extern "C" fn count(_: libc::c_int) {
    DELIVERED.fetch_add(1, Ordering::Release);
}

fn sigqueue(pid: Pid, signal: i32, value: i32) -> io::Result<()> {
    let sigval = libc::sigval { sival_ptr: value as usize as *mut libc::c_void };
    // SAFETY: sigqueue takes the sigval by value.
    if unsafe { libc::sigqueue(pid.as_raw(), signal, sigval) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn await_delivery(n: u64) -> io::Result<()> {
    spin_until("real-time signal", || DELIVERED.load(Ordering::Acquire) >= n)
}

/// A real-time signal each way (`sigqueue` with a value), caught by a handler that counts it;
/// the receiver spins on the count. The same calls as the reference counter, without it.
pub fn signal_latency(iters: u64) -> io::Result<Duration> {
    let signal = libc::SIGRTMIN() + 2;
    // SAFETY: `count` only touches an atomic (async-signal-safe); the previous disposition is
    // restored below.
    let previous = unsafe { libc::signal(signal, count as *const () as libc::sighandler_t) };
    DELIVERED.store(0, Ordering::SeqCst);
    let main = Pid::this();
    let mut peer = Peer::spawn(|ready| {
        ready.signal()?;
        for i in 1..=iters + 1 {
            await_delivery(i)?;
            sigqueue(main, signal, i as i32)?;
        }
        Ok(())
    })?;
    peer.wait_ready()?;
    let child = peer.pid();
    let mut i = 0;
    let elapsed = timed(iters, || {
        i += 1;
        sigqueue(child, signal, i as i32)?;
        await_delivery(i)
    });
    let joined = peer.join();
    // SAFETY: restores what was there before.
    unsafe { libc::signal(signal, previous) };
    joined?;
    elapsed
}
