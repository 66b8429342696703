//! Keyword search over the FTS5 index.
//!
//! Terms are quoted FTS5 strings joined by OR, so no user text is ever FTS5 syntax. Ranking
//! computes BM25 for every memory that matches, about 1.4 µs each here; a term found in a
//! large share of a big store would make every query slow. So when a query matches more than
//! [`RANK_BUDGET`] memories, it is answered in stages, each ranked within the budget:
//! first the memories holding every term the store knows (few, and the ones BM25 would put
//! first anyway), then those holding its rarer terms (the cutoff frequency of search engines:
//! common terms carry little information), then those holding any term. When even a stage's
//! matches exceed the budget, only its newest matches are ranked. Small stores and selective
//! queries are ranked exactly. How many memories hold each term is read from the counts the
//! scorer keeps (`rank.rs`), so deciding on stages mostly walks no matches.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::LazyLock;

use libsql::{Connection, Row, Value};

use super::filter::Clause;
use super::pool::{Conn, Link};
use super::postings::{self, KeywordCache, Matching, Ranked};
use super::rows::{self, MEMORY_COLUMN_COUNT, MEMORY_COLUMNS};
use crate::error::Result;
use crate::model::{KeywordMatch, Memory};

/// Most matches ranked per query before common terms are dropped.
const RANK_BUDGET: usize = 1000;

/// Most ranked matches of a stage read back best first (see [`ranked_in_index`]): a page of
/// 50 and the matches tied at its cut, which in a corpus of memories of equal lengths run to
/// a few hundred.
const TOP_RANKED: usize = RANK_BUDGET * 2 / 5;

/// Matches beyond which a term of an over-budget query counts as common.
const COMMON_TERM: usize = RANK_BUDGET / 4;

/// How far a term's matches are counted: one past [`COMMON_TERM`] tells a common term.
const COUNTED_MATCHES: usize = COMMON_TERM + 1;

/// BM25 with its column weights: title, content, tags. A title word counts a little *less*
/// than a content word: memories that merely name a word in their title would otherwise
/// pass the one the searcher is quoting from (the known-item benchmark,
/// `benches/known_item.rs`: title 0.75 against 1.0 finds 1.0–3.0 points more targets at 1k,
/// 10k and 100k memories; LoCoMo does not move). Term coverage (`store/coverage.rs`), not the
/// field, decides between memories holding different shares of the query. A tag is a label
/// someone chose, so it counts twice. The schema's `rank` setting is not used.
const BM25: &str = "bm25(memories_fts, 0.75, 1.0, 2.0)";

/// [`BM25`] computed by `rank.rs`'s function, which keeps each term's document count between
/// statements: the same scores, without walking every term's matches in every statement.
const KEPT_BM25: &str = "kept_bm25(memories_fts, 0.75, 1.0, 2.0)";

/// What computes a match's score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scorer {
    /// `rank.rs`'s function: on every connection to SQLite in this process.
    Kept,
    /// FTS5's own, for SQL run by a server (a store reached over HTTP).
    Fts5,
}

impl Scorer {
    /// The scorer for SQL run over `link`: `rank.rs`'s function exists where SQLite runs in
    /// this process.
    pub(super) fn over(link: Link) -> Scorer {
        match link.in_process() {
            true => Scorer::Kept,
            false => Scorer::Fts5,
        }
    }

    /// The score's SQL expression (lower is better, as FTS5's `bm25()`).
    fn sql(self) -> &'static str {
        match self {
            Scorer::Kept => KEPT_BM25,
            Scorer::Fts5 => BM25,
        }
    }
}

/// `terms` as quoted FTS5 strings joined by `operator` (`OR` or `AND`).
fn expression(terms: &[String], operator: &str) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(&format!(" {operator} "))
}

/// Builds the FTS5 MATCH expression: each term a quoted string, joined by OR.
pub(super) fn match_expression(terms: &[String]) -> String {
    expression(terms, "OR")
}

/// The matches of one stage of a search: memories holding any or every one of some terms.
#[derive(Clone, Debug, PartialEq)]
struct Stage {
    terms: Vec<String>,
    matching: Matching,
}

impl Stage {
    /// The stage as an FTS5 MATCH expression.
    fn expression(&self) -> String {
        match self.matching {
            Matching::Any => match_expression(&self.terms),
            Matching::Every => expression(&self.terms, "AND"),
        }
    }
}

/// The postings in memory (`postings.rs`) a search ranks with, and the token each of its
/// terms is in the index.
struct InMemory<'a> {
    cache: &'a KeywordCache,
    tokens: HashMap<&'a str, String>,
}

impl<'a> InMemory<'a> {
    /// Current postings, when every term is one token in the index.
    async fn of(
        conn: &Conn,
        cache: &'a KeywordCache,
        terms: &'a [String],
    ) -> Result<Option<InMemory<'a>>> {
        let Some(tokens) = postings::tokens_of(conn, terms).await? else {
            return Ok(None);
        };
        let tokens = terms.iter().map(String::as_str).zip(tokens).collect();
        Ok(Some(InMemory { cache, tokens }))
    }

    /// The rows holding each term; `None` if the postings were dropped meanwhile.
    fn holding(&self, terms: &[String]) -> Option<Vec<usize>> {
        self.cache.read(|p| {
            terms
                .iter()
                .map(|t| p.holding(&self.tokens[t.as_str()]))
                .collect()
        })
    }

    /// [`postings::Postings::newest`] for `stage`; `None` if the postings were dropped.
    fn newest(&self, stage: &Stage, budget: usize) -> Option<(Vec<Ranked>, bool)> {
        let tokens: Vec<&str> = stage
            .terms
            .iter()
            .map(|t| self.tokens[t.as_str()].as_str())
            .collect();
        self.cache
            .read(|p| p.newest(&tokens, stage.matching, budget))
    }
}

// The limits of the kept statements below are written into their SQL, not bound: SQLite plans
// a `LIMIT ?` or `OFFSET ?` with the value bound at preparation (`sqlite3ExprIsInteger`, and
// the limit it offers a virtual table), so binding it again marks the statement expired and
// every run prepared it anew (`sqlite3Reprepare`, 3% of a keyword search at 100k memories).

/// Counts the matches of an expression, up to [`COUNTED_MATCHES`].
static CAPPED_MATCHES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT count(*) FROM (SELECT 1 FROM memories_fts WHERE memories_fts MATCH ? \
         LIMIT {COUNTED_MATCHES})"
    )
});

/// The rows of an expression's matches at [`RANK_BUDGET`]` - 1` and after, newest first, at
/// most two: the budget's floor, and whether there are more.
static NEWEST_MATCHES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT rowid FROM memories_fts WHERE memories_fts MATCH ? \
         ORDER BY rowid DESC LIMIT 2 OFFSET {RANK_BUDGET} - 1"
    )
});

/// How many rows hold each phrase of an expression, as `rank.rs`'s `kept_hits` keeps them
/// (the document counts of BM25): asked on one matching row, walking no matches once known.
const PHRASE_ROWS: &str =
    "SELECT kept_hits(memories_fts) FROM memories_fts WHERE memories_fts MATCH ? LIMIT 1";

/// How many memories hold each of `terms` (exact counts), read by [`PHRASE_ROWS`] from the
/// expression matching any of them; `None` when the counts do not line up with the terms.
async fn term_rows(conn: &Conn, any: &str, terms: usize) -> Result<Option<Vec<usize>>> {
    let Some(listed) = conn.row(PHRASE_ROWS, [any], first_text).await? else {
        // No row holds any of the terms.
        return Ok(Some(vec![0; terms]));
    };
    let rows: Vec<usize> = serde_json::from_str(&listed).unwrap_or_default();
    Ok((rows.len() == terms).then_some(rows))
}

/// A row's first column as text.
fn first_text(row: &Row) -> Result<String> {
    Ok(row.get(0)?)
}

/// Whether the memories holding any of the terms are more than [`RANK_BUDGET`], when the
/// terms' own counts tell: one term alone over it, or all together within it. `None` in
/// between, where it depends on how many memories hold several of them.
fn over_budget(term_rows: &[usize]) -> Option<bool> {
    if term_rows.iter().any(|&n| n > RANK_BUDGET) {
        Some(true)
    } else if term_rows.iter().sum::<usize>() <= RANK_BUDGET {
        Some(false)
    } else {
        None
    }
}

/// Each term's matches, counted up to [`COUNTED_MATCHES`]: counting stops there, so telling
/// rare from common costs little even for a query of many words.
async fn frequencies(conn: &Conn, terms: &[String]) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(terms.len());
    for term in terms {
        let one = match_expression(std::slice::from_ref(term));
        let counted = conn.row(&CAPPED_MATCHES, [one], first_i64).await?;
        out.push(counted.map_or(0, |n| n.max(0) as usize));
    }
    Ok(out)
}

/// A row's first column as an integer.
fn first_i64(row: &Row) -> Result<i64> {
    Ok(row.get(0)?)
}

/// A row's first two columns: a row number and a score.
fn row_and_score(row: &Row) -> Result<(i64, f64)> {
    Ok((row.get(0)?, row.get(1)?))
}

/// The rarest terms whose matches fit the budget together (at least one), rarest first;
/// empty when every term is common or found nowhere.
fn rarest(terms: &[String], frequencies: &[usize]) -> Vec<String> {
    let mut by_frequency: Vec<(usize, &String)> = frequencies
        .iter()
        .copied()
        .zip(terms)
        .filter(|(df, _)| (1..=COMMON_TERM).contains(df))
        .collect();
    by_frequency.sort();
    let mut kept = Vec::new();
    let mut total = 0;
    for (df, term) in by_frequency {
        if !kept.is_empty() && total + df > RANK_BUDGET {
            break;
        }
        total += df;
        kept.push(term.clone());
    }
    kept
}

/// Memories matching any of `terms` and `clause`, best BM25 first, ties by id; in stages
/// when the query matches more than the budget (see the module doc).
///
/// With `postings` (`postings.rs`, up to date: [`KeywordCache::refresh`] said so), the
/// unfiltered ranking is computed from them instead of FTS5, with the same result.
pub(super) async fn search(
    conn: &Conn,
    scorer: Scorer,
    postings: Option<&KeywordCache>,
    terms: &[String],
    clause: &Clause,
    limit: usize,
) -> Result<Vec<KeywordMatch>> {
    let memory = match postings {
        Some(cache) => InMemory::of(conn, cache, terms).await?,
        None => None,
    };
    let any = Stage {
        terms: terms.to_vec(),
        matching: Matching::Any,
    };
    // Whether to stage only matters for several terms; one term is ranked as one stage. The
    // terms' counts, where the scorer keeps them, mostly tell without walking the matches.
    let term_rows = match (terms.len(), scorer, &memory) {
        (1, _, _) | (_, Scorer::Fts5, _) => None,
        (_, Scorer::Kept, Some(memory)) => memory.holding(terms),
        (n, Scorer::Kept, None) => term_rows(conn, &any.expression(), n).await?,
    };
    let mut any_ranked = None;
    let (over_budget, any_floor) = match (terms.len(), term_rows.as_deref().and_then(over_budget)) {
        (1, _) => (false, None),
        (_, Some(over)) => (over, None),
        (_, None) => {
            let (floor, over) = match memory.as_ref().and_then(|m| m.newest(&any, RANK_BUDGET)) {
                Some((newest, more)) => {
                    let floor = newest.get(RANK_BUDGET - 1).map(|r| r.0);
                    any_ranked = Some(newest);
                    (floor, more)
                }
                None => newest_matches(conn, &any.expression()).await?,
            };
            (over, Some(floor))
        }
    };
    let query = Query {
        conn,
        scorer,
        memory,
        terms,
        any,
        any_ranked,
        over_budget,
        any_floor,
        term_rows,
        clause,
        limit,
    };
    // Without a filter, ranked in the index; if an index row turns out to have no memory,
    // ranked again with the join, which leaves such a row out and ranks the next match.
    if clause.sql.is_empty()
        && let Some(order) = query.ranked(Ranking::InIndex).await?
        && let (hits, true) = memories_of(conn, order).await?
    {
        return Ok(hits);
    }
    let order = query.ranked(Ranking::Joined).await?.unwrap_or_default();
    Ok(memories_of(conn, order).await?.0)
}

/// How a stage's matches are ranked.
#[derive(Clone, Copy)]
enum Ranking {
    /// In the index alone (see [`ranked_in_index`]): no filter to apply.
    InIndex,
    /// Joined with the memories: for a filter, or when an index row has no memory.
    Joined,
}

/// One keyword query: its terms, the expression matching any of them, whether that
/// expression matches more than the budget, and what the answer must pass and hold.
struct Query<'a> {
    conn: &'a Conn,
    scorer: Scorer,
    /// The postings in memory, when loaded.
    memory: Option<InMemory<'a>>,
    terms: &'a [String],
    any: Stage,
    /// The newest [`RANK_BUDGET`] matches of `any` as the postings rank them, when they were
    /// ranked to decide on stages: the stage of `any` is cut from them, not ranked again.
    any_ranked: Option<Vec<Ranked>>,
    /// Whether `any` matches more than [`RANK_BUDGET`] memories: ranked in stages then.
    over_budget: bool,
    /// The budget floor of `any` ([`newest_matches`]), when it was walked to decide on stages.
    any_floor: Option<Option<i64>>,
    /// Each term's exact count of memories ([`term_rows`]), when the scorer keeps them.
    term_rows: Option<Vec<usize>>,
    clause: &'a Clause,
    limit: usize,
}

impl Query<'_> {
    /// The best `limit` matches as (row, score), in the order returned; `None` when ranking
    /// in the index met a match without its memory.
    async fn ranked(&self, ranking: Ranking) -> Result<Option<Vec<(i64, f64)>>> {
        if !self.over_budget {
            self.stage(&self.any, ranking).await
        } else {
            self.staged(ranking).await
        }
    }

    /// The stages of a query matching more than the budget (see the module doc).
    async fn staged(&self, ranking: Ranking) -> Result<Option<Vec<(i64, f64)>>> {
        let frequencies = match &self.term_rows {
            // The count [`frequencies`] would give: exact up to its cap.
            Some(rows) => rows.iter().map(|&n| n.min(COUNTED_MATCHES)).collect(),
            None => frequencies(self.conn, self.terms).await?,
        };
        let found: Vec<String> = self
            .terms
            .iter()
            .zip(&frequencies)
            .filter(|(_, df)| **df > 0)
            .map(|(t, _)| t.clone())
            .collect();
        let rare = rarest(self.terms, &frequencies);
        let all_rare = rare.len() == self.terms.len();
        let mut stages = Vec::new();
        if found.len() > 1 {
            stages.push(Stage {
                terms: found,
                matching: Matching::Every,
            });
        }
        if !rare.is_empty() {
            stages.push(Stage {
                terms: rare,
                matching: Matching::Any,
            });
        }
        if !all_rare {
            stages.push(self.any.clone());
        }
        let mut hits: Vec<(i64, f64)> = Vec::with_capacity(self.limit);
        for stage in stages {
            if hits.len() >= self.limit {
                break;
            }
            let Some(ranked) = self.stage(&stage, ranking).await? else {
                return Ok(None);
            };
            // Earlier stages stay first; later ones fill the rest.
            for hit in ranked {
                if hits.len() == self.limit {
                    break;
                }
                if !hits.iter().any(|h| h.0 == hit.0) {
                    hits.push(hit);
                }
            }
        }
        Ok(Some(hits))
    }

    /// Ranks the matches of `expression`, or only the newest [`RANK_BUDGET`] of them when
    /// there are more: a query made only of words found in thousands of memories then
    /// answers with the best of the recent ones, in bounded time. A filter that leaves too
    /// few of those gets the whole ranking.
    async fn stage(&self, stage: &Stage, ranking: Ranking) -> Result<Option<Vec<(i64, f64)>>> {
        let (conn, clause, limit) = (self.conn, self.clause, self.limit);
        if let Ranking::InIndex = ranking {
            if limit == 0 {
                return Ok(Some(Vec::new()));
            }
            let newest = match &self.any_ranked {
                Some(ranked) if *stage == self.any => Some(ranked.clone()),
                _ => self
                    .memory
                    .as_ref()
                    .and_then(|m| m.newest(stage, RANK_BUDGET))
                    .map(|(ranked, _)| ranked),
            };
            return match newest {
                Some(ranked) => cut(conn, ranked, limit).await,
                None => ranked_in_index(conn, self.scorer, &stage.expression(), limit).await,
            };
        }
        let expression = stage.expression();
        let floor = match self.any_floor {
            Some(floor) if *stage == self.any => floor,
            _ => newest_matches(conn, &expression).await?.0,
        };
        let scorer = self.scorer;
        let hits = ranked_joined(conn, scorer, &expression, clause, limit, floor).await?;
        if floor.is_some() && hits.len() < limit && !clause.sql.is_empty() {
            return Ok(Some(
                ranked_joined(conn, scorer, &expression, clause, limit, None).await?,
            ));
        }
        Ok(Some(hits))
    }
}

/// The smallest row of the newest [`RANK_BUDGET`] matches of `expression` (`None` when it has
/// fewer), and whether it has more matches than that. Walking matches newest first costs no
/// ranking.
async fn newest_matches(conn: &Conn, expression: &str) -> Result<(Option<i64>, bool)> {
    let rows = conn.rows(&NEWEST_MATCHES, [expression], first_i64).await?;
    Ok((rows.first().copied(), rows.len() > 1))
}

/// The memories of ranked rows, in the order given, and whether every row had its memory.
async fn memories_of(conn: &Conn, order: Vec<(i64, f64)>) -> Result<(Vec<KeywordMatch>, bool)> {
    let sql = format!(
        "SELECT {MEMORY_COLUMNS}, m.seq FROM memories m \
         WHERE m.seq IN (SELECT value FROM json_each(?))"
    );
    let seqs = json_array(order.iter().map(|(seq, _)| *seq));
    let mut found: HashMap<i64, Memory> = conn
        .rows(&sql, [seqs], memory_and_row)
        .await?
        .into_iter()
        .collect();
    let complete = found.len() == order.len();
    let hits = order
        .into_iter()
        .filter_map(|(seq, score)| {
            let memory = found.remove(&seq)?;
            Some(KeywordMatch { memory, score })
        })
        .collect();
    Ok((hits, complete))
}

/// A memory and its row, read by [`MEMORY_COLUMNS`]`, m.seq`.
fn memory_and_row(row: &Row) -> Result<(i64, Memory)> {
    Ok((row.get(MEMORY_COLUMN_COUNT)?, rows::memory(row)?))
}

/// Row numbers as a JSON array, one parameter for `json_each`: a list of any length is then
/// the same statement, prepared once per connection (an `IN` list has one per length).
fn json_array(seqs: impl Iterator<Item = i64>) -> String {
    let listed: Vec<String> = seqs.map(|seq| seq.to_string()).collect();
    format!("[{}]", listed.join(","))
}

/// The best `limit` matches of `expression` as (row, score), best first and equal scores by
/// id (as [`ranked_joined`] orders them), ranked in the index: BM25 of its newest
/// [`RANK_BUDGET`] matches (all of them when there are fewer), in one walk newest first that
/// also finds that budget's floor. Joining `memories` to break ties by id would cost a table
/// lookup per match ranked, more than the ranking itself on a large store; here only the
/// matches tied on score are looked up ([`ids_of`]). `None` when one of those has no memory
/// (the join would leave it out and rank the next one).
///
/// SQLite sorts the ranked matches and hands back the best [`TOP_RANKED`]: every row handed
/// over costs more than sorting it (libSQL copies each row and its error state). That holds
/// the page and every match tied at its cut unless the last row handed back is still tied
/// with the cut, in which case the whole budget is read back.
async fn ranked_in_index(
    conn: &Conn,
    scorer: Scorer,
    expression: &str,
    limit: usize,
) -> Result<Option<Vec<(i64, f64)>>> {
    let newest = format!(
        "SELECT rowid, -{} AS score FROM memories_fts WHERE memories_fts MATCH ? \
         ORDER BY rowid DESC LIMIT {RANK_BUDGET}",
        scorer.sql()
    );
    let best =
        format!("SELECT rowid, score FROM ({newest}) ORDER BY score DESC LIMIT {TOP_RANKED}");
    let top = match limit < TOP_RANKED {
        true => Some(conn.rows(&best, [expression], row_and_score).await?),
        false => None,
    };
    // The best rows hold the page and every match tied at its cut unless the last of them is
    // still tied with the cut.
    let ranked = match top {
        Some(top) if top.len() < TOP_RANKED || top[limit - 1].1 != top[TOP_RANKED - 1].1 => top,
        _ => conn.rows(&newest, [expression], row_and_score).await?,
    };
    // FTS5 knows no order keys: ties in score are settled by the ids alone.
    let ranked = ranked
        .into_iter()
        .map(|(row, score)| (row, score, 0))
        .collect();
    cut(conn, ranked, limit).await
}

/// The best `limit` of `ranked` (in any order, holding the page and every match tied at its
/// cut) as (row, score), best first and equal scores by id; `None` when one of the tied
/// matches has no memory. Matches whose order keys differ are ordered by them (see
/// [`postings::order_key`]); only matches tied in score and key have their ids read. `limit`
/// is at least 1.
async fn cut(
    conn: &Conn,
    mut ranked: Vec<Ranked>,
    limit: usize,
) -> Result<Option<Vec<(i64, f64)>>> {
    let by_rank = |a: &Ranked, b: &Ranked| {
        b.1.partial_cmp(&a.1)
            .unwrap_or(Ordering::Equal)
            .then(a.2.cmp(&b.2))
    };
    let tie = |a: &Ranked, b: &Ranked| a.1 == b.1 && a.2 == b.2;
    ranked.sort_by(by_rank);
    // Past the cut, only matches tied with the last one kept may still make it.
    if let Some(last) = ranked.get(limit - 1).copied() {
        let past = ranked[limit..].iter().take_while(|r| tie(r, &last)).count();
        ranked.truncate(limit + past);
    }
    // Matches tied, ordered by id: the cut keeps the smallest.
    let tied: Vec<i64> = ranked
        .iter()
        .enumerate()
        .filter(|(i, r)| {
            (*i > 0 && tie(&ranked[i - 1], r)) || ranked.get(i + 1).is_some_and(|n| tie(n, r))
        })
        .map(|(_, r)| r.0)
        .collect();
    if !tied.is_empty() {
        let ids: HashMap<i64, String> = ids_of(conn, &tied)
            .await?
            .into_iter()
            .map(|(id, seq)| (seq, id))
            .collect();
        if ids.len() < tied.len() {
            return Ok(None);
        }
        let id = |seq: &i64| ids.get(seq).map(String::as_str).unwrap_or_default();
        ranked.sort_by(|a, b| by_rank(a, b).then_with(|| id(&a.0).cmp(id(&b.0))));
    }
    ranked.truncate(limit);
    Ok(Some(
        ranked
            .into_iter()
            .map(|(row, score, _)| (row, score))
            .collect(),
    ))
}

/// The ids of the memories at rows `seqs`, as (id, row). Each is a read of the memory's
/// row: an index of (seq, id) would keep them on few, cached pages, but it is one more b-tree
/// that every create dirties, a frame more for each replica to pull per memory (issue #16's
/// budget).
async fn ids_of(conn: &Conn, seqs: &[i64]) -> Result<Vec<(String, i64)>> {
    conn.rows(
        "SELECT id, seq FROM memories WHERE seq IN (SELECT value FROM json_each(?))",
        [json_array(seqs.iter().copied())],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .await
}

/// The best `limit` matches of `expression` at or after row `floor` that pass `clause`, as
/// (row, score), ties by id.
async fn ranked_joined(
    conn: &Connection,
    scorer: Scorer,
    expression: &str,
    clause: &Clause,
    limit: usize,
    floor: Option<i64>,
) -> Result<Vec<(i64, f64)>> {
    let sql = format!(
        "SELECT m.seq, -{} AS score FROM memories_fts \
         JOIN memories m ON m.seq = memories_fts.rowid \
         WHERE memories_fts MATCH ? AND memories_fts.rowid >= ?{} \
         ORDER BY score DESC, m.id LIMIT ?",
        scorer.sql(),
        clause.sql
    );
    let mut params: Vec<Value> = vec![expression.into(), floor.unwrap_or(i64::MIN).into()];
    params.extend(clause.params.iter().cloned());
    params.push((limit as i64).into());
    let mut ranked: Vec<(i64, f64)> = Vec::with_capacity(limit);
    let mut rows = conn.query(&sql, params).await?;
    while let Some(row) = rows.next().await? {
        ranked.push((row.get(0)?, row.get(1)?));
    }
    Ok(ranked)
}

/// The newest memories (at most `limit`) holding every one of `words`. With `postings` (up to
/// date, and each word one token there) the rows come from them; else from one AND query of
/// the index, which walks the words' lists together and ranks nothing, but reads their pages:
/// at 100k memories on the raw-pipe benchmark, 1.4 ms of a 2.2 ms `store_memory` without
/// vectors (its duplicate probe); from the postings, the walk of the shortest word's list is
/// about a seventh of a 1.3 ms one (the benchmark's made-up title words are each in hundreds
/// to thousands of memories).
pub(super) async fn holding(
    conn: &Conn,
    postings: Option<&KeywordCache>,
    words: &[String],
    limit: usize,
) -> Result<Vec<Memory>> {
    if let Some(cache) = postings
        && let Some(memory) = InMemory::of(conn, cache, words).await?
    {
        let every = Stage {
            terms: words.to_vec(),
            matching: Matching::Every,
        };
        if let Some((newest, _)) = memory.newest(&every, limit) {
            let order = newest.into_iter().map(|(seq, score, _)| (seq, score));
            let (found, _) = memories_of(conn, order.collect()).await?;
            return Ok(found.into_iter().map(|hit| hit.memory).collect());
        }
    }
    let every_word = expression(words, "AND");
    // The limit is written into the SQL of the kept statement, as above.
    let page_rows: usize = limit;
    let sql = format!(
        "SELECT {MEMORY_COLUMNS} FROM memories m WHERE m.seq IN (SELECT rowid FROM memories_fts \
         WHERE memories_fts MATCH ? ORDER BY rowid DESC LIMIT {page_rows}) ORDER BY m.seq DESC"
    );
    conn.rows(&sql, [every_word], rows::memory).await
}

#[cfg(test)]
mod tests {
    use super::match_expression;

    #[test]
    fn match_expression_quotes_every_term() {
        let terms = vec!["near".to_owned(), "a\"b".to_owned()];
        assert_eq!(match_expression(&terms), r#""near" OR "a""b""#);
    }
}
