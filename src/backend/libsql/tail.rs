//! The tail of the full-text index: the newest memories of a replicated store, not indexed yet.
//!
//! Every page a write dirties on the primary is a 4 KiB frame each replica pulls, and indexing
//! one memory's text writes at least four FTS5 b-trees (about five of a create's twelve
//! pages), while indexing [`BATCH`] memories at once writes about as many. So a store written
//! through a primary indexes new memories in batches (migration 4,
//! `schema/0004_full_text_in_batches.sql`): memories above `fts_state.indexed_upto` wait, and
//! the insert that makes them [`BATCH`] indexes them all. Local stores index each memory as
//! it is written (`batch` 0) and their tail is always empty.
//!
//! Keyword search must still find a memory the moment it is written, so it reads the tail
//! here (at most [`BATCH`] rows, by row number) and ranks its matches with BM25 computed as
//! FTS5 computes it, from the statistics the index will have once the tail is in it: a tail
//! memory ranks where it will rank once indexed. Words are matched as the index matches them
//! (`unicode61` tokens, Porter stems: [`StemmedTerms`]); the one difference is that the tail
//! does not fold diacritics, so "café" in a tail memory is not found by "cafe" until indexed.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use libsql::Connection;

use super::filter::Clause;
use super::keyword::match_expression;
use super::meta::count;
use super::rank::{WEIGHTS, idf, share};
use super::rows::{self, MEMORY_COLUMN_COUNT, MEMORY_COLUMNS, to_json};
use crate::error::Result;
use crate::model::{KeywordMatch, Memory};
use crate::text::{self, StemmedTerms};

/// Memories a replicated store indexes at once. 32 makes a create write ~0.3 index pages on
/// average instead of ~5, while a search tokenizes at most 32 memories beside the index.
pub(super) const BATCH: i64 = 32;

/// Turns batches on, with the tail starting empty (a no-op if they are on already).
const INDEX_IN_BATCHES: &str = "UPDATE fts_state SET batch = ?, \
    indexed_upto = (SELECT coalesce(max(seq), 0) FROM memories) WHERE batch = 0";

/// The schema version that brought `fts_state`.
pub(super) const SINCE_SCHEMA: u32 = 4;

/// Makes the store index new memories [`BATCH`] at a time (its writes replicate).
pub(super) async fn index_in_batches(conn: &Connection) -> Result<()> {
    conn.execute(INDEX_IN_BATCHES, [BATCH]).await?;
    Ok(())
}

/// Whether the store indexes new memories in batches.
pub(super) async fn in_batches(conn: &Connection) -> Result<bool> {
    let mut rows = conn.query("SELECT batch > 0 FROM fts_state", ()).await?;
    Ok(match rows.next().await? {
        Some(row) => row.get::<bool>(0)?,
        None => false,
    })
}

/// How many memories wait in the tail (0 on a store that indexes each write).
pub(super) async fn len(conn: &Connection) -> Result<u64> {
    count(
        conn,
        "SELECT count(*) FROM memories \
         WHERE seq > (SELECT indexed_upto FROM fts_state WHERE batch > 0)",
    )
    .await
}

/// The tail's memories, newest first, each with whether it passes `clause`: the ranking
/// counts every one of them, the answer only those that pass.
async fn memories(conn: &Connection, clause: &Clause) -> Result<Vec<(Memory, bool)>> {
    let sql = format!(
        "SELECT {MEMORY_COLUMNS}, (1{}) FROM memories m \
         WHERE m.seq > (SELECT indexed_upto FROM fts_state WHERE batch > 0) \
         ORDER BY m.seq DESC",
        clause.sql
    );
    let mut rows = conn.query(&sql, clause.params.clone()).await?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        out.push((rows::memory(&row)?, row.get::<bool>(MEMORY_COLUMN_COUNT)?));
    }
    Ok(out)
}

/// A tail memory as the index would hold it: each query term's occurrences per column
/// (title, content, tags) and its length in tokens.
struct Document {
    memory: Memory,
    /// `[term][column]` occurrences.
    occurrences: Vec<[usize; 3]>,
    tokens: usize,
}

impl Document {
    /// The columns are the texts the triggers index: the tags as their JSON text.
    fn new(memory: Memory, terms: &StemmedTerms) -> Self {
        let columns = [
            memory.title.clone(),
            memory.content.clone(),
            to_json(&memory.tags),
        ];
        let mut occurrences = vec![[0; 3]; terms.len()];
        let mut tokens = 0;
        for (c, column) in columns.iter().enumerate() {
            let words: Vec<String> = text::tokens(column).collect();
            tokens += words.len();
            for (t, n) in terms.occurrences(&words).into_iter().enumerate() {
                occurrences[t][c] = n;
            }
        }
        Document {
            memory,
            occurrences,
            tokens,
        }
    }

    fn holds(&self, term: usize) -> bool {
        self.occurrences[term].iter().any(|&n| n > 0)
    }
}

/// FTS5's BM25 of one memory (higher is better): for each term, its inverse document
/// frequency times its saturated, length-normalised frequency, where the frequency weighs
/// each column by the search's [`WEIGHTS`] and the length is the memory's tokens in every column.
fn bm25(doc: &Document, idf: &[f64], average_tokens: f64) -> f64 {
    doc.occurrences
        .iter()
        .zip(idf)
        .map(|(per_column, &idf)| {
            let freq: f64 = per_column
                .iter()
                .zip(WEIGHTS)
                .map(|(&n, w)| n as f64 * w)
                .sum();
            share(idf, freq, doc.tokens as f64, average_tokens)
        })
        .sum()
}

/// The index's memory count and token total (all columns), from the FTS5 averages record
/// (row 1 of `memories_fts_data`: SQLite varints, the row count then each column's total).
async fn index_totals(conn: &Connection) -> Result<(u64, u64)> {
    let mut rows = conn
        .query("SELECT block FROM memories_fts_data WHERE id = 1", ())
        .await?;
    let Some(row) = rows.next().await? else {
        return Ok((0, 0));
    };
    let block: Vec<u8> = row.get(0)?;
    let mut values = Varints(&block);
    let memories = values.next().unwrap_or(0);
    Ok((memories, values.sum()))
}

/// SQLite's variable-length integers, read in turn from a buffer.
struct Varints<'a>(&'a [u8]);

impl Iterator for Varints<'_> {
    type Item = u64;

    /// Big-endian groups of seven bits, the high bit set on every byte but the last; a ninth
    /// byte contributes all eight of its bits.
    fn next(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for i in 0..9 {
            let (&byte, rest) = self.0.split_first()?;
            self.0 = rest;
            if i == 8 {
                return Some((value << 8) | u64::from(byte));
            }
            value = (value << 7) | u64::from(byte & 0x7f);
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
}

/// What a process keeps to search the tail of one open database.
pub(super) struct Tail {
    /// Whether the store may have a tail: a local store's `batch` is read once, since only a
    /// migration through a primary sets it; a replicated one is read at every search.
    possible: OnceLock<bool>,
    counts: TermCounts,
}

impl Tail {
    /// For a store whose writes `replicated` or not.
    pub(super) fn new(replicated: bool) -> Self {
        let possible = OnceLock::new();
        if replicated {
            let _ = possible.set(true);
        }
        Tail {
            possible,
            counts: TermCounts::default(),
        }
    }

    /// False when the store indexes every memory as it is written: a local store searches
    /// as it did before batches existed, without reading the tail.
    async fn possible(&self, conn: &Connection) -> Result<bool> {
        if let Some(&possible) = self.possible.get() {
            return Ok(possible);
        }
        let possible = in_batches(conn).await?;
        Ok(*self.possible.get_or_init(|| possible))
    }
}

/// How many indexed memories hold each term, remembered while the index stays about the size
/// it was: a count walks the term's whole list (tens of milliseconds for a common word in a
/// large store) and changes little as memories come and go, nor does the logarithm of it.
#[derive(Default)]
struct TermCounts {
    cache: Mutex<Counted>,
}

#[derive(Default)]
struct Counted {
    /// The index's memory count when the counts were made.
    at: u64,
    counts: HashMap<String, u64>,
}

/// The share of the index that may change before remembered counts are dropped.
const COUNTS_KEPT_WITHIN: u64 = 16;

impl TermCounts {
    /// Indexed memories holding `term`, with `indexed` memories in the index now.
    async fn of(&self, conn: &Connection, term: &str, indexed: u64) -> Result<u64> {
        {
            let mut cache = self.cache.lock().expect("term counts lock");
            if cache.at.abs_diff(indexed) > cache.at / COUNTS_KEPT_WITHIN {
                cache.counts.clear();
                cache.at = indexed;
            }
            if let Some(&n) = cache.counts.get(term) {
                return Ok(n);
            }
        }
        let mut rows = conn
            .query(
                "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?",
                [match_expression(&[term.to_owned()])],
            )
            .await?;
        let n = match rows.next().await? {
            Some(row) => row.get::<i64>(0)?.max(0) as u64,
            None => 0,
        };
        self.cache
            .lock()
            .expect("term counts lock")
            .counts
            .insert(term.to_owned(), n);
        Ok(n)
    }
}

/// `hits` from the index with the tail's memories matching any of `terms` and `clause`
/// ranked among them by score (each placed before the first hit it outscores, so the
/// index's order, staged or not, is kept), at most `limit`.
pub(super) async fn search_with_tail(
    conn: &Connection,
    state: &Tail,
    terms: &[String],
    clause: &Clause,
    mut hits: Vec<KeywordMatch>,
    limit: usize,
) -> Result<Vec<KeywordMatch>> {
    if !state.possible(conn).await? {
        return Ok(hits);
    }
    let stemmed = StemmedTerms::new(terms);
    let tail: Vec<(Document, bool)> = memories(conn, clause)
        .await?
        .into_iter()
        .map(|(m, passes)| (Document::new(m, &stemmed), passes))
        .collect();
    let matches = |(d, passes): &(Document, bool)| *passes && (0..terms.len()).any(|t| d.holds(t));
    if !tail.iter().any(matches) {
        return Ok(hits);
    }
    // The statistics the index will have with the whole tail in it.
    let (indexed, indexed_tokens) = index_totals(conn).await?;
    let rows = (indexed + tail.len() as u64) as f64;
    let tokens = indexed_tokens + tail.iter().map(|(d, _)| d.tokens as u64).sum::<u64>();
    let average_tokens = (tokens as f64 / rows).max(1.0);
    let mut idfs = Vec::with_capacity(terms.len());
    for (t, term) in terms.iter().enumerate() {
        let in_tail = tail.iter().filter(|(d, _)| d.holds(t)).count() as u64;
        let holding = if in_tail > 0 {
            state.counts.of(conn, term, indexed).await? + in_tail
        } else {
            0
        };
        idfs.push(idf(rows, holding as f64));
    }
    for (doc, _) in tail.into_iter().filter(|candidate| matches(candidate)) {
        let score = bm25(&doc, &idfs, average_tokens);
        let at = hits
            .iter()
            .position(|h| score > h.score || (score == h.score && doc.memory.id < h.memory.id))
            .unwrap_or(hits.len());
        if at < limit {
            hits.insert(
                at,
                KeywordMatch {
                    memory: doc.memory,
                    score,
                },
            );
        }
    }
    hits.truncate(limit);
    Ok(hits)
}

/// `found` (the index's newest memories holding every one of `words`, newest first) after
/// the tail's, which are newer still; at most `limit`.
pub(super) async fn holding_with_tail(
    conn: &Connection,
    state: &Tail,
    words: &[String],
    found: Vec<Memory>,
    limit: usize,
) -> Result<Vec<Memory>> {
    if !state.possible(conn).await? {
        return Ok(found);
    }
    let stemmed = StemmedTerms::new(words);
    let mut out: Vec<Memory> = memories(conn, &Clause::default())
        .await?
        .into_iter()
        .map(|(m, _)| Document::new(m, &stemmed))
        .filter(|d| (0..words.len()).all(|t| d.holds(t)))
        .map(|d| d.memory)
        .collect();
    out.extend(found);
    out.truncate(limit);
    Ok(out)
}

#[cfg(test)]
pub(super) mod tests {
    use chrono::Utc;

    use super::*;
    use crate::backend::GraphBackend;
    use crate::backend::libsql::LibsqlBackend;
    use crate::model::{Context, Filter};

    /// A note `m{i:03}` with these texts (also the ranking function's tests, `rank.rs`).
    pub(in crate::backend::libsql) fn memory(
        i: usize,
        title: &str,
        content: &str,
        tags: &[&str],
    ) -> Memory {
        Memory {
            id: format!("m{i:03}"),
            kind: "note".into(),
            title: title.into(),
            content: content.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            context: Context::default(),
            importance: 0.5,
            confidence: 0.5,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            accessed_at: None,
            access_count: 0,
            version: 1,
        }
    }

    /// A store indexing in batches, with `n` memories: one in three mentions "lanterns" (in
    /// its title, content or tags, once or twice), the rest are filler of varied length.
    async fn store_of(n: usize) -> (tempfile::TempDir, LibsqlBackend) {
        let dir = tempfile::tempdir().unwrap();
        let backend = LibsqlBackend::open_local(&dir.path().join("store.db"))
            .await
            .unwrap();
        backend
            .run(|conn| async move { index_in_batches(&conn).await })
            .await
            .unwrap();
        for i in 0..n {
            let filler = "the harbour keeps its boats dry ".repeat(1 + i % 5);
            let m = match i % 9 {
                0 => memory(i, "lantern repairs", &filler, &[]),
                3 => memory(
                    i,
                    "harbour notes",
                    &format!("{filler} lanterns lantern"),
                    &[],
                ),
                6 => memory(i, "dock log", &filler, &["lantern"]),
                _ => memory(i, "harbour", &filler, &[]),
            };
            backend.create_memory(&m, None).await.unwrap();
        }
        (dir, backend)
    }

    async fn lantern_scores(backend: &LibsqlBackend) -> HashMap<String, f64> {
        let terms = text::query_terms("lanterns");
        let hits = backend
            .keyword_search(&terms, &Filter::default(), 100)
            .await
            .unwrap();
        hits.into_iter().map(|h| (h.memory.id, h.score)).collect()
    }

    #[tokio::test]
    async fn a_tail_memory_scores_as_it_will_once_indexed() {
        let (_dir, backend) = store_of(45).await;
        let waiting = backend
            .run(|conn| async move { len(&conn).await })
            .await
            .unwrap();
        assert_eq!(waiting, 13, "32 indexed, 13 in the tail");
        let before = lantern_scores(&backend).await;
        // Every lantern memory is found, in the index and in the tail.
        assert_eq!(before.len(), 15, "{before:?}");

        // Index the tail as the batch would, then search again.
        backend
            .run(|conn| async move {
                conn.execute_batch(
                    "INSERT INTO memories_fts (rowid, title, content, tags) \
                     SELECT seq, title, content, tags FROM memories \
                     WHERE seq > (SELECT indexed_upto FROM fts_state); \
                     UPDATE fts_state SET indexed_upto = (SELECT max(seq) FROM memories);",
                )
                .await?;
                Ok(())
            })
            .await
            .unwrap();
        let after = lantern_scores(&backend).await;
        assert_eq!(after.len(), 15);
        for i in [33, 36, 39, 42] {
            let id = format!("m{i:03}");
            let (tail, index) = (before[&id], after[&id]);
            assert!(
                (tail - index).abs() < 1e-9 * index.abs(),
                "{id}: {tail} in the tail, {index} indexed"
            );
        }
        let checks = backend.check_integrity().await.unwrap();
        assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    }

    #[tokio::test]
    async fn the_tail_follows_updates_and_deletes() {
        let (_dir, backend) = store_of(40).await;
        let now = Utc::now();
        let rewrite = crate::model::MemoryPatch {
            title: Some("beacon".into()),
            content: Some("beacon light".into()),
            ..Default::default()
        };
        use crate::backend::EmbeddingChange::Keep;
        // Memories 0–31 are indexed, 32–39 wait in the tail: one of each rewritten without
        // lanterns, one of each deleted (39 the newest, whose row number the next create
        // takes again).
        for id in ["m003", "m036"] {
            backend
                .update_memory(id, &rewrite, Keep, None, now)
                .await
                .unwrap();
        }
        for id in ["m009", "m039"] {
            backend.delete_memory(id).await.unwrap();
        }
        let beacon = backend
            .keyword_search(&text::query_terms("beacon"), &Filter::default(), 10)
            .await
            .unwrap();
        let mut ids: Vec<&str> = beacon.iter().map(|h| h.memory.id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["m003", "m036"]);
        let lanterns = lantern_scores(&backend).await;
        assert_eq!(lanterns.len(), 14 - 4, "{lanterns:?}");
        for gone in ["m003", "m009", "m036", "m039"] {
            assert!(!lanterns.contains_key(gone), "{gone} still found");
        }
        let holding = backend
            .memories_holding(&["dock".into(), "log".into()], 16)
            .await
            .unwrap();
        let ids: Vec<&str> = holding.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["m033", "m024", "m015", "m006"]);
        // New memories fill the tail and index it: the index stays exact throughout.
        for i in 40..80 {
            backend
                .create_memory(&memory(i, "beacon", "late", &[]), None)
                .await
                .unwrap();
        }
        let checks = backend.check_integrity().await.unwrap();
        assert!(checks.iter().all(|c| c.ok), "{checks:?}");
        let beacon = backend
            .keyword_search(&text::query_terms("beacon"), &Filter::default(), 100)
            .await
            .unwrap();
        assert_eq!(beacon.len(), 42);
    }

    #[test]
    fn varints_read_as_sqlite_writes_them() {
        // 248, then 2250 (two bytes), then 24529 (three bytes) and 5.
        let bytes = [0x81, 0x78, 0x91, 0x4a, 0x81, 0xbf, 0x51, 0x05];
        assert_eq!(Varints(&bytes).collect::<Vec<_>>(), [248, 2250, 24529, 5]);
        // Nine bytes: the last contributes eight bits.
        let max = [0xff; 9];
        assert_eq!(Varints(&max).next(), Some(u64::MAX));
        // A value cut short is not read.
        assert_eq!(Varints(&[0x81]).next(), None);
    }
}
