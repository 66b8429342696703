//! Maintenance of a store file: self-checks, consistent backups and compaction.
//!
//! These are libSQL matters (a file, its pages, its indexes), so beyond the integrity checks
//! every backend answers they are methods of [`LibsqlBackend`] rather than of the trait.

use std::path::Path;

use libsql::Connection;

use super::LibsqlBackend;
use super::meta::count;
use super::tail;
use crate::backend::IntegrityCheck;
use crate::error::Result;

/// Bad rows found by each query, with the check's name and what a bad row is.
const ORPHAN_CHECKS: &[(&str, &str, &str)] = &[
    (
        "orphan relationships",
        "SELECT count(*) FROM relationships r WHERE NOT EXISTS \
         (SELECT 1 FROM memories m WHERE m.id = r.source_id) OR NOT EXISTS \
         (SELECT 1 FROM memories m WHERE m.id = r.target_id)",
        "relationships to missing memories",
    ),
    (
        "orphan vectors",
        "SELECT count(*) FROM memory_vectors v WHERE NOT EXISTS \
         (SELECT 1 FROM memories m WHERE m.id = v.memory_id)",
        "vectors of missing memories",
    ),
    (
        "vector model",
        "SELECT count(*) FROM memory_vectors WHERE model <> \
         coalesce((SELECT value FROM meta WHERE key = 'embedding_model'), model)",
        "vectors of another model than the store's",
    ),
];

/// SQLite's page checks, the full-text index against its content table, and orphan rows;
/// `replicated` when the store's writes go to a primary.
pub(super) async fn integrity(conn: &Connection, replicated: bool) -> Result<Vec<IntegrityCheck>> {
    let mut checks = Vec::new();

    let mut rows = conn.query("PRAGMA integrity_check", ()).await?;
    let mut problems = Vec::new();
    while let Some(row) = rows.next().await? {
        let line: String = row.get(0)?;
        if line != "ok" {
            problems.push(line);
        }
    }
    checks.push(IntegrityCheck {
        name: "database pages".into(),
        ok: problems.is_empty(),
        detail: if problems.is_empty() {
            "PRAGMA integrity_check: ok".into()
        } else {
            problems.join("; ")
        },
    });

    let violations = conn
        .query("PRAGMA foreign_key_check", ())
        .await?
        .next()
        .await?
        .is_some();
    checks.push(IntegrityCheck {
        name: "foreign keys".into(),
        ok: !violations,
        detail: if violations {
            "PRAGMA foreign_key_check reports violations".into()
        } else {
            "no violations".into()
        },
    });

    // With rank 1, FTS5 also compares the index with the content table row by row, which
    // only holds while no memory waits in the tail (see `tail.rs`). A replica's check runs
    // on the primary (libSQL forwards it), whose tail this file may not have seen yet, so
    // a store indexing in batches compares only on its own file with an empty tail; else
    // the index is checked on its own.
    let waiting = tail::len(conn).await?;
    let compare = waiting == 0 && !(replicated && tail::in_batches(conn).await?);
    let fts = conn
        .execute(
            "INSERT INTO memories_fts (memories_fts, rank) VALUES ('integrity-check', ?)",
            [i64::from(compare)],
        )
        .await;
    checks.push(IntegrityCheck {
        name: "full-text index".into(),
        ok: fts.is_ok(),
        detail: match fts {
            Ok(_) if compare => "consistent with the memories".into(),
            Ok(_) if waiting == 0 => "consistent in itself (indexed in batches on the \
                primary, which may hold newer memories than this replica)"
                .into(),
            Ok(_) => format!(
                "consistent in itself; {waiting} newest memories wait for their batch to be \
                 indexed (keyword search finds them meanwhile)"
            ),
            Err(err) => format!("{err}; rebuild it with memctl vacuum"),
        },
    });

    for (name, sql, what) in ORPHAN_CHECKS {
        checks.push(IntegrityCheck::count(name, count(conn, sql).await?, what));
    }
    Ok(checks)
}

impl LibsqlBackend {
    /// How many of the newest memories wait for their batch to be added to the full-text
    /// index (see `tail.rs`; keyword search finds them meanwhile). Always 0 on a local store.
    pub async fn memories_waiting_for_full_text(&self) -> Result<u64> {
        self.run(|conn| async move { tail::len(&conn).await }).await
    }

    /// Writes a consistent copy of the store to `dest` with `VACUUM INTO`: it reads one
    /// snapshot, so servers keep writing meanwhile and the copy holds none of their
    /// half-done transactions. `dest` must not exist or be an empty file.
    pub async fn backup_to(&self, dest: &Path) -> Result<()> {
        let dest = dest.to_string_lossy().into_owned();
        self.run(move |conn| async move {
            conn.execute("VACUUM INTO ?", [dest]).await?;
            Ok(())
        })
        .await
    }

    /// Rebuilds the full-text index, compacts the file and truncates the write-ahead log.
    /// Returns the database size in bytes before and after.
    pub async fn vacuum(&self) -> Result<(u64, u64)> {
        self.run(|conn| async move {
            let size = |conn: Connection| async move {
                Ok::<_, crate::Error>(
                    count(&conn, "PRAGMA page_count").await?
                        * count(&conn, "PRAGMA page_size").await?,
                )
            };
            let before = size((*conn).clone()).await?;
            // A rebuild indexes every memory, the tail's included. It logs no row, so the
            // log's floor moves past every reader: postings in memory load again whole.
            conn.execute_batch(
                "BEGIN IMMEDIATE; \
                 INSERT INTO memories_fts (memories_fts) VALUES ('rebuild'); \
                 UPDATE fts_state SET indexed_upto = (SELECT coalesce(max(seq), 0) FROM memories); \
                 INSERT OR REPLACE INTO meta (key, value) \
                     SELECT 'fts_log_floor', seq FROM fts_log_next_seq; \
                 COMMIT;",
            )
            .await?;
            conn.execute("VACUUM", ()).await?;
            conn.query("PRAGMA wal_checkpoint(TRUNCATE)", ()).await?;
            let after = size((*conn).clone()).await?;
            Ok((before, after))
        })
        .await
    }
}
