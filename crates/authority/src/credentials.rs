//! Any credential identified by its value alone, whatever its kind: the token information API of administrators
//! (identify, revoke) and the public leak report that a secret scanner sends when it finds a Tessera credential.
//!
//! **Invariant:** a string that is no live credential is answered `None` after the same work whatever its shape
//! (its keyed digest is looked up even when its prefix or checksum is wrong), so that neither the answer nor its
//! timing tells a malformed string from an unknown one; nothing here ever records or returns the secret.

use std::sync::Arc;

use domain::{
    CredentialKind, DeployToken, JobStatus, PipelineTrigger, Runner, SecretHome, Token, User, UserSecret, secret_home,
};

use crate::{AuditContext, Authority, Error, JobPrincipal, Result};

/// A credential found by its value.
#[derive(Debug, Clone)]
pub enum Identified {
    /// A personal or impersonation access token, and its owner.
    UserToken(Arc<Token>, Arc<User>),
    /// A runner's authentication token.
    Runner(Runner),
    /// A running CI job's token.
    Job(JobPrincipal),
    /// A deploy token of a project or group, revoked or expired ones included.
    Deploy(Arc<DeployToken>),
    /// A pipeline trigger of a project.
    Trigger(Arc<PipelineTrigger>),
    /// A user's feed or incoming-email token, and its user.
    UserSecret(Arc<UserSecret>, Arc<User>),
}

impl Identified {
    /// The kind of credential found.
    pub fn kind(&self) -> CredentialKind {
        match self {
            Identified::UserToken(token, _) => token.kind(),
            Identified::Runner(_) => CredentialKind::RunnerAuthenticationToken,
            Identified::Job(_) => CredentialKind::CiJobToken,
            Identified::Deploy(_) => CredentialKind::DeployToken,
            Identified::Trigger(_) => CredentialKind::PipelineTriggerToken,
            Identified::UserSecret(secret, _) => secret.kind,
        }
    }
}

/// Where a leaked credential was found, as the reporter says (a URL, a scanner's name); never the secret.
#[derive(Debug, Clone, Default)]
pub struct LeakReport {
    pub url: Option<String>,
    pub source: Option<String>,
}

impl Authority {
    /// The credential `presented` is, if it is one Tessera issued and that can still be used or revoked (a
    /// user token, revoked or expired ones included; a runner's token not revoked; a running job's token).
    pub async fn identify_credential(&self, presented: &str) -> Result<Option<Identified>> {
        match secret_home(presented, &self.pat_prefix.accepted) {
            Some(SecretHome::SignedJwt) => Ok(self.authenticate_job(presented, None).await?.ok().map(Identified::Job)),
            Some(SecretHome::RunnerDigest) => {
                let runner = self.store.runner_by_digest(&self.digester.candidates(presented)).await?;
                Ok(runner.filter(|r| !r.revoked).map(Identified::Runner))
            }
            Some(SecretHome::UserSecretDigest) => {
                let secret = self.facts.user_secret_by_digest(&self.digester.candidates(presented)).await?;
                let Some(secret) = secret else { return Ok(None) };
                let owner = self.facts.user(secret.user_id).await?.ok_or(Error::NotFound("User"))?;
                Ok(Some(Identified::UserSecret(secret, owner)))
            }
            Some(SecretHome::TriggerDigest) => {
                let trigger = self.facts.trigger_by_digest(&self.digester.candidates(presented)).await?;
                Ok(trigger.map(Identified::Trigger))
            }
            Some(SecretHome::DeployDigest) => {
                let token = self.facts.deploy_token_by_digest(&self.digester.candidates(presented)).await?;
                Ok(token.map(Identified::Deploy))
            }
            // Anything else is looked up as a user token, whatever its shape: the same work for every string.
            Some(SecretHome::TokenDigest | SecretHome::SshKey) | None => {
                let Some(token) = self.store.token_by_digest(&self.digester.candidates(presented)).await? else {
                    return Ok(None);
                };
                let owner = self.facts.user(token.user_id).await?.ok_or(Error::NotFound("User"))?;
                Ok(Some(Identified::UserToken(Arc::new(token), owner)))
            }
        }
    }

    /// Revokes a credential found by its value: a user token is revoked, a runner's token revoked, a job's token
    /// ended by canceling its job. Audited; `None` when the string is no credential.
    pub async fn revoke_credential(&self, ctx: &AuditContext, presented: &str) -> Result<Option<CredentialKind>> {
        let Some(found) = self.identify_credential(presented).await? else { return Ok(None) };
        self.revoke_identified(ctx, &found).await?;
        Ok(Some(found.kind()))
    }

    async fn revoke_identified(&self, ctx: &AuditContext, found: &Identified) -> Result<()> {
        match found {
            Identified::UserToken(token, _) => self.revoke_token(ctx, token).await,
            Identified::Runner(runner) => {
                let kind = CredentialKind::RunnerAuthenticationToken;
                let event = self.audit_record(
                    ctx,
                    &format!("{kind}_revoked"),
                    kind.spec().audit_entity,
                    runner.id,
                    &format!("Revoked the token of runner {}", runner.id),
                    &[],
                );
                if !self.store.revoke_runner(runner.id, &event).await? {
                    return Err(Error::BadRequest("Token already revoked".to_owned()));
                }
                Ok(())
            }
            Identified::Deploy(token) => self.revoke_deploy_token(ctx, token).await,
            Identified::Trigger(trigger) => self.delete_trigger(ctx, trigger).await,
            Identified::UserSecret(secret, _) => self.delete_user_secret(ctx, secret).await,
            Identified::Job(job) => {
                if job.job.status != JobStatus::Running {
                    return Err(Error::BadRequest("Token already revoked".to_owned()));
                }
                self.end_job(ctx, job.job.id, JobStatus::Canceled).await?;
                Ok(())
            }
        }
    }

    /// A leak report: the credential, if it is one, is revoked at once, the report is audited (where it was found,
    /// never the secret) and the owner is told in their notifications. Says nothing back: the reporter learns
    /// neither whether the string was a credential nor whose it was.
    pub async fn report_leak(&self, ctx: &AuditContext, presented: &str, report: &LeakReport) -> Result<()> {
        let Some(found) = self.identify_credential(presented).await? else {
            tracing::info!("leak report: not a live credential");
            return Ok(());
        };
        let kind = found.kind();
        let (entity_id, owner, what) = match &found {
            Identified::UserToken(token, owner) => {
                (token.id, owner.id, format!("{} \"{}\" (id {})", kind.name().replace('_', " "), token.name, token.id))
            }
            Identified::Runner(runner) => (runner.id, runner.created_by, format!("runner {}'s token", runner.id)),
            Identified::Job(job) => (job.job.id, job.user.id, format!("CI job {}'s token", job.job.id)),
            Identified::UserSecret(secret, owner) => (owner.id, owner.id, secret.kind.name().replace('_', " ")),
            Identified::Trigger(trigger) => {
                (trigger.id, trigger.owner_id, format!("pipeline trigger token (trigger {})", trigger.id))
            }
            // A deploy token has no user: whoever made it is told.
            Identified::Deploy(token) => {
                (token.id, token.creator_id.unwrap_or(0), format!("deploy token \"{}\" (id {})", token.name, token.id))
            }
        };
        let revoked = match self.revoke_identified(ctx, &found).await {
            Ok(()) => true,
            // Already revoked (or the job already ended): the report is still recorded.
            Err(Error::BadRequest(_) | Error::NotFound(_)) => false,
            Err(e) => return Err(e),
        };
        let place = report.url.as_deref().unwrap_or("a public place");
        let by = report.source.as_deref().map(|s| format!(" by {s}")).unwrap_or_default();
        let outcome = if revoked { "has been revoked" } else { "was already revoked" };
        let message = format!("Your {what} was found in {place}{by} and {outcome}.");
        let mut extra = vec![("token_type", kind.name().to_owned()), ("revoked", revoked.to_string())];
        extra.extend(report.url.clone().map(|url| ("leak_url", url)));
        extra.extend(report.source.clone().map(|source| ("leak_source", source)));
        self.audit(ctx, "credential_leaked", kind.spec().audit_entity, entity_id, &message, &extra).await?;
        if owner == 0 {
            return Ok(());
        }
        let notification = domain::Notification {
            id: 0,
            user_id: owner,
            kind: "credential_leaked".to_owned(),
            message,
            created_at: self.now(),
        };
        Ok(self.store.insert_notification(&notification).await?)
    }
}
