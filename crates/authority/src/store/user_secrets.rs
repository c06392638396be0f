//! Users' feed and incoming-email tokens: one of each per user.
//!
//! **Invariant:** only digests are stored; a reset replaces a user's token of that kind in one transaction, so
//! that the old one is refused from the moment the new one exists.

use async_trait::async_trait;
use domain::{CredentialKind, Date, NewAuditEvent, Timestamp, UserSecret};

use super::{AuditOf, StoreResult};

#[derive(Debug, Clone)]
pub struct NewUserSecret {
    pub user_id: i64,
    pub kind: CredentialKind,
    pub digest: String,
    pub expires_at: Option<Date>,
    pub now: Timestamp,
}

#[async_trait]
pub trait UserSecretStore: Send + Sync {
    /// In one transaction: removes the user's token of this kind, if any, inserts the new one, and writes the
    /// audit entry `audit` makes of its id.
    async fn reset_user_secret(&self, secret: &NewUserSecret, audit: &AuditOf<'_>) -> StoreResult<UserSecret>;
    async fn user_secret(&self, id: i64) -> StoreResult<Option<UserSecret>>;
    async fn user_secret_of(&self, user_id: i64, kind: CredentialKind) -> StoreResult<Option<UserSecret>>;
    /// The token stored under any of these digests.
    async fn user_secret_by_digest(&self, digests: &[String]) -> StoreResult<Option<UserSecret>>;
    /// Removes it, with its audit entry in the same transaction; true only for the one call that did.
    async fn delete_user_secret(&self, id: i64, audit: &NewAuditEvent) -> StoreResult<bool>;
    /// Records its last use. Not a decision fact: it announces nothing.
    async fn touch_user_secret(&self, id: i64, now: Timestamp, ips: &[String]) -> StoreResult<()>;
}
