//! Rows ⇄ model records: the column lists every query selects, and their decoding.

use chrono::{DateTime, Utc};
use libsql::{Row, Rows, Value};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::model::{Memory, MemorySummary, Relationship};

/// Columns of a full memory, prefixed `m.`; decoded by [`memory`] starting at column 0.
pub(super) const MEMORY_COLUMNS: &str = "m.id, m.kind, m.title, m.content, m.tags, m.context, \
    m.importance, m.confidence, m.created_at, m.updated_at, m.accessed_at, m.access_count, m.version";
pub(super) const MEMORY_COLUMN_COUNT: i32 = 13;

/// Columns of a memory summary, prefixed `m.`; decoded by [`summary`].
pub(super) const SUMMARY_COLUMNS: &str =
    "m.id, m.kind, m.title, m.tags, m.importance, m.created_at";

/// Columns of a relationship, prefixed `r.`; decoded by [`relationship`].
pub(super) const RELATIONSHIP_COLUMNS: &str = "r.id, r.source_id, r.target_id, r.rel_type, \
    r.strength, r.confidence, r.note, r.properties, r.valid_from, r.valid_to, r.created_at, \
    r.updated_at, r.version";

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn opt_micros(t: Option<DateTime<Utc>>) -> Value {
    t.map(micros).into()
}

fn time(row: &Row, idx: i32) -> Result<DateTime<Utc>> {
    let us: i64 = row.get(idx)?;
    DateTime::from_timestamp_micros(us).ok_or_else(|| Error::Corrupt {
        what: "timestamp",
        reason: format!("{us} µs is out of range"),
    })
}

fn opt_time(row: &Row, idx: i32) -> Result<Option<DateTime<Utc>>> {
    match row.get::<Option<i64>>(idx)? {
        None => Ok(None),
        Some(_) => time(row, idx).map(Some),
    }
}

fn json<T: DeserializeOwned>(row: &Row, idx: i32, what: &'static str) -> Result<T> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text).map_err(|e| Error::Corrupt {
        what,
        reason: e.to_string(),
    })
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("model values serialise to JSON")
}

pub(super) fn memory(row: &Row) -> Result<Memory> {
    Ok(Memory {
        id: row.get(0)?,
        kind: row.get(1)?,
        title: row.get(2)?,
        content: row.get(3)?,
        tags: json(row, 4, "tags")?,
        context: json(row, 5, "context")?,
        importance: row.get::<f64>(6)? as f32,
        confidence: row.get::<f64>(7)? as f32,
        created_at: time(row, 8)?,
        updated_at: time(row, 9)?,
        accessed_at: opt_time(row, 10)?,
        access_count: row.get::<i64>(11)?.max(0) as u64,
        version: row.get(12)?,
    })
}

pub(super) fn summary(row: &Row) -> Result<MemorySummary> {
    Ok(MemorySummary {
        id: row.get(0)?,
        kind: row.get(1)?,
        title: row.get(2)?,
        tags: json(row, 3, "tags")?,
        importance: row.get::<f64>(4)? as f32,
        created_at: time(row, 5)?,
    })
}

pub(super) fn relationship(row: &Row) -> Result<Relationship> {
    Ok(Relationship {
        id: row.get(0)?,
        source_id: row.get(1)?,
        target_id: row.get(2)?,
        rel_type: row.get(3)?,
        strength: row.get::<f64>(4)? as f32,
        confidence: row.get::<f64>(5)? as f32,
        note: row.get(6)?,
        properties: json(row, 7, "properties")?,
        valid_from: opt_time(row, 8)?,
        valid_to: opt_time(row, 9)?,
        created_at: time(row, 10)?,
        updated_at: time(row, 11)?,
        version: row.get(12)?,
    })
}

/// Decodes every row with `decode`.
pub(super) async fn collect<T>(mut rows: Rows, decode: fn(&Row) -> Result<T>) -> Result<Vec<T>> {
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        out.push(decode(&row)?);
    }
    Ok(out)
}

/// Most ids bound in one `IN (…)` list; longer lists are split.
pub(super) const IN_CHUNK: usize = 500;

/// `ids` without repeats, first occurrence kept: chunked `IN` lists must not see an id twice.
pub(super) fn distinct(ids: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
}

/// Builds `?, ?, ?` for an `IN (…)` list of `n` values.
pub(super) fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 3);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('?');
    }
    s
}

/// The bound values of a memory insert, in [`INSERT_MEMORY`] order.
pub(super) fn memory_params(m: &Memory) -> Vec<Value> {
    vec![
        m.id.clone().into(),
        m.kind.clone().into(),
        m.title.clone().into(),
        m.content.clone().into(),
        to_json(&m.tags).into(),
        to_json(&m.context).into(),
        f64::from(m.importance).into(),
        f64::from(m.confidence).into(),
        micros(m.created_at).into(),
        micros(m.updated_at).into(),
        opt_micros(m.accessed_at),
        (m.access_count as i64).into(),
        m.version.into(),
    ]
}

/// Columns of a memory insert, in [`memory_params`] order.
macro_rules! memory_insert_columns {
    () => {
        "id, kind, title, content, tags, context, importance, confidence, created_at, \
         updated_at, accessed_at, access_count, version"
    };
}

pub(super) const INSERT_MEMORY: &str = concat!(
    "INSERT INTO memories (",
    memory_insert_columns!(),
    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
);

/// Columns of a memory insert, as a constant for `format!`.
pub(super) const MEMORY_INSERT_COLUMNS: &str = memory_insert_columns!();

/// Inserts `rows` memories in one statement (each bound with [`memory_params`]), skipping
/// those whose id is taken, and returns the ids it inserted.
pub(super) fn insert_memories(rows: usize) -> String {
    format!(
        "INSERT INTO memories ({MEMORY_INSERT_COLUMNS}) VALUES {} \
         ON CONFLICT (id) DO NOTHING RETURNING id",
        value_rows::<13>(rows)
    )
}

/// Builds `(?, ?), (?, ?)`: `rows` tuples of `WIDTH` placeholders, the `VALUES` of a
/// multi-row statement.
pub(super) fn value_rows<const WIDTH: usize>(rows: usize) -> String {
    vec![format!("({})", placeholders(WIDTH)); rows].join(", ")
}

/// Columns of a relationship insert, in [`relationship_params`] order.
pub(super) const RELATIONSHIP_INSERT_COLUMNS: &str = "id, source_id, target_id, rel_type, \
    strength, confidence, note, properties, valid_from, valid_to, created_at, updated_at, version";

/// The bound values of a relationship insert, in [`RELATIONSHIP_INSERT_COLUMNS`] order.
pub(super) fn relationship_params(rel: &Relationship) -> Vec<Value> {
    vec![
        rel.id.clone().into(),
        rel.source_id.clone().into(),
        rel.target_id.clone().into(),
        rel.rel_type.clone().into(),
        f64::from(rel.strength).into(),
        f64::from(rel.confidence).into(),
        rel.note.clone().into(),
        to_json(&rel.properties).into(),
        opt_micros(rel.valid_from),
        opt_micros(rel.valid_to),
        micros(rel.created_at).into(),
        micros(rel.updated_at).into(),
        rel.version.into(),
    ]
}
