//! A project's job-token settings and inbound allowlist, and the entries suggested from what job tokens of other
//! projects did.
//!
//! **Invariant:** an entry never lets in more than the job-token policies it names; adding, changing and removing
//! are audited.

use std::sync::Arc;

use domain::{AllowlistEntry, AllowlistSource, JobPolicies, JobTokenSettings, Project, User};

use crate::{AuditContext, Authority, Error, Result, SuggestedEntry, decide::user_facts, store::AllowlistAdd};

impl Authority {
    /// Changes a project's job-token settings.
    pub async fn set_job_token_settings(
        &self,
        ctx: &AuditContext,
        project: &Project,
        settings: JobTokenSettings,
    ) -> Result<Arc<Project>> {
        let updated = self
            .store
            .save_job_token_settings(project.id, settings, self.now())
            .await?
            .ok_or(Error::NotFound("Project"))?;
        self.audit(
            ctx,
            "ci_job_token_settings_changed",
            "Project",
            project.id,
            "job token settings changed",
            &[
                ("inbound_enabled", settings.inbound_enabled.to_string()),
                ("legacy", settings.legacy.to_string()),
                ("push_allowed", settings.push_allowed.to_string()),
            ],
        )
        .await?;
        Ok(Arc::new(updated))
    }

    pub async fn allowlist(&self, project: &Project) -> Result<Vec<AllowlistEntry>> {
        Ok(self.store.allowlist(project.id).await?)
    }

    /// Adds an entry to a project's allowlist: the source must exist and be visible to the actor, and the list
    /// must have room.
    pub async fn add_allowlist_entry(
        &self,
        ctx: &AuditContext,
        actor: &User,
        project: &Project,
        source: AllowlistSource,
        default_permissions: bool,
        policies: JobPolicies,
    ) -> Result<AllowlistEntry> {
        self.check_allowlist_source(actor, source).await?;
        check_entry_policies(default_permissions, policies)?;
        let entry = AllowlistEntry {
            project_id: project.id,
            source,
            default_permissions,
            policies: if default_permissions { JobPolicies::NONE } else { policies },
            added_by: actor.id,
            created_at: self.now(),
        };
        match self.store.add_allowlist_entry(&entry).await? {
            AllowlistAdd::Added => {}
            AllowlistAdd::Exists => {
                return Err(Error::invalid("target", "is already on the allowlist"));
            }
            AllowlistAdd::Full => {
                return Err(Error::invalid(
                    "target",
                    format!("the allowlist holds at most {} groups and projects", domain::MAX_ALLOWLIST_ENTRIES),
                ));
            }
        }
        self.audit_entry(ctx, "ci_job_token_allowlist_added", &entry).await?;
        Ok(entry)
    }

    pub async fn update_allowlist_entry(
        &self,
        ctx: &AuditContext,
        project: &Project,
        source: AllowlistSource,
        default_permissions: bool,
        policies: JobPolicies,
    ) -> Result<AllowlistEntry> {
        check_entry_policies(default_permissions, policies)?;
        let policies = if default_permissions { JobPolicies::NONE } else { policies };
        let entry = self
            .store
            .update_allowlist_entry(project.id, source, default_permissions, policies)
            .await?
            .ok_or(Error::NotFound("Allowlist entry"))?;
        self.audit_entry(ctx, "ci_job_token_allowlist_changed", &entry).await?;
        Ok(entry)
    }

    pub async fn remove_allowlist_entry(
        &self,
        ctx: &AuditContext,
        project: &Project,
        source: AllowlistSource,
    ) -> Result<()> {
        let entries = self.store.allowlist_entries(project.id, &[source]).await?;
        let Some(entry) = entries.into_iter().next() else { return Err(Error::NotFound("Allowlist entry")) };
        if !self.store.delete_allowlist_entry(project.id, source).await? {
            return Err(Error::NotFound("Allowlist entry"));
        }
        self.audit_entry(ctx, "ci_job_token_allowlist_removed", &entry).await
    }

    async fn audit_entry(&self, ctx: &AuditContext, event: &str, entry: &AllowlistEntry) -> Result<()> {
        let (kind, id) = match entry.source {
            AllowlistSource::Project(id) => ("project", id),
            AllowlistSource::Group(id) => ("group", id),
        };
        let policies = if entry.default_permissions { "default".to_owned() } else { entry.policies.names().join(",") };
        self.audit(
            ctx,
            event,
            "Project",
            entry.project_id,
            "job token allowlist changed",
            &[("source_type", kind.to_owned()), ("source_id", id.to_string()), ("policies", policies)],
        )
        .await
    }

    async fn check_allowlist_source(&self, actor: &User, source: AllowlistSource) -> Result<()> {
        let visible = match source {
            AllowlistSource::Project(id) => match self.facts.project(id).await? {
                Some(project) => {
                    let level = self.project_access(actor, &project).await?;
                    policy::held_on(&self.catalog, Some(user_facts(actor)), actor.is_admin, project.visibility, level)
                        .is_some()
                }
                None => false,
            },
            AllowlistSource::Group(id) => match self.facts.group(id).await? {
                Some(group) => {
                    let level = self.group_access(actor, &group).await?;
                    policy::held_on(&self.catalog, Some(user_facts(actor)), actor.is_admin, group.visibility, level)
                        .is_some()
                }
                None => false,
            },
        };
        if visible {
            Ok(())
        } else {
            Err(Error::NotFound(match source {
                AllowlistSource::Project(_) => "Project",
                AllowlistSource::Group(_) => "Group",
            }))
        }
    }

    /// The allowlist entries that would cover what job tokens of other projects did on `project` in the last
    /// `days` days, each with the narrowest policies that cover the use.
    pub async fn suggest_allowlist(&self, project: &Project, days: i64) -> Result<Vec<SuggestedEntry>> {
        let since = self.now().add_millis(-days * 24 * 3600 * 1000);
        let mut suggestions = Vec::new();
        self.usage.flush().await?;
        for access in self.store.job_token_access(project.id, since).await? {
            let Some(source) = self.facts.project(access.source_project_id).await? else { continue };
            let allowed_now = self.facts.allowlisted(project.id, &source).await?;
            suggestions.push(SuggestedEntry {
                source_project: source,
                policies: access.policies,
                uses: access.uses,
                last_used_at: access.last_used_at,
                allowed_now,
            });
        }
        Ok(suggestions)
    }
}

fn check_entry_policies(default_permissions: bool, policies: JobPolicies) -> Result<()> {
    if !default_permissions && policies.is_empty() {
        return Err(Error::invalid(
            "job_token_policies",
            "must name at least one policy when default_permissions is false",
        ));
    }
    Ok(())
}
