//! CI/CD job tokens: runners, jobs and their `CI_JOB_TOKEN` (`glcbt-` + a signed JWT), ID tokens, the signing
//! keys and their rotation, each project's job-token settings and inbound allowlist, and the job-token facts a
//! decision needs.
//!
//! A job's token carries, signed, what it may do where: for its own project, the job's declared policies within
//! the triggering user's role; for every project whose allowlist names the job's project or one of its groups,
//! that ∩ the entry's policies ∩ the user's role there. At each use the job must still run, the user must still
//! be active, the allowlist entry must still be there, and the user's role is asked again.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use domain::{
    AccessLevel, AllowlistEntry, AllowlistSource, Job, JobPolicies, JobStatus, JobTokenMode, JobTokenSettings,
    KeyPurpose, Project, Runner, RunnerType, StoredKey, Timestamp, User,
};
use tokens::jwt::{self, Algorithm, JobTokenClaims, Jwk, SigningKey, VerifyingKey};

use crate::auth::AuthFailure;
use crate::decide::{Resolved, user_facts};
use crate::store::{AllowlistAdd, NewJob, NewRunner};
use crate::{AuditContext, Authority, Error, Result, random_bytes};

/// Settings of job tokens and ID tokens.
#[derive(Debug, Clone)]
pub struct CiConfig {
    /// `iss` of every token: the URL clients reach Tessera at.
    pub issuer: String,
    /// The algorithm new signing keys use.
    pub algorithm: Algorithm,
    /// The longest a job token or ID token may live, whatever the job's timeout.
    pub max_token_lifetime_s: i64,
}

impl Default for CiConfig {
    fn default() -> Self {
        CiConfig { issuer: "http://localhost".to_owned(), algorithm: Algorithm::RS256, max_token_lifetime_s: 86_400 }
    }
}

/// How much clock skew a token's times are allowed.
pub const JWT_LEEWAY_S: i64 = 60;
/// A job token outlives its job's timeout by this much, as in GitLab.
const TOKEN_GRACE_S: i64 = 5 * 60;
/// The longest job timeout accepted (GitLab's maximum, one month).
pub const MAX_JOB_TIMEOUT_S: i64 = 30 * 24 * 3600;
/// The most ID tokens one job may ask for, and audiences per ID token.
pub const MAX_ID_TOKENS: usize = 20;
pub const MAX_AUDIENCES: usize = 10;
/// The most projects other than its own a job token is bound to.
pub const MAX_TOKEN_TARGETS: usize = 50;
const KEY_SEAL_LABEL: &str = "ci signing keys";
const RUNNER_PREFIX: &str = "glrt-";
/// The prefix of CI job tokens.
pub const JOB_TOKEN_PREFIX: &str = "glcbt-";

/// The keys in use: those that sign now, and every key still published.
pub(crate) struct KeyRing {
    generation: u64,
    job_signer: Option<Arc<SigningKey>>,
    id_signer: Option<Arc<SigningKey>>,
    /// Public keys of job tokens, current and retired but still published.
    job_verifiers: Vec<VerifyingKey>,
    published: Vec<Jwk>,
}

pub(crate) type SharedKeyRing = RwLock<Option<Arc<KeyRing>>>;

/// Who calls the internal CI API: a runner, or an administrator.
#[derive(Debug, Clone)]
pub enum CiActor {
    Runner(Runner),
    Admin(Arc<User>),
}

/// A job to start, as the internal CI API receives it.
#[derive(Debug, Clone, Default)]
pub struct StartJob {
    pub project_id: i64,
    pub user_id: i64,
    pub pipeline_id: Option<i64>,
    pub name: String,
    pub git_ref: String,
    pub ref_protected: bool,
    pub timeout_s: i64,
    /// The job's `permissions:` as YAML text; `None` for the default set.
    pub permissions: Option<String>,
    /// ID tokens to mint: name → audiences.
    pub id_tokens: Vec<(String, Vec<String>)>,
}

/// A started job with its secrets, shown once.
#[derive(Debug, Clone)]
pub struct StartedJob {
    pub job: Job,
    pub token: String,
    pub id_tokens: Vec<(String, String)>,
}

/// A job token that passed authentication, with its job, project and triggering user as they are now.
#[derive(Debug, Clone)]
pub struct JobPrincipal {
    pub job: Arc<Job>,
    pub user: Arc<User>,
    pub project: Arc<Project>,
    pub claims: Arc<VerifiedJobToken>,
    pub at: Timestamp,
}

/// A job token's claims, with its scope read into project ids and policies.
#[derive(Debug, Clone)]
pub struct VerifiedJobToken {
    pub claims: JobTokenClaims,
    /// Each project the token is bound to, with its policies there.
    pub scope: Vec<(i64, JobPolicies)>,
}

impl VerifiedJobToken {
    fn from_claims(claims: JobTokenClaims) -> Option<VerifiedJobToken> {
        let mut scope: Vec<(i64, JobPolicies)> = Vec::new();
        for (name, resources) in &claims.scope {
            let mut policy = JobPolicies::NONE;
            policy.insert(domain::JobPolicy::parse(name)?);
            for gid in resources {
                let id: i64 = gid.strip_prefix(jwt::PROJECT_GID_PREFIX)?.parse().ok()?;
                match scope.iter_mut().find(|(p, _)| *p == id) {
                    Some((_, set)) => *set = set.union(policy),
                    None => scope.push((id, policy)),
                }
            }
        }
        Some(VerifiedJobToken { claims, scope })
    }

    /// The policies the token is bound to on `project_id`.
    pub fn on(&self, project_id: i64) -> JobPolicies {
        self.scope.iter().find(|(id, _)| *id == project_id).map_or(JobPolicies::NONE, |(_, p)| *p)
    }
}

/// A suggested allowlist entry: a project whose job tokens used this one, and the narrowest policies covering it.
#[derive(Debug, Clone)]
pub struct SuggestedEntry {
    pub source_project: Arc<Project>,
    pub policies: JobPolicies,
    pub uses: i64,
    pub last_used_at: Timestamp,
    /// An entry already lets the source in with these policies (`None`: no entry).
    pub allowed_now: Option<JobPolicies>,
}

impl Authority {
    pub fn issuer(&self) -> &str {
        &self.ci.issuer
    }

    pub fn ci_config(&self) -> &CiConfig {
        &self.ci
    }

    /// Makes the first signing keys of each purpose if there are none, and loads them. Called at start.
    pub async fn prepare_signing_keys(&self) -> Result<()> {
        let now = self.now();
        let existing = self.store.signing_keys().await?;
        for purpose in [KeyPurpose::JobToken, KeyPurpose::IdToken] {
            if existing.iter().any(|k| k.purpose == purpose && k.retired_at.is_none()) {
                continue;
            }
            let key = self.new_stored_key(purpose, now)?;
            self.store.insert_first_signing_key(&key).await?;
        }
        self.key_ring().await.map(|_| ())
    }

    fn new_stored_key(&self, purpose: KeyPurpose, now: Timestamp) -> Result<StoredKey> {
        let key = SigningKey::generate(self.ci.algorithm).map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))?;
        let seal_key = self.digester.derived_keys(KEY_SEAL_LABEL).into_iter().next();
        let seal_key = seal_key.ok_or_else(|| Error::Internal(anyhow::anyhow!("no server secret")))?;
        let sealed = jwt::seal(&seal_key, random_bytes::<12>()?, key.pkcs8(), key.kid().as_bytes())
            .map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))?;
        let jwk = serde_json::to_string(&key.public().jwk()).map_err(|e| Error::Internal(e.into()))?;
        Ok(StoredKey {
            kid: key.kid().to_owned(),
            purpose,
            algorithm: self.ci.algorithm.as_str().to_owned(),
            sealed_key: base64::engine::general_purpose::STANDARD.encode(sealed),
            public_jwk: jwk,
            created_at: now,
            retired_at: None,
            publish_until: None,
        })
    }

    /// The keys in use, reloaded when they changed (here or, announced, on another node).
    pub(crate) async fn key_ring(&self) -> Result<Arc<KeyRing>> {
        let generation = self.cache.keys_generation();
        if let Ok(ring) = self.keys.read()
            && let Some(ring) = ring.as_ref()
            && ring.generation == generation
        {
            return Ok(ring.clone());
        }
        let now = self.now();
        let stored = self.store.signing_keys().await?;
        let seal_keys = self.digester.derived_keys(KEY_SEAL_LABEL);
        let mut ring =
            KeyRing { generation, job_signer: None, id_signer: None, job_verifiers: Vec::new(), published: Vec::new() };
        for key in stored {
            if key.publish_until.is_some_and(|until| until <= now) {
                continue;
            }
            let jwk: Jwk = serde_json::from_str(&key.public_jwk)
                .map_err(|e| Error::Internal(anyhow::anyhow!("stored key {} has an invalid JWK: {e}", key.kid)))?;
            if key.purpose == KeyPurpose::JobToken {
                let verifier = VerifyingKey::from_jwk(&jwk)
                    .map_err(|e| Error::Internal(anyhow::anyhow!("stored key {}: {e}", key.kid)))?;
                ring.job_verifiers.push(verifier);
            }
            ring.published.push(jwk);
            if key.retired_at.is_some() {
                continue;
            }
            let signer = self.open_key(&key, &seal_keys)?;
            let slot = match key.purpose {
                KeyPurpose::JobToken => &mut ring.job_signer,
                KeyPurpose::IdToken => &mut ring.id_signer,
            };
            // Keys come newest first: the newest current key signs.
            slot.get_or_insert(Arc::new(signer));
        }
        let ring = Arc::new(ring);
        if self.cache.keys_generation() == generation
            && let Ok(mut slot) = self.keys.write()
        {
            *slot = Some(ring.clone());
        }
        Ok(ring)
    }

    fn open_key(&self, key: &StoredKey, seal_keys: &[[u8; 32]]) -> Result<SigningKey> {
        let algorithm = Algorithm::parse(&key.algorithm)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("stored key {} has an unknown algorithm", key.kid)))?;
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(&key.sealed_key)
            .map_err(|_| Error::Internal(anyhow::anyhow!("stored key {} is not base64", key.kid)))?;
        let pkcs8 = seal_keys
            .iter()
            .find_map(|seal| jwt::open(seal, &sealed, key.kid.as_bytes()).ok())
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("stored key {} opens with no server secret", key.kid)))?;
        let signer = SigningKey::from_pkcs8(algorithm, &pkcs8).map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))?;
        if signer.kid() != key.kid {
            return Err(Error::Internal(anyhow::anyhow!("stored key {} does not match its kid", key.kid)));
        }
        Ok(signer)
    }

    /// Every public key still published (JWKS), job-token and ID-token keys alike.
    pub async fn published_keys(&self) -> Result<Vec<Jwk>> {
        Ok(self.key_ring().await?.published.clone())
    }

    /// The algorithms of the published keys.
    pub async fn signing_algorithms(&self) -> Result<Vec<String>> {
        let mut algorithms: Vec<String> = self.key_ring().await?.published.iter().map(|k| k.alg.clone()).collect();
        algorithms.sort();
        algorithms.dedup();
        Ok(algorithms)
    }

    /// Replaces the signing keys of both purposes. The old public keys stay published until every token they
    /// signed has expired.
    pub async fn rotate_signing_keys(&self, ctx: &AuditContext) -> Result<Vec<Jwk>> {
        let now = self.now();
        let publish_until = now.add_millis((self.ci.max_token_lifetime_s + JWT_LEEWAY_S) * 1000);
        for purpose in [KeyPurpose::JobToken, KeyPurpose::IdToken] {
            let key = self.new_stored_key(purpose, now)?;
            self.store.rotate_signing_key(&key, now, publish_until).await?;
            self.audit(
                ctx,
                "ci_signing_key_rotated",
                "SigningKey",
                0,
                "signing key rotated",
                &[("purpose", purpose.as_str().to_owned()), ("kid", key.kid.clone())],
            )
            .await?;
        }
        self.published_keys().await
    }

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
            "Ci::Runner",
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
                    CiActor::Admin(_) => None,
                },
                created_at: now,
                token_expires_at: expires,
            })
            .await
            .map_err(|e| match e {
                crate::StoreError::Conflict(_) => Error::invalid("pipeline_id", "is not a pipeline of this project"),
                other => other.into(),
            })?;
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
            scope: scope_claim(&scope),
        };
        let token = signer.sign(&claims).map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))?;
        let token = format!("{JOB_TOKEN_PREFIX}{token}");
        let id_tokens = self.id_tokens(&ring, &job, &project, &user, now_s, lifetime, actor, &request.id_tokens)?;
        let targets: Vec<String> = scope.iter().map(|(id, p)| format!("{id}:{}", p.names().join("+"))).collect();
        self.audit(
            ctx,
            "ci_job_token_issued",
            "Ci::Build",
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

    #[allow(clippy::too_many_arguments)]
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
                "runner_id": match actor { CiActor::Runner(r) => r.id, CiActor::Admin(_) => 0 },
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
        let (job, changed) = self.store.finish_job(id, status, self.now()).await?.ok_or(Error::NotFound("Job"))?;
        if changed {
            self.audit(
                ctx,
                "ci_job_finished",
                "Ci::Build",
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

    /// Authenticates a `glcbt-` token: signature (once per token, then cached), times, issuer, audience, cell,
    /// and at every use the job (still running), its project and its user (still active).
    pub(crate) async fn authenticate_job(
        &self,
        presented: &str,
        ip: Option<&str>,
    ) -> Result<std::result::Result<JobPrincipal, AuthFailure>> {
        let now = self.now();
        let Some(jwt_text) = presented.strip_prefix(JOB_TOKEN_PREFIX) else { return Ok(Err(AuthFailure::Malformed)) };
        let key = self.cache.presented_key(presented);
        let verified = match self.cache.verified_job_token(key) {
            Some(verified) => verified,
            None => {
                let generation = self.cache.generation();
                let ring = self.key_ring().await?;
                let verified = jwt::verify::<JobTokenClaims>(jwt_text, &ring.job_verifiers)
                    .and_then(|claims| self.check_claims(claims))
                    .map(Arc::new);
                match verified {
                    Ok(verified) => {
                        self.cache.remember_job_token(generation, key, verified.clone());
                        verified
                    }
                    Err(e) => {
                        tracing::info!(reason = %e, ip = ip.unwrap_or("-"), "authentication failed: job token refused");
                        return Ok(Err(AuthFailure::Malformed));
                    }
                }
            }
        };
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
                self.audit(&ctx, "authentication_failed", "Ci::Build", job_id, failure.reason(), &[]).await?;
            }
            return Ok(Err(failure));
        }
        let (Some(job), Some(user), Some(project)) = (job, user, project) else {
            return Ok(Err(AuthFailure::Unknown));
        };
        Ok(Ok(JobPrincipal { job, user, project, claims: verified, at: now }))
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
        VerifiedJobToken::from_claims(claims).ok_or(jwt::JwtError::BadClaims)
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

/// The `scope` claim: each policy and the global ids of the projects it is bound to.
fn scope_claim(scope: &[(i64, JobPolicies)]) -> BTreeMap<String, Vec<String>> {
    let mut claim: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (project, policies) in scope {
        for policy in policies.iter() {
            claim.entry(policy.to_string()).or_default().push(format!("{}{project}", jwt::PROJECT_GID_PREFIX));
        }
    }
    claim
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
