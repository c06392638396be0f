//! How nodes hear each other: the PostgreSQL change feed, and the lock that keeps a SQLite file to one process.
//!
//! **Invariant:** a lost feed ends the stream, so that the caller knows it may have missed changes; a SQLite file
//! has one process.

use anyhow::Context;

use crate::sqlite_file;

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
