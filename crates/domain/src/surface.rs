//! The surfaces of the route catalog: which kind of credential scope reaches a route.
//!
//! **Invariant:** every route has exactly one surface.

/// Which credential scopes reach a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Surface {
    /// The REST API: `api`, and `read_api` for GET and HEAD.
    Api,
    /// The users API: as `api`, and `read_user` for GET and HEAD.
    User,
    /// The token's own record: any scope.
    TokenSelf,
    /// The token's own rotation: `api` or `self_rotate`.
    TokenSelfRotate,
    /// Git reads: `read_repository`, `write_repository`, `api`, `read_api`.
    GitRead,
    /// Git pushes: `write_repository`, `api`.
    GitWrite,
    /// Registry pulls: `read_registry`, `write_registry`, `api`, `read_api`.
    RegistryRead,
    /// Registry pushes: `write_registry`, `api`.
    RegistryWrite,
    /// The package registries: `api`, and `read_api` for GET and HEAD.
    Packages,
    /// The decision API: the `authorize` scope (or `api`).
    Decide,
    /// Running a pipeline with a trigger token (`POST /projects/:id/trigger/pipeline`): trigger tokens alone.
    Trigger,
    /// Feeds (`.atom` activity and issue feeds, `.ics` calendars): feed tokens, and `api` or `read_api`.
    Feed,
}

impl Surface {
    /// Every surface.
    pub const ALL: [Surface; 12] = [
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
        Surface::Trigger,
        Surface::Feed,
    ];

    /// The name the route catalog gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Api => "api",
            Surface::User => "user",
            Surface::TokenSelf => "token_self",
            Surface::TokenSelfRotate => "token_self_rotate",
            Surface::GitRead => "git_read",
            Surface::GitWrite => "git_write",
            Surface::RegistryRead => "registry_read",
            Surface::RegistryWrite => "registry_write",
            Surface::Packages => "packages",
            Surface::Decide => "decide",
            Surface::Trigger => "trigger",
            Surface::Feed => "feed",
        }
    }

    /// Whether it is Git over HTTP (whose 401 challenge is Basic, so that git prompts).
    pub fn is_git(self) -> bool {
        matches!(self, Surface::GitRead | Surface::GitWrite)
    }
}
