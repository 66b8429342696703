//! Schema migrations: the numbered SQL files of `schema/`, embedded in the binary.
//!
//! Applied versions are recorded in `schema_migrations` rather than `PRAGMA user_version`,
//! which an embedded replica would forward to the primary. Migrations run in one IMMEDIATE
//! transaction, so two processes opening a new store at once apply each exactly once.

use libsql::Connection;

use super::pool::write_tx;
use super::tail;
use crate::error::{Error, Result};

/// (version, name, SQL), in order.
const MIGRATIONS: &[(u32, &str, &str)] = &[
    (1, "init", include_str!("../../../schema/0001_init.sql")),
    (
        2,
        "explicit_cascades",
        include_str!("../../../schema/0002_explicit_cascades.sql"),
    ),
    (
        3,
        "leaner_writes",
        include_str!("../../../schema/0003_leaner_writes.sql"),
    ),
    (
        4,
        "full_text_in_batches",
        include_str!("../../../schema/0004_full_text_in_batches.sql"),
    ),
    (
        5,
        "full_text_log",
        include_str!("../../../schema/0005_full_text_log.sql"),
    ),
    (
        6,
        "full_text_held_in_bulk",
        include_str!("../../../schema/0006_full_text_held_in_bulk.sql"),
    ),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    applied_at INTEGER NOT NULL
)";

/// Brings the store up to [`SCHEMA_VERSION`]; `path` only names the store in errors. A
/// `replicated` store (one written through a primary) has its new memories' full text indexed
/// in batches from then on.
pub(super) async fn migrate(conn: &Connection, path: &str, replicated: bool) -> Result<()> {
    apply(conn, path, SCHEMA_VERSION, replicated).await
}

/// Applies migrations up to `target` (tests use it to build stores of older versions).
pub async fn migrate_to(conn: &Connection, path: &str, target: u32) -> Result<()> {
    apply(conn, path, target, false).await
}

async fn apply(conn: &Connection, path: &str, target: u32, replicated: bool) -> Result<()> {
    // The common case, a current store, takes no write lock.
    if applied_version(conn).await? == Some(target) {
        return Ok(());
    }
    conn.execute(CREATE_LEDGER, ()).await?;
    write_tx(conn, || async {
        let current = applied_version(conn).await?.unwrap_or(0);
        if current > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                path: path.to_owned(),
                found: current,
                known: SCHEMA_VERSION,
            });
        }
        for &(version, name, sql) in MIGRATIONS {
            if version <= current || version > target {
                continue;
            }
            tracing::info!(version, name, store = path, "applying schema migration");
            conn.execute_batch(sql).await?;
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, chrono::Utc::now().timestamp_micros()),
            )
            .await?;
        }
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', ?)",
            [uuid::Uuid::now_v7().to_string()],
        )
        .await?;
        if replicated && target >= tail::SINCE_SCHEMA {
            tail::index_in_batches(conn).await?;
        }
        Ok(())
    })
    .await
}

/// Whether the store is at [`SCHEMA_VERSION`].
pub(super) async fn is_current(conn: &Connection) -> Result<bool> {
    Ok(applied_version(conn).await? == Some(SCHEMA_VERSION))
}

/// The highest applied migration, or `None` on a new database.
async fn applied_version(conn: &Connection) -> Result<Option<u32>> {
    let mut rows = conn
        .query(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'",
            (),
        )
        .await?;
    let exists = match rows.next().await? {
        Some(row) => row.get::<i64>(0)? > 0,
        None => false,
    };
    if !exists {
        return Ok(None);
    }
    let mut rows = conn
        .query("SELECT max(version) FROM schema_migrations", ())
        .await?;
    Ok(match rows.next().await? {
        Some(row) => row.get::<Option<u32>>(0)?,
        None => None,
    })
}
