//! One request decided end to end: canonical method and path, the catalog's route, the credential authenticated,
//! `Sudo` honoured, the resource resolved and the user's level loaded, then `policy::authorize`. Every way in
//! that asks "may this credential do this?" (the REST API, forward-auth, the decision API) comes here.

use std::sync::Arc;

use catalog::{Boundary, RouteMatch, Surface, canonical_method, canonical_path};
use domain::{AccessLevel, Group, GroupTokenPolicy, Project, Scope, UsageBoundary, User};
use policy::{CredentialFacts, Facts, Layer, Reason, ResourceFacts, RuleSurface, RuleTarget, TokenRules, UserFacts};

use crate::ci::{JOB_TOKEN_PREFIX, JobPrincipal};
use crate::{Authenticated, Authority, NamespaceRef, Result};

/// One request, as a way in presents it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// The token presented, if any.
    pub credential: Option<&'a str>,
    pub method: &'a str,
    /// Path and optional query, as the client sent them.
    pub target: &'a str,
    pub ip: Option<&'a str>,
    /// The `Sudo` header: the id or username of the user to act as.
    pub sudo: Option<&'a str>,
    /// The request is being served (REST, forward-auth), not only asked about (the decision API): an allowed one
    /// is noted as exercising its permissions, for `GET /personal_access_tokens/:id/usage`.
    pub served: bool,
}

/// The group or project the route names, as found, with the acting user's level on it.
#[derive(Debug, Clone, Default)]
pub enum Resolved {
    #[default]
    None,
    Group(Arc<Group>, Option<AccessLevel>),
    Project(Arc<Project>, Option<AccessLevel>),
}

/// The answer, with what a caller needs to respond and, when allowed, to act.
#[derive(Debug, Clone)]
pub struct Outcome<'a> {
    pub allowed: bool,
    /// The layer that decided (`credential` for an authentication failure, `route` for an unknown route).
    pub layer: Layer,
    pub reason: Reason,
    /// What was wrong with the path, when it could not be read.
    pub detail: Option<String>,
    /// Alternatives of permissions that would allow the request.
    pub required: &'a [Vec<String>],
    /// Alternatives of assignable permissions that would let a fine-grained token make the request.
    pub bundles: &'a [Vec<String>],
    /// The authenticated principal, when a credential was presented and accepted.
    pub principal: Option<Authenticated>,
    /// The CI job, when the credential was an accepted job token (then `principal` is `None`).
    pub job: Option<JobPrincipal>,
    /// The user named by `Sudo`, whom the request acts as.
    pub sudo: Option<Arc<User>>,
    /// The request acts with administrator powers.
    pub admin: bool,
    /// The group or project the route names.
    pub resource: Resolved,
    /// A credential was presented and refused: answer 401, never say why.
    pub bad_credential: bool,
    /// No credential was presented and one might allow the request: answer 401 so that clients prompt.
    pub needs_credential: bool,
    /// The route is Git over HTTP (the 401 challenge is Basic so that git prompts).
    pub git: bool,
    /// The boundary of the matched route (`None` for an unknown route), to name what was not found.
    pub boundary: Option<Boundary>,
    /// Scopes that would allow a request of this kind on the route, for an `insufficient_scope` answer.
    pub allowing_scopes: &'static [Scope],
}

impl Outcome<'_> {
    fn refused(layer: Layer, reason: Reason) -> Outcome<'static> {
        Outcome {
            allowed: false,
            layer,
            reason,
            detail: None,
            required: &[],
            bundles: &[],
            principal: None,
            job: None,
            sudo: None,
            admin: false,
            resource: Resolved::None,
            bad_credential: false,
            needs_credential: false,
            git: false,
            boundary: None,
            allowing_scopes: &[],
        }
    }

    /// The user the request acts as: the one `Sudo` names, or the token's owner.
    pub fn user(&self) -> Option<&User> {
        self.sudo.as_deref().or(self.principal.as_ref().map(|p| &*p.user)).or(self.job.as_ref().map(|j| &*j.user))
    }

    /// The reasons, in words fit for a user.
    pub fn reasons(&self) -> Vec<&str> {
        let mut reasons = vec![self.reason.text()];
        reasons.extend(self.detail.as_deref());
        reasons
    }
}

impl Authority {
    /// Decides one request, `Sudo` included.
    pub async fn decide_request(&self, request: &Request<'_>) -> Result<Outcome<'_>> {
        let (path, query) = match request.target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (request.target, None),
        };
        let method = canonical_method(request.method);
        let path = match canonical_path(path) {
            Ok(path) => path,
            Err(e) => {
                let mut outcome = Outcome::refused(Layer::Route, Reason::UnknownRoute);
                outcome.detail = Some(e.to_string());
                return Ok(outcome);
            }
        };
        let Some(found) = self.catalog.find(&method, &path, query) else {
            return Ok(Outcome::refused(Layer::Route, Reason::UnknownRoute));
        };
        let route = found.route;
        let safe = method == "GET";
        let refuse = |layer: Layer, reason: Reason| {
            let mut outcome = Outcome::refused(layer, reason);
            outcome.required = &route.required_names;
            outcome.bundles = &route.bundles;
            outcome.git = route.surface.is_git();
            outcome.boundary = Some(route.boundary);
            outcome.allowing_scopes = policy::scopes_allowing(route.surface, safe);
            outcome
        };
        let mut job = None;
        let principal = match request.credential {
            None => None,
            Some(credential) if credential.starts_with(JOB_TOKEN_PREFIX) => {
                match self.authenticate_job(credential, request.ip).await? {
                    Ok(authenticated) => {
                        job = Some(authenticated);
                        None
                    }
                    Err(_) => {
                        let mut outcome = refuse(Layer::Credential, Reason::InactiveCredential);
                        outcome.bad_credential = true;
                        return Ok(outcome);
                    }
                }
            }
            Some(credential) => match self.authenticate(credential, request.ip, is_rotation(&found)).await? {
                Ok(principal) => Some(principal),
                Err(_) => {
                    let mut outcome = refuse(Layer::Credential, Reason::InactiveCredential);
                    outcome.bad_credential = true;
                    return Ok(outcome);
                }
            },
        };
        let admin_mode = match &principal {
            Some(principal) => {
                let settings = self.facts.settings().await?;
                if let Some(reason) = token_refusal(&settings, route.surface, &principal.token) {
                    let lifetime = reason == Reason::LifetimeBeyondPolicy;
                    let mut outcome = refuse(if lifetime { Layer::Credential } else { Layer::Policy }, reason);
                    outcome.bad_credential = lifetime;
                    return Ok(outcome);
                }
                settings.admin_mode
            }
            None => false,
        };
        let credential = principal.as_ref().map(|p| CredentialFacts {
            scopes: p.token.scopes,
            active: true,
            organization_id: p.token.organization_id,
            grants: &p.token.grants,
            rules: &p.token.route_rules,
        });
        let sudo = match (request.sudo, &principal, &credential) {
            (None, _, _) => None,
            (Some(who), Some(principal), Some(credential)) => {
                if let Err((layer, reason)) = policy::sudo(user_facts(&principal.user), credential, admin_mode) {
                    let mut outcome = refuse(layer, reason);
                    if reason == Reason::SudoNeedsScope {
                        outcome.allowing_scopes = &[Scope::Sudo];
                    }
                    return Ok(outcome);
                }
                let Some(user) = self.sudo_target(who).await? else {
                    return Ok(refuse(Layer::Visibility, Reason::SudoUserNotFound));
                };
                Some(user)
            }
            (Some(_), _, _) => {
                let mut outcome = refuse(Layer::Credential, Reason::NoCredential);
                outcome.needs_credential = true;
                return Ok(outcome);
            }
        };
        if job.is_some() && request.sudo.is_some() {
            return Ok(refuse(Layer::TokenReach, Reason::SudoNeedsScope));
        }
        let acting = sudo.as_deref().or(principal.as_ref().map(|p| &*p.user)).or(job.as_ref().map(|j| &*j.user));
        let resource = self.resolve(&found, acting).await?;
        if let Some(principal) = &principal
            && let Some(reason) = self.hierarchy_refusal(&resource, route.surface, &principal.token).await?
        {
            return Ok(refuse(Layer::Policy, reason));
        }
        let names_caller = match (found.param("user_id"), acting) {
            (Some(named), Some(user)) => named.parse::<i64>().is_ok_and(|id| id == user.id),
            _ => false,
        };
        // Allowlist rules see the request's segments with the group or project id resolved (only built for a
        // token that has rules).
        let has_rules = credential.is_some_and(|c| !c.rules.is_empty());
        let resolved_id = match &resource {
            _ if !has_rules => None,
            Resolved::Group(group, _) => Some(group.id.to_string()),
            Resolved::Project(project, _) => Some(project.id.to_string()),
            Resolved::None => None,
        };
        let (surface, segments) = if has_rules {
            rule_segments(&found, &path, resolved_id.as_deref())
        } else {
            (RuleSurface::Api, Vec::new())
        };
        let job_facts = match &job {
            Some(job) => Some(self.job_facts(job, &resource).await?),
            None => None,
        };
        let facts = Facts {
            job: job_facts,
            credential,
            user: acting.map(user_facts),
            resource: facts_of(route.boundary, &resource),
            admin_mode,
            names_caller,
            target: has_rules.then_some(RuleTarget { method: &method, surface, segments: &segments }),
        };
        let decision = policy::authorize(&self.catalog, route, safe, &facts);
        if decision.allowed
            && request.served
            && let Some(principal) = &principal
        {
            self.record_exercise(route, &resource, principal);
        }
        if decision.allowed
            && request.served
            && let Some(job) = &job
        {
            self.record_job_access(job, &resource, route);
        }
        let mut outcome = refuse(decision.layer, decision.reason);
        outcome.allowed = decision.allowed;
        outcome.needs_credential = !decision.allowed && principal.is_none() && job.is_none();
        outcome.job = job;
        outcome.admin = policy::acting_admin(&facts);
        outcome.principal = principal;
        outcome.sudo = sudo;
        outcome.resource = resource;
        Ok(outcome)
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

    /// Whether the token policy of the top-level group above the resource refuses `token` there.
    async fn hierarchy_refusal(
        &self,
        resource: &Resolved,
        surface: catalog::Surface,
        token: &domain::Token,
    ) -> Result<Option<Reason>> {
        let root_id = match resource {
            Resolved::Group(group, _) if group.root_id() == group.id => {
                return Ok(group_refusal(&group.token_policy, surface, token));
            }
            Resolved::Group(group, _) => group.root_id(),
            Resolved::Project(project, _) => match project.root_group_id() {
                Some(id) => id,
                None => return Ok(None),
            },
            Resolved::None => return Ok(None),
        };
        Ok(match self.facts.group(root_id).await? {
            Some(root) => group_refusal(&root.token_policy, surface, token),
            None => None,
        })
    }

    async fn sudo_target(&self, who: &str) -> Result<Option<Arc<User>>> {
        Ok(match who.parse::<i64>() {
            Ok(id) => self.facts.user(id).await?,
            Err(_) => self.store.user_by_username(who).await?.map(Arc::new),
        })
    }

    async fn resolve(&self, found: &RouteMatch<'_, '_>, user: Option<&User>) -> Result<Resolved> {
        match found.route.boundary {
            Boundary::Instance | Boundary::OwnUser => Ok(Resolved::None),
            Boundary::Group => {
                let group = match found.param("id") {
                    Some(id) => self.find_group(&NamespaceRef::parse(id)).await?,
                    None => None,
                };
                let Some(group) = group else { return Ok(Resolved::None) };
                let level = match user {
                    Some(user) => self.group_access(user, &group).await?,
                    None => None,
                };
                Ok(Resolved::Group(group, level))
            }
            Boundary::Project => {
                let project = if let Some(id) = found.param("id") {
                    self.find_project(&NamespaceRef::parse(id)).await?
                } else if let Some(path) = found.param("project") {
                    self.facts.project_by_path(path).await?
                } else if let Some(name) = found.param("name") {
                    self.longest_project_prefix(name).await?
                } else {
                    None
                };
                let Some(project) = project else { return Ok(Resolved::None) };
                let level = match user {
                    Some(user) => self.project_access(user, &project).await?,
                    None => None,
                };
                Ok(Resolved::Project(project, level))
            }
        }
    }

    /// A registry image name is a project path, possibly followed by an image name: the longest known prefix wins.
    async fn longest_project_prefix(&self, name: &str) -> Result<Option<Arc<Project>>> {
        let parts: Vec<&str> = name.split('/').collect();
        for take in (1..=parts.len().min(21)).rev() {
            let candidate = parts.get(..take).map(|p| p.join("/")).unwrap_or_default();
            if let Some(project) = self.facts.project_by_path(&candidate).await? {
                return Ok(Some(project));
            }
        }
        Ok(None)
    }
}

/// The request as allowlist rules see it: `/api/v4` (or `/v2` for the registry) left out, and the `:id` of a
/// group or project route replaced by the id it resolved to, so that no alias of the path escapes a rule.
fn rule_segments<'p>(
    found: &RouteMatch<'_, '_>,
    path: &'p catalog::CanonicalPath,
    resolved_id: Option<&'p str>,
) -> (RuleSurface, Vec<&'p str>) {
    let all: Vec<&str> = path.segments().collect();
    match all.as_slice() {
        ["api", "v4", rest @ ..] => {
            let mut segments = rest.to_vec();
            let names_id =
                matches!(found.route.segments.get(3), Some(catalog::Segment::Param { name, .. }) if name == "id");
            if let (true, Some(id), Some(slot)) = (names_id, resolved_id, segments.get_mut(1)) {
                *slot = id;
            }
            (RuleSurface::Api, segments)
        }
        ["v2", rest @ ..] => (RuleSurface::Registry, rest.to_vec()),
        _ => (RuleSurface::Git, all),
    }
}

/// A rotation route (`…/personal_access_tokens/(\d+|self)/rotate`, as GitLab matches it): a revoked token
/// presented there revokes its whole family.
fn is_rotation(found: &RouteMatch<'_, '_>) -> bool {
    let template = &found.route.template;
    if !(template.starts_with("/api/v4/personal_access_tokens/") && template.ends_with("/rotate")) {
        return false;
    }
    match found.param("token_id") {
        Some(id) => !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()),
        None => true,
    }
}

/// The instance's rules for personal access tokens at use.
pub fn token_rules(settings: &domain::Settings) -> TokenRules {
    TokenRules {
        fine_grained_only: settings.fine_grained_tokens_only,
        fine_grained_only_after: settings.fine_grained_tokens_only_after,
        max_lifetime_days: settings.max_personal_access_token_lifetime,
        expiry_required: settings.require_personal_access_token_expiry,
    }
}

/// Whether the instance's rules refuse `token` on a route of `surface` now (see [`policy::token_rules_refusal`]).
pub fn token_refusal(settings: &domain::Settings, surface: catalog::Surface, token: &domain::Token) -> Option<Reason> {
    policy::token_rules_refusal(
        &token_rules(settings),
        surface,
        token.scopes,
        token.created_at.date(),
        token.expires_at,
    )
}

/// A top-level group's token policy as rules: a maximum lifetime there also refuses tokens that never expire.
fn group_token_rules(policy: &GroupTokenPolicy) -> TokenRules {
    TokenRules {
        fine_grained_only: policy.fine_grained_tokens_only,
        fine_grained_only_after: policy.fine_grained_tokens_only_after,
        max_lifetime_days: policy.max_personal_access_token_lifetime,
        expiry_required: true,
    }
}

/// Whether a top-level group's token policy refuses `token` on its hierarchy, on a route of `surface`.
pub fn group_refusal(policy: &GroupTokenPolicy, surface: catalog::Surface, token: &domain::Token) -> Option<Reason> {
    group_rules_refusal(policy, surface, token.scopes, token.created_at.date(), token.expires_at)
}

/// [`group_refusal`] for a token described by its scopes and lifetime (one being created, say).
pub(crate) fn group_rules_refusal(
    policy: &GroupTokenPolicy,
    surface: catalog::Surface,
    scopes: domain::Scopes,
    created: domain::Date,
    expires: Option<domain::Date>,
) -> Option<Reason> {
    if !policy.is_set() {
        return None;
    }
    match policy::token_rules_refusal(&group_token_rules(policy), surface, scopes, created, expires) {
        Some(Reason::LifetimeBeyondPolicy) => Some(Reason::LifetimeBeyondGroupPolicy),
        other => other,
    }
}

pub(crate) fn user_facts(user: &User) -> UserFacts {
    UserFacts {
        id: user.id,
        is_admin: user.is_admin,
        external: user.external,
        active: user.is_active(),
        service_account: user.user_type == domain::UserType::ServiceAccount,
    }
}

/// The facts of the route's resource. A group or project route that resolved nothing names a missing one.
fn facts_of(boundary: Boundary, resource: &Resolved) -> ResourceFacts<'_> {
    match resource {
        Resolved::Group(group, level) => ResourceFacts::Group {
            organization_id: group.organization_id,
            visibility: group.visibility,
            level: *level,
            groups: &group.traversal_ids,
        },
        Resolved::Project(project, level) => ResourceFacts::Project {
            organization_id: project.organization_id,
            visibility: project.visibility,
            level: *level,
            id: project.id,
            groups: &project.group_traversal_ids,
            owner_user_id: project.owner_user_id,
        },
        Resolved::None => match boundary {
            Boundary::Instance => ResourceFacts::Instance,
            Boundary::OwnUser => ResourceFacts::OwnUser,
            Boundary::Group | Boundary::Project => ResourceFacts::Missing,
        },
    }
}
