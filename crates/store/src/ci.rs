//! CI/CD storage: runners, pipelines, jobs, project job-token settings and allowlists, signing keys, and the
//! cross-project uses of job tokens. The `Store` methods of `SqlStore` delegate here.

use authority::{AllowlistAdd, NewJob, NewRunner, StoreError, StoreResult};
use domain::{
    AllowlistEntry, AllowlistSource, Job, JobPolicies, JobStatus, JobTokenAccess, JobTokenMode, JobTokenSettings,
    MAX_ALLOWLIST_ENTRIES, Pipeline, Project, Runner, RunnerType, StoredKey, Timestamp,
};
use sqlx::Row;

use crate::rows::*;
use crate::sql::{Arg, Sql};
use crate::{SqlStore, b, db_error};

const JOB_COLUMNS: &str = "job_id, pipeline_id, project_id, user_id, name, ref, ref_protected, timeout_s, status, \
    permissions, declared, legacy, runner_id, created_at, finished_at, token_expires_at";
const ALLOWLIST_COLUMNS: &str =
    "project_id, source_kind, source_id, default_permissions, policies, added_by, created_at";
const KEY_COLUMNS: &str = "kid, purpose, algorithm, sealed_key, public_jwk, created_at, retired_at, publish_until";

fn source_args(source: AllowlistSource) -> (&'static str, i64) {
    match source {
        AllowlistSource::Project(id) => ("project", id),
        AllowlistSource::Group(id) => ("group", id),
    }
}

fn bits(policies: JobPolicies) -> i64 {
    i64::from(policies.bits())
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

impl SqlStore {
    pub(crate) async fn ci_insert_runner(&self, runner: &NewRunner) -> StoreResult<Runner> {
        let project = match runner.runner_type {
            RunnerType::Instance => None,
            RunnerType::Project(id) => Some(id),
        };
        let mut sql = Sql::new(
            "insert into ci_runner (token_digest, description, runner_type, project_id, created_by, created_at) values (",
        );
        sql.text_arg(&runner.digest).push(", ").text_arg(&runner.description).push(", ");
        sql.text_arg(runner.runner_type.as_str()).push(", ").arg(Arg::OptInt(project)).push(", ");
        sql.int(runner.created_by).push(", ").int(runner.created_at.millis()).push(") returning runner_id");
        let row = sql.query().fetch_one(&self.pool).await.map_err(db_error)?;
        let id: i64 = row.try_get(0).map_err(db_error)?;
        Ok(Runner {
            id,
            description: runner.description.clone(),
            runner_type: runner.runner_type,
            created_by: runner.created_by,
            created_at: runner.created_at,
            revoked: false,
        })
    }

    pub(crate) async fn ci_runner_by_digest(&self, digests: &[String]) -> StoreResult<Option<Runner>> {
        let mut sql = Sql::new(
            "select runner_id, description, runner_type, project_id, created_by, created_at, revoked from ci_runner \
             where token_digest in ",
        );
        sql.text_list(digests);
        self.fetch_optional(&sql).await?.as_ref().map(runner_from_row).transpose()
    }

    pub(crate) async fn ci_insert_job(&self, job: &NewJob) -> StoreResult<Job> {
        let mut tx = self.begin().await?;
        let pipeline_id = match job.pipeline_id {
            Some(id) => {
                let mut sql = Sql::new("select project_id from ci_pipeline where pipeline_id = ");
                sql.int(id);
                let row = sql.query().fetch_optional(&mut *tx).await.map_err(db_error)?;
                let project: Option<i64> = row.map(|r| r.try_get(0)).transpose().map_err(db_error)?;
                if project != Some(job.project_id) {
                    return Err(StoreError::Conflict("pipeline_id"));
                }
                id
            }
            None => {
                let mut sql =
                    Sql::new("insert into ci_pipeline (project_id, user_id, ref, ref_protected, created_at) values (");
                sql.int(job.project_id).push(", ").int(job.user_id).push(", ").text_arg(&job.git_ref).push(", ");
                sql.int(b(job.ref_protected)).push(", ").int(job.created_at.millis()).push(") returning pipeline_id");
                let row = sql.query().fetch_one(&mut *tx).await.map_err(db_error)?;
                row.try_get(0).map_err(db_error)?
            }
        };
        let mut sql = Sql::new(
            "insert into ci_job (pipeline_id, project_id, user_id, name, ref, ref_protected, timeout_s, status, \
             permissions, declared, legacy, runner_id, created_at, token_expires_at) values (",
        );
        sql.int(pipeline_id).push(", ").int(job.project_id).push(", ").int(job.user_id).push(", ");
        sql.text_arg(&job.name).push(", ").text_arg(&job.git_ref).push(", ").int(b(job.ref_protected)).push(", ");
        sql.int(job.timeout_s).push(", 'running', ").int(bits(job.permissions)).push(", ").int(b(job.declared));
        sql.push(", ").int(b(job.mode == JobTokenMode::Legacy)).push(", ").arg(Arg::OptInt(job.runner_id));
        sql.push(", ").int(job.created_at.millis()).push(", ").int(job.token_expires_at.millis());
        sql.push(") returning job_id");
        let row = sql.query().fetch_one(&mut *tx).await.map_err(db_error)?;
        let id: i64 = row.try_get(0).map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        self.ci_job(id).await?.ok_or_else(|| StoreError::Other(anyhow::anyhow!("job vanished after insert")))
    }

    pub(crate) async fn ci_job(&self, id: i64) -> StoreResult<Option<Job>> {
        let mut sql = Sql::new(&format!("select {JOB_COLUMNS} from ci_job where job_id = "));
        sql.int(id);
        self.point(&sql).await
    }

    pub(crate) async fn ci_pipeline(&self, id: i64) -> StoreResult<Option<Pipeline>> {
        let mut sql = Sql::new(
            "select pipeline_id, project_id, user_id, ref, ref_protected, created_at from ci_pipeline where pipeline_id = ",
        );
        sql.int(id);
        self.fetch_optional(&sql).await?.as_ref().map(pipeline_from_row).transpose()
    }

    pub(crate) async fn ci_finish_job(
        &self,
        id: i64,
        status: JobStatus,
        now: Timestamp,
    ) -> StoreResult<Option<(Job, bool)>> {
        let mut sql = Sql::new("update ci_job set status = ");
        sql.text_arg(status.as_str()).push(", finished_at = ").int(now.millis());
        sql.push(" where status = 'running' and job_id = ").int(id);
        let done = sql.query().execute(&self.pool).await.map_err(db_error)?;
        Ok(self.ci_job(id).await?.map(|job| (job, done.rows_affected() > 0)))
    }

    pub(crate) async fn ci_save_job_token_settings(
        &self,
        project_id: i64,
        settings: JobTokenSettings,
        now: Timestamp,
    ) -> StoreResult<Option<Project>> {
        let mut sql = Sql::new("update project set ci_inbound_enabled = ");
        sql.int(b(settings.inbound_enabled)).push(", ci_job_token_legacy = ").int(b(settings.legacy));
        sql.push(", ci_push_allowed = ").int(b(settings.push_allowed)).push(", updated_at = ").int(now.millis());
        sql.push(" where project_id = ").int(project_id);
        sql.query().execute(&self.pool).await.map_err(db_error)?;
        authority::Store::project(self, project_id).await
    }

    pub(crate) async fn ci_allowlist(&self, project_id: i64) -> StoreResult<Vec<AllowlistEntry>> {
        let mut sql = Sql::new(&format!("select {ALLOWLIST_COLUMNS} from ci_job_token_allowlist where project_id = "));
        sql.int(project_id).push(" order by created_at, source_kind, source_id");
        self.fetch_all(&sql).await?.iter().map(allowlist_from_row).collect()
    }

    pub(crate) async fn ci_add_allowlist_entry(&self, entry: &AllowlistEntry) -> StoreResult<AllowlistAdd> {
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
        tx.commit().await.map_err(db_error)?;
        Ok(AllowlistAdd::Added)
    }

    pub(crate) async fn ci_update_allowlist_entry(
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
        sql.query().execute(&self.pool).await.map_err(db_error)?;
        Ok(self.ci_allowlist_entries(project_id, &[source]).await?.pop())
    }

    pub(crate) async fn ci_delete_allowlist_entry(
        &self,
        project_id: i64,
        source: AllowlistSource,
    ) -> StoreResult<bool> {
        let (kind, id) = source_args(source);
        let mut sql = Sql::new("delete from ci_job_token_allowlist where project_id = ");
        sql.int(project_id).push(" and source_kind = ").text_arg(kind).push(" and source_id = ").int(id);
        let done = sql.query().execute(&self.pool).await.map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn ci_allowlist_entries(
        &self,
        project_id: i64,
        sources: &[AllowlistSource],
    ) -> StoreResult<Vec<AllowlistEntry>> {
        let mut sql = Sql::new(&format!("select {ALLOWLIST_COLUMNS} from ci_job_token_allowlist where project_id = "));
        sql.int(project_id).push(" and ");
        push_sources(&mut sql, sources);
        self.points(&sql).await
    }

    pub(crate) async fn ci_allowlisting(
        &self,
        sources: &[AllowlistSource],
        limit: i64,
    ) -> StoreResult<Vec<AllowlistEntry>> {
        let mut sql = Sql::new(&format!("select {ALLOWLIST_COLUMNS} from ci_job_token_allowlist where "));
        push_sources(&mut sql, sources);
        sql.push(" order by project_id limit ").int(limit);
        self.fetch_all(&sql).await?.iter().map(allowlist_from_row).collect()
    }

    pub(crate) async fn ci_signing_keys(&self) -> StoreResult<Vec<StoredKey>> {
        let sql = Sql::new(&format!("select {KEY_COLUMNS} from ci_signing_key order by created_at desc, kid"));
        self.fetch_all(&sql).await?.iter().map(key_from_row).collect()
    }

    fn push_key_values(sql: &mut Sql, key: &StoredKey) {
        sql.text_arg(&key.kid).push(", ").text_arg(key.purpose.as_str()).push(", ").text_arg(&key.algorithm);
        sql.push(", ").text_arg(&key.sealed_key).push(", ").text_arg(&key.public_jwk).push(", ");
        sql.int(key.created_at.millis());
    }

    pub(crate) async fn ci_insert_first_signing_key(&self, key: &StoredKey) -> StoreResult<bool> {
        let mut sql = Sql::new(
            "insert into ci_signing_key (kid, purpose, algorithm, sealed_key, public_jwk, created_at) select ",
        );
        Self::push_key_values(&mut sql, key);
        sql.push(" where not exists (select 1 from ci_signing_key where retired_at is null and purpose = ");
        sql.text_arg(key.purpose.as_str()).push(")");
        let done = sql.query().execute(&self.pool).await.map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn ci_rotate_signing_key(
        &self,
        key: &StoredKey,
        now: Timestamp,
        publish_until: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let mut retire = Sql::new("update ci_signing_key set retired_at = ");
        retire.int(now.millis()).push(", publish_until = ").int(publish_until.millis());
        retire.push(" where retired_at is null and purpose = ").text_arg(key.purpose.as_str());
        retire.query().execute(&mut *tx).await.map_err(db_error)?;
        let mut forget = Sql::new("delete from ci_signing_key where publish_until is not null and publish_until < ");
        forget.int(now.millis());
        forget.query().execute(&mut *tx).await.map_err(db_error)?;
        let mut sql = Sql::new(
            "insert into ci_signing_key (kid, purpose, algorithm, sealed_key, public_jwk, created_at) values (",
        );
        Self::push_key_values(&mut sql, key);
        sql.push(")");
        sql.query().execute(&mut *tx).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    pub(crate) async fn ci_add_job_token_access(&self, access: &[JobTokenAccess]) -> StoreResult<()> {
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
        tx.commit().await.map_err(db_error)
    }

    pub(crate) async fn ci_job_token_access(
        &self,
        target_project_id: i64,
        since: Timestamp,
    ) -> StoreResult<Vec<JobTokenAccess>> {
        let mut sql = Sql::new(
            "select source_project_id, target_project_id, policies, first_used_at, last_used_at, uses \
             from ci_job_token_access where target_project_id = ",
        );
        sql.int(target_project_id).push(" and last_used_at >= ").int(since.millis());
        sql.push(" order by source_project_id");
        self.fetch_all(&sql).await?.iter().map(access_from_row).collect()
    }
}
