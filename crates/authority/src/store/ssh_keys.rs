//! SSH keys (users' and deploy keys) and the projects deploy keys are enabled on. Git over SSH is no hot path:
//! these are read from storage on every use, never cached.
//!
//! **Invariant:** a fingerprint names one key (`Conflict("fingerprint")` otherwise); removing a key removes its
//! enablements with it.

use async_trait::async_trait;
use domain::{Date, DeployKeyLink, NewAuditEvent, SshKey, Timestamp};

use super::{AuditOf, Page, StoreResult};

#[derive(Debug, Clone)]
pub struct NewSshKey {
    /// `None`: a deploy key.
    pub user_id: Option<i64>,
    pub title: String,
    pub key: String,
    pub fingerprint: String,
    pub bits: i64,
    pub expires_at: Option<Date>,
    /// For a deploy key: the project it is enabled on at once, and whether it may push there.
    pub enable_on: Option<(i64, bool)>,
    pub now: Timestamp,
}

#[async_trait]
pub trait SshKeyStore: Send + Sync {
    /// Inserts the key (and its first enablement), with the audit entry `audit` makes of its id.
    async fn insert_ssh_key(&self, key: &NewSshKey, audit: &AuditOf<'_>) -> StoreResult<SshKey>;
    async fn ssh_key(&self, id: i64) -> StoreResult<Option<SshKey>>;
    async fn ssh_key_by_fingerprint(&self, fingerprint: &str) -> StoreResult<Option<SshKey>>;
    /// A user's keys, or (`None`) every deploy key.
    async fn list_ssh_keys(&self, user_id: Option<i64>, page: Page) -> StoreResult<(Vec<SshKey>, i64)>;
    /// The deploy keys enabled on a project, with their enablement.
    async fn project_deploy_keys(
        &self,
        project_id: i64,
        page: Page,
    ) -> StoreResult<(Vec<(SshKey, DeployKeyLink)>, i64)>;
    async fn deploy_key_link(&self, key_id: i64, project_id: i64) -> StoreResult<Option<DeployKeyLink>>;
    /// Enables a deploy key on a project, or changes its `can_push` there.
    async fn enable_deploy_key(&self, key_id: i64, project_id: i64, can_push: bool, now: Timestamp) -> StoreResult<()>;
    /// Changes a key's title.
    async fn retitle_ssh_key(&self, key_id: i64, title: &str) -> StoreResult<()>;
    /// Disables a deploy key on a project; the key itself goes too when no project has it any more. True when it
    /// was enabled there.
    async fn disable_deploy_key(&self, key_id: i64, project_id: i64, audit: &NewAuditEvent) -> StoreResult<bool>;
    /// Removes a key and its enablements, with its audit entry; true only for the one call that did.
    async fn delete_ssh_key(&self, id: i64, audit: &NewAuditEvent) -> StoreResult<bool>;
    /// Records a key's last use.
    async fn touch_ssh_key(&self, id: i64, now: Timestamp) -> StoreResult<()>;
}
