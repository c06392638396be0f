//! Deploy tokens of projects and groups.
//!
//! **Invariant:** only digests are stored; revoking changes a token only if it is still active.

use async_trait::async_trait;
use domain::{Date, DeployToken, MemberSource, NewAuditEvent, Scopes, Timestamp};

use super::{AuditOf, Page, StoreResult};

#[derive(Debug, Clone)]
pub struct NewDeployToken {
    pub resource: MemberSource,
    pub name: String,
    /// `None`: GitLab's default, `gitlab+deploy-token-<id>`, once the id is known.
    pub username: Option<String>,
    pub digest: String,
    pub scopes: Scopes,
    pub expires_at: Option<Date>,
    pub creator_id: Option<i64>,
    pub organization_id: i64,
    pub now: Timestamp,
}

#[derive(Debug, Clone, Default)]
pub struct DeployTokenFilter {
    /// Only this project's or group's tokens.
    pub resource: Option<MemberSource>,
    /// `Some(true)`: active (not revoked, not expired on `today`); `Some(false)`: inactive.
    pub active: Option<bool>,
    pub today: Option<Date>,
    /// Only tokens of this organization.
    pub organization_id: Option<i64>,
}

#[async_trait]
pub trait DeployTokenStore: Send + Sync {
    /// Inserts the token and, in the same transaction, the audit entry `audit` makes of its id.
    async fn insert_deploy_token(&self, token: &NewDeployToken, audit: &AuditOf<'_>) -> StoreResult<DeployToken>;
    async fn deploy_token(&self, id: i64) -> StoreResult<Option<DeployToken>>;
    /// The deploy token stored under any of these digests.
    async fn deploy_token_by_digest(&self, digests: &[String]) -> StoreResult<Option<DeployToken>>;
    async fn list_deploy_tokens(&self, filter: &DeployTokenFilter, page: Page) -> StoreResult<(Vec<DeployToken>, i64)>;
    /// Records a deploy token's last use. Not a decision fact: it announces nothing.
    async fn touch_deploy_token(&self, id: i64, now: Timestamp, ips: &[String]) -> StoreResult<()>;
    /// Revokes the token, with its audit entry in the same transaction; true only for the one call that changed it.
    async fn revoke_deploy_token(&self, id: i64, now: Timestamp, audit: &NewAuditEvent) -> StoreResult<bool>;
}
