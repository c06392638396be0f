//! A user's feed token and incoming-email token: one of each per user, replaced by a reset. A feed token reads
//! the feeds its user may read; an incoming-email token names its user inside an incoming e-mail address.
//!
//! **Invariant:** a record never holds its plaintext; a string is read as one of these only when it has the
//! kind's exact shape.

use crate::{CredentialKind, Date, Timestamp};

/// The shape of a token's body after its prefix: its length, and which bytes it may hold.
pub type BodyShape = (usize, fn(u8) -> bool);

/// A user's feed or incoming-email token. Never holds the plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSecret {
    /// Its id.
    pub id: i64,
    /// Its user.
    pub user_id: i64,
    /// [`CredentialKind::FeedToken`] or [`CredentialKind::IncomingEmailToken`].
    pub kind: CredentialKind,
    /// The date it expires on (at 00:00 UTC), if any.
    pub expires_at: Option<Date>,
    /// When it was made (by its last reset).
    pub created_at: Timestamp,
    /// When it was last used.
    pub last_used_at: Option<Timestamp>,
    /// The last client addresses it was used from, newest first.
    pub last_used_ips: Vec<String>,
}

impl UserSecret {
    /// How many characters follow the prefix, and from which alphabet, as in GitLab: a feed token's 20 URL-safe
    /// characters, an incoming-email token's 25 lowercase letters and digits (it goes into an e-mail address).
    pub fn body_of(kind: CredentialKind) -> Option<BodyShape> {
        match kind {
            CredentialKind::FeedToken => Some((20, |b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')),
            CredentialKind::IncomingEmailToken => Some((25, |b| b.is_ascii_lowercase() || b.is_ascii_digit())),
            _ => None,
        }
    }

    /// Whether `presented` has the exact shape of a token of `kind`.
    pub fn is_shape(kind: CredentialKind, presented: &str) -> bool {
        let Some((len, allowed)) = Self::body_of(kind) else { return false };
        presented.strip_prefix(kind.spec().prefix).is_some_and(|body| body.len() == len && body.bytes().all(allowed))
    }

    /// Whether it has expired at `now` (at 00:00 UTC of its expiry date).
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|date| date.start() <= now)
    }
}

/// The incoming-email token inside an e-mail address (`incoming+group-project-7-glimt-…-issue@example.com`):
/// the first `glimt-` followed by a whole token in the address's local part, if any.
pub fn incoming_email_token(address: &str) -> Option<&str> {
    let local = address.rsplit_once('@').map_or(address, |(local, _)| local);
    let prefix = CredentialKind::IncomingEmailToken.spec().prefix;
    let (len, _) = UserSecret::body_of(CredentialKind::IncomingEmailToken)?;
    let start = local.find(prefix)?;
    let token = local.get(start..start + prefix.len() + len)?;
    UserSecret::is_shape(CredentialKind::IncomingEmailToken, token).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_read_only_in_its_kinds_exact_shape() {
        let feed = format!("glft-{}", "aZ_-".repeat(5));
        assert!(UserSecret::is_shape(CredentialKind::FeedToken, &feed));
        assert!(!UserSecret::is_shape(CredentialKind::FeedToken, &format!("{feed}x")));
        assert!(!UserSecret::is_shape(CredentialKind::IncomingEmailToken, &feed));
        let mail = format!("glimt-{}", "a1".repeat(12) + "z");
        assert!(UserSecret::is_shape(CredentialKind::IncomingEmailToken, &mail));
        assert!(!UserSecret::is_shape(CredentialKind::IncomingEmailToken, &mail.to_uppercase()));
    }

    #[test]
    fn the_token_of_an_incoming_address_is_found_in_its_local_part() {
        let token = format!("glimt-{}", "b".repeat(25));
        let address = format!("incoming+group-project-7-{token}-issue@example.com");
        assert_eq!(incoming_email_token(&address), Some(token.as_str()));
        assert_eq!(incoming_email_token(&format!("incoming+x@{token}.example.com")), None, "not in the domain");
        assert_eq!(incoming_email_token("incoming+glimt-short@example.com"), None);
    }
}
