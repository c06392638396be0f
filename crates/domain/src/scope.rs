//! GitLab's legacy ("classic") token scopes.
//!
//! **Invariant:** scope names are matched exactly, and stored names that are no scope are dropped, never widened.

use std::fmt;

/// One legacy scope a personal access token may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Full read and write access to the API, Git and the registries.
    Api,
    /// Read access to the API (GET and HEAD), Git and the registries.
    ReadApi,
    /// Read access to the user's own profile and the users API.
    ReadUser,
    /// Git reads (clone, pull).
    ReadRepository,
    /// Git reads and writes (push).
    WriteRepository,
    /// Container registry pulls.
    ReadRegistry,
    /// Container registry pulls and pushes.
    WriteRegistry,
    /// Virtual registry reads.
    ReadVirtualRegistry,
    /// Virtual registry reads and writes.
    WriteVirtualRegistry,
    /// Creating runners.
    CreateRunner,
    /// Managing runners.
    ManageRunner,
    /// The Kubernetes agent proxy.
    K8sProxy,
    /// Rotating the token itself, and nothing else.
    SelfRotate,
    /// AI features.
    AiFeatures,
    /// Acting as another user (`Sudo`), for administrators.
    Sudo,
    /// Administrator powers while Admin Mode is on.
    AdminMode,
    /// Service Ping data.
    ReadServicePing,
    /// Tessera's own: may ask the decision API about other credentials (service accounts and administrators).
    Authorize,
    /// Package registry pulls: deploy tokens only.
    ReadPackageRegistry,
    /// Package registry pulls and pushes: deploy tokens only.
    WritePackageRegistry,
    /// The marker of a fine-grained token: its authority comes from its granular scopes, never from this name.
    /// Stored and shown, never accepted from a client.
    Granular,
}

impl Scope {
    /// Every scope, in GitLab's order.
    pub const ALL: [Scope; 21] = [
        Scope::Api,
        Scope::ReadApi,
        Scope::ReadUser,
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
        Scope::Sudo,
        Scope::AdminMode,
        Scope::ReadServicePing,
        Scope::Authorize,
        Scope::ReadPackageRegistry,
        Scope::WritePackageRegistry,
        Scope::Granular,
    ];

    /// GitLab's name of the scope.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Api => "api",
            Scope::ReadApi => "read_api",
            Scope::ReadUser => "read_user",
            Scope::ReadRepository => "read_repository",
            Scope::WriteRepository => "write_repository",
            Scope::ReadRegistry => "read_registry",
            Scope::WriteRegistry => "write_registry",
            Scope::ReadVirtualRegistry => "read_virtual_registry",
            Scope::WriteVirtualRegistry => "write_virtual_registry",
            Scope::CreateRunner => "create_runner",
            Scope::ManageRunner => "manage_runner",
            Scope::K8sProxy => "k8s_proxy",
            Scope::SelfRotate => "self_rotate",
            Scope::AiFeatures => "ai_features",
            Scope::Sudo => "sudo",
            Scope::AdminMode => "admin_mode",
            Scope::ReadServicePing => "read_service_ping",
            Scope::Authorize => "authorize",
            Scope::ReadPackageRegistry => "read_package_registry",
            Scope::WritePackageRegistry => "write_package_registry",
            Scope::Granular => "granular",
        }
    }

    /// The scope of this name, exactly; `None` for any other text.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// Scopes only administrators may put on a token (`ADMIN_SCOPES` in GitLab).
    pub fn is_admin_only(self) -> bool {
        matches!(self, Scope::Sudo | Scope::AdminMode | Scope::ReadServicePing)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a scope list was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError {
    /// No scope was given.
    Empty,
    /// A name that is no scope.
    Unknown(String),
    /// A scope only administrators' tokens may hold.
    AdminOnly(Scope),
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeError::Empty => f.write_str("can't be blank"),
            ScopeError::Unknown(_) => f.write_str("can only contain available scopes"),
            ScopeError::AdminOnly(_) => f.write_str("can only contain available scopes"),
        }
    }
}

/// A set of known scopes, kept as one bit per scope: copied, not allocated, and tested with one instruction on
/// the hot path. Iteration is in the canonical order of [`Scope::ALL`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Scopes(u64);

// Every scope needs its own bit.
const _: () = assert!(Scope::ALL.len() <= 64);

impl Scope {
    const fn bit(self) -> u64 {
        1 << self as u8
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(scopes: I) -> Scopes {
        Scopes(scopes.into_iter().fold(0, |bits, scope| bits | scope.bit()))
    }
}

impl Scopes {
    /// Parses the scope names a client sent, byte for byte. Empty lists and unknown names are errors, never "everything";
    /// `granular` is a marker a client cannot ask for (it asks for `granular_scopes` instead).
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Scopes, ScopeError> {
        let mut scopes = Scopes::default();
        for name in names {
            // Exact: `"api "` is no scope, and is never read as `api`.
            let name = name.as_ref();
            match Scope::parse(name).filter(|scope| *scope != Scope::Granular) {
                Some(scope) => scopes.0 |= scope.bit(),
                None => return Err(ScopeError::Unknown(name.chars().take(64).collect())),
            }
        }
        if scopes.is_empty() {
            return Err(ScopeError::Empty);
        }
        Ok(scopes)
    }

    /// Parses and checks that a non-administrator asks for no administrator scope.
    pub fn parse_for<S: AsRef<str>>(names: &[S], owner_is_admin: bool) -> Result<Scopes, ScopeError> {
        let scopes = Scopes::parse(names)?;
        if let Some(scope) = scopes.iter().find(|s| !owner_is_admin && s.is_admin_only()) {
            return Err(ScopeError::AdminOnly(scope));
        }
        Ok(scopes)
    }

    /// Reads scopes as stored (space-separated). Unknown stored names are dropped, never widened.
    pub fn from_stored(text: &str) -> Scopes {
        text.split_whitespace().filter_map(Scope::parse).collect()
    }

    /// The stored form: names separated by spaces.
    pub fn to_stored(&self) -> String {
        self.names().collect::<Vec<_>>().join(" ")
    }

    /// Whether the set holds `scope`.
    pub fn contains(&self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The scopes in the set, in GitLab's order.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        Scope::ALL.into_iter().filter(|s| self.contains(*s))
    }

    /// Their names, in GitLab's order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.iter().map(Scope::as_str)
    }

    /// Whether the set holds no scope.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The scopes of a fine-grained token: the marker alone.
    pub fn granular() -> Scopes {
        Scopes(Scope::Granular.bit())
    }

    /// Whether these are a fine-grained token's scopes.
    pub fn is_granular(&self) -> bool {
        self.contains(Scope::Granular)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_has_its_own_bit_and_all_lists_them_in_declaration_order() {
        for (i, scope) in Scope::ALL.into_iter().enumerate() {
            assert_eq!(scope as usize, i, "{scope:?}");
        }
        let every: Scopes = Scope::ALL.into_iter().collect();
        assert_eq!(every.iter().collect::<Vec<_>>(), Scope::ALL.to_vec());
    }

    #[test]
    fn an_empty_scope_list_is_an_error() {
        assert_eq!(Scopes::parse::<&str>(&[]), Err(ScopeError::Empty));
    }

    #[test]
    fn an_unknown_scope_is_an_error() {
        assert!(matches!(Scopes::parse(&["api", "everything"]), Err(ScopeError::Unknown(_))));
    }

    #[test]
    fn a_scope_is_matched_byte_for_byte_never_trimmed_or_folded() {
        for name in ["api ", " api", "API", "Api", "api\n", "read_api\t", "api\u{a0}"] {
            assert_eq!(Scopes::parse(&[name]), Err(ScopeError::Unknown(name.to_owned())), "{name:?}");
        }
    }

    #[test]
    fn duplicates_collapse_and_order_is_canonical() {
        let scopes = Scopes::parse(&["read_user", "api", "api"]).unwrap();
        assert_eq!(scopes.to_stored(), "api read_user");
    }

    #[test]
    fn administrator_scopes_are_refused_to_others() {
        assert_eq!(Scopes::parse_for(&["sudo"], false), Err(ScopeError::AdminOnly(Scope::Sudo)));
        assert!(Scopes::parse_for(&["sudo", "admin_mode"], true).is_ok());
    }

    #[test]
    fn stored_scopes_round_trip() {
        for scope in Scope::ALL {
            let scopes: Scopes = [scope].into_iter().collect();
            assert_eq!(Scopes::from_stored(&scopes.to_stored()), scopes);
        }
    }

    #[test]
    fn a_client_cannot_ask_for_the_granular_marker() {
        assert!(matches!(Scopes::parse(&["granular"]), Err(ScopeError::Unknown(_))));
        assert!(matches!(Scopes::parse(&["api", "granular"]), Err(ScopeError::Unknown(_))));
        assert!(Scopes::from_stored("granular").is_granular());
        assert_eq!(Scopes::granular().to_stored(), "granular");
    }
}
