// The reference answers' APIs (or a learner's attempt at them) driven through the same round
// trips and transfers as the raw loops. `include!`d twice by main.rs: once with `api` = the
// reference solutions, once with `api` = the learner's katas (the `katas` crate in attempt/).

use std::io;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use crate::proc::{Peer, SysvId, spin_until};
use crate::raw::{MSG, message_throughput, timed};

/// The answering function given to the `ask_child` answers: an echo that, on its first call
/// (in the forked child), pins the child to the peer CPU. A plain `fn`, as the API wants.
fn echo_pinned(request: &[u8]) -> Vec<u8> {
    static PINNED: AtomicBool = AtomicBool::new(false);
    if !PINNED.swap(true, Ordering::Relaxed) {
        let _ = crate::proc::pin(crate::proc::Side::Peer);
    }
    request.to_vec()
}

fn requests(iters: u64) -> Vec<Vec<u8>> {
    (0..iters).map(|_| vec![7u8; MSG]).collect()
}

type AskChild = fn(&[Vec<u8>], fn(&[u8]) -> Vec<u8>) -> io::Result<Vec<Vec<u8>>>;

/// Times `iters` round trips through an `ask_child` answer. The function forks its own child,
/// whose fork, exit and wait are no part of a round trip: a call with no request, timed just
/// before, measures them, and is subtracted.
fn ask_child_latency(ask_child: AskChild, iters: u64) -> io::Result<Duration> {
    let start = Instant::now();
    ask_child(&[], echo_pinned)?;
    let fixed = start.elapsed();
    let requests = requests(iters);
    let start = Instant::now();
    let answers = ask_child(&requests, echo_pinned)?;
    let elapsed = start.elapsed();
    check(answers.len() == requests.len())?;
    Ok(elapsed.saturating_sub(fixed))
}

/// `pipes::ask_child`: two pipes, a 4-byte length before each message.
pub fn pipe_latency(iters: u64) -> io::Result<Duration> {
    ask_child_latency(api::pipes::ask_child, iters)
}

/// `sockets::ask_child`: a socketpair and length-prefixed frames.
pub fn unix_stream_latency(iters: u64) -> io::Result<Duration> {
    ask_child_latency(api::sockets::ask_child, iters)
}

fn check(ok: bool) -> io::Result<()> {
    if ok { Ok(()) } else { Err(io::Error::other("wrong answers")) }
}

/// `sockets::message_pair`: `MessageSocket::send` and `recv` (SOCK_SEQPACKET).
pub fn seqpacket_latency(iters: u64) -> io::Result<Duration> {
    let (main, peer_end) = api::sockets::message_pair()?;
    let peer = Peer::spawn(|_| {
        for _ in 0..=iters {
            let message = peer_end.recv()?.ok_or_else(|| io::Error::other("closed"))?;
            peer_end.send(&message)?;
        }
        Ok(())
    })?;
    drop(peer_end);
    let message = [7u8; MSG];
    let elapsed = timed(iters, || {
        main.send(&message)?;
        main.recv()?.ok_or_else(|| io::Error::other("closed")).map(drop)
    })?;
    peer.join()?;
    Ok(elapsed)
}

/// `message_queues::SysvQueue`: one queue, type 1 to the peer, type 2 back.
pub fn sysv_latency(iters: u64) -> io::Result<Duration> {
    let queue = api::message_queues::SysvQueue::create(libc::IPC_PRIVATE)?;
    let _remove = SysvId::track(queue.id());
    let peer = Peer::spawn(|_| {
        for _ in 0..=iters {
            let message = queue.receive(1)?;
            queue.send(2, &message.body)?;
        }
        Ok(())
    })?;
    let message = [7u8; MSG];
    let elapsed = timed(iters, || {
        queue.send(1, &message)?;
        queue.receive(2).map(drop)
    })?;
    peer.join()?;
    Ok(elapsed)
}

/// A POSIX queue of the answer, created and unlinked at once (the open queue lives on).
fn posix_queue(tag: &str, size: usize) -> io::Result<api::message_queues::PosixQueue> {
    let name = format!("/ipc-bench-{}-{tag}-{size}", std::process::id());
    let queue = api::message_queues::PosixQueue::create(&name, 10, size)?;
    api::message_queues::PosixQueue::unlink(&name)?;
    Ok(queue)
}

/// `message_queues::PosixQueue`: two queues, one each way.
pub fn posix_latency(iters: u64) -> io::Result<Duration> {
    let down = posix_queue("down", MSG)?;
    let up = posix_queue("up", MSG)?;
    let peer = Peer::spawn(|_| {
        for _ in 0..=iters {
            let message = down.receive()?;
            up.send(&message.body, 0)?;
        }
        Ok(())
    })?;
    let message = [7u8; MSG];
    let elapsed = timed(iters, || {
        down.send(&message, 0)?;
        up.receive().map(drop)
    })?;
    peer.join()?;
    Ok(elapsed)
}

/// `producer_consumer::SpscRing`: two rings, one each way; 64 bytes are four 16-byte items.
pub fn shm_futex_latency(iters: u64) -> io::Result<Duration> {
    let down = api::producer_consumer::SpscRing::new(8)?;
    let up = api::producer_consumer::SpscRing::new(8)?;
    let peer = Peer::spawn(|_| {
        for _ in 0..=iters {
            let items = [down.pop()?, down.pop()?, down.pop()?, down.pop()?];
            for item in items {
                up.push(item)?;
            }
        }
        Ok(())
    })?;
    let mut i = 0u64;
    let elapsed = timed(iters, || {
        i += 1;
        for k in 0..4 {
            down.push([i, k])?;
        }
        for _ in 0..4 {
            up.pop()?;
        }
        Ok(())
    })?;
    peer.join()?;
    Ok(elapsed)
}

/// `signals::SignalCounter` and `queue_signal`: a real-time signal each way; each side spins
/// on its counter's `count()`.
pub fn signal_latency(iters: u64) -> io::Result<Duration> {
    let to_main = libc::SIGRTMIN() + 4;
    let to_peer = libc::SIGRTMIN() + 5;
    let counter = api::signals::SignalCounter::install(to_main)?;
    // Installed before the fork, so that the peer's first answer finds the handler; the peer
    // says when its own is installed.
    let main = Pid::this();
    let mut peer = Peer::spawn(|ready| {
        let counter = api::signals::SignalCounter::install(to_peer)?;
        ready.signal()?;
        for i in 1..=iters as usize + 1 {
            spin_until("SignalCounter (peer)", || counter.count() >= i)?;
            api::signals::queue_signal(main, to_main, i as i32)?;
        }
        Ok(())
    })?;
    peer.wait_ready()?;
    let child = peer.pid();
    let mut i = 0;
    let elapsed = timed(iters, || {
        i += 1;
        api::signals::queue_signal(child, to_peer, i as i32)?;
        spin_until("SignalCounter", || counter.count() >= i)
    });
    let joined = peer.join();
    joined?;
    elapsed
}

/// `sockets::write_frame` and `read_frame` over a Unix stream pair.
pub fn unix_stream_throughput(iters: u64, size: usize) -> io::Result<Duration> {
    let (mut main, mut peer_end) = UnixStream::pair()?;
    message_throughput(
        iters,
        size,
        |chunk| api::sockets::write_frame(&mut peer_end, chunk),
        |chunk| {
            let message = api::sockets::read_frame(&mut main)?.ok_or_else(|| io::Error::other("closed"))?;
            chunk.copy_from_slice(&message);
            Ok(())
        },
    )
}

/// `MessageSocket::send` and `recv`: messages of at most `MAX_MESSAGE` (64 KiB).
pub fn seqpacket_throughput(iters: u64, size: usize) -> io::Result<Duration> {
    let (main, peer_end) = api::sockets::message_pair()?;
    message_throughput(
        iters,
        size,
        |chunk| peer_end.send(chunk),
        |chunk| {
            let message = main.recv()?.ok_or_else(|| io::Error::other("closed"))?;
            chunk.copy_from_slice(&message);
            Ok(())
        },
    )
}

/// `SysvQueue::send` and `receive_into` (into the target, as the raw loop's msgrcv): bodies of
/// at most `MAX_BODY` (8 KiB).
pub fn sysv_throughput(iters: u64, size: usize) -> io::Result<Duration> {
    let queue = api::message_queues::SysvQueue::create(libc::IPC_PRIVATE)?;
    let _remove = SysvId::track(queue.id());
    message_throughput(
        iters,
        size,
        |chunk| queue.send(1, chunk),
        |chunk| queue.receive_into(1, chunk).map(drop),
    )
}

/// `PosixQueue::send` and `receive_into` (into the target, as the raw loop's mq_receive):
/// bodies up to the queue's size (`msgsize_max`, 8 KiB).
pub fn posix_throughput(iters: u64, size: usize) -> io::Result<Duration> {
    let queue = posix_queue("tput", size)?;
    message_throughput(
        iters,
        size,
        |chunk| queue.send(chunk, 0),
        |chunk| queue.receive_into(chunk).map(drop),
    )
}
