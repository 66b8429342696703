//! Connections: one per unit of work, reused through a small idle pool with the statements
//! each has prepared ([`Conn`]).
//!
//! A connection is never shared by two units of work at once (SQLite transactions belong to
//! the connection). libSQL's local calls run SQLite synchronously, and a lock wait of up to
//! `busy_timeout` must not stall the async workers that carry MCP traffic: so a unit that may
//! wait or takes milliseconds (searches, scans, imports, bulk writes, and any write whose lock
//! is held) runs inside `block_in_place`, which hands the worker's other tasks to another
//! thread while the unit blocks (measured 2–3× cheaper than a round trip through the blocking
//! pool for a 20 µs read), or on the blocking pool under a single-threaded runtime. A short
//! read ([`Pool::read`]) and a short write that finds the lock free
//! ([`Pool::begin_in_place`]) cannot wait, and run in place: the hand-off cost each call a
//! thread woken and put back to sleep, more than their SQL.

use std::future::Future;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libsql::params::IntoParams;
use libsql::{Connection, Database, Row, Statement};
use tokio::runtime::RuntimeFlavor;

use super::rank;
use super::rows::collect;
use super::statements::StatementCache;
use crate::error::{Error, Result};

/// Most idle connections kept for reuse; more are opened under load and closed after.
const MAX_IDLE: usize = 8;

/// SQLite's primary result code for "another connection holds the lock".
const SQLITE_BUSY: i32 = 5;

/// The statements a connection has prepared (see `statements.rs`).
type Statements = Arc<Mutex<StatementCache>>;

/// A connection with the statements it prepared kept while it sits in the pool (or, for the
/// writer of `tally.rs`, in its slot): preparing a query (parsing it, resolving its columns,
/// planning it) took over a third of the SQLite time of a two-hop `get_related` at 100k
/// memories, and a fifth of an `update_memory` (a write's statement is prepared with the
/// programs of the triggers it fires); the same few statements run on every call. It is the
/// connection for everything else (`Deref`).
#[derive(Clone)]
pub(super) struct Conn {
    conn: Connection,
    /// `None` for a connection whose statements are not kept: a replica's or a primary's.
    statements: Option<Statements>,
}

impl Conn {
    /// The rows `sql` gives for `params`, each decoded by `decode`, with the statement this
    /// connection prepared for `sql` before if there is one.
    pub(super) async fn rows<T>(
        &self,
        sql: &str,
        params: impl IntoParams,
        decode: fn(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let Some(statements) = &self.statements else {
            return collect(self.conn.query(sql, params).await?, decode).await;
        };
        let statement = self.take(statements, sql).await?;
        let rows = match statement.query(params).await {
            Ok(rows) => collect(rows, decode).await,
            Err(err) => Err(err.into()),
        };
        keep(statements, sql, statement);
        rows
    }

    /// The first row `sql` gives for `params`, decoded by `decode` (`None` when it gives
    /// none): [`Conn::rows`] for a query of at most one row, a lookup by key.
    pub(super) async fn row<T>(
        &self,
        sql: &str,
        params: impl IntoParams,
        decode: fn(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        Ok(self.rows(sql, params, decode).await?.into_iter().next())
    }

    /// Runs `sql`, a statement that returns no rows, for `params`, with the statement this
    /// connection prepared for it before if there is one: the rows it changed. A write's
    /// statements are prepared with the programs of the triggers they fire (the full-text
    /// index, the vector log), which cost more to prepare than to run.
    pub(super) async fn execute(&self, sql: &str, params: impl IntoParams) -> Result<u64> {
        let Some(statements) = &self.statements else {
            return Ok(self.conn.execute(sql, params).await?);
        };
        let statement = self.take(statements, sql).await?;
        let changed = statement.execute(params).await;
        keep(statements, sql, statement);
        Ok(changed? as u64)
    }

    /// The statement kept for `sql`, taken out of the cache while it runs, or a new one.
    async fn take(&self, statements: &Statements, sql: &str) -> Result<Statement> {
        let kept = statements.lock().expect("statement cache lock").take(sql);
        Ok(match kept {
            Some(statement) => statement,
            None => self.conn.prepare(sql).await?,
        })
    }
}

/// Resets `statement` (ending what it read or wrote) and keeps it for `sql`.
fn keep(statements: &Statements, sql: &str, statement: Statement) {
    statement.reset();
    statements
        .lock()
        .expect("statement cache lock")
        .keep(sql, statement);
}

impl Deref for Conn {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.conn
    }
}

/// Set on every connection. Foreign keys enforce cascades; NORMAL synchronous in WAL mode
/// keeps every acknowledged commit through a process crash (a power loss may roll back the
/// last few); an 8 MiB page cache (lazily filled) keeps index pages of a bulk import in memory;
/// checkpointing every 4,000 pages rather than 1,000 writes hot pages back less often. No
/// memory map: mapped pages count in the process's RSS (a 64 MiB map measured faster reads
/// but pushed a 100k-memory server past its 150 MiB budget).
///
/// The soft heap limit (process-wide) bounds what SQLite holds across all connections, page
/// caches first: past it, a connection reuses its own cached pages rather than allocating
/// more. A server keeps up to [`MAX_IDLE`] connections, and since recalls stopped writing
/// one by one (`store/access.rs`) their caches are no longer emptied by every write and
/// grow to 8 MiB each: the 100k-memory server with vectors peaked at 150–155 MiB. With 16
/// MiB it peaked at 120–131 MiB (24 MiB: 141), for hybrid search 3–4% slower (it reads 100
/// rows by id, and some pages it found cached are recycled now; BENCHMARKS.md).
const CONNECTION_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
    PRAGMA cache_size = -8192; PRAGMA wal_autocheckpoint = 4000; \
    PRAGMA soft_heap_limit = 16777216;";

/// What a connection talks to, which decides how it is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Link {
    /// A file of ours: every pragma applies.
    Local,
    /// An embedded replica: reads are local, writes are forwarded to the primary, whose
    /// connections are not ours to configure (deletes cascade by trigger for that reason).
    Replica,
    /// The primary over HTTP: its streams expire after a few idle seconds, so connections are
    /// not kept between units of work.
    Remote,
}

impl Link {
    /// Whether SQLite runs in this process (a file of ours or a replica), so that the
    /// functions this process registers (`rank.rs`) exist in its SQL.
    pub(super) fn in_process(self) -> bool {
        self != Link::Remote
    }
}

pub(super) struct Pool {
    db: Database,
    link: Link,
    idle: Mutex<Vec<Conn>>,
    busy_timeout: Duration,
}

impl Pool {
    pub(super) fn new(db: Database, link: Link, busy_timeout: Duration) -> Self {
        Pool {
            db,
            link,
            idle: Mutex::new(Vec::new()),
            busy_timeout,
        }
    }

    pub(super) fn database(&self) -> &Database {
        &self.db
    }

    pub(super) fn link(&self) -> Link {
        self.link
    }

    /// Whether writes go to a primary, whose pages every replica pulls.
    pub(super) fn replicated(&self) -> bool {
        self.link != Link::Local
    }

    /// Runs `work` with a connection of its own, off the async workers.
    pub(super) async fn run<T, F, Fut>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>>,
    {
        let reader = self.checkout().await?;
        let task_reader = reader.clone();
        let result = off_workers(move || work(task_reader)).await;
        self.checkin(reader);
        result
    }

    /// Runs a short read (by id, one page, one level of a neighbourhood) with a connection of
    /// its own, in place on the calling task. What [`Pool::run`] guards against, a wait of up
    /// to `busy_timeout` for another connection's lock, does not happen to a read in WAL mode
    /// (it sees the last commit without waiting for a writer), and its SQL takes tens of µs,
    /// less than handing the worker to another thread costs (`block_in_place` wakes a thread
    /// for every unit; see BENCHMARKS.md, "Over MCP on a raw pipe"). Searches and scans,
    /// which take milliseconds, still go through [`Pool::run`].
    pub(super) async fn read<T, F, Fut>(&self, work: F) -> Result<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let reader = self.checkout().await?;
        let result = work(reader.clone()).await;
        self.checkin(reader);
        result
    }

    /// Takes the write lock for a short write on `conn`, in place, if no other connection
    /// holds it: `true` when `conn` is now inside an IMMEDIATE transaction, to be ended by
    /// [`Pool::end_in_place`]; `false` when nothing was done, because another writer holds the
    /// lock (the write must then wait for it off the workers, [`off_workers`]) or the file is
    /// not ours (a replica forwards writes to its primary). Waiting for the lock is the only
    /// long wait of a short write, and it is what this refuses; the commit itself is a WAL
    /// append (with the occasional automatic checkpoint), much less than the hand-off of the
    /// worker to another thread that [`off_workers`] costs.
    pub(super) async fn begin_in_place(&self, conn: &Connection) -> Result<bool> {
        if self.link != Link::Local {
            return Ok(false);
        }
        conn.busy_timeout(Duration::ZERO)?;
        let began = conn.execute("BEGIN IMMEDIATE", ()).await;
        conn.busy_timeout(self.busy_timeout)?;
        match began {
            Ok(_) => Ok(true),
            Err(libsql::Error::SqliteFailure(code, _)) if code & 0xff == SQLITE_BUSY => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    /// Ends the transaction [`Pool::begin_in_place`] took: commits it when `commit`, else
    /// rolls it back. A failed commit is rolled back and returned.
    pub(super) async fn end_in_place(&self, conn: &Connection, commit: bool) -> Result<()> {
        if commit {
            match conn.execute("COMMIT", ()).await {
                Ok(_) => return Ok(()),
                Err(err) => {
                    let _ = conn.execute("ROLLBACK", ()).await;
                    return Err(err.into());
                }
            }
        }
        // A failed rollback leaves the connection in its transaction, so out of reuse.
        let _ = conn.execute("ROLLBACK", ()).await;
        Ok(())
    }

    /// Whether connections are kept between units of work: only they can carry state from
    /// one unit to the next (SQLite's `data_version` is per connection).
    pub(super) fn keeps_connections(&self) -> bool {
        self.link != Link::Remote
    }

    /// A new connection, set up like the pool's, for a caller that keeps it for itself.
    /// Where SQLite runs in this process (not over HTTP), the connection has `rank.rs`'s
    /// ranking function: registered for every connection opened after the first (libSQL sets
    /// SQLite up as it opens its first one, and registering must come after), so the first
    /// is opened again.
    pub(super) async fn connect(&self) -> Result<Connection> {
        let registered = rank::registered();
        let mut conn = self.db.connect()?;
        if !registered && self.link.in_process() {
            rank::register();
            conn = self.db.connect()?;
        }
        match self.link {
            Link::Local => {
                conn.busy_timeout(self.busy_timeout)?;
                conn.execute_batch(CONNECTION_PRAGMAS).await?;
            }
            Link::Replica => conn.busy_timeout(self.busy_timeout)?,
            Link::Remote => {}
        }
        Ok(conn)
    }

    /// A new connection like [`Pool::connect`]'s, which keeps the statements it prepares
    /// when it is to a file of ours.
    pub(super) async fn connect_kept(&self) -> Result<Conn> {
        Ok(Conn {
            conn: self.connect().await?,
            // A replica's statements (libSQL's `RemoteStatement`) ignore `reset`, so one cannot
            // be run twice: they are not kept.
            statements: (self.link == Link::Local).then(Statements::default),
        })
    }

    async fn checkout(&self) -> Result<Conn> {
        if let Some(reader) = self.idle.lock().expect("pool lock").pop() {
            return Ok(reader);
        }
        self.connect_kept().await
    }

    /// Returns a connection for reuse, unless a failed unit left it inside a transaction.
    fn checkin(&self, reader: Conn) {
        if !self.keeps_connections() || !reader.is_autocommit() {
            return;
        }
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.len() < MAX_IDLE {
            idle.push(reader);
        }
    }
}

/// Runs a unit of work off the async workers: in place on a multi-threaded runtime (the
/// worker hands its other tasks to a fresh thread, so the runtime keeps serving I/O), on the
/// blocking pool otherwise.
pub(super) async fn off_workers<T, F, Fut>(work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
{
    let handle = tokio::runtime::Handle::current();
    match handle.runtime_flavor() {
        RuntimeFlavor::MultiThread => tokio::task::block_in_place(|| handle.block_on(work())),
        _ => tokio::task::spawn_blocking(move || handle.block_on(work()))
            .await
            .map_err(|e| Error::Task(e.to_string()))?,
    }
}

/// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`, rolling back on error.
///
/// IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
/// writes fails with "database is locked" when another writer got in between, whatever the
/// busy timeout, while an immediate one simply waits its turn.
///
/// Inside a write taken in place ([`Pool::begin_in_place`]), which already holds the lock,
/// `body` runs in a savepoint instead: a failure undoes this part alone, as a transaction
/// of its own would have.
pub(super) async fn write_tx<T, F, Fut>(conn: &Connection, body: F) -> Result<T>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    if !conn.is_autocommit() {
        conn.execute("SAVEPOINT unit", ()).await?;
        return match body().await {
            Ok(value) => {
                conn.execute("RELEASE unit", ()).await?;
                Ok(value)
            }
            Err(err) => {
                let _ = conn.execute("ROLLBACK TO unit", ()).await;
                let _ = conn.execute("RELEASE unit", ()).await;
                Err(err)
            }
        };
    }
    conn.execute("BEGIN IMMEDIATE", ()).await?;
    match body().await {
        Ok(value) => {
            conn.execute("COMMIT", ()).await?;
            Ok(value)
        }
        Err(err) => {
            // The original error matters more than a failed rollback, which leaves the
            // connection in a transaction and so out of the pool.
            let _ = conn.execute("ROLLBACK", ()).await;
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::backend::libsql::LibsqlBackend;

    /// What `PRAGMA name` says on a connection of a local store.
    async fn pragma(backend: &LibsqlBackend, name: &'static str) -> i64 {
        backend
            .run(move |conn| async move {
                let mut rows = conn.query(&format!("PRAGMA {name}"), ()).await?;
                let row = rows.next().await?.expect("a pragma's value");
                Ok(row.get::<i64>(0)?)
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn connections_to_a_local_store_are_set_up() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LibsqlBackend::open_local(&dir.path().join("store.db"))
            .await
            .unwrap();
        assert_eq!(pragma(&backend, "foreign_keys").await, 1);
        assert_eq!(pragma(&backend, "cache_size").await, -8192);
        assert_eq!(pragma(&backend, "wal_autocheckpoint").await, 4000);
        assert_eq!(pragma(&backend, "soft_heap_limit").await, 16 << 20);
    }
}
