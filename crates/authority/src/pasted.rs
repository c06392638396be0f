//! Pasted secrets: a name, path, username or description that holds a credential is refused, so that a secret
//! pasted into the wrong field never lands in listings, exports or the audit log.
//!
//! **Invariant:** every use case that stores a name, path, username or description of a token, user, group,
//! project or organization asks [`Authority::refuse_pasted_secrets`] first, and writes nothing when it refuses.

use crate::{Authority, Error, Result};

/// The shortest word looked up as a possible live token.
const MIN_SECRET_LEN: usize = 20;

impl Authority {
    /// Refuses (400, naming the field) a value that holds a routable token of any prefix with a valid checksum, a
    /// JWT, or a word of 20 or more characters of the token alphabet that is a token Tessera issued.
    pub(crate) async fn refuse_pasted_secrets(&self, fields: &[(&'static str, Option<&str>)]) -> Result<()> {
        for (field, text) in fields {
            let Some(text) = text else { continue };
            if tokens::secrets::looks_like_secret(text) || self.holds_issued_token(text).await? {
                return Err(Error::invalid(
                    field,
                    "looks like a credential: never put a secret in a name or description",
                ));
            }
        }
        Ok(())
    }

    /// Whether a word of `text` is the plaintext of a token Tessera issued (looked up by its digest, as
    /// authentication does). Bounded by the text's length: every field is capped.
    async fn holds_issued_token(&self, text: &str) -> Result<bool> {
        let alphabet = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        for word in tokens::secrets::words(text) {
            if word.len() < MIN_SECRET_LEN || word.len() > tokens::MAX_TOKEN_LEN || !word.bytes().all(alphabet) {
                continue;
            }
            let digests = self.digester.candidates(word);
            if self.facts.token_by_digest(&self.catalog, &digests).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
