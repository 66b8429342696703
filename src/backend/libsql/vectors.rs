//! Vector search: libSQL holds the vectors, an in-process quantized index finds candidates,
//! and candidates are re-ranked exactly against the stored vectors.
//!
//! Hybrid search takes the index's word instead ([`VectorCache::nearest`],
//! [`VectorCache::loaded_approximations`]): it fuses similarities into standard scores over ~100
//! candidates, where the index's error (p99 0.003) moves nothing, and re-reading each
//! candidate's vector was a seventh of its time at 100k memories. The exact paths stay for
//! what reports or thresholds a similarity: semantic search and the near-duplicate probe.
//!
//! The index follows `vector_log`, which triggers append to on every vector change made by any
//! process or device. Before each search the index reads the log's tail (one indexed range
//! query) and reloads the few vectors that changed, or reloads itself whole when it fell
//! behind the pruned part of the log or is asked about another model.

use std::collections::HashMap;
use std::sync::RwLock;

use libsql::{Connection, Row, Value};

use super::filter::Clause;
use super::pool::Conn;
use super::rows::{self, MEMORY_COLUMNS, placeholders};
use crate::error::Result;
use crate::model::{Filter, Memory, VectorHit};
use crate::vector::{QuantizedIndex, cosine, from_blob, to_blob};

/// Candidates re-ranked exactly per result asked for, without and with a filter. The filter is
/// applied to candidates, so a filtered search looks further down the approximate ranking.
/// Each candidate re-ranked is a vector read from the database (most of a semantic search's
/// cost at 100k memories), so the unfiltered search reads few: the index's similarities are
/// within ~0.003 of the exact ones (p99 on 100k benchmark memories). With the built-in model,
/// the exact best 5 were always among the first 20 candidates and the exact best 50 among the
/// first 100, on LoCoMo (5,882 turns, 1,986 questions; there even among the first 10 and 75)
/// and on the benchmark corpus (100k memories, 300 queries): hence twice as many, at least 20.
const OVERSAMPLE: usize = 2;
const OVERSAMPLE_FILTERED: usize = 16;
const MIN_CANDIDATES: usize = 20;
/// How far below a threshold a vector's similarity in the index may be while its exact
/// similarity reaches it: the index's error, at most 0.0069 measured on the 100k benchmark
/// memories (p99 0.0031), with a margin of about three times that.
const INDEX_ERROR: f32 = 0.02;

struct Loaded {
    model: String,
    index: QuantizedIndex,
    /// The last `vector_log.seq` applied.
    last_seq: i64,
}

/// The in-process index of one store, shared by every unit of work of the process.
#[derive(Default)]
pub(super) struct VectorCache {
    state: RwLock<Option<Loaded>>,
    /// Held while the whole index is read from the database: a unit of work that finds the
    /// index missing while another reads it waits for that copy instead of reading a second.
    /// The warm-up that starts with the embedder and the first searches raced: copies of a
    /// 100k-memory index (34 MB each) were built at once and all but one thrown away, which
    /// put the server's peak resident memory up to ~37 MiB above what it then held.
    loading: tokio::sync::Mutex<()>,
    /// Whole loads so far, for the test that they are not repeated.
    #[cfg(test)]
    loads: std::sync::atomic::AtomicUsize,
}

impl VectorCache {
    /// Nearest memories to `query` among vectors of `model` that pass `filter`.
    pub async fn search(
        &self,
        conn: &Conn,
        model: &str,
        query: &[f32],
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<VectorHit>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.refresh(conn, model, query.len()).await?;
        let per_result = if filter.is_empty() {
            OVERSAMPLE
        } else {
            OVERSAMPLE_FILTERED
        };
        let wanted = (limit * per_result).max(MIN_CANDIDATES);
        let (ids, indexed) = self.candidates(|index| index.candidates(query, wanted));
        let hits = rerank(conn, model, query, &ids, filter, limit).await?;
        // A selective filter can reject every candidate while matching memories exist further
        // down: then scan the filtered set exactly (it is small when the filter is selective).
        if hits.len() < limit && indexed > ids.len() && !filter.is_empty() {
            return exact_search(conn, model, query, filter, limit).await;
        }
        Ok(hits)
    }

    /// Memories whose vector of `model` has an exact cosine similarity of at least
    /// `min_similarity` to `query`, the `limit` closest first. The index proposes only the
    /// vectors whose approximate similarity is within its error of the threshold (for a high
    /// threshold usually none, and then no vector is read from the database); they are
    /// re-ranked exactly as a search's candidates are.
    pub async fn within(
        &self,
        conn: &Conn,
        model: &str,
        query: &[f32],
        min_similarity: f32,
        limit: usize,
    ) -> Result<Vec<VectorHit>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.refresh(conn, model, query.len()).await?;
        let wanted = (limit * OVERSAMPLE).max(MIN_CANDIDATES);
        let floor = min_similarity - INDEX_ERROR;
        let (ids, _) = self.candidates(|index| index.within(query, floor, wanted));
        let mut hits = rerank(conn, model, query, &ids, &Filter::default(), limit).await?;
        hits.retain(|hit| hit.similarity >= min_similarity);
        Ok(hits)
    }

    /// The `limit` nearest memories to `query` by the index's similarity, with no exact
    /// re-rank: each hit's similarity and vector are the index's (see
    /// [`QuantizedIndex::approximation`]), and only the hits' memory rows are read. The scan
    /// is the index's quick one ([`QuantizedIndex::candidates_quick`]). A filtered
    /// search is [`Self::search`]'s: its filter is applied in SQL to the candidates anyway.
    pub async fn nearest(
        &self,
        conn: &Conn,
        model: &str,
        query: &[f32],
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<VectorHit>> {
        if !filter.is_empty() || limit == 0 {
            return self.search(conn, model, query, filter, limit).await;
        }
        self.refresh(conn, model, query.len()).await?;
        let found = self.with_index(|index| {
            index
                .candidates_quick(query, limit)
                .into_iter()
                .filter_map(|(id, similarity)| {
                    let vector = index.approximation(&id)?;
                    Some((similarity, id, vector))
                })
                .collect()
        });
        with_memories(conn, found).await
    }

    /// The index's vectors of `model` for those of `ids` it holds (see
    /// [`QuantizedIndex::approximation`]), as the last search left the index, without a
    /// connection: `None` when the index is not loaded for `model` (then refresh and ask
    /// again). A hybrid search asks right after its vector side refreshed the index, so no
    /// SQL runs and no pooled connection is taken.
    pub fn loaded_approximations(
        &self,
        model: &str,
        dim: usize,
        ids: &[String],
    ) -> Option<Vec<(String, Vec<f32>)>> {
        let state = self.state.read().expect("vector index lock");
        let loaded = state
            .as_ref()
            .filter(|l| l.model == model && l.index.dim() == dim)?;
        Some(
            ids.iter()
                .filter_map(|id| Some((id.clone(), loaded.index.approximation(id)?)))
                .collect(),
        )
    }

    /// The ids `propose` finds in the index (refreshed before), and how many vectors it holds.
    fn candidates(
        &self,
        propose: impl FnOnce(&QuantizedIndex) -> Vec<(String, f32)>,
    ) -> (Vec<Value>, usize) {
        self.with_index(|index| {
            let ids = propose(index)
                .into_iter()
                .map(|(id, _)| id.into())
                .collect();
            (ids, index.len())
        })
    }

    /// What `read` makes of the index (refreshed before), under its read lock.
    fn with_index<T>(&self, read: impl FnOnce(&QuantizedIndex) -> T) -> T {
        let state = self.state.read().expect("vector index lock");
        read(&state.as_ref().expect("refreshed before").index)
    }

    /// Brings the index up to date for `model`. SQL runs without the lock held; the changes
    /// read are applied only if no other unit of work applied newer ones meanwhile. One unit
    /// of work at a time reads the whole index (see [`VectorCache::loading`]).
    pub async fn refresh(&self, conn: &Conn, model: &str, dim: usize) -> Result<()> {
        let floor = log_floor(conn).await?;
        if let Some(last_seq) = self.loaded_since(model, dim, floor) {
            return self.catch_up(conn, model, last_seq).await;
        }
        let _loading = self.loading.lock().await;
        // Another unit of work may have loaded it while this one waited.
        if let Some(last_seq) = self.loaded_since(model, dim, floor) {
            return self.catch_up(conn, model, last_seq).await;
        }
        let loaded = load(conn, model, dim).await?;
        #[cfg(test)]
        self.loads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut state = self.state.write().expect("vector index lock");
        let newer_present = state.as_ref().is_some_and(|l| {
            l.model == model && l.index.dim() == dim && l.last_seq >= loaded.last_seq
        });
        if !newer_present {
            *state = Some(loaded);
        }
        Ok(())
    }

    /// The last change applied to the index, when it holds `model`'s vectors of `dim`
    /// dimensions and has seen every change since the log's `floor`.
    fn loaded_since(&self, model: &str, dim: usize, floor: i64) -> Option<i64> {
        let state = self.state.read().expect("vector index lock");
        state
            .as_ref()
            .filter(|l| l.model == model && l.index.dim() == dim && l.last_seq >= floor)
            .map(|l| l.last_seq)
    }

    /// Applies the changes logged after `last_seq` to the index.
    async fn catch_up(&self, conn: &Conn, model: &str, last_seq: i64) -> Result<()> {
        let changes = log_tail(conn, model, last_seq).await?;
        let Some(&(newest, _, _)) = changes.last() else {
            return Ok(());
        };
        let mut state = self.state.write().expect("vector index lock");
        if let Some(loaded) = state.as_mut().filter(|l| l.last_seq == last_seq) {
            for (_, id, vector) in changes {
                match vector {
                    Some(v) => loaded.index.upsert(&id, &v),
                    None => loaded.index.remove(&id),
                };
            }
            loaded.last_seq = newest;
        }
        Ok(())
    }
}

async fn log_floor(conn: &Conn) -> Result<i64> {
    let value = conn
        .row(
            "SELECT value FROM meta WHERE key = 'vector_log_floor'",
            (),
            |row| Ok(row.get::<String>(0)?),
        )
        .await?;
    Ok(value.map_or(0, |v| v.parse().unwrap_or(0)))
}

/// The changes logged after `after`, oldest first, each with the memory's current vector of
/// `model` (`None` when it has none now): one statement, prepared once per connection, read
/// on every search after a write. A memory changed several times is listed each time, with
/// the same vector; applying them in turn leaves what applying the last would.
async fn log_tail(conn: &Conn, model: &str, after: i64) -> Result<Vec<LoggedChange>> {
    conn.rows(
        "SELECT l.seq, l.memory_id, v.embedding FROM vector_log l \
         LEFT JOIN memory_vectors v ON v.memory_id = l.memory_id AND v.model = ? \
         WHERE l.seq > ? ORDER BY l.seq",
        libsql::params![model, after],
        |row| {
            let vector = row.get::<Option<Vec<u8>>>(2)?;
            Ok((
                row.get(0)?,
                row.get(1)?,
                vector.as_deref().and_then(from_blob),
            ))
        },
    )
    .await
}

/// A logged change: its position in the log, the memory, and its vector now.
type LoggedChange = (i64, String, Option<Vec<f32>>);

/// A memory's id and its vector (None when the blob is not one).
fn id_and_vector(row: &Row) -> Result<(String, Option<Vec<f32>>)> {
    Ok((row.get(0)?, from_blob(&row.get::<Vec<u8>>(1)?)))
}

/// Loads every vector of `model`.
///
/// No transaction: an embedded replica would forward even a read-only `BEGIN` to the primary.
/// None is needed either, because the log position is read *before* the vectors: a change
/// committed in between may or may not be in the scan, but it is in the log after
/// `last_seq`, and replaying it onto the index is idempotent.
async fn load(conn: &Connection, model: &str, dim: usize) -> Result<Loaded> {
    let mut rows = conn
        .query("SELECT seq - 1 FROM vector_log_next_seq", ())
        .await?;
    let last_seq: i64 = match rows.next().await? {
        Some(row) => row.get(0)?,
        None => 0,
    };
    drop(rows);
    let mut index = QuantizedIndex::new(dim);
    let mut rows = conn
        .query(
            "SELECT memory_id, embedding FROM memory_vectors WHERE model = ?",
            [model],
        )
        .await?;
    while let Some(row) = rows.next().await? {
        if let Some(v) = from_blob(&row.get::<Vec<u8>>(1)?) {
            index.upsert(row.get_str(0)?, &v);
        }
    }
    tracing::debug!(model, vectors = index.len(), "loaded vector index");
    Ok(Loaded {
        model: model.to_owned(),
        index,
        last_seq,
    })
}

/// Exact similarity of the candidates that pass `filter`, best first.
async fn rerank(
    conn: &Conn,
    model: &str,
    query: &[f32],
    ids: &[Value],
    filter: &Filter,
    limit: usize,
) -> Result<Vec<VectorHit>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut clause = Clause::from_filter(filter);
    clause.and(
        &format!("v.memory_id IN ({})", placeholders(ids.len())),
        ids.iter().cloned(),
    );
    scored(conn, model, query, clause, !filter.is_empty(), None, limit).await
}

/// Exact search by a full scan of the vectors of `model` that pass `filter`.
pub(super) async fn exact_search(
    conn: &Conn,
    model: &str,
    query: &[f32],
    filter: &Filter,
    limit: usize,
) -> Result<Vec<VectorHit>> {
    scored(
        conn,
        model,
        query,
        Clause::from_filter(filter),
        !filter.is_empty(),
        Some(limit),
        limit,
    )
    .await
}

/// Scores memories selected by `clause` exactly. With `sql_limit`, SQLite orders by
/// `vector_distance_cos` and keeps that many; otherwise every selected row is scored. Only ids
/// and vectors are read for scoring; full memories are read for the `limit` best alone.
/// `clause` may name `memories m` only when `joined`: reading a memory's row for each vector
/// scored costs as much as reading the vector, so an unfiltered search reads vectors alone
/// (a vector always has its memory: deleting a memory deletes its vector).
async fn scored(
    conn: &Conn,
    model: &str,
    query: &[f32],
    clause: Clause,
    joined: bool,
    sql_limit: Option<usize>,
    limit: usize,
) -> Result<Vec<VectorHit>> {
    let mut sql = match joined {
        true => format!(
            "SELECT v.memory_id, v.embedding FROM memories m \
             JOIN memory_vectors v ON v.memory_id = m.id WHERE v.model = ?{}",
            clause.sql
        ),
        false => format!(
            "SELECT v.memory_id, v.embedding FROM memory_vectors v WHERE v.model = ?{}",
            clause.sql
        ),
    };
    let mut params: Vec<Value> = vec![model.into()];
    params.extend(clause.params);
    if let Some(n) = sql_limit {
        sql.push_str(" ORDER BY vector_distance_cos(v.embedding, ?) LIMIT ?");
        params.push(to_blob(query).into());
        params.push((n as i64).into());
    }
    let mut best: Vec<(f32, String, Vec<f32>)> = conn
        .rows(&sql, params, id_and_vector)
        .await?
        .into_iter()
        .filter_map(|(id, vector)| {
            let vector = vector.filter(|v| v.len() == query.len())?;
            Some((cosine(query, &vector), id, vector))
        })
        .collect();
    best.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    best.truncate(limit);
    with_memories(conn, best).await
}

/// Hits of the scored `(similarity, id, vector)`, in their order, with their memories read
/// (one statement); an id whose memory is gone is left out.
async fn with_memories(
    conn: &Conn,
    scored: Vec<(f32, String, Vec<f32>)>,
) -> Result<Vec<VectorHit>> {
    if scored.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {MEMORY_COLUMNS} FROM memories m WHERE m.id IN ({})",
        placeholders(scored.len())
    );
    let ids: Vec<Value> = scored
        .iter()
        .map(|(_, id, _)| Value::from(id.clone()))
        .collect();
    let mut memories: HashMap<String, Memory> = conn
        .rows(&sql, ids, rows::memory)
        .await?
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect();
    Ok(scored
        .into_iter()
        .filter_map(|(similarity, id, vector)| {
            memories.remove(&id).map(|memory| VectorHit {
                memory,
                similarity,
                vector,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use crate::backend::GraphBackend;
    use crate::backend::libsql::LibsqlBackend;
    use crate::backend::libsql::tail::tests::memory;
    use crate::model::Embedding;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn units_of_work_that_find_the_index_missing_load_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LibsqlBackend::open_local(&dir.path().join("store.db"))
            .await
            .unwrap();
        let batch: Vec<_> = (0..3000)
            .map(|i| {
                let angle = i as f32 / 100.0;
                let vector = vec![angle.cos(), angle.sin(), 1.0, 0.5];
                let embedding = Embedding {
                    model: "m".into(),
                    vector,
                };
                (memory(i, "note", "text", &[]), Some(embedding))
            })
            .collect();
        backend.create_memories(&batch).await.unwrap();
        // The warm-up and the first searches of a server, at once, each a task of its own.
        let warm_ups: Vec<_> = (0..4)
            .map(|_| {
                let backend = backend.clone();
                tokio::spawn(async move { backend.warm_up_vectors("m", 4).await })
            })
            .collect();
        for warm_up in warm_ups {
            warm_up.await.unwrap().unwrap();
        }
        let inner = backend.shared.open.read().unwrap().clone();
        assert_eq!(inner.vectors.loads.load(Ordering::Relaxed), 1);
        let hits = backend
            .vector_search("m", &[1.0, 0.0, 1.0, 0.5], &Default::default(), 1)
            .await
            .unwrap();
        assert_eq!(hits[0].memory.id, "m000");
    }
}
