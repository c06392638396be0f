//! The storage contract, one trait per aggregate, and the change protocol through which a store tells the fact
//! cache what each committed write changed. `store` implements it for SQLite and PostgreSQL; nothing here
//! knows SQL.
//!
//! **Invariant:** every implementation announces, after each commit, the [`Change`]s of what it committed, to
//! every listener given to [`Changes::announce_to`]; no write path of an implementation may skip it.

mod audit;
mod ci;
mod decision;
mod deploy;
mod inventory;
mod members;
mod namespaces;
mod notices;
mod settings;
mod ssh_keys;
mod tokens;
mod triggers;
mod usage;
mod user_secrets;
mod users;

use std::sync::Arc;

pub use audit::{AuditFilter, AuditStore};
pub use ci::{AllowlistAdd, AllowlistStore, CiStore, NewJob, NewRunner, SigningKeyStore};
pub use decision::{Asked, DecisionStore, Found, ResourceKey, TokenKey, one_by_one};
pub use deploy::{DeployTokenFilter, DeployTokenStore, NewDeployToken};
pub use inventory::InventoryStore;
pub use members::MemberStore;
pub use namespaces::{DirectoryFilter, NamespaceStore, NamespaceTarget, NamespaceUpdate, NewGroup, NewProject};
pub use notices::{NewExpiryNotice, NoticeStore};
pub use settings::SettingsStore;
pub use ssh_keys::{NewSshKey, SshKeyStore};
pub use tokens::{AuditOf, NewBotToken, NewToken, TokenFilter, TokenSort, TokenStore, no_audit};
pub use triggers::{NewTrigger, TriggerStore};
pub use usage::UsageStore;
pub use user_secrets::{NewUserSecret, UserSecretStore};
pub use users::{MintFirstToken, NewUser, UserFilter, UserStore, UserUpdate};

/// A storage failure. `Conflict` names the unique field that clashed.
#[derive(Debug)]
pub enum StoreError {
    Conflict(&'static str),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for StoreError {
    fn from(e: anyhow::Error) -> Self {
        StoreError::Other(e)
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Conflict(field) => write!(f, "{field} has already been taken"),
            StoreError::Other(e) => write!(f, "storage error: {e:#}"),
        }
    }
}

impl std::error::Error for StoreError {}

pub type StoreResult<T> = Result<T, StoreError>;

/// One page of a list: 1-based page number and page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: i64,
    pub per_page: i64,
}

impl Page {
    pub fn offset(self) -> i64 {
        (self.page - 1).saturating_mul(self.per_page)
    }
}

/// The order a listing asks for, GitLab's `order_by` and `sort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListOrder {
    pub by: OrderBy,
    pub descending: bool,
}

/// What a listing is ordered by; each listing takes some of them (`api` reads which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderBy {
    #[default]
    Id,
    Name,
    Path,
    Username,
    CreatedAt,
    UpdatedAt,
    LastActivityAt,
}

impl OrderBy {
    /// GitLab's name of it.
    pub fn name(self) -> &'static str {
        match self {
            OrderBy::Id => "id",
            OrderBy::Name => "name",
            OrderBy::Path => "path",
            OrderBy::Username => "username",
            OrderBy::CreatedAt => "created_at",
            OrderBy::UpdatedAt => "updated_at",
            OrderBy::LastActivityAt => "last_activity_at",
        }
    }
}

/// What a committed write changed, as the fact cache needs to know it: announced by the store after each commit
/// on this node, and on PostgreSQL also sent to every node as a `NOTIFY` payload by the triggers of `store`
/// migration `0002_announce_changes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A token's state (revoked, rotated).
    Token(i64),
    /// A user's facts (blocked, administrator, external, username).
    User(i64),
    /// Groups, projects, memberships or allowlists: paths, visibility, ancestry and levels may all move.
    Directory,
    Settings,
    /// A CI job's state.
    Job(i64),
    /// A deploy token's state (revoked).
    DeployToken(i64),
    /// A pipeline trigger (changed or deleted).
    Trigger(i64),
    /// A user's feed or incoming-email token (replaced or removed).
    UserSecret(i64),
    /// The signing keys of job tokens and ID tokens.
    Keys,
    /// Anything: forget everything.
    All,
}

impl Change {
    /// Reads a change; anything unreadable means "forget everything", the safe answer.
    pub fn decode(text: &str) -> Change {
        let id = |s: &str| s.parse::<i64>().ok();
        match text.split_once(':') {
            Some(("t", rest)) => id(rest).map_or(Change::All, Change::Token),
            Some(("u", rest)) => id(rest).map_or(Change::All, Change::User),
            Some(("j", rest)) => id(rest).map_or(Change::All, Change::Job),
            Some(("dt", rest)) => id(rest).map_or(Change::All, Change::DeployToken),
            Some(("tr", rest)) => id(rest).map_or(Change::All, Change::Trigger),
            Some(("us", rest)) => id(rest).map_or(Change::All, Change::UserSecret),
            _ => match text {
                "d" => Change::Directory,
                "s" => Change::Settings,
                "k" => Change::Keys,
                _ => Change::All,
            },
        }
    }
}

/// Hears what committed writes changed.
pub trait ChangeListener: Send + Sync {
    fn changed(&self, change: Change);
}

/// A store's side of the change protocol, and how its reads are made.
pub trait Changes: Send + Sync {
    /// From now on, `listener` hears every change this store commits, right after the commit.
    fn announce_to(&self, listener: Arc<dyn ChangeListener>);

    /// Whether a read waits on another process (a database server), so that reads made at once overlap; a read
    /// that is the caller's own work (an embedded database) gains nothing from it.
    fn reads_wait_on_a_server(&self) -> bool {
        false
    }
}

/// Declares the umbrella trait over the aggregates' traits, and implements it for every type that has them all.
macro_rules! umbrella {
    ($(#[$doc:meta])* $name:ident: $($aggregate:ident),+) => {
        $(#[$doc])*
        pub trait $name: $($aggregate +)+ {}

        impl<T: $($aggregate +)+> $name for T {}
    };
}

umbrella! {
    /// Everything Tessera keeps: every aggregate's store and the change protocol. Implementations make each
    /// method atomic.
    Store: UserStore, NamespaceStore, MemberStore, TokenStore, DeployTokenStore, TriggerStore, UserSecretStore,
        NoticeStore, InventoryStore, SshKeyStore, SettingsStore, AuditStore, CiStore, AllowlistStore, SigningKeyStore, UsageStore,
        DecisionStore, Changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_payload_the_triggers_send_is_read() {
        let payloads = [("t:7", Change::Token(7)), ("u:-1", Change::User(-1)), ("d", Change::Directory)];
        let more = [("s", Change::Settings), ("*", Change::All), ("j:12", Change::Job(12)), ("k", Change::Keys)];
        let more = more.into_iter().chain([("dt:3", Change::DeployToken(3)), ("tr:4", Change::Trigger(4))]);
        let more = more.chain([("us:5", Change::UserSecret(5))]);
        for (text, change) in payloads.into_iter().chain(more) {
            assert_eq!(Change::decode(text), change, "{text:?}");
        }
    }

    #[test]
    fn an_unreadable_change_forgets_everything() {
        for text in ["", "t:", "t:x", "u:1:2", "zz", "d:1"] {
            assert_eq!(Change::decode(text), Change::All, "{text:?}");
        }
    }
}
