//! Opening a store: a local file, an embedded replica of a primary, or the primary over HTTP;
//! each migrates the schema at open when it is behind. Also the replica's pull from its
//! primary, which only an opener's kind of database can do.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use libsql::Builder;

use super::pool::{Link, Pool};
use super::tail::Tail;
use super::tally::Tally;
use super::vectors::VectorCache;
use super::{Inner, LibsqlBackend, Primary, Shared, migrate};
use crate::error::{Error, Result};
use crate::private_fs;

/// How long a unit of work waits for another process's write lock before giving up.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

impl LibsqlBackend {
    /// Opens (creating if needed) the store at `path`, migrating its schema.
    pub async fn open_local(path: &Path) -> Result<Self> {
        Self::open_local_with(path, DEFAULT_BUSY_TIMEOUT).await
    }

    /// [`LibsqlBackend::open_local`] with an explicit busy timeout.
    pub async fn open_local_with(path: &Path, busy_timeout: Duration) -> Result<Self> {
        private_fs::create_file(path)?;
        let db = Builder::new_local(path).build().await?;
        let backend = Self::with_pool(Pool::new(db, Link::Local, busy_timeout), path.to_owned());
        backend
            .run(|conn| async move {
                // WAL lets readers proceed while one writer commits; the mode is persistent.
                conn.query("PRAGMA journal_mode = WAL", ()).await?;
                Ok(())
            })
            .await?;
        backend.migrate().await?;
        Ok(backend)
    }

    /// Opens the embedded replica at `path` of `primary`: syncs once (a replica that cannot
    /// reach its primary still opens, and serves what it has), then migrates the schema on the
    /// primary if it is behind.
    ///
    /// No sync interval is given to libSQL: the sync worker, a layer above, runs the timer,
    /// so that failures are counted, backed off and reported.
    pub async fn open_replica(path: &Path, primary: &Primary) -> Result<Self> {
        private_fs::create_parent(path)?;
        // libSQL creates the replica and its WAL index with the process's umask (0644 here):
        // made owner-only before it opens them, they stay so, and SQLite gives the -wal and
        // -shm files the database's mode. Only for a new replica: libSQL refuses an existing
        // database without an index.
        if !path.exists() {
            let [db, index, ..] = replica_files(path);
            private_fs::create_file(&index)?;
            private_fs::create_file(&db)?;
        }
        let mut builder = Builder::new_remote_replica(path, primary.url.clone(), primary.token())
            .read_your_writes(true);
        if let Some(namespace) = &primary.namespace {
            builder = builder.namespace(namespace.clone());
        }
        let db = builder
            .build()
            .await
            .map_err(|e| primary.explain(e.into(), CANNOT_OPEN))?;
        // A replica made by an older build, whose files were created 0644.
        for file in replica_files(path) {
            private_fs::restrict(&file)?;
        }
        let backend = Self::with_pool(
            Pool::new(db, Link::Replica, DEFAULT_BUSY_TIMEOUT),
            path.to_owned(),
        );
        // A replica that already has the current schema opens at once: the sync worker
        // pulls in the background, so an unreachable primary never delays a start. A new or
        // outdated replica syncs first, to learn whether the primary needs migrating.
        if !backend.is_current().await? {
            if let Err(err) = backend.sync().await {
                tracing::warn!(primary = %primary.display_url(), error = %err,
                    "cannot sync the replica on open; serving the local copy");
            }
            backend
                .migrate()
                .await
                .map_err(|e| primary.explain(e, NO_SCHEMA_YET))?;
        }
        Ok(backend)
    }

    /// Opens the store on `primary` itself, with no local copy: every statement is a request.
    pub async fn open_remote(primary: &Primary) -> Result<Self> {
        let mut builder = Builder::new_remote(primary.url.clone(), primary.token());
        if let Some(namespace) = &primary.namespace {
            builder = builder.namespace(namespace.clone());
        }
        let db = builder
            .build()
            .await
            .map_err(|e| primary.explain(e.into(), CANNOT_OPEN))?;
        let backend = Self::with_pool(
            Pool::new(db, Link::Remote, DEFAULT_BUSY_TIMEOUT),
            PathBuf::from(primary.display_url()),
        );
        backend
            .migrate()
            .await
            .map_err(|e| primary.explain(e, CANNOT_OPEN))?;
        Ok(backend)
    }

    /// Opens a new replica at this backend's path, downloading it from `primary`, and moves
    /// every holder of this backend onto it. The way back from a damaged replica file, once
    /// [`LibsqlBackend::set_aside_replica`] has moved that file out of the way; on failure
    /// the backend stays on the database it had.
    pub async fn reopen_replica(&self, primary: &Primary) -> Result<()> {
        let fresh = Self::open_replica(self.path(), primary).await?;
        *self.shared.open.write().expect("open database lock") = fresh.current();
        Ok(())
    }

    /// Moves a damaged replica file and its companions (WAL, shared memory, libSQL's
    /// replication files) to `<name>.damaged`, replacing an earlier one, so a new replica can
    /// take its place and the damaged copy stays for inspection. Files that are not there are
    /// skipped.
    pub fn set_aside_replica(path: &Path) -> Result<()> {
        let [db, index, wal, shm] = replica_files(path);
        for from in [db, wal, shm, index, beside(path, "-info")] {
            if !from.exists() {
                continue;
            }
            std::fs::rename(&from, beside(&from, ".damaged")).map_err(|source| Error::Io {
                context: format!(
                    "cannot set aside the damaged replica file {}",
                    from.display()
                ),
                source,
            })?;
        }
        Ok(())
    }

    fn with_pool(pool: Pool, path: PathBuf) -> Self {
        let replicated = pool.replicated();
        let inner = Inner {
            pool,
            vectors: VectorCache::default(),
            keywords: Default::default(),
            tally: Tally::default(),
            changes: Default::default(),
            tail: Arc::new(Tail::new(replicated)),
        };
        LibsqlBackend {
            shared: Arc::new(Shared {
                path,
                open: RwLock::new(Arc::new(inner)),
            }),
        }
    }

    /// Whether the schema is at this build's version, read without writing anything.
    async fn is_current(&self) -> Result<bool> {
        self.run(|conn| async move { migrate::is_current(&conn).await })
            .await
    }

    /// Migrates the schema; a store written through a primary also indexes its full text in
    /// batches (see `tail.rs`).
    async fn migrate(&self) -> Result<()> {
        let name = self.path().display().to_string();
        self.run_on(move |inner, conn| async move {
            migrate::migrate(&conn, &name, inner.pool.replicated()).await
        })
        .await
    }

    /// Pulls the primary's new frames into this replica; an error in other modes.
    pub async fn sync(&self) -> Result<Replicated> {
        let replicated = self.current().pool.database().sync().await?;
        Ok(Replicated {
            frame_no: replicated.frame_no(),
            frames_synced: replicated.frames_synced() as u64,
        })
    }
}

/// The files of the replica at `path`: the database, libSQL's replication index beside it,
/// and SQLite's WAL and shared-memory files.
fn replica_files(path: &Path) -> [PathBuf; 4] {
    [
        path.to_owned(),
        beside(path, "-client_wal_index"),
        beside(path, "-wal"),
        beside(path, "-shm"),
    ]
}

/// `path` with `suffix` appended to its file name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// What one sync of a replica did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replicated {
    /// The primary's frame number the replica has reached, if it has any frame.
    pub frame_no: Option<u64>,
    /// Frames applied by this sync.
    pub frames_synced: u64,
}

/// What an unreachable primary means for opening a store.
const CANNOT_OPEN: &str = "the store cannot be opened";
/// What it means for a replica's first migration check.
const NO_SCHEMA_YET: &str = "a replica that never reached its primary has no schema to serve yet";
