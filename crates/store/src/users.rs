//! Users: accounts with their personal namespaces, password hashes, and the first administrator's bootstrap.
//!
//! **Invariant:** a user's namespace follows their username, and so do their projects' paths, in the same
//! transaction.

use async_trait::async_trait;
use authority::{
    AuditOf, Change, MintFirstToken, NewBotToken, NewToken, NewUser, OrderBy, Page, StoreError, StoreResult,
    TokenStore, UserFilter, UserStore, UserUpdate,
};
use domain::{MemberSource, Timestamp, Token, User};
use sqlx::Row;

use crate::namespaces::ensure_path_free;
use crate::rows::*;
use crate::sql::{Arg, Sql, like_pattern};
use crate::tokens::insert_token_tx;
use crate::write::Write;
use crate::{SqlStore, b, db_error};

pub(crate) const USER_COLUMNS: &str = "user_id, username, email, name, state, is_admin, user_type, bio, public_email, \
    can_create_group, external, namespace_id, organization_id, created_at, updated_at, provisioned_by_group_id";

#[async_trait]
impl UserStore for SqlStore {
    async fn count_users(&self) -> StoreResult<i64> {
        self.count(&Sql::new("select count(*) from app_user")).await
    }

    async fn insert_user(&self, user: &NewUser) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        let id = insert_user_tx(&mut tx, user).await?;
        tx.commit(&[Change::User(id), Change::Directory]).await?;
        self.user(id).await?.ok_or_else(|| StoreError::Other(anyhow::anyhow!("user vanished after insert")))
    }

    async fn update_user(&self, id: i64, update: &UserUpdate, now: Timestamp) -> StoreResult<Option<User>> {
        let mut tx = self.begin().await?;
        let mut sql = Sql::new("update app_user set updated_at = ");
        sql.int(now.millis());
        if let Some(v) = &update.username {
            sql.push(", username = ").text_arg(v).push(", username_lower = ").text_arg(&v.to_lowercase());
        }
        if let Some(v) = &update.email {
            sql.push(", email = ").text_arg(v).push(", email_lower = ").text_arg(&v.to_lowercase());
        }
        if let Some(v) = &update.name {
            sql.push(", name = ").text_arg(v);
        }
        if let Some(v) = &update.password_hash {
            sql.push(", password_hash = ").text_arg(v);
        }
        if let Some(v) = update.is_admin {
            sql.push(", is_admin = ").int(b(v));
        }
        if let Some(v) = &update.bio {
            sql.push(", bio = ").text_arg(v);
        }
        if let Some(v) = &update.public_email {
            sql.push(", public_email = ").arg(Arg::OptText(v.clone()));
        }
        if let Some(v) = update.can_create_group {
            sql.push(", can_create_group = ").int(b(v));
        }
        if let Some(v) = update.external {
            sql.push(", external = ").int(b(v));
        }
        if let Some(v) = update.state {
            sql.push(", state = ").text_arg(v.as_str());
        }
        sql.push(" where user_id = ").int(id);
        let done = sql.query().execute(&mut *tx).await.map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        if let Some(username) = &update.username {
            // The personal namespace follows the username, and so do the paths of the user's projects.
            let mut ns = Sql::new(
                "select namespace_id, full_path from namespace where namespace_id = (select namespace_id from app_user where user_id = ",
            );
            ns.int(id).push(")");
            let row = ns.query().fetch_one(&mut *tx).await.map_err(db_error)?;
            let ns_id: i64 = row.try_get("namespace_id").map_err(db_error)?;
            let mut upd = Sql::new("update namespace set path = ");
            upd.text_arg(username).push(", full_path = ").text_arg(username).push(", full_path_lower = ");
            upd.text_arg(&username.to_lowercase()).push(" where namespace_id = ").int(ns_id);
            upd.query().execute(&mut *tx).await.map_err(db_error)?;
            let mut projects = Sql::new("update project set full_path = ");
            projects.text_arg(username).push(" || '/' || path, full_path_lower = ").text_arg(&username.to_lowercase());
            projects.push(" || '/' || lower(path) where namespace_id = ").int(ns_id);
            projects.query().execute(&mut *tx).await.map_err(db_error)?;
        }
        tx.commit(&[Change::User(id), Change::Directory]).await?;
        self.user(id).await
    }

    async fn user(&self, id: i64) -> StoreResult<Option<User>> {
        let mut sql = Sql::new(&format!("select {USER_COLUMNS} from app_user where user_id = "));
        sql.int(id);
        self.point(&sql).await
    }

    async fn users(&self, ids: &[i64]) -> StoreResult<Vec<User>> {
        let mut sql = Sql::new(&format!("select {USER_COLUMNS} from app_user where user_id in "));
        sql.int_list(ids);
        self.fetch_all(&sql).await?.iter().map(user_from_row).collect()
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let mut sql = Sql::new(&format!("select {USER_COLUMNS} from app_user where username_lower = "));
        sql.text_arg(&username.to_lowercase());
        self.point(&sql).await
    }

    async fn user_by_namespace(&self, namespace_id: i64) -> StoreResult<Option<User>> {
        let mut sql = Sql::new(&format!("select {USER_COLUMNS} from app_user where namespace_id = "));
        sql.int(namespace_id);
        self.fetch_optional(&sql).await?.as_ref().map(user_from_row).transpose()
    }

    async fn password_hash(&self, id: i64) -> StoreResult<Option<String>> {
        let mut sql = Sql::new("select password_hash from app_user where user_id = ");
        sql.int(id);
        match self.fetch_optional(&sql).await? {
            Some(row) => row.try_get::<Option<String>, _>(0).map_err(db_error),
            None => Ok(None),
        }
    }

    async fn list_users(&self, filter: &UserFilter, page: Page) -> StoreResult<(Vec<User>, i64)> {
        let mut sql = Sql::new("from app_user where 1 = 1");
        if let Some(username) = &filter.username {
            sql.push(" and username_lower = ").text_arg(&username.to_lowercase());
        }
        if let Some(search) = &filter.search {
            let pattern = like_pattern(search);
            sql.push(" and (username_lower like ").text_arg(&pattern).push(" escape '\\' or lower(name) like ");
            sql.text_arg(&pattern).push(" escape '\\' or email_lower like ").text_arg(&pattern).push(" escape '\\')");
        }
        if let Some(state) = filter.state {
            sql.push(" and state = ").text_arg(state.as_str());
        }
        if let Some(admins) = filter.admins {
            sql.push(" and is_admin = ").int(b(admins));
        }
        match filter.service_accounts {
            None => {}
            Some(None) => {
                sql.push(" and user_type = 'service_account'");
            }
            Some(Some(group)) => {
                sql.push(" and user_type = 'service_account' and provisioned_by_group_id = ").int(group);
            }
        }
        let column = match filter.order.by {
            OrderBy::Name => "lower(name)",
            OrderBy::Username | OrderBy::Path => "username_lower",
            OrderBy::CreatedAt => "created_at",
            OrderBy::UpdatedAt | OrderBy::LastActivityAt => "updated_at",
            OrderBy::Id => "user_id",
        };
        let direction = if filter.order.descending { "desc" } else { "asc" };
        let order = format!("{column} {direction}, user_id {direction}");
        self.page_of(&sql, USER_COLUMNS, &order, page, user_from_row).await
    }

    async fn insert_bot(&self, new: &NewBotToken, audit: &AuditOf<'_>) -> StoreResult<Option<(User, Token)>> {
        let Some(source) = new.token.resource else {
            return Err(StoreError::Other(anyhow::anyhow!("a bot token names its resource")));
        };
        let (kind, id) = source_args(source);
        let mut tx = self.begin().await?;
        // Writing the resource's row first takes its lock on PostgreSQL (SQLite's writes are serialised already),
        // so that concurrent creations count one after the other.
        let mut lock = match source {
            MemberSource::Project(_) => Sql::new("update project set updated_at = updated_at where project_id = "),
            MemberSource::Group(_) => Sql::new("update namespace set created_at = created_at where namespace_id = "),
        };
        lock.int(id);
        lock.query().execute(&mut *tx).await.map_err(db_error)?;
        let mut count = Sql::new("select count(*) from personal_access_token where resource_kind = ");
        count.text_arg(kind).push(" and resource_id = ").int(id);
        count.push(" and revoked = 0 and (expires_on is null or expires_on > ").int(new.today.days()).push(")");
        let active: i64 = count.query().fetch_one(&mut *tx).await.and_then(|row| row.try_get(0)).map_err(db_error)?;
        if active >= new.limit {
            return Ok(None);
        }
        let bot_id = insert_user_tx(&mut tx, &new.bot).await?;
        let mut member = Sql::new(
            "insert into member (source_kind, source_id, user_id, access_level, expires_on, created_by, created_at) values (",
        );
        member.text_arg(kind).push(", ").int(id).push(", ").int(bot_id).push(", ").int(new.access_level.value());
        member.push(", null, ").int(new.created_by).push(", ").int(new.token.now.millis()).push(")");
        member.query().execute(&mut *tx).await.map_err(db_error)?;
        let token = NewToken { user_id: bot_id, ..new.token.clone() };
        let token_id = insert_token_tx(&mut tx, &token).await?;
        if let Some(event) = audit(token_id) {
            crate::audit::insert_audit_event_tx(&mut tx, &event).await?;
        }
        tx.commit(&[Change::User(bot_id), Change::Directory]).await?;
        let user = self.user(bot_id).await?;
        let token = self.token(token_id).await?;
        Ok(user.zip(token))
    }

    async fn bootstrap(&self, admin: &NewUser, mint: &MintFirstToken<'_>) -> StoreResult<Option<(User, Token)>> {
        let mut tx = self.begin().await?;
        let users: i64 = sqlx::query("select count(*) from app_user")
            .fetch_one(&mut *tx)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(db_error)?;
        if users > 0 {
            return Ok(None);
        }
        let user_id = insert_user_tx(&mut tx, admin).await?;
        let token =
            mint(user_id).ok_or_else(|| StoreError::Other(anyhow::anyhow!("the first token could not be minted")))?;
        let token_id = insert_token_tx(&mut tx, &token).await?;
        tx.commit(&[Change::All]).await?;
        let user = self.user(user_id).await?;
        let token = self.token(token_id).await?;
        Ok(user.zip(token))
    }
}

pub(crate) async fn insert_user_tx(tx: &mut Write<'_>, user: &NewUser) -> StoreResult<i64> {
    ensure_path_free(tx, &user.username).await?;
    let mut ns = Sql::new(&format!(
        "insert into namespace ({}kind, name, path, full_path, full_path_lower, full_name, visibility, organization_id, created_at) values ({}'user', ",
        crate::deletions::id_column(tx.backend(), "namespace_id"),
        crate::deletions::next_id(tx.backend(), "namespace", "namespace_id"),
    ));
    ns.text_arg(&user.name).push(", ").text_arg(&user.username).push(", ").text_arg(&user.username).push(", ");
    ns.text_arg(&user.username.to_lowercase())
        .push(", ")
        .text_arg(&user.name)
        .push(", 'private', ")
        .int(user.organization_id);
    ns.push(", ").int(user.now.millis()).push(") returning namespace_id");
    let row = ns.query().fetch_one(&mut **tx).await.map_err(db_error)?;
    let ns_id: i64 = row.try_get(0).map_err(db_error)?;
    let mut upd = Sql::new("update namespace set traversal_ids = ");
    upd.text_arg(&encode_ids(&[ns_id])).push(" where namespace_id = ").int(ns_id);
    upd.query().execute(&mut **tx).await.map_err(db_error)?;
    let mut sql = Sql::new(
        "insert into app_user (username, username_lower, email, email_lower, name, password_hash, is_admin, user_type, bio, public_email, can_create_group, external, namespace_id, organization_id, created_at, updated_at, provisioned_by_group_id) values (",
    );
    sql.text_arg(&user.username).push(", ").text_arg(&user.username.to_lowercase()).push(", ").text_arg(&user.email);
    sql.push(", ").text_arg(&user.email.to_lowercase()).push(", ").text_arg(&user.name).push(", ");
    sql.arg(Arg::OptText(user.password_hash.clone())).push(", ").int(b(user.is_admin)).push(", ");
    sql.text_arg(user.user_type.as_str())
        .push(", ")
        .text_arg(&user.bio)
        .push(", ")
        .arg(Arg::OptText(user.public_email.clone()));
    sql.push(", ").int(b(user.can_create_group)).push(", ").int(b(user.external)).push(", ").int(ns_id).push(", ");
    sql.int(user.organization_id)
        .push(", ")
        .int(user.now.millis())
        .push(", ")
        .int(user.now.millis())
        .push(", ")
        .arg(Arg::OptInt(user.provisioned_by_group_id))
        .push(") returning user_id");
    let row = sql.query().fetch_one(&mut **tx).await.map_err(db_error)?;
    row.try_get(0).map_err(db_error)
}
