//! Deploy tokens: inserts (with GitLab's default username once the id is known), conditional revocation,
//! digest lookups and lists.
//!
//! **Invariant:** revocation is `where revoked = 0`: a second revocation changes nothing and reports it.

use async_trait::async_trait;
use authority::{AuditOf, Change, DeployTokenFilter, DeployTokenStore, NewDeployToken, Page, StoreError, StoreResult};
use domain::{Date, DeployToken, NewAuditEvent, Timestamp};
use sqlx::Row;

use crate::rows::*;
use crate::sql::{Arg, Sql};
use crate::{SqlStore, db_error};

const COLUMNS: &str = "deploy_token_id, resource_kind, resource_id, name, username, scopes, expires_on, revoked, \
    revoked_at, created_at, creator_id, organization_id, last_used_at, last_used_ips";

#[async_trait]
impl DeployTokenStore for SqlStore {
    async fn insert_deploy_token(&self, token: &NewDeployToken, audit: &AuditOf<'_>) -> StoreResult<DeployToken> {
        let (kind, resource_id) = source_args(token.resource);
        let mut tx = self.begin().await?;
        let mut sql = Sql::new(
            "insert into deploy_token (resource_kind, resource_id, name, username, token_digest, scopes, expires_on, created_at, creator_id, organization_id) values (",
        );
        sql.text_arg(kind).push(", ").int(resource_id).push(", ").text_arg(&token.name).push(", ");
        sql.text_arg(token.username.as_deref().unwrap_or("")).push(", ").text_arg(&token.digest).push(", ");
        sql.text_arg(&token.scopes.to_stored()).push(", ").arg(Arg::OptInt(token.expires_at.map(Date::days)));
        sql.push(", ").int(token.now.millis()).push(", ").arg(Arg::OptInt(token.creator_id)).push(", ");
        sql.int(token.organization_id).push(") returning deploy_token_id");
        let row = sql.query().fetch_one(&mut *tx).await.map_err(db_error)?;
        let id: i64 = row.try_get(0).map_err(db_error)?;
        if token.username.is_none() {
            let mut name = Sql::new("update deploy_token set username = ");
            name.text_arg(&DeployToken::default_username(id)).push(" where deploy_token_id = ").int(id);
            name.query().execute(&mut *tx).await.map_err(db_error)?;
        }
        if let Some(event) = audit(id) {
            crate::audit::insert_audit_event_tx(&mut tx, &event).await?;
        }
        tx.commit(&[Change::DeployToken(id)]).await?;
        self.deploy_token(id).await?.ok_or_else(|| StoreError::Other(anyhow::anyhow!("deploy token vanished")))
    }

    async fn deploy_token(&self, id: i64) -> StoreResult<Option<DeployToken>> {
        let mut sql = Sql::new(&format!("select {COLUMNS} from deploy_token where deploy_token_id = "));
        sql.int(id);
        self.point(&sql).await
    }

    async fn deploy_token_by_digest(&self, digests: &[String]) -> StoreResult<Option<DeployToken>> {
        let mut sql = Sql::new(&format!("select {COLUMNS} from deploy_token where token_digest in "));
        sql.text_list(digests);
        self.point(&sql).await
    }

    async fn list_deploy_tokens(&self, filter: &DeployTokenFilter, page: Page) -> StoreResult<(Vec<DeployToken>, i64)> {
        let mut sql = Sql::new("from deploy_token where 1 = 1");
        if let Some(source) = filter.resource {
            let (kind, id) = source_args(source);
            sql.push(" and resource_kind = ").text_arg(kind).push(" and resource_id = ").int(id);
        }
        if let Some(organization) = filter.organization_id {
            sql.push(" and organization_id = ").int(organization);
        }
        if let (Some(active), Some(today)) = (filter.active, filter.today) {
            if active {
                sql.push(" and revoked = 0 and (expires_on is null or expires_on > ").int(today.days()).push(")");
            } else {
                sql.push(" and (revoked = 1 or expires_on <= ").int(today.days()).push(")");
            }
        }
        self.page_of(&sql, COLUMNS, "deploy_token_id asc", page, deploy_token_from_row).await
    }

    async fn touch_deploy_token(&self, id: i64, now: Timestamp, ips: &[String]) -> StoreResult<()> {
        let mut sql = Sql::new("update deploy_token set last_used_at = ");
        sql.int(now.millis()).push(", last_used_ips = ").text_arg(&ips.join(","));
        sql.push(" where deploy_token_id = ").int(id);
        self.execute(&sql, &[]).await?;
        Ok(())
    }

    async fn revoke_deploy_token(&self, id: i64, now: Timestamp, audit: &NewAuditEvent) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let mut sql = Sql::new("update deploy_token set revoked = 1, revoked_at = ");
        sql.int(now.millis()).push(" where revoked = 0 and deploy_token_id = ").int(id);
        let done = sql.query().execute(&mut *tx).await.map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        crate::audit::insert_audit_event_tx(&mut tx, audit).await?;
        tx.commit(&[Change::DeployToken(id)]).await?;
        Ok(true)
    }
}
