//! Memberships: adding, changing and removing a user's level on a group or project.
//!
//! **Invariant:** making or removing an Owner needs `manage_owners`; every change is audited.

use domain::{AccessLevel, Member, MemberSource};

use super::MANAGE_OWNERS;
use crate::{Actor, AuditContext, Authority, Error, MemberChange, Result};

impl Authority {
    /// Adds or changes a membership (the decision required the route's permission to manage members); making or
    /// changing an Owner also needs `manage_owners`.
    pub async fn set_member(
        &self,
        ctx: &AuditContext,
        actor: Actor<'_>,
        actor_level: Option<AccessLevel>,
        source: MemberSource,
        change: &MemberChange,
        must_exist: Option<bool>,
    ) -> Result<Member> {
        let existing = self.store.member(source, change.user_id).await?;
        match (must_exist, &existing) {
            (Some(true), None) => return Err(Error::NotFound("Member")),
            (Some(false), Some(_)) => return Err(Error::Conflict("Member already exists".to_owned())),
            _ => {}
        }
        let mut needed = change.access_level;
        if let Some(existing) = &existing {
            needed = needed.max(existing.access_level);
        }
        if needed == AccessLevel::Owner && !policy::role_grants(&self.catalog, actor.admin, actor_level, MANAGE_OWNERS)
        {
            return Err(Error::forbidden());
        }
        let user = self.facts.user(change.user_id).await?.ok_or(Error::NotFound("User"))?;
        // A bot's one membership is its access token's, made and ended with it.
        if user.user_type == domain::UserType::ProjectBot {
            return Err(Error::BadRequest(
                "project bots cannot be added to other groups / projects, nor their membership changed".to_owned(),
            ));
        }
        if change.expires_at.is_some_and(|date| date <= self.now().date()) {
            return Err(Error::invalid("expires_at", "must be in the future"));
        }
        let member = Member {
            source,
            user_id: change.user_id,
            access_level: change.access_level,
            expires_at: change.expires_at,
            created_at: existing.as_ref().map(|m| m.created_at).unwrap_or_else(|| self.now()),
            created_by: existing.as_ref().and_then(|m| m.created_by).or(Some(actor.user.id)),
        };
        self.store.upsert_member(&member).await?;
        let (kind, id) = source_parts(source);
        self.audit(
            ctx,
            "member_updated",
            kind,
            id,
            &format!("Set user {} to {}", change.user_id, change.access_level.name()),
            &[("access_level", change.access_level.value().to_string())],
        )
        .await?;
        Ok(member)
    }

    /// Removes a membership: a member leaving, or (as the decision checked) one who manages members; removing an
    /// Owner also needs `manage_owners`.
    pub async fn remove_member(
        &self,
        ctx: &AuditContext,
        actor: Actor<'_>,
        actor_level: Option<AccessLevel>,
        source: MemberSource,
        user_id: i64,
    ) -> Result<()> {
        let existing = self.store.member(source, user_id).await?.ok_or(Error::NotFound("Member"))?;
        let leaving = user_id == actor.user.id;
        if !leaving
            && existing.access_level == AccessLevel::Owner
            && !policy::role_grants(&self.catalog, actor.admin, actor_level, MANAGE_OWNERS)
        {
            return Err(Error::forbidden());
        }
        self.store.delete_member(source, user_id).await?;
        let (kind, id) = source_parts(source);
        self.audit(ctx, "member_removed", kind, id, &format!("Removed user {user_id}"), &[]).await
    }
}

fn source_parts(source: MemberSource) -> (&'static str, i64) {
    match source {
        MemberSource::Group(id) => ("Group", id),
        MemberSource::Project(id) => ("Project", id),
    }
}
