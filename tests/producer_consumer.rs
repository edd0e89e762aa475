//! Graded tests of the producer_consumer topic: `cargo test --test producer_consumer`.
//!
//! Each body runs in the grader's sandbox: a child process with a deadline and a leak audit
//! (descriptors, zombies) after the kata returns. Producers and consumers are forked worker
//! processes that share the queue's memory with the body, never threads. Every item carries its
//! producer's number, its sequence number and a checksum, so that a lost, duplicated, reordered
//! or torn item is named as such.

// This binary is also the peer program its tests start as "another process" (tests/peer/).
mod peer;
ipc_katas::peer_commands!(peer::run);

use std::io::{self, ErrorKind};
use std::time::{Duration, Instant};

use ipc_katas::grade;
use ipc_katas::grader::{Failure, Sandbox, Worker, caught_alarms_every};
use ipc_katas::kit::SharedMem;
use ipc_katas::kit::process::{self, Sleep, shared_bytes};
use katas::producer_consumer::{BoundedBuffer, Item, MAX_CAPACITY, SpscRing};
use proptest::prelude::*;
use rstest::rstest;

// ---------------------------------------------------------------------------------------------
// Items: (producer, sequence number) plus a checksum of both and of the run's salt.

/// The item that producer `producer` sends as its `seq`-th.
fn item(salt: u64, producer: u64, seq: u64) -> Item {
    let word = (producer << 40) | seq;
    [word, checksum(salt, word)]
}

fn checksum(salt: u64, word: u64) -> u64 {
    // splitmix64 of the word and the salt: any change of either changes it.
    let mut z = word ^ salt ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// (producer, seq) of an item, or what is wrong with it.
fn decode(salt: u64, got: Item) -> Result<(u64, u64), String> {
    if got[1] != checksum(salt, got[0]) {
        return Err(format!(
            "{got:x?} is corrupted (its checksum does not match): a slot read before it was written, \
             or while it was being overwritten"
        ));
    }
    Ok((got[0] >> 40, got[0] & ((1 << 40) - 1)))
}

/// Explains why the `index`-th item popped (from one producer, in order) is not `expected`.
fn explain_order(salt: u64, index: u64, expected: u64, got: Item) -> String {
    let what = match decode(salt, got) {
        Err(why) => why,
        Ok((p, seq)) if seq < expected => format!(
            "it is item {seq} of producer {p} again, or an old one: a slot was read twice, or read before \
             the producer wrote it (a count updated by both sides without atomics loses updates)"
        ),
        Ok((p, seq)) => format!(
            "it is item {seq} of producer {p}: items {expected} to {} were lost, overwritten before they were \
             read (an off-by-one full check lets the producer write into an unread slot)",
            seq - 1
        ),
    };
    format!("pop number {index} should have returned item {expected}, but {what}")
}

// ---------------------------------------------------------------------------------------------
// Processes.

/// A pop in a worker that waits at most 3 s: an item that never comes is named, not a bare hang.
fn missing(who: &str, index: u64, of: u64) -> Failure {
    Failure::hang(format!(
        "timed out after 3 s: {who} waited for its item {index} of {of}, which never came: items were lost \
         (two producers writing the same slot, or a lost update of a shared count), or a wake-up was missed"
    ))
}

const ITEM_WAIT: Duration = Duration::from_secs(3);

/// Waits (up to 3 s) until the worker has been asleep in the kernel for 30 ms without a break: a
/// process that waits properly sleeps there; one that spins stays runnable.
fn wait_until_asleep(s: &Sandbox, worker: &Worker, what: &str) -> Result<(), Failure> {
    s.phase(format!("watching {what}: it should go to sleep"));
    match process::watch_sleep(worker.pid(), Duration::from_millis(30), Duration::from_secs(3)) {
        Sleep::Asleep => Ok(()),
        Sleep::Ended => Err(Failure::wrong(format!("{what} ended instead of waiting"))),
        Sleep::Awake { running, looks } => Err(Failure::wrong(format!(
            "{what} did not go to sleep: it was seen running {running} times in {looks} looks over 3 s. A waiting \
             process must not burn a core: spin a little, then sleep in the kernel (futex FUTEX_WAIT, or sem_wait)"
        ))),
    }
}

/// Checks that a `_timeout` call failed with TimedOut after about `timeout`.
fn expect_timed_out<T: std::fmt::Debug>(
    s: &Sandbox,
    call: &str,
    timeout: Duration,
    run: impl FnOnce() -> io::Result<T>,
) -> Result<(), Failure> {
    s.phase(format!("{call}, which should time out after {timeout:?}"));
    let started = Instant::now();
    let result = run();
    let took = started.elapsed();
    s.expect_err(call, result, ErrorKind::TimedOut)?;
    s.expect(took >= timeout, || format!("{call} gave up after {took:?}, before its timeout of {timeout:?}"))?;
    let late = timeout + Duration::from_secs(1);
    s.expect(took <= late, || format!("{call} gave up after {took:?}: more than 1 s after its timeout of {timeout:?}"))
}

// ---------------------------------------------------------------------------------------------

/// A consumer process that pops one item under a stream of caught signals: it must keep
/// waiting through each EINTR and return the item pushed once it sleeps.
fn pop_through_caught_signals(
    s: &Sandbox,
    pop: impl FnOnce() -> io::Result<Item>,
    push: impl FnOnce() -> io::Result<()>,
    expected: Item,
) -> Result<(), Failure> {
    let consumer = s.fork("the consumer process, waiting in pop while SIGALRM is caught every 10 ms", || {
        caught_alarms_every(Some(Duration::from_millis(10)));
        let got = pop().map_err(Failure::kata(
            "pop, interrupted by a caught signal (EINTR from a futex wait or sem_wait means: look again and \
             wait again, not: give up)",
        ))?;
        if got == expected {
            Ok(())
        } else {
            Err(Failure::wrong(format!("the waiting consumer popped {got:x?}, not the item pushed")))
        }
    })?;
    if let Err(e) = wait_until_asleep(s, &consumer, "the consumer waiting in pop under caught signals") {
        consumer.join()?;
        return Err(e);
    }
    s.phase("pushing one item while the consumer sleeps through caught signals");
    s.ok("push", push())?;
    s.phase("waiting for the consumer to pop the one item");
    consumer.join()
}

mod spsc_ring {
    use super::*;

    /// A producer process pushes `count` items; the body pops them and checks each.
    fn stream(s: &Sandbox, capacity: usize, count: u64, salt: u64) -> Result<(), Failure> {
        let ring = s.call(format!("SpscRing::new({capacity})"), || SpscRing::new(capacity))?;
        s.expect_eq("capacity()", &capacity, &ring.capacity())?;
        s.phase(format!("a producer process pushes {count} items into a ring of {capacity}; the test pops them"));
        let producer = s.fork("the producer process", || {
            for seq in 0..count {
                ring.push(item(salt, 0, seq)).map_err(Failure::kata("push"))?;
            }
            Ok(())
        })?;
        for index in 0..count {
            if index % (1 << 16) == 0 && index > 0 {
                s.phase(format!("popping item {index} of {count} from a ring of {capacity}"));
            }
            let got = s.ok("pop", ring.pop())?;
            if got != item(salt, 0, index) {
                return Err(Failure::wrong(explain_order(salt, index, index, got)));
            }
        }
        producer.join()?;
        s.phase("checking that the ring is empty once every item was popped");
        match ring.pop_timeout(Duration::ZERO) {
            Err(e) if e.kind() == ErrorKind::TimedOut => Ok(()),
            Err(e) => Err(Failure::wrong(format!("pop_timeout(0) on an empty ring failed with {e}, not TimedOut"))),
            Ok(extra) => Err(Failure::wrong(format!(
                "all {count} items were popped, yet the ring still gave {extra:x?}: items were duplicated"
            ))),
        }
    }

    #[test]
    fn items_pushed_in_one_process_are_popped_in_another_in_order() {
        grade!().run(|s| stream(s, 4, 10_000, 1));
    }

    #[test]
    fn any_number_of_items_through_any_capacity_arrive_exactly_once_in_order() {
        let capacity = prop_oneof![1 => Just(1usize), 1 => Just(2usize), 2 => 3usize..=100];
        grade!().property(16, (capacity, 0u64..30_000, any::<u64>()), |s, &(capacity, count, salt)| {
            stream(s, capacity, count, salt)
        });
    }

    #[test]
    fn a_million_items_stream_between_two_processes_exactly() {
        grade!().deadline(Duration::from_secs(8)).run(|s| stream(s, 64, 1 << 20, 3));
    }

    #[rstest]
    #[case::one(1)]
    #[case::two(2)]
    #[case::three(3)]
    #[case::ten(10)]
    #[case::sixty_four(64)]
    fn a_ring_of_capacity_n_holds_exactly_n_items(#[case] capacity: usize) {
        grade!().run(|s| {
            let ring = s.call(format!("SpscRing::new({capacity})"), || SpscRing::new(capacity))?;
            for seq in 0..capacity as u64 {
                s.phase(format!("push_timeout of item {seq} into an empty ring of {capacity}"));
                let result = ring.push_timeout(item(4, 0, seq), Duration::from_millis(200));
                if let Err(e) = result {
                    return Err(Failure::wrong(format!(
                        "a ring of capacity {capacity} holding {seq} items refused another: {e}. It must hold \
                         exactly {capacity} (a full check that wastes a slot makes capacity 1 useless)"
                    )));
                }
            }
            s.phase(format!("push_timeout into a full ring of {capacity}"));
            let over = ring.push_timeout(item(4, 0, 99), Duration::from_millis(20));
            s.expect(over.is_err(), || {
                format!(
                    "a ring of capacity {capacity} accepted item {} while full: an off-by-one full check lets \
                     the producer overwrite a slot the consumer has not read yet",
                    capacity + 1
                )
            })?;
            s.expect_err("push_timeout into a full ring", over, ErrorKind::TimedOut)?;
            for seq in 0..capacity as u64 {
                let got = s.ok("pop_timeout", ring.pop_timeout(Duration::from_millis(200)))?;
                s.expect(got == item(4, 0, seq), || explain_order(4, seq, seq, got))?;
            }
            expect_timed_out(s, "pop_timeout on a ring emptied again", Duration::from_millis(20), || {
                ring.pop_timeout(Duration::from_millis(20))
            })?;
            Ok(())
        });
    }

    #[test]
    fn a_capacity_of_zero_or_above_max_capacity_is_invalid_input() {
        grade!().run(|s| {
            for capacity in [0, MAX_CAPACITY + 1, usize::MAX] {
                s.phase(format!("SpscRing::new({capacity})"));
                s.expect_err(
                    &format!("SpscRing::new({capacity})"),
                    SpscRing::new(capacity).map(drop),
                    ErrorKind::InvalidInput,
                )?;
            }
            let ring =
                s.call(format!("SpscRing::new(MAX_CAPACITY = {MAX_CAPACITY})"), || SpscRing::new(MAX_CAPACITY))?;
            s.expect_eq("capacity()", &MAX_CAPACITY, &ring.capacity())
        });
    }

    #[test]
    fn a_consumer_waiting_on_an_empty_ring_sleeps_and_wakes_for_one_item() {
        grade!().run(|s| {
            let ring = s.call("SpscRing::new(4)", || SpscRing::new(4))?;
            let consumer = s.fork("the consumer process, waiting in pop", || {
                let got = ring.pop().map_err(Failure::kata("pop"))?;
                if got == item(5, 0, 0) {
                    Ok(())
                } else {
                    Err(Failure::wrong(format!("the waiting consumer popped {got:x?}, not the item pushed")))
                }
            })?;
            wait_until_asleep(s, &consumer, "the consumer waiting in pop on an empty ring")?;
            s.phase("pushing one item while the consumer sleeps");
            s.ok("push", ring.push(item(5, 0, 0)))?;
            s.phase("waiting for the sleeping consumer to wake up and pop the one item (a missed wake-up hangs here)");
            consumer.join()
        });
    }

    #[test]
    fn a_pop_waiting_through_caught_signals_keeps_waiting_for_its_item() {
        grade!().run(|s| {
            let ring = s.call("SpscRing::new(2)", || SpscRing::new(2))?;
            pop_through_caught_signals(s, || ring.pop(), || ring.push(item(9, 0, 0)), item(9, 0, 0))
        });
    }

    #[test]
    fn a_producer_waiting_on_a_full_ring_sleeps_and_wakes_when_a_slot_frees() {
        grade!().run(|s| {
            s.phase("SpscRing::new(3) and three pushes");
            let ring = s.ok("SpscRing::new", SpscRing::new(3))?;
            for seq in 0..3 {
                s.ok("push", ring.push(item(6, 0, seq)))?;
            }
            let producer = s.fork("the producer process, waiting in push", || {
                ring.push(item(6, 0, 3)).map_err(Failure::kata("push"))
            })?;
            wait_until_asleep(s, &producer, "the producer waiting in push on a full ring")?;
            s.phase("popping one item while the producer sleeps");
            let first = s.ok("pop", ring.pop())?;
            s.expect(first == item(6, 0, 0), || explain_order(6, 0, 0, first))?;
            s.phase("waiting for the sleeping producer to wake up and push (a missed wake-up hangs here)");
            producer.join()?;
            for seq in 1..4 {
                let got = s.ok("pop_timeout", ring.pop_timeout(Duration::from_secs(1)))?;
                s.expect(got == item(6, 0, seq), || explain_order(6, seq, seq, got))?;
            }
            Ok(())
        });
    }

    #[test]
    fn a_producer_learns_by_timeout_that_its_consumer_was_killed_mid_stream() {
        grade!().run(|s| {
            let capacity = 16;
            let ring = s.call(format!("SpscRing::new({capacity})"), || SpscRing::new(capacity))?;
            let consumer = s.fork("the consumer process", || {
                loop {
                    ring.pop().map_err(Failure::kata("pop"))?;
                }
            })?;
            s.phase("pushing 20000 items to a consumer that pops for ever");
            for seq in 0..20_000 {
                s.ok("push", ring.push(item(7, 0, seq)))?;
            }
            s.phase("killing the consumer with SIGKILL");
            consumer.kill();
            let timeout = Duration::from_millis(200);
            for attempt in 0..=capacity {
                s.phase(format!("push_timeout number {attempt} after the consumer was killed"));
                let started = Instant::now();
                match ring.push_timeout(item(7, 1, attempt as u64), timeout) {
                    Ok(()) => continue,
                    Err(e) if e.kind() == ErrorKind::TimedOut => {
                        let took = started.elapsed();
                        return s.expect(took >= timeout && took <= timeout + Duration::from_secs(1), || {
                            format!("push_timeout({timeout:?}) gave up after {took:?}")
                        });
                    }
                    Err(e) => return Err(Failure::wrong(format!("push_timeout failed with {e}, not TimedOut"))),
                }
            }
            Err(Failure::wrong(format!(
                "the consumer is dead, yet {} pushes into a ring of capacity {capacity} succeeded: the ring \
                 overwrites unread slots",
                capacity + 1
            )))
        });
    }

    #[test]
    fn a_consumer_learns_by_timeout_that_its_producer_was_killed_mid_stream() {
        grade!().run(|s| {
            let ring = s.call("SpscRing::new(8)", || SpscRing::new(8))?;
            let producer = s.fork("the producer process", || {
                for seq in 0.. {
                    ring.push(item(8, 0, seq)).map_err(Failure::kata("push"))?;
                }
                Ok(())
            })?;
            s.phase("popping 20000 items from a producer that pushes for ever");
            for index in 0..20_000 {
                let got = s.ok("pop", ring.pop())?;
                s.expect(got == item(8, 0, index), || explain_order(8, index, index, got))?;
            }
            producer.kill();
            // What the producer pushed before it died is still there, in order; then nothing.
            let mut next = 20_000;
            let timeout = Duration::from_millis(200);
            loop {
                s.phase(format!("pop_timeout after the producer was killed (item {next})"));
                let started = Instant::now();
                match ring.pop_timeout(timeout) {
                    Ok(got) => {
                        s.expect(got == item(8, 0, next), || explain_order(8, next, next, got))?;
                        next += 1;
                        s.expect(next <= 20_000 + 8, || {
                            "more items than the ring holds came after the producer died".into()
                        })?;
                    }
                    Err(e) if e.kind() == ErrorKind::TimedOut => {
                        let took = started.elapsed();
                        return s.expect(took >= timeout && took <= timeout + Duration::from_secs(1), || {
                            format!("pop_timeout({timeout:?}) gave up after {took:?}")
                        });
                    }
                    Err(e) => return Err(Failure::wrong(format!("pop_timeout failed with {e}, not TimedOut"))),
                }
            }
        });
    }

    #[test]
    fn timeouts_are_honoured_and_a_zero_timeout_only_tries() {
        grade!().run(|s| {
            let ring = s.call("SpscRing::new(1)", || SpscRing::new(1))?;
            expect_timed_out(s, "pop_timeout(300 ms) on an empty ring", Duration::from_millis(300), || {
                ring.pop_timeout(Duration::from_millis(300))
            })?;
            expect_timed_out(s, "pop_timeout(0) on an empty ring", Duration::ZERO, || {
                ring.pop_timeout(Duration::ZERO)
            })?;
            s.ok("push_timeout(0) into an empty ring", ring.push_timeout(item(9, 0, 0), Duration::ZERO))?;
            expect_timed_out(s, "push_timeout(300 ms) into a full ring", Duration::from_millis(300), || {
                ring.push_timeout(item(9, 0, 1), Duration::from_millis(300))
            })?;
            expect_timed_out(s, "push_timeout(0) into a full ring", Duration::ZERO, || {
                ring.push_timeout(item(9, 0, 1), Duration::ZERO)
            })?;
            let got = s.ok("pop_timeout(0) on a full ring", ring.pop_timeout(Duration::ZERO))?;
            s.expect(got == item(9, 0, 0), || explain_order(9, 0, 0, got))
        });
    }

    #[test]
    fn dropping_the_ring_unmaps_its_shared_memory() {
        grade!().run(|s| {
            let before = shared_bytes();
            s.phase("SpscRing::new(100000)");
            // The ring is dropped at the end of this block.
            let during = {
                let _ring = s.ok("SpscRing::new", SpscRing::new(100_000))?;
                shared_bytes()
            };
            s.expect(during >= before + 100_000 * 16, || {
                format!(
                    "a ring of 100000 items of 16 bytes added {} bytes of shared mappings: map its slots with \
                     mmap(MAP_SHARED | MAP_ANONYMOUS), so that the forked process sees them",
                    during.saturating_sub(before)
                )
            })?;
            let after = shared_bytes();
            s.expect(after == before, || {
                format!(
                    "after the ring was dropped, {} bytes of shared memory were still mapped: munmap it in Drop",
                    after.saturating_sub(before)
                )
            })
        });
    }
}

mod bounded_buffer {
    use super::*;

    /// `producers` processes push `each` items apiece; `consumers` processes pop their share
    /// and write it down; then every item must have arrived exactly once, each producer's items
    /// in order at each consumer.
    fn exchange(
        s: &Sandbox,
        capacity: usize,
        producers: u64,
        consumers: u64,
        each: u64,
        salt: u64,
    ) -> Result<(), Failure> {
        let buffer = s.call(format!("BoundedBuffer::new({capacity})"), || BoundedBuffer::new(capacity))?;
        s.expect_eq("capacity()", &capacity, &buffer.capacity())?;
        let total = producers * each;
        let results = SharedMem::<Item>::new(total as usize)?;
        // Consumer c pops share(c) items and writes them from offset(c) on.
        let share = |c: u64| total / consumers + u64::from(c < total % consumers);
        let offset = |c: u64| (0..c).map(share).sum::<u64>();
        s.phase(format!(
            "{producers} producer processes push {each} items each into a buffer of {capacity}, {consumers} \
             consumer processes pop them"
        ));
        let mut workers = Vec::new();
        for c in 0..consumers {
            let (buffer, results) = (&buffer, &results);
            workers.push(s.fork(&format!("consumer {c}"), move || {
                let (from, n) = (offset(c), share(c));
                for i in 0..n {
                    let got = match buffer.pop_timeout(ITEM_WAIT) {
                        Err(e) if e.kind() == ErrorKind::TimedOut => {
                            return Err(missing(&format!("consumer {c}"), i, n));
                        }
                        other => other.map_err(Failure::kata("pop_timeout"))?,
                    };
                    results.set((from + i) as usize, got);
                }
                Ok(())
            })?);
        }
        for p in 0..producers {
            let buffer = &buffer;
            workers.push(s.fork(&format!("producer {p}"), move || {
                for seq in 0..each {
                    buffer.push(item(salt, p, seq)).map_err(Failure::kata("push"))?;
                }
                Ok(())
            })?);
        }
        for worker in workers {
            worker.join()?;
        }
        s.phase("checking every item the consumers popped");
        let mut seen = vec![vec![0u32; each as usize]; producers as usize];
        for c in 0..consumers {
            let mut last = vec![None::<u64>; producers as usize];
            for i in 0..share(c) {
                let got = results.get((offset(c) + i) as usize);
                let (p, seq) = decode(salt, got).map_err(|why| Failure::wrong(format!("consumer {c} popped {why}")))?;
                s.expect(p < producers && seq < each, || {
                    format!("consumer {c} popped {got:x?}, an item nobody pushed (producer {p}, item {seq})")
                })?;
                if let Some(before) = last[p as usize] {
                    s.expect(seq > before, || {
                        format!(
                            "consumer {c} popped item {seq} of producer {p} after its item {before}: each producer's \
                             items must come out in the order they went in (a slot read twice, or indices updated \
                             outside the lock?)"
                        )
                    })?;
                }
                last[p as usize] = Some(seq);
                seen[p as usize][seq as usize] += 1;
            }
        }
        for (p, counts) in seen.iter().enumerate() {
            if let Some(seq) = counts.iter().position(|&n| n != 1) {
                let lost = counts.iter().filter(|&&n| n == 0).count();
                let doubled = counts.iter().filter(|&&n| n > 1).count();
                return Err(Failure::wrong(format!(
                    "item {seq} of producer {p} arrived {} times; of producer {p}'s {each} items {lost} were lost and \
                     {doubled} arrived more than once: two producers wrote the same slot, or two consumers read \
                     one (update the indices under the lock)",
                    counts[seq]
                )));
            }
        }
        s.phase("checking that the buffer is empty once every item was popped");
        match buffer.pop_timeout(Duration::ZERO) {
            Err(e) if e.kind() == ErrorKind::TimedOut => Ok(()),
            Err(e) => Err(Failure::wrong(format!("pop_timeout(0) on an empty buffer failed with {e}, not TimedOut"))),
            Ok(extra) => Err(Failure::wrong(format!(
                "every item was popped, yet the buffer still gave {extra:x?}: items were duplicated"
            ))),
        }
    }

    #[test]
    fn items_from_one_producer_reach_one_consumer_in_order() {
        grade!().run(|s| exchange(s, 4, 1, 1, 10_000, 11));
    }

    #[test]
    fn several_producers_and_consumers_deliver_every_item_exactly_once_for_any_capacity() {
        let capacity = prop_oneof![1 => Just(1usize), 3 => 2usize..=32];
        let strategy = (capacity, 1u64..=4, 1u64..=4, 0u64..3000, any::<u64>());
        grade!().property(12, strategy, |s, &(capacity, producers, consumers, each, salt)| {
            exchange(s, capacity, producers, consumers, each, salt)
        });
    }

    #[test]
    fn with_one_consumer_each_producers_items_arrive_in_order() {
        grade!().run(|s| exchange(s, 3, 4, 1, 20_000, 12));
    }

    #[test]
    fn a_million_items_from_four_producers_to_three_consumers_arrive_exactly_once() {
        grade!().deadline(Duration::from_secs(8)).run(|s| exchange(s, 64, 4, 3, 1 << 18, 13));
    }

    #[rstest]
    #[case::one(1)]
    #[case::two(2)]
    #[case::five(5)]
    #[case::sixty_four(64)]
    fn a_buffer_of_capacity_n_holds_exactly_n_items(#[case] capacity: usize) {
        grade!().run(|s| {
            let buffer = s.call(format!("BoundedBuffer::new({capacity})"), || BoundedBuffer::new(capacity))?;
            for seq in 0..capacity as u64 {
                s.phase(format!("push_timeout of item {seq} into a buffer of {capacity}"));
                s.ok("push_timeout", buffer.push_timeout(item(14, 0, seq), Duration::from_millis(200)))?;
            }
            expect_timed_out(
                s,
                &format!("push_timeout into a full buffer of {capacity}"),
                Duration::from_millis(20),
                || buffer.push_timeout(item(14, 0, 99), Duration::from_millis(20)),
            )?;
            for seq in 0..capacity as u64 {
                let got = s.ok("pop_timeout", buffer.pop_timeout(Duration::from_millis(200)))?;
                s.expect(got == item(14, 0, seq), || explain_order(14, seq, seq, got))?;
            }
            expect_timed_out(s, "pop_timeout on an emptied buffer", Duration::from_millis(20), || {
                buffer.pop_timeout(Duration::from_millis(20))
            })?;
            // A timed-out push must not have cost a slot: the buffer still holds `capacity`.
            for seq in 0..capacity as u64 {
                s.phase(format!("refilling: push_timeout of item {seq} after the timeouts"));
                s.ok("push_timeout after a timed-out push", buffer.push_timeout(item(14, 1, seq), Duration::ZERO))?;
            }
            Ok(())
        });
    }

    #[test]
    fn a_capacity_of_zero_or_above_max_capacity_is_invalid_input() {
        grade!().run(|s| {
            for capacity in [0, MAX_CAPACITY + 1, usize::MAX] {
                s.phase(format!("BoundedBuffer::new({capacity})"));
                let result = BoundedBuffer::new(capacity).map(drop);
                s.expect_err(&format!("BoundedBuffer::new({capacity})"), result, ErrorKind::InvalidInput)?;
            }
            let buffer = s.call(format!("BoundedBuffer::new(MAX_CAPACITY = {MAX_CAPACITY})"), || {
                BoundedBuffer::new(MAX_CAPACITY)
            })?;
            s.expect_eq("capacity()", &MAX_CAPACITY, &buffer.capacity())
        });
    }

    #[test]
    fn a_pop_waiting_through_caught_signals_keeps_waiting_for_its_item() {
        grade!().run(|s| {
            let buffer = s.call("BoundedBuffer::new(2)", || BoundedBuffer::new(2))?;
            pop_through_caught_signals(s, || buffer.pop(), || buffer.push(item(10, 0, 0)), item(10, 0, 0))
        });
    }

    #[test]
    fn producers_waiting_on_a_full_buffer_sleep_and_each_wakes_for_a_free_slot() {
        grade!().run(|s| {
            s.phase("BoundedBuffer::new(2) and two pushes");
            let buffer = s.ok("BoundedBuffer::new", BoundedBuffer::new(2))?;
            for seq in 0..2 {
                s.ok("push", buffer.push(item(15, 0, seq)))?;
            }
            let mut producers = Vec::new();
            for p in 1..=2 {
                let buffer = &buffer;
                let producer = s.fork(&format!("producer {p}, waiting in push"), move || {
                    buffer.push(item(15, p, 0)).map_err(Failure::kata("push"))
                })?;
                wait_until_asleep(s, &producer, &format!("producer {p}, waiting in push on a full buffer"))?;
                producers.push(producer);
            }
            s.phase(
                "popping while two producers wait (a producer that waits for a slot while holding the lock hangs here)",
            );
            let mut got = Vec::new();
            for _ in 0..2 {
                got.push(s.ok("pop", buffer.pop())?);
            }
            s.expect(got == [item(15, 0, 0), item(15, 0, 1)], || format!("the first two pops returned {got:x?}"))?;
            s.phase("waiting for both sleeping producers to wake up and push");
            for producer in producers {
                producer.join()?;
            }
            let mut last = Vec::new();
            for _ in 0..2 {
                last.push(s.ok("pop_timeout", buffer.pop_timeout(Duration::from_secs(1)))?);
            }
            last.sort();
            let mut expected = vec![item(15, 1, 0), item(15, 2, 0)];
            expected.sort();
            s.expect(last == expected, || format!("the woken producers' items are {last:x?}, expected {expected:x?}"))
        });
    }

    #[test]
    fn a_producer_learns_by_timeout_that_every_consumer_was_killed_mid_stream() {
        grade!().run(|s| {
            let capacity = 8;
            let buffer = s.call(format!("BoundedBuffer::new({capacity})"), || BoundedBuffer::new(capacity))?;
            let mut consumers = Vec::new();
            for c in 0..2 {
                let buffer = &buffer;
                consumers.push(s.fork(&format!("consumer {c}"), move || {
                    loop {
                        buffer.pop().map_err(Failure::kata("pop"))?;
                    }
                })?);
            }
            s.phase("pushing 20000 items to two consumers that pop for ever");
            for seq in 0..20_000 {
                s.ok("push", buffer.push(item(16, 0, seq)))?;
            }
            s.phase("killing both consumers with SIGKILL");
            for consumer in consumers {
                consumer.kill();
            }
            let timeout = Duration::from_millis(200);
            for attempt in 0..=capacity {
                s.phase(format!("push_timeout number {attempt} after the consumers were killed"));
                let started = Instant::now();
                match buffer.push_timeout(item(16, 1, attempt as u64), timeout) {
                    Ok(()) => continue,
                    Err(e) if e.kind() == ErrorKind::TimedOut => {
                        let took = started.elapsed();
                        return s.expect(took >= timeout && took <= timeout + Duration::from_secs(1), || {
                            format!("push_timeout({timeout:?}) gave up after {took:?}")
                        });
                    }
                    Err(e) => return Err(Failure::wrong(format!("push_timeout failed with {e}, not TimedOut"))),
                }
            }
            Err(Failure::wrong(format!(
                "the consumers are dead, yet {} pushes into a buffer of capacity {capacity} succeeded",
                capacity + 1
            )))
        });
    }

    #[test]
    fn dropping_the_buffer_unmaps_its_shared_memory() {
        grade!().run(|s| {
            let before = shared_bytes();
            s.phase("BoundedBuffer::new(100000)");
            // The buffer is dropped at the end of this block.
            let during = {
                let _buffer = s.ok("BoundedBuffer::new", BoundedBuffer::new(100_000))?;
                shared_bytes()
            };
            s.expect(during >= before + 100_000 * 16, || {
                format!(
                    "a buffer of 100000 items of 16 bytes added {} bytes of shared mappings: map it with \
                     mmap(MAP_SHARED | MAP_ANONYMOUS), so that the forked processes see it",
                    during.saturating_sub(before)
                )
            })?;
            let after = shared_bytes();
            s.expect(after == before, || {
                format!(
                    "after the buffer was dropped, {} bytes of shared memory were still mapped: munmap it in Drop",
                    after.saturating_sub(before)
                )
            })
        });
    }
}
