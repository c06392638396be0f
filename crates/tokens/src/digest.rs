//! The keyed digest that is stored in place of a token: HMAC-SHA256 under a server secret.
//! Several secrets may be configured so that the secret can be rotated: the first digests new tokens,
//! all of them are tried on lookup.
//!
//! **Invariant:** a digest is keyed: without the server secret, a stored digest says nothing of its token.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Length in bytes of every digest key.
pub const DIGEST_KEY_LEN: usize = 32;

/// Why a [`Digester`] could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigesterError {
    /// No key was given.
    NoKey,
    /// A key is shorter than [`DIGEST_KEY_LEN`].
    ShortKey,
}

impl std::fmt::Display for DigesterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DigesterError::NoKey => f.write_str("at least one token digest secret is needed"),
            DigesterError::ShortKey => write!(f, "a token digest secret must have at least {DIGEST_KEY_LEN} bytes"),
        }
    }
}

/// Computes token digests. Holds key material: never log or print it.
#[derive(Clone)]
pub struct Digester {
    keys: Vec<Hmac<Sha256>>,
}

impl std::fmt::Debug for Digester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digester({} keys)", self.keys.len())
    }
}

impl Digester {
    /// The first key is current; the others are accepted on lookup.
    pub fn new(keys: &[Vec<u8>]) -> Result<Digester, DigesterError> {
        if keys.is_empty() {
            return Err(DigesterError::NoKey);
        }
        let mut macs = Vec::with_capacity(keys.len());
        for key in keys {
            if key.len() < DIGEST_KEY_LEN {
                return Err(DigesterError::ShortKey);
            }
            macs.push(Hmac::<Sha256>::new_from_slice(key).map_err(|_| DigesterError::ShortKey)?);
        }
        Ok(Digester { keys: macs })
    }

    /// The digest stored for a new token, as 64 lowercase hex characters.
    pub fn digest(&self, token: &str) -> String {
        match self.keys.first() {
            Some(mac) => hex_digest(mac, token),
            None => String::new(),
        }
    }

    /// Keys for another purpose than digests, derived from each secret (`HMAC(secret, label)`), current first: the
    /// server's secrets then also seal what must be kept secret at rest (CI signing keys) without being reused
    /// as they are.
    pub fn derived_keys(&self, label: &str) -> Vec<[u8; 32]> {
        self.keys
            .iter()
            .map(|mac| {
                let mut mac = mac.clone();
                mac.update(b"tessera derived key\0");
                mac.update(label.as_bytes());
                mac.finalize().into_bytes().into()
            })
            .collect()
    }

    /// Every digest the token may be stored under, current key first.
    pub fn candidates(&self, token: &str) -> Vec<String> {
        self.keys.iter().map(|mac| hex_digest(mac, token)).collect()
    }
}

fn hex_digest(mac: &Hmac<Sha256>, token: &str) -> String {
    let mut mac = mac.clone();
    mac.update(token.as_bytes());
    let bytes = mac.finalize().into_bytes();
    let mut out = String::with_capacity(64);
    for b in bytes {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_depend_on_the_key() {
        let a = Digester::new(&[vec![1; 32]]).unwrap();
        let b = Digester::new(&[vec![2; 32]]).unwrap();
        assert_ne!(a.digest("glpat-x"), b.digest("glpat-x"));
        assert_eq!(a.digest("glpat-x").len(), 64);
    }

    #[test]
    fn an_old_key_still_finds_its_tokens() {
        let old = Digester::new(&[vec![1; 32]]).unwrap();
        let rotated = Digester::new(&[vec![2; 32], vec![1; 32]]).unwrap();
        assert!(rotated.candidates("glpat-x").contains(&old.digest("glpat-x")));
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(Digester::new(&[vec![1; 16]]).err(), Some(DigesterError::ShortKey));
        assert_eq!(Digester::new(&[]).err(), Some(DigesterError::NoKey));
    }
}
