//! Deploy tokens: credentials of a project or a group, with no user, that reach Git reads and the container and
//! package registries there by their scopes (GitLab's `DeployToken`).
//!
//! **Invariant:** a deploy token record never holds its plaintext; it is refused from 00:00 UTC of its expiry
//! date, and its username is checked byte for byte against a Basic username.

use crate::{Date, MemberSource, Scopes, Timestamp, TokenState};

/// The most characters a deploy token's username may have.
pub const MAX_DEPLOY_USERNAME: usize = 255;

/// A deploy token's record. Never holds the plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployToken {
    /// Its id.
    pub id: i64,
    /// The project or group it belongs to.
    pub resource: MemberSource,
    /// Its name.
    pub name: String,
    /// The username it is presented with in Basic authentication (`gitlab+deploy-token-<id>` unless given).
    pub username: String,
    /// Its scopes (of [`crate::credential::DEPLOY_SCOPES`]).
    pub scopes: Scopes,
    /// The date it expires on (at 00:00 UTC), if any.
    pub expires_at: Option<Date>,
    /// Revoked: refused from then on.
    pub revoked: bool,
    /// When it was revoked.
    pub revoked_at: Option<Timestamp>,
    /// When it was made.
    pub created_at: Timestamp,
    /// The user who made it.
    pub creator_id: Option<i64>,
    /// The organization of its project or group.
    pub organization_id: i64,
    /// When it was last used (written at most every 10 minutes).
    pub last_used_at: Option<Timestamp>,
    /// The last client addresses it was used from, newest first.
    pub last_used_ips: Vec<String>,
}

impl DeployToken {
    /// GitLab's order: expired is reported before revoked.
    pub fn state(&self, now: Timestamp) -> TokenState {
        if self.expires_at.is_some_and(|date| date.start() <= now) {
            return TokenState::Expired;
        }
        if self.revoked {
            return TokenState::Revoked;
        }
        TokenState::Active
    }

    /// Whether it may be used at `now`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.state(now) == TokenState::Active
    }

    /// GitLab's default username of a deploy token.
    pub fn default_username(id: i64) -> String {
        format!("gitlab+deploy-token-{id}")
    }
}

/// Checks a deploy token username as GitLab does: 1 to 255 characters of `[a-zA-Z0-9.+_-]`.
pub fn check_deploy_username(username: &str) -> Result<(), &'static str> {
    if username.is_empty() || username.len() > MAX_DEPLOY_USERNAME {
        return Err("is too long (maximum is 255 characters) or empty");
    }
    if !username.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'_' | b'-')) {
        return Err("can contain only letters, digits, '_', '-', '+', and '.'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deploy_username_takes_gitlabs_characters_only() {
        assert!(check_deploy_username("gitlab+deploy-token-7").is_ok());
        assert!(check_deploy_username("ci.bot_1").is_ok());
        for bad in ["", "a b", "a/b", "é", "a:b", &"a".repeat(256)] {
            assert!(check_deploy_username(bad).is_err(), "{bad:?}");
        }
    }
}
