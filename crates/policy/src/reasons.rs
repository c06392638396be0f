//! What a decision tells about itself: the layer that decided and the reason, in words fit for a user.
//!
//! **Invariant:** every refusal names one layer and one reason.

/// Which layer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// The route is not in the catalog.
    Route,
    /// The credential: missing, refused, or its user blocked.
    Credential,
    /// The token's scopes do not reach this kind of route.
    TokenReach,
    /// The token's scopes do not allow this request (a read-only scope on a write, say).
    Scope,
    /// The resource belongs to another organization than the token.
    Organization,
    /// The resource is not visible to the user (answered as not found).
    Visibility,
    /// The user's role does not hold the route's permissions.
    Role,
    /// A rule an administrator or a top-level group's owners set for tokens.
    Policy,
    /// A project's inbound job-token allowlist, or its policies.
    Allowlist,
    /// What a CI job declared in `permissions:`, or what its signed token carries.
    JobPermissions,
}

impl Layer {
    /// The name decision answers and headers give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Route => "route",
            Layer::Credential => "credential",
            Layer::TokenReach => "token_reach",
            Layer::Scope => "scope",
            Layer::Organization => "organization",
            Layer::Visibility => "visibility",
            Layer::Role => "role",
            Layer::Policy => "policy",
            Layer::Allowlist => "allowlist",
            Layer::JobPermissions => "job_permissions",
        }
    }
}

/// Why, in words a user can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Nothing refused the request.
    Allowed,
    /// The route is not in the catalog, so it is denied.
    UnknownRoute,
    /// The path has no canonical form (a dot segment, a fragment, a misplaced encoded `/`…): a bad request.
    MalformedPath,
    /// No credential, and the resource is not public.
    NoCredential,
    /// The credential is expired, revoked or not accepted.
    InactiveCredential,
    /// The user is blocked.
    InactiveUser,
    /// The token's scopes do not reach this kind of route.
    OutsideReach,
    /// A read-only scope allows only GET and HEAD.
    ReadOnlyScope,
    /// The token's scopes do not allow this request.
    InsufficientScope,
    /// The fine-grained token's grants do not give what this request needs here.
    InsufficientGranularScope,
    /// The token's route rules allow no request of this method and path.
    OutsideRouteRules,
    /// Only fine-grained personal access tokens are accepted here.
    LegacyTokenRefused,
    /// The token's lifetime exceeds the instance's maximum.
    LifetimeBeyondPolicy,
    /// The token's lifetime exceeds the top-level group's maximum.
    LifetimeBeyondGroupPolicy,
    /// The resource belongs to another organization than the token.
    OtherOrganization,
    /// A project's or group's access token reaches nothing outside its project or group.
    OutsideTokenResource,
    /// The resource does not exist or is not visible to this user.
    NotFound,
    /// The user's role does not grant the required permissions.
    MissingPermission,
    /// Admin Mode is on and the administrator's token lacks the `admin_mode` scope.
    AdminModeRequired,
    /// Acting as another user needs a token with the `sudo` scope.
    SudoNeedsScope,
    /// Acting as another user needs an administrator.
    SudoNeedsAdmin,
    /// The user `Sudo` names does not exist.
    SudoUserNotFound,
    /// CI job tokens may not use this route.
    NotJobTokenRoute,
    /// The project's allowlist names neither the job's project nor its groups.
    NotAllowlisted,
    /// The allowlist entry does not give the job-token policy this request needs.
    AllowlistPolicyMissing,
    /// The job's permissions do not include the policy this request needs.
    JobPermissionMissing,
    /// The job token's signed scope does not include this permission here.
    OutsideJobTokenScope,
    /// Job tokens push only to their own project, and only when it allows them to.
    JobTokenPushRefused,
}

impl Reason {
    /// The reason in words fit for a user.
    pub fn text(self) -> &'static str {
        match self {
            Reason::Allowed => "allowed",
            Reason::UnknownRoute => "the route is not in the catalog, so it is denied",
            Reason::MalformedPath => "the path has no single reading, so it is refused as a bad request",
            Reason::NoCredential => "the request carries no credential and the resource is not public",
            Reason::InactiveCredential => "the credential is expired, revoked or not accepted",
            Reason::InactiveUser => "the user is blocked",
            Reason::OutsideReach => "the token's scopes do not reach this kind of route",
            Reason::ReadOnlyScope => "a read-only scope allows only GET and HEAD",
            Reason::InsufficientScope => "the token's scopes do not allow this request",
            Reason::InsufficientGranularScope => {
                "the fine-grained token's grants do not give the permissions this request needs here"
            }
            Reason::OutsideRouteRules => "the token's route rules allow no request of this method and path",
            Reason::LegacyTokenRefused => "only fine-grained personal access tokens are accepted here",
            Reason::LifetimeBeyondPolicy => "the token's lifetime exceeds the maximum the instance allows",
            Reason::LifetimeBeyondGroupPolicy => "the token's lifetime exceeds the maximum this group allows",
            Reason::OtherOrganization => "the resource belongs to another organization than the token",
            Reason::OutsideTokenResource => {
                "a project or group access token reaches nothing outside its own project or group"
            }
            Reason::NotFound => "the resource does not exist or is not visible to this user",
            Reason::MissingPermission => "the user's role does not grant the required permissions",
            Reason::AdminModeRequired => "Admin Mode is on: an administrator's token needs the admin_mode scope",
            Reason::SudoNeedsScope => "acting as another user (Sudo) needs a token with the sudo scope",
            Reason::SudoNeedsAdmin => "acting as another user (Sudo) needs an administrator",
            Reason::SudoUserNotFound => "the user named by Sudo does not exist",
            Reason::NotJobTokenRoute => "CI job tokens may not use this route",
            Reason::NotAllowlisted => {
                "the project's job token allowlist does not include the job's project or its groups"
            }
            Reason::AllowlistPolicyMissing => {
                "the project's job token allowlist entry does not give the job token policy this request needs"
            }
            Reason::JobPermissionMissing => {
                "the job's permissions do not include the job token policy this request needs"
            }
            Reason::OutsideJobTokenScope => "the job token's signed scope does not include this permission here",
            Reason::JobTokenPushRefused => {
                "job tokens may push only to their own project, and only when the project allows it"
            }
        }
    }
}
