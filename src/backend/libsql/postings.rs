//! The full-text index's postings in memory, for ranking keyword searches without FTS5.
//!
//! Ranking a stage of a keyword search in FTS5 (`keyword.rs`) walks the doclists of its terms
//! and decodes the positions of up to a thousand matches to weigh them: about nine tenths of
//! a keyword search at 100k memories. The same ranking from postings held in memory (for each
//! token, the rows holding it with their weighted frequency) takes tens of microseconds.
//!
//! The postings are FTS5's, not an approximation of them: each row's text is tokenized by
//! FTS5's own tokenizer (`fts_tokens`, `tokenize.rs`), so a row's length, the rows holding a
//! token and the average length are the index's, and [`Postings::newest`] computes BM25 with
//! `rank.rs`'s functions in `fts5Bm25Function`'s order: scores equal FTS5's to the last bit,
//! and a search answers the same whether the postings are loaded or not (tests compare both).
//!
//! They follow `fts_log` (migration 5), which the triggers that write the index append to,
//! whatever process or device writes: before each search the cache reads the log's tail and
//! re-reads the rows it names (one kept statement), as the vector index follows `vector_log`.
//! Loading them whole takes a while at a large store (about half a second of tokenizing per
//! 100k memories), so a search never loads them: a long-lived front end does, in the
//! background ([`KeywordCache::load`]), and until then, and in one-shot commands, searches
//! rank in FTS5. A cache that fell behind the pruned part of the log is dropped and loaded
//! again in the background.
//!
//! Memory: a posting is 5 bytes (see [`Rows`]), about 16 MB for 100k memories of ~33 tokens.

use std::collections::HashMap;
use std::sync::RwLock;

use libsql::Row;

use super::pool::Conn;
use super::rank::{WEIGHTS, idf, share};
use crate::error::Result;

/// Each column's weight in quarters ([`WEIGHTS`] × 4, all whole): a posting's frequency is
/// kept as a whole number of quarters, which sums exactly as FTS5 sums the weights.
const QUARTERS: [u32; 3] = [
    (WEIGHTS[0] * 4.0) as u32,
    (WEIGHTS[1] * 4.0) as u32,
    (WEIGHTS[2] * 4.0) as u32,
];

/// A row length not held: no such row in the index.
const ABSENT: u32 = u32::MAX;

/// Rows above this are not held (a row's length is kept at its number): a store numbered that
/// far is ranked by FTS5.
const MAX_ROW: i64 = 1 << 28;

/// The rows of the index and the log entries of each, as the statements below read them.
const LOAD: &str = "SELECT m.seq, m.id, fts_tokens(m.title), fts_tokens(m.content), \
     fts_tokens(m.tags) FROM memories m, fts_state s \
     WHERE s.batch = 0 OR m.seq <= s.indexed_upto ORDER BY m.seq";

/// The log's entries after a position, each with its row as the index holds it now (no
/// tokens when the index does not hold it).
const TAIL: &str = "SELECT l.seq, l.memory_seq, m.id, fts_tokens(m.title), \
     fts_tokens(m.content), fts_tokens(m.tags) FROM fts_log l CROSS JOIN fts_state s \
     LEFT JOIN memories m ON m.seq = l.memory_seq AND (s.batch = 0 OR m.seq <= s.indexed_upto) \
     WHERE l.seq > ? ORDER BY l.seq";

/// The newest entry of the log, and the floor below which it was pruned.
const POSITION: &str = "SELECT (SELECT seq - 1 FROM fts_log_next_seq), \
     coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'fts_log_floor'), 0)";

/// Each query term's tokens, one row per term in order.
const TERM_TOKENS: &str = "SELECT fts_tokens(value) FROM json_each(?)";

/// One token's rows by row number, with each row's weighted frequency in quarters: a byte
/// each (a token once in a title is 3, in content 4, in tags 8), and the rare frequency that
/// does not fit, [`BIG`], in `big`. Five bytes a posting instead of eight: at 100k memories,
/// 16 MB instead of 26.
#[derive(Default)]
struct Rows {
    rows: Vec<u32>,
    quarters: Vec<u8>,
    /// (row, quarters) of the rows whose byte is [`BIG`], by row.
    big: Vec<(u32, u32)>,
}

/// The byte of a frequency kept in [`Rows::big`].
const BIG: u8 = u8::MAX;

impl Rows {
    fn len(&self) -> usize {
        self.rows.len()
    }

    /// The weighted frequency of the row at `at`, in quarters.
    fn quarters(&self, at: usize) -> u32 {
        match self.quarters[at] {
            BIG => {
                let row = self.rows[at];
                let big = self.big.binary_search_by_key(&row, |&(r, _)| r);
                big.map_or(0, |i| self.big[i].1)
            }
            small => u32::from(small),
        }
    }

    /// Adds `row` (not held) with its frequency.
    fn insert(&mut self, row: u32, quarters: u32) {
        if self.rows.len() == self.rows.capacity() {
            // Grown by an eighth, not doubled: a list may hold a tenth of the store, and
            // doubling leaves up to half of every list unused.
            let more = self.rows.len() / 8 + 4;
            self.rows.reserve_exact(more);
            self.quarters.reserve_exact(more);
        }
        let byte = u8::try_from(quarters).unwrap_or(BIG);
        if byte == BIG {
            let at = self.big.partition_point(|&(r, _)| r < row);
            self.big.insert(at, (row, quarters));
        }
        match self.rows.last() {
            Some(&last) if last >= row => {
                let at = self.rows.partition_point(|&r| r < row);
                self.rows.insert(at, row);
                self.quarters.insert(at, byte);
            }
            _ => {
                self.rows.push(row);
                self.quarters.push(byte);
            }
        }
    }

    /// Takes out the rows of `held` (sorted) this token has.
    fn remove(&mut self, held: &[u32]) {
        self.big.retain(|(r, _)| held.binary_search(r).is_err());
        if held.len() <= 4 {
            for row in held {
                if let Ok(at) = self.rows.binary_search(row) {
                    self.rows.remove(at);
                    self.quarters.remove(at);
                }
            }
        } else {
            let mut kept = 0;
            for at in 0..self.rows.len() {
                if held.binary_search(&self.rows[at]).is_err() {
                    self.rows[kept] = self.rows[at];
                    self.quarters[kept] = self.quarters[at];
                    kept += 1;
                }
            }
            self.rows.truncate(kept);
            self.quarters.truncate(kept);
        }
    }
}

/// A match as ranked: (row, BM25 score, higher is better, [`order_key`] of its memory's id;
/// 0 where the key is not known).
pub(super) type Ranked = (i64, f64, u128);

/// The first 16 bytes of `id`, big-endian, zeros after a shorter one: ids with different keys
/// compare as their keys do (ids hold no NUL), so a tie in score is settled without reading
/// the ids back unless the keys tie too. Each held row keeps its key (16 bytes: 1.6 MB at
/// 100k memories): a page whose cut falls among hundreds of matches of equal score (memories
/// of equal length holding the query's words as often) read every one of their ids, a row
/// read each, 36% of a keyword search's time at 100k memories on the raw-pipe benchmark.
pub(super) fn order_key(id: &str) -> u128 {
    let mut key = [0u8; 16];
    let bytes = &id.as_bytes()[..id.len().min(16)];
    key[..bytes.len()].copy_from_slice(bytes);
    u128::from_be_bytes(key)
}

/// The index's postings as of one position of `fts_log`.
pub(super) struct Postings {
    /// The last log entry applied.
    last_seq: i64,
    by_token: HashMap<Box<str>, Rows>,
    /// Each row's length in tokens, by row number; [`ABSENT`] for rows the index lacks.
    lengths: Vec<u32>,
    /// Each row's [`order_key`], by row number.
    keys: Vec<u128>,
    /// Rows held, and their tokens in all.
    rows: u64,
    tokens: u64,
}

/// Which rows a stage of a search matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Matching {
    /// Rows holding any of the tokens.
    Any,
    /// Rows holding every one of them.
    Every,
}

impl Postings {
    fn empty(last_seq: i64) -> Postings {
        Postings {
            last_seq,
            by_token: HashMap::new(),
            lengths: Vec::new(),
            keys: Vec::new(),
            rows: 0,
            tokens: 0,
        }
    }

    /// How many rows hold `token` (BM25's document count).
    pub(super) fn holding(&self, token: &str) -> usize {
        self.by_token.get(token).map_or(0, Rows::len)
    }

    /// The newest `budget` rows matching `tokens` (one per phrase of the query, in its order),
    /// newest first, and whether more rows match: what FTS5 gives for `MATCH` with
    /// `ORDER BY rowid DESC LIMIT budget` and `-kept_bm25`, with each row's order key.
    pub(super) fn newest(
        &self,
        tokens: &[&str],
        matching: Matching,
        budget: usize,
    ) -> (Vec<Ranked>, bool) {
        let none = Rows::default();
        let lists: Vec<&Rows> = tokens
            .iter()
            .map(|t| self.by_token.get(*t).unwrap_or(&none))
            .collect();
        let rows = self.rows as f64;
        let idfs: Vec<f64> = lists.iter().map(|l| idf(rows, l.len() as f64)).collect();
        let average = self.tokens as f64 / rows;
        let ranked = |row: u32, freqs: &[f64]| -> Ranked {
            let length = f64::from(self.lengths[row as usize]);
            let mut score = 0.0;
            for (&idf, &freq) in idfs.iter().zip(freqs) {
                score += share(idf, freq, length, average);
            }
            (i64::from(row), score, self.keys[row as usize])
        };
        // Each list's next row from its end.
        let mut ends: Vec<usize> = lists.iter().map(|l| l.len()).collect();
        let mut found = Vec::with_capacity(budget.min(1024));
        let mut freqs = vec![0.0f64; lists.len()];
        if matching == Matching::Every {
            // The shortest list's rows, newest first, each looked up in the others below
            // their last match, shortest first (the likeliest to lack it): a walk of the
            // shortest list, not of every list's rows.
            let mut by_length: Vec<usize> = (0..lists.len()).collect();
            by_length.sort_by_key(|&i| lists[i].len());
            let Some(&shortest) = by_length.first() else {
                return (found, false);
            };
            for &row in lists[shortest].rows.iter().rev() {
                let holding = by_length.iter().all(|&i| {
                    let list = lists[i];
                    ends[i] = list.rows[..ends[i]].partition_point(|&r| r <= row);
                    let end = ends[i];
                    let held = end > 0 && list.rows[end - 1] == row;
                    if held {
                        freqs[i] = f64::from(list.quarters(end - 1)) / 4.0;
                    }
                    held
                });
                if !holding {
                    continue;
                }
                if found.len() == budget {
                    return (found, true);
                }
                found.push(ranked(row, &freqs));
            }
            return (found, false);
        }
        // Merged newest first.
        loop {
            let Some(row) = ends
                .iter()
                .zip(&lists)
                .filter(|(end, _)| **end > 0)
                .map(|(end, list)| list.rows[end - 1])
                .max()
            else {
                return (found, false);
            };
            for ((end, list), freq) in ends.iter_mut().zip(&lists).zip(freqs.iter_mut()) {
                *freq = 0.0;
                if *end > 0 && list.rows[*end - 1] == row {
                    *freq = f64::from(list.quarters(*end - 1)) / 4.0;
                    *end -= 1;
                }
            }
            if found.len() == budget {
                return (found, true);
            }
            found.push(ranked(row, &freqs));
        }
    }

    /// Adds row `row` with its memory's [`order_key`] and its tokens by column; a row already
    /// held is replaced.
    fn insert(&mut self, row: u32, key: u128, columns: &[String; 3]) {
        let mut counts: HashMap<&str, u32> = HashMap::new();
        let mut length = 0u32;
        for (column, text) in columns.iter().enumerate() {
            for token in text.split(' ').filter(|t| !t.is_empty()) {
                *counts.entry(token).or_default() += QUARTERS[column];
                length += 1;
            }
        }
        let slot = row as usize;
        if self.lengths.len() <= slot {
            self.lengths.resize(slot + 1, ABSENT);
            self.keys.resize(slot + 1, 0);
        }
        self.lengths[slot] = length;
        self.keys[slot] = key;
        self.rows += 1;
        self.tokens += u64::from(length);
        for (token, quarters) in counts {
            match self.by_token.get_mut(token) {
                Some(list) => list.insert(row, quarters),
                None => self
                    .by_token
                    .entry(token.into())
                    .or_default()
                    .insert(row, quarters),
            }
        }
    }

    /// Takes `rows` out (those held); a pass over every token's list, whatever their number.
    fn remove(&mut self, rows: &[u32]) {
        let mut held: Vec<u32> = rows
            .iter()
            .copied()
            .filter(|&r| self.lengths.get(r as usize).is_some_and(|&l| l != ABSENT))
            .collect();
        held.sort_unstable();
        held.dedup();
        if held.is_empty() {
            return;
        }
        for &row in &held {
            let length = std::mem::replace(&mut self.lengths[row as usize], ABSENT);
            self.rows -= 1;
            self.tokens -= u64::from(length);
        }
        self.by_token.retain(|_, list| {
            list.remove(&held);
            list.len() > 0
        });
    }

    /// Applies the log's entries read after `last_seq` (oldest first).
    fn apply(&mut self, entries: Vec<Entry>) {
        let Some(newest) = entries.last().map(|e| e.seq) else {
            return;
        };
        // A row logged several times reads the same now each time: apply it once.
        let mut now: HashMap<u32, Option<(u128, [String; 3])>> = HashMap::new();
        for entry in entries {
            now.insert(entry.row, entry.held);
        }
        let rows: Vec<u32> = now.keys().copied().collect();
        self.remove(&rows);
        for (row, held) in now {
            if let Some((key, columns)) = held {
                self.insert(row, key, &columns);
            }
        }
        self.last_seq = newest;
    }
}

/// One entry of the log's tail, with its row as the index holds it now: its memory's
/// [`order_key`] and tokens by column (as `fts_tokens` gives them), `None` when the index
/// lacks the row.
struct Entry {
    seq: i64,
    row: u32,
    held: Option<(u128, [String; 3])>,
}

/// The postings of one store, shared by every unit of work of the process.
#[derive(Default)]
pub(super) struct KeywordCache {
    state: RwLock<Option<Postings>>,
    /// Held while the postings are loaded whole: one load at a time.
    loading: tokio::sync::Mutex<()>,
}

impl KeywordCache {
    /// Loads the postings whole (unless another load runs or they are loaded and current).
    ///
    /// No transaction, as for the vector index: the log's position is read before the rows,
    /// so a change committed in between is in the log after it, and applying it again reads
    /// the row as it is then.
    pub(super) async fn load(&self, conn: &Conn) -> Result<()> {
        let Ok(_loading) = self.loading.try_lock() else {
            return Ok(());
        };
        let (newest, floor) = position(conn).await?;
        if self.loaded().is_some_and(|last| last >= floor) {
            return Ok(());
        }
        let mut postings = Postings::empty(newest);
        let mut rows = conn.query(LOAD, ()).await?;
        while let Some(row) = rows.next().await? {
            let seq: i64 = row.get(0)?;
            let Some(number) = row_number(seq) else {
                tracing::debug!(seq, "row numbers too large to hold: keyword search in FTS5");
                return Ok(());
            };
            let key = order_key(&row.get::<String>(1)?);
            postings.insert(number, key, &[row.get(2)?, row.get(3)?, row.get(4)?]);
        }
        // Both grew by doubling as the rows came.
        postings.lengths.shrink_to_fit();
        postings.keys.shrink_to_fit();
        tracing::debug!(
            rows = postings.rows,
            tokens = postings.by_token.len(),
            "loaded keyword postings"
        );
        *self.state.write().expect("keyword postings lock") = Some(postings);
        Ok(())
    }

    /// Brings loaded postings up to date with the log: [`Fresh::Current`] when a search may
    /// then rank with them; [`Fresh::Dropped`] when they fell behind the log's pruned part
    /// (or it names a row too large to hold), after which they must be loaded again.
    pub(super) async fn refresh(&self, conn: &Conn) -> Result<Fresh> {
        let Some(last_seq) = self.loaded() else {
            return Ok(Fresh::NotLoaded);
        };
        let (newest, floor) = position(conn).await?;
        if last_seq < floor {
            *self.state.write().expect("keyword postings lock") = None;
            return Ok(Fresh::Dropped);
        }
        if newest == last_seq {
            return Ok(Fresh::Current);
        }
        let entries = conn.rows(TAIL, [last_seq], entry).await?;
        if entries.iter().any(|e| e.row == u32::MAX) {
            *self.state.write().expect("keyword postings lock") = None;
            return Ok(Fresh::Dropped);
        }
        let mut state = self.state.write().expect("keyword postings lock");
        match state.as_mut() {
            // Applied only onto the postings the entries were read after.
            Some(postings) if postings.last_seq == last_seq => postings.apply(entries),
            Some(_) => {}
            None => return Ok(Fresh::NotLoaded),
        }
        Ok(Fresh::Current)
    }

    /// What `read` makes of the postings, when loaded.
    pub(super) fn read<T>(&self, read: impl FnOnce(&Postings) -> T) -> Option<T> {
        let state = self.state.read().expect("keyword postings lock");
        state.as_ref().map(read)
    }

    fn loaded(&self) -> Option<i64> {
        self.read(|p| p.last_seq)
    }
}

/// What [`KeywordCache::refresh`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fresh {
    /// Loaded and up to date.
    Current,
    /// Never loaded.
    NotLoaded,
    /// Dropped for falling behind: to be loaded again.
    Dropped,
}

/// Each of `terms`' tokens as the index makes them, in order; `None` unless each makes
/// exactly one (a term FTS5 would split into a phrase is ranked by FTS5 itself).
pub(super) async fn tokens_of(conn: &Conn, terms: &[String]) -> Result<Option<Vec<String>>> {
    let listed = serde_json::to_string(terms).expect("strings serialize");
    let tokens = conn
        .rows(TERM_TOKENS, [listed], |row| Ok(row.get::<String>(0)?))
        .await?;
    Ok(
        (tokens.len() == terms.len() && tokens.iter().all(|t| !t.is_empty() && !t.contains(' ')))
            .then_some(tokens),
    )
}

/// The log's newest entry and floor.
async fn position(conn: &Conn) -> Result<(i64, i64)> {
    Ok(conn
        .row(POSITION, (), |row| Ok((row.get(0)?, row.get(1)?)))
        .await?
        .unwrap_or((0, 0)))
}

/// A row number the postings can hold.
fn row_number(seq: i64) -> Option<u32> {
    (0..MAX_ROW).contains(&seq).then_some(seq as u32)
}

/// A [`TAIL`] row; a row number too large to hold reads as `u32::MAX`.
fn entry(row: &Row) -> Result<Entry> {
    let held = match row.get::<Option<String>>(2)? {
        Some(id) => Some((order_key(&id), [row.get(3)?, row.get(4)?, row.get(5)?])),
        None => None,
    };
    Ok(Entry {
        seq: row.get(0)?,
        row: row_number(row.get(1)?).unwrap_or(u32::MAX),
        held,
    })
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::Fresh;
    use crate::backend::EmbeddingChange::Keep;
    use crate::backend::GraphBackend;
    use crate::backend::libsql::LibsqlBackend;
    use crate::backend::libsql::tail::tests::memory;
    use crate::model::{Filter, MemoryPatch};

    /// Words of the test memories: a few frequent ones (so queries match more than the
    /// ranking budget and are ranked in stages), inflections that share a stem, and words
    /// whose diacritics the index folds.
    const WORDS: [&str; 16] = [
        "lantern", "lanterns", "rope", "harbour", "dock", "dry", "boats", "keeps", "café", "naïve",
        "tide", "anchor", "anchored", "salt", "net", "gull",
    ];

    /// A word for `i` and `salt`, the first words far more often than the last.
    fn word(i: usize, salt: usize) -> &'static str {
        let x = (i.wrapping_mul(2654435761) ^ salt.wrapping_mul(40503)) % 1000;
        WORDS[(x * x / 1000) * WORDS.len() / 1000]
    }

    fn text(i: usize, salt: usize, words: usize) -> String {
        (0..words)
            .map(|w| word(i + w * 7, salt + w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Memories `from..to`; every fifth one's id shares its first 16 bytes with the others'
    /// like it, so that ties in score among them are settled by their ids read back.
    async fn add(backend: &LibsqlBackend, from: usize, to: usize) {
        for i in from..to {
            let tags = [word(i, 5)];
            let tags: &[&str] = if i % 3 == 0 { &tags } else { &[] };
            let mut m = memory(i, &text(i, 1, 1 + i % 3), &text(i, 2, 3 + i % 9), tags);
            if i % 5 == 4 {
                m.id = format!("sixteen-byte-key-{i:04}");
            }
            backend.create_memory(&m, None).await.unwrap();
        }
    }

    /// A store in `dir` holding memories `0..count`, its postings loaded.
    async fn loaded(dir: &std::path::Path, count: usize) -> LibsqlBackend {
        let backend = LibsqlBackend::open_local(&dir.join("store.db"))
            .await
            .unwrap();
        add(&backend, 0, count).await;
        backend.warm_up_keywords().await.unwrap();
        backend
    }

    /// Queries of one to four words, with a word no memory holds and the folded "cafe".
    fn queries() -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = WORDS.iter().map(|w| vec![w.to_string()]).collect();
        for q in 0..40 {
            let n = 2 + q % 3;
            out.push(
                (0..n)
                    .map(|k| word(q * 13 + k, 9 + k).to_string())
                    .collect(),
            );
        }
        out.push(vec!["cafe".into(), "naive".into()]);
        // Each under the budget, more than it together (once 1,400 memories are in): which
        // only walking their matches tells, and then they are ranked in stages.
        out.push(vec!["rope".into(), "anchor".into()]);
        out.push(vec!["lantern".into(), "absent".into()]);
        out
    }

    /// Asserts that `warm` (postings loaded) answers every query as `cold` (FTS5 alone) does:
    /// the same memories in the same order with scores equal to the bit, and the same newest
    /// memories holding every word of it.
    async fn agree(warm: &LibsqlBackend, cold: &LibsqlBackend) {
        for terms in queries() {
            for limit in [1, 16, 51] {
                let ids = |found: Vec<crate::model::Memory>| -> Vec<String> {
                    found.into_iter().map(|m| m.id).collect()
                };
                let from_postings = ids(warm.memories_holding(&terms, limit).await.unwrap());
                let from_fts5 = ids(cold.memories_holding(&terms, limit).await.unwrap());
                assert_eq!(from_postings, from_fts5, "holding {terms:?}, limit {limit}");
            }
            for limit in [1, 10, 51] {
                let from_postings = warm
                    .keyword_matches(&terms, &Filter::default(), limit)
                    .await
                    .unwrap();
                let from_fts5 = cold
                    .keyword_matches(&terms, &Filter::default(), limit)
                    .await
                    .unwrap();
                let summary = |hits: &[crate::model::KeywordMatch]| -> Vec<(String, u64)> {
                    hits.iter()
                        .map(|h| (h.memory.id.clone(), h.score.to_bits()))
                        .collect()
                };
                assert_eq!(
                    summary(&from_postings),
                    summary(&from_fts5),
                    "{terms:?}, limit {limit}"
                );
            }
        }
    }

    /// Whether `backend`'s postings are loaded and current.
    async fn current(backend: &LibsqlBackend) -> bool {
        backend
            .run_on(|inner, conn| async move { inner.keywords.refresh(&conn).await })
            .await
            .unwrap()
            == Fresh::Current
    }

    #[tokio::test]
    async fn postings_rank_as_fts5_through_writes_by_any_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let warm = LibsqlBackend::open_local(&path).await.unwrap();
        // Another database handle on the file, as another process has: never loaded.
        let cold = LibsqlBackend::open_local(&path).await.unwrap();
        add(&warm, 0, 1300).await;
        assert!(
            !current(&warm).await,
            "nothing loads the postings but a warm-up"
        );
        warm.warm_up_keywords().await.unwrap();
        assert!(current(&warm).await);
        agree(&warm, &cold).await;

        // Writes through the loaded backend and through the other handle, each followed.
        add(&warm, 1300, 1350).await;
        agree(&warm, &cold).await;
        add(&cold, 1350, 1400).await;
        cold.delete_memory("m007").await.unwrap();
        warm.delete_memory("m1310").await.unwrap();
        // Six rows re-indexed at once (more than a few are taken out of every list in one
        // pass), two of them with a frequency too large for a byte, one of those then deleted.
        let many_ropes = "rope ".repeat(70);
        let many_tides = "tide ".repeat(64);
        let updates = [
            ("m011", "rope rope café"),
            ("m1360", "gull"),
            ("m020", ""),
            ("m021", many_ropes.as_str()),
            ("m022", many_tides.as_str()),
            ("m023", "anchor"),
        ];
        for (id, content) in updates {
            let patch = MemoryPatch {
                content: Some(content.into()),
                title: Some(format!("retitled {id} anchor")),
                ..Default::default()
            };
            cold.update_memory(id, &patch, Keep, None, Utc::now())
                .await
                .unwrap();
        }
        agree(&warm, &cold).await;
        cold.delete_memory("m022").await.unwrap();
        agree(&warm, &cold).await;
        assert!(current(&warm).await);
    }

    #[tokio::test]
    async fn postings_hold_what_the_index_holds() {
        let dir = tempfile::tempdir().unwrap();
        let backend = loaded(dir.path(), 200).await;
        let vocabulary: Vec<(String, i64)> = backend
            .run(|conn| async move {
                conn.execute(
                    "CREATE VIRTUAL TABLE temp.vocabulary \
                     USING fts5vocab(main, memories_fts, row)",
                    (),
                )
                .await?;
                let mut rows = conn
                    .query("SELECT term, doc FROM temp.vocabulary", ())
                    .await?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().await? {
                    out.push((row.get(0)?, row.get(1)?));
                }
                Ok(out)
            })
            .await
            .unwrap();
        assert!(
            vocabulary.iter().any(|(t, _)| t == "cafe"),
            "{vocabulary:?}"
        );
        let held = backend
            .run_on(|inner, _| async move {
                Ok(inner.keywords.read(|p| {
                    (
                        p.by_token.len(),
                        vocabulary
                            .iter()
                            .map(|(t, doc)| (t.clone(), *doc, p.holding(t) as i64))
                            .collect::<Vec<_>>(),
                    )
                }))
            })
            .await
            .unwrap()
            .expect("loaded");
        assert_eq!(held.0, held.1.len(), "the same tokens");
        for (token, in_index, in_postings) in held.1 {
            assert_eq!(in_index, in_postings, "{token}");
        }
    }

    #[tokio::test]
    async fn postings_behind_the_pruned_log_are_dropped_and_fts5_answers() {
        let dir = tempfile::tempdir().unwrap();
        let backend = loaded(dir.path(), 30).await;
        assert!(current(&backend).await);
        // The log moves on and is pruned past what this reader applied, as the pruning
        // trigger leaves it once other writers have logged 65,536 entries more.
        add(&backend, 30, 40).await;
        backend
            .run(|conn| async move {
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) \
                     SELECT 'fts_log_floor', max(seq) FROM fts_log",
                    (),
                )
                .await?;
                Ok(())
            })
            .await
            .unwrap();
        let refreshed = backend
            .run_on(|inner, conn| async move { inner.keywords.refresh(&conn).await })
            .await
            .unwrap();
        assert_eq!(refreshed, Fresh::Dropped);
        assert!(!current(&backend).await, "dropped, not applied past a gap");
        let terms = vec!["lantern".to_string()];
        let from_fts5 = backend
            .keyword_matches(&terms, &Filter::default(), 50)
            .await
            .unwrap();
        backend.warm_up_keywords().await.unwrap();
        assert!(current(&backend).await, "loaded again");
        let from_postings = backend
            .keyword_matches(&terms, &Filter::default(), 50)
            .await
            .unwrap();
        assert_eq!(from_fts5, from_postings);
        assert!(!from_fts5.is_empty());
    }
}
