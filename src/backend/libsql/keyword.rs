//! Keyword search over the FTS5 index.
//!
//! Terms are quoted FTS5 strings joined by OR, so no user text is ever FTS5 syntax. Ranking
//! computes BM25 for every memory that matches, about 1.4 µs each here; a term found in a
//! large share of a big store would make every query slow. So when a query matches more than
//! [`RANK_BUDGET`] memories, its most common terms are left out of matching (the cutoff
//! frequency of search engines): they carry little information, and the memories that contain
//! the rarer terms are the ones BM25 ranks first anyway. Small stores and selective queries
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

/// Builds the FTS5 MATCH expression: each term a quoted string, joined by OR.
pub(super) fn match_expression(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
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

/// Forms Porter stemming may have reduced `term` to: the ways FTS5 may have indexed it.
fn stem_forms(term: &str) -> Vec<String> {
    let mut forms = vec![term.to_owned()];
    let mut push = |form: String| {
        if form.chars().count() >= 2 && !forms.contains(&form) {
            forms.push(form);
        }
    };
    for suffix in ["s", "es", "ed", "ing", "ly", "e", "er", "ation"] {
        if let Some(stem) = term.strip_suffix(suffix) {
            push(stem.to_owned());
            // "running" → "run": a doubled final consonant is undoubled.
            let mut chars = stem.chars().rev();
            if let (Some(a), Some(b)) = (chars.next(), chars.next())
                && a == b
                && !"aeiouls".contains(a)
            {
                push(stem[..stem.len() - a.len_utf8()].to_owned());
            }
        }
    }
    for (suffix, with) in [("ies", "i"), ("y", "i")] {
        if let Some(stem) = term.strip_suffix(suffix) {
            push(format!("{stem}{with}"));
        }
    }
    forms
}

/// How many memories hold `term`, from the FTS5 vocabulary (a few index probes); a term whose
/// stemmed form is not among the guessed ones is counted, up to the budget, instead.
async fn document_frequency(conn: &Connection, term: &str) -> Result<usize> {
    let mut best = None;
    for form in stem_forms(term) {
        let mut rows = conn
            .query("SELECT doc FROM memories_fts_vocab WHERE term = ?", [form])
            .await?;
        if let Some(row) = rows.next().await? {
            let df = row.get::<i64>(0)?.max(0) as usize;
            best = Some(best.map_or(df, |b: usize| b.max(df)));
        }
    }
    match best {
        Some(df) => Ok(df),
        None => {
            let one = match_expression(&[term.to_owned()]);
            capped_matches(conn, &one, RANK_BUDGET).await
        }
    }
}

/// The terms worth ranking on: all of them when affordable, else the rarest ones.
async fn selective_terms(conn: &Connection, terms: &[String]) -> Result<Vec<String>> {
    if terms.len() == 1
        || capped_matches(conn, &match_expression(terms), RANK_BUDGET).await? <= RANK_BUDGET
    {
        return Ok(terms.to_vec());
    }
    let mut by_frequency = Vec::with_capacity(terms.len());
    for term in terms {
        by_frequency.push((document_frequency(conn, term).await?, term));
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
    let mut hits = ranked(conn, &selective, clause, limit).await?;
    if hits.len() < limit && selective.len() < terms.len() {
        // The rare terms found too little: rank on every term after all.
        hits = ranked(conn, terms, clause, limit).await?;
    }
    Ok(hits)
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

async fn ranked(
    conn: &Connection,
    terms: &[String],
    clause: &Clause,
    limit: usize,
) -> Result<Vec<KeywordHit>> {
    let expression = match_expression(terms);
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

#[cfg(test)]
mod tests {
    use super::{match_expression, stem_forms};

    #[test]
    fn stem_forms_cover_porters_common_cuts() {
        let has = |term: &str, form: &str| stem_forms(term).contains(&form.to_owned());
        assert!(has("running", "run"));
        assert!(has("databases", "databas"));
        assert!(has("locked", "lock"));
        assert!(has("queries", "queri"));
        assert!(has("memory", "memori"));
        assert!(has("error", "error"));
    }

    #[test]
    fn match_expression_quotes_every_term() {
        let terms = vec!["near".to_owned(), "a\"b".to_owned()];
        assert_eq!(match_expression(&terms), r#""near" OR "a""b""#);
    }
}
