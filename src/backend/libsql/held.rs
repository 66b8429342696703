//! Bulk writes index their new memories' full text once, at their end (schema migration 6).
//!
//! Inside a transaction every statement opens a savepoint, at which FTS5 writes out the terms
//! it holds: a batch indexed as it was inserted wrote a segment per insert statement and then
//! merged them. Held, the batch's new memories go into the index in one statement, one
//! segment. A store that indexes in batches (replicated) is not held: its triggers keep the
//! tail as migration 4 describes.
//!
//! Invariant: `fts_state.held_above` is set only inside the transaction (or savepoint) of
//! [`held`], which clears it before returning; an error returns before clearing, and the
//! caller's rollback undoes the hold with the rest. No committed state has it set.

use std::future::Future;

use super::pool::Conn;
use crate::error::Result;

/// Holds the indexing of memories inserted from now on (above the newest row), on a local store.
const HOLD: &str = "UPDATE fts_state SET held_above = (SELECT coalesce(max(seq), 0) FROM memories) \
    WHERE batch = 0";

/// Indexes, logs and releases the held memories, in this order: the log's entries name rows
/// the index holds when it is read.
const RELEASE: [&str; 3] = [
    "INSERT INTO memories_fts (rowid, title, content, tags) \
     SELECT seq, title, content, tags FROM memories \
     WHERE seq > (SELECT held_above FROM fts_state)",
    "INSERT INTO fts_log (seq, memory_seq) \
     SELECT n.seq + row_number() OVER (ORDER BY m.seq) - 1, m.seq \
     FROM memories m, fts_log_next_seq n WHERE m.seq > (SELECT held_above FROM fts_state)",
    "UPDATE fts_state SET held_above = NULL WHERE held_above IS NOT NULL",
];

/// Runs `body`, a bulk write inside the caller's transaction, with the full-text indexing of
/// the memories it inserts held to its end when the store is `local`. A replicated store
/// indexes in batches already, and its writes would carry these statements to the primary
/// for nothing.
pub(super) async fn held<T, F, Fut>(conn: &Conn, local: bool, body: F) -> Result<T>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    if !local {
        return body().await;
    }
    conn.execute(HOLD, ()).await?;
    let value = body().await?;
    for sql in RELEASE {
        conn.execute(sql, ()).await?;
    }
    Ok(value)
}
