//! The one crate that knows SQL: `authority::Store` for SQLite (the embedded default) and PostgreSQL,
//! through one set of statements that both accept.
//!
//! **Architecture Invariant:** only `store` depends on sqlx. Differences between the two databases stay in
//! this crate: the migrations (one directory per backend, same names) and `Backend`.

mod ci;
mod point;
mod rows;
mod sql;

use anyhow::Context;
use async_trait::async_trait;
use authority::{
    AuditFilter, DirectoryFilter, MintFirstToken, NamespaceTarget, NamespaceUpdate, NewGroup, NewProject, NewToken,
    NewUser, Page, Store, StoreError, StoreResult, TokenFilter, TokenSort, UserFilter, UserUpdate,
};
use domain::{
    AccessLevel, AuditEvent, Date, Grant, Group, Member, MemberSource, NewAuditEvent, Notification, Organization,
    Project, Settings, Timestamp, Token, TokenUsage, User,
};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use point::PointReader;
use rows::*;
use sql::{Arg, Sql, like_pattern};

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(url: &str) -> anyhow::Result<Backend> {
        if url.starts_with("sqlite:") {
            return Ok(Backend::Sqlite);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Backend::Postgres);
        }
        anyhow::bail!("unsupported database URL: expected sqlite: or postgres://")
    }
}

/// The sqlx-backed store.
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// On a SQLite file, the in-thread reader for the hot path's point reads (see `point`).
    points: Option<PointReader>,
}

impl SqlStore {
    /// Connects, creating the SQLite file if needed, and applies every pending migration.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<SqlStore> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of(url)?;
        let options = AnyPoolOptions::new().max_connections(max_connections);
        let pool = match backend {
            Backend::Sqlite => {
                // A SQLite connection is a file handle in this process: nothing can break it between uses, so the
                // ping sqlx sends before every checkout would only add a round trip to the hot path's misses.
                options
                    .test_before_acquire(false)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("pragma journal_mode = wal; pragma foreign_keys = on; pragma busy_timeout = 10000; pragma synchronous = normal;")
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await
            }
            Backend::Postgres => options.connect(url).await,
        }
        .with_context(|| format!("cannot connect to the {backend:?} database"))?;
        let migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator.run(&pool).await.context("cannot migrate the database")?;
        let points = match (backend, sqlite_file(url)) {
            (Backend::Sqlite, Some(path)) => Some(PointReader::open(&path)?),
            _ => None,
        };
        Ok(SqlStore { pool, backend, points })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`): a deferred transaction
    /// that reads first and writes later fails (`SQLITE_BUSY_SNAPSHOT`, which no busy timeout waits out) when
    /// another connection commits in between.
    async fn begin(&self) -> StoreResult<sqlx::Transaction<'_, sqlx::Any>> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
        .map_err(db_error)
    }

    async fn fetch_all(&self, sql: &Sql) -> StoreResult<Vec<AnyRow>> {
        sql.query().fetch_all(&self.pool).await.map_err(db_error)
    }

    async fn fetch_optional(&self, sql: &Sql) -> StoreResult<Option<AnyRow>> {
        sql.query().fetch_optional(&self.pool).await.map_err(db_error)
    }

    /// A lookup of at most one row by a unique key: in-thread on SQLite (see `point`), else through sqlx.
    async fn point<T: FromRow>(&self, sql: &Sql) -> StoreResult<Option<T>> {
        if let Some(points) = &self.points
            && let Ok(read) = points.one(sql, |row| T::from_row(row))
        {
            return read;
        }
        self.fetch_optional(sql).await?.as_ref().map(|row| T::from_row(row)).transpose()
    }

    /// A few rows found through an index, read as [`SqlStore::point`] reads one.
    async fn points<T: FromRow>(&self, sql: &Sql) -> StoreResult<Vec<T>> {
        if let Some(points) = &self.points
            && let Ok(read) = points.all(sql, |row| T::from_row(row))
        {
            return read;
        }
        self.fetch_all(sql).await?.iter().map(|row| T::from_row(row)).collect()
    }

    async fn count(&self, sql: &Sql) -> StoreResult<i64> {
        let row = sql.query().fetch_one(&self.pool).await.map_err(db_error)?;
        row.try_get::<i64, _>(0).map_err(db_error)
    }

    async fn page_of<T>(
        &self,
        from_where: &Sql,
        select: &str,
        order: &str,
        page: Page,
        map: impl Fn(&AnyRow) -> StoreResult<T>,
    ) -> StoreResult<(Vec<T>, i64)> {
        let mut count = Sql { text: format!("select count(*) {}", from_where.text), args: from_where.args.clone() };
        let total = self.count(&count).await?;
        count.text = format!("select {select} {} order by {order} limit ", from_where.text);
        count.int(page.per_page).push(" offset ").int(page.offset());
        let rows = self.fetch_all(&count).await?;
        let items = rows.iter().map(map).collect::<StoreResult<Vec<_>>>()?;
        Ok((items, total))
    }
}

/// Maps a database error: unique violations name their field; everything else is internal.
fn db_error(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        let msg = db.message().to_owned() + db.constraint().unwrap_or("");
        for (needle, field) in [
            ("username", "username"),
            ("email", "email"),
            ("full_path", "path"),
            ("token_digest", "token"),
            ("source_kind", "member"),
            ("organization", "path"),
        ] {
            if msg.contains(needle) {
                return StoreError::Conflict(field);
            }
        }
        return StoreError::Conflict("value");
    }
    StoreError::Other(anyhow::Error::new(e))
}

const USER_COLUMNS: &str = "user_id, username, email, name, state, is_admin, user_type, bio, public_email, \
    can_create_group, external, namespace_id, organization_id, created_at, updated_at";
const GROUP_COLUMNS: &str = "namespace_id, name, path, full_path, full_name, description, visibility, parent_id, \
    traversal_ids, organization_id, created_at, fine_grained_tokens_only, fine_grained_tokens_only_after, \
    max_personal_access_token_lifetime";
const PROJECT_FROM: &str = "from project p join namespace n on n.namespace_id = p.namespace_id \
    left join app_user o on o.namespace_id = n.namespace_id and n.kind = 'user'";
const PROJECT_COLUMNS: &str = "p.project_id, p.namespace_id, p.name, p.path, p.full_path, p.full_name, p.description, \
    p.visibility, p.organization_id, p.creator_id, p.created_at, p.updated_at, p.ci_inbound_enabled, \
    p.ci_job_token_legacy, p.ci_push_allowed, n.kind as namespace_kind, \
    n.traversal_ids as namespace_traversal_ids, o.user_id as owner_user_id";
const TOKEN_COLUMNS: &str = "token_id, user_id, name, description, scopes, impersonation, revoked, revoked_at, \
    expires_on, created_at, updated_at, last_used_at, last_used_ips, previous_token_id, organization_id, grants, route_rules";
const AUDIT_COLUMNS: &str =
    "audit_event_id, author_id, entity_type, entity_id, event_name, details, ip_address, created_at";
const MEMBER_COLUMNS: &str = "source_kind, source_id, user_id, access_level, expires_on, created_by, created_at";

fn source_args(source: MemberSource) -> (&'static str, i64) {
    match source {
        MemberSource::Group(id) => ("group", id),
        MemberSource::Project(id) => ("project", id),
    }
}

fn b(v: bool) -> i64 {
    i64::from(v)
}

#[async_trait]
impl Store for SqlStore {
    async fn insert_organization(&self, name: &str, path: &str, now: Timestamp) -> StoreResult<Organization> {
        let mut sql = Sql::new("insert into organization (name, path, created_at) values (");
        sql.text_arg(name).push(", ").text_arg(path).push(", ").int(now.millis());
        sql.push(") returning organization_id, name, path, created_at");
        let row = sql.query().fetch_one(&self.pool).await.map_err(db_error)?;
        organization_from_row(&row)
    }

    async fn organization(&self, id: i64) -> StoreResult<Option<Organization>> {
        let mut sql =
            Sql::new("select organization_id, name, path, created_at from organization where organization_id = ");
        sql.int(id);
        self.fetch_optional(&sql).await?.as_ref().map(organization_from_row).transpose()
    }

    async fn list_organizations(&self, page: Page) -> StoreResult<(Vec<Organization>, i64)> {
        let sql = Sql::new("from organization");
        self.page_of(
            &sql,
            "organization_id, name, path, created_at",
            "organization_id asc",
            page,
            organization_from_row,
        )
        .await
    }

    async fn count_users(&self) -> StoreResult<i64> {
        self.count(&Sql::new("select count(*) from app_user")).await
    }

    async fn insert_user(&self, user: &NewUser) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        let id = insert_user_tx(&mut tx, user).await?;
        tx.commit().await.map_err(db_error)?;
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
        tx.commit().await.map_err(db_error)?;
        self.user(id).await
    }

    async fn user(&self, id: i64) -> StoreResult<Option<User>> {
        let mut sql = Sql::new(&format!("select {USER_COLUMNS} from app_user where user_id = "));
        sql.int(id);
        self.point(&sql).await
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
        self.page_of(&sql, USER_COLUMNS, "user_id asc", page, user_from_row).await
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
        tx.commit().await.map_err(db_error)?;
        let user = self.user(user_id).await?;
        let token = self.token(token_id).await?;
        Ok(user.zip(token))
    }

    async fn insert_group(&self, group: &NewGroup) -> StoreResult<Group> {
        let (full_path, full_name) = match &group.parent {
            Some(parent) => {
                (format!("{}/{}", parent.full_path, group.path), format!("{} / {}", parent.full_name, group.name))
            }
            None => (group.path.clone(), group.name.clone()),
        };
        let mut tx = self.begin().await?;
        ensure_path_free(&mut tx, &full_path).await?;
        let mut sql = Sql::new(
            "insert into namespace (kind, name, path, full_path, full_path_lower, full_name, description, visibility, parent_id, organization_id, created_at) values ('group', ",
        );
        sql.text_arg(&group.name).push(", ").text_arg(&group.path).push(", ").text_arg(&full_path).push(", ");
        sql.text_arg(&full_path.to_lowercase()).push(", ").text_arg(&full_name).push(", ").text_arg(&group.description);
        sql.push(", ")
            .text_arg(group.visibility.as_str())
            .push(", ")
            .arg(Arg::OptInt(group.parent.as_ref().map(|p| p.id)));
        sql.push(", ").int(group.organization_id).push(", ").int(group.now.millis()).push(") returning namespace_id");
        let row = sql.query().fetch_one(&mut *tx).await.map_err(db_error)?;
        let id: i64 = row.try_get(0).map_err(db_error)?;
        let mut traversal: Vec<i64> = group.parent.as_ref().map(|p| p.traversal_ids.clone()).unwrap_or_default();
        traversal.push(id);
        let mut upd = Sql::new("update namespace set traversal_ids = ");
        upd.text_arg(&encode_ids(&traversal)).push(" where namespace_id = ").int(id);
        upd.query().execute(&mut *tx).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        self.group(id).await?.ok_or_else(|| StoreError::Other(anyhow::anyhow!("group vanished after insert")))
    }

    async fn group(&self, id: i64) -> StoreResult<Option<Group>> {
        let mut sql =
            Sql::new(&format!("select {GROUP_COLUMNS} from namespace where kind = 'group' and namespace_id = "));
        sql.int(id);
        self.point(&sql).await
    }

    async fn group_by_path(&self, full_path: &str) -> StoreResult<Option<Group>> {
        let mut sql =
            Sql::new(&format!("select {GROUP_COLUMNS} from namespace where kind = 'group' and full_path_lower = "));
        sql.text_arg(&full_path.to_lowercase());
        self.point(&sql).await
    }

    async fn list_groups(&self, filter: &DirectoryFilter, page: Page) -> StoreResult<(Vec<Group>, i64)> {
        let mut sql = Sql::new("from namespace n where n.kind = 'group'");
        if let Some(viewer) = filter.viewer {
            sql.push(" and (exists (select 1 from member m where m.user_id = ").int(viewer);
            sql.push(" and m.source_kind = 'group' and n.traversal_ids like '%/' || m.source_id || '/%')");
            push_visibilities(&mut sql, "n", &filter.visibilities);
            sql.push(")");
        }
        if let Some(search) = &filter.search {
            let pattern = like_pattern(search);
            sql.push(" and (lower(n.name) like ").text_arg(&pattern).push(" escape '\\' or n.full_path_lower like ");
            sql.text_arg(&pattern).push(" escape '\\')");
        }
        if let Some(parent) = filter.parent_id {
            sql.push(" and n.parent_id = ").int(parent);
        }
        if filter.top_level_only {
            sql.push(" and n.parent_id is null");
        }
        self.page_of(&sql, GROUP_COLUMNS, "n.full_path_lower asc", page, group_from_row).await
    }

    async fn update_group(&self, id: i64, update: &NamespaceUpdate) -> StoreResult<Option<Group>> {
        let mut sql = Sql::new("update namespace set namespace_id = namespace_id");
        push_namespace_update(&mut sql, update);
        sql.push(" where kind = 'group' and namespace_id = ").int(id);
        sql.query().execute(&self.pool).await.map_err(db_error)?;
        self.group(id).await
    }

    async fn insert_project(&self, project: &NewProject) -> StoreResult<Project> {
        let full_path = format!("{}/{}", project.namespace_full_path, project.path);
        let full_name = format!("{} / {}", project.namespace_full_name, project.name);
        let mut tx = self.begin().await?;
        ensure_path_free(&mut tx, &full_path).await?;
        let mut sql = Sql::new(
            "insert into project (namespace_id, name, path, full_path, full_path_lower, full_name, description, visibility, organization_id, creator_id, created_at, updated_at) values (",
        );
        sql.int(project.namespace_id).push(", ").text_arg(&project.name).push(", ").text_arg(&project.path).push(", ");
        sql.text_arg(&full_path).push(", ").text_arg(&full_path.to_lowercase()).push(", ").text_arg(&full_name);
        sql.push(", ").text_arg(&project.description).push(", ").text_arg(project.visibility.as_str()).push(", ");
        sql.int(project.organization_id).push(", ").int(project.creator_id).push(", ").int(project.now.millis());
        sql.push(", ").int(project.now.millis()).push(") returning project_id");
        let row = sql.query().fetch_one(&mut *tx).await.map_err(db_error)?;
        let id: i64 = row.try_get(0).map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        self.project(id).await?.ok_or_else(|| StoreError::Other(anyhow::anyhow!("project vanished after insert")))
    }

    async fn project(&self, id: i64) -> StoreResult<Option<Project>> {
        let mut sql = Sql::new(&format!("select {PROJECT_COLUMNS} {PROJECT_FROM} where p.project_id = "));
        sql.int(id);
        self.point(&sql).await
    }

    async fn project_by_path(&self, full_path: &str) -> StoreResult<Option<Project>> {
        let mut sql = Sql::new(&format!("select {PROJECT_COLUMNS} {PROJECT_FROM} where p.full_path_lower = "));
        sql.text_arg(&full_path.to_lowercase());
        self.point(&sql).await
    }

    async fn list_projects(&self, filter: &DirectoryFilter, page: Page) -> StoreResult<(Vec<Project>, i64)> {
        let mut sql = Sql::new(PROJECT_FROM);
        sql.push(" where 1 = 1");
        if let Some(viewer) = filter.viewer {
            sql.push(" and (o.user_id = ")
                .int(viewer)
                .push(" or exists (select 1 from member m where m.user_id = ")
                .int(viewer);
            sql.push(" and ((m.source_kind = 'project' and m.source_id = p.project_id) or (m.source_kind = 'group' and n.traversal_ids like '%/' || m.source_id || '/%')))");
            push_visibilities(&mut sql, "p", &filter.visibilities);
            sql.push(")");
        }
        if let Some(search) = &filter.search {
            let pattern = like_pattern(search);
            sql.push(" and (lower(p.name) like ").text_arg(&pattern).push(" escape '\\' or p.full_path_lower like ");
            sql.text_arg(&pattern).push(" escape '\\')");
        }
        if let Some(parent) = filter.parent_id {
            sql.push(" and p.namespace_id = ").int(parent);
        }
        self.page_of(&sql, PROJECT_COLUMNS, "p.project_id desc", page, project_from_row).await
    }

    async fn transfer_project(&self, id: i64, to: &NamespaceTarget, now: Timestamp) -> StoreResult<Option<Project>> {
        let Some(project) = self.project(id).await? else { return Ok(None) };
        let full_path = format!("{}/{}", to.full_path, project.path);
        let full_name = format!("{} / {}", to.full_name, project.name);
        let mut tx = self.begin().await?;
        ensure_path_free(&mut tx, &full_path).await?;
        let mut sql = Sql::new("update project set namespace_id = ");
        sql.int(to.namespace_id).push(", full_path = ").text_arg(&full_path);
        sql.push(", full_path_lower = ")
            .text_arg(&full_path.to_lowercase())
            .push(", full_name = ")
            .text_arg(&full_name);
        sql.push(", updated_at = ").int(now.millis()).push(" where project_id = ").int(id);
        sql.query().execute(&mut *tx).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        self.project(id).await
    }

    async fn update_project(&self, id: i64, update: &NamespaceUpdate, now: Timestamp) -> StoreResult<Option<Project>> {
        let mut sql = Sql::new("update project set updated_at = ");
        sql.int(now.millis());
        push_namespace_update(&mut sql, update);
        sql.push(" where project_id = ").int(id);
        sql.query().execute(&self.pool).await.map_err(db_error)?;
        self.project(id).await
    }

    async fn delete_project(&self, id: i64) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let mut members = Sql::new("delete from member where source_kind = 'project' and source_id = ");
        members.int(id);
        members.query().execute(&mut *tx).await.map_err(db_error)?;
        // Ids may be reused: no allowlist may keep naming a project that is gone.
        let mut entries = Sql::new("delete from ci_job_token_allowlist where source_kind = 'project' and source_id = ");
        entries.int(id);
        entries.query().execute(&mut *tx).await.map_err(db_error)?;
        let mut sql = Sql::new("delete from project where project_id = ");
        sql.int(id);
        let done = sql.query().execute(&mut *tx).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn upsert_member(&self, member: &Member) -> StoreResult<()> {
        let (kind, id) = source_args(member.source);
        let mut sql = Sql::new(
            "insert into member (source_kind, source_id, user_id, access_level, expires_on, created_by, created_at) values (",
        );
        sql.text_arg(kind)
            .push(", ")
            .int(id)
            .push(", ")
            .int(member.user_id)
            .push(", ")
            .int(member.access_level.value());
        sql.push(", ")
            .arg(Arg::OptInt(member.expires_at.map(Date::days)))
            .push(", ")
            .arg(Arg::OptInt(member.created_by));
        sql.push(", ").int(member.created_at.millis());
        sql.push(") on conflict (source_kind, source_id, user_id) do update set access_level = excluded.access_level, expires_on = excluded.expires_on");
        sql.query().execute(&self.pool).await.map_err(db_error)?;
        Ok(())
    }

    async fn member(&self, source: MemberSource, user_id: i64) -> StoreResult<Option<Member>> {
        let (kind, id) = source_args(source);
        let mut sql = Sql::new(&format!("select {MEMBER_COLUMNS} from member where source_kind = "));
        sql.text_arg(kind).push(" and source_id = ").int(id).push(" and user_id = ").int(user_id);
        self.fetch_optional(&sql).await?.as_ref().map(member_from_row).transpose()
    }

    async fn list_members(
        &self,
        sources: &[MemberSource],
        highest_per_user: bool,
        page: Page,
    ) -> StoreResult<(Vec<Member>, i64)> {
        let mut sql = Sql::new(if highest_per_user {
            "from (select *, row_number() over (partition by user_id order by access_level desc, source_kind, \
             source_id) as pick from member where (1 = 0"
        } else {
            "from member where (1 = 0"
        });
        for source in sources {
            let (kind, id) = source_args(*source);
            sql.push(" or (source_kind = ").text_arg(kind).push(" and source_id = ").int(id).push(")");
        }
        sql.push(if highest_per_user { ")) ranked where pick = 1" } else { ")" });
        self.page_of(&sql, MEMBER_COLUMNS, "user_id asc, access_level desc", page, member_from_row).await
    }

    async fn users(&self, ids: &[i64]) -> StoreResult<Vec<User>> {
        let mut sql = Sql::new(&format!("select {USER_COLUMNS} from app_user where user_id in "));
        sql.int_list(ids);
        self.fetch_all(&sql).await?.iter().map(user_from_row).collect()
    }

    async fn delete_member(&self, source: MemberSource, user_id: i64) -> StoreResult<bool> {
        let (kind, id) = source_args(source);
        let mut sql = Sql::new("delete from member where source_kind = ");
        sql.text_arg(kind).push(" and source_id = ").int(id).push(" and user_id = ").int(user_id);
        let done = sql.query().execute(&self.pool).await.map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn member_levels(
        &self,
        user_id: i64,
        sources: &[MemberSource],
        today: Date,
    ) -> StoreResult<Vec<(MemberSource, AccessLevel)>> {
        let mut sql = Sql::new(&format!("select {MEMBER_COLUMNS} from member where user_id = "));
        sql.int(user_id).push(" and (expires_on is null or expires_on > ").int(today.days()).push(") and (1 = 0");
        for source in sources {
            let (kind, id) = source_args(*source);
            sql.push(" or (source_kind = ").text_arg(kind).push(" and source_id = ").int(id).push(")");
        }
        sql.push(")");
        let members: Vec<Member> = self.points(&sql).await?;
        Ok(members.into_iter().map(|m| (m.source, m.access_level)).collect())
    }

    async fn insert_token(&self, token: &NewToken) -> StoreResult<Token> {
        let mut tx = self.begin().await?;
        let id = insert_token_tx(&mut tx, token).await?;
        tx.commit().await.map_err(db_error)?;
        self.token(id).await?.ok_or_else(|| StoreError::Other(anyhow::anyhow!("token vanished after insert")))
    }

    async fn token(&self, id: i64) -> StoreResult<Option<Token>> {
        let mut sql = Sql::new(&format!("select {TOKEN_COLUMNS} from personal_access_token where token_id = "));
        sql.int(id);
        self.point(&sql).await
    }

    async fn token_by_digest(&self, digests: &[String]) -> StoreResult<Option<Token>> {
        let mut sql = Sql::new(&format!("select {TOKEN_COLUMNS} from personal_access_token where token_digest in "));
        sql.text_list(digests);
        self.point(&sql).await
    }

    async fn list_tokens(&self, filter: &TokenFilter, page: Page) -> StoreResult<(Vec<Token>, i64)> {
        let mut sql = Sql::new("from personal_access_token where 1 = 1");
        if let Some(id) = filter.id {
            sql.push(" and token_id = ").int(id);
        }
        if let Some(user) = filter.user_id {
            sql.push(" and user_id = ").int(user);
        }
        if let Some(v) = filter.impersonation {
            sql.push(" and impersonation = ").int(b(v));
        }
        if let Some(v) = filter.revoked {
            sql.push(" and revoked = ").int(b(v));
        }
        if let (Some(active), Some(today)) = (filter.active, filter.today) {
            if active {
                sql.push(" and revoked = 0 and (expires_on is null or expires_on > ").int(today.days()).push(")");
            } else {
                sql.push(" and (revoked = 1 or expires_on <= ").int(today.days()).push(")");
            }
        }
        if let Some(t) = filter.created_before {
            sql.push(" and created_at < ").int(t.millis());
        }
        if let Some(t) = filter.created_after {
            sql.push(" and created_at > ").int(t.millis());
        }
        if let Some(t) = filter.last_used_before {
            sql.push(" and last_used_at < ").int(t.millis());
        }
        if let Some(t) = filter.last_used_after {
            sql.push(" and last_used_at > ").int(t.millis());
        }
        if let Some(d) = filter.expires_before {
            sql.push(" and expires_on < ").int(d.days());
        }
        if let Some(d) = filter.expires_after {
            sql.push(" and expires_on > ").int(d.days());
        }
        if let Some(search) = &filter.search {
            sql.push(" and lower(name) like ").text_arg(&like_pattern(search)).push(" escape '\\'");
        }
        if let Some(granular) = filter.granular {
            sql.push(if granular { " and scopes = 'granular'" } else { " and scopes <> 'granular'" });
        }
        if let Some(root) = filter.reaching_group {
            push_reaching_group(&mut sql, root);
        }
        let order = match filter.sort {
            TokenSort::IdDesc => "token_id desc",
            TokenSort::IdAsc => "token_id asc",
            TokenSort::CreatedAsc => "created_at asc, token_id asc",
            TokenSort::CreatedDesc => "created_at desc, token_id desc",
            TokenSort::LastUsedAsc => "last_used_at asc, token_id asc",
            TokenSort::LastUsedDesc => "last_used_at desc, token_id desc",
            TokenSort::ExpiresAsc => "expires_on asc, token_id asc",
            TokenSort::ExpiresDesc => "expires_on desc, token_id desc",
            TokenSort::NameAsc => "name asc, token_id asc",
            TokenSort::NameDesc => "name desc, token_id desc",
        };
        self.page_of(&sql, TOKEN_COLUMNS, order, page, token_from_row).await
    }

    async fn revoke_token(&self, id: i64, now: Timestamp) -> StoreResult<bool> {
        let mut sql = Sql::new("update personal_access_token set revoked = 1, revoked_at = ");
        sql.int(now.millis())
            .push(", updated_at = ")
            .int(now.millis())
            .push(" where revoked = 0 and token_id = ")
            .int(id);
        let done = sql.query().execute(&self.pool).await.map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn rotate_token(&self, old_id: i64, new: &NewToken) -> StoreResult<Option<Token>> {
        let mut tx = self.begin().await?;
        let mut revoke = Sql::new("update personal_access_token set revoked = 1, revoked_at = ");
        revoke.int(new.now.millis()).push(", updated_at = ").int(new.now.millis());
        revoke.push(" where revoked = 0 and token_id = ").int(old_id);
        let done = revoke.query().execute(&mut *tx).await.map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        let id = insert_token_tx(&mut tx, new).await?;
        tx.commit().await.map_err(db_error)?;
        self.token(id).await
    }

    async fn revoke_family(&self, id: i64, now: Timestamp) -> StoreResult<Vec<i64>> {
        let mut tx = self.begin().await?;
        let mut find = Sql::new("with recursive family (token_id) as (select ");
        find.int(id).push(" union all select t.token_id from personal_access_token t join family f on t.previous_token_id = f.token_id) ");
        find.push("select t.token_id from personal_access_token t join family f on f.token_id = t.token_id where t.revoked = 0 order by t.token_id");
        let rows = find.query().fetch_all(&mut *tx).await.map_err(db_error)?;
        let ids = rows.iter().map(|row| row.try_get::<i64, _>(0).map_err(db_error)).collect::<StoreResult<Vec<_>>>()?;
        if !ids.is_empty() {
            let mut revoke = Sql::new("update personal_access_token set revoked = 1, revoked_at = ");
            revoke
                .int(now.millis())
                .push(", updated_at = ")
                .int(now.millis())
                .push(" where revoked = 0 and token_id in ");
            revoke.int_list(&ids);
            revoke.query().execute(&mut *tx).await.map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(ids)
    }

    async fn touch_token(&self, id: i64, last_used_at: Timestamp, ips: &[String]) -> StoreResult<()> {
        let mut sql = Sql::new("update personal_access_token set last_used_at = ");
        sql.int(last_used_at.millis())
            .push(", last_used_ips = ")
            .text_arg(&ips.join(","))
            .push(" where token_id = ")
            .int(id);
        sql.query().execute(&self.pool).await.map_err(db_error)?;
        Ok(())
    }

    async fn settings(&self) -> StoreResult<Settings> {
        let rows: Vec<SettingRow> = self.points(&Sql::new("select name, value from setting")).await?;
        let mut settings = Settings::default();
        for row in rows {
            apply_setting(&mut settings, &row.name, &row.value);
        }
        Ok(settings)
    }

    async fn save_settings(&self, settings: &Settings) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for (name, value) in settings_pairs(settings) {
            let mut sql = Sql::new("insert into setting (name, value) values (");
            sql.text_arg(name)
                .push(", ")
                .text_arg(&value)
                .push(") on conflict (name) do update set value = excluded.value");
            sql.query().execute(&mut *tx).await.map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn insert_audit_event(&self, event: &NewAuditEvent) -> StoreResult<()> {
        let mut sql = Sql::new(
            "insert into audit_event (author_id, entity_type, entity_id, event_name, details, ip_address, created_at) values (",
        );
        sql.arg(Arg::OptInt(event.author_id)).push(", ").text_arg(&event.entity_type).push(", ").int(event.entity_id);
        sql.push(", ").text_arg(&event.event_name).push(", ").text_arg(&event.details).push(", ");
        sql.arg(Arg::OptText(event.ip_address.clone())).push(", ").int(event.created_at.millis()).push(")");
        sql.query().execute(&self.pool).await.map_err(db_error)?;
        Ok(())
    }

    async fn list_audit_events(&self, filter: &AuditFilter, page: Page) -> StoreResult<(Vec<AuditEvent>, i64)> {
        let mut sql = Sql::new("from audit_event where 1 = 1");
        if let Some(t) = &filter.entity_type {
            sql.push(" and entity_type = ").text_arg(t);
        }
        if let Some(id) = filter.entity_id {
            sql.push(" and entity_id = ").int(id);
        }
        if let Some(t) = filter.created_after {
            sql.push(" and created_at >= ").int(t.millis());
        }
        if let Some(t) = filter.created_before {
            sql.push(" and created_at <= ").int(t.millis());
        }
        self.page_of(&sql, AUDIT_COLUMNS, "audit_event_id desc", page, audit_from_row).await
    }

    async fn audit_event(&self, id: i64) -> StoreResult<Option<AuditEvent>> {
        let mut sql = Sql::new(&format!("select {AUDIT_COLUMNS} from audit_event where audit_event_id = "));
        sql.int(id);
        self.fetch_optional(&sql).await?.as_ref().map(audit_from_row).transpose()
    }

    async fn insert_runner(&self, runner: &authority::NewRunner) -> StoreResult<domain::Runner> {
        self.ci_insert_runner(runner).await
    }

    async fn runner_by_digest(&self, digests: &[String]) -> StoreResult<Option<domain::Runner>> {
        self.ci_runner_by_digest(digests).await
    }

    async fn insert_job(&self, job: &authority::NewJob) -> StoreResult<domain::Job> {
        self.ci_insert_job(job).await
    }

    async fn job(&self, id: i64) -> StoreResult<Option<domain::Job>> {
        self.ci_job(id).await
    }

    async fn pipeline(&self, id: i64) -> StoreResult<Option<domain::Pipeline>> {
        self.ci_pipeline(id).await
    }

    async fn finish_job(
        &self,
        id: i64,
        status: domain::JobStatus,
        now: Timestamp,
    ) -> StoreResult<Option<(domain::Job, bool)>> {
        self.ci_finish_job(id, status, now).await
    }

    async fn save_job_token_settings(
        &self,
        project_id: i64,
        settings: domain::JobTokenSettings,
        now: Timestamp,
    ) -> StoreResult<Option<Project>> {
        self.ci_save_job_token_settings(project_id, settings, now).await
    }

    async fn allowlist(&self, project_id: i64) -> StoreResult<Vec<domain::AllowlistEntry>> {
        self.ci_allowlist(project_id).await
    }

    async fn add_allowlist_entry(&self, entry: &domain::AllowlistEntry) -> StoreResult<authority::AllowlistAdd> {
        self.ci_add_allowlist_entry(entry).await
    }

    async fn update_allowlist_entry(
        &self,
        project_id: i64,
        source: domain::AllowlistSource,
        default_permissions: bool,
        policies: domain::JobPolicies,
    ) -> StoreResult<Option<domain::AllowlistEntry>> {
        self.ci_update_allowlist_entry(project_id, source, default_permissions, policies).await
    }

    async fn delete_allowlist_entry(&self, project_id: i64, source: domain::AllowlistSource) -> StoreResult<bool> {
        self.ci_delete_allowlist_entry(project_id, source).await
    }

    async fn allowlist_entries(
        &self,
        project_id: i64,
        sources: &[domain::AllowlistSource],
    ) -> StoreResult<Vec<domain::AllowlistEntry>> {
        self.ci_allowlist_entries(project_id, sources).await
    }

    async fn allowlisting(
        &self,
        sources: &[domain::AllowlistSource],
        limit: i64,
    ) -> StoreResult<Vec<domain::AllowlistEntry>> {
        self.ci_allowlisting(sources, limit).await
    }

    async fn signing_keys(&self) -> StoreResult<Vec<domain::StoredKey>> {
        self.ci_signing_keys().await
    }

    async fn insert_first_signing_key(&self, key: &domain::StoredKey) -> StoreResult<bool> {
        self.ci_insert_first_signing_key(key).await
    }

    async fn rotate_signing_key(
        &self,
        key: &domain::StoredKey,
        now: Timestamp,
        publish_until: Timestamp,
    ) -> StoreResult<()> {
        self.ci_rotate_signing_key(key, now, publish_until).await
    }

    async fn add_job_token_access(&self, access: &[domain::JobTokenAccess]) -> StoreResult<()> {
        self.ci_add_job_token_access(access).await
    }

    async fn job_token_access(
        &self,
        target_project_id: i64,
        since: Timestamp,
    ) -> StoreResult<Vec<domain::JobTokenAccess>> {
        self.ci_job_token_access(target_project_id, since).await
    }

    async fn add_token_usage(&self, usage: &[TokenUsage]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // Keys of one batch are distinct, as PostgreSQL's upsert needs; 6 parameters a row stay far below both
        // databases' limits at this size.
        for chunk in usage.chunks(500) {
            let mut sql = Sql::new(
                "insert into token_usage (token_id, permission, boundary, first_used_at, last_used_at, uses) values ",
            );
            for (i, u) in chunk.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" }).int(u.token_id).push(", ").text_arg(&u.permission);
                sql.push(", ").text_arg(&u.boundary.to_stored()).push(", ").int(u.first_used_at.millis());
                sql.push(", ").int(u.last_used_at.millis()).push(", ").int(u.uses).push(")");
            }
            sql.push(
                " on conflict (token_id, permission, boundary) do update set last_used_at = excluded.last_used_at, ",
            );
            sql.push("uses = token_usage.uses + excluded.uses");
            sql.query().execute(&mut *tx).await.map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn token_usage(&self, token_id: i64, since: Option<Timestamp>) -> StoreResult<Vec<TokenUsage>> {
        let mut sql = Sql::new(
            "select token_id, permission, boundary, first_used_at, last_used_at, uses from token_usage where token_id = ",
        );
        sql.int(token_id);
        if let Some(since) = since {
            sql.push(" and last_used_at >= ").int(since.millis());
        }
        sql.push(" order by permission, boundary");
        self.fetch_all(&sql).await?.iter().map(usage_from_row).collect()
    }

    async fn insert_notification(&self, notification: &Notification) -> StoreResult<()> {
        let mut sql = Sql::new("insert into notification (user_id, kind, message, created_at) values (");
        sql.int(notification.user_id).push(", ").text_arg(&notification.kind).push(", ");
        sql.text_arg(&notification.message).push(", ").int(notification.created_at.millis()).push(")");
        sql.query().execute(&self.pool).await.map_err(db_error)?;
        Ok(())
    }

    async fn list_notifications(&self, user_id: i64, page: Page) -> StoreResult<(Vec<Notification>, i64)> {
        let mut sql = Sql::new("from notification where user_id = ");
        sql.int(user_id);
        self.page_of(
            &sql,
            "notification_id, user_id, kind, message, created_at",
            "notification_id desc",
            page,
            notification_from_row,
        )
        .await
    }
}

/// The PostgreSQL channel on which nodes tell each other what changed.
pub const CHANGES_CHANNEL: &str = "tessera_changes";

/// What writes announce, as it arrives (PostgreSQL `LISTEN`): every committed change to a cached fact, by the
/// triggers of migration `0002_announce_changes`, whoever wrote it. The feed never reconnects by itself: a lost
/// connection ends it, so that the caller knows it may have missed changes.
pub struct ChangeFeed {
    listener: sqlx::postgres::PgListener,
}

impl ChangeFeed {
    /// Connects to `url` (a PostgreSQL URL) and listens; changes published after this returns are received.
    pub async fn connect(url: &str) -> anyhow::Result<ChangeFeed> {
        let mut listener = sqlx::postgres::PgListener::connect(url).await.context("cannot connect the change feed")?;
        listener.listen(CHANGES_CHANNEL).await.context("cannot listen for changes")?;
        Ok(ChangeFeed { listener })
    }

    /// The next change; `None` when the connection is lost (changes may have been missed since).
    pub async fn next(&mut self) -> Option<String> {
        match self.listener.try_recv().await {
            Ok(Some(notification)) => Some(notification.payload().to_owned()),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "the change feed failed");
                None
            }
        }
    }
}

/// Holds a SQLite database for this process alone: its fact cache cannot hear another process's writes.
pub struct ExclusiveUse {
    _file: Option<std::fs::File>,
}

impl ExclusiveUse {
    /// Locks `<database file>.lock` for a `sqlite:` URL naming a file; nothing to do for PostgreSQL (nodes share
    /// it and hear each other) or an in-memory database.
    pub fn acquire(url: &str) -> anyhow::Result<ExclusiveUse> {
        let Some(path) = sqlite_file(url) else { return Ok(ExclusiveUse { _file: None }) };
        let lock_path = format!("{path}.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("cannot open {lock_path}"))?;
        match file.try_lock() {
            Ok(()) => Ok(ExclusiveUse { _file: Some(file) }),
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "another Tessera process is using the SQLite database {path}; several nodes need PostgreSQL"
            ),
            Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {lock_path}")),
        }
    }
}

/// The file a `sqlite:` URL names, if any.
fn sqlite_file(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(path.to_owned())
}

async fn ensure_path_free(tx: &mut sqlx::Transaction<'_, sqlx::Any>, full_path: &str) -> StoreResult<()> {
    let lower = full_path.to_lowercase();
    let mut sql = Sql::new("select (select count(*) from namespace where full_path_lower = ");
    sql.text_arg(&lower).push(") + (select count(*) from project where full_path_lower = ").text_arg(&lower).push(")");
    let row = sql.query().fetch_one(&mut **tx).await.map_err(db_error)?;
    let n: i64 = row.try_get(0).map_err(db_error)?;
    if n > 0 {
        return Err(StoreError::Conflict("path"));
    }
    Ok(())
}

async fn insert_user_tx(tx: &mut sqlx::Transaction<'_, sqlx::Any>, user: &NewUser) -> StoreResult<i64> {
    ensure_path_free(tx, &user.username).await?;
    let mut ns = Sql::new(
        "insert into namespace (kind, name, path, full_path, full_path_lower, full_name, visibility, organization_id, created_at) values ('user', ",
    );
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
        "insert into app_user (username, username_lower, email, email_lower, name, password_hash, is_admin, user_type, bio, public_email, can_create_group, external, namespace_id, organization_id, created_at, updated_at) values (",
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
        .push(") returning user_id");
    let row = sql.query().fetch_one(&mut **tx).await.map_err(db_error)?;
    row.try_get(0).map_err(db_error)
}

async fn insert_token_tx(tx: &mut sqlx::Transaction<'_, sqlx::Any>, token: &NewToken) -> StoreResult<i64> {
    let mut sql = Sql::new(
        "insert into personal_access_token (user_id, name, description, token_digest, scopes, impersonation, expires_on, created_at, updated_at, previous_token_id, organization_id, grants, route_rules) values (",
    );
    sql.int(token.user_id).push(", ").text_arg(&token.name).push(", ").text_arg(&token.description).push(", ");
    sql.text_arg(&token.digest).push(", ").text_arg(&token.scopes.to_stored()).push(", ").int(b(token.impersonation));
    sql.push(", ").arg(Arg::OptInt(token.expires_at.map(Date::days))).push(", ").int(token.now.millis()).push(", ");
    sql.int(token.now.millis())
        .push(", ")
        .arg(Arg::OptInt(token.previous_token_id))
        .push(", ")
        .int(token.organization_id)
        .push(", ")
        .text_arg(&Grant::to_stored(&token.grants))
        .push(", ")
        .text_arg(&token.route_rules.join("\n"));
    sql.push(") returning token_id");
    let row = sql.query().fetch_one(&mut **tx).await.map_err(db_error)?;
    row.try_get(0).map_err(db_error)
}

fn push_visibilities(sql: &mut Sql, alias: &str, visibilities: &[domain::Visibility]) {
    for visibility in visibilities {
        sql.push(&format!(" or {alias}.visibility = ")).text_arg(visibility.as_str());
    }
}

/// Tokens that reach the hierarchy of top-level group `root` (see `TokenFilter::reaching_group`). A grant is
/// stored as lines `access target permissions`, a target as `g<id>` or `p<id>` (`domain::Grant::to_stored`).
fn push_reaching_group(sql: &mut Sql, root: i64) {
    let under = format!("/{root}/%");
    // No access name or bundle other than `all_memberships` contains that word.
    sql.push(" and ((scopes <> 'granular' or grants like '%all_memberships %') and user_id in (select m.user_id ")
        .push("from member m where (m.source_kind = 'group' and m.source_id in ")
        .push("(select namespace_id from namespace where kind = 'group' and traversal_ids like ")
        .text_arg(&under)
        .push(
            ")) or (m.source_kind = 'project' and m.source_id in (select p.project_id from project p join namespace n ",
        )
        .push("on n.namespace_id = p.namespace_id where n.traversal_ids like ")
        .text_arg(&under)
        .push(")))");
    sql.push(" or (scopes = 'granular' and (exists (select 1 from namespace n where n.kind = 'group' ")
        .push("and n.traversal_ids like ")
        .text_arg(&under)
        .push(
            " and grants like ('% g' || n.namespace_id || ' %')) or exists (select 1 from project p join namespace n ",
        )
        .push("on n.namespace_id = p.namespace_id where n.traversal_ids like ")
        .text_arg(&under)
        .push(" and grants like ('% p' || p.project_id || ' %')))))");
}

fn push_namespace_update(sql: &mut Sql, update: &NamespaceUpdate) {
    if let Some(name) = &update.name {
        sql.push(", name = ").text_arg(name);
    }
    if let Some(description) = &update.description {
        sql.push(", description = ").text_arg(description);
    }
    if let Some(visibility) = update.visibility {
        sql.push(", visibility = ").text_arg(visibility.as_str());
    }
    if let Some(policy) = update.token_policy {
        sql.push(", fine_grained_tokens_only = ").int(i64::from(policy.fine_grained_tokens_only));
        sql.push(", fine_grained_tokens_only_after = ")
            .arg(Arg::OptInt(policy.fine_grained_tokens_only_after.map(Date::days)));
        sql.push(", max_personal_access_token_lifetime = ").arg(Arg::OptInt(policy.max_personal_access_token_lifetime));
    }
}

fn apply_setting(settings: &mut Settings, name: &str, value: &str) {
    match name {
        "max_personal_access_token_lifetime" => settings.max_personal_access_token_lifetime = value.parse().ok(),
        "require_personal_access_token_expiry" => settings.require_personal_access_token_expiry = value == "true",
        "impersonation_enabled" => settings.impersonation_enabled = value == "true",
        "admin_mode" => settings.admin_mode = value == "true",
        "fine_grained_tokens_only" => settings.fine_grained_tokens_only = value == "true",
        "fine_grained_tokens_only_after" => settings.fine_grained_tokens_only_after = Date::parse(value),
        "disable_legacy_token_creation" => settings.disable_legacy_token_creation = value == "true",
        _ => {}
    }
}

fn settings_pairs(settings: &Settings) -> Vec<(&'static str, String)> {
    vec![
        (
            "max_personal_access_token_lifetime",
            settings.max_personal_access_token_lifetime.map(|d| d.to_string()).unwrap_or_default(),
        ),
        ("require_personal_access_token_expiry", settings.require_personal_access_token_expiry.to_string()),
        ("impersonation_enabled", settings.impersonation_enabled.to_string()),
        ("admin_mode", settings.admin_mode.to_string()),
        ("fine_grained_tokens_only", settings.fine_grained_tokens_only.to_string()),
        (
            "fine_grained_tokens_only_after",
            settings.fine_grained_tokens_only_after.map(|d| d.to_string()).unwrap_or_default(),
        ),
        ("disable_legacy_token_creation", settings.disable_legacy_token_creation.to_string()),
    ]
}

/// Fresh databases for tests: a temporary SQLite file, or, when `TEST_DATABASE_URL` names a PostgreSQL server,
/// a new database on it that `TestDatabase::drop_database` removes.
pub mod testing {
    use sqlx::Connection;

    pub struct TestDatabase {
        pub url: String,
        admin_url: Option<String>,
        name: String,
        dir: Option<std::path::PathBuf>,
    }

    impl TestDatabase {
        pub async fn create() -> anyhow::Result<TestDatabase> {
            sqlx::any::install_default_drivers();
            let mut random = [0u8; 8];
            getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("random source failed: {e}"))?;
            let name = format!("tessera_test_{}", random.iter().map(|b| format!("{b:02x}")).collect::<String>());
            match std::env::var("TEST_DATABASE_URL") {
                Ok(admin_url) if admin_url.starts_with("postgres") => {
                    let mut conn = sqlx::AnyConnection::connect(&admin_url).await?;
                    sqlx::query(&format!("create database {name}")).execute(&mut conn).await?;
                    conn.close().await?;
                    let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin_url);
                    Ok(TestDatabase { url: format!("{base}/{name}"), admin_url: Some(admin_url), name, dir: None })
                }
                _ => {
                    let dir = std::env::temp_dir().join(&name);
                    std::fs::create_dir_all(&dir)?;
                    let url = format!("sqlite://{}?mode=rwc", dir.join("tessera.db").display());
                    Ok(TestDatabase { url, admin_url: None, name, dir: Some(dir) })
                }
            }
        }

        /// Removes the database; call it after every pool on it is closed.
        pub async fn drop_database(self) -> anyhow::Result<()> {
            if let Some(admin_url) = &self.admin_url {
                let mut conn = sqlx::AnyConnection::connect(admin_url).await?;
                sqlx::query(&format!("drop database if exists {} with (force)", self.name)).execute(&mut conn).await?;
                conn.close().await?;
            }
            if let Some(dir) = &self.dir {
                std::fs::remove_dir_all(dir)?;
            }
            Ok(())
        }
    }
}
