//! The one crate that knows SQL: `authority`'s store traits for SQLite (the embedded default) and PostgreSQL,
//! through one set of statements that both accept. Each aggregate's SQL lives in its own file; this one holds
//! the connection and the read helpers, `write` the only ways to write.
//!
//! **Architecture Invariant:** only `store` depends on sqlx. Differences between the two databases stay in
//! this crate: the migrations (one directory per backend, same names) and `Backend`. Every write commits through
//! `write`, which announces what it changed to the fact cache.

mod allowlists;
mod audit;
mod decision;
mod deletions;
mod deploy;
mod feed;
mod inventory;
mod jobs;
mod keys;
mod members;
mod namespaces;
mod notices;
mod point;
mod rows;
mod settings;
mod sql;
mod ssh_keys;
pub mod testing;
mod tokens;
mod triggers;
mod usage;
mod user_secrets;
mod users;
mod write;

use anyhow::Context;
use authority::{Page, StoreError, StoreResult};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

pub use feed::{CHANGES_CHANNEL, ChangeFeed, ExclusiveUse};
use point::PointReader;
use rows::FromRow;
use sql::Sql;
use write::Listeners;

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
    /// The pool reads go through. On PostgreSQL its connections are not pinged before each use, as the writing
    /// pool's are (a round trip per read, on the hot path's misses); a read whose connection turns out to be gone
    /// is tried again on another ([`connection_lost`]), which a write could not be. On SQLite, the one pool.
    reads: AnyPool,
    backend: Backend,
    /// On a SQLite file, the in-thread reader for the hot path's point reads (see `point`).
    points: Option<PointReader>,
    /// Who hears what each commit changed.
    listeners: Listeners,
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
        let reads = match backend {
            Backend::Sqlite => pool.clone(),
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(max_connections)
                .test_before_acquire(false)
                .connect(url)
                .await
                .with_context(|| format!("cannot connect to the {backend:?} database"))?,
        };
        let migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator.run(&pool).await.context("cannot migrate the database")?;
        let points = match (backend, sqlite_file(url)) {
            (Backend::Sqlite, Some(path)) => Some(PointReader::open(&path)?),
            _ => None,
        };
        Ok(SqlStore { pool, reads, backend, points, listeners: Listeners::default() })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.reads.close().await;
    }

    async fn fetch_all(&self, sql: &Sql) -> StoreResult<Vec<AnyRow>> {
        self.read(|| sql.query().fetch_all(&self.reads)).await
    }

    async fn fetch_optional(&self, sql: &Sql) -> StoreResult<Option<AnyRow>> {
        self.read(|| sql.query().fetch_optional(&self.reads)).await
    }

    /// Runs a read on the reading pool, again when its connection turns out to be gone: at most once more than
    /// the pool has connections, each of which may be (every one is, after the server restarted).
    async fn read<T, F>(&self, read: impl Fn() -> F) -> StoreResult<T>
    where
        F: std::future::Future<Output = Result<T, sqlx::Error>>,
    {
        let mut tries = self.reads.options().get_max_connections() + 1;
        loop {
            match read().await {
                Err(e) if connection_lost(&e) && tries > 1 => tries -= 1,
                done => return done.map_err(db_error),
            }
        }
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
        let row = self.fetch_optional(sql).await?.ok_or_else(|| db_error(sqlx::Error::RowNotFound))?;
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

/// Whether `e` says the connection was gone before the statement ran: the socket failed, or the server ended or
/// refused the connection (SQLSTATE classes 08, connection exception, and 57P, operator intervention: a server
/// shut down or restarted).
fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
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

fn b(v: bool) -> i64 {
    i64::from(v)
}

/// The stored form of a set of job-token policies.
fn bits(policies: domain::JobPolicies) -> i64 {
    i64::from(policies.bits())
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
