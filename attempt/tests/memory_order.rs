//! Memory ordering, checked where x86 cannot hide it: `.ci/memory-order` (add `--solutions` for
//! the answers) runs these tests under ThreadSanitizer (nightly Rust, `-Zsanitizer=thread`).
//!
//! On x86 every store is a release and every load an acquire in hardware, so a ring that
//! publishes its items with `Ordering::Relaxed` passes every test run there, and may fail on an
//! ARM machine (or after the compiler moves a plain write past a relaxed store). ThreadSanitizer
//! does not look at the CPU: it follows the happens-before edges of the C++/Rust memory model
//! (`std::sync::atomic` docs, "Memory model for atomic accesses"). An item written into a slot
//! and read by the other side with no release/acquire pair between the two is a data race that
//! it reports every run, whatever the interleaving, and the run fails (`halt_on_error=1`).
//!
//! The ring is used here from two threads of one process, the way two processes use it: one
//! side only pushes, the other only pops. (ThreadSanitizer follows threads, not processes, which
//! is why these tests are not among the fork-based graded tests.) Without the sanitizer they
//! still run, and check order and contents only.

use std::time::Duration;

use katas::producer_consumer::{Item, SpscRing};

/// A ring shared by two threads of this test.
struct TwoThreads(SpscRing);

// SAFETY: the ring is made for one producer and one consumer at the same time, which is all
// these tests do with it (one thread pushes, the other pops); its memory is a mapping both
// sides reach through the same pointer, as two processes do after fork.
unsafe impl Sync for TwoThreads {}

fn item(i: u64) -> Item {
    [i, !i.rotate_left(17)]
}

/// Pushes `count` items from one thread and pops them in another, checking each.
fn cross(capacity: usize, count: u64) {
    let ring = TwoThreads(SpscRing::new(capacity).expect("SpscRing::new"));
    let ring = &ring;
    std::thread::scope(|s| {
        let producer = s.spawn(|| {
            for i in 0..count {
                ring.0
                    .push_timeout(item(i), Duration::from_secs(10))
                    .unwrap_or_else(|e| panic!("push of item {i}: {e}"));
            }
        });
        for i in 0..count {
            let got = ring.0.pop_timeout(Duration::from_secs(10)).unwrap_or_else(|e| panic!("pop of item {i}: {e}"));
            assert_eq!(got, item(i), "item {i} of {count} (capacity {capacity}) came out wrong");
        }
        producer.join().expect("the producer thread panicked");
    });
}

#[test]
fn spsc_ring_items_cross_between_two_threads_whole_through_a_ring_of_one() {
    cross(1, 2_000);
}

#[test]
fn spsc_ring_items_cross_between_two_threads_whole_through_a_ring_of_eight() {
    cross(8, 20_000);
}
