//! One hop of the graph: the relationships of a set of memories, and memory summaries.
//! Both are batched `IN (…)` probes of indexes, chunked to bound the statement size, one
//! statement per chunk; summaries come from a covering index, without the table rows.

use chrono::{DateTime, Utc};
use libsql::Value;

use super::filter::Clause;
use super::pool::Conn;
use super::rows::IN_CHUNK;
use super::rows::{self, RELATIONSHIP_COLUMNS, SUMMARY_COLUMNS, micros, placeholders};
use crate::error::Result;
use crate::model::{Direction, Filter, MemorySummary, Relationship};

/// The relationships touching `ids` in `direction`, each once.
///
/// One statement per chunk: in both directions it is two indexed probes, one per end, joined
/// by `UNION ALL` (an `OR` of the two ends, or `UNION`, would defeat the per-end index use),
/// so a hop costs one statement's start and end rather than one per end.
pub(super) async fn relationships_of(
    reader: &Conn,
    ids: &[String],
    direction: Direction,
    rel_types: &[String],
    valid_at: Option<DateTime<Utc>>,
) -> Result<Vec<Relationship>> {
    let ends: &[&str] = match direction {
        Direction::Outgoing => &["source_id"],
        Direction::Incoming => &["target_id"],
        Direction::Both => &["source_id", "target_id"],
    };
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let mut probes = Vec::with_capacity(ends.len());
        let mut params: Vec<Value> = Vec::new();
        for end in ends {
            let mut sql = format!(
                "SELECT {RELATIONSHIP_COLUMNS} FROM relationships r WHERE r.{end} IN ({})",
                placeholders(chunk.len())
            );
            params.extend(chunk.iter().map(|id| Value::from(id.clone())));
            if !rel_types.is_empty() {
                sql.push_str(&format!(
                    " AND r.rel_type IN ({})",
                    placeholders(rel_types.len())
                ));
                params.extend(rel_types.iter().map(|t| Value::from(t.clone())));
            }
            if let Some(at) = valid_at {
                sql.push_str(
                    " AND (r.valid_from IS NULL OR r.valid_from <= ?) \
                     AND (r.valid_to IS NULL OR r.valid_to > ?)",
                );
                params.extend([micros(at).into(), micros(at).into()]);
            }
            probes.push(sql);
        }
        let sql = probes.join(" UNION ALL ");
        for rel in reader.rows(&sql, params, rows::relationship).await? {
            if seen.insert(rel.id.clone()) {
                out.push(rel);
            }
        }
    }
    Ok(out)
}

/// The index that holds every column of a summary (`schema/0006_covering_summaries.sql`).
pub(super) const SUMMARY_INDEX: &str = "memories_summary";

/// Summaries of the memories among `ids` (repeats ignored) that pass `filter`, read from
/// [`SUMMARY_INDEX`] alone, without a read of each memory's table row (which holds its
/// content). The statement names the index: without statistics SQLite's planner picks the
/// UNIQUE id index for `id IN (…)` (its one-row estimate beats any other index) and then
/// reads every row; running `ANALYZE` to change that would change other plans too.
pub(super) async fn summaries(
    reader: &Conn,
    ids: &[String],
    filter: &Filter,
) -> Result<Vec<MemorySummary>> {
    let ids = super::rows::distinct(ids);
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IN_CHUNK) {
        let mut clause = Clause::from_filter(filter);
        clause.and(
            &format!("m.id IN ({})", placeholders(chunk.len())),
            chunk.iter().map(|id| Value::from(id.clone())),
        );
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM memories m INDEXED BY {SUMMARY_INDEX} WHERE 1{}",
            clause.sql
        );
        out.extend(reader.rows(&sql, clause.params, rows::summary).await?);
    }
    Ok(out)
}
