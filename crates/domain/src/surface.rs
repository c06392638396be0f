//! The surfaces of the route catalog: which kind of credential scope reaches a route.

/// Which credential scopes reach a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Surface {
    Api,
    User,
    TokenSelf,
    TokenSelfRotate,
    GitRead,
    GitWrite,
    RegistryRead,
    RegistryWrite,
    Packages,
    /// The decision API: the `authorize` scope (or `api`).
    Decide,
}

impl Surface {
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
        }
    }

    pub fn is_git(self) -> bool {
        matches!(self, Surface::GitRead | Surface::GitWrite)
    }
}
