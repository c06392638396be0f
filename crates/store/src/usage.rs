//! What credentials were used for: tokens' exercised (permission, boundary) pairs and job tokens' uses of other projects.
//!
//! **Invariant:** a batch is written in one transaction, as one upsert per chunk.

use async_trait::async_trait;
use authority::{StoreResult, UsageStore};
use domain::{JobTokenAccess, Timestamp, TokenUsage};

use crate::rows::*;
use crate::sql::Sql;
use crate::{SqlStore, bits, db_error};

#[async_trait]
impl UsageStore for SqlStore {
    async fn add_token_usage(&self, usage: &[TokenUsage]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // Keys of one batch are distinct, as PostgreSQL's upsert needs; 6 parameters a row stay far below both
        // databases' limits at this size.
        for chunk in usage.chunks(500) {
            let mut sql = Sql::new(
                "insert into token_usage (token_id, permission, boundary, first_used_at, last_used_at, uses) values ",
            );
            for (i, u) in chunk.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" }).int(u.token_id).push(", ").text_arg(&u.permission);
                sql.push(", ").text_arg(&u.boundary.to_stored()).push(", ").int(u.first_used_at.millis());
                sql.push(", ").int(u.last_used_at.millis()).push(", ").int(u.uses).push(")");
            }
            sql.push(
                " on conflict (token_id, permission, boundary) do update set last_used_at = excluded.last_used_at, ",
            );
            sql.push("uses = token_usage.uses + excluded.uses");
            sql.query().execute(&mut *tx).await.map_err(db_error)?;
        }
        tx.commit(&[]).await
    }

    async fn token_usage(&self, token_id: i64, since: Option<Timestamp>) -> StoreResult<Vec<TokenUsage>> {
        let mut sql = Sql::new(
            "select token_id, permission, boundary, first_used_at, last_used_at, uses from token_usage where token_id = ",
        );
        sql.int(token_id);
        if let Some(since) = since {
            sql.push(" and last_used_at >= ").int(since.millis());
        }
        sql.push(" order by permission, boundary");
        self.fetch_all(&sql).await?.iter().map(usage_from_row).collect()
    }

    async fn add_job_token_access(&self, access: &[JobTokenAccess]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for chunk in access.chunks(500) {
            let mut sql = Sql::new(
                "insert into ci_job_token_access (source_project_id, target_project_id, policies, first_used_at, \
                 last_used_at, uses) values ",
            );
            for (i, a) in chunk.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" }).int(a.source_project_id).push(", ");
                sql.int(a.target_project_id).push(", ").int(bits(a.policies)).push(", ");
                sql.int(a.first_used_at.millis()).push(", ").int(a.last_used_at.millis()).push(", ").int(a.uses);
                sql.push(")");
            }
            sql.push(
                " on conflict (source_project_id, target_project_id) do update set \
                 policies = ci_job_token_access.policies | excluded.policies, last_used_at = excluded.last_used_at, \
                 uses = ci_job_token_access.uses + excluded.uses",
            );
            sql.query().execute(&mut *tx).await.map_err(db_error)?;
        }
        tx.commit(&[]).await
    }

    async fn job_token_access(&self, target_project_id: i64, since: Timestamp) -> StoreResult<Vec<JobTokenAccess>> {
        let mut sql = Sql::new(
            "select source_project_id, target_project_id, policies, first_used_at, last_used_at, uses \
             from ci_job_token_access where target_project_id = ",
        );
        sql.int(target_project_id).push(" and last_used_at >= ").int(since.millis());
        sql.push(" order by source_project_id");
        self.fetch_all(&sql).await?.iter().map(access_from_row).collect()
    }
}
