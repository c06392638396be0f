//! Pipeline triggers of projects and their tokens' digests.
//!
//! **Invariant:** only digests are stored; a deleted trigger's row is gone, and its token with it.

use async_trait::async_trait;
use domain::{Date, NewAuditEvent, PipelineTrigger, Timestamp};

use super::{AuditOf, Page, StoreResult};

#[derive(Debug, Clone)]
pub struct NewTrigger {
    pub project_id: i64,
    pub owner_id: i64,
    pub description: String,
    pub digest: String,
    pub expires_at: Option<Date>,
    pub organization_id: i64,
    pub now: Timestamp,
}

#[async_trait]
pub trait TriggerStore: Send + Sync {
    /// Inserts the trigger and, in the same transaction, the audit entry `audit` makes of its id.
    async fn insert_trigger(&self, trigger: &NewTrigger, audit: &AuditOf<'_>) -> StoreResult<PipelineTrigger>;
    async fn trigger(&self, id: i64) -> StoreResult<Option<PipelineTrigger>>;
    /// The trigger stored under any of these digests.
    async fn trigger_by_digest(&self, digests: &[String]) -> StoreResult<Option<PipelineTrigger>>;
    async fn list_triggers(&self, project_id: i64, page: Page) -> StoreResult<(Vec<PipelineTrigger>, i64)>;
    /// Changes a trigger's description; `None` if it is gone.
    async fn update_trigger(&self, id: i64, description: &str, now: Timestamp) -> StoreResult<Option<PipelineTrigger>>;
    /// Deletes the trigger, with its audit entry in the same transaction; true only for the one call that did.
    async fn delete_trigger(&self, id: i64, audit: &NewAuditEvent) -> StoreResult<bool>;
    /// Records a trigger's last use. Not a decision fact: it announces nothing.
    async fn touch_trigger(&self, id: i64, now: Timestamp, ips: &[String]) -> StoreResult<()>;
}
