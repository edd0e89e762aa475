//! Payloads for tests and properties, and comparisons that stay readable for megabytes.

use proptest::prelude::*;

/// Sizes where pipe and FIFO code usually breaks: empty, one byte, around `PIPE_BUF` (4096),
/// around the default pipe capacity (65536) and the largest payload.
pub const EDGE_SIZES: &[usize] = &[0, 1, 2, 4095, 4096, 4097, 65535, 65536, 65537, 1 << 20];

/// A payload described by its length and a seed: cheap to generate and shrink, short to print.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    pub len: usize,
    pub seed: u64,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (seed {})", size(self.len), self.seed)
    }
}

impl Payload {
    pub fn new(len: usize, seed: u64) -> Payload {
        Payload { len, seed }
    }

    /// The bytes: a splitmix64 stream, so every byte position differs from its neighbours and a
    /// shifted, duplicated or dropped chunk shows at once.
    pub fn bytes(&self) -> Vec<u8> {
        let mut state = self.seed ^ 0x9e37_79b9_7f4a_7c15;
        let mut out = Vec::with_capacity(self.len + 8);
        while out.len() < self.len {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        out.truncate(self.len);
        out
    }
}

/// Payloads from 0 to `max` bytes, edge sizes often.
pub fn payload(max: usize) -> impl Strategy<Value = Payload> {
    let edges: Vec<usize> = EDGE_SIZES.iter().copied().filter(|&n| n <= max).collect();
    let len = prop_oneof![2 => proptest::sample::select(edges), 3 => 0..=max];
    (len, any::<u64>()).prop_map(|(len, seed)| Payload { len, seed })
}

/// A size for people: `1 MiB (1048576 bytes)`, `65537 bytes`.
pub fn size(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB ({n} bytes)", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB ({n} bytes)", n >> 10),
        1 => "1 byte".to_string(),
        n => format!("{n} bytes"),
    }
}

/// `None` if equal; otherwise the lengths, the first differing index and hex windows.
pub fn diff_bytes(expected: &[u8], actual: &[u8]) -> Option<String> {
    if expected == actual {
        return None;
    }
    let first = expected.iter().zip(actual).position(|(a, b)| a != b).unwrap_or(expected.len().min(actual.len()));
    let mut text = format!("  expected {}, got {}", size(expected.len()), size(actual.len()));
    if actual.len() < expected.len() && first == actual.len() {
        text.push_str(&format!(
            "\n  what arrived is a prefix of what was sent: the last {} are missing",
            size(expected.len() - actual.len())
        ));
    } else if actual.len() > expected.len() && first == expected.len() {
        text.push_str(&format!("\n  {} too many at the end", size(actual.len() - expected.len())));
    } else {
        text.push_str(&format!("\n  first difference at byte {first}"));
    }
    let from = first.saturating_sub(8);
    text.push_str(&format!("\n  expected[{from}..]: {}", hex_window(expected, from)));
    text.push_str(&format!("\n  got     [{from}..]: {}", hex_window(actual, from)));
    Some(text)
}

fn hex_window(bytes: &[u8], from: usize) -> String {
    let window = bytes.get(from..(from + 24).min(bytes.len())).unwrap_or(&[]);
    let mut s: String = window.iter().map(|b| format!("{b:02x} ")).collect();
    if window.is_empty() {
        s.push_str("(nothing)");
    } else if from + window.len() < bytes.len() {
        s.push('…');
    }
    s.trim_end().to_string()
}

/// Cuts a long Debug text to its ends.
pub fn shorten(text: &str) -> String {
    const MAX: usize = 300;
    if text.chars().count() <= MAX {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX / 2).collect();
    let tail: String = text.chars().rev().take(MAX / 3).collect::<Vec<_>>().into_iter().rev().collect();
    format!("{head} … {tail} ({} characters in all)", text.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tail_is_called_a_prefix() {
        let sent = Payload::new(70_000, 1).bytes();
        let diff = diff_bytes(&sent, &sent[..65536]).unwrap();
        assert!(diff.contains("prefix"), "{diff}");
        assert!(diff.contains("4464 bytes"), "{diff}");
    }

    #[test]
    fn a_changed_byte_is_located() {
        let sent = Payload::new(100, 2).bytes();
        let mut got = sent.clone();
        got[42] ^= 1;
        assert!(diff_bytes(&sent, &got).unwrap().contains("first difference at byte 42"));
        assert_eq!(diff_bytes(&sent, &sent), None);
    }

    #[test]
    fn payloads_are_reproducible_and_distinct() {
        assert_eq!(Payload::new(1000, 5).bytes(), Payload::new(1000, 5).bytes());
        assert_ne!(Payload::new(1000, 5).bytes(), Payload::new(1000, 6).bytes());
        assert_eq!(Payload::new(13, 5).bytes().len(), 13);
    }
}
