//! The background embedder's queries: which memories still need a vector of the current
//! model, and storing the vectors made for them without touching the memories themselves.

use libsql::Connection;

use super::pool::write_tx;
use super::rows::{self, MEMORY_COLUMNS, collect};
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

/// Writes each vector whose memory still has the version it was made from.
pub(super) async fn set_embeddings(
    conn: &Connection,
    batch: &[(String, i64, Embedding)],
) -> Result<usize> {
    write_tx(conn, || async {
        let insert = conn
            .prepare(
                "INSERT INTO memory_vectors (memory_id, model, embedding) \
                 SELECT id, ?, ? FROM memories WHERE id = ? AND version = ? \
                 ON CONFLICT (memory_id) DO UPDATE SET model = excluded.model, \
                 embedding = excluded.embedding",
            )
            .await?;
        let mut written = 0;
        for (id, version, embedding) in batch {
            let params: Vec<libsql::Value> = vec![
                embedding.model.clone().into(),
                to_blob(&embedding.vector).into(),
                id.clone().into(),
                (*version).into(),
            ];
            let done = insert.execute(params).await;
            insert.reset();
            written += done?;
        }
        Ok(written)
    })
    .await
}
