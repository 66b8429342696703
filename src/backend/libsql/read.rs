//! Reads of whole records: memories and relationships by id, and pages of memories in
//! listing order. Searches and neighbourhoods have rooms of their own.

use libsql::{Connection, Value};

use super::filter::Clause;
use super::pool::Conn;
use super::rows::{
    self, IN_CHUNK, MEMORY_COLUMNS, RELATIONSHIP_COLUMNS, SUMMARY_COLUMNS, micros, placeholders,
};
use crate::backend::{Cursor, IdKind};
use crate::error::Result;
use crate::model::{Memory, MemorySummary, Page, Relationship};

pub(super) async fn get_one(reader: &Conn, id: &str) -> Result<Option<Memory>> {
    let sql = format!("SELECT {MEMORY_COLUMNS} FROM memories m WHERE m.id = ?");
    reader.row(&sql, [id], rows::memory).await
}

pub(super) async fn get_relationship(reader: &Conn, id: &str) -> Result<Option<Relationship>> {
    let sql = format!("SELECT {RELATIONSHIP_COLUMNS} FROM relationships r WHERE r.id = ?");
    reader.row(&sql, [id], rows::relationship).await
}

/// The memories that exist among `ids`, in the order asked.
pub(super) async fn get_memories(reader: &Conn, ids: &[String]) -> Result<Vec<Memory>> {
    if let [id] = ids {
        return Ok(get_one(reader, id).await?.into_iter().collect());
    }
    let mut found = std::collections::HashMap::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT {MEMORY_COLUMNS} FROM memories m WHERE m.id IN ({})",
            placeholders(chunk.len())
        );
        for m in reader.rows(&sql, chunk.to_vec(), rows::memory).await? {
            found.insert(m.id.clone(), m);
        }
    }
    Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
}

/// A page of the memories `clause` selects, newest first, after the cursor already in it.
pub(super) async fn list_memories(reader: &Conn, clause: Clause, limit: usize) -> Result<Page> {
    let page_rows = limit + 1;
    let sql = format!(
        "SELECT {MEMORY_COLUMNS} FROM memories m WHERE 1{} \
         ORDER BY m.created_at DESC, m.id DESC LIMIT {page_rows}",
        clause.sql
    );
    let rows = reader.rows(&sql, clause.params, rows::memory).await?;
    Ok(page(rows, limit, Cursor::after))
}

/// [`list_memories`] as summaries: without the content and context a listing does not show,
/// whose reading and decoding was most of a page's cost.
pub(super) async fn list_summaries(
    reader: &Conn,
    clause: Clause,
    limit: usize,
) -> Result<Page<MemorySummary>> {
    let page_rows = limit + 1;
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM memories m WHERE 1{} \
         ORDER BY m.created_at DESC, m.id DESC LIMIT {page_rows}",
        clause.sql
    );
    let rows = reader.rows(&sql, clause.params, rows::summary).await?;
    Ok(page(rows, limit, Cursor::after_summary))
}

/// The page of a listing's `rows`, read one past `limit` (`page_rows`): the limit is written
/// into the SQL, not bound, since SQLite plans with a bound `LIMIT ?`'s value, so binding
/// another marks the kept statement expired and every page prepared it anew (pages have a few
/// sizes, each a statement of its own). The extra row says whether a next page exists.
fn page<T>(mut rows: Vec<T>, limit: usize, cursor: fn(&T) -> Cursor) -> Page<T> {
    let next_cursor = (rows.len() > limit).then(|| {
        rows.truncate(limit);
        cursor(rows.last().expect("limit > 0 when more rows exist")).encode()
    });
    Page {
        memories: rows,
        next_cursor,
    }
}

/// The memories `clause` selects stored up to `steps` places before and after `anchor` (by
/// creation time, then id, as listings order them), nearest first on each side: two walks of
/// the creation-time index.
pub(super) async fn beside(
    reader: &Conn,
    anchor: &Memory,
    steps: usize,
    clause: &Clause,
) -> Result<Vec<Memory>> {
    // The limit is written into the SQL, as a listing's is (see [`page`]): a search walks one
    // or two steps, a statement each.
    let page_rows = steps;
    let before = format!(
        "SELECT {MEMORY_COLUMNS} FROM memories m WHERE (m.created_at, m.id) < (?, ?){} \
         ORDER BY m.created_at DESC, m.id DESC LIMIT {page_rows}",
        clause.sql
    );
    let after = format!(
        "SELECT {MEMORY_COLUMNS} FROM memories m WHERE (m.created_at, m.id) > (?, ?){} \
         ORDER BY m.created_at, m.id LIMIT {page_rows}",
        clause.sql
    );
    let mut found = Vec::with_capacity(2 * steps);
    for sql in [before, after] {
        let mut params: Vec<Value> =
            vec![micros(anchor.created_at).into(), anchor.id.clone().into()];
        params.extend(clause.params.iter().cloned());
        found.extend(reader.rows(&sql, params, rows::memory).await?);
    }
    Ok(found)
}

/// Ids of `kind` starting with `prefix`, in order: a range over the primary key (ids are
/// ASCII, so every id with the prefix sorts below the prefix followed by DEL).
pub(super) async fn ids_with_prefix(
    conn: &Connection,
    kind: IdKind,
    prefix: &str,
    limit: usize,
) -> Result<Vec<String>> {
    let table = match kind {
        IdKind::Memory => "memories",
        IdKind::Relationship => "relationships",
    };
    let sql = format!("SELECT id FROM {table} WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT ?3");
    let params: Vec<libsql::Value> = vec![
        prefix.to_owned().into(),
        format!("{prefix}\u{7f}").into(),
        (limit as i64).into(),
    ];
    let mut rows = conn.query(&sql, params).await?;
    let mut ids = Vec::new();
    while let Some(row) = rows.next().await? {
        ids.push(row.get::<String>(0)?);
    }
    Ok(ids)
}
