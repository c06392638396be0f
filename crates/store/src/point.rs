//! Point reads on SQLite without the driver's worker thread.
//!
//! sqlx runs every SQLite statement on a worker thread and hands rows back through channels: two thread
//! wake-ups per statement, tens of microseconds on a busy machine, for a lookup SQLite itself answers in a few.
//! The reads a decision needs on a cache miss (a token by digest, a user, a group, a project, a user's levels,
//! the settings) are single-row or few-row lookups by a unique key or an index, so they run here instead: in the
//! calling thread, on a connection of this process's own small pool that may only read (`query_only`) and never
//! waits for a lock (`busy_timeout` 0).
//!
//! The statements are the same [`Sql`] texts the sqlx path runs (SQLite reads `$1` as a parameter numbered in
//! order of appearance), mapped by the same row functions. When SQLite answers "busy" (WAL recovery or a
//! truncating checkpoint; readers otherwise never wait in WAL mode) the read is handed back to the caller, who
//! runs it through sqlx, which waits. Reads see every committed write: each statement starts its own read
//! transaction.
//!
//! Scans (lists, counts) stay on sqlx: they may take long enough to stall the async runtime.
//!
//! **Invariant:** a point read never waits for a lock and never writes.

use std::sync::Mutex;
use std::time::Duration;

use authority::{StoreError, StoreResult};
use rusqlite::types::{ToSql, ToSqlOutput};
use rusqlite::{Connection, ErrorCode, OpenFlags, Row};

use crate::sql::{Arg, Sql};

/// Idle connections kept; more are opened when many reads run at once, and closed after.
const IDLE_KEPT: usize = 8;
/// Prepared statements kept per connection (the hot path has about a dozen distinct texts).
const STATEMENTS_KEPT: usize = 64;

/// A pool of read-only connections to one SQLite file.
pub struct PointReader {
    path: String,
    idle: Mutex<Vec<Connection>>,
}

/// SQLite was busy: run the read through sqlx instead.
pub struct Busy;

impl PointReader {
    /// Opens the first connection now, so that a bad path fails at start rather than on the first request.
    pub fn open(path: &str) -> anyhow::Result<PointReader> {
        let first = connect(path)?;
        Ok(PointReader { path: path.to_owned(), idle: Mutex::new(vec![first]) })
    }

    /// The first row `sql` returns, if any.
    pub fn one<T>(&self, sql: &Sql, map: impl Fn(&Row<'_>) -> StoreResult<T>) -> Result<StoreResult<Option<T>>, Busy> {
        self.run(sql, |rows| match rows.next()? {
            Some(row) => Ok(Some(map(row)?)),
            None => Ok(None),
        })
    }

    /// Every row `sql` returns.
    pub fn all<T>(&self, sql: &Sql, map: impl Fn(&Row<'_>) -> StoreResult<T>) -> Result<StoreResult<Vec<T>>, Busy> {
        self.run(sql, |rows| {
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(map(row)?);
            }
            Ok(out)
        })
    }

    fn run<T>(
        &self,
        sql: &Sql,
        read: impl FnOnce(&mut rusqlite::Rows<'_>) -> Result<T, Failure>,
    ) -> Result<StoreResult<T>, Busy> {
        let conn = match self.checkout() {
            Ok(conn) => conn,
            Err(e) => return Ok(Err(StoreError::Other(e))),
        };
        let result = (|| {
            let mut statement = conn.prepare_cached(&sql.text)?;
            let mut rows = statement.query(rusqlite::params_from_iter(sql.args.iter()))?;
            read(&mut rows)
        })();
        self.checkin(conn);
        match result {
            Ok(value) => Ok(Ok(value)),
            Err(Failure::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
                if matches!(e.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) =>
            {
                Err(Busy)
            }
            Err(Failure::Sqlite(e)) => Ok(Err(StoreError::Other(anyhow::Error::new(e)))),
            Err(Failure::Store(e)) => Ok(Err(e)),
        }
    }

    fn checkout(&self) -> anyhow::Result<Connection> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(conn) => Ok(conn),
            None => connect(&self.path),
        }
    }

    fn checkin(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < IDLE_KEPT
        {
            idle.push(conn);
        }
    }
}

fn connect(path: &str) -> anyhow::Result<Connection> {
    use anyhow::Context;
    // Read-write (not read-only) so that SQLite may maintain the WAL index; `query_only` refuses every write.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).with_context(|| format!("cannot open {path} for reading"))?;
    conn.busy_timeout(Duration::ZERO)?;
    conn.pragma_update(None, "query_only", true)?;
    conn.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
    Ok(conn)
}

/// Why a read stopped: SQLite said so, or a row did not map.
enum Failure {
    Sqlite(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Failure {
        Failure::Sqlite(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::Store(e)
    }
}

impl ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Arg::Int(v) => v.to_sql(),
            Arg::OptInt(v) => v.to_sql(),
            Arg::Text(v) => v.to_sql(),
            Arg::OptText(v) => v.to_sql(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory removed when dropped.
    struct Dir(std::path::PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.0).ok();
        }
    }

    fn database() -> (Dir, String) {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = Dir(std::env::temp_dir().join(format!("tessera_points_{}_{n}", std::process::id())));
        std::fs::create_dir_all(&dir.0).expect("temporary directory");
        let path = dir.0.join("points.db").display().to_string();
        let conn = Connection::open(&path).expect("create");
        conn.execute_batch(
            "pragma journal_mode = wal; create table item (id integer primary key, name text not null, note text);
             insert into item values (1, 'one', null), (2, 'two', 'second');",
        )
        .expect("schema");
        (dir, path)
    }

    fn names(reader: &PointReader, sql: &Sql) -> Vec<(String, Option<String>)> {
        let read = reader.all(sql, |row| {
            Ok((rusqlite::Row::get(row, "name").expect("name"), rusqlite::Row::get(row, "note").expect("note")))
        });
        match read {
            Ok(rows) => rows.expect("read"),
            Err(Busy) => panic!("busy"),
        }
    }

    #[test]
    fn dollar_placeholders_bind_in_order_of_appearance() {
        let (_dir, path) = database();
        let reader = PointReader::open(&path).expect("open");
        let mut sql = Sql::new("select name, note from item where id = ");
        sql.int(2).push(" and name = ").text_arg("two");
        assert_eq!(names(&reader, &sql), vec![("two".to_owned(), Some("second".to_owned()))]);
        let mut none = Sql::new("select name, note from item where id = ");
        none.int(2).push(" and name = ").text_arg("one");
        assert!(names(&reader, &none).is_empty());
    }

    #[test]
    fn a_read_sees_a_write_committed_by_another_connection_after_the_last_read() {
        let (_dir, path) = database();
        let reader = PointReader::open(&path).expect("open");
        let sql = Sql::new("select name, note from item order by id");
        assert_eq!(names(&reader, &sql).len(), 2);
        Connection::open(&path)
            .expect("writer")
            .execute("insert into item values (3, 'three', null)", [])
            .expect("insert");
        assert_eq!(names(&reader, &sql).len(), 3, "the cached statement must not keep an old snapshot");
    }

    #[test]
    fn the_reader_refuses_to_write() {
        let (_dir, path) = database();
        let reader = PointReader::open(&path).expect("open");
        let sql = Sql::new("delete from item returning name, note");
        match reader.all(&sql, |_| Ok(())) {
            Ok(result) => assert!(result.is_err(), "a write through the reader must fail"),
            Err(Busy) => panic!("busy"),
        }
        assert_eq!(names(&reader, &Sql::new("select name, note from item")).len(), 2);
    }
}
