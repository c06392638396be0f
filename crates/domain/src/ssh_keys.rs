//! SSH keys: users' own keys and deploy keys (keys of no user, enabled on projects read-only or with push), as
//! the SSH server (gitlab-shell's way) names them to Tessera: by id or SHA256 fingerprint.
//!
//! **Invariant:** a fingerprint names at most one key, so that whatever the SSH server proved maps to one
//! principal; a key is refused from 00:00 UTC of its expiry date.

use crate::{Date, Timestamp};

/// A stored SSH public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKey {
    /// Its id (gitlab-shell's `key-<id>`).
    pub id: i64,
    /// Its user; `None` for a deploy key.
    pub user_id: Option<i64>,
    /// Its title.
    pub title: String,
    /// `type base64`, without a comment.
    pub key: String,
    /// `SHA256:…`.
    pub fingerprint: String,
    /// Its size in bits.
    pub bits: i64,
    /// The date it expires on (at 00:00 UTC), if any.
    pub expires_at: Option<Date>,
    /// When it was added.
    pub created_at: Timestamp,
    /// When it was last used.
    pub last_used_at: Option<Timestamp>,
}

impl SshKey {
    /// A deploy key (of no user).
    pub fn is_deploy_key(&self) -> bool {
        self.user_id.is_none()
    }

    /// Whether it has expired at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|date| date.start() <= now)
    }
}

/// A deploy key enabled on a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeployKeyLink {
    /// The key.
    pub key_id: i64,
    /// The project.
    pub project_id: i64,
    /// It may push there.
    pub can_push: bool,
    /// When it was enabled there.
    pub created_at: Timestamp,
}
