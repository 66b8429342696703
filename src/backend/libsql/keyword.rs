//! Keyword search over the FTS5 index.
//!
//! Terms are quoted FTS5 strings joined by OR, so no user text is ever FTS5 syntax. Ranking
//! computes BM25 for every memory that matches, about 1.4 µs each here; a term found in a
//! large share of a big store would make every query slow. So when a query matches more than
//! [`RANK_BUDGET`] memories, its most common terms are left out of matching (the cutoff
//! frequency of search engines): they carry little information, and the memories that contain
//! the rarer terms are the ones BM25 ranks first anyway. When even the rarest terms match more
//! than the budget, only their newest matches are ranked. Small stores and selective queries
//! are ranked exactly.

use std::collections::HashMap;

use libsql::{Connection, Value};

use super::filter::Clause;
use super::rows::{self, MEMORY_COLUMN_COUNT, MEMORY_COLUMNS, placeholders};
use crate::error::Result;
use crate::model::{KeywordHit, Memory};
use crate::text;

/// Most matches ranked per query before common terms are dropped.
const RANK_BUDGET: usize = 1000;

/// Matches beyond which a term of an over-budget query counts as common.
const COMMON_TERM: usize = RANK_BUDGET / 4;

/// Builds the FTS5 MATCH expression: each term a quoted string, joined by OR.
pub(super) fn match_expression(terms: &[String]) -> String {
    quoted(terms, " OR ")
}

/// Each term a quoted FTS5 string, joined by `operator`.
fn quoted(terms: &[String], operator: &str) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(operator)
}

/// Counts the matches of an expression, up to a limit.
const CAPPED_MATCHES: &str =
    "SELECT count(*) FROM (SELECT 1 FROM memories_fts WHERE memories_fts MATCH ? LIMIT ?)";

/// Memories matching `expression`, counted up to `cap + 1`.
async fn capped_matches(conn: &Connection, expression: &str, cap: usize) -> Result<usize> {
    let mut rows = conn
        .query(CAPPED_MATCHES, (expression, cap as i64 + 1))
        .await?;
    Ok(match rows.next().await? {
        Some(row) => row.get::<i64>(0)?.max(0) as usize,
        None => 0,
    })
}

/// The terms worth ranking on: all of them when affordable, else the rarest ones. Each term's
/// matches are counted only up to the budget, so telling rare from common costs little; when
/// every term is common, all are kept and the ranking is bounded by recency instead.
async fn selective_terms(conn: &Connection, terms: &[String]) -> Result<Vec<String>> {
    if terms.len() == 1
        || capped_matches(conn, &match_expression(terms), RANK_BUDGET).await? <= RANK_BUDGET
    {
        return Ok(terms.to_vec());
    }
    // A term in more than a quarter of the budget is common: counting stops there, so telling
    // rare from common costs little even for a query of many words.
    let count = conn.prepare(CAPPED_MATCHES).await?;
    let mut by_frequency = Vec::with_capacity(terms.len());
    for term in terms {
        let one = match_expression(std::slice::from_ref(term));
        let mut rows = count.query((one, COMMON_TERM as i64 + 1)).await?;
        let df = match rows.next().await? {
            Some(row) => row.get::<i64>(0)?.max(0) as usize,
            None => 0,
        };
        drop(rows);
        count.reset();
        if df <= COMMON_TERM {
            by_frequency.push((df, term));
        }
    }
    by_frequency.sort();
    let mut kept = Vec::new();
    let mut total = 0;
    for (df, term) in by_frequency {
        if df == 0 {
            continue;
        }
        if !kept.is_empty() && total + df > RANK_BUDGET {
            break;
        }
        total += df;
        kept.push(term.clone());
    }
    if kept.is_empty() {
        // Only common terms match anything.
        return Ok(terms.to_vec());
    }
    Ok(kept)
}

/// Memories matching any of `terms` and `clause`, best BM25 first, ties by id.
pub(super) async fn search(
    conn: &Connection,
    terms: &[String],
    clause: &Clause,
    limit: usize,
) -> Result<Vec<KeywordHit>> {
    let selective = selective_terms(conn, terms).await?;
    if selective.is_empty() {
        return Ok(Vec::new());
    }
    let mut hits = ranked_within_budget(conn, &selective, clause, limit).await?;
    if hits.len() < limit && selective.len() < terms.len() {
        // The rare terms found too few: they stay first, every term fills the rest.
        for hit in ranked_within_budget(conn, terms, clause, limit).await? {
            if hits.len() == limit {
                break;
            }
            if !hits.iter().any(|h| h.memory.id == hit.memory.id) {
                hits.push(hit);
            }
        }
    }
    Ok(hits)
}

/// Ranks the matches of `terms`, or only the newest [`RANK_BUDGET`] of them when even the
/// rarest terms are that common: a query made only of words found in thousands of memories
/// then answers with the best of the recent ones, in bounded time. A filter that leaves too
/// few of those gets the whole ranking.
async fn ranked_within_budget(
    conn: &Connection,
    terms: &[String],
    clause: &Clause,
    limit: usize,
) -> Result<Vec<KeywordHit>> {
    let floor = newest_matches_floor(conn, &match_expression(terms)).await?;
    let hits = ranked(conn, terms, clause, limit, floor).await?;
    if floor.is_some() && hits.len() < limit && !clause.sql.is_empty() {
        return ranked(conn, terms, clause, limit, None).await;
    }
    Ok(hits)
}

/// The smallest row of the newest [`RANK_BUDGET`] matches of `expression`, or `None` when it
/// has no more matches than that. Walking matches newest first costs no ranking.
async fn newest_matches_floor(conn: &Connection, expression: &str) -> Result<Option<i64>> {
    let mut rows = conn
        .query(
            "SELECT rowid FROM memories_fts WHERE memories_fts MATCH ? \
             ORDER BY rowid DESC LIMIT 1 OFFSET ?",
            (expression, RANK_BUDGET as i64 - 1),
        )
        .await?;
    Ok(match rows.next().await? {
        Some(row) => Some(row.get(0)?),
        None => None,
    })
}

/// The snippet of a hit, made here rather than by FTS5's `snippet()`, which would search the
/// index again for every hit.
fn highlight(memory: &Memory, terms: &[String]) -> String {
    let texts = text::fields(memory);
    let cols = texts.clone().map(|t| text::token_spans(&t));
    text::snippet(&texts, &cols, |token| {
        terms
            .iter()
            .any(|term| text::loosely_matches(&token.lower, term))
    })
}

/// Ranks the matches of `terms` (those at or after row `floor`) that pass `clause`.
async fn ranked(
    conn: &Connection,
    terms: &[String],
    clause: &Clause,
    limit: usize,
    floor: Option<i64>,
) -> Result<Vec<KeywordHit>> {
    let expression = match_expression(terms);
    // Rank first, decorate after: selecting content and snippets in the ranking query would
    // build them for every match, not just for the page returned.
    let sql = format!(
        "SELECT m.seq, -memories_fts.rank FROM memories_fts \
         JOIN memories m ON m.seq = memories_fts.rowid \
         WHERE memories_fts MATCH ? AND memories_fts.rowid >= ?{} \
         ORDER BY memories_fts.rank, m.id LIMIT ?",
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
    drop(rows);

    let sql = format!(
        "SELECT {MEMORY_COLUMNS}, m.seq FROM memories m WHERE m.seq IN ({})",
        placeholders(ranked.len())
    );
    let seqs: Vec<Value> = ranked.iter().map(|(seq, _)| Value::from(*seq)).collect();
    let mut rows = conn.query(&sql, seqs).await?;
    let mut found = HashMap::with_capacity(ranked.len());
    while let Some(row) = rows.next().await? {
        found.insert(row.get::<i64>(MEMORY_COLUMN_COUNT)?, rows::memory(&row)?);
    }
    let hits = ranked
        .into_iter()
        .filter_map(|(seq, score)| {
            let memory = found.remove(&seq)?;
            Some(KeywordHit {
                snippet: highlight(&memory, terms),
                memory,
                score,
            })
        })
        .collect();
    Ok(hits)
}

/// The newest memories (at most `limit`) holding every one of `words`: one AND query of the
/// index, which walks the words' lists together and ranks nothing.
pub(super) async fn holding(
    conn: &Connection,
    words: &[String],
    limit: usize,
) -> Result<Vec<Memory>> {
    let expression = quoted(words, " AND ");
    let sql = format!(
        "SELECT {MEMORY_COLUMNS} FROM memories m WHERE m.seq IN (SELECT rowid FROM memories_fts \
         WHERE memories_fts MATCH ? ORDER BY rowid DESC LIMIT ?) ORDER BY m.seq DESC"
    );
    let mut rows = conn.query(&sql, (expression, limit as i64)).await?;
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
