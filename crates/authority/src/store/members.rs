//! Memberships of users in groups and projects, and the levels they give.
//!
//! **Invariant:** levels are read unexpired on the given day; an expired membership gives nothing.

use async_trait::async_trait;
use domain::{AccessLevel, Date, Member, MemberSource};

use super::{Page, StoreResult};

#[async_trait]
pub trait MemberStore: Send + Sync {
    /// Adds or replaces a membership.
    async fn upsert_member(&self, member: &Member) -> StoreResult<()>;
    async fn member(&self, source: MemberSource, user_id: i64) -> StoreResult<Option<Member>>;
    /// Members of `sources`; with `highest_per_user`, each user once, at their highest level among them.
    async fn list_members(
        &self,
        sources: &[MemberSource],
        highest_per_user: bool,
        page: Page,
    ) -> StoreResult<(Vec<Member>, i64)>;
    async fn delete_member(&self, source: MemberSource, user_id: i64) -> StoreResult<bool>;
    /// The user's memberships among `sources`, unexpired on `today`.
    async fn member_levels(
        &self,
        user_id: i64,
        sources: &[MemberSource],
        today: Date,
    ) -> StoreResult<Vec<(MemberSource, AccessLevel)>>;
}
