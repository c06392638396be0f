//! One request decided end to end: canonical method and path, the catalog's route, the credential authenticated,
//! the token policies at use, `Sudo` honoured, the resource resolved and the user's level loaded, then
//! `policy::authorize`. Every way in that asks "may this credential do this?" (the REST API, forward-auth, Git
//! over HTTP, the registries, the decision API) comes here.
//!
//! **Invariant:** this is the one decision flow; each step either hands its facts on or returns a refused
//! [`Outcome`], and only `policy::authorize` can make it allowed.

mod at_once;
mod kept;
mod outcome;
mod reading;
mod refusals;
mod resolve;

use std::sync::Arc;

use catalog::{Boundary, PathError, RouteMatch, Surface, canonical_method};
use domain::{CredentialKind, Scope, Scopes, SecretHome, UsageBoundary, User, secret_home};
use policy::{CredentialFacts, Facts, Layer, Reason, RuleTarget};

pub(crate) use kept::KeptDecisions;
pub use outcome::{Accepted, Outcome, Presented, Request, Resolved, Who};
pub(crate) use reading::Readings;
pub(crate) use refusals::group_rules_refusal;
pub use refusals::{group_refusal, token_refusal, token_rules};
pub(crate) use resolve::user_facts;

use self::at_once::Prepared;
use self::kept::Asking;
use self::outcome::{OnRoute, Refusal};
use self::reading::Read;
use self::resolve::{facts_of, is_rotation, rule_segments};
use crate::principal::JobPrincipal;
use crate::{Authenticated, Authority, Result};

/// The credential a request carries, authenticated (a feed token is worth `read_api` on feed routes, which
/// alone its kind reaches; a deploy key's reach is `deploy_facts`).
#[derive(Default)]
struct Credentials {
    accepted: Accepted,
    /// What a deploy key reaches here (its enablement on the repository's project).
    deploy_facts: Option<policy::DeployFacts>,
}

impl From<Accepted> for Credentials {
    fn from(accepted: Accepted) -> Credentials {
        Credentials { accepted, deploy_facts: None }
    }
}

/// What the requests of one batch share (see [`Authority::decide_in_batch`]): the user token the last of them
/// authenticated, as it was presented and as it was found. Only a success is kept: a failure is checked, and
/// audited, each time.
#[derive(Default)]
pub struct Batch<'r> {
    last: Option<Remembered<'r>>,
}

/// How a user token was presented: a batch's requests share its authentication only when presented alike.
#[derive(Clone, Copy, PartialEq)]
struct Shown<'r> {
    secret: &'r str,
    channel: domain::Channel,
    ip: Option<&'r str>,
    /// On a rotation path (where a revoked token's reuse revokes its family).
    rotation: bool,
}

/// A user token presented, and its authentication.
struct Remembered<'r> {
    shown: Shown<'r>,
    principal: Authenticated,
}

impl<'r> Batch<'r> {
    /// Keeps the authentication of the token `shown`, for the next request.
    fn keep(&mut self, shown: Shown<'r>, principal: &Authenticated) {
        self.last = Some(Remembered { shown, principal: principal.clone() });
    }

    /// The authentication of the token `shown`, when the request before presented it alike.
    fn authenticated(&self, shown: &Shown<'_>) -> Option<Authenticated> {
        let last = self.last.as_ref()?;
        (last.shown == *shown).then(|| last.principal.clone())
    }
}

/// A step of the flow: its facts, or the refusal that ends the decision (small, so that steps return it cheaply;
/// the outcome is built once, from the route).
type Step<T> = std::result::Result<T, Refusal>;

impl Authority {
    /// Decides one request, `Sudo` included.
    ///
    /// Both this and [`Authority::decide_in_batch`] answer the one decision's future itself, not one of their own
    /// around it: a decision's future is moved whole wherever it goes, and a wrapper would be one more move of it.
    pub fn decide_request<'a>(&'a self, request: &Request<'_>) -> impl Future<Output = Result<Outcome<'a>>> + Send {
        self.decide(request, None)
    }

    /// The decision of `request` when it needs no waiting: the one this thread made of the same request before
    /// and kept, while nothing it read has changed (see `decide::kept`), or the refusal of a string known to be
    /// no token while a flood of them is refused unaudited; `None` otherwise (decide it then with
    /// [`Authority::decide_request`], which looks here first).
    pub fn decided_before(&self, request: &Request<'_>) -> Option<Outcome<'_>> {
        let generation = self.cache.generation();
        let method = canonical_method(request.method);
        let reading = self.readings.read(&self.catalog, request.method, &method, request.target);
        let asking = self.asking(request, &reading)?;
        let route = self.catalog.route_of(reading.found.as_ref().ok()?.as_ref()?)?;
        let on = OnRoute { route, safe: method == "GET" };
        if let Some(outcome) = self.kept_outcome(&asking, generation, request, on) {
            return Some(outcome);
        }
        // As the whole decision refuses it, when this second's audited attempts are spent: an attempt to be
        // audited is left to the whole decision, which writes the audit.
        let unaudited =
            self.cache.presented(asking.presented) == Some(None) && self.unknown_audit.take_unaudited(self.now());
        unaudited.then(|| on.outcome(Refusal::BAD_CREDENTIAL))
    }

    /// Decides one request of a batch asked about at once (the decision API's): as [`Authority::decide_request`],
    /// except that a user token the request before it authenticated, presented the same way, is taken as that
    /// authentication found it. A batch is one call, decided as of when each token in it was first checked, as
    /// one request is; a revocation that lands while it is decided is seen by the next call.
    pub fn decide_in_batch<'a, 'r>(
        &'a self,
        request: &Request<'r>,
        batch: &mut Batch<'r>,
    ) -> impl Future<Output = Result<Outcome<'a>>> + Send {
        self.decide(request, Some(batch))
    }

    /// The decision: of a request alone (`batch`: `None`), or of one of a batch.
    async fn decide<'r>(&self, request: &Request<'r>, batch: Option<&mut Batch<'r>>) -> Result<Outcome<'_>> {
        // Read before any fact is: a decision kept by this thread is served only at the generation it was made at.
        let generation = self.cache.generation();
        let method = canonical_method(request.method);
        // The path in its canonical spelling and its route: this thread's reading of the same target, if any.
        let reading = self.readings.read(&self.catalog, request.method, &method, request.target);
        let path = &reading.path;
        let located = match &reading.found {
            Ok(located) => located.as_ref(),
            Err(e) => return Ok(Outcome::malformed(*e)),
        };
        // The route alone first: a kept decision and a known non-token need none of its parameters.
        let Some(route) = located.and_then(|located| self.catalog.route_of(located)) else {
            // No route took the decoded `/`: the path has no reading every way in shares.
            if path.has_decoded_slash() {
                return Ok(Outcome::malformed(PathError::EncodedSlash));
            }
            return Ok(Outcome::refused(Layer::Route, Reason::UnknownRoute));
        };
        let on = OnRoute { route, safe: method == "GET" };
        let asking = self.asking(request, &reading);
        if let Some(asking) = &asking {
            if let Some(outcome) = self.kept_outcome(asking, generation, request, on) {
                return Ok(outcome);
            }
            // A string known to be no token: refused as `authenticate_keyed` refuses it, none of its steps taken.
            if self.cache.presented(asking.presented) == Some(None) {
                let entity = CredentialKind::PersonalAccessToken.spec().audit_entity;
                if let Some(audit) = self.audit_unknown(entity, request.ip, self.now()) {
                    audit.await?;
                }
                return Ok(on.outcome(Refusal::BAD_CREDENTIAL));
            }
        }
        // The same route, with its parameters read out of the path.
        let Some(found) = located.and_then(|located| self.catalog.matched(located, path)) else {
            return Ok(Outcome::refused(Layer::Route, Reason::UnknownRoute));
        };
        // The credential, the resource the route names and the instance's settings depend on nothing of each
        // other: when reads wait on a database server, they are made at once, not one after the other (on an
        // embedded database a read is this thread's own work, and the resource and settings are read only once
        // the credential is accepted, as a refusal needs neither). A refused credential ends the decision before
        // anything else read is looked at, a storage error included.
        let key = asking.map(|a| a.presented);
        let (credentials, read) = if self.overlap_reads {
            // What is not cached of them is read in one round trip first (see `decide::at_once`).
            let prepared = self.read_at_once(request, &found, key).await?;
            let (credentials, named, settings) = tokio::join!(
                self.credential_of(request, &found, route, batch, prepared),
                self.named(&found),
                self.facts.settings(),
            );
            (credentials, Some((named, settings)))
        } else {
            let prepared = Prepared { key, job_refused: false };
            (self.credential_of(request, &found, route, batch, prepared).await, None)
        };
        let Credentials { accepted, deploy_facts } = match credentials? {
            Ok(authenticated) => authenticated,
            Err(refused) => return Ok(on.outcome(refused)),
        };
        let (named, settings) = match read {
            Some(read) => read,
            None => (self.named(&found).await, self.facts.settings().await),
        };
        let principal = accepted.principal();
        let admin_mode = match instance_rules(principal, route, settings?) {
            Ok(admin_mode) => admin_mode,
            Err(refused) => return Ok(on.outcome(refused)),
        };
        // Read once per token and kept; a token without rules or grants has none to read.
        let compiled = match principal {
            Some(p) if p.token.restricted => match self.facts.compiled_of(&self.catalog, &p.token).await? {
                Some(compiled) => Some(compiled),
                // Its row is gone: it is no credential.
                None => return Ok(on.outcome(Refusal::BAD_CREDENTIAL)),
            },
            _ => None,
        };
        let credential = principal
            .map(|p| CredentialFacts {
                scopes: p.token.scopes,
                active: true,
                organization_id: p.token.organization_id,
                grants: compiled.as_ref().map(|c| &*c.grants).unwrap_or_default(),
                rules: compiled.as_ref().map(|c| &*c.rules).unwrap_or_default(),
                bound: p.token.resource,
            })
            .or_else(|| match &accepted {
                Accepted::Feed(_, user) => Some(CredentialFacts {
                    scopes: Scopes::from_iter([Scope::ReadApi]),
                    active: true,
                    organization_id: user.organization_id,
                    grants: &[],
                    rules: &[],
                    bound: None,
                }),
                _ => None,
            });
        let sudo = match self.sudo_of(request, principal, credential.as_ref(), admin_mode).await? {
            Ok(sudo) => sudo,
            Err(refused) => return Ok(on.outcome(refused)),
        };
        let acting = sudo.as_deref().or(accepted.user());
        // The request's day: read when its token was checked, so that the clock is read once.
        let today = principal.map_or_else(|| self.now(), |p| p.at).date();
        let named = named?;
        if let Some(principal) = principal
            && let Some(reason) = refusals::hierarchy_refusal(&named, route.surface, &principal.token)
        {
            return Ok(on.refuse(Layer::Policy, reason));
        }
        let resource = self.with_level(named.resource, acting, today).await?;
        let names_caller = match (found.param("user_id"), acting) {
            (Some(named), Some(user)) => named.parse::<i64>().is_ok_and(|id| id == user.id),
            _ => false,
        };
        let job = accepted.job();
        let job_facts = match job {
            Some(job) => Some(self.job_facts(job, &resource).await?),
            None => None,
        };
        // Allowlist rules see the request's segments with the group or project id resolved (only built for a
        // token that has rules), after the last wait: the decision's future holds none of it.
        let has_rules = credential.is_some_and(|c| !c.rules.is_empty());
        // The id is written on the stack, so that a ruled decision allocates nothing.
        let mut id_text = itoa::Buffer::new();
        let resolved_id = match &resource {
            _ if !has_rules => None,
            Resolved::Group(group, _) => Some(id_text.format(group.id)),
            Resolved::Project(project, _) => Some(id_text.format(project.id)),
            Resolved::None => None,
        };
        // Made only for a token with rules: a request without any pays nothing for them.
        let ruled = has_rules.then(|| rule_segments(&found, path, resolved_id));
        let facts = Facts {
            job: job_facts,
            deploy: deploy_facts.or_else(|| match &accepted {
                Accepted::Deploy(d) => Some(policy::DeployFacts {
                    kind: CredentialKind::DeployToken,
                    scopes: d.scopes,
                    resource: d.resource,
                    organization_id: d.organization_id,
                }),
                _ => None,
            }),
            trigger: match &accepted {
                Accepted::Trigger(t, _) => {
                    Some(policy::TriggerFacts { project_id: t.project_id, organization_id: t.organization_id })
                }
                _ => None,
            },
            credential,
            user: acting.map(user_facts),
            resource: facts_of(route.boundary, &resource),
            admin_mode,
            names_caller,
            target: ruled.as_ref().map(|(surface, segments)| RuleTarget {
                method: &method,
                surface: *surface,
                segments: segments.as_slice(),
            }),
        };
        let decision = policy::authorize(&self.catalog, route, on.safe, &facts);
        if decision.allowed && request.served {
            self.note_use_of(route, &resource, principal, job);
        }
        let mut outcome = on.refuse(decision.layer, decision.reason);
        outcome.allowed = decision.allowed;
        outcome.needs_credential = !decision.allowed && matches!(accepted, Accepted::Nothing);
        outcome.admin = policy::acting_admin(&facts);
        outcome.credential = accepted;
        outcome.sudo = sudo;
        outcome.resource = resource;
        if let Some(asking) = &asking {
            self.keep_decision(asking, generation, &outcome);
        }
        Ok(outcome)
    }

    /// What a request's kept decision is looked up by, when it could have one: a user token's string presented,
    /// without `Sudo`, its target's reading kept, the fact cache enabled.
    fn asking<'r>(&self, request: &Request<'r>, reading: &'r Read) -> Option<Asking<'r>> {
        let Read::Kept(reading) = reading else { return None };
        if request.sudo.is_some() {
            return None;
        }
        let presented = self.user_token(request)?;
        Some(Asking {
            presented: self.cache.presented_key(presented.secret),
            channel: presented.channel,
            served: request.served,
            ip: request.ip,
            reading,
        })
    }

    /// The user token a request presents, when the fact cache is enabled: a string of a user token's prefix, of
    /// a token's length at most, and no SSH key.
    fn user_token<'r>(&self, request: &Request<'r>) -> Option<Presented<'r>> {
        let presented = request.credential?;
        if request.ssh_key.is_some() || !self.cache.is_enabled() || presented.secret.len() > ::tokens::MAX_TOKEN_LEN {
            return None;
        }
        (secret_home(presented.secret, &self.pat_prefix.accepted) == Some(SecretHome::TokenDigest)).then_some(presented)
    }

    /// The credential presented, authenticated: a user token's principal, a CI job, or a deploy token. Any failure
    /// is the one refusal of a bad credential. `prepared`: what was learnt of it before (the presented string's
    /// keyed hash, when it was made already; a job token refused as its facts were read at once).
    async fn credential_of<'r>(
        &self,
        request: &Request<'r>,
        found: &RouteMatch<'_, '_>,
        route: &catalog::Route,
        batch: Option<&mut Batch<'r>>,
        prepared: Prepared,
    ) -> Result<Step<Credentials>> {
        let key = prepared.key;
        if let Some(key_id) = request.ssh_key {
            return self.ssh_credentials(key_id, found, route).await;
        }
        let Some(Presented { secret: credential, channel, username }) = request.credential else {
            return Ok(Ok(Credentials::default()));
        };
        let wrong_channel = || {
            tracing::info!(ip = request.ip.unwrap_or("-"), %channel, "authentication failed: not a channel of its kind");
            Err(Refusal::BAD_CREDENTIAL)
        };
        Ok(match secret_home(credential, &self.pat_prefix.accepted) {
            // A job token's channels are known from its prefix: a wrong one is refused before any signature is
            // checked.
            Some(SecretHome::SignedJwt) if !CredentialKind::CiJobToken.spec().admits(channel) => wrong_channel(),
            // Refused, and logged, as its facts were about to be read at once: not checked a second time.
            Some(SecretHome::SignedJwt) if prepared.job_refused => Err(Refusal::BAD_CREDENTIAL),
            Some(SecretHome::SignedJwt) => match self.authenticate_job(credential, request.ip).await? {
                Ok(job) => Ok(Accepted::Job(job).into()),
                Err(_) => Err(Refusal::BAD_CREDENTIAL),
            },
            Some(SecretHome::TokenDigest) => {
                let shown = Shown { secret: credential, channel, ip: request.ip, rotation: is_rotation(found) };
                let authenticated = match batch.as_ref().and_then(|batch| batch.authenticated(&shown)) {
                    Some(principal) => Ok(principal),
                    None => {
                        let authenticated =
                            self.authenticate_keyed(credential, key, channel, request.ip, shown.rotation).await?;
                        if let (Some(batch), Ok(principal)) = (batch, &authenticated) {
                            batch.keep(shown, principal);
                        }
                        authenticated
                    }
                };
                match authenticated {
                    // A user token reaches the surfaces its kind's row names, then by its scopes.
                    Ok(principal) if principal.token.kind().spec().reaches(route.surface) => {
                        Ok(Accepted::Token(principal).into())
                    }
                    Ok(_) | Err(_) => Err(Refusal::BAD_CREDENTIAL),
                }
            }
            // A deploy token is no credential of the REST API: off its surfaces it is the one 401.
            Some(SecretHome::DeployDigest) => {
                match self.authenticate_deploy(credential, channel, username, request.ip).await? {
                    Ok(deploy) if CredentialKind::DeployToken.spec().reaches(route.surface) => {
                        Ok(Accepted::Deploy(deploy).into())
                    }
                    Ok(_) | Err(_) => Err(Refusal::BAD_CREDENTIAL),
                }
            }
            Some(SecretHome::TriggerDigest) => {
                match self.authenticate_trigger(credential, channel, request.ip).await? {
                    Ok(trigger) if CredentialKind::PipelineTriggerToken.spec().reaches(route.surface) => {
                        Ok(Accepted::Trigger(trigger.0, trigger.1).into())
                    }
                    Ok(_) | Err(_) => Err(Refusal::BAD_CREDENTIAL),
                }
            }
            // A feed token reads feeds; an incoming-email token is no credential anywhere.
            Some(SecretHome::UserSecretDigest) => {
                let kind = domain::kind_by_prefix(credential).unwrap_or(CredentialKind::IncomingEmailToken);
                if kind != CredentialKind::FeedToken || !kind.spec().reaches(route.surface) {
                    tracing::info!(ip = request.ip.unwrap_or("-"), "authentication failed: not a token of this way in");
                    return Ok(Err(Refusal::BAD_CREDENTIAL));
                }
                match self.authenticate_user_secret(credential, kind, Some(channel), request.ip).await? {
                    Ok((secret, user)) => Ok(Accepted::Feed(secret, user).into()),
                    Err(_) => Err(Refusal::BAD_CREDENTIAL),
                }
            }
            // A runner's token is for the internal CI API alone (`api` takes it there); nothing else is a
            // credential. Both are the one 401, as an unknown token is.
            Some(SecretHome::RunnerDigest | SecretHome::SshKey) | None => {
                tracing::info!(ip = request.ip.unwrap_or("-"), "authentication failed: not a token of this way in");
                Err(Refusal::BAD_CREDENTIAL)
            }
        })
    }

    /// The SSH key of a Git-over-SSH request, as the SSH server proved it: a user's key acts as its user (with the
    /// user's current role, as a signed-in session does); a deploy key reaches the repository's project only when
    /// enabled there, and pushes only with `can_push`. Anything else is the one refusal of a bad credential.
    async fn ssh_credentials(
        &self,
        key_id: i64,
        found: &RouteMatch<'_, '_>,
        route: &catalog::Route,
    ) -> Result<Step<Credentials>> {
        let now = self.now();
        let Some(key) = self.store.ssh_key(key_id).await?.filter(|k| !k.is_expired(now)) else {
            return Ok(Err(Refusal::BAD_CREDENTIAL));
        };
        let kind = if key.is_deploy_key() { CredentialKind::DeployKey } else { CredentialKind::SshKey };
        if !kind.spec().reaches(route.surface) {
            return Ok(Err(Refusal::BAD_CREDENTIAL));
        }
        if key.last_used_at.is_none_or(|t| now.millis() - t.millis() >= 10 * 60 * 1000) {
            self.store.touch_ssh_key(key.id, now).await?;
        }
        let key = Arc::new(key);
        let Some(user_id) = key.user_id else {
            // A deploy key: bound to the repository's project when enabled there, to nothing otherwise.
            let project = match found.param("project") {
                Some(path) => self.facts.project_by_path(path).await?,
                None => None,
            };
            let link = match &project {
                Some(project) => self.store.deploy_key_link(key.id, project.id).await?,
                None => None,
            };
            let scopes = if link.is_some_and(|l| l.can_push) {
                Scopes::from_iter([Scope::ReadRepository, Scope::WriteRepository])
            } else {
                Scopes::from_iter([Scope::ReadRepository])
            };
            let facts = policy::DeployFacts {
                kind,
                scopes,
                resource: domain::MemberSource::Project(link.map_or(0, |l| l.project_id)),
                organization_id: project.map_or(0, |p| p.organization_id),
            };
            return Ok(Ok(Credentials { accepted: Accepted::Ssh(key, None), deploy_facts: Some(facts) }));
        };
        match self.facts.user(user_id).await? {
            Some(user) if user.is_active() => Ok(Ok(Accepted::Ssh(key, Some(user)).into())),
            _ => Ok(Err(Refusal::BAD_CREDENTIAL)),
        }
    }

    /// The user `Sudo` names, when the header is sent and the credential may use it.
    async fn sudo_of(
        &self,
        request: &Request<'_>,
        principal: Option<&Authenticated>,
        credential: Option<&CredentialFacts<'_>>,
        admin_mode: bool,
    ) -> Result<Step<Option<Arc<User>>>> {
        let Some(who) = request.sudo else { return Ok(Ok(None)) };
        let (Some(principal), Some(credential)) = (principal, credential) else {
            let refusal = Refusal::new(Layer::Credential, Reason::NoCredential);
            return Ok(Err(Refusal { needs_credential: true, ..refusal }));
        };
        if let Err((layer, reason)) = policy::sudo(user_facts(&principal.user), credential, admin_mode) {
            let sudo_scope: &'static [Scope] = &[Scope::Sudo];
            let allowing_scopes = (reason == Reason::SudoNeedsScope).then_some(sudo_scope);
            return Ok(Err(Refusal { allowing_scopes, ..Refusal::new(layer, reason) }));
        }
        Ok(match self.sudo_target(who).await? {
            Some(user) => Ok(Some(user)),
            None => Err(Refusal::new(Layer::Visibility, Reason::SudoUserNotFound)),
        })
    }

    /// Notes what an allowed, served request used: a token's exercised permissions, a job token's reach.
    fn note_use_of(
        &self,
        route: &catalog::Route,
        resource: &Resolved,
        principal: Option<&Authenticated>,
        job: Option<&JobPrincipal>,
    ) {
        if let Some(principal) = principal {
            self.record_exercise(route, resource, principal);
        }
        if let Some(job) = job {
            self.record_job_access(job, resource, route);
        }
    }

    /// Notes what an allowed request of `token` exercised: the route's least assignable permissions at the
    /// resource it named (for `GET /personal_access_tokens/:id/usage`). Routes a token uses on itself, and
    /// routes no grant can reach, are not noted.
    fn record_exercise(&self, route: &catalog::Route, resource: &Resolved, principal: &Authenticated) {
        if route.least_bundles.is_empty() || matches!(route.surface, Surface::TokenSelf | Surface::TokenSelfRotate) {
            return;
        }
        let boundary = match (resource, route.boundary) {
            (Resolved::Project(project, _), _) => UsageBoundary::Project(project.id),
            (Resolved::Group(group, _), _) => UsageBoundary::Group(group.id),
            (Resolved::None, Boundary::OwnUser) => UsageBoundary::User,
            (Resolved::None, _) => UsageBoundary::Instance,
        };
        self.usage.record_exercise(principal.token.id, &route.least_bundles, boundary, principal.at);
    }
}

/// The instance's rules for tokens at use (`settings`); when they let the token through, whether Admin Mode is on.
fn instance_rules(
    principal: Option<&Authenticated>,
    route: &catalog::Route,
    settings: Arc<domain::Settings>,
) -> Step<bool> {
    let Some(principal) = principal else { return Ok(false) };
    if let Some(reason) = token_refusal(&settings, route.surface, &principal.token) {
        // A token past the allowed lifetime is a bad credential; the other rules refuse it by policy.
        let lifetime = reason == Reason::LifetimeBeyondPolicy;
        let layer = if lifetime { Layer::Credential } else { Layer::Policy };
        return Err(Refusal { bad_credential: lifetime, ..Refusal::new(layer, reason) });
    }
    Ok(settings.admin_mode)
}
