//! One hop of the graph: the relationships of a set of memories, and memory summaries.
//! Both are batched `IN (…)` probes of indexes, chunked to bound the statement size, one
//! statement per chunk.

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
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let (sql, params) = relationships_probe(chunk, direction, rel_types, valid_at);
        for rel in reader.rows(&sql, params, rows::relationship).await? {
            if seen.insert(rel.id.clone()) {
                out.push(rel);
            }
        }
    }
    Ok(out)
}

/// The statement of [`relationships_of`] for one chunk of ids, and its parameters.
fn relationships_probe(
    ids: &[String],
    direction: Direction,
    rel_types: &[String],
    valid_at: Option<DateTime<Utc>>,
) -> (String, Vec<Value>) {
    let ends: &[&str] = match direction {
        Direction::Outgoing => &["source_id"],
        Direction::Incoming => &["target_id"],
        Direction::Both => &["source_id", "target_id"],
    };
    let mut probes = Vec::with_capacity(ends.len());
    let mut params: Vec<Value> = Vec::new();
    for end in ends {
        let mut sql = format!(
            "SELECT {RELATIONSHIP_COLUMNS} FROM relationships r WHERE r.{end} IN ({})",
            placeholders(ids.len())
        );
        params.extend(ids.iter().map(|id| Value::from(id.clone())));
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
    (probes.join(" UNION ALL "), params)
}

/// Summaries of the memories among `ids` (repeats ignored) that pass `filter`. Each is a
/// probe of the id index, then a read of the memory's row: a covering index of the summary
/// columns would save the row reads, but it is one more b-tree that every create dirties, a
/// frame more for each replica to pull per memory (issue #16's budget).
pub(super) async fn summaries(
    reader: &Conn,
    ids: &[String],
    filter: &Filter,
) -> Result<Vec<MemorySummary>> {
    let ids = super::rows::distinct(ids);
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IN_CHUNK) {
        let (sql, params) = summaries_query(chunk, filter);
        out.extend(reader.rows(&sql, params, rows::summary).await?);
    }
    Ok(out)
}

/// The statement of [`summaries`] for one chunk of ids, and its parameters.
fn summaries_query(ids: &[String], filter: &Filter) -> (String, Vec<Value>) {
    let mut clause = Clause::from_filter(filter);
    clause.and(
        &format!("m.id IN ({})", placeholders(ids.len())),
        ids.iter().map(|id| Value::from(id.clone())),
    );
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM memories m WHERE 1{}",
        clause.sql
    );
    (sql, clause.params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::libsql::LibsqlBackend;

    /// The plan SQLite makes for `sql`: one line per step, as `EXPLAIN QUERY PLAN` words it.
    async fn plan(sql: String, params: Vec<Value>) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let backend = LibsqlBackend::open_local(&dir.path().join("store.db"))
            .await
            .unwrap();
        backend
            .run(|conn| async move {
                let mut rows = conn
                    .query(&format!("EXPLAIN QUERY PLAN {sql}"), params)
                    .await?;
                let mut steps = Vec::new();
                while let Some(row) = rows.next().await? {
                    steps.push(row.get::<String>(3)?);
                }
                Ok(steps)
            })
            .await
            .unwrap()
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("m{i}")).collect()
    }

    #[tokio::test]
    async fn summaries_probe_the_id_index() {
        let (sql, params) = summaries_query(&ids(6), &Filter::default());
        let steps = plan(sql, params).await;
        assert_eq!(
            steps,
            ["SEARCH m USING INDEX sqlite_autoindex_memories_1 (id=?)"]
        );
    }

    #[tokio::test]
    async fn a_hop_in_both_directions_is_one_statement_probing_each_end_index() {
        let types = vec!["SOLVES".to_owned()];
        let (sql, params) = relationships_probe(&ids(3), Direction::Both, &types, Some(Utc::now()));
        let steps = plan(sql, params).await.join(" | ");
        assert!(!steps.contains("SCAN"), "{steps}");
        assert!(steps.contains("(source_id=?)"), "{steps}");
        assert!(
            steps.contains("USING INDEX relationships_target (target_id=? AND rel_type=?)"),
            "{steps}"
        );
    }
}
