//! Facts about the store rather than its records: the `meta` table (store id, embedding
//! space) and the statistics every front end shows.

use libsql::Connection;

use super::SCHEMA_VERSION;
use super::pool::{Pool, off_workers, write_tx};
use crate::error::{Error, Result};
use crate::model::{Stats, StoreMeta};

pub(super) async fn meta(conn: &Connection) -> Result<StoreMeta> {
    let mut rows = conn.query("SELECT key, value FROM meta", ()).await?;
    let mut meta = StoreMeta {
        schema_version: SCHEMA_VERSION,
        ..StoreMeta::default()
    };
    while let Some(row) = rows.next().await? {
        let value: String = row.get(1)?;
        match row.get_str(0)? {
            "store_id" => meta.store_id = value,
            "embedding_model" => meta.embedding_model = Some(value),
            "embedding_dim" => meta.embedding_dim = value.parse().ok(),
            _ => {}
        }
    }
    Ok(meta)
}

/// See [`crate::backend::GraphBackend::claim_embedding_space`].
pub(super) async fn claim_embedding_space(
    conn: &Connection,
    model: &str,
    dim: usize,
) -> Result<(String, usize)> {
    write_tx(conn, || async {
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('embedding_model', ?), ('embedding_dim', ?)",
            (model, dim.to_string()),
        )
        .await?;
        let mut rows = conn
            .query(
                "SELECT (SELECT value FROM meta WHERE key = 'embedding_model'), \
                 (SELECT value FROM meta WHERE key = 'embedding_dim')",
                (),
            )
            .await?;
        let row = rows.next().await?.ok_or_else(|| Error::Corrupt {
            what: "meta",
            reason: "embedding space missing after recording it".into(),
        })?;
        let dim: String = row.get(1)?;
        let dim = dim.parse().map_err(|_| Error::Corrupt {
            what: "meta",
            reason: format!("embedding_dim {dim:?} is not a number"),
        })?;
        Ok((row.get(0)?, dim))
    })
    .await
}

/// See [`crate::backend::GraphBackend::replace_embedding_space`].
pub(super) async fn replace_embedding_space(
    conn: &Connection,
    model: &str,
    dim: usize,
) -> Result<Option<(String, usize)>> {
    write_tx(conn, || async {
        let mut rows = conn
            .query(
                "SELECT (SELECT value FROM meta WHERE key = 'embedding_model'), \
                 (SELECT value FROM meta WHERE key = 'embedding_dim')",
                (),
            )
            .await?;
        let previous = match rows.next().await? {
            Some(row) => {
                let model: Option<String> = row.get(0)?;
                let dim: Option<String> = row.get(1)?;
                model.zip(dim.and_then(|d| d.parse().ok()))
            }
            None => None,
        };
        drop(rows);
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('embedding_model', ?), ('embedding_dim', ?)",
            (model, dim.to_string()),
        )
        .await?;
        Ok(previous)
    })
    .await
}

/// The statistics of the last count, kept with the connection that made it.
///
/// Counting 100k memories by kind and relationships by type reads whole indexes (tens of
/// milliseconds), while the figures change only when the database does. The cache's
/// connection is its own and never writes, so SQLite's `data_version` on it changes exactly
/// when another connection commits: this process's pool, another process on the same file,
/// or libSQL applying frames pulled from a primary. A call finding it unchanged returns the
/// figures of the last count, which are therefore exact after every write; nothing is stored
/// in the database for it, so a write replicates no more pages than before.
#[derive(Default)]
pub(super) struct StatsCache {
    slot: tokio::sync::Mutex<Option<Counted>>,
}

struct Counted {
    watcher: Connection,
    version: i64,
    stats: Stats,
}

impl StatsCache {
    pub(super) async fn stats(&self, pool: &Pool) -> Result<Stats> {
        // A primary over HTTP gives a new stream per unit of work: no connection to watch.
        if !pool.keeps_connections() {
            return pool.run(|conn| async move { stats(&conn).await }).await;
        }
        let mut slot = self.slot.lock().await;
        let (watcher, last) = match slot.take() {
            Some(counted) => (counted.watcher, Some((counted.version, counted.stats))),
            None => (pool.connect().await?, None),
        };
        // On an error the connection is dropped with the figures; the next call starts over.
        let counted = off_workers(move || async move {
            let version =
                count(&watcher, "SELECT data_version FROM pragma_data_version()").await? as i64;
            let stats = match last {
                Some((seen, stats)) if seen == version => stats,
                _ => stats(&watcher).await?,
            };
            Ok(Counted {
                watcher,
                version,
                stats,
            })
        })
        .await?;
        let stats = counted.stats.clone();
        *slot = Some(counted);
        Ok(stats)
    }
}

async fn stats(conn: &Connection) -> Result<Stats> {
    // A SELECT over the pragma functions, not `PRAGMA page_count`: an embedded replica
    // forwards that pragma to the primary, and this is a question about this file.
    let size_bytes = count(
        conn,
        "SELECT p.page_count * s.page_size FROM pragma_page_count() p, pragma_page_size() s",
    )
    .await?;
    // The kinds add up to the memories: one pass over the kind index gives both.
    let by_kind = grouped(
        conn,
        "SELECT kind, count(*) AS n FROM memories GROUP BY kind ORDER BY n DESC, kind",
    )
    .await?;
    let by_rel_type = grouped(
        conn,
        "SELECT rel_type, count(*) AS n FROM relationships GROUP BY rel_type \
         ORDER BY n DESC, rel_type",
    )
    .await?;
    Ok(Stats {
        memories: by_kind.iter().map(|(_, n)| n).sum(),
        relationships: by_rel_type.iter().map(|(_, n)| n).sum(),
        embedded: count(
            conn,
            "SELECT count(*) FROM memory_vectors WHERE model = coalesce(\
             (SELECT value FROM meta WHERE key = 'embedding_model'), model)",
        )
        .await?,
        by_kind,
        by_rel_type,
        size_bytes,
    })
}

pub(super) async fn count(conn: &Connection, sql: &str) -> Result<u64> {
    let mut rows = conn.query(sql, ()).await?;
    Ok(match rows.next().await? {
        Some(row) => row.get::<i64>(0)?.max(0) as u64,
        None => 0,
    })
}

async fn grouped(conn: &Connection, sql: &str) -> Result<Vec<(String, u64)>> {
    let mut rows = conn.query(sql, ()).await?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        out.push((row.get(0)?, row.get::<i64>(1)?.max(0) as u64));
    }
    Ok(out)
}
