//! Expiry notices: the credentials about to expire, and the once-only claim of each notice.
//!
//! **Invariant:** a notice is claimed by exactly one insertion, whichever node makes it, and its in-app
//! notifications commit with the claim.

use async_trait::async_trait;
use domain::{
    CredentialKind, Date, EmailState, ExpiringCredential, ExpiryNotice, NoticeWindow, Notification, Timestamp,
};

use super::StoreResult;

#[derive(Debug, Clone)]
pub struct NewExpiryNotice {
    pub kind: CredentialKind,
    pub credential_id: i64,
    pub window: NoticeWindow,
    pub recipients: Vec<i64>,
    pub subject: String,
    pub body: String,
    /// `Pending` when an e-mail is to be sent, `Abandoned` when no mail server is configured.
    pub email_state: EmailState,
    pub now: Timestamp,
}

#[async_trait]
pub trait NoticeStore: Send + Sync {
    /// Live credentials (not revoked; impersonation tokens excluded, as in GitLab) expiring after `today` and on
    /// or before `until`, at most `limit` of them, soonest first.
    async fn expiring_credentials(&self, today: Date, until: Date, limit: i64) -> StoreResult<Vec<ExpiringCredential>>;
    /// Claims a notice and writes its notifications in the same transaction; `None` when it was claimed before.
    async fn claim_expiry_notice(
        &self,
        notice: &NewExpiryNotice,
        notifications: &[Notification],
    ) -> StoreResult<Option<ExpiryNotice>>;
    /// Notices whose e-mail is pending and that no node took on since `claimed_before`, oldest first.
    async fn pending_expiry_emails(&self, claimed_before: Timestamp, limit: i64) -> StoreResult<Vec<ExpiryNotice>>;
    /// Takes a pending notice on again, if it is still as `seen` (one node wins).
    async fn lease_expiry_email(&self, id: i64, seen: Timestamp, now: Timestamp) -> StoreResult<bool>;
    /// Records how the e-mail went: sent, or one more failed attempt (abandoned after `max_attempts`).
    async fn finish_expiry_email(&self, id: i64, sent: bool, max_attempts: i64) -> StoreResult<()>;
}
