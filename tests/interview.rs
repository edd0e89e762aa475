//! Graded tests of the interview topic: `cargo test --test interview`.
//!
//! Each of the five classic questions is one or two katas; their tests make the answer concrete.

// The stubs' types have no Drop; a learner's (and the answer's) do, and the tests drop them.
#![allow(clippy::drop_non_drop)]

// This binary is also the peer program its tests start as "another process" (tests/peer/).
mod peer;
ipc_katas::peer_commands!(peer::run);

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use ipc_katas::grader::{Failure, Payload, Peer, Sandbox, caught_alarms_every, data, size};
use ipc_katas::{grade, kit};
use katas::interview::{q1_shm_vs_messages as q1, q2_pipes_vs_sockets as q2, q3_named_vs_anonymous as q3};
use katas::message_queues::SysvQueue;

/// Helpers of the q1-q3 tests.
mod support {
    use super::*;

    /// Moves this (single-threaded) process into a new user and IPC namespace (`man 7
    /// ipc_namespaces`, `man 7 user_namespaces`), its uid and gid mapped to themselves: the
    /// SysV objects it makes from now on are the namespace's first, with id 0.
    pub fn fresh_ipc_namespace() -> std::io::Result<()> {
        // SAFETY: getuid, getgid and unshare have no memory preconditions; the caller is
        // single-threaded, as CLONE_NEWUSER requires.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWIPC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        fs::write("/proc/self/uid_map", format!("{uid} {uid} 1"))?;
        fs::write("/proc/self/setgroups", "deny")?;
        fs::write("/proc/self/gid_map", format!("{gid} {gid} 1"))
    }

    /// A wrong answer in a test of id 0: says where it ran (`fresh`: in a new IPC namespace,
    /// whose first `objects`, or in the test's own one, where no new one is allowed).
    pub fn id_0_failure(fresh: bool, objects: &str) -> impl Fn(String) -> Failure {
        let place = if fresh {
            format!("in a new IPC namespace, whose first {objects}")
        } else {
            "in the test's own IPC namespace (the kernel allows no new one here)".to_string()
        };
        move |what| Failure::wrong(format!("{place}, {what}: 0 is a valid SysV id, only -1 is an error"))
    }
}

mod q1_shm_vs_messages {
    use ipc_katas::kit::process::seen_in_call;

    use ipc_katas::kit::seccomp::{FUTEX_CALLS, trap_futex};

    use super::support::*;
    use super::*;

    const PATIENCE: Duration = Duration::from_secs(4);

    fn mailbox(s: &mut Sandbox, capacity: usize) -> Result<q1::ShmMailbox, Failure> {
        let key = s.sysv_key();
        s.call(format!("ShmMailbox::create(key, {capacity})"), || q1::ShmMailbox::create(key, capacity))
    }

    fn queue(s: &mut Sandbox) -> Result<SysvQueue, Failure> {
        let key = s.sysv_key();
        s.call("SysvQueue::create (your message_queues kata)", || SysvQueue::create(key))
    }

    /// A sender process sends every payload through the mailbox, then through the queue; this
    /// process receives them and compares. Afterwards nothing is left in the queue.
    fn both_ways(s: &mut Sandbox, payloads: &[Vec<u8>], capacity: usize) -> Result<(), Failure> {
        let mb = mailbox(s, capacity)?;
        let q = queue(s)?;
        let sender = s.fork("the sending process", || {
            for (i, p) in payloads.iter().enumerate() {
                mb.send(p, PATIENCE)
                    .map_err(|e| Failure::kata_error(&format!("ShmMailbox::send of payload {i}"), e))?;
            }
            for (i, p) in payloads.iter().enumerate() {
                q1::send_payload(&q, p).map_err(|e| Failure::kata_error(&format!("send_payload of payload {i}"), e))?;
            }
            Ok(())
        })?;
        for (i, p) in payloads.iter().enumerate() {
            let got =
                s.call(format!("ShmMailbox::receive of payload {i} ({})", size(p.len())), || mb.receive(PATIENCE))?;
            s.expect_bytes(&format!("the bytes of payload {i} through shared memory"), p, &got)?;
        }
        for (i, p) in payloads.iter().enumerate() {
            let got =
                s.call(format!("receive_payload of payload {i} ({})", size(p.len())), || q1::receive_payload(&q))?;
            s.expect_bytes(&format!("the bytes of payload {i} through the message queue"), p, &got)?;
        }
        sender.join()?;
        let left = s.call("SysvQueue::try_receive, to check that nothing is left in the queue", || q.try_receive(0))?;
        s.expect(left.is_none(), || {
            format!(
                "after every payload was received, the queue still holds a message of {}: receive_payload \
                 must take every message of its payload (an end marker too), and no more",
                size(left.as_ref().map_or(0, |m| m.body.len()))
            )
        })?;
        s.ok("ShmMailbox::remove", mb.remove())?;
        s.ok("SysvQueue::remove", q.remove())
    }

    #[test]
    fn every_payload_arrives_exact_and_in_order_through_the_mailbox_and_through_the_queue() {
        let strategy = proptest::collection::vec(data::payload(96 * 1024), 1..4);
        grade!().property(12, strategy, |s, payloads| {
            let payloads: Vec<Vec<u8>> = payloads.iter().map(Payload::bytes).collect();
            both_ways(s, &payloads, 96 * 1024)
        });
    }

    #[test]
    fn empty_payloads_and_whole_multiples_of_a_queue_message_keep_their_boundaries() {
        grade!().run(|s| {
            let sizes = [0, q1::MAX_BODY, 2 * q1::MAX_BODY, 1, 0, q1::MAX_BODY - 1, q1::MAX_BODY + 1, 3 * q1::MAX_BODY];
            let payloads: Vec<Vec<u8>> =
                sizes.iter().enumerate().map(|(i, &n)| Payload::new(n, 40 + i as u64).bytes()).collect();
            both_ways(s, &payloads, 3 * q1::MAX_BODY)
        });
    }

    #[test]
    fn a_megabyte_crosses_both_the_mailbox_and_a_queue_that_holds_16_kib() {
        grade!().run(|s| {
            let payloads = vec![Payload::new(1 << 20, 7).bytes(), Vec::new(), Payload::new(1 << 20, 8).bytes()];
            both_ways(s, &payloads, 1 << 20)
        });
    }

    #[test]
    fn a_send_and_a_receive_that_never_wait_make_no_futex_system_call() {
        grade!().run(|s| {
            const ROUNDS: u8 = 100;
            let mb = mailbox(s, 64)?;
            let worker =
                s.fork("the process that sends and receives with nobody waiting (futex calls trapped)", || {
                    trap_futex()?;
                    for i in 0..ROUNDS {
                        mb.send(&[i; 8], PATIENCE)
                            .map_err(|e| Failure::kata_error(&format!("ShmMailbox::send of payload {i}"), e))?;
                        let got = mb
                            .receive(PATIENCE)
                            .map_err(|e| Failure::kata_error(&format!("ShmMailbox::receive of payload {i}"), e))?;
                        if got != [i; 8] {
                            return Err(Failure::wrong(format!("payload {i} came back as {got:?}")));
                        }
                    }
                    match FUTEX_CALLS.load(std::sync::atomic::Ordering::Relaxed) {
                        0 => Ok(()),
                        calls => Err(Failure::wrong(format!(
                            "{ROUNDS} sends and receives in one process, none of which had to wait, made {calls} futex \
                         system calls: a FUTEX_WAKE on every store costs a system call when nobody sleeps. Count \
                         the sleepers in the header (add before FUTEX_WAIT, subtract after) and wake only when \
                         the count is not 0, as producer_consumer::SpscRing does"
                        ))),
                    }
                })?;
            worker.join()?;
            s.ok("ShmMailbox::remove", mb.remove())
        });
    }

    #[test]
    fn a_full_mailbox_makes_send_wait_and_an_empty_one_makes_receive_wait_until_the_timeout() {
        grade!().run(|s| {
            let mb = mailbox(s, 64)?;
            let wait = Duration::from_millis(150);
            let check_wait = |s: &Sandbox, call: &str, started: Instant| {
                let took = started.elapsed();
                s.expect(took >= wait && took < Duration::from_secs(3), || {
                    format!(
                        "{call} with a timeout of {wait:?} returned TimedOut after {took:?}: wait the whole timeout"
                    )
                })
            };
            s.phase("calling receive on an empty mailbox with a timeout of 150 ms");
            let started = Instant::now();
            s.expect_err("receive on an empty mailbox", mb.receive(wait), ErrorKind::TimedOut)?;
            check_wait(s, "receive on an empty mailbox", started)?;
            let first = Payload::new(64, 1).bytes();
            s.call("ShmMailbox::send of a first payload", || mb.send(&first, wait))?;
            s.phase("sending a second payload while the first is still in the mailbox");
            let started = Instant::now();
            let second = s.expect_err(
                "send while the mailbox is full (the first payload was not received yet)",
                mb.send(&Payload::new(10, 2).bytes(), wait),
                ErrorKind::TimedOut,
            );
            second?;
            check_wait(s, "send on a full mailbox", started)?;
            let got = s.call("ShmMailbox::receive of the first payload", || mb.receive(wait))?;
            s.expect_bytes("the payload in the mailbox (a second send must not overwrite it)", &first, &got)?;
            s.phase("calling receive again: the payload was taken, the mailbox is empty");
            s.expect_err("a second receive of one payload", mb.receive(wait), ErrorKind::TimedOut)?;
            s.ok("ShmMailbox::remove", mb.remove())
        });
    }

    #[test]
    fn a_payload_bigger_than_the_mailbox_is_invalid_input_and_nothing_of_it_is_sent() {
        grade!().run(|s| {
            let mb = mailbox(s, 1000)?;
            s.expect_eq("ShmMailbox::capacity", &1000, &mb.capacity())?;
            s.phase("sending 1001 bytes through a mailbox of 1000");
            s.expect_err(
                "send of 1001 bytes",
                mb.send(&Payload::new(1001, 3).bytes(), PATIENCE),
                ErrorKind::InvalidInput,
            )?;
            s.phase("receiving after the refused send: nothing may be there");
            match mb.receive(Duration::from_millis(50)) {
                Err(e) if e.kind() == ErrorKind::TimedOut => {}
                Ok(got) => {
                    return Err(Failure::wrong(format!(
                        "after send refused 1001 bytes, receive returned {}: a payload that does not fit \
                         must not be sent at all, not cut to fit",
                        size(got.len())
                    )));
                }
                Err(e) => return Err(Failure::wrong(format!("receive on an empty mailbox failed with {e}"))),
            }
            let full = Payload::new(1000, 4).bytes();
            s.call("ShmMailbox::send of exactly 1000 bytes", || mb.send(&full, PATIENCE))?;
            let got = s.ok("ShmMailbox::receive", mb.receive(PATIENCE))?;
            s.expect_bytes("a payload of exactly the capacity", &full, &got)?;
            s.ok("ShmMailbox::remove", mb.remove())?;
            let key = s.sysv_key();
            s.phase("calling ShmMailbox::create with capacity 0");
            s.expect_err("ShmMailbox::create(key, 0)", q1::ShmMailbox::create(key, 0), ErrorKind::InvalidInput)
                .map(drop)
        });
    }

    #[test]
    fn the_segment_is_0600_made_exclusively_and_gone_after_remove_and_the_last_detach() {
        grade!().run(|s| {
            let key = s.sysv_key();
            let mb = s.call("ShmMailbox::create(key, 5000)", || q1::ShmMailbox::create(key, 5000))?;
            let id = mb.id();
            let row = kit::sysv::row("shm", id);
            s.expect(row.is_some(), || format!("ShmMailbox::id returned {id}, which /proc/sysvipc/shm does not list"))?;
            let (mode, bytes) = row.map(|r| (r.mode(), r.size)).unwrap_or_default();
            s.expect_eq("the segment's mode bits (owner read and write only)", &0o600, &mode)?;
            s.expect(bytes >= 5000, || format!("the segment has {bytes} bytes, too few for a payload of 5000"))?;
            s.phase("calling ShmMailbox::create again with the same key");
            s.expect_err(
                "create with a key that has a segment",
                q1::ShmMailbox::create(key, 5000),
                ErrorKind::AlreadyExists,
            )?;
            s.ok("ShmMailbox::remove", mb.remove())?;
            s.expect(kit::sysv::row("shm", id).is_some(), || {
                "the segment vanished at remove while still attached: IPC_RMID frees it at the last detach".to_string()
            })?;
            drop(mb);
            s.expect(kit::sysv::row("shm", id).is_none(), || {
                format!("segment {id} is still in /proc/sysvipc/shm after remove and the drop: detach in Drop (shmdt)")
            })
        });
    }

    #[test]
    fn a_segment_with_id_0_is_valid_a_mailbox_in_a_fresh_ipc_namespace_works() {
        grade!().run(|s| {
            let key = s.sysv_key();
            s.phase("in a process of the test's own in a new IPC namespace: create, send, receive, remove");
            let inside = s.fork("the process in a new IPC namespace", || {
                // Where the kernel allows no user namespace, the same runs in this one (where
                // an id is rarely 0).
                let fresh = fresh_ipc_namespace().is_ok();
                let wrong = id_0_failure(fresh, "segment gets id 0");
                let mb =
                    q1::ShmMailbox::create(key, 64).map_err(|e| wrong(format!("ShmMailbox::create returned {e}")))?;
                mb.send(b"id 0", PATIENCE).map_err(|e| wrong(format!("ShmMailbox::send returned {e}")))?;
                let got = mb.receive(PATIENCE).map_err(|e| wrong(format!("ShmMailbox::receive returned {e}")))?;
                if got != b"id 0" {
                    return Err(wrong(format!("what was sent came back as {got:?}")));
                }
                let id = mb.id();
                mb.remove().map_err(|e| wrong(format!("ShmMailbox::remove returned {e}")))?;
                if fresh && id != 0 {
                    return Err(Failure::crash(format!("in a new IPC namespace the test expected id 0, got {id}")));
                }
                Ok(())
            })?;
            inside.join()
        });
    }

    #[test]
    fn a_receiver_of_an_empty_mailbox_and_a_sender_to_a_full_one_sleep_in_futex_and_wake_at_once() {
        grade!().run(|s| {
            let mb = mailbox(s, 64)?;
            // Far beyond the sandbox's deadline: a wake-up that does not come is a hang.
            const LONG: Duration = Duration::from_secs(60);
            s.phase("a receiving process waits on the empty mailbox");
            let receiver = s.fork("the receiving process (caught signals arriving)", || {
                // A caught SIGALRM every 5 ms, without SA_RESTART: FUTEX_WAIT returns EINTR.
                caught_alarms_every(Some(Duration::from_millis(5)));
                let got = mb.receive(LONG);
                caught_alarms_every(None);
                let got = got.map_err(|e| {
                    Failure::wrong(format!(
                        "ShmMailbox::receive returned {e} (kind {:?}) while caught signals came as it waited: a futex \
                         wait interrupted by a signal (EINTR) must wait again",
                        e.kind()
                    ))
                })?;
                if got != b"wake" {
                    return Err(Failure::wrong(format!("the receiver got {got:?}, not b\"wake\"")));
                }
                Ok(())
            })?;
            // Asleep in futex for 100 ms: 20 caught signals came meanwhile.
            s.expect(seen_in_call(receiver.pid(), libc::SYS_futex, Duration::from_millis(100)), || {
                "a receiver waiting on an empty mailbox was not seen asleep in futex for 3 s: it spins, burning a CPU \
                 while it waits (FUTEX_WAIT on the state word while it still holds the value seen)"
                    .to_string()
            })?;
            s.phase("sending to the waiting receiver (stuck here: the send did not wake it, FUTEX_WAKE)");
            s.ok("ShmMailbox::send", mb.send(b"wake", PATIENCE))?;
            receiver.join()?;
            s.ok("ShmMailbox::send", mb.send(b"first", PATIENCE))?;
            s.phase("a sending process waits on the full mailbox");
            let sender = s.fork("the sending process", || {
                mb.send(b"second", LONG).map_err(|e| Failure::kata_error("ShmMailbox::send to a full mailbox", e))
            })?;
            s.expect(seen_in_call(sender.pid(), libc::SYS_futex, Duration::from_millis(20)), || {
                "a sender waiting on a full mailbox was not seen asleep in futex for 3 s: it spins, burning a CPU \
                 while it waits"
                    .to_string()
            })?;
            s.phase("receiving from the full mailbox (stuck here: the receive did not wake the waiting sender)");
            let got = s.ok("ShmMailbox::receive", mb.receive(PATIENCE))?;
            s.expect_bytes("the first payload", b"first", &got)?;
            sender.join()?;
            let got = s.ok("ShmMailbox::receive", mb.receive(PATIENCE))?;
            s.expect_bytes("the payload the waiting sender sent", b"second", &got)?;
            s.ok("ShmMailbox::remove", mb.remove())
        });
    }

    #[test]
    fn a_corrupt_length_in_the_segment_never_makes_receive_read_past_the_mailbox() {
        grade!().run(|s| {
            let mb = mailbox(s, 64)?;
            s.phase("writing a full state and a length of 1000 into the mailbox's header, through the segment");
            // SAFETY: attaching the mailbox's segment by id; detached below. The header's layout
            // is the answer's: a state word (FULL = 2), then at offset 8 the length (u64).
            unsafe {
                let addr = libc::shmat(mb.id(), std::ptr::null(), 0);
                if addr as isize == -1 {
                    return Err(Failure::crash(format!(
                        "the test could not attach the segment: {}",
                        std::io::Error::last_os_error()
                    )));
                }
                addr.cast::<u8>().add(8).cast::<u64>().write_volatile(1000);
                addr.cast::<std::sync::atomic::AtomicU32>()
                    .as_ref()
                    .expect("attached")
                    .store(2, std::sync::atomic::Ordering::SeqCst);
                libc::shmdt(addr);
            }
            s.phase("calling ShmMailbox::receive on a slot whose length is corrupt");
            match mb.receive(PATIENCE) {
                Ok(got) => s.expect(got.len() <= 64, || {
                    format!(
                        "the header said 1000 bytes in a mailbox of 64, and receive returned {}: a length from shared \
                         memory is untrusted, clamp it to the capacity (or refuse it)",
                        size(got.len())
                    )
                })?,
                Err(e) => s.expect(e.kind() == ErrorKind::InvalidData, || {
                    format!("receive of a corrupt length failed with {e} (kind {:?}), not InvalidData", e.kind())
                })?,
            }
            s.ok("ShmMailbox::remove", mb.remove())
        });
    }

    #[test]
    fn a_queue_whose_framing_is_broken_gives_invalid_data_not_a_wrong_payload_or_a_hang() {
        grade!().run(|s| {
            let len = |n: u64| n.to_le_bytes().to_vec();
            let cases: [(&str, Vec<Vec<u8>>); 3] = [
                ("a length message of 7 bytes", vec![vec![0; 7]]),
                ("a length of 5, then a chunk of 6 bytes", vec![len(5), vec![1; 6]]),
                ("a length of 5, then an empty chunk", vec![len(5), Vec::new(), vec![1; 5]]),
            ];
            for (what, messages) in cases {
                let q = queue(s)?;
                s.phase(format!("sending {what} with the test's own SysvQueue::send"));
                for m in &messages {
                    s.ok("SysvQueue::send", q.send(1, m))?;
                }
                s.phase(format!("calling receive_payload on {what}"));
                let got = q1::receive_payload(&q);
                s.expect_err(&format!("receive_payload of {what}"), got, ErrorKind::InvalidData)?;
                s.ok("SysvQueue::remove", q.remove())?;
            }
            Ok(())
        });
    }

    #[test]
    fn a_removed_queue_is_an_error_for_both_ends_not_a_hang() {
        grade!().run(|s| {
            let key = s.sysv_key();
            s.phase("calling SysvQueue::create and SysvQueue::open (your message_queues kata)");
            let q = s.ok("SysvQueue::create", SysvQueue::create(key))?;
            let other = s.ok("SysvQueue::open", SysvQueue::open(key))?;
            s.ok("SysvQueue::remove", other.remove())?;
            s.phase("calling send_payload on a removed queue");
            let sent = q1::send_payload(&q, &Payload::new(20_000, 5).bytes());
            s.expect(sent.is_err(), || "send_payload on a removed queue returned Ok".to_string())?;
            s.phase("calling receive_payload on a removed queue");
            let got = q1::receive_payload(&q);
            s.expect(got.is_err(), || "receive_payload on a removed queue returned Ok".to_string())
        });
    }
}

mod q2_pipes_vs_sockets {
    use super::*;

    fn reversed(request: &[u8]) -> Vec<u8> {
        request.iter().rev().copied().collect()
    }

    fn check_answers(s: &Sandbox, how: &str, requests: &[Vec<u8>], answers: &[Vec<u8>]) -> Result<(), Failure> {
        s.expect(answers.len() == requests.len(), || {
            format!("{how}: {} requests got {} answers: one answer per request", requests.len(), answers.len())
        })?;
        for (i, (request, answer)) in requests.iter().zip(answers).enumerate() {
            if answer == request && !request.is_empty() && reversed(request) != *request {
                return Err(Failure::wrong(format!(
                    "{how}: the answer to request {i} is the request itself, not its answer: did a process read \
                     back its own message? A pipe carries one direction; use one pipe for requests and another \
                     for answers"
                )));
            }
            s.expect_bytes(
                &format!("{how}: the answer to request {i} ({})", size(request.len())),
                &reversed(request),
                answer,
            )?;
        }
        Ok(())
    }

    fn ask_child(s: &Sandbox, requests: &[Vec<u8>]) -> Result<(), Failure> {
        let answers = s.call(
            format!("over_pipes with {} requests, each answered reversed by the child", requests.len()),
            || q2::over_pipes(requests, reversed),
        )?;
        check_answers(s, "over_pipes", requests, &answers)
    }

    #[test]
    fn every_request_gets_its_answer_in_order_over_two_pipes() {
        let strategy = proptest::collection::vec(data::payload(100 * 1024), 0..6);
        grade!().property(16, strategy, |s, requests| {
            ask_child(s, &requests.iter().map(Payload::bytes).collect::<Vec<_>>())
        });
    }

    #[test]
    fn eight_requests_and_a_megabyte_each_way_over_two_pipes() {
        grade!().run(|s| {
            let mut requests: Vec<Vec<u8>> = (0..8).map(|i| Payload::new(100 + i * 997, i as u64).bytes()).collect();
            requests.push(Payload::new(1 << 20, 99).bytes());
            ask_child(s, &requests)
        });
    }

    #[test]
    fn no_request_means_no_answer_and_the_child_still_ends_and_is_reaped() {
        grade!().run(|s| ask_child(s, &[]));
    }

    /// Starts the trusted server program and waits until it listens (it says so on a FIFO).
    #[test]
    fn a_client_waiting_for_its_answer_keeps_reading_through_caught_signals() {
        grade!().run(|s| {
            let path = s.path("slow.sock");
            let listener = std::os::unix::net::UnixListener::bind(&path).map_err(Failure::test_error("bind a socket"))?;
            let request = b"wait for me".to_vec();
            let server = s.fork("the test's slow server", || {
                let (mut conn, _) = listener.accept().map_err(Failure::test_error("accept"))?;
                let mut header = [0u8; 4];
                conn.read_exact(&mut header).map_err(Failure::test_error("read a request's header"))?;
                let mut body = vec![0u8; u32::from_be_bytes(header) as usize];
                conn.read_exact(&mut body).map_err(Failure::test_error("read a request"))?;
                // The client now waits in read for the answer: 100 ms, 20 of its caught signals.
                std::thread::sleep(Duration::from_millis(100));
                let answer = reversed(&body);
                let mut frame = (answer.len() as u32).to_be_bytes().to_vec();
                frame.extend_from_slice(&answer);
                conn.write_all(&frame).map_err(Failure::test_error("write the answer"))?;
                let _ = conn.read_to_end(&mut Vec::new());
                Ok(())
            })?;
            s.phase("calling over_socket with a caught SIGALRM every 5 ms (no SA_RESTART: a read that waits returns EINTR)");
            caught_alarms_every(Some(Duration::from_millis(5)));
            let answers = q2::over_socket(&path, std::slice::from_ref(&request));
            caught_alarms_every(None);
            let answers = answers.map_err(|e| {
                Failure::wrong(format!(
                    "over_socket returned {e} (kind {:?}) while caught signals came as it waited for its answer: a read \
                     interrupted by a signal (EINTR) must be tried again",
                    e.kind()
                ))
            })?;
            check_answers(s, "over_socket with caught signals arriving", &[request], &answers)?;
            server.join()?;
            drop(listener);
            fs::remove_file(&path).map_err(Failure::test_error("remove the socket file"))
        });
    }

    /// Whether the peer of `conn` has read everything written to it: the bytes still queued,
    /// SIOCOUTQ (the same number as TIOCOUTQ, `man 7 unix`), are none.
    fn all_read(conn: &std::os::unix::net::UnixStream) -> bool {
        let mut queued: libc::c_int = 0;
        // SAFETY: SIOCOUTQ writes one int.
        unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(conn), libc::TIOCOUTQ, &mut queued) == 0 && queued == 0 }
    }

    #[test]
    fn answers_that_come_a_byte_at_a_time_stop_mid_header_announce_too_much_or_never_come_are_read_right() {
        grade!().run(|s| {
            let path = s.path("bytes.sock");
            let listener =
                std::os::unix::net::UnixListener::bind(&path).map_err(Failure::test_error("bind a socket"))?;
            let request = b"one byte at a time".to_vec();
            // A server of the test's own: one connection each way of answering.
            let server = s.fork("the test's server", || {
                for way in 0..4 {
                    let (mut conn, _) = listener.accept().map_err(Failure::test_error("accept"))?;
                    if way == 3 {
                        // Closed with the request unread: the client's read fails, ECONNRESET.
                        let mut queued: libc::c_int = 0;
                        while queued < 4 + request.len() as libc::c_int {
                            std::thread::sleep(Duration::from_millis(1));
                            // SAFETY: FIONREAD writes one int.
                            unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&conn), libc::FIONREAD, &mut queued) };
                        }
                        break;
                    }
                    let mut header = [0u8; 4];
                    conn.read_exact(&mut header).map_err(Failure::test_error("read a request's header"))?;
                    let mut body = vec![0u8; u32::from_be_bytes(header) as usize];
                    conn.read_exact(&mut body).map_err(Failure::test_error("read a request"))?;
                    let answer = reversed(&body);
                    let mut frame = (answer.len() as u32).to_be_bytes().to_vec();
                    frame.extend_from_slice(&answer);
                    match way {
                        // Every byte once the client has read the one before: each read is short.
                        0 => {
                            for byte in &frame {
                                conn.write_all(std::slice::from_ref(byte)).map_err(Failure::test_error("write"))?;
                                while !all_read(&conn) {
                                    std::thread::sleep(Duration::from_millis(1));
                                }
                            }
                        }
                        // Half a header, then the end.
                        1 => conn.write_all(&frame[..2]).map_err(Failure::test_error("write"))?,
                        // A header that announces more than MAX_MESSAGE.
                        _ => {
                            let too_long = (q2::MAX_MESSAGE as u32 + 1).to_be_bytes();
                            conn.write_all(&too_long).map_err(Failure::test_error("write"))?;
                            let _ = conn.read_to_end(&mut Vec::new());
                        }
                    }
                }
                Ok(())
            })?;
            let answers = s
                .call("over_socket with a server that sends its answer a byte at a time (1-byte reads)", || {
                    q2::over_socket(&path, std::slice::from_ref(&request))
                })?;
            check_answers(
                s,
                "over_socket, the answer coming a byte at a time",
                std::slice::from_ref(&request),
                &answers,
            )?;
            s.phase("calling over_socket with a server that sends half a header and closes");
            s.expect_err(
                "over_socket whose server closed after 2 bytes of the answer's header",
                q2::over_socket(&path, std::slice::from_ref(&request)),
                ErrorKind::UnexpectedEof,
            )?;
            s.phase("calling over_socket with a server whose answer announces MAX_MESSAGE + 1 bytes");
            s.expect_err(
                "over_socket whose server announced an answer of MAX_MESSAGE + 1 bytes",
                q2::over_socket(&path, std::slice::from_ref(&request)),
                ErrorKind::InvalidData,
            )?;
            s.phase("calling over_socket with a server that closes without reading the request");
            s.expect_err(
                "over_socket whose server closed with the request unread (its read fails with ECONNRESET: a read \
                 error other than EINTR is the answer, not a reason to read again)",
                q2::over_socket(&path, &[request]),
                ErrorKind::ConnectionReset,
            )?;
            server.join()?;
            drop(listener);
            fs::remove_file(&path).map_err(Failure::test_error("remove the socket file"))
        });
    }

    fn start_server(s: &Sandbox, path: &Path, count: usize) -> Result<Peer, Failure> {
        let ready = s.path("ready");
        nix::unistd::mkfifo(&ready, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .map_err(|e| Failure::crash(format!("the test could not make its handshake FIFO: {e}")))?;
        let mut server =
            peer::start(s, peer::Interview::ReverseServer { path: path.into(), ready: ready.clone(), count })?;
        s.phase("waiting for the server program to listen");
        let mut byte = [0u8; 1];
        let heard = File::open(&ready).and_then(|mut f| f.read(&mut byte));
        let _ = fs::remove_file(&ready);
        match heard {
            Ok(1) => Ok(server),
            _ => Err(Failure::crash(format!("the server program did not start: {:?}", server.join().err()))),
        }
    }

    #[test]
    fn a_separate_server_program_answers_every_request_over_one_unix_socket() {
        grade!().run(|s| {
            let path = s.path("server.sock");
            let mut requests: Vec<Vec<u8>> =
                (0..6).map(|i| Payload::new([0, 1, 4097, 30_000, 65_537, 7][i], i as u64).bytes()).collect();
            requests.push(Payload::new(300_000, 77).bytes());
            let mut server = start_server(s, &path, requests.len())?;
            s.phase(format!(
                "calling over_socket with {} requests; the server answers in 1000-byte pieces",
                requests.len()
            ));
            let answers = s.ok("over_socket", q2::over_socket(&path, &requests))?;
            check_answers(s, "over_socket", &requests, &answers)?;
            s.phase("waiting for the server program to see the connection closed");
            server.join().map(drop)
        });
    }

    #[test]
    fn no_server_at_the_path_is_an_error_and_an_oversize_request_is_invalid_input_with_nothing_sent() {
        grade!().run(|s| {
            let path = s.path("nobody.sock");
            s.phase("calling over_socket with a path where no server listens");
            let result = q2::over_socket(&path, &[b"hello".to_vec()]);
            let e = match result {
                Ok(answers) => return Err(Failure::wrong(format!("over_socket with no server returned Ok({answers:?})"))),
                Err(e) => e,
            };
            s.expect(matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused), || {
                format!("over_socket with no server failed with {:?} ({e}): expected connect's NotFound or ConnectionRefused", e.kind())
            })?;
            let too_big = vec![vec![1u8; 10], vec![0u8; q2::MAX_MESSAGE + 1]];
            s.phase("calling over_pipes with a request of MAX_MESSAGE + 1 bytes");
            s.expect_err("over_pipes with an oversize request", q2::over_pipes(&too_big, reversed), ErrorKind::InvalidInput)?;
            // A listener of the test's own: whatever connects to it shows what it sent.
            let path = s.path("server.sock");
            let listener = std::os::unix::net::UnixListener::bind(&path).map_err(Failure::test_error("bind a socket"))?;
            listener.set_nonblocking(true).map_err(Failure::test_error("set up the socket"))?;
            s.phase(
                "calling over_socket with a request, then one of MAX_MESSAGE + 1 bytes (stuck here: it sent the first \
                 and waits for an answer this listener never gives: check every request before sending any)",
            );
            let result = q2::over_socket(&path, &too_big);
            let mut sent = Vec::new();
            if let Ok((mut conn, _)) = listener.accept() {
                conn.set_nonblocking(false).map_err(Failure::test_error("set up the connection"))?;
                conn.set_read_timeout(Some(Duration::from_secs(2))).map_err(Failure::test_error("set up the connection"))?;
                let _ = conn.read_to_end(&mut sent);
            }
            drop(listener);
            let _ = fs::remove_file(&path);
            s.expect_err("over_socket with an oversize request", result, ErrorKind::InvalidInput)?;
            s.expect(sent.is_empty(), || {
                format!("over_socket refused the oversize request but sent {} first: check before sending", size(sent.len()))
            })?;
            Ok(())
        });
    }
}

mod q3_named_vs_anonymous {
    use ipc_katas::kit::process::fds_linking_to;

    use super::*;

    /// A trusted writer program and a trusted reader program move `data` through the FIFO.
    fn strangers_meet(s: &Sandbox, fifo: &Path, data: &[u8], round: u32) -> Result<(), Failure> {
        let input = s.path(&format!("in-{round}"));
        let output = s.path(&format!("out-{round}"));
        fs::write(&input, data).map_err(Failure::test_error("save the input"))?;
        s.phase(format!("round {round}: a writer program and a reader program open the FIFO by name"));
        let mut reader = peer::start(s, peer::Fifo::Read { fifo: fifo.into(), out: output.clone() })?;
        let mut writer = peer::start(s, peer::Fifo::Write { fifo: fifo.into(), input: input.clone() })?;
        writer.join()?;
        reader.join()?;
        let got = fs::read(&output).map_err(Failure::test_error("load what the reader read"))?;
        s.expect_bytes(&format!("round {round}: the bytes the reader program got from the writer program"), data, &got)
    }

    #[test]
    fn a_fifo_made_by_a_process_that_has_exited_serves_two_unrelated_programs_and_stays_until_removed() {
        grade!().run(|s| {
            let path = s.path("meeting-point");
            let pid = s.call("create_fifo_in_child", || q3::create_fifo_in_child(&path))?;
            s.expect(pid > 0 && pid as u32 != std::process::id(), || {
                format!("create_fifo_in_child returned pid {pid}: return the pid of the child that made the FIFO")
            })?;
            s.expect(!Path::new(&format!("/proc/{pid}")).exists(), || {
                format!(
                    "process {pid}, the child that made the FIFO, still exists after create_fifo_in_child returned \
                     (running, or a zombie): it must exit, and be reaped with waitpid"
                )
            })?;
            let meta = fs::symlink_metadata(&path).map_err(|e| {
                Failure::wrong(format!("nothing at {} after create_fifo_in_child: {e}", path.display()))
            })?;
            s.expect(meta.file_type().is_fifo(), || format!("{} is not a FIFO", path.display()))?;
            s.expect_eq(
                "the FIFO's mode bits (owner read and write only)",
                &0o600,
                &(meta.permissions().mode() & 0o777),
            )?;
            let inode = meta.ino();
            strangers_meet(s, &path, &Payload::new(200_000, 11).bytes(), 1)?;
            s.phase("checking the FIFO after both programs exited");
            let after = fs::symlink_metadata(&path).map_err(|e| {
                Failure::wrong(format!("the FIFO is gone after the two programs exited ({e}): only unlink removes it"))
            })?;
            s.expect(after.file_type().is_fifo() && after.ino() == inode, || {
                "the path now holds another file: the FIFO must stay as it was".to_string()
            })?;
            s.expect_eq(
                "the FIFO's size once nobody has it open (its data lives in the kernel only while open)",
                &0,
                &after.len(),
            )?;
            strangers_meet(s, &path, &Payload::new(5000, 12).bytes(), 2)?;
            s.call("remove_fifo", || q3::remove_fifo(&path))?;
            s.expect(fs::symlink_metadata(&path).is_err(), || "the FIFO is still there after remove_fifo".to_string())?;
            s.phase("calling remove_fifo on the path again");
            s.expect_err("remove_fifo of a FIFO already removed", q3::remove_fifo(&path), ErrorKind::NotFound).map(drop)
        });
    }

    #[test]
    fn errors_of_the_child_reach_the_parent_and_remove_fifo_removes_only_a_fifo() {
        grade!().run(|s| {
            let taken = s.path("taken");
            fs::write(&taken, b"keep me").map_err(Failure::test_error("make a file"))?;
            s.phase("calling create_fifo_in_child on a path taken by a regular file");
            s.expect_err(
                "create_fifo_in_child on a taken path",
                q3::create_fifo_in_child(&taken),
                ErrorKind::AlreadyExists,
            )?;
            s.phase("calling create_fifo_in_child in a directory that does not exist");
            let missing = s.path("no-such-dir").join("fifo");
            s.expect_err(
                "create_fifo_in_child in a missing directory",
                q3::create_fifo_in_child(&missing),
                ErrorKind::NotFound,
            )?;
            s.phase("calling remove_fifo on a regular file");
            s.expect_err("remove_fifo on a regular file", q3::remove_fifo(&taken), ErrorKind::InvalidInput)?;
            let content = fs::read(&taken).unwrap_or_default();
            s.expect_bytes("the regular file after create_fifo_in_child and remove_fifo", b"keep me", &content)?;
            s.phase("calling remove_fifo on a directory");
            let dir = s.path("a-dir");
            fs::create_dir(&dir).map_err(Failure::test_error("make a directory"))?;
            s.expect_err("remove_fifo on a directory", q3::remove_fifo(&dir), ErrorKind::InvalidInput)?;
            s.expect(dir.is_dir(), || "remove_fifo removed a directory".to_string())?;
            s.phase("calling remove_fifo on a missing path");
            s.expect_err("remove_fifo on a missing path", q3::remove_fifo(&s.path("nothing")), ErrorKind::NotFound)
                .map(drop)
        });
    }

    #[test]
    fn pipe_inode_names_the_pipe_as_the_kernel_does_and_the_pipe_is_gone_after_its_last_close() {
        grade!().run(|s| {
            let (read_end, write_end) = nix::unistd::pipe().map_err(|e| Failure::crash(format!("pipe: {e}")))?;
            s.phase("calling pipe_inode on both ends of a pipe");
            let a = s.ok("pipe_inode of the read end", q3::pipe_inode(read_end.as_fd()))?;
            let b = s.ok("pipe_inode of the write end", q3::pipe_inode(write_end.as_fd()))?;
            let real = File::from(read_end.try_clone().map_err(Failure::test_error("dup"))?)
                .metadata()
                .map_err(Failure::test_error("fstat"))?
                .ino();
            s.expect_eq("pipe_inode of the read end (fstat's st_ino)", &real, &a)?;
            s.expect_eq("pipe_inode of the write end (the same pipe)", &real, &b)?;
            let (other_read, other_write) = nix::unistd::pipe().map_err(|e| Failure::crash(format!("pipe: {e}")))?;
            let c = s.ok("pipe_inode of another pipe", q3::pipe_inode(other_read.as_fd()))?;
            s.expect(c != a, || format!("two pipes got the same inode {a}"))?;
            drop((other_read, other_write));
            // The kernel's side: the pipe lives while a descriptor does, and no longer.
            let name = format!("pipe:[{a}]");
            let mut writer = File::from(write_end);
            writer.write_all(b"last words").map_err(Failure::test_error("write the pipe"))?;
            drop(writer);
            let mut got = Vec::new();
            File::from(read_end).read_to_end(&mut got).map_err(Failure::test_error("read the pipe"))?;
            s.expect_bytes("what the pipe held when its write end closed", b"last words", &got)?;
            s.expect(fds_linking_to(&name).is_empty(), || format!("{name} is still open here after both ends closed"))?;
            // Not a pipe: a FIFO (named by its path in /proc) and a regular file.
            let fifo = s.path("named");
            nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
                .map_err(|e| Failure::crash(format!("mkfifo: {e}")))?;
            let fifo_fd =
                OpenOptions::new().read(true).write(true).open(&fifo).map_err(Failure::test_error("open the FIFO"))?;
            let _ = fs::remove_file(&fifo);
            s.phase("calling pipe_inode on a FIFO's descriptor");
            s.expect_err("pipe_inode of a FIFO", q3::pipe_inode(fifo_fd.as_fd()), ErrorKind::InvalidInput)?;
            let plain = File::create(s.path("plain")).map_err(Failure::test_error("make a file"))?;
            s.phase("calling pipe_inode on a regular file");
            s.expect_err("pipe_inode of a regular file", q3::pipe_inode(plain.as_fd()), ErrorKind::InvalidInput)
                .map(drop)
        });
    }

    #[test]
    fn gather_sees_end_of_file_only_once_the_last_writer_in_any_process_has_closed() {
        grade!().run(|s| {
            let record = Payload::new(3000, 21).bytes();
            for writers in [5usize, 1, 0] {
                let got = s.call(format!("gather with {writers} writers of a 3000-byte record"), || {
                    q3::gather(writers, &record)
                })?;
                let expected = record.repeat(writers);
                s.expect_bytes(
                    &format!("what gather read from {writers} writers (every record whole)"),
                    &expected,
                    &got,
                )?;
            }
            let got = s.call("gather with 3 writers of an empty record", || q3::gather(3, &[]))?;
            s.expect_eq("what gather read from writers of empty records", &0, &got.len())?;
            s.phase("calling gather with 4 writers of a record of PIPE_BUF (4096) bytes, the most written atomically");
            let record = Payload::new(4096, 22).bytes();
            let got = s.ok("gather of 4096-byte records", q3::gather(4, &record))?;
            s.expect_bytes("what gather read from 4 writers of 4096-byte records", &record.repeat(4), &got)?;
            s.phase("calling gather with a record of PIPE_BUF + 1 bytes");
            s.expect_err("gather with a 4097-byte record", q3::gather(2, &[7u8; 4097]), ErrorKind::InvalidInput)
                .map(drop)
        });
    }
}

mod q4_race_witness {
    //! The witness is checked against the journal the provided `SourcePc` keeps in its shared
    //! memory: what the producer and the consumer really did, not what the answer says.

    use std::io::ErrorKind;
    use std::time::Duration;

    use ipc_katas::grade;
    use ipc_katas::grader::{Failure, Sandbox};
    use ipc_katas::kit::process::shared_anonymous_mappings;
    use katas::interview::{Anomaly, SourcePc, Witness, witness_race};
    use rstest::rstest;

    /// Items per attempt, and how long the answer may keep trying: measured, a witness comes in
    /// the first attempt or two on a 2-core machine at load average 4.
    const ITEMS: usize = 100_000;
    const BUDGET: Duration = Duration::from_secs(5);
    const DEADLINE: Duration = Duration::from_secs(8);

    /// Re-reads the witness's run and checks that the anomaly it names is really there.
    fn check(s: &Sandbox, witness: &Witness) -> Result<(), Failure> {
        s.phase("re-reading the journal of the witness's run");
        let produced = witness.run.produced();
        let consumed = witness.run.consumed();
        s.expect(!produced.is_empty() && !consumed.is_empty(), || {
            format!(
                "the witness's run produced {} and consumed {} items: a witness comes from a run of the ring, \
                 with items produced and consumed by two processes",
                produced.len(),
                consumed.len()
            )
        })?;
        if let Some(i) = produced.iter().enumerate().position(|(i, &item)| item != i as i32 + 1) {
            return Err(Failure::wrong(format!(
                "produce number {i} of the run produced {}, not {}: the producer must produce 1, 2, 3, … in order",
                produced[i],
                i + 1
            )));
        }
        let (p, c) = (witness.run.producer_pid(), witness.run.consumer_pid());
        s.expect(p != 0 && c != 0 && p != c, || {
            format!(
                "the run's producer was process {p} and its consumer process {c}: run them in two processes \
                 (fork), which race on count"
            )
        })?;
        let (item, at) = (witness.item, witness.at);
        let got = consumed.get(at).copied();
        let shown = || {
            let from = at.saturating_sub(4).min(consumed.len());
            let to = (at + 5).min(consumed.len());
            format!("consumed[{from}..{to}] = {:?}", &consumed[from..to])
        };
        let verdict = match witness.anomaly {
            Anomaly::Lost => {
                if !(1..=produced.len() as i32).contains(&item) {
                    Err(format!("item {item} was never produced (1 to {} were)", produced.len()))
                } else if let Some(where_) = consumed.iter().position(|&v| v == item) {
                    Err(format!("item {item} was consumed, at index {where_} of the consumed journal: it was not lost"))
                } else if got.is_none_or(|v| v <= item) {
                    Err(format!(
                        "at index {at} the consumer did not get an item produced after {item} ({}): nothing shows that \
                         {item} was skipped rather than not reached yet",
                        shown()
                    ))
                } else {
                    Ok(())
                }
            }
            Anomaly::Duplicated => {
                if got != Some(item) {
                    Err(format!("the consumer did not get {item} at index {at}: {}", shown()))
                } else if !consumed[..at].contains(&item) {
                    Err(format!("index {at} is the first time the consumer got {item}: it is no duplicate"))
                } else {
                    Ok(())
                }
            }
            Anomaly::Corrupted => {
                if got != Some(item) {
                    Err(format!("the consumer did not get {item} at index {at}: {}", shown()))
                } else if (1..=produced.len() as i32).contains(&item) {
                    Err(format!("{item} was produced (items 1 to {} were): it is not corrupted", produced.len()))
                } else {
                    Ok(())
                }
            }
        };
        verdict.map_err(|why| {
            Failure::wrong(format!(
                "the witness says {:?} item {item} at index {at}, but the run's journal disagrees: {why}. Name an \
                 anomaly the run really had",
                witness.anomaly
            ))
        })
    }

    /// How long a consume on an empty ring must stay in its busy-wait: the source's consume has
    /// no timeout, so one that has not returned by then is waiting, as it should.
    const EMPTY_WAIT: Duration = Duration::from_millis(300);

    /// The evidence counts only from the source's ring: before the witness, the test checks that
    /// the provided `SourcePc` (interview/mod.rs, given as it is) still is that ring and keeps an
    /// honest journal, in one process, where it has no race.
    fn check_exhibit(s: &Sandbox) -> Result<(), Failure> {
        let changed = |what: String| {
            Failure::wrong(format!(
                "the provided SourcePc is not the source's ring any more: {what}. It is the exhibit, given as it is: \
                 restore interview/mod.rs (git checkout katas/interview/mod.rs) and find the race in the original"
            ))
        };
        for journal in [0, SourcePc::MAX_JOURNAL + 1] {
            match SourcePc::new(journal) {
                Err(e) if e.kind() == ErrorKind::InvalidInput => {}
                other => return Err(changed(format!("SourcePc::new({journal}) returned {other:?}, not InvalidInput"))),
            }
        }
        s.phase(
            "checking the provided SourcePc in one process (stuck here: SourcePc was changed, and its produce or \
             consume spins on a count that is not full or not empty)",
        );
        // 501 items each way: the ring and journal fill exactly one page (88 + 2 × 501 × 4 bytes),
        // so a journal list that starts at the wrong place runs off the mapping.
        const JOURNAL: usize = 501;
        let mapped_before = shared_anonymous_mappings();
        let ring = SourcePc::new(JOURNAL).map_err(|e| changed(format!("SourcePc::new({JOURNAL}) returned {e}")))?;
        // Runs of items that wrap around the ring's end, produced then consumed in turn.
        let rounds = || [(10, 10), (7, 3), (6, 10), (9, 4), (5, 10)].into_iter().cycle().take(65);
        let in_turn = s.fork("the test's process that produces and consumes in turn (stuck: a changed SourcePc spins)", || {
            let me = std::process::id() as i32;
            ring.produce(101);
            if (ring.producer_pid(), ring.consumer_pid(), ring.produced()) != (me, 0, vec![101]) {
                return Err(changed(format!(
                    "after one produce(101) by process {me}, its journal says producer {}, consumer {}, produced {:?}",
                    ring.producer_pid(),
                    ring.consumer_pid(),
                    ring.produced()
                )));
            }
            let got = ring.consume();
            if (got, ring.consumer_pid(), ring.consumed()) != (101, me, vec![101]) {
                return Err(changed(format!(
                    "then consume() by process {me} returned {got}, and the journal says consumer {}, consumed {:?}",
                    ring.consumer_pid(),
                    ring.consumed()
                )));
            }
            // In one process, in turn: a full ring, then runs that wrap around its end, through the
            // Ring trait too; every item comes out once, in order.
            let mut next = 200;
            let mut expected = std::collections::VecDeque::new();
            for (round, (produce, consume)) in rounds().enumerate() {
                for _ in 0..produce {
                    if round % 2 == 0 {
                        ring.produce(next);
                    } else {
                        katas::interview::Ring::produce(&ring, next).map_err(|e| changed(format!("Ring::produce: {e}")))?;
                    }
                    expected.push_back(next);
                    next += 1;
                }
                for _ in 0..consume {
                    let got = if round % 2 == 0 {
                        ring.consume()
                    } else {
                        katas::interview::Ring::consume(&ring).map_err(|e| changed(format!("Ring::consume: {e}")))?
                    };
                    let want = expected.pop_front().expect("the test consumes no more than it produced");
                    if got != want {
                        return Err(changed(format!(
                            "in one process, producing and consuming in turn ({produce} then {consume}), a consume \
                             returned {got}, not {want}"
                        )));
                    }
                }
            }
            Ok(())
        })?;
        let child = in_turn.pid();
        in_turn.join()?;
        // Re-read from this process, as the journal of a witness's run is.
        let next = 200 + rounds().map(|(produce, _)| produce).sum::<i32>();
        let all: Vec<i32> = std::iter::once(101).chain(200..next).collect();
        if ring.produced() != all
            || ring.consumed() != all
            || (ring.producer_pid(), ring.consumer_pid()) != (child, child)
        {
            return Err(changed(format!(
                "process {child} produced and consumed {} items in turn, in order, but the journal, read from another \
                 process, says producer {}, consumer {}, produced {:?}, consumed {:?}",
                all.len(),
                ring.producer_pid(),
                ring.consumer_pid(),
                ring.produced(),
                ring.consumed()
            )));
        }
        let debug = format!("{ring:?}");
        if !debug.contains(&format!("produced: {}", ring.produced().len())) {
            return Err(changed(format!("its Debug output {debug:?} does not count what its journal holds")));
        }
        drop(ring);
        let mapped_after = shared_anonymous_mappings();
        if mapped_after != mapped_before {
            return Err(changed(format!(
                "this process had {mapped_before} shared anonymous mappings before SourcePc::new and {mapped_after} \
                 after the SourcePc was dropped: its drop must unmap its memory"
            )));
        }
        // The ring is empty now: a consume must wait. A child consumes one more item than
        // it produces; the journal shows when it has started the second consume.
        s.phase("checking that the provided SourcePc's consume waits on an empty ring");
        let empty = SourcePc::new(4).map_err(|e| changed(format!("SourcePc::new(4) returned {e}")))?;
        let consumer = s.fork("the process that consumes from an empty SourcePc", || {
            empty.produce(1);
            empty.consume();
            empty.consume();
            Ok(())
        })?;
        while empty.consumed().is_empty() && !consumer.has_exited() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let started = std::time::Instant::now();
        while empty.consumed().len() < 2 && started.elapsed() < EMPTY_WAIT {
            std::thread::sleep(Duration::from_millis(5));
        }
        let consumed = empty.consumed();
        consumer.kill();
        if consumed.len() != 1 {
            return Err(changed(format!(
                "a process produced 1 item and consumed twice, and the second consume of the empty ring returned \
                 at once instead of waiting: the journal says consumed {consumed:?} (its count went wrong)"
            )));
        }
        Ok(())
    }

    #[test]
    fn the_witness_names_an_item_the_source_ring_really_lost_duplicated_or_corrupted() {
        grade!().deadline(DEADLINE).run(|s| {
            check_exhibit(s)?;
            let witness = s.call(
                format!("witness_race({ITEMS}, {BUDGET:?}), which runs the source's ring until it fails"),
                || witness_race(ITEMS, BUDGET),
            )?;
            check(s, &witness)
        });
    }

    #[test]
    fn a_process_whose_descriptor_0_is_closed_still_races_the_ring() {
        grade!().run(|s| {
            s.phase("in a process of the test's own with descriptor 0 closed (as a daemon's): witness_race(2000, 300 ms)");
            let daemon = s.fork("the process with descriptor 0 closed", || {
                // SAFETY: closing our own stdin; nothing else in this process uses it.
                unsafe { libc::close(0) };
                match witness_race(2000, Duration::from_millis(300)) {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == ErrorKind::TimedOut => Ok(()),
                    Err(e) => Err(Failure::wrong(format!(
                        "with descriptor 0 closed, witness_race(2000, 300 ms) failed with {e} (kind {:?}): 0 is a valid \
                         descriptor (the lowest free one, which a new descriptor gets), only -1 is an error",
                        e.kind()
                    ))),
                }
            })?;
            daemon.join()
        });
    }

    #[rstest]
    #[case::no_items(0, Duration::from_secs(1), "", ErrorKind::InvalidInput)]
    #[case::too_many_items(SourcePc::MAX_JOURNAL + 1, Duration::from_secs(1), "", ErrorKind::InvalidInput)]
    #[case::no_time(1000, Duration::ZERO, ": no time, no witness", ErrorKind::TimedOut)]
    fn no_items_too_many_items_or_no_time_are_errors_not_witnesses(
        #[case] items: usize,
        #[case] budget: Duration,
        #[case] why: &str,
        #[case] kind: ErrorKind,
    ) {
        grade!().run(|s| {
            let what = format!("witness_race({items}, {} s){why}", budget.as_secs());
            s.phase(format!("calling witness_race({items}, {} s)", budget.as_secs()));
            let result = witness_race(items, budget).map(|w| (w.anomaly, w.item, w.at));
            s.expect_err(&what, result, kind)?;
            Ok(())
        });
    }
}

mod q4_race_fixes {
    //! One property, three rings: a producer process produces numbered, checksummed items, the
    //! test consumes them, and they must come out exactly as they went in. The source's ring
    //! (`SourcePc`) fails this same property.

    use std::time::Duration;

    use ipc_katas::grade;
    use ipc_katas::grader::{Failure, Sandbox};
    use katas::interview::{AtomicPc, MutexPc, Ring, SemaphorePc};
    use proptest::prelude::*;

    use ipc_katas::grader::caught_alarms_every;

    use ipc_katas::kit::process::{seen_in_call, shared_anonymous_mappings};

    use ipc_katas::kit::seccomp::{FUTEX_CALLS, trap_futex};

    /// Item `seq` of a run: the sequence number in the high bits, a checksum of it and of the
    /// run's salt in the low 11 bits (positive for seq < 2^20).
    fn item(salt: u32, seq: u32) -> i32 {
        ((seq << 11) | (checksum(salt, seq) & 0x7ff)) as i32
    }

    fn checksum(salt: u32, seq: u32) -> u32 {
        let mut z = (u64::from(seq) << 32 | u64::from(salt)) ^ 0x9e37_79b9_7f4a_7c15;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u32
    }

    fn explain(salt: u32, index: u32, got: i32) -> String {
        let seq = (got as u32) >> 11;
        let what = if got < 0 || item(salt, seq) != got {
            format!("{got:#x}, which is no item at all (its checksum is wrong): a slot read before it was written")
        } else if seq < index {
            format!(
                "item {seq} again (or an old one): a slot was read twice, or before the producer refilled it: the \
                 count went up without an item (a lost count-- )"
            )
        } else {
            format!(
                "item {seq}: items {index} to {} were lost, overwritten in their slots before they were read: the \
                 producer thought there was room (a lost count++, or a full check that lets an 11th item in)",
                seq - 1
            )
        };
        format!("consume number {index} should have returned item {index}, but returned {what}")
    }

    /// A producer process produces `count` items; the test consumes and checks each in order.
    fn stream<R: Ring>(s: &Sandbox, kind: &str, ring: &R, count: u32, salt: u32) -> Result<(), Failure> {
        s.phase(format!("a producer process produces {count} items into the {kind}; the test consumes them"));
        let producer = s.fork("the producer process", || {
            for seq in 0..count {
                ring.produce(item(salt, seq))
                    .map_err(|e| Failure::wrong(format!("produce returned an error: {e} (kind {:?})", e.kind())))?;
            }
            Ok(())
        })?;
        for index in 0..count {
            if index % 8192 == 0 {
                s.phase(format!(
                    "consuming item {index} of {count} from the {kind} (a consumer stuck here waits for a wake-up \
                     that never comes: a mutex, condition variable or semaphore made without the process-shared \
                     attribute sleeps on a futex private to its process; or a count update was lost)"
                ));
            }
            let got = s.ok("consume", ring.consume())?;
            if got != item(salt, index) {
                // The producer may spin for ever on a wrong count: kill it, so that the report is
                // about the items, not about a child left running.
                // SAFETY: the producer is our own child, not yet reaped, so its pid is still ours.
                unsafe { libc::kill(producer.pid(), libc::SIGKILL) };
                let _ = producer.join();
                return Err(Failure::wrong(explain(salt, index, got)));
            }
        }
        producer.join()
    }

    fn strategy() -> impl Strategy<Value = (u32, u32)> {
        (1_000u32..60_000, any::<u32>())
    }

    const CASES: u32 = 10;
    const DEADLINE: Duration = Duration::from_secs(6);

    #[test]
    fn the_atomic_ring_delivers_every_item_once_in_order_uncorrupted() {
        grade!().deadline(DEADLINE).property(CASES, strategy(), |s, &(count, salt)| {
            let ring = s.call("AtomicPc::new()", AtomicPc::new)?;
            stream(s, "AtomicPc", &ring, count, salt)
        });
    }

    /// A child of this process drops its copy of `ring` (as a child that returns, running its
    /// destructors, would); then the ring must still carry items, and dropping it here must
    /// unmap its memory.
    fn dropped<R: Ring>(s: &Sandbox, kind: &str, ring: R) -> Result<(), Failure> {
        s.phase(format!("a child process drops its copy of the {kind}"));
        let child = s.fork("the child that drops its copy of the ring", || {
            // SAFETY: a bitwise copy in this child's own address space, dropped once; the
            // original is never dropped here (the child leaves with _exit).
            drop(unsafe { std::ptr::read(&ring) });
            Ok(())
        })?;
        child.join()?;
        stream(s, &format!("{kind} after a child dropped its copy"), &ring, 100, 1).map_err(|f| {
            Failure::wrong(format!(
                "{} (only the process that made the ring may destroy what is inside it: a child that drops its copy \
                 must only unmap its own mapping)",
                f.outcome().text()
            ))
        })?;
        s.phase(format!("dropping the {kind} in the process that made it"));
        let before = shared_anonymous_mappings();
        drop(ring);
        let after = shared_anonymous_mappings();
        s.expect(after < before, || {
            format!(
                "this process had {before} shared anonymous mappings before the {kind} was dropped and {after} after: \
                 its drop must unmap its memory (munmap)"
            )
        })
    }

    /// A consumer process waits on the empty `ring` while a caught SIGALRM comes every 5 ms
    /// (without SA_RESTART, so a wait in the kernel returns EINTR); once it has slept a while, the
    /// test produces one item, which it must get.
    fn waits_through_signals<R: Ring>(s: &Sandbox, kind: &str, ring: &R) -> Result<(), Failure> {
        s.phase(format!("a consumer process waits on the empty {kind}, with caught signals arriving"));
        let consumer = s.fork("the consumer process (caught signals arriving)", || {
            caught_alarms_every(Some(Duration::from_millis(5)));
            let got = ring.consume();
            caught_alarms_every(None);
            match got {
                Ok(17) => Ok(()),
                Ok(other) => Err(Failure::wrong(format!("the consumer got {other}, not the item 17 produced"))),
                Err(e) => Err(Failure::wrong(format!(
                    "consume on the empty {kind} returned {e} (kind {:?}) when a caught signal came: a wait \
                     interrupted by a signal (EINTR) must wait again",
                    e.kind()
                ))),
            }
        })?;
        // Asleep in the kernel for 100 ms (a spinning wait is never seen there: then the test
        // goes on after 3 s): 20 caught signals came meanwhile.
        seen_in_call(consumer.pid(), libc::SYS_futex, Duration::from_millis(100));
        s.call(format!("produce of one item into the {kind} for the waiting consumer"), || ring.produce(17))?;
        consumer.join()
    }

    #[test]
    fn a_consumer_waiting_on_an_empty_ring_keeps_waiting_through_caught_signals() {
        grade!().run(|s| {
            waits_through_signals(s, "AtomicPc", &s.call("AtomicPc::new()", AtomicPc::new)?)?;
            waits_through_signals(s, "MutexPc", &s.call("MutexPc::new()", MutexPc::new)?)?;
            waits_through_signals(s, "SemaphorePc", &s.call("SemaphorePc::new()", SemaphorePc::new)?)
        });
    }

    #[test]
    fn a_child_that_drops_its_copy_leaves_each_ring_working_and_the_maker_s_drop_unmaps_it() {
        grade!().run(|s| {
            dropped(s, "AtomicPc", s.call("AtomicPc::new()", AtomicPc::new)?)?;
            dropped(s, "MutexPc", s.call("MutexPc::new()", MutexPc::new)?)?;
            dropped(s, "SemaphorePc", s.call("SemaphorePc::new()", SemaphorePc::new)?)
        });
    }

    #[test]
    fn the_atomic_ring_makes_no_futex_system_call_when_nobody_waits() {
        grade!().run(|s| {
            const ROUNDS: i32 = 100;
            let ring = s.call("AtomicPc::new()", AtomicPc::new)?;
            let worker = s.fork("the process that produces and consumes in turn (futex calls trapped)", || {
                trap_futex()?;
                for i in 0..ROUNDS {
                    ring.produce(i).map_err(|e| Failure::kata_error(&format!("produce of item {i}"), e))?;
                    let got = ring.consume().map_err(|e| Failure::kata_error(&format!("consume of item {i}"), e))?;
                    if got != i {
                        return Err(Failure::wrong(format!("item {i} came back as {got}")));
                    }
                }
                match FUTEX_CALLS.load(std::sync::atomic::Ordering::Relaxed) {
                    0 => Ok(()),
                    calls => Err(Failure::wrong(format!(
                        "{ROUNDS} produces and consumes in turn, none of which had to wait, made {calls} futex \
                         system calls: a FUTEX_WAKE after every update costs a system call when nobody sleeps. \
                         Count the sleepers in the shared memory and wake only when one sleeps (SeqCst on the \
                         update and on the check of the count), as producer_consumer::SpscRing does"
                    ))),
                }
            })?;
            worker.join()
        });
    }

    #[test]
    fn the_mutex_ring_delivers_every_item_once_in_order_uncorrupted() {
        grade!().deadline(DEADLINE).property(CASES, strategy(), |s, &(count, salt)| {
            let ring = s.call("MutexPc::new()", MutexPc::new)?;
            stream(s, "MutexPc", &ring, count, salt)
        });
    }

    #[test]
    fn the_semaphore_ring_delivers_every_item_once_in_order_uncorrupted() {
        grade!().deadline(DEADLINE).property(CASES, strategy(), |s, &(count, salt)| {
            let ring = s.call("SemaphorePc::new()", SemaphorePc::new)?;
            stream(s, "SemaphorePc", &ring, count, salt)
        });
    }
}

mod q5_supervisor {
    //! The worker is killed at every point of its protocol; then the test checks, with its own
    //! system calls, every resource the worker held: each check names its resource.

    use std::fs;
    use std::io::{self, ErrorKind};
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;
    use std::time::Duration;

    use ipc_katas::grader::{Failure, Sandbox, Tracked};
    use ipc_katas::{grade, kit};
    use katas::interview::{MAX_MESSAGE, Resources, SegmentState, Supervisor, SupervisorIds, Worker};
    use proptest::prelude::*;

    fn resources(s: &mut Sandbox) -> Resources {
        Resources {
            segment_key: s.sysv_key(),
            queue_key: s.sysv_key(),
            semaphore_key: s.sysv_key(),
            lock_file: s.path("worker.lock"),
        }
    }

    fn create(s: &mut Sandbox, resources: &Resources) -> Result<(Supervisor, SupervisorIds), Failure> {
        let supervisor = s.call("Supervisor::create", || Supervisor::create(resources))?;
        s.phase("calling Supervisor::ids");
        let ids = supervisor.ids();
        for (kind, id) in [("shm", ids.segment), ("msg", ids.queue), ("sem", ids.semaphore)] {
            s.track(Tracked::SysvId { kind, id });
        }
        Ok((supervisor, ids))
    }

    /// Message `i` of a run: 0 to 200 bytes that depend on the salt and on `i`.
    fn message(salt: u64, i: u64) -> Vec<u8> {
        let len = ((salt >> (i % 8)) ^ (i * 37)) % 201;
        (0..len).map(|j| (salt.wrapping_mul(31).wrapping_add(i * 7 + j) % 251) as u8).collect()
    }

    /// The permission bits of SysV object `id` of `kind`, from /proc/sysvipc.
    fn sysv_mode(kind: &str, id: i32) -> Option<u32> {
        kit::sysv::row(kind, id).map(|r| r.perms)
    }

    const NAMES: [(&str, &str); 3] =
        [("shm", "SysV shared memory segment"), ("msg", "SysV message queue"), ("sem", "SysV semaphore set")];

    fn each_object(ids: &SupervisorIds) -> [(&'static str, &'static str, i32); 3] {
        [
            (NAMES[0].0, NAMES[0].1, ids.segment),
            (NAMES[1].0, NAMES[1].1, ids.queue),
            (NAMES[2].0, NAMES[2].1, ids.semaphore),
        ]
    }

    /// A pipe from the worker: it writes one report, `R<pid>` once it holds what it should, or
    /// `E<why>` if a call failed.
    struct Report {
        read: OwnedFd,
        write: OwnedFd,
    }

    impl Report {
        fn new() -> Result<Report, Failure> {
            let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| Failure::crash(format!("the test could not make a pipe: {e}")))?;
            Ok(Report { read, write })
        }

        /// In the worker.
        fn send(&self, text: &str) {
            let _ = nix::unistd::write(&self.write, text.as_bytes());
        }

        /// In the test: the worker's pid once it is ready to be killed.
        fn receive(self, s: &Sandbox, what: &str) -> Result<i32, Failure> {
            drop(self.write);
            s.phase(format!("waiting for the worker to {what}"));
            let mut buf = [0u8; 4096];
            let n = loop {
                match nix::unistd::read(&self.read, &mut buf) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    other => break other.unwrap_or(0),
                }
            };
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            match text.split_at_checked(1) {
                Some(("R", pid)) => {
                    pid.parse().map_err(|_| Failure::crash(format!("the worker's report {text:?} is garbled")))
                }
                Some(("E", why)) => Err(Failure::wrong(format!("in the worker, {why}"))),
                _ => Err(Failure::wrong(format!(
                    "the worker ended before it could {what}: Supervisor::spawn must run the closure in the forked \
                     worker (and the Worker's calls must not end the process)"
                ))),
            }
        }
    }

    fn hold_until_killed() -> ! {
        loop {
            // SAFETY: pause has no preconditions.
            unsafe { libc::pause() };
        }
    }

    fn call<T>(report: &Report, call: &str, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result {
            report.send(&format!("E{call} returned an error: {e} (kind {:?})", e.kind()));
        }
        result
    }

    /// Checks, with the test's own calls, that every lock the dead worker held can be taken.
    fn check_locks(s: &Sandbox, ids: &SupervisorIds, lock_file: &Path, dead: i32) -> Result<(), Failure> {
        s.phase("trying the robust mutex in the segment (pthread_mutex_trylock) after recover");
        // SAFETY: attaching the segment by its id; detached below.
        let addr = unsafe { libc::shmat(ids.segment, std::ptr::null(), 0) };
        if addr as isize == -1 {
            return Err(Failure::wrong(format!(
                "the SysV shared memory segment {} cannot be attached after recover ({}): recover must keep it (and \
                 its robust mutex) until remove",
                ids.segment,
                io::Error::last_os_error()
            )));
        }
        let mutex = addr.cast::<SegmentState>();
        // SAFETY: the segment starts with a SegmentState whose mutex the supervisor initialised.
        let code = unsafe { libc::pthread_mutex_trylock(&raw mut (*mutex).mutex) };
        // SAFETY: as above; a lock we got is given back (made consistent first if it must be).
        unsafe {
            if code == libc::EOWNERDEAD {
                libc::pthread_mutex_consistent(&raw mut (*mutex).mutex);
            }
            if code == 0 || code == libc::EOWNERDEAD {
                libc::pthread_mutex_unlock(&raw mut (*mutex).mutex);
            }
            libc::shmdt(addr);
        }
        let why = match code {
            0 => None,
            libc::EOWNERDEAD => Some(
                "still marks its owner dead (EOWNERDEAD): recover must lock it, call pthread_mutex_consistent, and \
                 unlock it",
            ),
            libc::ENOTRECOVERABLE => Some(
                "is unusable for good (ENOTRECOVERABLE): it was unlocked after EOWNERDEAD without \
                 pthread_mutex_consistent",
            ),
            libc::EBUSY => Some("is still locked: recover must unlock what it locked"),
            _ => Some("cannot be locked"),
        };
        if let Some(why) = why {
            return Err(Failure::wrong(format!(
                "the robust mutex in the segment {why} (pthread_mutex_trylock returned {})",
                io::Error::from_raw_os_error(code)
            )));
        }
        s.phase("taking the semaphore without waiting (semop IPC_NOWAIT) after recover");
        // SAFETY: GETVAL takes no argument.
        let value = unsafe { libc::semctl(ids.semaphore, 0, libc::GETVAL) };
        s.expect(value == 1, || {
            if value == 0 {
                "the SysV semaphore is still taken after recover (value 0): the killed worker held it. Take it with \
                 SEM_UNDO in acquire_semaphore (the kernel gives it back), or repair it in recover (SETVAL)"
                    .to_string()
            } else {
                format!("the SysV semaphore's value is {value} after recover, not 1: it was given back twice")
            }
        })?;
        let mut op = libc::sembuf { sem_num: 0, sem_op: -1, sem_flg: libc::IPC_NOWAIT as libc::c_short };
        // SAFETY: one valid sembuf.
        let took = unsafe { libc::semop(ids.semaphore, &mut op, 1) } == 0;
        s.expect(took, || format!("the SysV semaphore cannot be taken after recover: {}", io::Error::last_os_error()))?;
        op.sem_op = 1;
        // SAFETY: as above.
        unsafe { libc::semop(ids.semaphore, &mut op, 1) };
        s.phase("locking the lock file (flock LOCK_NB) after recover");
        let file = fs::File::open(lock_file).map_err(|e| {
            Failure::wrong(format!(
                "the lock file {} cannot be opened after recover ({e}): it stays until remove",
                lock_file.display()
            ))
        })?;
        // SAFETY: flock on a descriptor we own; it is closed (and unlocked) when file drops.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        s.expect(locked, || {
            format!(
                "the lock file {} is still locked (flock) after the worker died: a flock belongs to an open file \
                 description, and another process still holds it. Did the supervisor open the file before the fork, \
                 so that the worker locked a description the supervisor shares? The worker must open it itself",
                lock_file.display()
            )
        })?;
        drop(file);
        let content = fs::read_to_string(lock_file).unwrap_or_default();
        s.expect(content.trim() != dead.to_string(), || {
            format!(
                "the lock file {} still names the dead worker (pid {dead}): a stale pidfile. recover must clear it",
                lock_file.display()
            )
        })
    }

    /// Checks that remove left nothing: no SysV object, no lock file.
    fn check_gone(s: &Sandbox, ids: &SupervisorIds, lock_file: &Path) -> Result<(), Failure> {
        s.phase("checking that remove left nothing behind");
        for (kind, name, id) in each_object(ids) {
            s.expect(sysv_mode(kind, id).is_none(), || {
                format!("the {name} {id} is still there after remove (see `ipcs`): remove it with IPC_RMID")
            })?;
        }
        s.expect(!lock_file.exists(), || {
            format!("the lock file {} is still there after remove: unlink it", lock_file.display())
        })
    }

    /// The worker holds the lock file if `phase >= 1`, the semaphore if `phase >= 2`, commits
    /// `commits` messages, holds the mutex if `phase >= 3`, and is killed.
    fn killed_at(s: &mut Sandbox, phase: u8, commits: u64, salt: u64) -> Result<(), Failure> {
        let res = resources(s);
        let (mut supervisor, ids) = create(s, &res)?;
        let messages: Vec<Vec<u8>> = (0..commits).map(|i| message(salt, i)).collect();
        let report = Report::new()?;
        let held = ["nothing", "the lock file", "the lock file and the semaphore", "all its locks"][phase as usize];
        let work = |w: &mut Worker| -> io::Result<()> {
            if phase >= 1 {
                call(&report, "Worker::lock_file", w.lock_file())?;
            }
            if phase >= 2 {
                call(&report, "Worker::acquire_semaphore", w.acquire_semaphore())?;
            }
            for (i, m) in messages.iter().enumerate() {
                let mut state = call(&report, &format!("Worker::lock_state for message {i}"), w.lock_state())?;
                call(&report, &format!("StateGuard::commit of message {i}"), state.commit(m))?;
            }
            let _guard = if phase >= 3 { Some(call(&report, "Worker::lock_state", w.lock_state())?) } else { None };
            report.send(&format!("R{}", std::process::id()));
            hold_until_killed()
        };
        s.call("Supervisor::spawn", || supervisor.spawn(work))?;
        let dead = report.receive(s, &format!("commit {commits} messages holding {held}"))?;
        s.call(format!("Supervisor::kill_worker (SIGKILL) after {commits} commits, holding {held}"), || {
            supervisor.kill_worker()
        })?;
        s.phase(
            "calling Supervisor::recover (stuck here: a lock of the dead worker never came back, such as a mutex that \
             is not robust, or a semaphore taken without SEM_UNDO that recover waits for)",
        );
        let recovered = s.ok("Supervisor::recover", supervisor.recover())?;
        s.expect(recovered.len() == messages.len(), || {
            format!(
                "the worker committed {} messages before it was killed, and recover returned {} from the SysV message \
                 queue: every committed message must survive the worker, and nothing else may appear",
                messages.len(),
                recovered.len()
            )
        })?;
        for (i, (want, got)) in messages.iter().zip(&recovered).enumerate() {
            s.expect_bytes(&format!("committed message {i}, as recover returned it from the queue"), want, got)?;
        }
        check_locks(s, &ids, &res.lock_file, dead)?;
        s.call("Supervisor::remove", || supervisor.remove())?;
        check_gone(s, &ids, &res.lock_file)
    }

    #[test]
    fn wherever_the_worker_is_killed_every_lock_comes_back_every_commit_survives_and_nothing_leaks() {
        grade!().property(12, (0u8..=3, 0u64..=5, any::<u64>()), |s, &(phase, commits, salt)| {
            killed_at(s, phase, commits, salt)
        });
    }

    #[test]
    fn a_worker_killed_holding_every_lock_after_three_commits_gives_every_lock_back() {
        grade!().run(|s| killed_at(s, 3, 3, 7));
    }

    #[test]
    fn every_resource_is_owner_only_and_taken_keys_or_an_existing_lock_file_are_already_exists() {
        grade!().run(|s| {
            let res = resources(s);
            let (supervisor, ids) = create(s, &res)?;
            for (kind, name, id) in each_object(&ids) {
                let mode = sysv_mode(kind, id).ok_or_else(|| {
                    Failure::wrong(format!(
                        "Supervisor::ids names {name} {id}, but /proc/sysvipc/{kind} has no such id"
                    ))
                })?;
                s.expect(mode & 0o777 == 0o600, || {
                    format!("the {name} {id} has mode {:04o}, expected 0600 (owner read and write only)", mode & 0o777)
                })?;
            }
            let mode = fs::metadata(&res.lock_file)
                .map_err(|e| Failure::wrong(format!("the lock file {} was not created: {e}", res.lock_file.display())))?
                .permissions()
                .mode();
            s.expect(mode & 0o777 == 0o600, || {
                format!("the lock file has mode {:04o}, expected 0600 (owner read and write only)", mode & 0o777)
            })?;
            s.phase("calling Supervisor::create again with the same keys and lock file");
            let again = Supervisor::create(&res).map(|sup| sup.ids());
            s.expect_err(
                "a second Supervisor::create on taken keys (IPC_CREAT | IPC_EXCL)",
                again,
                ErrorKind::AlreadyExists,
            )?;
            s.phase("calling Supervisor::create with fresh keys but the existing lock file");
            let fresh = Resources { lock_file: res.lock_file.clone(), ..resources(s) };
            let again = Supervisor::create(&fresh).map(|sup| sup.ids());
            s.expect_err("Supervisor::create with an existing lock file (O_EXCL)", again, ErrorKind::AlreadyExists)?;
            for (key, name) in
                [(fresh.segment_key, NAMES[0]), (fresh.queue_key, NAMES[1]), (fresh.semaphore_key, NAMES[2])]
            {
                let (kind, noun) = name;
                let left = kit::sysv::key_exists(kind, key);
                s.expect(!left, || {
                    format!(
                        "a Supervisor::create that failed (the lock file existed) left its {noun} (key {key:#x}) \
                         behind: on an error, remove what you made"
                    )
                })?;
            }
            s.expect(sysv_mode("shm", ids.segment).is_some(), || {
                "a refused second create removed the first supervisor's segment: never remove what you did not make"
                    .to_string()
            })?;
            s.call("Supervisor::remove", || supervisor.remove())?;
            check_gone(s, &ids, &res.lock_file)
        });
    }

    #[test]
    fn a_worker_commits_several_messages_through_the_one_guard_it_holds_and_is_killed_holding_it() {
        grade!().run(|s| {
            let res = resources(s);
            let (mut supervisor, ids) = create(s, &res)?;
            let report = Report::new()?;
            let messages: Vec<Vec<u8>> = (0..3).map(|i| message(11, i)).collect();
            // Commit while holding the state lock: a commit that took the (non-recursive)
            // mutex again would wait for itself for ever.
            let work = |w: &mut Worker| -> io::Result<()> {
                let mut state = call(&report, "Worker::lock_state", w.lock_state())?;
                for (i, m) in messages.iter().enumerate() {
                    call(&report, &format!("StateGuard::commit of message {i}"), state.commit(m))?;
                }
                report.send(&format!("R{}", std::process::id()));
                hold_until_killed()
            };
            s.call("Supervisor::spawn", || supervisor.spawn(work))?;
            let dead = report.receive(
                s,
                "commit 3 messages while holding the state lock (stuck here: commit locks the mutex the \
                 worker already holds; commit through the guard instead)",
            )?;
            s.call("Supervisor::kill_worker (SIGKILL) of the worker holding the state lock after 3 commits", || {
                supervisor.kill_worker()
            })?;
            let recovered = s.call("Supervisor::recover", || supervisor.recover())?;
            s.expect_eq("the number of messages recover returned", &messages.len(), &recovered.len())?;
            for (i, (want, got)) in messages.iter().zip(&recovered).enumerate() {
                s.expect_bytes(&format!("committed message {i}, as recover returned it from the queue"), want, got)?;
            }
            check_locks(s, &ids, &res.lock_file, dead)?;
            s.ok("Supervisor::remove", supervisor.remove())?;
            check_gone(s, &ids, &res.lock_file)
        });
    }

    #[test]
    fn a_holder_killed_between_sending_and_counting_leaves_a_message_that_recover_does_not_return() {
        grade!().run(|s| {
            let res = resources(s);
            let (mut supervisor, ids) = create(s, &res)?;
            let report = Report::new()?;
            let first = message(5, 0);
            let work = |w: &mut Worker| -> io::Result<()> {
                {
                    // The guard unlocks at the end of this block.
                    let mut state = call(&report, "Worker::lock_state", w.lock_state())?;
                    call(&report, "StateGuard::commit of message 0", state.commit(&first))?;
                }
                report.send(&format!("R{}", std::process::id()));
                hold_until_killed()
            };
            s.call("Supervisor::spawn", || supervisor.spawn(work))?;
            let dead = report.receive(s, "commit one message")?;
            s.ok("Supervisor::kill_worker", supervisor.kill_worker())?;
            // A commit cut in half: a process of the test's own locks the state mutex through the
            // segment's public layout, sends a message, and is killed before it counts it.
            let (ready, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| Failure::crash(format!("the test could not make a pipe: {e}")))?;
            let half =
                s.fork("the test's process that sends a message under the lock and dies before counting it", || {
                    // SAFETY: attaching the supervisor's segment by id; the process dies attached.
                    let addr = unsafe { libc::shmat(ids.segment, std::ptr::null(), 0) };
                    if addr as isize == -1 {
                        return Err(Failure::crash(format!(
                            "could not attach the segment: {}",
                            io::Error::last_os_error()
                        )));
                    }
                    let state = addr.cast::<SegmentState>();
                    // SAFETY: the segment starts with the SegmentState whose mutex create initialised.
                    let code = unsafe { libc::pthread_mutex_lock(&raw mut (*state).mutex) };
                    if code != 0 {
                        return Err(Failure::wrong(format!(
                            "the state mutex could not be locked after a clean worker exit: {}",
                            io::Error::from_raw_os_error(code)
                        )));
                    }
                    #[repr(C)]
                    struct Buf {
                        mtype: libc::c_long,
                        text: [u8; 9],
                    }
                    let buf = Buf { mtype: 1, text: *b"uncounted" };
                    // SAFETY: buf holds a type and 9 bytes after it.
                    if unsafe { libc::msgsnd(ids.queue, (&raw const buf).cast(), 9, 0) } != 0 {
                        return Err(Failure::crash(format!("could not send: {}", io::Error::last_os_error())));
                    }
                    let _ = nix::unistd::write(&ready_w, b"!");
                    hold_until_killed()
                })?;
            s.phase("waiting for the test's process to send a message it does not count");
            let mut byte = [0u8; 1];
            let got = loop {
                match nix::unistd::read(&ready, &mut byte) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    other => break other,
                }
            };
            if got != Ok(1) {
                half.join()?;
                return Err(Failure::crash("the test's process ended before it sent its message"));
            }
            s.phase("killing the test's process while it holds the state mutex");
            half.kill();
            let recovered = s.call("Supervisor::recover after a holder died between sending and counting", || {
                supervisor.recover()
            })?;
            s.expect(recovered.len() == 1, || {
                format!(
                    "one message was committed and one more was sent but never counted (its sender died first), and \
                     recover returned {} messages: keep the first `committed` of the queue and drop the rest",
                    recovered.len()
                )
            })?;
            s.expect_bytes("the committed message", &first, &recovered[0])?;
            check_locks(s, &ids, &res.lock_file, dead)?;
            s.ok("Supervisor::remove", supervisor.remove())?;
            check_gone(s, &ids, &res.lock_file)
        });
    }

    #[test]
    fn commit_refuses_a_message_longer_than_max_message_and_keeps_empty_and_full_size_ones() {
        grade!().run(|s| {
            let res = resources(s);
            let (mut supervisor, ids) = create(s, &res)?;
            let report = Report::new()?;
            let full = vec![0xa5u8; MAX_MESSAGE];
            let work = |w: &mut Worker| -> io::Result<()> {
                let mut state = call(&report, "Worker::lock_state", w.lock_state())?;
                match state.commit(&vec![1u8; MAX_MESSAGE + 1]) {
                    Err(e) if e.kind() == ErrorKind::InvalidInput => {}
                    other => {
                        report.send(&format!(
                            "Ecommit of {} bytes (MAX_MESSAGE + 1) should fail with InvalidInput, nothing sent, but \
                             returned {other:?}",
                            MAX_MESSAGE + 1
                        ));
                        return Ok(());
                    }
                }
                call(&report, "StateGuard::commit of MAX_MESSAGE bytes", state.commit(&full))?;
                call(&report, "StateGuard::commit of an empty message", state.commit(&[]))?;
                report.send(&format!("R{}", std::process::id()));
                hold_until_killed()
            };
            s.call("Supervisor::spawn", || supervisor.spawn(work))?;
            report.receive(s, "commit an oversize, a full-size and an empty message")?;
            s.ok("Supervisor::kill_worker", supervisor.kill_worker())?;
            let recovered = s.call("Supervisor::recover", || supervisor.recover())?;
            s.expect_eq(
                "the messages recover returned (lengths)",
                &vec![MAX_MESSAGE, 0],
                &recovered.iter().map(Vec::len).collect(),
            )?;
            s.expect_bytes("the full-size message", &full, &recovered[0])?;
            s.ok("Supervisor::remove", supervisor.remove())?;
            check_gone(s, &ids, &res.lock_file)
        });
    }

    /// Checks, with the test's own calls, that the live worker `pid` holds every lock.
    fn check_held(s: &Sandbox, ids: &SupervisorIds, lock_file: &Path, pid: i32) -> Result<(), Failure> {
        s.phase("trying the robust mutex while the worker holds its StateGuard (pthread_mutex_trylock)");
        // SAFETY: attaching the segment by its id; detached below.
        let addr = unsafe { libc::shmat(ids.segment, std::ptr::null(), 0) };
        if addr as isize == -1 {
            return Err(Failure::wrong(format!(
                "the SysV shared memory segment {} cannot be attached while the worker runs: {}",
                ids.segment,
                io::Error::last_os_error()
            )));
        }
        let state = addr.cast::<SegmentState>();
        // SAFETY: the segment starts with a SegmentState whose mutex the supervisor initialised;
        // a lock the test got is given back at once.
        let code = unsafe {
            let code = libc::pthread_mutex_trylock(&raw mut (*state).mutex);
            if code == 0 {
                libc::pthread_mutex_unlock(&raw mut (*state).mutex);
            }
            libc::shmdt(addr);
            code
        };
        s.expect(code == libc::EBUSY, || {
            format!(
                "while the worker holds its StateGuard, pthread_mutex_trylock on the state mutex returned {} instead \
                 of EBUSY: lock_state must lock the mutex, and the guard keep it locked until it is dropped",
                io::Error::from_raw_os_error(code)
            )
        })?;
        s.phase("reading the semaphore while the worker holds it (semctl GETVAL)");
        // SAFETY: GETVAL takes no argument.
        let value = unsafe { libc::semctl(ids.semaphore, 0, libc::GETVAL) };
        s.expect(value == 0, || {
            format!(
                "the SysV semaphore's value is {value} while the worker holds it, not 0: acquire_semaphore must take \
                 it (semop -1, SEM_UNDO)"
            )
        })?;
        s.phase("trying the lock file while the worker holds it (flock LOCK_EX | LOCK_NB)");
        let file = fs::File::open(lock_file).map_err(|e| {
            Failure::wrong(format!("the lock file {} cannot be opened while the worker runs: {e}", lock_file.display()))
        })?;
        // SAFETY: flock on a descriptor we own; it is closed (and unlocked) when file drops.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        drop(file);
        s.expect(!locked, || {
            format!(
                "the test could flock the lock file {} while the worker holds it: lock_file must flock(LOCK_EX) it \
                 and keep that descriptor open for as long as the worker lives",
                lock_file.display()
            )
        })?;
        let content = fs::read_to_string(lock_file).unwrap_or_default();
        s.expect(content == format!("{pid}\n"), || {
            format!(
                "while worker {pid} holds the lock file, it reads {content:?}: it must name that worker alone, its pid \
                 and a newline (truncate what an earlier worker left before writing)"
            )
        })
    }

    /// Whether process `pid` still exists (as a zombie too).
    fn exists(pid: i32) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        unsafe { libc::kill(pid, 0) == 0 }
    }

    #[test]
    fn while_a_worker_runs_it_holds_every_lock_the_lock_file_names_it_alone_and_no_second_worker_starts() {
        grade!().run(|s| {
            let res = resources(s);
            let (mut supervisor, ids) = create(s, &res)?;
            s.phase("writing what a worker of an earlier run left in the lock file");
            fs::write(&res.lock_file, "4194304 (a worker of an earlier run, long gone)\n")
                .map_err(|e| Failure::crash(format!("the test could not write the lock file: {e}")))?;
            let report = Report::new()?;
            let work = |w: &mut Worker| -> io::Result<()> {
                call(&report, "Worker::lock_file", w.lock_file())?;
                call(&report, "Worker::acquire_semaphore", w.acquire_semaphore())?;
                let _guard = call(&report, "Worker::lock_state", w.lock_state())?;
                report.send(&format!("R{}", std::process::id()));
                hold_until_killed()
            };
            s.call("Supervisor::spawn", || supervisor.spawn(work))?;
            let pid = report.receive(s, "take the lock file, the semaphore and the state mutex")?;
            check_held(s, &ids, &res.lock_file, pid)?;
            s.phase("calling Supervisor::spawn while the worker runs");
            let again = supervisor.spawn(|_| Ok(())).map(|()| "a second worker");
            s.expect_err("Supervisor::spawn while a worker runs", again, ErrorKind::InvalidInput)?;
            s.call("Supervisor::kill_worker", || supervisor.kill_worker())?;
            s.expect(!exists(pid), || {
                format!("after kill_worker returned, the worker (pid {pid}) still exists: SIGKILL it, then reap it")
            })?;
            s.phase("calling Supervisor::spawn after kill_worker, before recover");
            let early = supervisor.spawn(|_| Ok(())).map(|()| "a worker on a state not yet recovered");
            s.expect_err("Supervisor::spawn before recover after the last worker", early, ErrorKind::InvalidInput)?;
            s.ok("Supervisor::kill_worker with no worker running", supervisor.kill_worker())?;
            let recovered = s.call("Supervisor::recover", || supervisor.recover())?;
            s.expect_eq("the number of messages recover returned (none was committed)", &0, &recovered.len())?;
            check_locks(s, &ids, &res.lock_file, pid)?;
            s.phase("calling Supervisor::spawn after recover: a worker that commits one message and returns");
            let report = Report::new()?;
            let message = message(3, 1);
            let work = |w: &mut Worker| -> io::Result<()> {
                let mut state = call(&report, "Worker::lock_state", w.lock_state())?;
                call(&report, "StateGuard::commit of message 0", state.commit(&message))?;
                report.send(&format!("R{}", std::process::id()));
                Ok(())
            };
            s.ok("Supervisor::spawn after recover", supervisor.spawn(work))?;
            let pid = report.receive(s, "commit one message and return")?;
            let recovered = s.call("Supervisor::recover after a worker that returned", || supervisor.recover())?;
            s.expect_eq("the number of messages recover returned", &1, &recovered.len())?;
            s.expect_bytes("the committed message", &message, &recovered[0])?;
            check_locks(s, &ids, &res.lock_file, pid)?;
            s.ok("Supervisor::remove", supervisor.remove())?;
            check_gone(s, &ids, &res.lock_file)
        });
    }

    #[test]
    fn an_object_removed_behind_the_supervisors_back_is_an_error_not_a_hang_and_remove_removes_the_rest() {
        grade!().run(|s| {
            // (Not the segment: the supervisor's attachment keeps it, and its id, until remove.)
            for (kind, noun) in [NAMES[1], NAMES[2]] {
                let res = resources(s);
                let (mut supervisor, ids) = create(s, &res)?;
                s.phase(format!("removing the supervisor's {noun} behind its back (IPC_RMID, as ipcrm does)"));
                // SAFETY: IPC_RMID on the test's own object takes no buffer.
                let removed = unsafe {
                    if kind == "msg" {
                        libc::msgctl(ids.queue, libc::IPC_RMID, std::ptr::null_mut())
                    } else {
                        libc::semctl(ids.semaphore, 0, libc::IPC_RMID)
                    }
                };
                if removed != 0 {
                    return Err(Failure::crash(format!(
                        "the test could not remove the {noun}: {}",
                        io::Error::last_os_error()
                    )));
                }
                if kind == "sem" {
                    let report = Report::new()?;
                    let work = |w: &mut Worker| -> io::Result<()> {
                        match w.acquire_semaphore() {
                            Err(_) => report.send(&format!("R{}", std::process::id())),
                            Ok(()) => {
                                report.send("EWorker::acquire_semaphore returned Ok though its semaphore set is gone")
                            }
                        }
                        Ok(())
                    };
                    s.call("Supervisor::spawn", || supervisor.spawn(work))?;
                    report.receive(
                        s,
                        "fail to take a removed semaphore set (stuck here: acquire_semaphore retries an error other \
                         than EINTR, such as EINVAL, for ever)",
                    )?;
                }
                s.phase(format!("calling Supervisor::recover with its {noun} gone"));
                let recovered = supervisor.recover();
                s.expect(recovered.is_err(), || {
                    format!(
                        "recover returned {recovered:?} though its {noun} is gone ({}): recover must return that error",
                        if kind == "msg" {
                            "msgrcv: EINVAL"
                        } else {
                            "setting the semaphore back to 1, semctl SETVAL: EINVAL"
                        }
                    )
                })?;
                s.phase(format!("calling Supervisor::remove with its {noun} gone"));
                let removed = supervisor.remove();
                s.expect(removed.is_err(), || {
                    format!(
                        "remove returned Ok though its {noun} was already gone (IPC_RMID: EINVAL): it must return \
                         the first error, after removing the rest"
                    )
                })?;
                check_gone(s, &ids, &res.lock_file)?;
            }
            Ok(())
        });
    }

    #[test]
    fn a_taken_queue_or_semaphore_key_is_already_exists_and_create_removes_what_it_made_first() {
        grade!().run(|s| {
            for (kind, noun) in [NAMES[1], NAMES[2]] {
                let res = resources(s);
                s.phase(format!("taking the {noun}'s key with an object of the test's own"));
                // SAFETY: msgget and semget take plain integers.
                let taken = unsafe {
                    let flags = libc::IPC_CREAT | libc::IPC_EXCL | 0o600;
                    if kind == "msg" {
                        libc::msgget(res.queue_key, flags)
                    } else {
                        libc::semget(res.semaphore_key, 1, flags)
                    }
                };
                if taken < 0 {
                    return Err(Failure::crash(format!(
                        "the test could not make a {noun}: {}",
                        io::Error::last_os_error()
                    )));
                }
                s.track(Tracked::SysvId { kind, id: taken });
                s.phase(format!("calling Supervisor::create with the {noun}'s key taken"));
                let result = Supervisor::create(&res).map(|sup| sup.ids());
                s.expect_err(
                    &format!("Supervisor::create with its {noun}'s key taken (IPC_CREAT | IPC_EXCL)"),
                    result,
                    ErrorKind::AlreadyExists,
                )?;
                let made_first: &[(&str, i32, &str)] = if kind == "msg" {
                    &[("shm", res.segment_key, NAMES[0].1)]
                } else {
                    &[("shm", res.segment_key, NAMES[0].1), ("msg", res.queue_key, NAMES[1].1)]
                };
                for &(kind, key, made) in made_first {
                    s.expect(!kit::sysv::key_exists(kind, key), || {
                        format!(
                            "a Supervisor::create that failed (the {noun}'s key was taken) left its {made} (key \
                             {key:#x}) behind: on an error, remove what you made"
                        )
                    })?;
                }
                s.expect(!res.lock_file.exists(), || {
                    format!("a Supervisor::create that failed (the {noun}'s key was taken) made the lock file anyway")
                })?;
                // SAFETY: IPC_RMID on the test's own object takes no buffer.
                unsafe {
                    if kind == "msg" {
                        libc::msgctl(taken, libc::IPC_RMID, std::ptr::null_mut());
                    } else {
                        libc::semctl(taken, 0, libc::IPC_RMID);
                    }
                }
            }
            Ok(())
        });
    }

    /// The number of processes attached to SysV segment `id` (/proc/sysvipc/shm, nattch).
    fn attached(id: i32) -> Option<u32> {
        kit::sysv::row("shm", id).map(|r| r.nattch as u32)
    }

    #[test]
    fn a_supervisor_dropped_without_remove_kills_and_reaps_its_worker_detaches_and_leaves_the_resources() {
        grade!().run(|s| {
            let res = resources(s);
            let (mut supervisor, ids) = create(s, &res)?;
            let report = Report::new()?;
            let work = |w: &mut Worker| -> io::Result<()> {
                call(&report, "Worker::lock_file", w.lock_file())?;
                report.send(&format!("R{}", std::process::id()));
                hold_until_killed()
            };
            s.call("Supervisor::spawn", || supervisor.spawn(work))?;
            let pid = report.receive(s, "take the lock file")?;
            s.phase("dropping the Supervisor while its worker runs (its Drop)");
            drop(supervisor);
            s.expect(!exists(pid), || {
                format!(
                    "after the Supervisor was dropped, its worker (pid {pid}) still exists: Drop must SIGKILL a worker \
                     still running and reap it"
                )
            })?;
            let nattch = attached(ids.segment);
            s.expect(nattch == Some(0), || match nattch {
                None => format!(
                    "after the Supervisor was dropped, its segment {} is gone: Drop only detaches, the resources stay \
                     until remove",
                    ids.segment
                ),
                Some(n) => format!(
                    "after the Supervisor was dropped (and its worker reaped), {n} processes are still attached to its \
                     segment {}: Drop must detach it (shmdt)",
                    ids.segment
                ),
            })?;
            for (kind, name, id) in each_object(&ids) {
                s.expect(sysv_mode(kind, id).is_some(), || {
                    format!("after the Supervisor was dropped, its {name} {id} is gone: only remove removes it")
                })?;
            }
            s.expect(res.lock_file.exists(), || {
                "after the Supervisor was dropped, its lock file is gone: only remove removes it".to_string()
            })?;
            s.phase("removing what the dropped Supervisor left, with the test's own calls");
            // SAFETY: IPC_RMID on the test's own objects takes no buffer.
            unsafe {
                libc::shmctl(ids.segment, libc::IPC_RMID, std::ptr::null_mut());
                libc::msgctl(ids.queue, libc::IPC_RMID, std::ptr::null_mut());
                libc::semctl(ids.semaphore, 0, libc::IPC_RMID);
            }
            let _ = fs::remove_file(&res.lock_file);
            Ok(())
        });
    }

    #[test]
    fn a_worker_waiting_for_the_lock_file_keeps_waiting_through_caught_signals() {
        grade!().run(|s| {
            let res = resources(s);
            let (mut supervisor, ids) = create(s, &res)?;
            let (started, report, go) = (Report::new()?, Report::new()?, ipc_katas::grader::Handshake::new()?);
            let work = |w: &mut Worker| -> io::Result<()> {
                started.send(&format!("R{}", std::process::id()));
                let _ = go.wait("the test to take the lock file");
                // A caught SIGALRM every 5 ms, without SA_RESTART: flock returns EINTR.
                ipc_katas::grader::caught_alarms_every(Some(Duration::from_millis(5)));
                let locked = call(&report, "Worker::lock_file (with caught signals arriving)", w.lock_file());
                ipc_katas::grader::caught_alarms_every(None);
                locked?;
                report.send(&format!("R{}", std::process::id()));
                hold_until_killed()
            };
            s.call("Supervisor::spawn", || supervisor.spawn(work))?;
            let pid = started.receive(s, "start")?;
            // Taken after the fork, so that the worker shares no descriptor of the test's lock.
            s.phase("locking the lock file with the test's own flock");
            let held = fs::File::open(&res.lock_file)
                .map_err(|e| Failure::wrong(format!("the lock file cannot be opened after create: {e}")))?;
            // SAFETY: flock on a descriptor we own; closing it below unlocks it.
            if unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                return Err(Failure::wrong(format!(
                    "the test cannot flock the lock file after create: {}",
                    io::Error::last_os_error()
                )));
            }
            go.notify()?;
            s.phase("waiting for the worker to wait in flock for the lock file the test holds");
            // Blocked for 100 ms: 20 of the worker's caught signals came meanwhile.
            kit::process::seen_in_call(pid, libc::SYS_flock, Duration::from_millis(100));
            drop(held);
            let pid = report.receive(
                s,
                "take the lock file once the test let it go (stuck here: the worker gave up on flock, or never \
                 reported)",
            )?;
            s.ok("Supervisor::kill_worker", supervisor.kill_worker())?;
            let recovered = s.ok("Supervisor::recover", supervisor.recover())?;
            s.expect_eq("the number of messages recover returned", &0, &recovered.len())?;
            check_locks(s, &ids, &res.lock_file, pid)?;
            s.ok("Supervisor::remove", supervisor.remove())?;
            check_gone(s, &ids, &res.lock_file)
        });
    }

    /// Takes every message now in SysV queue `id`, without waiting, with the test's own msgrcv.
    fn drain_queue(id: i32) -> Vec<Vec<u8>> {
        #[repr(C)]
        struct Buf {
            mtype: libc::c_long,
            text: [u8; MAX_MESSAGE],
        }
        let mut buf = Buf { mtype: 0, text: [0; MAX_MESSAGE] };
        let mut messages = Vec::new();
        // SAFETY: buf has room for MAX_MESSAGE bytes after its type.
        while let n @ 0.. = unsafe { libc::msgrcv(id, (&raw mut buf).cast(), MAX_MESSAGE, 0, libc::IPC_NOWAIT) } {
            messages.push(buf.text[..n as usize].to_vec());
        }
        messages
    }

    #[test]
    fn a_commit_waiting_for_room_in_a_full_queue_keeps_waiting_through_caught_signals() {
        grade!().run(|s| {
            let res = resources(s);
            let (mut supervisor, ids) = create(s, &res)?;
            // One more than the queue holds (msgmnb bytes, `man 5 proc`), and a few.
            let limit: usize =
                fs::read_to_string("/proc/sys/kernel/msgmnb").ok().and_then(|t| t.trim().parse().ok()).unwrap_or(16384);
            let messages: Vec<Vec<u8>> =
                (0..limit / MAX_MESSAGE + 4).map(|i| vec![(i % 251) as u8; MAX_MESSAGE]).collect();
            let (started, report) = (Report::new()?, Report::new()?);
            let work = |w: &mut Worker| -> io::Result<()> {
                started.send(&format!("R{}", std::process::id()));
                // A caught SIGALRM every 5 ms, without SA_RESTART: a msgsnd that waits returns EINTR.
                ipc_katas::grader::caught_alarms_every(Some(Duration::from_millis(5)));
                let mut state = call(&report, "Worker::lock_state", w.lock_state())?;
                for (i, m) in messages.iter().enumerate() {
                    call(
                        &report,
                        &format!("StateGuard::commit of message {i} (with caught signals arriving)"),
                        state.commit(m),
                    )?;
                }
                drop(state);
                ipc_katas::grader::caught_alarms_every(None);
                report.send(&format!("R{}", std::process::id()));
                hold_until_killed()
            };
            s.call("Supervisor::spawn", || supervisor.spawn(work))?;
            let pid = started.receive(s, "start")?;
            s.phase("waiting for the worker to wait in msgsnd for room in the full queue");
            kit::process::seen_in_call(pid, libc::SYS_msgsnd, Duration::from_millis(100));
            s.phase("making room: the test takes the messages in the queue");
            let mut got = drain_queue(ids.queue);
            report.receive(
                s,
                &format!(
                    "commit all {} messages once the test made room (stuck here: a commit gave up on msgsnd, or never \
                     reported)",
                    messages.len()
                ),
            )?;
            s.ok("Supervisor::kill_worker", supervisor.kill_worker())?;
            let recovered = s.ok("Supervisor::recover", supervisor.recover())?;
            got.extend(recovered);
            s.expect_eq("the number of messages the test took and recover returned", &messages.len(), &got.len())?;
            for (i, (want, got)) in messages.iter().zip(&got).enumerate() {
                s.expect_bytes(&format!("committed message {i}"), want, got)?;
            }
            s.ok("Supervisor::remove", supervisor.remove())?;
            check_gone(s, &ids, &res.lock_file)
        });
    }

    #[test]
    fn objects_with_id_0_are_valid_a_supervisor_in_a_fresh_ipc_namespace_works() {
        grade!().run(|s| {
            let res = resources(s);
            s.phase("in a process of the test's own in a new IPC namespace: create, a worker, recover, remove");
            let inside = s.fork("the process in a new IPC namespace", || {
                use super::support::{fresh_ipc_namespace, id_0_failure};
                // Where the kernel allows no user namespace, the same runs in this one (where
                // an id is rarely 0).
                let fresh = fresh_ipc_namespace().is_ok();
                let wrong = id_0_failure(fresh, "segment, queue and semaphore set all get id 0");
                let mut supervisor =
                    Supervisor::create(&res).map_err(|e| wrong(format!("Supervisor::create returned {e}")))?;
                let ids = supervisor.ids();
                let message = message(9, 0);
                let done = ipc_katas::grader::Handshake::new()?;
                let work = |w: &mut Worker| -> io::Result<()> {
                    w.lock_file()?;
                    w.acquire_semaphore()?;
                    w.lock_state()?.commit(&message)?;
                    let _ = done.notify();
                    hold_until_killed()
                };
                supervisor.spawn(work).map_err(|e| wrong(format!("Supervisor::spawn returned {e}")))?;
                done.wait("the worker to commit one message (stuck here: a Worker call failed)")?;
                let recovered = supervisor.recover().map_err(|e| wrong(format!("Supervisor::recover returned {e}")))?;
                if recovered != [message.clone()] {
                    return Err(wrong(format!(
                        "a worker committed one message and was killed, and recover returned {} messages",
                        recovered.len()
                    )));
                }
                supervisor.remove().map_err(|e| wrong(format!("Supervisor::remove returned {e}")))?;
                if fresh && ids != (SupervisorIds { segment: 0, queue: 0, semaphore: 0 }) {
                    return Err(Failure::crash(format!("in a new IPC namespace the test expected ids 0, got {ids:?}")));
                }
                Ok(())
            })?;
            inside.join()?;
            s.expect(!res.lock_file.exists(), || "the lock file is still there after remove".to_string())
        });
    }
}
