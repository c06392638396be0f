//! Pipeline triggers: inserts, digest lookups, lists, description changes, deletions and last use.
//!
//! **Invariant:** a deletion removes the row in the transaction that audits it, and is announced.

use async_trait::async_trait;
use authority::{AuditOf, Change, NewTrigger, Page, StoreError, StoreResult, TriggerStore};
use domain::{Date, NewAuditEvent, PipelineTrigger, Timestamp};
use sqlx::Row;

use crate::rows::*;
use crate::sql::{Arg, Sql};
use crate::{SqlStore, db_error};

const COLUMNS: &str = "trigger_id, project_id, owner_id, description, expires_on, created_at, updated_at, last_used_at, organization_id, last_used_ips";

#[async_trait]
impl TriggerStore for SqlStore {
    async fn insert_trigger(&self, trigger: &NewTrigger, audit: &AuditOf<'_>) -> StoreResult<PipelineTrigger> {
        let mut tx = self.begin().await?;
        let mut sql = Sql::new(
            "insert into pipeline_trigger (project_id, owner_id, description, token_digest, expires_on, created_at, updated_at, organization_id) values (",
        );
        sql.int(trigger.project_id).push(", ").int(trigger.owner_id).push(", ").text_arg(&trigger.description);
        sql.push(", ").text_arg(&trigger.digest).push(", ").arg(Arg::OptInt(trigger.expires_at.map(Date::days)));
        sql.push(", ").int(trigger.now.millis()).push(", ").int(trigger.now.millis()).push(", ");
        sql.int(trigger.organization_id).push(") returning trigger_id");
        let row = sql.query().fetch_one(&mut *tx).await.map_err(db_error)?;
        let id: i64 = row.try_get(0).map_err(db_error)?;
        if let Some(event) = audit(id) {
            crate::audit::insert_audit_event_tx(&mut tx, &event).await?;
        }
        tx.commit(&[Change::Trigger(id)]).await?;
        self.trigger(id).await?.ok_or_else(|| StoreError::Other(anyhow::anyhow!("trigger vanished after insert")))
    }

    async fn trigger(&self, id: i64) -> StoreResult<Option<PipelineTrigger>> {
        let mut sql = Sql::new(&format!("select {COLUMNS} from pipeline_trigger where trigger_id = "));
        sql.int(id);
        self.point(&sql).await
    }

    async fn trigger_by_digest(&self, digests: &[String]) -> StoreResult<Option<PipelineTrigger>> {
        let mut sql = Sql::new(&format!("select {COLUMNS} from pipeline_trigger where token_digest in "));
        sql.text_list(digests);
        self.point(&sql).await
    }

    async fn list_triggers(&self, project_id: i64, page: Page) -> StoreResult<(Vec<PipelineTrigger>, i64)> {
        let mut sql = Sql::new("from pipeline_trigger where project_id = ");
        sql.int(project_id);
        self.page_of(&sql, COLUMNS, "trigger_id asc", page, trigger_from_row).await
    }

    async fn update_trigger(&self, id: i64, description: &str, now: Timestamp) -> StoreResult<Option<PipelineTrigger>> {
        let mut sql = Sql::new("update pipeline_trigger set description = ");
        sql.text_arg(description).push(", updated_at = ").int(now.millis()).push(" where trigger_id = ").int(id);
        self.execute(&sql, &[Change::Trigger(id)]).await?;
        self.trigger(id).await
    }

    async fn delete_trigger(&self, id: i64, audit: &NewAuditEvent) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let mut sql = Sql::new("delete from pipeline_trigger where trigger_id = ");
        sql.int(id);
        let done = sql.query().execute(&mut *tx).await.map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        crate::audit::insert_audit_event_tx(&mut tx, audit).await?;
        tx.commit(&[Change::Trigger(id)]).await?;
        Ok(true)
    }

    async fn touch_trigger(&self, id: i64, now: Timestamp, ips: &[String]) -> StoreResult<()> {
        let mut sql = Sql::new("update pipeline_trigger set last_used_at = ");
        sql.int(now.millis()).push(", last_used_ips = ").text_arg(&ips.join(","));
        sql.push(" where trigger_id = ").int(id);
        self.execute(&sql, &[]).await?;
        Ok(())
    }
}
