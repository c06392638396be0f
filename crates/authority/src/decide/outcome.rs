//! What a decision answers: the request as a way in presents it, the resource it names, and the outcome with
//! what a caller needs to respond and, when allowed, to act.
//!
//! **Invariant:** an outcome is refused unless the flow sets `allowed` from `policy::authorize`; a refusal on a
//! matched route always carries that route's required permissions, boundary and allowing scopes.

use std::sync::Arc;

use catalog::Boundary;
use domain::{AccessLevel, Channel, CredentialKind, Group, Project, Scope, User};
use policy::{Layer, Reason};

use crate::Authenticated;
use crate::principal::JobPrincipal;

/// A credential as a request presents it: the string, and where in the request it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presented<'a> {
    pub secret: &'a str,
    pub channel: Channel,
    /// The Basic username, when the channel is Basic (a deploy token's must be its own).
    pub username: Option<&'a str>,
}

/// One request, as a way in presents it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// The token presented, if any.
    pub credential: Option<Presented<'a>>,
    pub method: &'a str,
    /// Path and optional query, as the client sent them.
    pub target: &'a str,
    pub ip: Option<&'a str>,
    /// The `Sudo` header: the id or username of the user to act as.
    pub sudo: Option<&'a str>,
    /// The request is being served (REST, forward-auth), not only asked about (the decision API): an allowed one
    /// is noted as exercising its permissions, for `GET /personal_access_tokens/:id/usage`.
    pub served: bool,
    /// Git over SSH: the SSH key the SSH server proved, by id (then `credential` is `None`).
    pub ssh_key: Option<i64>,
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
    pub detail: Option<&'static str>,
    /// Alternatives of permissions that would allow the request.
    pub required: &'a [Vec<String>],
    /// Alternatives of assignable permissions that would let a fine-grained token make the request.
    pub bundles: &'a [Vec<String>],
    /// The credential presented, when it was accepted.
    pub credential: Accepted,
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
    pub(super) fn refused(layer: Layer, reason: Reason) -> Outcome<'static> {
        Outcome {
            allowed: false,
            layer,
            reason,
            detail: None,
            required: &[],
            bundles: &[],
            credential: Accepted::Nothing,
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

    /// The refusal of a path that has no canonical form: a bad request on every way in.
    pub(super) fn malformed(error: catalog::PathError) -> Outcome<'static> {
        let mut outcome = Outcome::refused(Layer::Route, Reason::MalformedPath);
        outcome.detail = Some(error.as_str());
        outcome
    }

    /// Whether the request is a bad one (its path has no canonical form), to be answered 400 by every way in.
    pub fn is_bad_request(&self) -> bool {
        self.reason == Reason::MalformedPath
    }

    /// The user the request acts as: the one `Sudo` names, or the credential's.
    pub fn user(&self) -> Option<&User> {
        self.sudo.as_deref().or(self.credential.user())
    }

    /// Who the accepted credential is, as every way in that answers for it tells it (forward-auth's identity
    /// headers, the decision API's `identity`): a user token, a job token, a feed token or a deploy token.
    /// `None` for an anonymous request and for credentials no answer names (triggers, SSH keys).
    pub fn who(&self) -> Option<Who<'_>> {
        let user = self.user();
        match (&self.credential, user) {
            (Accepted::Token(principal), Some(user)) => {
                let kind = principal.token.kind();
                Some(Who::of_user(user, principal.token.id, kind, principal.token.organization_id))
            }
            (Accepted::Job(job), Some(user)) => {
                let organization_id = job.project.organization_id;
                let who = Who::of_user(user, job.job.id, CredentialKind::CiJobToken, organization_id);
                Some(Who { job: Some((job.job.id, job.project.id)), ..who })
            }
            (Accepted::Feed(secret, _), Some(user)) => {
                Some(Who::of_user(user, secret.id, CredentialKind::FeedToken, user.organization_id))
            }
            (Accepted::Deploy(deploy), _) => Some(Who {
                user_id: None,
                username: &deploy.username,
                token_id: deploy.id,
                job: None,
                kind: CredentialKind::DeployToken,
                organization_id: deploy.organization_id,
            }),
            _ => None,
        }
    }

    /// The reasons, in words fit for a user.
    pub fn reasons(&self) -> Vec<&str> {
        let mut reasons = vec![self.reason.text()];
        reasons.extend(self.detail);
        reasons
    }
}

/// The credential a request presented, as it was accepted: one of a kind, or none (none was presented, or the
/// decision ended before one was accepted).
#[derive(Debug, Clone, Default)]
pub enum Accepted {
    #[default]
    Nothing,
    /// A user token (personal, impersonation, project or group access token), as authenticated.
    Token(Authenticated),
    /// A CI job token's job.
    Job(JobPrincipal),
    Deploy(Arc<domain::DeployToken>),
    /// A pipeline trigger token's trigger, and its owner.
    Trigger(Arc<domain::PipelineTrigger>, Arc<User>),
    /// A feed token, and its user.
    Feed(Arc<domain::UserSecret>, Arc<User>),
    /// The SSH key of a Git-over-SSH request, and its user (none for a deploy key).
    Ssh(Arc<domain::SshKey>, Option<Arc<User>>),
}

impl Accepted {
    /// The user token, when the credential is one.
    pub fn principal(&self) -> Option<&Authenticated> {
        match self {
            Accepted::Token(principal) => Some(principal),
            _ => None,
        }
    }

    /// The CI job, when the credential is its job token.
    pub fn job(&self) -> Option<&JobPrincipal> {
        match self {
            Accepted::Job(job) => Some(job),
            _ => None,
        }
    }

    /// The user the credential acts as (none for a deploy token or a deploy key).
    pub fn user(&self) -> Option<&User> {
        match self {
            Accepted::Nothing | Accepted::Deploy(_) => None,
            Accepted::Token(principal) => Some(&principal.user),
            Accepted::Job(job) => Some(&job.user),
            Accepted::Trigger(_, user) | Accepted::Feed(_, user) => Some(user),
            Accepted::Ssh(_, user) => user.as_deref(),
        }
    }
}

/// Who an accepted credential is ([`Outcome::who`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Who<'o> {
    /// `None` for a deploy token, which has no user.
    pub user_id: Option<i64>,
    /// The user's username, or a deploy token's.
    pub username: &'o str,
    /// The token's id; a job token's is its job's.
    pub token_id: i64,
    /// A job token's job and project.
    pub job: Option<(i64, i64)>,
    pub kind: CredentialKind,
    pub organization_id: i64,
}

impl<'o> Who<'o> {
    fn of_user(user: &'o User, token_id: i64, kind: CredentialKind, organization_id: i64) -> Who<'o> {
        Who { user_id: Some(user.id), username: &user.username, token_id, job: None, kind, organization_id }
    }
}

/// Refusals on a matched route: they carry what an answer needs to know about the route.
#[derive(Clone, Copy)]
pub(super) struct OnRoute<'r> {
    pub(super) route: &'r catalog::Route,
    /// The request only reads (`GET`, and `HEAD` canonicalised to it).
    pub(super) safe: bool,
}

impl<'r> OnRoute<'r> {
    pub(super) fn refuse(self, layer: Layer, reason: Reason) -> Outcome<'r> {
        let mut outcome = Outcome::refused(layer, reason);
        outcome.required = &self.route.required_names;
        outcome.bundles = &self.route.bundles;
        outcome.git = self.route.surface.is_git();
        outcome.boundary = Some(self.route.boundary);
        outcome.allowing_scopes = policy::scopes_allowing(self.route.surface, self.safe);
        outcome
    }

    /// The outcome of a step's refusal on this route.
    pub(super) fn outcome(self, refusal: Refusal) -> Outcome<'r> {
        let mut outcome = self.refuse(refusal.layer, refusal.reason);
        outcome.bad_credential = refusal.bad_credential;
        outcome.needs_credential = refusal.needs_credential;
        if let Some(scopes) = refusal.allowing_scopes {
            outcome.allowing_scopes = scopes;
        }
        outcome
    }
}

/// Why a step of the flow ended the decision, before it is made an [`Outcome`] on the route.
#[derive(Debug, Clone, Copy)]
pub(super) struct Refusal {
    pub(super) layer: Layer,
    pub(super) reason: Reason,
    /// A credential was presented and refused: one 401, whatever the reason.
    pub(super) bad_credential: bool,
    /// No credential was presented and one is needed.
    pub(super) needs_credential: bool,
    /// The scopes that would allow it, when they are not the route's.
    pub(super) allowing_scopes: Option<&'static [Scope]>,
}

impl Refusal {
    /// A credential was presented and refused.
    pub(super) const BAD_CREDENTIAL: Refusal = Refusal {
        layer: Layer::Credential,
        reason: Reason::InactiveCredential,
        bad_credential: true,
        needs_credential: false,
        allowing_scopes: None,
    };

    pub(super) fn new(layer: Layer, reason: Reason) -> Refusal {
        Refusal { layer, reason, bad_credential: false, needs_credential: false, allowing_scopes: None }
    }
}
