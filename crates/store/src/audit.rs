//! The audit log and users' notifications: append-only rows, listed newest first.
//!
//! **Invariant:** rows are only inserted.

use async_trait::async_trait;
use authority::{AuditFilter, AuditStore, Page, StoreResult};
use domain::{AuditEvent, NewAuditEvent, Notification};

use crate::SqlStore;
use crate::rows::*;
use crate::sql::{Arg, Sql};
use crate::write::Write;

const AUDIT_COLUMNS: &str =
    "audit_event_id, author_id, entity_type, entity_id, event_name, details, ip_address, created_at";

#[async_trait]
impl AuditStore for SqlStore {
    async fn insert_audit_event(&self, event: &NewAuditEvent) -> StoreResult<()> {
        self.execute(&insert_sql(event), &[]).await?;
        Ok(())
    }

    async fn list_audit_events(&self, filter: &AuditFilter, page: Page) -> StoreResult<(Vec<AuditEvent>, i64)> {
        let mut sql = Sql::new("from audit_event where 1 = 1");
        if let Some(t) = &filter.entity_type {
            sql.push(" and entity_type = ").text_arg(t);
        }
        if let Some(id) = filter.entity_id {
            sql.push(" and entity_id = ").int(id);
        }
        if let Some(t) = filter.created_after {
            sql.push(" and created_at >= ").int(t.millis());
        }
        if let Some(t) = filter.created_before {
            sql.push(" and created_at <= ").int(t.millis());
        }
        self.page_of(&sql, AUDIT_COLUMNS, "audit_event_id desc", page, audit_from_row).await
    }

    async fn audit_event(&self, id: i64) -> StoreResult<Option<AuditEvent>> {
        let mut sql = Sql::new(&format!("select {AUDIT_COLUMNS} from audit_event where audit_event_id = "));
        sql.int(id);
        self.fetch_optional(&sql).await?.as_ref().map(audit_from_row).transpose()
    }

    async fn insert_notification(&self, notification: &Notification) -> StoreResult<()> {
        let mut sql = Sql::new("insert into notification (user_id, kind, message, created_at) values (");
        sql.int(notification.user_id).push(", ").text_arg(&notification.kind).push(", ");
        sql.text_arg(&notification.message).push(", ").int(notification.created_at.millis()).push(")");
        self.execute(&sql, &[]).await?;
        Ok(())
    }

    async fn list_notifications(&self, user_id: i64, page: Page) -> StoreResult<(Vec<Notification>, i64)> {
        let mut sql = Sql::new("from notification where user_id = ");
        sql.int(user_id);
        self.page_of(
            &sql,
            "notification_id, user_id, kind, message, created_at",
            "notification_id desc",
            page,
            notification_from_row,
        )
        .await
    }
}

fn insert_sql(event: &NewAuditEvent) -> Sql {
    let mut sql = Sql::new(
        "insert into audit_event (author_id, entity_type, entity_id, event_name, details, ip_address, created_at) values (",
    );
    sql.arg(Arg::OptInt(event.author_id)).push(", ").text_arg(&event.entity_type).push(", ").int(event.entity_id);
    sql.push(", ").text_arg(&event.event_name).push(", ").text_arg(&event.details).push(", ");
    sql.arg(Arg::OptText(event.ip_address.clone())).push(", ").int(event.created_at.millis()).push(")");
    sql
}

/// Appends an audit entry inside a write transaction, so that it commits, or not, with the change it records.
pub(crate) async fn insert_audit_event_tx(tx: &mut Write<'_>, event: &NewAuditEvent) -> StoreResult<()> {
    insert_sql(event).query().execute(&mut **tx).await.map_err(crate::db_error)?;
    Ok(())
}
