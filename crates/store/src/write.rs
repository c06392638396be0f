//! The only ways to write: a transaction ([`Write`]) whose commit names what it changed, and a single
//! statement ([`SqlStore::execute`]) that does the same. Both announce the changes to every listener right
//! after the commit.
//!
//! **Invariant:** no other module of this crate commits or writes on the pool, so no write can reach the
//! database without its announcement (a tidy test checks that `self.pool` appears only here and in `lib.rs`).
//! A write that fails, or a transaction dropped without commit, is rolled back and announces nothing.

use std::sync::{Arc, RwLock};

use authority::{Change, ChangeListener, Changes, StoreResult};
use sqlx::any::AnyQueryResult;

use crate::sql::Sql;
use crate::{Backend, SqlStore, db_error};

/// The listeners of a store's changes.
#[derive(Default)]
pub(crate) struct Listeners(RwLock<Vec<Arc<dyn ChangeListener>>>);

impl Listeners {
    fn announce(&self, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        if let Ok(listeners) = self.0.read() {
            for listener in listeners.iter() {
                for change in changes {
                    listener.changed(*change);
                }
            }
        }
    }
}

impl Changes for SqlStore {
    fn announce_to(&self, listener: Arc<dyn ChangeListener>) {
        if let Ok(mut listeners) = self.listeners.0.write() {
            listeners.push(listener);
        }
    }

    fn reads_wait_on_a_server(&self) -> bool {
        self.backend == crate::Backend::Postgres
    }
}

/// A write transaction. Statements run on it through `&mut *write`; [`Write::commit`] names what it changed.
pub(crate) struct Write<'s> {
    tx: sqlx::Transaction<'s, sqlx::Any>,
    listeners: &'s Listeners,
    backend: Backend,
}

impl Write<'_> {
    /// The database the transaction runs on.
    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// Commits, then tells every listener what changed.
    pub(crate) async fn commit(self, changes: &[Change]) -> StoreResult<()> {
        self.tx.commit().await.map_err(db_error)?;
        self.listeners.announce(changes);
        Ok(())
    }
}

impl std::ops::Deref for Write<'_> {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for Write<'_> {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

impl SqlStore {
    /// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`): a deferred transaction
    /// that reads first and writes later fails (`SQLITE_BUSY_SNAPSHOT`, which no busy timeout waits out) when
    /// another connection commits in between.
    pub(crate) async fn begin(&self) -> StoreResult<Write<'_>> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
        .map_err(db_error)?;
        Ok(Write { tx, listeners: &self.listeners, backend: self.backend })
    }

    /// Runs one writing statement in its own transaction, then tells every listener what changed.
    pub(crate) async fn execute(&self, sql: &Sql, changes: &[Change]) -> StoreResult<AnyQueryResult> {
        let done = sql.query().execute(&self.pool).await.map_err(db_error)?;
        self.listeners.announce(changes);
        Ok(done)
    }
}
