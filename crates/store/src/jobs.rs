//! Runners, pipelines and jobs, and a project's job-token settings.
//!
//! **Invariant:** a job ends once: only the call that moved it from running reports the change.

use async_trait::async_trait;
use authority::{Change, CiStore, NamespaceStore, NewJob, NewRunner, StoreError, StoreResult};
use domain::{Job, JobStatus, JobTokenMode, JobTokenSettings, Pipeline, Project, Runner, RunnerType, Timestamp};
use sqlx::Row;

use crate::rows::*;
use crate::sql::{Arg, Sql};
use crate::{SqlStore, b, bits, db_error};

pub(crate) const JOB_COLUMNS: &str = "job_id, pipeline_id, project_id, user_id, name, ref, ref_protected, timeout_s, status, \
    permissions, declared, legacy, runner_id, created_at, finished_at, token_expires_at";

#[async_trait]
impl CiStore for SqlStore {
    async fn insert_runner(&self, runner: &NewRunner) -> StoreResult<Runner> {
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
        let mut tx = self.begin().await?;
        let row = sql.query().fetch_one(&mut *tx).await.map_err(db_error)?;
        tx.commit(&[]).await?;
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

    async fn revoke_runner(&self, id: i64, audit: &domain::NewAuditEvent) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let mut sql = Sql::new("update ci_runner set revoked = 1 where revoked = 0 and runner_id = ");
        sql.int(id);
        let done = sql.query().execute(&mut *tx).await.map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        crate::audit::insert_audit_event_tx(&mut tx, audit).await?;
        tx.commit(&[]).await?;
        Ok(true)
    }

    async fn runner_by_digest(&self, digests: &[String]) -> StoreResult<Option<Runner>> {
        let mut sql = Sql::new(
            "select runner_id, description, runner_type, project_id, created_by, created_at, revoked from ci_runner \
             where token_digest in ",
        );
        sql.text_list(digests);
        self.fetch_optional(&sql).await?.as_ref().map(runner_from_row).transpose()
    }

    async fn insert_job(&self, job: &NewJob) -> StoreResult<Job> {
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
        tx.commit(&[]).await?;
        self.job(id).await?.ok_or_else(|| StoreError::Other(anyhow::anyhow!("job vanished after insert")))
    }

    async fn job(&self, id: i64) -> StoreResult<Option<Job>> {
        let mut sql = Sql::new(&format!("select {JOB_COLUMNS} from ci_job where job_id = "));
        sql.int(id);
        self.point(&sql).await
    }

    async fn pipeline(&self, id: i64) -> StoreResult<Option<Pipeline>> {
        let mut sql = Sql::new(
            "select pipeline_id, project_id, user_id, ref, ref_protected, created_at from ci_pipeline where pipeline_id = ",
        );
        sql.int(id);
        self.fetch_optional(&sql).await?.as_ref().map(pipeline_from_row).transpose()
    }

    async fn finish_job(&self, id: i64, status: JobStatus, now: Timestamp) -> StoreResult<Option<(Job, bool)>> {
        let mut sql = Sql::new("update ci_job set status = ");
        sql.text_arg(status.as_str()).push(", finished_at = ").int(now.millis());
        sql.push(" where status = 'running' and job_id = ").int(id);
        let done = self.execute(&sql, &[Change::Job(id)]).await?;
        Ok(self.job(id).await?.map(|job| (job, done.rows_affected() > 0)))
    }

    async fn save_job_token_settings(
        &self,
        project_id: i64,
        settings: JobTokenSettings,
        now: Timestamp,
    ) -> StoreResult<Option<Project>> {
        let mut sql = Sql::new("update project set ci_inbound_enabled = ");
        sql.int(b(settings.inbound_enabled)).push(", ci_job_token_legacy = ").int(b(settings.legacy));
        sql.push(", ci_push_allowed = ").int(b(settings.push_allowed)).push(", updated_at = ").int(now.millis());
        sql.push(" where project_id = ").int(project_id);
        self.execute(&sql, &[Change::Directory]).await?;
        NamespaceStore::project(self, project_id).await
    }
}
