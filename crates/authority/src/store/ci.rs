//! CI/CD: runners, pipelines and jobs with a project's job-token settings (`CiStore`), inbound allowlists
//! (`AllowlistStore`), and the keys that sign job tokens and ID tokens (`SigningKeyStore`).
//!
//! **Invariant:** ending a job, and adding an allowlist entry past the cap or twice, are decided inside one
//! transaction.

use async_trait::async_trait;
use domain::{
    AllowlistEntry, AllowlistSource, Job, JobPolicies, JobStatus, JobTokenMode, JobTokenSettings, Pipeline, Project,
    Runner, RunnerType, StoredKey, Timestamp,
};

use super::StoreResult;

#[derive(Debug, Clone)]
pub struct NewRunner {
    /// The keyed digest of its `glrt-` token.
    pub digest: String,
    pub description: String,
    pub runner_type: RunnerType,
    pub created_by: i64,
    pub created_at: Timestamp,
}

/// A job to start; with no `pipeline_id`, a new pipeline is made for it on the same project, user and ref.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub pipeline_id: Option<i64>,
    pub project_id: i64,
    pub user_id: i64,
    pub name: String,
    pub git_ref: String,
    pub ref_protected: bool,
    pub timeout_s: i64,
    pub permissions: JobPolicies,
    pub declared: bool,
    pub mode: JobTokenMode,
    pub runner_id: Option<i64>,
    pub created_at: Timestamp,
    pub token_expires_at: Timestamp,
}

/// What adding an allowlist entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowlistAdd {
    Added,
    /// The source is already on the list.
    Exists,
    /// The list holds the most entries it may.
    Full,
}

#[async_trait]
pub trait CiStore: Send + Sync {
    /// Registers a runner.
    async fn insert_runner(&self, runner: &NewRunner) -> StoreResult<Runner>;
    /// The runner whose token has one of these digests.
    async fn runner_by_digest(&self, digests: &[String]) -> StoreResult<Option<Runner>>;
    /// Revokes a runner's token, with its audit entry in the same transaction; true only for the call that
    /// changed it.
    async fn revoke_runner(&self, id: i64, audit: &domain::NewAuditEvent) -> StoreResult<bool>;
    /// Starts a job (and its pipeline, when none is named); a pipeline of another project is `Conflict("pipeline_id")`.
    async fn insert_job(&self, job: &NewJob) -> StoreResult<Job>;
    async fn job(&self, id: i64) -> StoreResult<Option<Job>>;
    async fn pipeline(&self, id: i64) -> StoreResult<Option<Pipeline>>;
    /// Ends a running job; `None` when there is no such job, and the job as it is with `false` when it had
    /// already ended (exactly one caller ends a job).
    async fn finish_job(&self, id: i64, status: JobStatus, now: Timestamp) -> StoreResult<Option<(Job, bool)>>;
    async fn save_job_token_settings(
        &self,
        project_id: i64,
        settings: JobTokenSettings,
        now: Timestamp,
    ) -> StoreResult<Option<Project>>;
}

#[async_trait]
pub trait AllowlistStore: Send + Sync {
    /// A project's inbound allowlist, oldest entry first.
    async fn allowlist(&self, project_id: i64) -> StoreResult<Vec<AllowlistEntry>>;
    /// Adds an entry, unless the source is there already or the list is full (checked in the same transaction).
    async fn add_allowlist_entry(&self, entry: &AllowlistEntry) -> StoreResult<AllowlistAdd>;
    async fn update_allowlist_entry(
        &self,
        project_id: i64,
        source: AllowlistSource,
        default_permissions: bool,
        policies: JobPolicies,
    ) -> StoreResult<Option<AllowlistEntry>>;
    async fn delete_allowlist_entry(&self, project_id: i64, source: AllowlistSource) -> StoreResult<bool>;
    /// The entries of `project_id`'s allowlist that name one of `sources`.
    async fn allowlist_entries(&self, project_id: i64, sources: &[AllowlistSource])
    -> StoreResult<Vec<AllowlistEntry>>;
    /// Every entry, on any project's allowlist, that names one of `sources`, at most `limit`.
    async fn allowlisting(&self, sources: &[AllowlistSource], limit: i64) -> StoreResult<Vec<AllowlistEntry>>;
}

#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Every signing key, current and retired.
    async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>>;
    /// Adds the first key of its purpose; `false` (and nothing written) when one is already current.
    async fn insert_first_signing_key(&self, key: &StoredKey) -> StoreResult<bool>;
    /// Retires the current key of `key.purpose` (published until `publish_until`), makes `key` current, and
    /// forgets keys no longer published at `now`.
    async fn rotate_signing_key(&self, key: &StoredKey, now: Timestamp, publish_until: Timestamp) -> StoreResult<()>;
}
