//! Text that looks like a credential: a routable token of any prefix whose checksum holds, or a JWT. Names and
//! descriptions are checked with it so that a pasted secret never lands in listings, exports or the audit log.
//!
//! **Invariant:** the check reads only the text: no storage, no clock; its work is linear in the text's length.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Candidate prefixes tried per word: `glpat-`, `acme-glpat-` and the like end at one of its first few dashes.
const MAX_PREFIX_DASHES: usize = 4;
/// The longest prefix tried.
const MAX_PREFIX_LEN: usize = 64;

/// The words of `text` a secret could be: runs of the characters tokens and JWTs are made of.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '/' | '=')))
        .filter(|w| !w.is_empty())
}

/// Whether `text` holds a word that is a routable token (any prefix ending in `-`, a valid version, length and
/// CRC32) or a JWT (three base64url parts, the first a JSON object naming `alg`).
pub fn looks_like_secret(text: &str) -> bool {
    words(text).any(|word| is_routable_token(word) || is_jwt(word))
}

/// A routable token of any prefix: the prefix is whatever precedes one of the word's first dashes.
pub fn is_routable_token(word: &str) -> bool {
    if word.len() > crate::MAX_TOKEN_LEN {
        return false;
    }
    word.match_indices('-')
        .take(MAX_PREFIX_DASHES)
        .map(|(i, _)| i + 1)
        .filter(|end| *end <= MAX_PREFIX_LEN)
        .filter_map(|end| word.get(..end))
        .any(|prefix| {
            let prefix = crate::Prefix { mint: String::new(), accepted: vec![prefix.to_owned()] };
            crate::check(word, &prefix).is_ok()
        })
}

/// A JWT, bare or after a prefix such as `glcbt-`: `header.payload.signature` in base64url, the header a JSON
/// object with an `alg`.
pub fn is_jwt(word: &str) -> bool {
    let Some(jwt) = word.find("eyJ").and_then(|start| word.get(start..)) else { return false };
    let mut parts = jwt.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let base64url = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if payload.is_empty() || !base64url(header) || !base64url(payload) || !base64url(signature) {
        return false;
    }
    URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .is_some_and(|text| text.trim_start().starts_with('{') && text.contains("\"alg\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RANDOM_BYTES, RoutingPayload, mint};

    fn token(prefix: &str) -> String {
        let payload =
            RoutingPayload { cell: Some(1), organization: Some(1), user: Some(7), ..RoutingPayload::default() };
        mint(prefix, &[7; RANDOM_BYTES], &payload).unwrap()
    }

    #[test]
    fn a_token_of_any_prefix_is_seen_alone_or_inside_a_sentence() {
        for prefix in ["glpat-", "gldt-", "glptt-", "glft-", "acme-glpat-", "x-"] {
            let secret = token(prefix);
            assert!(looks_like_secret(&secret), "{secret}");
            assert!(looks_like_secret(&format!("my token is {secret}, keep it")), "{secret}");
            assert!(looks_like_secret(&format!("\"{secret}\"")), "{secret}");
        }
    }

    #[test]
    fn a_broken_checksum_or_plain_words_are_not_secrets() {
        let mut secret = token("glpat-");
        secret.pop();
        secret.push('z');
        assert!(!looks_like_secret(&secret));
        for text in ["deploy key for ci", "glpat-", "release-2026.01.04-final", "a.b.c", "eyJ.not.json"] {
            assert!(!looks_like_secret(text), "{text}");
        }
    }

    #[test]
    fn a_jwt_is_seen_bare_and_after_a_prefix() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"k"}"#);
        let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"1"}"#);
        let jwt = format!("{header}.{payload}.c2ln");
        assert!(looks_like_secret(&jwt));
        assert!(looks_like_secret(&format!("glcbt-{jwt}")));
        assert!(looks_like_secret(&format!("token: {jwt}")));
    }
}
