//! The hash of tables whose keys an attacker cannot choose freely: FxHash's multiply-rotate, eight bytes at a
//! time, finished with a rotation (as rustc-hash 2 does) so that the low bits a table takes its bucket from are
//! well mixed.
//!
//! **Invariant:** used only where keys are the program's own (the catalog's literals and names) or ids of
//! authenticated tokens and of resources they were allowed, in tables whose size is capped; a presented string
//! is never keyed by it.

use std::hash::{BuildHasher, Hasher};

/// Builds [`WordHasher`]s.
#[derive(Debug, Clone, Copy, Default)]
pub struct Words;

impl BuildHasher for Words {
    type Hasher = WordHasher;

    fn build_hasher(&self) -> WordHasher {
        WordHasher::default()
    }
}

/// FxHash's multiply-rotate over words.
#[derive(Debug, Default)]
pub struct WordHasher(u64);

impl WordHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for WordHasher {
    /// The multiply leaves its entropy in the high bits and tables take their bucket from the low ones: the
    /// rotation brings well-mixed bits down.
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            if let Some(head) = word.get_mut(..rest.len()) {
                head.copy_from_slice(rest);
            }
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_u64(&mut self, word: u64) {
        self.add(word);
    }

    fn write_i64(&mut self, word: i64) {
        self.add(word as u64);
    }

    fn write_usize(&mut self, word: usize) {
        self.add(word as u64);
    }

    fn write_isize(&mut self, word: isize) {
        self.add(word as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_of_a_key_counts_and_equal_keys_hash_equal() {
        let hash = |bytes: &[u8]| Words.hash_one(bytes);
        assert_eq!(hash(b"merge_requests"), hash(b"merge_requests"));
        assert_ne!(hash(b"merge_requests"), hash(b"merge_requestz"));
        assert_ne!(hash(b"issues"), hash(b"issue"));
        assert_ne!(Words.hash_one((1_i64, 2_i64)), Words.hash_one((2_i64, 1_i64)));
    }
}
