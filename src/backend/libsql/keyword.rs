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
//! queries are ranked exactly.

use std::cmp::Ordering;
use std::collections::HashMap;

use libsql::{Connection, Value};

use super::filter::Clause;
use super::rows::{self, IN_CHUNK, MEMORY_COLUMN_COUNT, MEMORY_COLUMNS, placeholders};
use crate::error::Result;
use crate::model::{KeywordHit, Memory};
use crate::text;

/// Most matches ranked per query before common terms are dropped.
const RANK_BUDGET: usize = 1000;

/// Matches beyond which a term of an over-budget query counts as common.
const COMMON_TERM: usize = RANK_BUDGET / 4;

/// BM25 with its column weights: title, content, tags. A title word counts a little *less*
/// than a content word: memories that merely name a word in their title would otherwise
/// pass the one the searcher is quoting from (the known-item benchmark,
/// `benches/known_item.rs`: title 0.75 against 1.0 finds 1.0–3.0 points more targets at 1k,
/// 10k and 100k memories; LoCoMo does not move). Term coverage (`store/coverage.rs`), not the
/// field, decides between memories holding different shares of the query. A tag is a label
/// someone chose, so it counts twice. The schema's `rank` setting is not used.
const BM25: &str = "bm25(memories_fts, 0.75, 1.0, 2.0)";

/// [`BM25`]'s column weights, for ranking the index's tail in Rust (`tail.rs`, whose test
/// `a_tail_memory_scores_as_it_will_once_indexed` fails if the two disagree).
pub(super) const WEIGHTS: [f64; 3] = [0.75, 1.0, 2.0];

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

/// Counts the matches of an expression, up to a limit.
const CAPPED_MATCHES: &str =
    "SELECT count(*) FROM (SELECT 1 FROM memories_fts WHERE memories_fts MATCH ? LIMIT ?)";

/// Each term's matches, counted up to [`COMMON_TERM`]` + 1`: counting stops there, so telling
/// rare from common costs little even for a query of many words.
async fn frequencies(conn: &Connection, terms: &[String]) -> Result<Vec<usize>> {
    let count = conn.prepare(CAPPED_MATCHES).await?;
    let mut out = Vec::with_capacity(terms.len());
    for term in terms {
        let one = match_expression(std::slice::from_ref(term));
        let mut rows = count.query((one, COMMON_TERM as i64 + 1)).await?;
        out.push(match rows.next().await? {
            Some(row) => row.get::<i64>(0)?.max(0) as usize,
            None => 0,
        });
        drop(rows);
        count.reset();
    }
    Ok(out)
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
pub(super) async fn search(
    conn: &Connection,
    terms: &[String],
    clause: &Clause,
    limit: usize,
) -> Result<Vec<KeywordHit>> {
    let any = match_expression(terms);
    let (any_floor, over_budget) = newest_matches(conn, &any).await?;
    let ranked = if terms.len() == 1 || !over_budget {
        ranked_within_budget(conn, &any, any_floor, clause, limit).await?
    } else {
        staged(conn, terms, any, any_floor, clause, limit).await?
    };
    // Snippets for the hits returned only, not for every stage's.
    Ok(ranked
        .into_iter()
        .map(|(memory, score)| KeywordHit {
            snippet: highlight(&memory, terms),
            memory,
            score,
        })
        .collect())
}

/// The stages of a query matching more than the budget (see the module doc); `any` is the
/// expression of every term and `any_floor` its budget's floor.
async fn staged(
    conn: &Connection,
    terms: &[String],
    any: String,
    any_floor: Option<i64>,
    clause: &Clause,
    limit: usize,
) -> Result<Vec<(Memory, f64)>> {
    let frequencies = frequencies(conn, terms).await?;
    let found: Vec<String> = terms
        .iter()
        .zip(&frequencies)
        .filter(|(_, df)| **df > 0)
        .map(|(t, _)| t.clone())
        .collect();
    let rare = rarest(terms, &frequencies);
    let mut stages = Vec::new();
    if found.len() > 1 {
        stages.push(expression(&found, "AND"));
    }
    if !rare.is_empty() {
        stages.push(match_expression(&rare));
    }
    if rare.len() < terms.len() {
        stages.push(any.clone());
    }
    let mut hits: Vec<(Memory, f64)> = Vec::with_capacity(limit);
    for stage in stages {
        if hits.len() >= limit {
            break;
        }
        let floor = match stage == any {
            true => any_floor,
            false => newest_matches(conn, &stage).await?.0,
        };
        // Earlier stages stay first; later ones fill the rest.
        for hit in ranked_within_budget(conn, &stage, floor, clause, limit).await? {
            if hits.len() == limit {
                break;
            }
            if !hits.iter().any(|h| h.0.id == hit.0.id) {
                hits.push(hit);
            }
        }
    }
    Ok(hits)
}

/// Ranks the matches of `expression`, or only the newest [`RANK_BUDGET`] of them (those at or
/// after row `floor`) when there are more: a query made only of words found in thousands of
/// memories then answers with the best of the recent ones, in bounded time. A filter that
/// leaves too few of those gets the whole ranking.
async fn ranked_within_budget(
    conn: &Connection,
    expression: &str,
    floor: Option<i64>,
    clause: &Clause,
    limit: usize,
) -> Result<Vec<(Memory, f64)>> {
    let hits = ranked(conn, expression, clause, limit, floor).await?;
    if floor.is_some() && hits.len() < limit && !clause.sql.is_empty() {
        return ranked(conn, expression, clause, limit, None).await;
    }
    Ok(hits)
}

/// The smallest row of the newest [`RANK_BUDGET`] matches of `expression` (`None` when it has
/// fewer), and whether it has more matches than that. Walking matches newest first costs no
/// ranking.
async fn newest_matches(conn: &Connection, expression: &str) -> Result<(Option<i64>, bool)> {
    let mut rows = conn
        .query(
            "SELECT rowid FROM memories_fts WHERE memories_fts MATCH ? \
             ORDER BY rowid DESC LIMIT 2 OFFSET ?",
            (expression, RANK_BUDGET as i64 - 1),
        )
        .await?;
    let floor = match rows.next().await? {
        Some(row) => Some(row.get(0)?),
        None => None,
    };
    let more = floor.is_some() && rows.next().await?.is_some();
    Ok((floor, more))
}

/// The snippet of a hit, made here rather than by FTS5's `snippet()`, which would search the
/// index again for every hit.
pub(super) fn highlight(memory: &Memory, terms: &[String]) -> String {
    let texts = text::fields(memory);
    let cols = texts.clone().map(|t| text::token_spans(&t));
    text::snippet(&texts, &cols, |token| {
        terms
            .iter()
            .any(|term| text::loosely_matches(&token.lower, term))
    })
}

/// Ranks the matches of `expression` (those at or after row `floor`) that pass `clause`.
async fn ranked(
    conn: &Connection,
    expression: &str,
    clause: &Clause,
    limit: usize,
    floor: Option<i64>,
) -> Result<Vec<(Memory, f64)>> {
    // Rank first, read the memories after: selecting content in the ranking query would read
    // it for every match, not just for the page returned.
    if clause.sql.is_empty()
        && let Some(order) = ranked_in_index(conn, expression, limit, floor).await?
    {
        let (hits, complete) = memories_of(conn, order).await?;
        // An index row without its memory: the join leaves it out and ranks the next match.
        if complete {
            return Ok(hits);
        }
    }
    let order = ranked_joined(conn, expression, clause, limit, floor).await?;
    Ok(memories_of(conn, order).await?.0)
}

/// The memories of ranked rows, best first and equal scores by id (as [`ranked_joined`]
/// orders them), and whether every row had its memory.
async fn memories_of(
    conn: &Connection,
    order: Vec<(i64, f64)>,
) -> Result<(Vec<(Memory, f64)>, bool)> {
    let sql = format!(
        "SELECT {MEMORY_COLUMNS}, m.seq FROM memories m WHERE m.seq IN ({})",
        placeholders(order.len())
    );
    let seqs: Vec<Value> = order.iter().map(|(seq, _)| Value::from(*seq)).collect();
    let mut rows = conn.query(&sql, seqs).await?;
    let mut found = HashMap::with_capacity(order.len());
    while let Some(row) = rows.next().await? {
        found.insert(row.get::<i64>(MEMORY_COLUMN_COUNT)?, rows::memory(&row)?);
    }
    let complete = found.len() == order.len();
    let mut hits: Vec<(Memory, f64)> = order
        .into_iter()
        .filter_map(|(seq, score)| Some((found.remove(&seq)?, score)))
        .collect();
    hits.sort_by(|a, b| {
        b.1.partial_cmp(&a.1)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.0.id.cmp(&b.0.id))
    });
    Ok((hits, complete))
}

/// The best `limit` matches of `expression` at or after row `floor`, as (row, score), ranked
/// in the index: joining `memories` in the ranking query to break ties by id costs a table
/// lookup per match ranked, more than the ranking itself on a large store. Here only the
/// matches tied at the cut are looked up, to keep those with the smallest ids; the order
/// within equal scores is left to the caller. `None` when a match has no memory (the join
/// would leave it out and rank the next one).
async fn ranked_in_index(
    conn: &Connection,
    expression: &str,
    limit: usize,
    floor: Option<i64>,
) -> Result<Option<Vec<(i64, f64)>>> {
    if limit == 0 {
        return Ok(Some(Vec::new()));
    }
    let sql = format!(
        "SELECT rowid, -{BM25} FROM memories_fts \
         WHERE memories_fts MATCH ? AND rowid >= ? ORDER BY {BM25}"
    );
    let mut ranked: Vec<(i64, f64)> = Vec::with_capacity(limit + 1);
    let mut rows = conn
        .query(&sql, (expression, floor.unwrap_or(i64::MIN)))
        .await?;
    while let Some(row) = rows.next().await? {
        let (seq, score): (i64, f64) = (row.get(0)?, row.get(1)?);
        // Past the cut, only matches tied with the last one kept may still make it.
        if ranked.len() >= limit && score != ranked[limit - 1].1 {
            break;
        }
        ranked.push((seq, score));
    }
    drop(rows);
    if ranked.len() > limit {
        let cut = ranked[limit - 1].1;
        let first_tied = ranked.iter().position(|r| r.1 == cut).unwrap_or(limit - 1);
        let tied = ranked.split_off(first_tied);
        let seqs: Vec<i64> = tied.iter().map(|(seq, _)| *seq).collect();
        let mut by_id = ids_of(conn, &seqs).await?;
        if by_id.len() < seqs.len() {
            return Ok(None);
        }
        by_id.sort();
        ranked.extend(
            by_id
                .into_iter()
                .take(limit - first_tied)
                .map(|(_, seq)| (seq, cut)),
        );
    }
    Ok(Some(ranked))
}

/// The ids of the memories at rows `seqs`, as (id, row).
async fn ids_of(conn: &Connection, seqs: &[i64]) -> Result<Vec<(String, i64)>> {
    let mut out = Vec::with_capacity(seqs.len());
    for chunk in seqs.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT id, seq FROM memories WHERE seq IN ({})",
            placeholders(chunk.len())
        );
        let params: Vec<Value> = chunk.iter().map(|seq| Value::from(*seq)).collect();
        let mut rows = conn.query(&sql, params).await?;
        while let Some(row) = rows.next().await? {
            out.push((row.get(0)?, row.get(1)?));
        }
    }
    Ok(out)
}

/// The best `limit` matches of `expression` at or after row `floor` that pass `clause`, as
/// (row, score), ties by id.
async fn ranked_joined(
    conn: &Connection,
    expression: &str,
    clause: &Clause,
    limit: usize,
    floor: Option<i64>,
) -> Result<Vec<(i64, f64)>> {
    let sql = format!(
        "SELECT m.seq, -{BM25} FROM memories_fts \
         JOIN memories m ON m.seq = memories_fts.rowid \
         WHERE memories_fts MATCH ? AND memories_fts.rowid >= ?{} \
         ORDER BY {BM25}, m.id LIMIT ?",
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

/// The newest memories (at most `limit`) holding every one of `words`: one AND query of the
/// index, which walks the words' lists together and ranks nothing.
pub(super) async fn holding(
    conn: &Connection,
    words: &[String],
    limit: usize,
) -> Result<Vec<Memory>> {
    let every_word = expression(words, "AND");
    let sql = format!(
        "SELECT {MEMORY_COLUMNS} FROM memories m WHERE m.seq IN (SELECT rowid FROM memories_fts \
         WHERE memories_fts MATCH ? ORDER BY rowid DESC LIMIT ?) ORDER BY m.seq DESC"
    );
    let mut rows = conn.query(&sql, (every_word, limit as i64)).await?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        out.push(rows::memory(&row)?);
    }
    Ok(out)
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
