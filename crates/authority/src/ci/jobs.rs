//! Runners and jobs: registering a runner, starting a job and minting its token and ID tokens, ending it.
//!
//! **Invariant:** a job token never carries more than the job declared, within the triggering user's role on each
//! project and each allowlist entry's policies.

use domain::{AccessLevel, Job, JobPolicies, JobStatus, JobTokenMode, Project, Runner, RunnerType, User};
use tokens::jwt::{self, JobTokenClaims};

use super::{
    KeyRing, MAX_AUDIENCES, MAX_ID_TOKENS, MAX_JOB_TIMEOUT_S, MAX_TOKEN_TARGETS, RUNNER_PREFIX, TOKEN_GRACE_S, hex,
};
use crate::store::{NewJob, NewRunner};
use crate::{
    AuditContext, Authority, CiActor, Error, JOB_TOKEN_PREFIX, Result, StartJob, StartedJob, decide::user_facts,
    random_bytes,
};

impl Authority {
    /// Registers a runner and returns its `glrt-` token, shown once. Instance runners need an administrator;
    /// project runners need `create_runner` on the project (checked by the caller's route).
    pub async fn create_runner(
        &self,
        ctx: &AuditContext,
        creator: &User,
        runner_type: RunnerType,
        description: &str,
    ) -> Result<(Runner, String)> {
        if description.chars().count() > 255 {
            return Err(Error::invalid("description", "is too long (maximum is 255 characters)"));
        }
        let random = random_bytes::<{ ::tokens::RANDOM_BYTES }>()?;
        let payload = ::tokens::RoutingPayload {
            cell: Some(self.cell_id),
            organization: u64::try_from(creator.organization_id).ok(),
            user: u64::try_from(creator.id).ok(),
            ..::tokens::RoutingPayload::default()
        };
        let plaintext = ::tokens::mint(RUNNER_PREFIX, &random, &payload)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("runner token payload too large")))?;
        let runner = self
            .store
            .insert_runner(&NewRunner {
                digest: self.digester.digest(&plaintext),
                description: description.to_owned(),
                runner_type,
                created_by: creator.id,
                created_at: self.now(),
            })
            .await?;
        self.audit(
            ctx,
            "ci_runner_created",
            domain::CredentialKind::RunnerAuthenticationToken.spec().audit_entity,
            runner.id,
            "runner created",
            &[("runner_type", runner_type.as_str().to_owned())],
        )
        .await?;
        Ok((runner, plaintext))
    }

    /// The runner a `glrt-` token belongs to; `None` for anything else (never says why).
    pub async fn authenticate_runner(&self, presented: &str) -> Result<Option<Runner>> {
        let prefix = ::tokens::Prefix::new(RUNNER_PREFIX, None, RUNNER_PREFIX);
        if ::tokens::check(presented, &prefix).is_err() {
            return Ok(None);
        }
        let runner = self.store.runner_by_digest(&self.digester.candidates(presented)).await?;
        Ok(runner.filter(|r| !r.revoked))
    }

    /// Starts a job and mints its token (and ID tokens).
    pub async fn start_job(&self, ctx: &AuditContext, actor: &CiActor, request: &StartJob) -> Result<StartedJob> {
        let now = self.now();
        let project = self.facts.project(request.project_id).await?.ok_or(Error::NotFound("Project"))?;
        if let CiActor::Runner(runner) = actor
            && let RunnerType::Project(id) = runner.runner_type
            && id != project.id
        {
            return Err(Error::refused("the runner does not serve this project"));
        }
        let user = self.facts.user(request.user_id).await?.ok_or(Error::NotFound("User"))?;
        if !user.is_active() {
            return Err(Error::refused("the triggering user is blocked"));
        }
        let level = self.project_access(&user, &project).await?;
        if !policy::role_grants(&self.catalog, false, level, "create_pipeline") {
            return Err(Error::refused("the triggering user may not run pipelines here"));
        }
        validate_job(request)?;
        let (permissions, declared) = match &request.permissions {
            Some(text) => (domain::parse_job_permissions(text).map_err(|e| Error::invalid("permissions", e))?, true),
            None => (JobPolicies::default_for_jobs(), false),
        };
        let mode = if project.job_token.legacy { JobTokenMode::Legacy } else { JobTokenMode::LowPrivilege };
        let lifetime = (request.timeout_s + TOKEN_GRACE_S).min(self.ci.max_token_lifetime_s);
        let expires = now.add_millis(lifetime * 1000);
        let scope = self.token_scope(&user, &project, level, permissions, mode).await?;
        let generation = self.cache.generation();
        let job = self
            .store
            .insert_job(&NewJob {
                pipeline_id: request.pipeline_id,
                project_id: project.id,
                user_id: user.id,
                name: request.name.clone(),
                git_ref: request.git_ref.clone(),
                ref_protected: request.ref_protected,
                timeout_s: request.timeout_s,
                permissions,
                declared,
                mode,
                runner_id: match actor {
                    CiActor::Runner(runner) => Some(runner.id),
                    CiActor::Admin(_) | CiActor::Trigger(_) => None,
                },
                created_at: now,
                token_expires_at: expires,
            })
            .await
            .map_err(|e| match e {
                crate::StoreError::Conflict(_) => Error::invalid("pipeline_id", "is not a pipeline of this project"),
                other => other.into(),
            })?;
        // Its token is usually presented within seconds: the job is kept as the store wrote it, so that the token's
        // first request reads nothing (unless a change was seen since the generation was read, as for any read).
        self.facts.remember_job(generation, &job);
        let ring = self.key_ring().await?;
        let signer = ring.job_signer.clone().ok_or_else(|| Error::Internal(anyhow::anyhow!("no job token key")))?;
        let now_s = now.millis() / 1000;
        let claims = JobTokenClaims {
            sub: format!("{}{}", jwt::JOB_GID_PREFIX, job.id),
            iss: self.ci.issuer.clone(),
            aud: jwt::JOB_TOKEN_AUDIENCE.to_owned(),
            iat: now_s,
            nbf: now_s,
            exp: now_s + lifetime,
            jti: hex(&random_bytes::<16>()?),
            version: jwt::JOB_TOKEN_VERSION.to_owned(),
            cell_id: self.cell_id,
            organization_id: project.organization_id,
            scoped_user_id: user.id,
            scope: tokens::JobScope::new(scope.iter().copied()),
        };
        let token = signer.sign(&claims).map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))?;
        let token = format!("{JOB_TOKEN_PREFIX}{token}");
        let id_tokens = self.id_tokens(&ring, &job, &project, &user, now_s, lifetime, actor, &request.id_tokens)?;
        let targets: Vec<String> = scope.iter().map(|(id, p)| format!("{id}:{}", p.names().join("+"))).collect();
        self.audit(
            ctx,
            "ci_job_token_issued",
            domain::CredentialKind::CiJobToken.spec().audit_entity,
            job.id,
            "job started and its token issued",
            &[
                ("project_id", project.id.to_string()),
                ("triggered_by", user.id.to_string()),
                ("mode", if mode == JobTokenMode::Legacy { "legacy" } else { "low_privilege" }.to_owned()),
                ("scope", targets.join(" ")),
            ],
        )
        .await?;
        Ok(StartedJob { job, token, id_tokens })
    }

    /// What a new job's token is bound to: its own project and each project whose allowlist names it, with the
    /// policies there (declared ∩ entry ∩ role; legacy mode: entry and role only).
    async fn token_scope(
        &self,
        user: &User,
        project: &Project,
        level: Option<AccessLevel>,
        declared: JobPolicies,
        mode: JobTokenMode,
    ) -> Result<Vec<(i64, JobPolicies)>> {
        let legacy = mode == JobTokenMode::Legacy;
        let within_role = |project: &Project, level: Option<AccessLevel>| -> JobPolicies {
            let held = policy::held_on(&self.catalog, Some(user_facts(user)), false, project.visibility, level);
            held.map_or(JobPolicies::NONE, |held| self.catalog.job_policies_within(held))
        };
        let own = within_role(project, level);
        let mut scope = vec![(project.id, if legacy { own } else { own.intersect(declared) })];
        let sources = domain::AllowlistSource::of_project(project);
        let limit = i64::try_from(domain::MAX_ALLOWLIST_ENTRIES * 4).unwrap_or(800);
        // Entries come ordered by target project: each target's run gives its nearest entry.
        let mut entries = self.store.allowlisting(&sources, limit).await?;
        // At the limit the last target's run may be cut short, and its nearest entry missing: leave it out.
        if i64::try_from(entries.len()).is_ok_and(|n| n >= limit)
            && let Some(last) = entries.last().map(|e| e.project_id)
        {
            entries.retain(|e| e.project_id != last);
        }
        for run in entries.chunk_by(|a, b| a.project_id == b.project_id) {
            let target_id = run.first().map_or(project.id, |e| e.project_id);
            if target_id == project.id {
                continue;
            }
            let Some(allowed) = domain::nearest_allowed(run, &sources) else { continue };
            let Some(target) = self.facts.project(target_id).await? else { continue };
            let level = self.project_access(user, &target).await?;
            let role = within_role(&target, level);
            let policies = if legacy { role } else { role.intersect(declared).intersect(allowed) };
            if policies.is_empty() {
                continue;
            }
            if scope.len() > MAX_TOKEN_TARGETS {
                return Err(Error::invalid(
                    "permissions",
                    format!("the job would reach more than {MAX_TOKEN_TARGETS} other projects: narrow its permissions"),
                ));
            }
            scope.push((target.id, policies));
        }
        Ok(scope)
    }

    #[expect(clippy::too_many_arguments, reason = "an ID token is built from every fact of its job, each a claim")]
    fn id_tokens(
        &self,
        ring: &KeyRing,
        job: &Job,
        project: &Project,
        user: &User,
        now_s: i64,
        lifetime: i64,
        actor: &CiActor,
        requested: &[(String, Vec<String>)],
    ) -> Result<Vec<(String, String)>> {
        if requested.is_empty() {
            return Ok(Vec::new());
        }
        let signer = ring.id_signer.clone().ok_or_else(|| Error::Internal(anyhow::anyhow!("no ID token key")))?;
        let namespace_path = project.full_path.rsplit_once('/').map_or("", |(ns, _)| ns).to_owned();
        let ref_type = "branch";
        let mut minted = Vec::with_capacity(requested.len());
        for (name, audiences) in requested {
            let aud = match audiences.as_slice() {
                [one] => serde_json::Value::String(one.clone()),
                many => serde_json::Value::from(many.to_vec()),
            };
            let claims = serde_json::json!({
                "iss": self.ci.issuer,
                "sub": format!("project_path:{}:ref_type:{ref_type}:ref:{}", project.full_path, job.git_ref),
                "aud": aud,
                "iat": now_s,
                "nbf": now_s,
                "exp": now_s + lifetime,
                "jti": hex(&random_bytes::<16>()?),
                "namespace_id": project.namespace_id.to_string(),
                "namespace_path": namespace_path,
                "project_id": project.id.to_string(),
                "project_path": project.full_path,
                "user_id": user.id.to_string(),
                "user_login": user.username,
                "user_email": user.email,
                "pipeline_id": job.pipeline_id.to_string(),
                "pipeline_source": "push",
                "job_id": job.id.to_string(),
                "ref": job.git_ref,
                "ref_type": ref_type,
                "ref_path": format!("refs/heads/{}", job.git_ref),
                "ref_protected": job.ref_protected.to_string(),
                "runner_id": match actor { CiActor::Runner(r) => r.id, CiActor::Admin(_) | CiActor::Trigger(_) => 0 },
                "runner_environment": "self-hosted",
                "organization_id": project.organization_id.to_string(),
            });
            let jwt = signer.sign(&claims).map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))?;
            minted.push((name.clone(), jwt));
        }
        Ok(minted)
    }

    /// Ends a job: its token is refused from the next request on, on every node.
    pub async fn finish_job(&self, ctx: &AuditContext, actor: &CiActor, id: i64, status: JobStatus) -> Result<Job> {
        if status == JobStatus::Running {
            return Err(Error::invalid("status", "must be success, failed or canceled"));
        }
        let job = self.store.job(id).await?.ok_or(Error::NotFound("Job"))?;
        if let CiActor::Runner(runner) = actor
            && job.runner_id != Some(runner.id)
        {
            return Err(Error::NotFound("Job"));
        }
        self.end_job(ctx, id, status).await
    }

    /// Ends a job with `status` and audits it when this call ended it (the token information API and leak
    /// reports end a job this way to revoke its token).
    pub(crate) async fn end_job(&self, ctx: &AuditContext, id: i64, status: JobStatus) -> Result<Job> {
        let (job, changed) = self.store.finish_job(id, status, self.now()).await?.ok_or(Error::NotFound("Job"))?;
        if changed {
            self.audit(
                ctx,
                "ci_job_finished",
                domain::CredentialKind::CiJobToken.spec().audit_entity,
                job.id,
                "job ended: its token is no longer accepted",
                &[("status", status.as_str().to_owned())],
            )
            .await?;
        }
        Ok(job)
    }

    pub async fn job(&self, id: i64) -> Result<Option<Job>> {
        Ok(self.store.job(id).await?)
    }

    pub async fn pipeline(&self, id: i64) -> Result<Option<domain::Pipeline>> {
        Ok(self.store.pipeline(id).await?)
    }
}

fn validate_job(request: &StartJob) -> Result<()> {
    if !(1..=MAX_JOB_TIMEOUT_S).contains(&request.timeout_s) {
        return Err(Error::invalid("timeout", format!("must be 1 to {MAX_JOB_TIMEOUT_S} seconds")));
    }
    if request.git_ref.is_empty() || request.git_ref.len() > 255 || request.git_ref.chars().any(char::is_control) {
        return Err(Error::invalid("ref", "must be 1 to 255 characters without control characters"));
    }
    if request.name.len() > 255 || request.name.chars().any(char::is_control) {
        return Err(Error::invalid("name", "must be at most 255 characters without control characters"));
    }
    if request.id_tokens.len() > MAX_ID_TOKENS {
        return Err(Error::invalid("id_tokens", format!("at most {MAX_ID_TOKENS} ID tokens")));
    }
    for (name, audiences) in &request.id_tokens {
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !name.as_bytes()[0].is_ascii_digit();
        if !valid_name {
            return Err(Error::invalid("id_tokens", format!("{name:?} is not a variable name")));
        }
        if audiences.is_empty() || audiences.len() > MAX_AUDIENCES {
            return Err(Error::invalid("id_tokens", format!("{name}: aud needs 1 to {MAX_AUDIENCES} values")));
        }
        if audiences.iter().any(|a| a.is_empty() || a.len() > 255 || a.chars().any(char::is_control)) {
            return Err(Error::invalid("id_tokens", format!("{name}: each aud must be 1 to 255 characters")));
        }
    }
    Ok(())
}
