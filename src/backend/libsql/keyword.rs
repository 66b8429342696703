//! Keyword search over the FTS5 index.
//!
//! Terms are quoted FTS5 strings joined by OR, so no user text is ever FTS5 syntax. Ranking
//! computes BM25 for every memory that matches, about 1.4 µs each here; a term found in a
//! large share of a big store would make every query slow. So when a query matches more than
//! [`RANK_BUDGET`] memories, its most common terms are left out of matching (the cutoff
//! frequency of search engines): they carry little information, and the memories that contain
//! the rarer terms are the ones BM25 ranks first anyway. Small stores and selective queries
//! are ranked exactly.

use libsql::{Connection, Value};

use super::filter::Clause;
use super::rows::{self, MEMORY_COLUMN_COUNT, MEMORY_COLUMNS};
use crate::error::Result;
use crate::model::KeywordHit;

/// Most matches ranked per query before common terms are dropped.
const RANK_BUDGET: usize = 1500;

/// Builds the FTS5 MATCH expression: each term a quoted string, joined by OR.
pub(super) fn match_expression<S: AsRef<str>>(terms: &[S]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"", t.as_ref().replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// Memories matching `expression`, counted up to `cap + 1`.
async fn capped_matches(conn: &Connection, expression: &str, cap: usize) -> Result<usize> {
    let mut rows = conn
        .query(
            "SELECT count(*) FROM (SELECT 1 FROM memories_fts WHERE memories_fts MATCH ? LIMIT ?)",
            (expression, cap as i64 + 1),
        )
        .await?;
    Ok(match rows.next().await? {
        Some(row) => row.get::<i64>(0)?.max(0) as usize,
        None => 0,
    })
}

/// The terms worth ranking on: all of them when affordable, else the rarest ones.
async fn selective_terms<'t>(conn: &Connection, terms: &'t [String]) -> Result<Vec<&'t str>> {
    let all: Vec<&str> = terms.iter().map(String::as_str).collect();
    if terms.len() == 1
        || capped_matches(conn, &match_expression(terms), RANK_BUDGET).await? <= RANK_BUDGET
    {
        return Ok(all);
    }
    let mut by_frequency = Vec::with_capacity(terms.len());
    for term in &all {
        let df = capped_matches(conn, &match_expression(&[term]), RANK_BUDGET).await?;
        by_frequency.push((df, *term));
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
        kept.push(term);
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
    let mut hits = ranked(conn, &match_expression(&selective), clause, limit).await?;
    if hits.len() < limit && selective.len() < terms.len() {
        // The rare terms found too little: rank on every term after all.
        hits = ranked(conn, &match_expression(terms), clause, limit).await?;
    }
    Ok(hits)
}

async fn ranked(
    conn: &Connection,
    expression: &str,
    clause: &Clause,
    limit: usize,
) -> Result<Vec<KeywordHit>> {
    // Rank first, decorate after: selecting content and snippets in the ranking query would
    // build them for every match, not just for the page returned.
    let sql = format!(
        "SELECT m.seq, -memories_fts.rank FROM memories_fts \
         JOIN memories m ON m.seq = memories_fts.rowid \
         WHERE memories_fts MATCH ?{} ORDER BY memories_fts.rank, m.id LIMIT ?",
        clause.sql
    );
    let mut params: Vec<Value> = vec![expression.into()];
    params.extend(clause.params.iter().cloned());
    params.push((limit as i64).into());
    let mut ranked: Vec<(i64, f64)> = Vec::with_capacity(limit);
    let mut rows = conn.query(&sql, params).await?;
    while let Some(row) = rows.next().await? {
        ranked.push((row.get(0)?, row.get(1)?));
    }
    drop(rows);

    let decorate = conn
        .prepare(&format!(
            "SELECT {MEMORY_COLUMNS}, snippet(memories_fts, -1, '[', ']', '…', 16) \
             FROM memories_fts JOIN memories m ON m.seq = memories_fts.rowid \
             WHERE memories_fts MATCH ? AND memories_fts.rowid = ?"
        ))
        .await?;
    let mut hits = Vec::with_capacity(ranked.len());
    for (seq, score) in ranked {
        let mut rows = decorate.query((expression, seq)).await?;
        if let Some(row) = rows.next().await? {
            hits.push(KeywordHit {
                memory: rows::memory(&row)?,
                score,
                snippet: row.get(MEMORY_COLUMN_COUNT)?,
            });
        }
        drop(rows);
        decorate.reset();
    }
    Ok(hits)
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
