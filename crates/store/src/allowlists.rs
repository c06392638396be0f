//! Projects' inbound job-token allowlists: entries naming a project or a group, capped in number.
//!
//! **Invariant:** the cap and the uniqueness of a source are checked in the transaction that adds the entry.

use async_trait::async_trait;
use authority::{AllowlistAdd, AllowlistStore, Change, StoreResult};
use domain::{AllowlistEntry, AllowlistSource, JobPolicies, MAX_ALLOWLIST_ENTRIES};
use sqlx::Row;

use crate::rows::*;
use crate::sql::Sql;
use crate::{SqlStore, b, bits, db_error};

const ALLOWLIST_COLUMNS: &str =
    "project_id, source_kind, source_id, default_permissions, policies, added_by, created_at";

fn source_args(source: AllowlistSource) -> (&'static str, i64) {
    match source {
        AllowlistSource::Project(id) => ("project", id),
        AllowlistSource::Group(id) => ("group", id),
    }
}

/// `(source_kind = … and source_id = …) or …` for a list of sources; an empty list matches nothing.
fn push_sources(sql: &mut Sql, sources: &[AllowlistSource]) {
    sql.push("(");
    if sources.is_empty() {
        sql.push("1 = 0");
    }
    for (i, source) in sources.iter().enumerate() {
        let (kind, id) = source_args(*source);
        sql.push(if i == 0 { "(" } else { " or (" }).push("source_kind = ").text_arg(kind);
        sql.push(" and source_id = ").int(id).push(")");
    }
    sql.push(")");
}

#[async_trait]
impl AllowlistStore for SqlStore {
    async fn allowlist(&self, project_id: i64) -> StoreResult<Vec<AllowlistEntry>> {
        let mut sql = Sql::new(&format!("select {ALLOWLIST_COLUMNS} from ci_job_token_allowlist where project_id = "));
        sql.int(project_id).push(" order by created_at, source_kind, source_id");
        self.fetch_all(&sql).await?.iter().map(allowlist_from_row).collect()
    }

    async fn add_allowlist_entry(&self, entry: &AllowlistEntry) -> StoreResult<AllowlistAdd> {
        let mut tx = self.begin().await?;
        let mut count = Sql::new("select count(*) from ci_job_token_allowlist where project_id = ");
        count.int(entry.project_id);
        let row = count.query().fetch_one(&mut *tx).await.map_err(db_error)?;
        let held: i64 = row.try_get(0).map_err(db_error)?;
        let (kind, id) = source_args(entry.source);
        let mut exists = Sql::new("select 1 from ci_job_token_allowlist where project_id = ");
        exists.int(entry.project_id).push(" and source_kind = ").text_arg(kind).push(" and source_id = ").int(id);
        if exists.query().fetch_optional(&mut *tx).await.map_err(db_error)?.is_some() {
            return Ok(AllowlistAdd::Exists);
        }
        if usize::try_from(held).unwrap_or(usize::MAX) >= MAX_ALLOWLIST_ENTRIES {
            return Ok(AllowlistAdd::Full);
        }
        let mut sql = Sql::new(&format!("insert into ci_job_token_allowlist ({ALLOWLIST_COLUMNS}) values ("));
        sql.int(entry.project_id).push(", ").text_arg(kind).push(", ").int(id).push(", ");
        sql.int(b(entry.default_permissions)).push(", ").int(bits(entry.policies)).push(", ");
        sql.int(entry.added_by).push(", ").int(entry.created_at.millis()).push(")");
        sql.query().execute(&mut *tx).await.map_err(db_error)?;
        tx.commit(&[Change::Directory]).await?;
        Ok(AllowlistAdd::Added)
    }

    async fn update_allowlist_entry(
        &self,
        project_id: i64,
        source: AllowlistSource,
        default_permissions: bool,
        policies: JobPolicies,
    ) -> StoreResult<Option<AllowlistEntry>> {
        let (kind, id) = source_args(source);
        let mut sql = Sql::new("update ci_job_token_allowlist set default_permissions = ");
        sql.int(b(default_permissions)).push(", policies = ").int(bits(policies));
        sql.push(" where project_id = ").int(project_id).push(" and source_kind = ").text_arg(kind);
        sql.push(" and source_id = ").int(id);
        self.execute(&sql, &[Change::Directory]).await?;
        Ok(self.allowlist_entries(project_id, &[source]).await?.pop())
    }

    async fn delete_allowlist_entry(&self, project_id: i64, source: AllowlistSource) -> StoreResult<bool> {
        let (kind, id) = source_args(source);
        let mut sql = Sql::new("delete from ci_job_token_allowlist where project_id = ");
        sql.int(project_id).push(" and source_kind = ").text_arg(kind).push(" and source_id = ").int(id);
        let done = self.execute(&sql, &[Change::Directory]).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn allowlist_entries(
        &self,
        project_id: i64,
        sources: &[AllowlistSource],
    ) -> StoreResult<Vec<AllowlistEntry>> {
        let mut sql = Sql::new(&format!("select {ALLOWLIST_COLUMNS} from ci_job_token_allowlist where project_id = "));
        sql.int(project_id).push(" and ");
        push_sources(&mut sql, sources);
        self.points(&sql).await
    }

    async fn allowlisting(&self, sources: &[AllowlistSource], limit: i64) -> StoreResult<Vec<AllowlistEntry>> {
        let mut sql = Sql::new(&format!("select {ALLOWLIST_COLUMNS} from ci_job_token_allowlist where "));
        push_sources(&mut sql, sources);
        sql.push(" order by project_id limit ").int(limit);
        self.fetch_all(&sql).await?.iter().map(allowlist_from_row).collect()
    }
}
