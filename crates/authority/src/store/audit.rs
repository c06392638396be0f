//! The audit log and the notifications users are sent.
//!
//! **Invariant:** entries are appended, never changed.

use async_trait::async_trait;
use domain::{AuditEvent, NewAuditEvent, Notification, Timestamp};

use super::{Page, StoreResult};

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub created_after: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit_event(&self, event: &NewAuditEvent) -> StoreResult<()>;
    async fn list_audit_events(&self, filter: &AuditFilter, page: Page) -> StoreResult<(Vec<AuditEvent>, i64)>;
    async fn audit_event(&self, id: i64) -> StoreResult<Option<AuditEvent>>;
    /// Stores a notification (its `id` is ignored) for its user.
    async fn insert_notification(&self, notification: &Notification) -> StoreResult<()>;
    /// A user's notifications, newest first.
    async fn list_notifications(&self, user_id: i64, page: Page) -> StoreResult<(Vec<Notification>, i64)>;
}
