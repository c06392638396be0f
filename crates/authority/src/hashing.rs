//! The hashers of the hot path's tables: a secret-keyed SipHash for presented credential strings, and a
//! pass-through for keys that are already such hashes (keys of a few integers use `domain::Words`).
//!
//! **Invariant:** a presented string is only ever keyed by [`PresentedKeys`], whose key is random per process;
//! the cheap hashers are used only for keys an attacker cannot choose freely.

use std::hash::{BuildHasher, Hasher};

use siphasher::sip128::{Hasher128, SipHasher13};

/// SipHash-1-3/128 with a per-process random key, for remembering presented strings without keeping them.
pub(crate) struct PresentedKeys {
    k0: u64,
    k1: u64,
}

impl PresentedKeys {
    pub(crate) fn random() -> PresentedKeys {
        let mut seed = [0u8; 16];
        // Without randomness the keyed hash would be predictable; fall back to a key of zeros only in the
        // impossible case that the OS has no random source (the cache stays correct either way: a hit still
        // loads the token by id and checks its state).
        let _ = getrandom::fill(&mut seed);
        let (k0, k1) = seed.split_at(8);
        let k0 = u64::from_le_bytes(k0.try_into().unwrap_or([0; 8]));
        let k1 = u64::from_le_bytes(k1.try_into().unwrap_or([0; 8]));
        PresentedKeys { k0, k1 }
    }

    pub(crate) fn key(&self, presented: &str) -> u128 {
        let mut hasher = SipHasher13::new_with_keys(self.k0, self.k1);
        hasher.write(presented.as_bytes());
        hasher.finish128().as_u128()
    }
}

/// Hashes keys that are already secret-keyed SipHash outputs: their own bits are as good a table hash as any
/// and hashing them again would only cost time on every request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AlreadyHashed;

impl BuildHasher for AlreadyHashed {
    type Hasher = Folded;

    fn build_hasher(&self) -> Folded {
        Folded(0)
    }
}

pub(crate) struct Folded(u64);

impl Hasher for Folded {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u128(&mut self, key: u128) {
        self.0 ^= (key as u64) ^ ((key >> 64) as u64);
    }

    /// Only `u128` keys are hashed here; anything else still gets every byte mixed in.
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_presented_key_depends_on_every_byte_and_on_the_process_key() {
        let a = PresentedKeys::random();
        let b = PresentedKeys::random();
        assert_ne!(a.key("glpat-abc"), a.key("glpat-abd"));
        assert_ne!(a.key("glpat-abc"), b.key("glpat-abc"));
    }
}
