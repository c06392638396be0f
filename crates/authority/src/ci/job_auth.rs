//! Job tokens at each use: the signature (cached by the keyed hash of the string), the times, the job's state, and
//! the facts a decision needs.
//!
//! **Invariant:** the claims used are the ones whose signature was checked; every refusal is the one 401.

use std::sync::Arc;

use domain::{CredentialKind, JobPolicies, JobStatus, JobTokenMode};
use tokens::jwt::{self, JobTokenClaims};

use super::JWT_LEEWAY_S;
use crate::principal::{AuthFailure, JobPrincipal, VerifiedJobToken};
use crate::{AuditContext, Authority, JOB_TOKEN_PREFIX, Result, decide::Resolved};

impl Authority {
    /// Authenticates a `glcbt-` token: signature (once per token, then cached), times, issuer, audience, cell,
    /// and at every use the job (still running), its project and its user (still active).
    pub(crate) async fn authenticate_job(
        &self,
        presented: &str,
        ip: Option<&str>,
    ) -> Result<std::result::Result<JobPrincipal, AuthFailure>> {
        let now = self.now();
        if !presented.starts_with(JOB_TOKEN_PREFIX) {
            return Ok(Err(AuthFailure::Malformed));
        }
        let Some(verified) = self.verified_job(presented, ip).await? else { return Ok(Err(AuthFailure::Malformed)) };
        let claims = &verified.claims;
        if let Err(e) =
            jwt::check_times(claims.times(), now.millis() / 1000, JWT_LEEWAY_S, self.ci.max_token_lifetime_s)
        {
            tracing::info!(reason = %e, ip = ip.unwrap_or("-"), "authentication failed: job token refused");
            return Ok(Err(AuthFailure::Expired));
        }
        let Some(job_id) = claims.job_id() else { return Ok(Err(AuthFailure::Malformed)) };
        let job = self.facts.job(job_id).await?;
        let failure = match &job {
            None => Some(AuthFailure::Unknown),
            Some(job) if job.status != JobStatus::Running => Some(AuthFailure::Revoked),
            Some(job) if job.user_id != claims.scoped_user_id => Some(AuthFailure::Unknown),
            Some(_) => None,
        };
        let user = match &job {
            Some(job) if failure.is_none() => self.facts.user(job.user_id).await?,
            _ => None,
        };
        let project = match &job {
            Some(job) if failure.is_none() => self.facts.project(job.project_id).await?,
            _ => None,
        };
        let failure = failure.or(match (&user, &project) {
            (Some(user), Some(_)) if !user.is_active() => Some(AuthFailure::BlockedUser),
            (Some(_), Some(_)) => None,
            _ => Some(AuthFailure::Unknown),
        });
        if let Some(failure) = failure {
            if self.unknown_audit.allow(now) {
                let ctx = AuditContext { ip_address: ip.map(str::to_owned), ..AuditContext::default() };
                self.audit(
                    &ctx,
                    "authentication_failed",
                    CredentialKind::CiJobToken.spec().audit_entity,
                    job_id,
                    failure.reason(),
                    &[],
                )
                .await?;
            }
            return Ok(Err(failure));
        }
        let (Some(job), Some(user), Some(project)) = (job, user, project) else {
            return Ok(Err(AuthFailure::Unknown));
        };
        Ok(Ok(JobPrincipal { job, user, project, claims: verified, at: now }))
    }

    /// A job token's checked claims (its signature, issuer, audience, cell and version), kept by the keyed hash of
    /// the string once checked; its times are checked at each use. `None`: refused (and logged, presented from
    /// `ip`).
    pub(crate) async fn verified_job(
        &self,
        presented: &str,
        ip: Option<&str>,
    ) -> Result<Option<Arc<VerifiedJobToken>>> {
        let refused = |e: jwt::JwtError| {
            tracing::info!(reason = %e, ip = ip.unwrap_or("-"), "authentication failed: job token refused");
            Ok(None)
        };
        let Some(jwt_text) = presented.strip_prefix(JOB_TOKEN_PREFIX) else { return refused(jwt::JwtError::Malformed) };
        let key = self.cache.presented_key(presented);
        if let Some(verified) = self.cache.verified_job_token(key) {
            return Ok(Some(verified));
        }
        let generation = self.cache.generation();
        let ring = self.key_ring().await?;
        match jwt::verify::<JobTokenClaims>(jwt_text, &ring.job_verifiers).and_then(|claims| self.check_claims(claims))
        {
            Ok(verified) => {
                let verified = Arc::new(verified);
                self.cache.remember_job_token(generation, key, verified.clone());
                Ok(Some(verified))
            }
            Err(e) => refused(e),
        }
    }

    fn check_claims(&self, claims: JobTokenClaims) -> std::result::Result<VerifiedJobToken, jwt::JwtError> {
        if claims.iss != self.ci.issuer {
            return Err(jwt::JwtError::WrongIssuer);
        }
        if claims.aud != jwt::JOB_TOKEN_AUDIENCE {
            return Err(jwt::JwtError::WrongAudience);
        }
        if claims.cell_id != self.cell_id || claims.version != jwt::JOB_TOKEN_VERSION {
            return Err(jwt::JwtError::BadClaims);
        }
        Ok(VerifiedJobToken { claims })
    }

    /// The job-token facts of a request on `resource`: the signed scope there, the allowlist's answer, the
    /// job's declaration, and whether a push is allowed.
    pub(crate) async fn job_facts(&self, principal: &JobPrincipal, resource: &Resolved) -> Result<policy::JobFacts> {
        let own = &principal.project;
        let legacy = principal.job.mode == JobTokenMode::Legacy;
        let (in_scope, allowlisted, push_allowed) = match resource {
            Resolved::Project(target, _) if target.id == own.id => {
                (principal.claims.on(own.id), Some(JobPolicies::ALL), target.job_token.push_allowed)
            }
            Resolved::Project(target, _) => {
                let allowlisted = if target.job_token.inbound_enabled {
                    self.facts.allowlisted(target.id, own).await?
                } else {
                    Some(JobPolicies::ALL)
                };
                (principal.claims.on(target.id), allowlisted, false)
            }
            // Group routes (group package registries) reach the groups above the job's own project.
            Resolved::Group(group, _) => {
                let inside = own.group_traversal_ids.contains(&group.id);
                (principal.claims.on(own.id), inside.then_some(JobPolicies::ALL), false)
            }
            Resolved::None => (principal.claims.on(own.id), Some(JobPolicies::ALL), false),
        };
        Ok(policy::JobFacts {
            in_scope,
            allowlisted,
            declared: principal.job.permissions,
            legacy,
            push_allowed,
            organization_id: own.organization_id,
        })
    }

    /// Notes a job token's allowed use of another project, for allowlist suggestions.
    pub(crate) fn record_job_access(&self, principal: &JobPrincipal, resource: &Resolved, route: &catalog::Route) {
        if let Resolved::Project(target, _) = resource
            && target.id != principal.project.id
            && let Some(policies) = route.job_token
        {
            self.usage.record_job_token_access(principal.project.id, target.id, policies, principal.at);
        }
    }
}
