//! SSH public keys as OpenSSH writes them (`ssh-ed25519 AAAA… comment`): the kinds GitLab accepts by default
//! (Ed25519, ECDSA on NIST P-256/384/521, RSA of at least 2048 bits), read whole from their wire form, and their
//! SHA256 fingerprint (`SHA256:` and the unpadded base64 of the SHA-256 of the key blob, as `ssh-keygen -l`).
//!
//! **Invariant:** a key is accepted only when its text type, its blob's own type and every field of the blob
//! agree and nothing is left over; anything else (DSA, short RSA, truncated or padded blobs) is refused.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::{Digest, Sha256};

/// The longest key line read (an RSA-16384 key is about 2.8 KB).
pub const MAX_KEY_LEN: usize = 8 * 1024;
/// The fewest bits of an RSA key.
pub const MIN_RSA_BITS: usize = 2048;

/// A public key that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, … or `ssh-rsa`.
    pub algorithm: String,
    /// The key's size in bits (256 for Ed25519, the curve's for ECDSA, the modulus's for RSA).
    pub bits: usize,
    /// `type base64`, without the comment: the form stored and compared.
    pub canonical: String,
    /// The comment after the key, if any.
    pub comment: Option<String>,
    /// `SHA256:…`.
    pub fingerprint: String,
}

/// Why a key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Not `type base64 [comment]`, too long, or not base64.
    Malformed,
    /// A type GitLab does not accept by default (DSA, …).
    UnsupportedType,
    /// The blob does not hold what its type says, or holds more.
    InvalidBlob,
    /// An RSA key shorter than [`MIN_RSA_BITS`].
    TooShort,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyError::Malformed => "is invalid",
            KeyError::UnsupportedType => "type is forbidden. Must be ED25519, ECDSA or RSA",
            KeyError::InvalidBlob => "is invalid",
            KeyError::TooShort => "must be at least 2048 bits (RSA)",
        })
    }
}

/// The SHA256 fingerprint of a key blob.
pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

/// Reads a key line.
pub fn parse_public_key(text: &str) -> Result<PublicKey, KeyError> {
    if text.len() > MAX_KEY_LEN {
        return Err(KeyError::Malformed);
    }
    let mut parts = text.trim().splitn(3, [' ', '\t']);
    let (Some(algorithm), Some(encoded)) = (parts.next(), parts.next()) else { return Err(KeyError::Malformed) };
    let comment = parts.next().map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned);
    if comment.as_deref().is_some_and(|c| c.chars().any(char::is_control)) {
        return Err(KeyError::Malformed);
    }
    let blob = STANDARD.decode(encoded).map_err(|_| KeyError::Malformed)?;
    let mut reader = Reader(&blob);
    if reader.string()? != algorithm.as_bytes() {
        return Err(KeyError::InvalidBlob);
    }
    let bits = match algorithm {
        "ssh-ed25519" => {
            if reader.string()?.len() != 32 {
                return Err(KeyError::InvalidBlob);
            }
            256
        }
        "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" => {
            let (curve, coordinate, bits) = match algorithm {
                "ecdsa-sha2-nistp256" => ("nistp256", 32, 256),
                "ecdsa-sha2-nistp384" => ("nistp384", 48, 384),
                _ => ("nistp521", 66, 521),
            };
            if reader.string()? != curve.as_bytes() {
                return Err(KeyError::InvalidBlob);
            }
            let point = reader.string()?;
            // An uncompressed point: 0x04 and both coordinates.
            if point.len() != 1 + 2 * coordinate || point.first() != Some(&4) {
                return Err(KeyError::InvalidBlob);
            }
            bits
        }
        "ssh-rsa" => {
            let exponent = reader.mpint()?;
            let modulus = reader.mpint()?;
            if exponent.is_empty() || exponent.len() > 8 || modulus.is_empty() {
                return Err(KeyError::InvalidBlob);
            }
            let bits = modulus.len() * 8 - modulus.first().map_or(8, |b| b.leading_zeros() as usize);
            if bits < MIN_RSA_BITS {
                return Err(KeyError::TooShort);
            }
            bits
        }
        "ssh-dss" | "sk-ssh-ed25519@openssh.com" | "sk-ecdsa-sha2-nistp256@openssh.com" => {
            return Err(KeyError::UnsupportedType);
        }
        _ => return Err(KeyError::UnsupportedType),
    };
    if !reader.0.is_empty() {
        return Err(KeyError::InvalidBlob);
    }
    Ok(PublicKey {
        algorithm: algorithm.to_owned(),
        bits,
        canonical: format!("{algorithm} {}", STANDARD.encode(&blob)),
        comment,
        fingerprint: fingerprint(&blob),
    })
}

/// Reads the SSH wire format: `uint32` lengths, then bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn string(&mut self) -> Result<&'a [u8], KeyError> {
        let (len, rest) = self.0.split_first_chunk::<4>().ok_or(KeyError::InvalidBlob)?;
        let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| KeyError::InvalidBlob)?;
        if len > rest.len() {
            return Err(KeyError::InvalidBlob);
        }
        let (value, rest) = rest.split_at(len);
        self.0 = rest;
        Ok(value)
    }

    /// A positive mpint, without its sign byte; a negative one is refused.
    fn mpint(&mut self) -> Result<&'a [u8], KeyError> {
        let value = self.string()?;
        match value.first() {
            Some(b) if b & 0x80 != 0 => Err(KeyError::InvalidBlob),
            Some(0) => Ok(&value[1..]),
            _ => Ok(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(fields: &[&[u8]]) -> String {
        let mut out = Vec::new();
        for field in fields {
            out.extend_from_slice(&u32::try_from(field.len()).unwrap().to_be_bytes());
            out.extend_from_slice(field);
        }
        STANDARD.encode(out)
    }

    #[test]
    fn an_ed25519_key_reads_with_its_fingerprint_and_comment() {
        // `ssh-keygen -l` prints this fingerprint for this key.
        let line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@example";
        let key = parse_public_key(line).unwrap();
        assert_eq!(key.algorithm, "ssh-ed25519");
        assert_eq!(key.bits, 256);
        assert_eq!(key.comment.as_deref(), Some("alice@example"));
        assert_eq!(key.fingerprint, "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU");
        assert!(!key.canonical.contains("alice"));
    }

    #[test]
    fn rsa_keys_need_2048_bits_and_others_are_refused() {
        let mut modulus = vec![0u8];
        modulus.extend(std::iter::repeat_n(0xC5, 256));
        let long = format!("ssh-rsa {}", blob(&[b"ssh-rsa", &[1, 0, 1], &modulus]));
        assert_eq!(parse_public_key(&long).unwrap().bits, 2048);
        let mut short = vec![0u8];
        short.extend(std::iter::repeat_n(0xC5, 128));
        let short = format!("ssh-rsa {}", blob(&[b"ssh-rsa", &[1, 0, 1], &short]));
        assert_eq!(parse_public_key(&short), Err(KeyError::TooShort));
        let dsa = format!("ssh-dss {}", blob(&[b"ssh-dss", b"p", b"q", b"g", b"y"]));
        assert_eq!(parse_public_key(&dsa), Err(KeyError::UnsupportedType));
    }

    #[test]
    fn a_blob_that_disagrees_with_its_type_or_holds_more_is_refused() {
        let key = [7u8; 32];
        assert!(parse_public_key(&format!("ssh-ed25519 {}", blob(&[b"ssh-ed25519", &key]))).is_ok());
        assert_eq!(parse_public_key(&format!("ssh-rsa {}", blob(&[b"ssh-ed25519", &key]))), Err(KeyError::InvalidBlob));
        let extra = blob(&[b"ssh-ed25519", &key, b"more"]);
        assert_eq!(parse_public_key(&format!("ssh-ed25519 {extra}")), Err(KeyError::InvalidBlob));
        let short = blob(&[b"ssh-ed25519", &key[..31]]);
        assert_eq!(parse_public_key(&format!("ssh-ed25519 {short}")), Err(KeyError::InvalidBlob));
        let mut point = vec![4u8];
        point.extend([9u8; 64]);
        let ecdsa = blob(&[b"ecdsa-sha2-nistp256", b"nistp256", &point]);
        assert_eq!(parse_public_key(&format!("ecdsa-sha2-nistp256 {ecdsa}")).unwrap().bits, 256);
        let wrong_curve = blob(&[b"ecdsa-sha2-nistp256", b"nistp384", &point]);
        assert!(parse_public_key(&format!("ecdsa-sha2-nistp256 {wrong_curve}")).is_err());
        for bad in ["", "ssh-ed25519", "ssh-ed25519 not*base64", "ssh-ed25519 AAAA\u{7}x"] {
            assert!(parse_public_key(bad).is_err(), "{bad:?}");
        }
    }
}
