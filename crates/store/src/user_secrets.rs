//! Users' feed and incoming-email tokens: resets (remove and insert in one transaction), lookups, removals.
//!
//! **Invariant:** a user holds at most one token of each kind (a unique key), and a reset announces both the
//! removed token and the new one.

use async_trait::async_trait;
use authority::{AuditOf, Change, NewUserSecret, StoreError, StoreResult, UserSecretStore};
use domain::{CredentialKind, Date, NewAuditEvent, Timestamp, UserSecret};
use sqlx::Row;

use crate::sql::{Arg, Sql};
use crate::{SqlStore, db_error};

const COLUMNS: &str = "user_secret_id, user_id, kind, expires_on, created_at, last_used_at, last_used_ips";

#[async_trait]
impl UserSecretStore for SqlStore {
    async fn reset_user_secret(&self, secret: &NewUserSecret, audit: &AuditOf<'_>) -> StoreResult<UserSecret> {
        let mut tx = self.begin().await?;
        let mut old = Sql::new("select user_secret_id from user_secret where user_id = ");
        old.int(secret.user_id).push(" and kind = ").text_arg(secret.kind.name());
        let rows = old.query().fetch_all(&mut *tx).await.map_err(db_error)?;
        let mut changes = Vec::new();
        for row in &rows {
            changes.push(Change::UserSecret(row.try_get::<i64, _>(0).map_err(db_error)?));
        }
        let mut remove = Sql::new("delete from user_secret where user_id = ");
        remove.int(secret.user_id).push(" and kind = ").text_arg(secret.kind.name());
        remove.query().execute(&mut *tx).await.map_err(db_error)?;
        let mut sql =
            Sql::new("insert into user_secret (user_id, kind, token_digest, expires_on, created_at) values (");
        sql.int(secret.user_id).push(", ").text_arg(secret.kind.name()).push(", ").text_arg(&secret.digest);
        sql.push(", ").arg(Arg::OptInt(secret.expires_at.map(Date::days))).push(", ").int(secret.now.millis());
        sql.push(") returning user_secret_id");
        let row = sql.query().fetch_one(&mut *tx).await.map_err(db_error)?;
        let id: i64 = row.try_get(0).map_err(db_error)?;
        if let Some(event) = audit(id) {
            crate::audit::insert_audit_event_tx(&mut tx, &event).await?;
        }
        changes.push(Change::UserSecret(id));
        tx.commit(&changes).await?;
        self.user_secret(id).await?.ok_or_else(|| StoreError::Other(anyhow::anyhow!("user secret vanished")))
    }

    async fn user_secret(&self, id: i64) -> StoreResult<Option<UserSecret>> {
        let mut sql = Sql::new(&format!("select {COLUMNS} from user_secret where user_secret_id = "));
        sql.int(id);
        self.point(&sql).await
    }

    async fn user_secret_of(&self, user_id: i64, kind: CredentialKind) -> StoreResult<Option<UserSecret>> {
        let mut sql = Sql::new(&format!("select {COLUMNS} from user_secret where user_id = "));
        sql.int(user_id).push(" and kind = ").text_arg(kind.name());
        self.point(&sql).await
    }

    async fn user_secret_by_digest(&self, digests: &[String]) -> StoreResult<Option<UserSecret>> {
        let mut sql = Sql::new(&format!("select {COLUMNS} from user_secret where token_digest in "));
        sql.text_list(digests);
        self.point(&sql).await
    }

    async fn delete_user_secret(&self, id: i64, audit: &NewAuditEvent) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let mut sql = Sql::new("delete from user_secret where user_secret_id = ");
        sql.int(id);
        let done = sql.query().execute(&mut *tx).await.map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        crate::audit::insert_audit_event_tx(&mut tx, audit).await?;
        tx.commit(&[Change::UserSecret(id)]).await?;
        Ok(true)
    }

    async fn touch_user_secret(&self, id: i64, now: Timestamp, ips: &[String]) -> StoreResult<()> {
        let mut sql = Sql::new("update user_secret set last_used_at = ");
        sql.int(now.millis()).push(", last_used_ips = ").text_arg(&ips.join(","));
        sql.push(" where user_secret_id = ").int(id);
        self.execute(&sql, &[]).await?;
        Ok(())
    }
}
