//! Byte searches eight bytes at a time: each word, read little-endian, is tested for the bytes sought with the
//! bit tricks that find a zero byte. A word's lowest flagged byte is exact (a borrow of the subtraction runs only
//! towards higher bytes, and may flag a byte above the first one wrongly), so the first flag found is the first
//! byte sought.
//!
//! **Invariant:** [`first_flagged`] answers what a byte-by-byte search answers (a test holds it to one at every
//! place, length and neighbour); only a word's lowest flag is ever read.

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// The high bit of each byte of `word` that is below `n` (at most 0x80), exact for the lowest one.
pub fn below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS
}

/// The high bit of each byte of `word` equal to `b`, exact for the lowest one.
pub fn equal(word: u64, b: u8) -> u64 {
    below(word ^ (ONES * u64::from(b)), 1)
}

/// Where the first byte of `bytes` sought stands: `flags` marks them in a word (with [`below`] and [`equal`]),
/// `is` tells one byte, for the tail shorter than a word.
pub fn first_flagged(bytes: &[u8], flags: impl Fn(u64) -> u64, is: impl Fn(u8) -> bool) -> Option<usize> {
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut words {
        let flagged = flags(u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])));
        if flagged != 0 {
            return Some(at + flagged.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    words.remainder().iter().position(|&b| is(b)).map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_byte_sought_is_found_wherever_it_stands_whatever_follows_it() {
        let sought = |b: u8| b < 0x20 || b == b'?';
        for len in 1..20 {
            for place in 0..len {
                for byte in 0..=255u8 {
                    // Bytes that stop a borrow, or let one run, before and after it.
                    for (before, after) in [(b'a', b'a'), (0x20, 0x20), (0xff, 0x00), (0x21, b'?')] {
                        let mut bytes = vec![before; len];
                        bytes[place] = byte;
                        bytes[place + 1..].fill(after);
                        let want = bytes.iter().position(|&b| sought(b));
                        let found = first_flagged(&bytes, |w| below(w, 0x20) | equal(w, b'?'), sought);
                        assert_eq!(found, want, "{bytes:?}");
                    }
                }
            }
        }
    }
}
