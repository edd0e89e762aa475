//! Tagged test messages and the one check of what arrived. Every tagged message starts with its
//! sender (u32 LE) and number (u32 LE) and ends with a checksum (u32 LE) of what comes before,
//! so a cut, padded or mixed message never passes for a whole one, and a lost, repeated or
//! reordered one is named by sender and number.

use crate::grader::{Failure, Payload, Sandbox, diff_bytes, size};

/// The bytes a tag adds: sender, number, checksum.
pub const TAG_OVERHEAD: usize = 12;

/// FNV-1a, 32 bits.
fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| (h ^ b as u32).wrapping_mul(0x0100_0193))
}

/// Message `seq` of sender `sender`, `len` bytes long in all (at least [`TAG_OVERHEAD`]), its
/// middle a pattern of its own.
pub fn tagged(sender: u32, seq: u32, len: usize) -> Vec<u8> {
    assert!(len >= TAG_OVERHEAD, "a tagged message has at least {TAG_OVERHEAD} bytes");
    let seed = (sender as u64) << 32 | seq as u64;
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&sender.to_le_bytes());
    m.extend_from_slice(&seq.to_le_bytes());
    m.extend_from_slice(&Payload::new(len - TAG_OVERHEAD, seed).bytes());
    let sum = checksum(&m);
    m.extend_from_slice(&sum.to_le_bytes());
    m
}

/// A number from 0 to 2^64 - 1 that depends on every bit of `z` (splitmix64's finaliser), for
/// lengths that vary without a pattern.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// How a check of arrivals words its findings: what a message and a sender are called in this
/// kata, what a mixed one means, where the stream was cut, and what to try.
#[derive(Clone, Debug)]
pub struct Arrivals<'a> {
    item: &'a str,
    sender: &'a str,
    mixed: &'a str,
    cut: Option<String>,
    hint: &'a str,
}

impl<'a> Arrivals<'a> {
    /// `item`: "message", "record"…; `sender`: "sender", "writer"…
    pub fn new(item: &'a str, sender: &'a str) -> Arrivals<'a> {
        Arrivals { item, sender, mixed: "", cut: None, hint: "" }
    }

    /// What it means that one arrived that nobody sent, e.g. "records were mixed or split".
    pub fn mixed(mut self, mixed: &'a str) -> Arrivals<'a> {
        self.mixed = mixed;
        self
    }

    /// The stream ended in the middle of a message, after those given to [`Arrivals::check`]:
    /// says where. Reported after a wrong one, before a lost one.
    pub fn cut(mut self, cut: Option<String>) -> Arrivals<'a> {
        self.cut = cut;
        self
    }

    /// Said after each failure, as `Hint: …`.
    pub fn hint(mut self, hint: &'a str) -> Arrivals<'a> {
        self.hint = hint;
        self
    }

    /// Checks `got`, in the order it arrived, against `sent` (each sender's messages, in the
    /// order it sent them): every one whole, none lost, none twice, each sender's in order.
    pub fn check<M: AsRef<[u8]>>(&self, s: &Sandbox, got: &[M], sent: &[Vec<Vec<u8>>]) -> Result<(), Failure> {
        let (item, sender) = (self.item, self.sender);
        let mixed = if self.mixed.is_empty() { String::new() } else { format!(": {}", self.mixed) };
        let hinted = |text: String| {
            if self.hint.is_empty() { Failure::wrong(text) } else { Failure::wrong(text).hint(self.hint) }
        };
        let mut next = vec![0usize; sent.len()];
        for (i, m) in got.iter().enumerate() {
            let m = m.as_ref();
            let who = (m.len() >= TAG_OVERHEAD).then(|| {
                let word = |at: usize| u32::from_le_bytes([m[at], m[at + 1], m[at + 2], m[at + 3]]) as usize;
                (word(0), word(4))
            });
            let Some((w, seq)) = who.filter(|&(w, seq)| w < sent.len() && seq < sent[w].len()) else {
                return Err(hinted(format!(
                    "{item} #{i} that arrived ({}) is not one any {sender} sent{mixed}.\n  it starts: {}",
                    size(m.len()),
                    m.iter().take(16).map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
                )));
            };
            if let Some(diff) = diff_bytes(&sent[w][seq], m) {
                return Err(hinted(format!(
                    "{item} #{i} that arrived, {sender} {w}'s {item} {seq}, is not what was sent{mixed}.\n{diff}"
                )));
            }
            s.expect(seq == next[w], || {
                if seq > next[w] {
                    format!("{sender} {w}'s {item}s {} to {} were lost: its {item} {seq} came next", next[w], seq - 1)
                } else {
                    format!("{sender} {w}'s {item} {seq} arrived again (or out of order) as {item} #{i}")
                }
            })?;
            next[w] += 1;
        }
        if let Some(cut) = &self.cut {
            return Err(hinted(cut.clone()));
        }
        for (w, messages) in sent.iter().enumerate() {
            s.expect(next[w] == messages.len(), || {
                format!("{sender} {w} sent {} {item}s, but only the first {} arrived", messages.len(), next[w])
            })?;
        }
        Ok(())
    }
}
