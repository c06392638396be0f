//! The decision function: one pure answer to "may this credential do this action on this resource?",
//! with the layer that decided, the permissions that would have been needed, and a reason fit for a user.
//!
//! effective rights = user's current role rights ∩ token reach ∩ scopes ∩ organization ∩ visibility.
//! The caller loads the facts; nothing is fetched here. Whatever is not allowed is denied.
//!
//! **Invariant:** each layer can only deny; what no layer allows is denied.

use catalog::{Catalog, PermSet, Route, Surface};
use domain::{AccessLevel, Date, JobPolicies, MemberSource, Scope, Scopes, Visibility};

use crate::grants::{Reach, granted_compiled};
pub use crate::reasons::{Layer, Reason};
use crate::rules::{RuleTarget, within_rules};

/// The credential presented, as loaded and checked by the caller.
#[derive(Debug, Clone, Copy)]
pub struct CredentialFacts<'a> {
    /// Its scopes (`granular` alone for a fine-grained token).
    pub scopes: Scopes,
    /// Not expired, not revoked, not refused by instance settings.
    pub active: bool,
    /// The organization it belongs to.
    pub organization_id: i64,
    /// A fine-grained token's grants (its scopes are then `granular`), read once when the token was loaded;
    /// empty for any other.
    pub grants: &'a [crate::CompiledGrant],
    /// Allowlist rules, read once when the token was loaded: when any are set, a request must match one (see
    /// [`crate::RuleTarget`]).
    pub rules: &'a [crate::CompiledRule],
    /// For a project or group access token, its project or group: it reaches no other group or project (a
    /// group's token: the group, its subgroups and their projects), and of the instance only what anyone may.
    pub bound: Option<MemberSource>,
}

/// The user the request acts as.
#[derive(Debug, Clone, Copy)]
pub struct UserFacts {
    /// The user's id.
    pub id: i64,
    /// An administrator (whose powers may also need Admin Mode).
    pub is_admin: bool,
    /// An external user: sees no internal group or project unless a member.
    pub external: bool,
    /// Not blocked.
    pub active: bool,
    /// A service account.
    pub service_account: bool,
}

/// The resource at the route's boundary, with the user's access level on it.
#[derive(Debug, Clone, Copy)]
pub enum ResourceFacts<'a> {
    /// The instance as a whole.
    Instance,
    /// The user the request acts as.
    OwnUser,
    /// A group that exists.
    Group {
        /// The group's organization.
        organization_id: i64,
        /// The group's visibility.
        visibility: Visibility,
        /// The user's highest level on it or an ancestor, if a member.
        level: Option<AccessLevel>,
        /// The group's ancestors, root first, then the group itself.
        groups: &'a [i64],
    },
    /// A project that exists.
    Project {
        /// The project's organization.
        organization_id: i64,
        /// The project's visibility.
        visibility: Visibility,
        /// The user's highest level on it or a group above it, if a member.
        level: Option<AccessLevel>,
        /// The project's id.
        id: i64,
        /// The project's group ancestors, root first (empty in a user's namespace).
        groups: &'a [i64],
        /// The user whose namespace holds the project.
        owner_user_id: Option<i64>,
    },
    /// The route names a group or project that does not exist.
    Missing,
}

impl ResourceFacts<'_> {
    /// Where a fine-grained token's grants are asked to apply.
    fn reach(&self) -> Option<Reach<'_>> {
        match *self {
            ResourceFacts::Instance => Some(Reach::Instance),
            ResourceFacts::OwnUser => Some(Reach::User),
            ResourceFacts::Group { groups, .. } => Some(Reach::Group { groups }),
            ResourceFacts::Project { id, groups, owner_user_id, .. } => {
                Some(Reach::Project { id, groups, owner_user_id })
            }
            ResourceFacts::Missing => None,
        }
    }
}

/// A CI job token, as its verified claims, its job and the resource's allowlist give it for this request.
#[derive(Debug, Clone, Copy)]
pub struct JobFacts {
    /// The policies the token's signed scope binds to this resource.
    pub in_scope: JobPolicies,
    /// What the resource lets the job's project do: the nearest allowlist entry's policies (all for the job's own
    /// project and hierarchy), `None` when nothing lets it in.
    pub allowlisted: Option<JobPolicies>,
    /// What the job declared in `permissions:` (or the default set).
    pub declared: JobPolicies,
    /// The job runs in legacy mode: the triggering user's role on the job-token routes, allowlist membership only.
    pub legacy: bool,
    /// The token may push to the resource (its own project, with the project's setting on).
    pub push_allowed: bool,
    /// The organization of the job's project.
    pub organization_id: i64,
}

/// A deploy token, as authenticated by the caller: it has no user; its scopes give it what the catalog's
/// `deploy_*` rows say, on its own project (a group's: the group's projects), on the surfaces its kind reaches.
#[derive(Debug, Clone, Copy)]
pub struct DeployFacts {
    /// A deploy token, or a deploy key (whose `can_push` is `write_repository`).
    pub kind: domain::CredentialKind,
    /// Its scopes.
    pub scopes: Scopes,
    /// Its project or group.
    pub resource: MemberSource,
    /// The organization of its project or group.
    pub organization_id: i64,
}

/// A pipeline trigger token, as authenticated by the caller: it acts as its owner (`Facts.user`, with the owner's
/// current role), on the trigger route of its own project only.
#[derive(Debug, Clone, Copy)]
pub struct TriggerFacts {
    /// The trigger's project.
    pub project_id: i64,
    /// The organization of its project.
    pub organization_id: i64,
}

/// Everything the decision reads, loaded by the caller.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// The personal or impersonation token presented, if any.
    pub credential: Option<CredentialFacts<'a>>,
    /// Set when the credential is a CI job token (then `credential` is `None` and `user` is the triggering user).
    pub job: Option<JobFacts>,
    /// Set when the credential is a deploy token (then `credential`, `job` and `user` are `None`).
    pub deploy: Option<DeployFacts>,
    /// Set when the credential is a pipeline trigger token (then `credential` and `job` are `None`, and `user` is
    /// the trigger's owner).
    pub trigger: Option<TriggerFacts>,
    /// The user the request acts as: the token's owner, the one `Sudo` names, or a job's triggering user.
    pub user: Option<UserFacts>,
    /// The resource at the route's boundary.
    pub resource: ResourceFacts<'a>,
    /// Instance setting: administrator powers need the `admin_mode` scope.
    pub admin_mode: bool,
    /// The route's `:user_id` names the user the request acts as (a member leaving a group or project).
    pub names_caller: bool,
    /// The request as allowlist rules see it; needed when the credential carries rules (without it, a credential
    /// with rules is refused).
    pub target: Option<RuleTarget<'a>>,
}

/// The answer of [`authorize`].
#[derive(Debug, Clone, Copy)]
pub struct Decision<'c> {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// The layer that decided.
    pub layer: Layer,
    /// Why, in a form each way in renders its own way.
    pub reason: Reason,
    /// Alternatives of permissions that would allow the request (empty for an unknown route).
    pub required: &'c [Vec<String>],
    /// Alternatives of assignable permissions that would let a fine-grained token make the request.
    pub bundles: &'c [Vec<String>],
}

impl Decision<'_> {
    fn deny(layer: Layer, reason: Reason, route: &Route) -> Decision<'_> {
        Decision { allowed: false, layer, reason, required: &route.required_names, bundles: &route.bundles }
    }
}

/// Denies an unknown route.
pub fn unknown_route() -> Decision<'static> {
    Decision { allowed: false, layer: Layer::Route, reason: Reason::UnknownRoute, required: &[], bundles: &[] }
}

/// The scopes that would allow a request of this kind (`safe`: GET or HEAD) on `surface`.
pub fn scopes_allowing(surface: Surface, safe: bool) -> &'static [Scope] {
    accepted(surface, safe).1
}

/// Scopes that reach a surface at all, and those that allow a request of this method on it.
fn accepted(surface: Surface, safe: bool) -> (&'static [Scope], &'static [Scope]) {
    use Scope::*;
    match surface {
        Surface::Api | Surface::Packages => (&[Api, ReadApi], if safe { &[Api, ReadApi] } else { &[Api] }),
        Surface::User => (&[Api, ReadApi, ReadUser], if safe { &[Api, ReadApi, ReadUser] } else { &[Api] }),
        Surface::TokenSelf => (&Scope::ALL, &Scope::ALL),
        Surface::TokenSelfRotate => (&[Api, SelfRotate], &[Api, SelfRotate]),
        Surface::GitRead => (
            &[Api, ReadApi, ReadRepository, WriteRepository],
            if safe {
                &[Api, ReadApi, ReadRepository, WriteRepository]
            } else {
                &[Api, ReadRepository, WriteRepository]
            },
        ),
        Surface::GitWrite => (&[Api, ReadApi, ReadRepository, WriteRepository], &[Api, WriteRepository]),
        Surface::RegistryRead => (
            &[Api, ReadApi, ReadRegistry, WriteRegistry],
            if safe { &[Api, ReadApi, ReadRegistry, WriteRegistry] } else { &[Api, ReadRegistry, WriteRegistry] },
        ),
        Surface::RegistryWrite => (&[Api, ReadApi, ReadRegistry, WriteRegistry], &[Api, WriteRegistry]),
        Surface::Decide => (&[Api, Authorize], &[Api, Authorize]),
        // Trigger tokens alone, which hold no scope.
        Surface::Trigger => (&[], &[]),
        // Feeds are read: a feed token is worth `read_api` there.
        Surface::Feed => (&[Api, ReadApi], if safe { &[Api, ReadApi] } else { &[] }),
    }
}

/// Whether the request acts with administrator powers: an administrator, and with Admin Mode on, a token that
/// carries `admin_mode` (a request without a token, such as a signed-in session, never does then).
pub fn acting_admin(facts: &Facts<'_>) -> bool {
    if facts.job.is_some() {
        return false;
    }
    match (&facts.user, &facts.credential) {
        (Some(user), Some(credential)) => {
            user.is_admin && (!facts.admin_mode || credential.scopes.contains(Scope::AdminMode))
        }
        (Some(user), None) => user.is_admin && !facts.admin_mode,
        _ => false,
    }
}

/// Rules an administrator sets for personal access tokens, applied at every use, not only at creation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenRules {
    /// Legacy (scope-based) tokens are refused.
    pub fine_grained_only: bool,
    /// With `fine_grained_only`: only legacy tokens created after this date are refused.
    pub fine_grained_only_after: Option<Date>,
    /// The longest lifetime (creation to expiry, in days) a token may have.
    pub max_lifetime_days: Option<i64>,
    /// Whether a token must expire: then a token without expiry is beyond any maximum lifetime.
    pub expiry_required: bool,
}

impl TokenRules {
    /// Whether a legacy token created on `created` falls under `fine_grained_only`.
    pub fn refuses_legacy(&self, created: Date) -> bool {
        self.fine_grained_only && self.fine_grained_only_after.is_none_or(|after| created > after)
    }
}

/// Whether `rules` refuse a token now: its lifetime is beyond the maximum (`LifetimeBeyondPolicy`, a credential
/// failure), or it is a legacy token the rules no longer accept (`LegacyTokenRefused`; not on routes a token
/// uses on itself, so that it can still be seen, revoked or rotated away).
pub fn token_rules_refusal(
    rules: &TokenRules,
    surface: Surface,
    scopes: Scopes,
    created: Date,
    expires: Option<Date>,
) -> Option<Reason> {
    if let Some(max) = rules.max_lifetime_days
        && match expires {
            Some(expires) => expires.days() - created.days() > max,
            None => rules.expiry_required,
        }
    {
        return Some(Reason::LifetimeBeyondPolicy);
    }
    let on_itself = matches!(surface, Surface::TokenSelf | Surface::TokenSelfRotate);
    if !scopes.is_granular() && !on_itself && rules.refuses_legacy(created) {
        return Some(Reason::LegacyTokenRefused);
    }
    None
}

/// Whether a token's owner may act as another user (`Sudo`), as GitLab's `sudo!` decides: an administrator
/// (acting as one now), with a token that carries the `sudo` scope.
pub fn sudo(owner: UserFacts, credential: &CredentialFacts<'_>, admin_mode: bool) -> Result<(), (Layer, Reason)> {
    let facts = Facts {
        credential: Some(*credential),
        job: None,
        deploy: None,
        trigger: None,
        user: Some(owner),
        resource: ResourceFacts::Instance,
        admin_mode,
        names_caller: false,
        target: None,
    };
    if !acting_admin(&facts) {
        return Err((Layer::Role, Reason::SudoNeedsAdmin));
    }
    if !credential.scopes.contains(Scope::Sudo) {
        return Err((Layer::Scope, Reason::SudoNeedsScope));
    }
    Ok(())
}

/// Whether a user with `level` on a group or project (every permission, with administrator powers) holds
/// `permission` there by the role matrix: for rules past the route, such as the level a member may grant or the
/// namespace a project may be put in. An unknown permission is held by nobody.
pub fn role_grants(catalog: &Catalog, admin: bool, level: Option<AccessLevel>, permission: &str) -> bool {
    let Some(permission) = catalog.permission(permission) else { return false };
    if admin {
        return catalog.admin().contains(permission);
    }
    level.is_some_and(|level| catalog.level(level).contains(permission))
}

/// What a user (or, without one, anyone) holds on a group or project by their level and its visibility,
/// administrator powers included; `None` when they may not see it.
pub fn held_on(
    catalog: &Catalog,
    user: Option<UserFacts>,
    admin: bool,
    visibility: Visibility,
    level: Option<AccessLevel>,
) -> Option<PermSet> {
    let signed_in = user.is_some();
    let external = user.is_some_and(|u| u.external);
    let visible = admin
        || level.is_some()
        || match visibility {
            Visibility::Public => true,
            Visibility::Internal => signed_in && !external,
            Visibility::Private => false,
        };
    if !visible {
        return None;
    }
    let mut held = level.map(|l| catalog.level(l)).unwrap_or_default();
    match visibility {
        Visibility::Public => held = held.union(catalog.public()),
        Visibility::Internal if signed_in && !external => held = held.union(catalog.internal()),
        _ => {}
    }
    if admin {
        held = held.union(catalog.admin());
    }
    Some(held)
}

/// Decides one request on a matched route. `safe` is true for GET (and HEAD, canonicalised to GET).
pub fn authorize<'c>(catalog: &'c Catalog, route: &'c Route, safe: bool, facts: &Facts<'_>) -> Decision<'c> {
    if let Some(deploy) = &facts.deploy {
        return deploy_decision(catalog, route, deploy, &facts.resource);
    }
    // The trigger route takes trigger tokens alone, and a trigger token reaches nothing but its own project's.
    match &facts.trigger {
        None if route.surface == Surface::Trigger && facts.job.is_none() => {
            return Decision::deny(Layer::TokenReach, Reason::OutsideReach, route);
        }
        Some(_) if route.surface != Surface::Trigger => {
            return Decision::deny(Layer::TokenReach, Reason::OutsideReach, route);
        }
        Some(trigger) => match facts.resource {
            ResourceFacts::Project { id, organization_id, .. }
                if id == trigger.project_id && organization_id == trigger.organization_id => {}
            _ => return Decision::deny(Layer::Visibility, Reason::OutsideTokenResource, route),
        },
        None => {}
    }
    if facts.credential.is_some_and(|c| !c.active) {
        return Decision::deny(Layer::Credential, Reason::InactiveCredential, route);
    }
    if let Some(credential) = facts.credential.filter(|c| !c.scopes.is_granular()) {
        let (reach, allowed) = accepted(route.surface, safe);
        if !reach.iter().any(|s| credential.scopes.contains(*s)) {
            return Decision::deny(Layer::TokenReach, Reason::OutsideReach, route);
        }
        if !allowed.iter().any(|s| credential.scopes.contains(*s)) {
            let read_only = !safe && reach.iter().any(|s| credential.scopes.contains(*s));
            let reason = if read_only && credential.scopes.contains(Scope::ReadApi) {
                Reason::ReadOnlyScope
            } else {
                Reason::InsufficientScope
            };
            return Decision::deny(Layer::Scope, reason, route);
        }
    }
    if let Some(job) = &facts.job
        && let Some((layer, reason)) = job_refusal(route, job)
    {
        return Decision::deny(layer, reason, route);
    }
    if facts.user.is_some_and(|u| !u.active) {
        return Decision::deny(Layer::Credential, Reason::InactiveUser, route);
    }
    let admin = acting_admin(facts);
    let signed_in = facts.user.is_some();
    let mut held = match facts.resource {
        ResourceFacts::Missing => return Decision::deny(Layer::Visibility, Reason::NotFound, route),
        // A project's or group's token holds of the instance only what anyone does.
        ResourceFacts::Instance if facts.credential.is_some_and(|c| c.bound.is_some()) => catalog.anyone(),
        ResourceFacts::Instance => {
            let mut held = if signed_in { catalog.signed_in() } else { catalog.anyone() };
            if admin {
                held = held.union(catalog.admin());
            }
            let service_account = facts.user.is_some_and(|u| u.service_account);
            if service_account && facts.credential.as_ref().is_some_and(|c| c.scopes.contains(Scope::Authorize)) {
                held = held.union(catalog.service_account());
            }
            held
        }
        ResourceFacts::OwnUser => {
            if !signed_in {
                return Decision::deny(Layer::Credential, Reason::NoCredential, route);
            }
            if facts.job.is_some() { catalog.job_self() } else { catalog.own_user() }
        }
        ResourceFacts::Group { organization_id, visibility, level, .. }
        | ResourceFacts::Project { organization_id, visibility, level, .. } => {
            let token_organization =
                facts.credential.map(|c| c.organization_id).or(facts.job.map(|j| j.organization_id));
            if token_organization.is_some_and(|id| id != organization_id) {
                return Decision::deny(Layer::Organization, Reason::OtherOrganization, route);
            }
            if let Some(bound) = facts.credential.and_then(|c| c.bound)
                && !within_bound(bound, &facts.resource)
            {
                return Decision::deny(Layer::Visibility, Reason::OutsideTokenResource, route);
            }
            let Some(mut held) = held_on(catalog, facts.user, admin, visibility, level) else {
                let reason = if signed_in { Reason::NotFound } else { Reason::NoCredential };
                return Decision::deny(Layer::Visibility, reason, route);
            };
            if facts.names_caller {
                held = held.union(catalog.target_self());
            }
            held
        }
    };
    if let Some(granted) = granted_here(route, facts) {
        if !route.required.iter().any(|needed| granted.covers(needed)) {
            return Decision::deny(Layer::Scope, Reason::InsufficientGranularScope, route);
        }
        held = held.intersect(granted);
    }
    if route.required.iter().any(|needed| held.covers(needed)) {
        if !within_route_rules(route, facts) {
            return Decision::deny(Layer::Scope, Reason::OutsideRouteRules, route);
        }
        return Decision {
            allowed: true,
            layer: Layer::Role,
            reason: Reason::Allowed,
            required: &route.required_names,
            bundles: &route.bundles,
        };
    }
    let held_as_admin = held.union(catalog.admin());
    let reason = if !signed_in {
        Reason::NoCredential
    } else if !admin
        && facts.user.is_some_and(|u| u.is_admin)
        && route.required.iter().any(|needed| held_as_admin.covers(needed))
    {
        Reason::AdminModeRequired
    } else {
        Reason::MissingPermission
    };
    Decision::deny(Layer::Role, reason, route)
}

/// A deploy token's answer: only on the surfaces its kind reaches, only inside its project or group, and only
/// what its scopes give there; no role, no visibility (a private project's deploy token reaches it).
fn deploy_decision<'c>(
    catalog: &'c Catalog,
    route: &'c Route,
    deploy: &DeployFacts,
    resource: &ResourceFacts<'_>,
) -> Decision<'c> {
    if !deploy.kind.spec().reaches(route.surface) {
        return Decision::deny(Layer::TokenReach, Reason::OutsideReach, route);
    }
    match *resource {
        ResourceFacts::Missing => return Decision::deny(Layer::Visibility, Reason::NotFound, route),
        ResourceFacts::Instance | ResourceFacts::OwnUser => {
            return Decision::deny(Layer::TokenReach, Reason::OutsideReach, route);
        }
        ResourceFacts::Group { organization_id, .. } | ResourceFacts::Project { organization_id, .. } => {
            if organization_id != deploy.organization_id {
                return Decision::deny(Layer::Organization, Reason::OtherOrganization, route);
            }
        }
    }
    if !within_bound(deploy.resource, resource) {
        return Decision::deny(Layer::Visibility, Reason::OutsideTokenResource, route);
    }
    let held = catalog.deploy(deploy.scopes);
    if !route.required.iter().any(|needed| held.covers(needed)) {
        return Decision::deny(Layer::Scope, Reason::InsufficientScope, route);
    }
    Decision {
        allowed: true,
        layer: Layer::Scope,
        reason: Reason::Allowed,
        required: &route.required_names,
        bundles: &route.bundles,
    }
}

/// Whether a group or project is inside the resource a project's or group's token is bound to: the project
/// itself, or the group and everything under it.
fn within_bound(bound: MemberSource, resource: &ResourceFacts<'_>) -> bool {
    match (bound, *resource) {
        (MemberSource::Project(bound), ResourceFacts::Project { id, .. }) => id == bound,
        (MemberSource::Group(bound), ResourceFacts::Project { groups, .. } | ResourceFacts::Group { groups, .. }) => {
            groups.contains(&bound)
        }
        _ => false,
    }
}

/// Whether a CI job token is refused on this route before roles are asked: a route job tokens may not use, a
/// resource whose allowlist does not let the job in, a policy the allowlist entry, the job's declaration or the
/// signed scope lacks, or a push that is not allowed. In legacy mode, only reach and allowlist membership count.
fn job_refusal(route: &Route, job: &JobFacts) -> Option<(Layer, Reason)> {
    let Some(needed) = route.job_token else { return Some((Layer::TokenReach, Reason::NotJobTokenRoute)) };
    let Some(allowlisted) = job.allowlisted else { return Some((Layer::Allowlist, Reason::NotAllowlisted)) };
    if route.surface == Surface::GitWrite && !job.push_allowed {
        return Some((Layer::Policy, Reason::JobTokenPushRefused));
    }
    if job.legacy {
        return None;
    }
    if !allowlisted.covers(needed) {
        return Some((Layer::Allowlist, Reason::AllowlistPolicyMissing));
    }
    if !job.declared.covers(needed) {
        return Some((Layer::JobPermissions, Reason::JobPermissionMissing));
    }
    if !job.in_scope.covers(needed) {
        return Some((Layer::JobPermissions, Reason::OutsideJobTokenScope));
    }
    None
}

/// What a fine-grained token's grants give on this route's resource, or `None` when the credential is not a
/// fine-grained token or the route is one any token may use on itself (show, revoke or rotate itself).
fn granted_here(route: &Route, facts: &Facts<'_>) -> Option<PermSet> {
    let credential = facts.credential.filter(|c| c.scopes.is_granular())?;
    if matches!(route.surface, Surface::TokenSelf | Surface::TokenSelfRotate) {
        return None;
    }
    let owner = facts.user.map_or(0, |u| u.id);
    let reach = facts.resource.reach();
    Some(
        reach.map_or_else(PermSet::default, |reach| granted_compiled(credential.grants, owner, &reach, route.boundary)),
    )
}

/// Whether the credential's allowlist rules (if any) let this request through. A token may always see, revoke
/// and rotate itself.
fn within_route_rules(route: &Route, facts: &Facts<'_>) -> bool {
    let Some(credential) = facts.credential.filter(|c| !c.rules.is_empty()) else { return true };
    if matches!(route.surface, Surface::TokenSelf | Surface::TokenSelfRotate) {
        return true;
    }
    facts.target.is_some_and(|target| within_rules(credential.rules, &target))
}
