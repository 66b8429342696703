//! The background embedder's queries: which memories still need a vector of the current
//! model, and storing the vectors made for them without touching the memories themselves.

use libsql::Connection;

use super::pool::write_tx;
use super::rows::{self, MEMORY_COLUMNS, collect, value_rows};
use crate::error::Result;
use crate::model::{Embedding, Memory};
use crate::vector::to_blob;

/// Memories without a vector of `model`, oldest first.
pub(super) async fn memories_without_embedding(
    conn: &Connection,
    model: &str,
    limit: usize,
) -> Result<Vec<Memory>> {
    let sql = format!(
        "SELECT {MEMORY_COLUMNS} FROM memories m WHERE NOT EXISTS \
         (SELECT 1 FROM memory_vectors v WHERE v.memory_id = m.id AND v.model = ?) \
         ORDER BY m.seq LIMIT ?"
    );
    collect(conn.query(&sql, (model, limit as i64)).await?, rows::memory).await
}

/// Vectors written per statement (four values each).
const UPSERT_ROWS: usize = 64;

/// Writes each vector whose memory still has the version it was made from, [`UPSERT_ROWS`] to
/// a statement: a statement inside a transaction costs a savepoint, more than writing a
/// vector.
pub(super) async fn set_embeddings(
    conn: &Connection,
    batch: &[(String, i64, Embedding)],
) -> Result<usize> {
    write_tx(conn, || async {
        let full = conn.prepare(&upsert_vectors(UPSERT_ROWS)).await?;
        let mut written = 0;
        for chunk in batch.chunks(UPSERT_ROWS) {
            let params: Vec<libsql::Value> = chunk
                .iter()
                .flat_map(|(id, version, embedding)| {
                    [
                        id.clone().into(),
                        (*version).into(),
                        embedding.model.clone().into(),
                        to_blob(&embedding.vector).into(),
                    ]
                })
                .collect();
            written += if chunk.len() == UPSERT_ROWS {
                let done = full.execute(params).await;
                full.reset();
                done?
            } else {
                conn.execute(&upsert_vectors(chunk.len()), params).await? as usize
            };
        }
        Ok(written)
    })
    .await
}

/// Upserts `rows` vectors, each bound as (memory id, version, model, vector) and written only
/// when the memory has that version. `WHERE true` tells the parser the `ON CONFLICT` is the
/// upsert's, not the join's.
fn upsert_vectors(rows: usize) -> String {
    format!(
        "WITH given (id, version, model, embedding) AS (VALUES {}) \
         INSERT INTO memory_vectors (memory_id, model, embedding) \
         SELECT m.id, given.model, given.embedding FROM given \
         JOIN memories m ON m.id = given.id AND m.version = given.version WHERE true \
         ON CONFLICT (memory_id) DO UPDATE SET model = excluded.model, \
         embedding = excluded.embedding",
        value_rows::<4>(rows)
    )
}
