//! Bulk import and vector export for the libSQL backend.
//!
//! A batch is one IMMEDIATE transaction whose statements the connection keeps, with its new
//! memories' full text indexed once at its end ([`held`]). The common case, a record that is
//! not stored yet, costs a share of one insert of [`INSERT_ROWS`] memories or relationships
//! (`ON CONFLICT DO NOTHING RETURNING id`), and only a record that collides is read back and
//! judged by the shared rule of [`crate::backend::decide_memory`] and
//! [`crate::backend::decide_relationship`]. A dry run executes the same statements and rolls
//! back, so its counts are exactly what a real run would report.

use libsql::{Connection, Value};

use super::held::held;
use super::pool::Conn;
use super::read::{get_one, get_relationship};
use super::rows::{
    IN_CHUNK, RELATIONSHIP_INSERT_COLUMNS, memory_params, placeholders, relationship_params,
    value_rows,
};
use super::write::{INSERT_ROWS, insert_new, inserted, set_vector};
use crate::backend::{
    ImportBatch, ImportOutcome, Imported, SkipReason, decide_memory, decide_relationship,
};
use crate::error::{Error, Result};
use crate::model::{Embedding, Relationship};
use crate::vector::from_blob;

/// Replaces every column of a memory but its key, in [`memory_params`] order after the id.
const REPLACE_MEMORY: &str = "UPDATE memories SET kind = ?, title = ?, content = ?, tags = ?, \
    context = ?, importance = ?, confidence = ?, created_at = ?, updated_at = ?, \
    accessed_at = ?, access_count = ?, version = ? WHERE id = ?";

/// Replaces every mutable column of a relationship, in [`relationship_params`] order after the
/// endpoints and type.
const REPLACE_RELATIONSHIP: &str = "UPDATE relationships SET strength = ?, confidence = ?, \
    note = ?, properties = ?, valid_from = ?, valid_to = ?, created_at = ?, updated_at = ?, \
    version = ? WHERE id = ?";

/// Each statement of a batch's transaction journals the pages it changes, so that it can be
/// undone alone: about a page per memory imported, which went to a temporary file (190k
/// writes, 374 MiB for 100k memories). A local store's import keeps them in memory, at most
/// one statement's pages at a time. The setting is the connection's and covers every
/// temporary file, `VACUUM`'s copy of the database included, so it is put back after the
/// batch; it cannot change inside a transaction. A replicated store's connection would
/// forward it to the primary.
const JOURNALS_IN_MEMORY: &str = "PRAGMA temp_store = MEMORY";
const JOURNALS_IN_FILES: &str = "PRAGMA temp_store = DEFAULT";

/// Writes `batch` in one transaction; rolls back on error or when `dry_run`. `local`: the
/// store is a file of this machine only (its statement journals are kept in memory).
pub(super) async fn import_batch(
    conn: &Conn,
    batch: &ImportBatch,
    dry_run: bool,
    local: bool,
) -> Result<ImportOutcome> {
    if !local {
        return transaction(conn, batch, dry_run, local).await;
    }
    conn.execute(JOURNALS_IN_MEMORY, ()).await?;
    let outcome = transaction(conn, batch, dry_run, local).await;
    let restored = conn.execute(JOURNALS_IN_FILES, ()).await;
    let outcome = outcome?;
    restored?;
    Ok(outcome)
}

async fn transaction(
    conn: &Conn,
    batch: &ImportBatch,
    dry_run: bool,
    local: bool,
) -> Result<ImportOutcome> {
    conn.execute("BEGIN IMMEDIATE", ()).await?;
    let result = held(conn, local, || write(conn, batch)).await;
    let end = if result.is_ok() && !dry_run {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    let ended = conn.execute(end, ()).await;
    let outcome = result?;
    ended?;
    Ok(outcome)
}

async fn write(conn: &Conn, batch: &ImportBatch) -> Result<ImportOutcome> {
    let mut outcome = ImportOutcome::default();
    for chunk in batch.memories.chunks(INSERT_ROWS) {
        let created = insert_new(conn, chunk).await?;
        for (i, (memory, embedding)) in chunk.iter().enumerate() {
            let done = if created[i] {
                Imported::Created
            } else {
                let stored = get_one(conn, &memory.id).await?;
                let done = decide_memory(stored.as_ref(), memory);
                if done == Imported::Updated {
                    let mut params = memory_params(memory);
                    let id = params.remove(0);
                    params.push(id);
                    conn.execute(REPLACE_MEMORY, params).await?;
                    if embedding.is_none() {
                        conn.execute(
                            "DELETE FROM memory_vectors WHERE memory_id = ?",
                            [memory.id.as_str()],
                        )
                        .await?;
                    }
                }
                done
            };
            if let (Some(e), Imported::Created | Imported::Updated) = (embedding, done) {
                set_vector(conn, &memory.id, e).await?;
            }
            outcome.memories.push(done);
        }
    }

    for chunk in batch.relationships.chunks(INSERT_ROWS) {
        let created = insert_new_relationships(conn, chunk).await?;
        for (rel, created) in chunk.iter().zip(created) {
            let done = if created {
                Imported::Created
            } else {
                judge_relationship(conn, rel).await?
            };
            outcome.relationships.push(done);
        }
    }
    Ok(outcome)
}

/// Inserts the relationships of `chunk` that are not stored yet and whose endpoints both
/// exist, in one statement (kept when the chunk has [`INSERT_ROWS`] of them), and tells which
/// were inserted. A missing endpoint is a skip, not a failed batch. Of an id given twice only
/// the first is inserted.
async fn insert_new_relationships(conn: &Conn, chunk: &[Relationship]) -> Result<Vec<bool>> {
    let sql = format!(
        "INSERT INTO relationships ({RELATIONSHIP_INSERT_COLUMNS}) \
         SELECT * FROM (VALUES {}) v \
         WHERE EXISTS (SELECT 1 FROM memories WHERE id = v.column2) \
         AND EXISTS (SELECT 1 FROM memories WHERE id = v.column3) \
         ON CONFLICT DO NOTHING RETURNING id",
        value_rows::<13>(chunk.len())
    );
    let params: Vec<Value> = chunk.iter().flat_map(relationship_params).collect();
    inserted(conn, &sql, params, chunk.iter().map(|r| r.id.as_str())).await
}

/// What becomes of a relationship that was not inserted: an update or no change of the one
/// stored under its id, or a skip (its triple taken by another id, or an endpoint missing).
async fn judge_relationship(conn: &Conn, rel: &Relationship) -> Result<Imported> {
    Ok(match get_relationship(conn, &rel.id).await? {
        Some(stored) => {
            let done = decide_relationship(Some(&stored), rel);
            if done == Imported::Updated {
                let mut params = relationship_params(rel).split_off(4);
                params.push(rel.id.clone().into());
                conn.execute(REPLACE_RELATIONSHIP, params).await?;
            }
            done
        }
        None if endpoints_exist(conn, &rel.source_id, &rel.target_id).await? => {
            Imported::Skipped(SkipReason::Conflict)
        }
        None => Imported::Skipped(SkipReason::MissingEndpoint),
    })
}

async fn endpoints_exist(conn: &Connection, source: &str, target: &str) -> Result<bool> {
    let mut rows = conn
        .query(
            "SELECT count(*) FROM memories WHERE id IN (?, ?)",
            (source, target),
        )
        .await?;
    let found: i64 = match rows.next().await? {
        Some(row) => row.get(0)?,
        None => 0,
    };
    Ok(found == 2)
}

/// The stored vectors of the memories among `ids`.
pub(super) async fn embeddings(
    conn: &Connection,
    ids: &[String],
) -> Result<Vec<(String, Embedding)>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT memory_id, model, embedding FROM memory_vectors WHERE memory_id IN ({})",
            placeholders(chunk.len())
        );
        let params: Vec<Value> = chunk.iter().map(|id| Value::from(id.clone())).collect();
        let mut rows = conn.query(&sql, params).await?;
        while let Some(row) = rows.next().await? {
            let id: String = row.get(0)?;
            let vector = from_blob(&row.get::<Vec<u8>>(2)?).ok_or_else(|| Error::Corrupt {
                what: "vector",
                reason: format!("the vector of memory {id} is not a whole number of f32s"),
            })?;
            out.push((
                id,
                Embedding {
                    model: row.get(1)?,
                    vector,
                },
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::libsql::LibsqlBackend;
    use crate::backend::libsql::tail::tests::memory;

    /// An import batch, kept or not, leaves its connection's temporary storage as it found it:
    /// in memory it would hold `VACUUM`'s copy of the whole database.
    #[tokio::test]
    async fn an_import_puts_its_connections_temporary_storage_back() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LibsqlBackend::open_local(&dir.path().join("store.db"))
            .await
            .unwrap();
        let batch = ImportBatch {
            memories: vec![(memory(1, "lantern", "brass", &[]), None)],
            relationships: Vec::new(),
        };
        let temp_store = backend
            .run(move |conn| async move {
                let mut after = Vec::new();
                for dry_run in [true, false] {
                    let outcome = import_batch(&conn, &batch, dry_run, true).await?;
                    assert_eq!(outcome.memories, [Imported::Created]);
                    let mut rows = conn.query("PRAGMA temp_store", ()).await?;
                    after.push(rows.next().await?.expect("a value").get::<i64>(0)?);
                }
                Ok(after)
            })
            .await
            .unwrap();
        assert_eq!(temp_store, [0, 0], "DEFAULT");
    }
}
