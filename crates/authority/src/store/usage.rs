//! What credentials were used for: the (permission, boundary) pairs each token exercised, and the uses of job
//! tokens on other projects. Bookkeeping, not decision facts: nothing here is cached or announced.
//!
//! **Invariant:** usage only adds up: a pair keeps its first use and its count never goes down.

use async_trait::async_trait;
use domain::{JobTokenAccess, Timestamp, TokenUsage};

use super::StoreResult;

#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Adds uses of (permission, boundary) pairs: a new pair is stored as given; a known one keeps its first use
    /// and takes the given last use and the sum of the counts.
    async fn add_token_usage(&self, usage: &[TokenUsage]) -> StoreResult<()>;
    /// The pairs a token exercised, last used at or after `since` when given, by permission then boundary.
    async fn token_usage(&self, token_id: i64, since: Option<Timestamp>) -> StoreResult<Vec<TokenUsage>>;
    /// Adds cross-project uses of job tokens (policies are merged, uses added).
    async fn add_job_token_access(&self, access: &[JobTokenAccess]) -> StoreResult<()>;
    /// The uses of job tokens of other projects on `target_project_id`, since `since`.
    async fn job_token_access(&self, target_project_id: i64, since: Timestamp) -> StoreResult<Vec<JobTokenAccess>>;
}
