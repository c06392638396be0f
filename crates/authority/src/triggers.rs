//! Pipeline triggers (`glptt-`): made, listed, described and deleted by a project's maintainers, and run by
//! their token, which starts a pipeline and its job through the CI model as the trigger's owner, with the owner's
//! current role (the decision refused the run already when the owner no longer holds it).
//!
//! **Invariant:** a plaintext exists only in the answer that made it; a trigger never outlives the instance's
//! maximum token lifetime nor the token that made it, and runs pipelines of its own project only.

use std::sync::Arc;

use domain::{CredentialKind, PipelineTrigger, Project, Token, User};

use crate::{AuditContext, Authority, CiActor, Error, NewTrigger, Page, Result, StartJob, StartedJob};

/// The longest description a trigger may have.
const MAX_DESCRIPTION: usize = 255;
/// The longest ref a run may name.
const MAX_REF: usize = 255;

/// A trigger just made: its record and its token, shown once.
#[derive(Debug)]
pub struct IssuedTrigger {
    pub trigger: PipelineTrigger,
    pub plaintext: String,
}

fn description(text: Option<&str>) -> Result<String> {
    let text = text.unwrap_or_default();
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(Error::invalid("description", "is too long (maximum is 255 characters)"));
    }
    if text.chars().any(char::is_control) {
        return Err(Error::invalid("description", "cannot contain control characters"));
    }
    Ok(text.to_owned())
}

impl Authority {
    /// Makes a trigger of `project` owned by `owner`, asked for with the token `creator`.
    pub async fn create_trigger(
        &self,
        ctx: &AuditContext,
        owner: &User,
        project: &Project,
        text: Option<&str>,
        expires_at: Option<&str>,
        creator: Option<&Token>,
    ) -> Result<IssuedTrigger> {
        let description = description(text)?;
        self.refuse_pasted_secrets(&[("description", Some(&description))]).await?;
        if creator.is_some_and(|c| c.resource.is_some()) {
            return Err(Error::refused("a project or group access token cannot create tokens"));
        }
        let settings = self.facts.settings().await?;
        let now = self.now();
        let mut expires = crate::tokens::expiry(expires_at, now.date(), &settings, None)?;
        if let Some(parent) = creator {
            expires = crate::tokens::expiry_within(parent, expires, expires_at)?;
        }
        let random = crate::random_bytes::<20>()?;
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let plaintext = format!("{}{hex}", PipelineTrigger::PREFIX);
        self.cache.issued(&plaintext);
        let new = NewTrigger {
            project_id: project.id,
            owner_id: owner.id,
            description,
            digest: self.digester.digest(&plaintext),
            expires_at: expires,
            organization_id: project.organization_id,
            now,
        };
        let kind = CredentialKind::PipelineTriggerToken.spec();
        let audit = |id: i64| {
            let message = format!("Created pipeline trigger {id} of {}", project.full_path);
            let extra = [("project_id", project.id.to_string()), ("owner_id", owner.id.to_string())];
            Some(self.audit_record(ctx, "pipeline_trigger_created", kind.audit_entity, id, &message, &extra))
        };
        let trigger = self.store.insert_trigger(&new, &audit).await?;
        Ok(IssuedTrigger { trigger, plaintext })
    }

    pub async fn list_triggers(&self, project_id: i64, page: Page) -> Result<(Vec<PipelineTrigger>, i64)> {
        Ok(self.store.list_triggers(project_id, page).await?)
    }

    /// The trigger `id` of `project_id`; not found for any other.
    pub async fn project_trigger(&self, project_id: i64, id: i64) -> Result<PipelineTrigger> {
        let trigger = self.facts.trigger(id).await?;
        trigger.filter(|t| t.project_id == project_id).map(Arc::unwrap_or_clone).ok_or(Error::NotFound("Trigger"))
    }

    /// Changes a trigger's description.
    pub async fn describe_trigger(
        &self,
        ctx: &AuditContext,
        trigger: &PipelineTrigger,
        text: &str,
    ) -> Result<PipelineTrigger> {
        let description = description(Some(text))?;
        self.refuse_pasted_secrets(&[("description", Some(&description))]).await?;
        let updated = self.store.update_trigger(trigger.id, &description, self.now()).await?;
        let updated = updated.ok_or(Error::NotFound("Trigger"))?;
        let kind = CredentialKind::PipelineTriggerToken.spec();
        let message = format!("Changed the description of pipeline trigger {}", trigger.id);
        self.audit(ctx, "pipeline_trigger_updated", kind.audit_entity, trigger.id, &message, &[]).await?;
        Ok(updated)
    }

    /// Deletes a trigger: its token is refused from the next request on, on every node.
    pub async fn delete_trigger(&self, ctx: &AuditContext, trigger: &PipelineTrigger) -> Result<()> {
        let kind = CredentialKind::PipelineTriggerToken.spec();
        let message = format!("Deleted pipeline trigger {}", trigger.id);
        let extra = [("project_id", trigger.project_id.to_string())];
        let event = self.audit_record(ctx, "pipeline_trigger_deleted", kind.audit_entity, trigger.id, &message, &extra);
        if !self.store.delete_trigger(trigger.id, &event).await? {
            return Err(Error::NotFound("Trigger"));
        }
        Ok(())
    }

    /// Runs a pipeline of the trigger's project on `git_ref` as its owner: a pipeline and its job, through the CI
    /// model, whose job token goes to no one here (a runner would take the job).
    pub async fn run_trigger(
        &self,
        ctx: &AuditContext,
        trigger: &Arc<PipelineTrigger>,
        git_ref: Option<&str>,
    ) -> Result<StartedJob> {
        let git_ref =
            git_ref.filter(|r| !r.is_empty()).ok_or_else(|| Error::BadRequest("ref is missing".to_owned()))?;
        if git_ref.len() > MAX_REF || git_ref.chars().any(|c| c.is_control() || c == ' ') {
            return Err(Error::invalid("ref", "is invalid"));
        }
        let request = StartJob {
            project_id: trigger.project_id,
            user_id: trigger.owner_id,
            name: "trigger".to_owned(),
            git_ref: git_ref.to_owned(),
            timeout_s: 3600,
            ..StartJob::default()
        };
        let started = self.start_job(ctx, &CiActor::Trigger(trigger.clone()), &request).await?;
        let now = self.now();
        let ip = ctx.ip_address.as_deref();
        let ips = crate::auth::next_use(None, &trigger.last_used_ips, ip, now).unwrap_or_default();
        self.store.touch_trigger(trigger.id, now, &ips).await?;
        Ok(started)
    }
}
