//! Users: accounts, their personal namespaces, password hashes, and the first administrator.
//!
//! **Invariant:** a user and their personal namespace are made in one transaction; the first administrator only
//! when there is no user.

use async_trait::async_trait;
use domain::{Timestamp, Token, User, UserState, UserType};

use super::{NewToken, Page, StoreResult};

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub user_type: UserType,
    pub bio: String,
    pub public_email: Option<String>,
    pub can_create_group: bool,
    pub external: bool,
    pub organization_id: i64,
    /// The top-level group a service account is made by, if any.
    pub provisioned_by_group_id: Option<i64>,
    pub now: Timestamp,
}

/// Fields an administrator may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub username: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub password_hash: Option<String>,
    pub is_admin: Option<bool>,
    pub bio: Option<String>,
    pub public_email: Option<Option<String>>,
    pub can_create_group: Option<bool>,
    pub external: Option<bool>,
    pub state: Option<UserState>,
}

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub username: Option<String>,
    pub search: Option<String>,
    pub state: Option<UserState>,
    pub admins: Option<bool>,
    /// Only service accounts: made by this top-level group (`Some(Some(id))`), or any (`Some(None)`).
    pub service_accounts: Option<Option<i64>>,
    pub order: super::ListOrder,
}

/// Makes the first administrator's token from its id; `None` aborts the bootstrap.
pub type MintFirstToken<'a> = dyn Fn(i64) -> Option<NewToken> + Send + Sync + 'a;

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn count_users(&self) -> StoreResult<i64>;
    /// Creates the user and its personal namespace.
    async fn insert_user(&self, user: &NewUser) -> StoreResult<User>;
    async fn update_user(&self, id: i64, update: &UserUpdate, now: Timestamp) -> StoreResult<Option<User>>;
    async fn user(&self, id: i64) -> StoreResult<Option<User>>;
    /// The users among `ids` that exist, in no set order.
    async fn users(&self, ids: &[i64]) -> StoreResult<Vec<User>>;
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    async fn user_by_namespace(&self, namespace_id: i64) -> StoreResult<Option<User>>;
    async fn password_hash(&self, id: i64) -> StoreResult<Option<String>>;
    async fn list_users(&self, filter: &UserFilter, page: Page) -> StoreResult<(Vec<User>, i64)>;
    /// In one transaction: the bot user, its membership of the token's resource and the token, with the audit
    /// entry `audit` makes of the token's id. `None`, writing nothing, when the resource already holds
    /// `limit` active access tokens (concurrent creations for one resource are serialised).
    async fn insert_bot(
        &self,
        new: &super::NewBotToken,
        audit: &super::AuditOf<'_>,
    ) -> StoreResult<Option<(User, Token)>>;
    /// Creates the first administrator and its token in one transaction, only if there is no user yet.
    /// `mint` makes the token once the administrator's id is known.
    async fn bootstrap(&self, admin: &NewUser, mint: &MintFirstToken<'_>) -> StoreResult<Option<(User, Token)>>;
}
