//! SSH keys and deploy keys' enablements.
//!
//! **Invariant:** a key's removal takes its enablements in the same transaction (the foreign key cascades, and
//! the rows are removed explicitly too for SQLite connections without foreign keys on).

use async_trait::async_trait;
use authority::{AuditOf, NewSshKey, Page, SshKeyStore, StoreError, StoreResult};
use domain::{Date, DeployKeyLink, NewAuditEvent, SshKey, Timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::rows::{flag, get, opt_date, opt_time, time};
use crate::sql::{Arg, Sql};
use crate::{SqlStore, b, db_error};

const COLUMNS: &str =
    "k.ssh_key_id, k.user_id, k.title, k.key_text, k.fingerprint, k.bits, k.expires_on, k.created_at, k.last_used_at";

fn key_from_row(row: &AnyRow) -> StoreResult<SshKey> {
    Ok(SshKey {
        id: get(row, "ssh_key_id")?,
        user_id: get(row, "user_id")?,
        title: get(row, "title")?,
        key: get(row, "key_text")?,
        fingerprint: get(row, "fingerprint")?,
        bits: get(row, "bits")?,
        expires_at: opt_date(row, "expires_on")?,
        created_at: time(row, "created_at")?,
        last_used_at: opt_time(row, "last_used_at")?,
    })
}

fn link_from_row(row: &AnyRow) -> StoreResult<DeployKeyLink> {
    Ok(DeployKeyLink {
        key_id: get(row, "ssh_key_id")?,
        project_id: get(row, "project_id")?,
        can_push: flag(row, "can_push")?,
        created_at: time(row, "link_created_at")?,
    })
}

#[async_trait]
impl SshKeyStore for SqlStore {
    async fn insert_ssh_key(&self, key: &NewSshKey, audit: &AuditOf<'_>) -> StoreResult<SshKey> {
        let mut tx = self.begin().await?;
        let mut sql = Sql::new(
            "insert into ssh_key (user_id, title, key_text, fingerprint, bits, expires_on, created_at) values (",
        );
        sql.arg(Arg::OptInt(key.user_id)).push(", ").text_arg(&key.title).push(", ").text_arg(&key.key).push(", ");
        sql.text_arg(&key.fingerprint).push(", ").int(key.bits).push(", ");
        sql.arg(Arg::OptInt(key.expires_at.map(Date::days))).push(", ").int(key.now.millis());
        sql.push(") returning ssh_key_id");
        let row = sql.query().fetch_one(&mut *tx).await.map_err(|e| match db_error(e) {
            StoreError::Conflict(_) => StoreError::Conflict("fingerprint"),
            other => other,
        })?;
        let id: i64 = row.try_get(0).map_err(db_error)?;
        if let Some((project, can_push)) = key.enable_on {
            let mut link =
                Sql::new("insert into deploy_key_project (ssh_key_id, project_id, can_push, created_at) values (");
            link.int(id).push(", ").int(project).push(", ").int(b(can_push)).push(", ").int(key.now.millis()).push(")");
            link.query().execute(&mut *tx).await.map_err(db_error)?;
        }
        if let Some(event) = audit(id) {
            crate::audit::insert_audit_event_tx(&mut tx, &event).await?;
        }
        tx.commit(&[]).await?;
        self.ssh_key(id).await?.ok_or_else(|| StoreError::Other(anyhow::anyhow!("key vanished after insert")))
    }

    async fn ssh_key(&self, id: i64) -> StoreResult<Option<SshKey>> {
        let mut sql = Sql::new(&format!("select {COLUMNS} from ssh_key k where k.ssh_key_id = "));
        sql.int(id);
        self.fetch_optional(&sql).await?.as_ref().map(key_from_row).transpose()
    }

    async fn ssh_key_by_fingerprint(&self, fingerprint: &str) -> StoreResult<Option<SshKey>> {
        let mut sql = Sql::new(&format!("select {COLUMNS} from ssh_key k where k.fingerprint = "));
        sql.text_arg(fingerprint);
        self.fetch_optional(&sql).await?.as_ref().map(key_from_row).transpose()
    }

    async fn list_ssh_keys(&self, user_id: Option<i64>, page: Page) -> StoreResult<(Vec<SshKey>, i64)> {
        let mut sql = Sql::new("from ssh_key k where ");
        match user_id {
            Some(user) => sql.push("k.user_id = ").int(user),
            None => sql.push("k.user_id is null"),
        };
        self.page_of(&sql, COLUMNS, "k.ssh_key_id asc", page, key_from_row).await
    }

    async fn project_deploy_keys(
        &self,
        project_id: i64,
        page: Page,
    ) -> StoreResult<(Vec<(SshKey, DeployKeyLink)>, i64)> {
        let mut sql =
            Sql::new("from ssh_key k join deploy_key_project l on l.ssh_key_id = k.ssh_key_id where l.project_id = ");
        sql.int(project_id);
        let select = format!("{COLUMNS}, l.project_id, l.can_push, l.created_at as link_created_at");
        self.page_of(&sql, &select, "k.ssh_key_id asc", page, |row| Ok((key_from_row(row)?, link_from_row(row)?))).await
    }

    async fn deploy_key_link(&self, key_id: i64, project_id: i64) -> StoreResult<Option<DeployKeyLink>> {
        let mut sql = Sql::new(
            "select ssh_key_id, project_id, can_push, created_at as link_created_at from deploy_key_project where ssh_key_id = ",
        );
        sql.int(key_id).push(" and project_id = ").int(project_id);
        self.fetch_optional(&sql).await?.as_ref().map(link_from_row).transpose()
    }

    async fn enable_deploy_key(&self, key_id: i64, project_id: i64, can_push: bool, now: Timestamp) -> StoreResult<()> {
        let mut sql =
            Sql::new("insert into deploy_key_project (ssh_key_id, project_id, can_push, created_at) values (");
        sql.int(key_id).push(", ").int(project_id).push(", ").int(b(can_push)).push(", ").int(now.millis());
        sql.push(") on conflict (ssh_key_id, project_id) do update set can_push = excluded.can_push");
        self.execute(&sql, &[]).await?;
        Ok(())
    }

    async fn retitle_ssh_key(&self, key_id: i64, title: &str) -> StoreResult<()> {
        let mut sql = Sql::new("update ssh_key set title = ");
        sql.text_arg(title).push(" where ssh_key_id = ").int(key_id);
        self.execute(&sql, &[]).await?;
        Ok(())
    }

    async fn disable_deploy_key(&self, key_id: i64, project_id: i64, audit: &NewAuditEvent) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let mut sql = Sql::new("delete from deploy_key_project where ssh_key_id = ");
        sql.int(key_id).push(" and project_id = ").int(project_id);
        let done = sql.query().execute(&mut *tx).await.map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let mut orphan = Sql::new("delete from ssh_key where user_id is null and ssh_key_id = ");
        orphan.int(key_id).push(" and not exists (select 1 from deploy_key_project where ssh_key_id = ").int(key_id);
        orphan.push(")");
        orphan.query().execute(&mut *tx).await.map_err(db_error)?;
        crate::audit::insert_audit_event_tx(&mut tx, audit).await?;
        tx.commit(&[]).await?;
        Ok(true)
    }

    async fn delete_ssh_key(&self, id: i64, audit: &NewAuditEvent) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let mut links = Sql::new("delete from deploy_key_project where ssh_key_id = ");
        links.int(id);
        links.query().execute(&mut *tx).await.map_err(db_error)?;
        let mut sql = Sql::new("delete from ssh_key where ssh_key_id = ");
        sql.int(id);
        let done = sql.query().execute(&mut *tx).await.map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        crate::audit::insert_audit_event_tx(&mut tx, audit).await?;
        tx.commit(&[]).await?;
        Ok(true)
    }

    async fn touch_ssh_key(&self, id: i64, now: Timestamp) -> StoreResult<()> {
        let mut sql = Sql::new("update ssh_key set last_used_at = ");
        sql.int(now.millis()).push(" where ssh_key_id = ").int(id);
        self.execute(&sql, &[]).await?;
        Ok(())
    }
}
