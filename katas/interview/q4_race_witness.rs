//! Kata interview::q4_race_witness: Prove that the source's producer-consumer loses or duplicates items.
//!
//! Grade it: `cargo test --test interview q4_race_witness::`
//! Stuck? `cargo run -- hint interview::q4_race_witness`
//! Afterwards, read the model answer: `solutions/interview/q4_races.md`.

use std::io;
use std::time::Duration;

use super::SourcePc;

/// What went wrong with one item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anomaly {
    /// The item was produced and never consumed, although an item produced after it was: it
    /// was overwritten in its slot before the consumer read it.
    Lost,
    /// The item was consumed twice: the consumer read a slot the producer had not refilled.
    Duplicated,
    /// The consumer read a value that was never produced (an empty slot, never written).
    Corrupted,
}

/// Evidence of a race, in a run of the source's ring that really showed it.
#[derive(Debug)]
pub struct Witness {
    pub anomaly: Anomaly,
    /// The item: its sequence number for `Lost` and `Duplicated` (the producer produces
    /// 1, 2, 3, …), the value read for `Corrupted`.
    pub item: i32,
    /// Where it shows, as an index into the run's consumed journal (`run.consumed()`):
    /// - `Lost`: where the consumer got an item produced after `item` (and `item` is nowhere);
    /// - `Duplicated`: where the consumer got `item` the second time;
    /// - `Corrupted`: where the consumer got the value `item`.
    pub at: usize,
    /// The run itself: its journal is the evidence the grader re-reads.
    pub run: SourcePc,
}

/// Runs the source's producer–consumer ([`SourcePc`], given as it is: read it in
/// `katas/interview/mod.rs`) between two processes until it goes wrong, and returns a
/// [`Witness`] of one lost, duplicated or corrupted item.
///
/// One attempt: a new `SourcePc::new(items)` (before forking: the memory is shared with the
/// children), a producer process that produces `1, 2, 3, …, items` in that order, a consumer
/// process that consumes `items` times. Then read the journal (`produced()`, `consumed()`) and
/// look for an anomaly. No anomaly: try again, until `budget` has passed (then `TimedOut`).
///
/// Watch out: with the race, either side may spin for ever (the consumer waits for items whose
/// count was lost; the producer for room that was never given back). Watch both children with
/// a deadline, SIGKILL what is stuck, and reap every child. A killed run's journal is still
/// good evidence. Processes, not threads; children leave with `_exit`.
///
/// Read first: `man 2 fork`, `man 2 kill`, `man 2 waitpid`, `man 2 pidfd_open` + `man 2 poll`
/// (a wait with a timeout), and Q4's model answer after you are done.
///
/// The grader re-reads the witness's run: the producer produced 1, 2, 3, … in order, the
/// producer and the consumer were two different processes, and the anomaly you name is there
/// in the journal at `at`. A made-up witness fails. It expects one within the budget, every
/// run, on a loaded 2-core machine; and leaves nothing behind (no zombie, no child).
///
/// Errors: `items` 0 or above [`SourcePc::MAX_JOURNAL`] → `InvalidInput`; no anomaly within
/// `budget` → `TimedOut`; a failed fork or mmap → its errno.
pub fn witness_race(items: usize, budget: Duration) -> io::Result<Witness> {
    todo!(
        "run the source's ring with {items} items per attempt until it loses or duplicates one, for at most {budget:?}"
    )
}
