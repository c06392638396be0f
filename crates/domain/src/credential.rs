//! The one table of credential kinds: for each kind Tessera issues, its prefix, whether it is routable, where
//! its secret is checked, which routes and surfaces it may reach, which scopes it may hold, and its lifecycle.
//! Authentication, the decision, the inventories and the audit log read it; a new kind is a row here (and its
//! storage), not a new path through every layer.
//!
//! **Invariant:** every kind is in [`CredentialKind::ALL`] exactly once and [`CredentialKind::spec`] answers its
//! own row; a presented string is routed to a check by its prefix alone, a string no row claims is refused
//! before any storage is read, and a kind is accepted only through a [`Channel`] its row names.

use std::fmt;

use crate::{Scope, Surface};

/// Every kind of credential Tessera issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// A user's own token (`glpat-`), legacy (scopes) or fine-grained (grants).
    PersonalAccessToken,
    /// A token an administrator makes to act as a user (`glpat-`, stored with the personal ones).
    ImpersonationToken,
    /// A CI runner's token (`glrt-`), for the internal CI API only.
    RunnerAuthenticationToken,
    /// A CI job's `CI_JOB_TOKEN` (`glcbt-` + a signed JWT), alive while its job runs.
    CiJobToken,
    /// A project access token (`glpat-`): the token of a bot user that is a member of one project.
    ProjectAccessToken,
    /// A group access token (`glpat-`): the token of a bot user that is a member of one group.
    GroupAccessToken,
    /// A deploy token (`gldt-`) of a project or a group: Git reads, the container and package registries, no
    /// user and no REST API.
    DeployToken,
    /// A pipeline trigger token (`glptt-` and 40 hex digits): runs pipelines of its project as its owner, and
    /// nothing else.
    PipelineTriggerToken,
    /// A user's feed token (`glft-`, one per user): reads the feeds their user may read, nothing else.
    FeedToken,
    /// A user's incoming-email token (`glimt-`, one per user): names its user in an incoming e-mail address, and
    /// is no credential of any request.
    IncomingEmailToken,
    /// A deploy key: an SSH key enabled on projects, read-only or with `can_push`; Git over SSH alone.
    DeployKey,
    /// A user's own SSH key: Git over SSH as the user, with the user's current role.
    SshKey,
}

/// Where in a request a credential is presented. Each kind's row names the channels it may arrive through;
/// anything else is refused exactly as an unknown token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The `PRIVATE-TOKEN` header.
    PrivateTokenHeader,
    /// The `JOB-TOKEN` header.
    JobTokenHeader,
    /// The `DEPLOY-TOKEN` header.
    DeployTokenHeader,
    /// `Authorization: Bearer`.
    Bearer,
    /// `Authorization: Basic` with the token as password and any username but `gitlab-ci-token` (a deploy
    /// token's must be its own username).
    Basic,
    /// `Authorization: Basic` with the username `gitlab-ci-token`, as runners clone and push.
    BasicCiToken,
    /// The `private_token` parameter, in the query or a form body.
    PrivateTokenParam,
    /// The `job_token` parameter, in the query or a form body.
    JobTokenParam,
    /// The `token` parameter of the pipeline trigger route, in the query or the body.
    TriggerTokenParam,
    /// The `feed_token` parameter, in the query.
    FeedTokenParam,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 10] = [
        Channel::PrivateTokenHeader,
        Channel::JobTokenHeader,
        Channel::DeployTokenHeader,
        Channel::Bearer,
        Channel::Basic,
        Channel::BasicCiToken,
        Channel::PrivateTokenParam,
        Channel::JobTokenParam,
        Channel::TriggerTokenParam,
        Channel::FeedTokenParam,
    ];

    /// The Basic username that marks a CI job's token.
    pub const CI_TOKEN_USER: &'static str = "gitlab-ci-token";

    /// The channel's name, as the decision API takes it: the header or parameter name as GitLab spells it, or
    /// the `Authorization` scheme.
    pub const fn name(self) -> &'static str {
        match self {
            Channel::PrivateTokenHeader => "PRIVATE-TOKEN",
            Channel::JobTokenHeader => "JOB-TOKEN",
            Channel::DeployTokenHeader => "DEPLOY-TOKEN",
            Channel::Bearer => "Bearer",
            Channel::Basic => "Basic",
            Channel::BasicCiToken => "Basic gitlab-ci-token",
            Channel::PrivateTokenParam => "private_token",
            Channel::JobTokenParam => "job_token",
            Channel::TriggerTokenParam => "token",
            Channel::FeedTokenParam => "feed_token",
        }
    }

    /// The channel a name names; exact, never folded.
    pub fn parse(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|channel| channel.name() == name)
    }

    /// The Basic channel a username selects.
    pub fn basic(username: &str) -> Channel {
        if username == Channel::CI_TOKEN_USER { Channel::BasicCiToken } else { Channel::Basic }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a presented secret is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretHome {
    /// The keyed digest of the string is looked up among the stored tokens of users.
    TokenDigest,
    /// The keyed digest of the string is looked up among the runners.
    RunnerDigest,
    /// No digest is stored: the string is a JWT verified against the published signing keys, and the job it
    /// names is then read.
    SignedJwt,
    /// The keyed digest of the string is looked up among the deploy tokens.
    DeployDigest,
    /// The keyed digest of the string is looked up among the pipeline triggers.
    TriggerDigest,
    /// The keyed digest of the string is looked up among users' feed and incoming-email tokens.
    UserSecretDigest,
    /// No secret reaches Tessera: the SSH server proved the key, and names it by its id or fingerprint.
    SshKey,
}

/// Which routes a kind may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Routes of [`KindSpec::surfaces`], by the token's scopes or grants within its owner's role.
    Scoped,
    /// Routes whose job-token column names the policies the job's token holds (the catalog's JOB column).
    JobPolicies,
    /// The internal CI API alone (`/api/v4/internal/ci/jobs…`), where the handler checks what the runner serves.
    InternalCi,
    /// Routes of [`KindSpec::surfaces`] on the deploy token's own project (a group's: the group's projects), by
    /// what its scopes give there; it has no user and no role.
    Deploy,
    /// The pipeline trigger route of its own project, as its owner with the owner's current role there.
    Trigger,
    /// No route: only the lookup of an incoming e-mail address, which takes it inside the address.
    IncomingEmail,
    /// Git over SSH, decided through `internal/allowed` on the Git routes of the repository it names.
    Ssh,
}

/// How a kind's credentials live and end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    /// It carries an expiry date, bounded by the instance's and the top-level group's maximum lifetime.
    pub expires: bool,
    /// It ends with the CI job that holds it (and at most its timeout plus a grace period later).
    pub ends_with_job: bool,
    /// It may be rotated: revoked and replaced by a successor in one transaction.
    pub rotatable: bool,
    /// Presenting a rotated-away member again revokes its whole family.
    pub family_revocation: bool,
    /// It may be revoked on its own.
    pub revocable: bool,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindSpec {
    /// The kind this row describes.
    pub kind: CredentialKind,
    /// GitLab's name of the kind, as gateways, inventories and audit event names show it.
    pub name: &'static str,
    /// The entity type its audit events are recorded against.
    pub audit_entity: &'static str,
    /// The prefix of its strings (a personal token's may be configured per instance).
    pub prefix: &'static str,
    /// Its string carries GitLab's routable payload (cell, organization, user) and a CRC.
    pub routable: bool,
    /// Where a presented string's secret is checked.
    pub secret: SecretHome,
    /// The channels it may be presented through; the first is the one the decision API assumes when none is
    /// named.
    pub channels: &'static [Channel],
    /// Which routes it may reach.
    pub reach: Reach,
    /// The route surfaces it may reach when its reach is [`Reach::Scoped`]; none otherwise.
    pub surfaces: &'static [Surface],
    /// The scopes it may hold; none for a kind whose reach is not scoped.
    pub scopes: &'static [Scope],
    /// How its credentials live and end.
    pub lifecycle: Lifecycle,
    /// It is listed in the credential inventories of administrators and top-level group owners.
    pub inventoried: bool,
}

/// Every surface a user's token may reach: all but the trigger route, which takes trigger tokens alone.
const USER_SURFACES: &[Surface] = &[
    Surface::Api,
    Surface::User,
    Surface::TokenSelf,
    Surface::TokenSelfRotate,
    Surface::GitRead,
    Surface::GitWrite,
    Surface::RegistryRead,
    Surface::RegistryWrite,
    Surface::Packages,
    Surface::Decide,
    Surface::Feed,
];

const USER_TOKEN: Lifecycle =
    Lifecycle { expires: true, ends_with_job: false, rotatable: true, family_revocation: true, revocable: true };

/// The scopes a user's token may hold: every scope but the package-registry pair, which deploy tokens alone hold.
pub const USER_SCOPES: [Scope; 19] = {
    let mut out = [Scope::Api; 19];
    let (mut i, mut j) = (0, 0);
    while i < Scope::ALL.len() {
        let scope = Scope::ALL[i];
        if !matches!(scope, Scope::ReadPackageRegistry | Scope::WritePackageRegistry) {
            // More than 19 kept is a compile error: the array would be indexed past its end.
            out[j] = scope;
            j += 1;
        }
        i += 1;
    }
    out
};

/// GitLab's deploy token scopes (`DeployToken::AVAILABLE_SCOPES`): every scope of [`DEPLOYED_SCOPES`] but the last.
pub const DEPLOY_SCOPES: &[Scope] = match DEPLOYED_SCOPES.split_last() {
    Some((_, deploy_tokens)) => deploy_tokens,
    None => &[],
};

/// The scopes that give a credential of no user (deploy tokens, deploy keys) what the catalog's `deploy_*` rows
/// say: the deploy tokens' own, then a deploy key's `write_repository` (its `can_push`), last.
pub const DEPLOYED_SCOPES: [Scope; 8] = [
    Scope::ReadRepository,
    Scope::ReadRegistry,
    Scope::WriteRegistry,
    Scope::ReadPackageRegistry,
    Scope::WritePackageRegistry,
    Scope::ReadVirtualRegistry,
    Scope::WriteVirtualRegistry,
    Scope::WriteRepository,
];

/// A user's own token or an impersonation token: both are stored, scoped and rotated alike.
const fn user_token(kind: CredentialKind, name: &'static str) -> KindSpec {
    KindSpec {
        kind,
        name,
        audit_entity: "PersonalAccessToken",
        prefix: "glpat-",
        routable: true,
        secret: SecretHome::TokenDigest,
        channels: &[Channel::PrivateTokenHeader, Channel::PrivateTokenParam, Channel::Bearer, Channel::Basic],
        reach: Reach::Scoped,
        surfaces: USER_SURFACES,
        scopes: &USER_SCOPES,
        lifecycle: USER_TOKEN,
        inventoried: true,
    }
}

/// The scopes GitLab gives the bots of project and group access tokens (`available_scopes_for(Project|Group)`):
/// no `read_user`, no administrator scope, and not Tessera's `authorize`; or the fine-grained marker, for grants
/// on the bot's own project or group.
pub const BOT_SCOPES: [Scope; 14] = [
    Scope::Api,
    Scope::ReadApi,
    Scope::ReadRepository,
    Scope::WriteRepository,
    Scope::ReadRegistry,
    Scope::WriteRegistry,
    Scope::ReadVirtualRegistry,
    Scope::WriteVirtualRegistry,
    Scope::CreateRunner,
    Scope::ManageRunner,
    Scope::K8sProxy,
    Scope::SelfRotate,
    Scope::AiFeatures,
    Scope::Granular,
];

/// A project's or group's access token: a user token of its bot, stored, rotated and presented alike, with the
/// scopes GitLab allows bots.
const fn resource_token(kind: CredentialKind, name: &'static str) -> KindSpec {
    KindSpec { kind, name, scopes: &BOT_SCOPES, ..user_token(kind, name) }
}

/// How every stored credential that is no user token lives (deploy tokens, triggers, feed and incoming-email
/// tokens, SSH keys): it may expire and be revoked (or removed), and is never rotated.
const REVOCABLE: Lifecycle =
    Lifecycle { expires: true, ends_with_job: false, rotatable: false, family_revocation: false, revocable: true };

const KINDS: [KindSpec; 12] = [
    user_token(CredentialKind::PersonalAccessToken, "personal_access_token"),
    user_token(CredentialKind::ImpersonationToken, "impersonation_token"),
    KindSpec {
        kind: CredentialKind::RunnerAuthenticationToken,
        name: "runner_authentication_token",
        audit_entity: "Ci::Runner",
        prefix: "glrt-",
        routable: true,
        secret: SecretHome::RunnerDigest,
        channels: &[Channel::Bearer],
        reach: Reach::InternalCi,
        surfaces: &[],
        scopes: &[],
        lifecycle: Lifecycle {
            expires: false,
            ends_with_job: false,
            rotatable: false,
            family_revocation: false,
            revocable: true,
        },
        inventoried: false,
    },
    KindSpec {
        kind: CredentialKind::CiJobToken,
        name: "ci_job_token",
        audit_entity: "Ci::Build",
        prefix: "glcbt-",
        routable: false,
        secret: SecretHome::SignedJwt,
        channels: &[Channel::JobTokenHeader, Channel::JobTokenParam, Channel::BasicCiToken, Channel::Bearer],
        reach: Reach::JobPolicies,
        surfaces: &[],
        scopes: &[],
        lifecycle: Lifecycle {
            expires: true,
            ends_with_job: true,
            rotatable: false,
            family_revocation: false,
            revocable: false,
        },
        inventoried: false,
    },
    resource_token(CredentialKind::ProjectAccessToken, "project_access_token"),
    resource_token(CredentialKind::GroupAccessToken, "group_access_token"),
    KindSpec {
        kind: CredentialKind::DeployToken,
        name: "deploy_token",
        audit_entity: "DeployToken",
        prefix: "gldt-",
        routable: true,
        secret: SecretHome::DeployDigest,
        channels: &[Channel::DeployTokenHeader, Channel::Basic, Channel::Bearer],
        reach: Reach::Deploy,
        surfaces: &[Surface::GitRead, Surface::RegistryRead, Surface::RegistryWrite, Surface::Packages],
        scopes: DEPLOY_SCOPES,
        lifecycle: REVOCABLE,
        inventoried: true,
    },
    KindSpec {
        kind: CredentialKind::PipelineTriggerToken,
        name: "pipeline_trigger_token",
        audit_entity: "Ci::Trigger",
        prefix: "glptt-",
        routable: false,
        secret: SecretHome::TriggerDigest,
        channels: &[Channel::TriggerTokenParam],
        reach: Reach::Trigger,
        surfaces: &[Surface::Trigger],
        scopes: &[],
        lifecycle: REVOCABLE,
        inventoried: true,
    },
    KindSpec {
        kind: CredentialKind::FeedToken,
        name: "feed_token",
        audit_entity: "User",
        prefix: "glft-",
        routable: false,
        secret: SecretHome::UserSecretDigest,
        channels: &[Channel::FeedTokenParam],
        reach: Reach::Scoped,
        surfaces: &[Surface::Feed],
        scopes: &[],
        lifecycle: REVOCABLE,
        inventoried: true,
    },
    KindSpec {
        kind: CredentialKind::IncomingEmailToken,
        name: "incoming_email_token",
        audit_entity: "User",
        prefix: "glimt-",
        routable: false,
        secret: SecretHome::UserSecretDigest,
        channels: &[],
        reach: Reach::IncomingEmail,
        surfaces: &[],
        scopes: &[],
        lifecycle: REVOCABLE,
        inventoried: true,
    },
    KindSpec {
        kind: CredentialKind::DeployKey,
        name: "deploy_key",
        audit_entity: "DeployKey",
        prefix: "",
        routable: false,
        secret: SecretHome::SshKey,
        channels: &[],
        reach: Reach::Ssh,
        surfaces: &[Surface::GitRead, Surface::GitWrite],
        scopes: &[Scope::ReadRepository, Scope::WriteRepository],
        lifecycle: REVOCABLE,
        inventoried: false,
    },
    KindSpec {
        kind: CredentialKind::SshKey,
        name: "ssh_key",
        audit_entity: "Key",
        prefix: "",
        routable: false,
        secret: SecretHome::SshKey,
        channels: &[],
        reach: Reach::Ssh,
        surfaces: &[Surface::GitRead, Surface::GitWrite],
        scopes: &[],
        lifecycle: REVOCABLE,
        inventoried: false,
    },
];

impl CredentialKind {
    /// Every kind, in the table's order.
    pub const ALL: [CredentialKind; 12] = [
        CredentialKind::PersonalAccessToken,
        CredentialKind::ImpersonationToken,
        CredentialKind::RunnerAuthenticationToken,
        CredentialKind::CiJobToken,
        CredentialKind::ProjectAccessToken,
        CredentialKind::GroupAccessToken,
        CredentialKind::DeployToken,
        CredentialKind::PipelineTriggerToken,
        CredentialKind::FeedToken,
        CredentialKind::IncomingEmailToken,
        CredentialKind::DeployKey,
        CredentialKind::SshKey,
    ];

    /// The kind's row of the table.
    pub const fn spec(self) -> &'static KindSpec {
        match self {
            CredentialKind::PersonalAccessToken => &KINDS[0],
            CredentialKind::ImpersonationToken => &KINDS[1],
            CredentialKind::RunnerAuthenticationToken => &KINDS[2],
            CredentialKind::CiJobToken => &KINDS[3],
            CredentialKind::ProjectAccessToken => &KINDS[4],
            CredentialKind::GroupAccessToken => &KINDS[5],
            CredentialKind::DeployToken => &KINDS[6],
            CredentialKind::PipelineTriggerToken => &KINDS[7],
            CredentialKind::FeedToken => &KINDS[8],
            CredentialKind::IncomingEmailToken => &KINDS[9],
            CredentialKind::DeployKey => &KINDS[10],
            CredentialKind::SshKey => &KINDS[11],
        }
    }

    /// GitLab's name of the kind.
    pub const fn name(self) -> &'static str {
        self.spec().name
    }

    /// The kind a stored user token is: a project's or group's access token when its bot belongs to one, else an
    /// impersonation token or a personal one.
    pub fn of_user_token(impersonation: bool, resource: Option<crate::MemberSource>) -> CredentialKind {
        match resource {
            Some(crate::MemberSource::Project(_)) => CredentialKind::ProjectAccessToken,
            Some(crate::MemberSource::Group(_)) => CredentialKind::GroupAccessToken,
            None if impersonation => CredentialKind::ImpersonationToken,
            None => CredentialKind::PersonalAccessToken,
        }
    }

    /// The kind GitLab's name names, for filters (`type=impersonation_token`); exact, never folded.
    pub fn parse(name: &str) -> Option<CredentialKind> {
        CredentialKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl KindSpec {
    /// Whether the kind may hold `scope`.
    pub fn may_hold(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Whether the kind may be presented through `channel`.
    pub fn admits(&self, channel: Channel) -> bool {
        self.channels.contains(&channel)
    }

    /// The channel the kind is presented through when none is named.
    pub fn usual_channel(&self) -> Channel {
        self.channels.first().copied().unwrap_or(Channel::Bearer)
    }

    /// Whether the kind may reach a route of `surface` by its scopes.
    pub fn reaches(&self, surface: Surface) -> bool {
        matches!(self.reach, Reach::Scoped | Reach::Deploy | Reach::Trigger | Reach::Ssh)
            && self.surfaces.contains(&surface)
    }
}

/// Where a presented string's secret is checked, by its prefix alone: `personal_prefixes` are the prefixes the
/// instance accepts for personal (and impersonation) tokens, in place of the table's. `None`: no kind claims it.
pub fn secret_home<P: AsRef<str>>(presented: &str, personal_prefixes: &[P]) -> Option<SecretHome> {
    if personal_prefixes.iter().any(|p| presented.starts_with(p.as_ref())) {
        return Some(SecretHome::TokenDigest);
    }
    kind_by_prefix(presented).map(|kind| kind.spec().secret)
}

/// The kind whose prefix a presented string carries, among the kinds whose prefix is fixed (not the personal
/// tokens', which an instance may configure).
pub fn kind_by_prefix(presented: &str) -> Option<CredentialKind> {
    KINDS
        .iter()
        .filter(|spec| spec.secret != SecretHome::TokenDigest && !spec.prefix.is_empty())
        .find(|spec| presented.starts_with(spec.prefix))
        .map(|spec| spec.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_answers_its_own_row_and_its_name_reads_back() {
        for kind in CredentialKind::ALL {
            assert_eq!(kind.spec().kind, kind);
            assert_eq!(CredentialKind::parse(kind.name()), Some(kind));
            assert_eq!(kind.to_string(), kind.name());
        }
        assert_eq!(CredentialKind::parse("personal_access_token "), None, "names are matched exactly");
    }

    #[test]
    fn a_kind_that_is_not_scoped_holds_no_scope_and_reaches_no_surface() {
        for kind in CredentialKind::ALL {
            let spec = kind.spec();
            if !matches!(spec.reach, Reach::Scoped | Reach::Deploy | Reach::Trigger | Reach::Ssh) {
                assert!(spec.scopes.is_empty() && spec.surfaces.is_empty(), "{kind}");
                assert!(!spec.reaches(Surface::Api), "{kind}");
            }
        }
        assert!(CredentialKind::PersonalAccessToken.spec().reaches(Surface::GitWrite));
        assert!(!CredentialKind::CiJobToken.spec().may_hold(Scope::Api));
    }

    #[test]
    fn only_a_trigger_token_reaches_the_trigger_route_and_it_reaches_nothing_else() {
        for kind in CredentialKind::ALL {
            assert_eq!(kind.spec().reaches(Surface::Trigger), kind == CredentialKind::PipelineTriggerToken, "{kind}");
        }
        let trigger = CredentialKind::PipelineTriggerToken.spec();
        for surface in Surface::ALL.into_iter().filter(|s| *s != Surface::Trigger) {
            assert!(!trigger.reaches(surface), "{surface:?}");
        }
        assert!(trigger.scopes.is_empty());
    }

    #[test]
    fn a_user_token_may_hold_every_scope_but_the_package_registry_pair_once_each() {
        let expected: Vec<Scope> = Scope::ALL
            .into_iter()
            .filter(|s| !matches!(s, Scope::ReadPackageRegistry | Scope::WritePackageRegistry))
            .collect();
        assert_eq!(USER_SCOPES.to_vec(), expected);
    }

    #[test]
    fn the_package_registry_scopes_are_the_deploy_tokens_own() {
        for scope in [Scope::ReadPackageRegistry, Scope::WritePackageRegistry] {
            for kind in CredentialKind::ALL {
                assert_eq!(kind.spec().may_hold(scope), kind == CredentialKind::DeployToken, "{kind} {scope}");
            }
        }
        let deploy = CredentialKind::DeployToken.spec();
        assert!(!deploy.may_hold(Scope::Api) && !deploy.may_hold(Scope::WriteRepository));
        assert!(!deploy.reaches(Surface::Api) && !deploy.reaches(Surface::GitWrite));
        assert!(deploy.reaches(Surface::GitRead) && deploy.reaches(Surface::Packages));
    }

    #[test]
    fn a_bot_token_holds_neither_read_user_nor_an_administrator_scope() {
        for kind in [CredentialKind::ProjectAccessToken, CredentialKind::GroupAccessToken] {
            let spec = kind.spec();
            assert_eq!(spec.prefix, "glpat-");
            assert!(spec.may_hold(Scope::Api) && spec.may_hold(Scope::WriteRepository), "{kind}");
            for scope in [Scope::ReadUser, Scope::Sudo, Scope::AdminMode, Scope::ReadServicePing, Scope::Authorize] {
                assert!(!spec.may_hold(scope), "{kind} may not hold {scope}");
            }
        }
        let project = Some(crate::MemberSource::Project(1));
        assert_eq!(CredentialKind::of_user_token(false, project), CredentialKind::ProjectAccessToken);
        assert_eq!(CredentialKind::of_user_token(true, None), CredentialKind::ImpersonationToken);
    }

    #[test]
    fn a_presented_string_goes_to_the_check_its_prefix_names_and_nothing_else_is_claimed() {
        let default = ["glpat-"];
        assert_eq!(secret_home("glpat-abc", &default), Some(SecretHome::TokenDigest));
        assert_eq!(secret_home("acme-glpat-abc", &["acme-glpat-", "glpat-"]), Some(SecretHome::TokenDigest));
        assert_eq!(secret_home("glpat-abc", &["acme-glpat-"]), None, "the instance's prefixes replace the table's");
        assert_eq!(secret_home("glrt-abc", &default), Some(SecretHome::RunnerDigest));
        assert_eq!(secret_home("glcbt-eyJ", &default), Some(SecretHome::SignedJwt));
        assert_eq!(secret_home("gldt-abc", &default), Some(SecretHome::DeployDigest));
        assert_eq!(secret_home("gldtx-abc", &default), None);
        assert_eq!(secret_home("glptt-abc", &default), Some(SecretHome::TriggerDigest));
        assert_eq!(secret_home("glft-abc", &default), Some(SecretHome::UserSecretDigest));
        assert_eq!(secret_home("glimt-abc", &default), Some(SecretHome::UserSecretDigest));
        assert_eq!(secret_home("", &default), None);
        assert_eq!(secret_home("ssh-ed25519 AAAA", &default), None, "a key is never presented");
    }

    #[test]
    fn each_channel_admits_only_its_own_kinds() {
        let admitted = |channel: Channel| -> Vec<CredentialKind> {
            CredentialKind::ALL.into_iter().filter(|kind| kind.spec().admits(channel)).collect()
        };
        use CredentialKind::*;
        assert_eq!(admitted(Channel::JobTokenHeader), [CiJobToken]);
        assert_eq!(admitted(Channel::JobTokenParam), [CiJobToken]);
        assert_eq!(admitted(Channel::BasicCiToken), [CiJobToken]);
        let user_tokens = [PersonalAccessToken, ImpersonationToken, ProjectAccessToken, GroupAccessToken];
        assert_eq!(admitted(Channel::PrivateTokenHeader), user_tokens);
        assert_eq!(admitted(Channel::PrivateTokenParam), user_tokens);
        assert_eq!(
            admitted(Channel::Basic),
            [PersonalAccessToken, ImpersonationToken, ProjectAccessToken, GroupAccessToken, DeployToken]
        );
        assert_eq!(admitted(Channel::DeployTokenHeader), [DeployToken]);
        assert_eq!(admitted(Channel::TriggerTokenParam), [PipelineTriggerToken]);
        assert_eq!(admitted(Channel::FeedTokenParam), [FeedToken]);
        let bearer: Vec<CredentialKind> = CredentialKind::ALL
            .into_iter()
            .filter(|k| ![PipelineTriggerToken, FeedToken, IncomingEmailToken, DeployKey, SshKey].contains(k))
            .collect();
        assert_eq!(admitted(Channel::Bearer), bearer);
        for kind in CredentialKind::ALL.into_iter().filter(|k| k.spec().reach != Reach::Ssh && *k != IncomingEmailToken)
        {
            assert!(kind.spec().admits(kind.spec().usual_channel()), "{kind}");
        }
        for channel in Channel::ALL {
            for kind in [IncomingEmailToken, DeployKey, SshKey] {
                assert!(!kind.spec().admits(channel), "{kind} is no credential of an HTTP request");
            }
        }
    }

    #[test]
    fn channel_names_read_back_exactly_and_the_basic_username_selects_the_ci_channel() {
        for channel in Channel::ALL {
            assert_eq!(Channel::parse(channel.name()), Some(channel));
        }
        assert_eq!(Channel::parse("private-token"), None);
        assert_eq!(Channel::basic("gitlab-ci-token"), Channel::BasicCiToken);
        assert_eq!(Channel::basic("gitlab-ci-token "), Channel::Basic);
        assert_eq!(Channel::basic("alice"), Channel::Basic);
    }

    #[test]
    fn only_a_job_token_ends_with_its_job_and_only_user_tokens_rotate() {
        for kind in CredentialKind::ALL {
            let life = kind.spec().lifecycle;
            assert_eq!(life.ends_with_job, kind == CredentialKind::CiJobToken, "{kind}");
            assert_eq!(life.rotatable, kind.spec().secret == SecretHome::TokenDigest, "{kind}");
            assert!(!life.family_revocation || life.rotatable, "{kind}: a family needs rotation");
        }
    }
}
