//! Writes of memories and relationships: create (accepting replays), update under the
//! optimistic-concurrency rule, delete, and access bookkeeping. Each function is one unit of
//! work on the connection it is given; those that read before they write run in an
//! IMMEDIATE transaction ([`write_tx`]).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use libsql::{Row, Value};

use super::held::held;
use super::neighbourhood::relationships_of;
use super::pool::{Conn, write_tx};
use super::read::{get_one, get_relationship};
use super::rows::{
    INSERT_MEMORY, RELATIONSHIP_INSERT_COLUMNS, collect, insert_memories, memory_params, micros,
    opt_micros, placeholders, relationship_params, to_json,
};
use crate::backend::NewRecord;
use crate::error::{Error, Result};
use crate::model::{
    Access, Created, Direction, Embedding, LinkedMemory, Memory, MemoryPatch, Relationship,
    RelationshipPatch,
};
use crate::vector::to_blob;

pub(super) const UPSERT_VECTOR: &str = "INSERT INTO memory_vectors (memory_id, model, embedding) \
    VALUES (?, ?, ?) ON CONFLICT (memory_id) DO UPDATE SET model = excluded.model, \
    embedding = excluded.embedding";

fn vector_params(id: &str, embedding: &Embedding) -> Vec<Value> {
    vec![
        id.into(),
        embedding.model.clone().into(),
        to_blob(&embedding.vector).into(),
    ]
}

/// Sets memory `id`'s vector.
pub(super) async fn set_vector(conn: &Conn, id: &str, embedding: &Embedding) -> Result<()> {
    conn.execute(UPSERT_VECTOR, vector_params(id, embedding))
        .await?;
    Ok(())
}

/// Inserts one memory inside the caller's transaction; a replay is accepted, a clash not.
async fn insert_memory(
    conn: &Conn,
    memory: &Memory,
    embedding: Option<&Embedding>,
) -> Result<(Memory, Created)> {
    if conn.execute(INSERT_MEMORY, memory_params(memory)).await? == 0 {
        return Ok((replayed(conn, memory).await?, Created::Existing));
    }
    if let Some(embedding) = embedding {
        set_vector(conn, &memory.id, embedding).await?;
    }
    Ok((memory.clone(), Created::New))
}

/// The stored memory that `memory`'s id is taken by, when it is a replay of `memory` (same
/// content); a clash otherwise.
async fn replayed(conn: &Conn, memory: &Memory) -> Result<Memory> {
    let existing = get_one(conn, &memory.id)
        .await?
        .ok_or_else(|| Error::MemoryNotFound {
            id: memory.id.clone(),
        })?;
    if existing.same_content(memory) {
        Ok(existing)
    } else {
        Err(Error::IdConflict {
            what: "memory",
            id: memory.id.clone(),
        })
    }
}

/// Memories inserted per statement (13 values each) by bulk writes.
pub(super) const INSERT_ROWS: usize = 50;

/// Inserts the memories of `chunk` whose id is not taken in one statement (kept when the
/// chunk has [`INSERT_ROWS`] of them, the shape of every chunk but a batch's last) and tells
/// which were inserted. Each statement costs its trigger programs and, inside a transaction, a
/// savepoint; bulk writes also hold the full-text indexing to their end ([`held`]). Of an id
/// given twice only the first is inserted; the second is judged against it after.
pub(super) async fn insert_new(
    conn: &Conn,
    chunk: &[(Memory, Option<Embedding>)],
) -> Result<Vec<bool>> {
    let sql = insert_memories(chunk.len());
    let params: Vec<Value> = chunk.iter().flat_map(|(m, _)| memory_params(m)).collect();
    inserted(conn, &sql, params, chunk.iter().map(|(m, _)| m.id.as_str())).await
}

/// Runs `sql`, an insert of a row per id of `ids` that returns the ids it inserted (its
/// statement kept when it has [`INSERT_ROWS`] rows), and tells for each id whether its row
/// was inserted; of an id given twice, only the first.
pub(super) async fn inserted<'a>(
    conn: &Conn,
    sql: &str,
    params: Vec<Value>,
    ids: impl ExactSizeIterator<Item = &'a str>,
) -> Result<Vec<bool>> {
    let id = |row: &Row| Ok(row.get::<String>(0)?);
    let returned = if ids.len() == INSERT_ROWS {
        conn.rows(sql, params, id).await?
    } else {
        collect(conn.query(sql, params).await?, id).await?
    };
    let mut returned: HashSet<String> = returned.into_iter().collect();
    Ok(ids.map(|id| returned.remove(id)).collect())
}

/// A memory and its relationships in one IMMEDIATE transaction: a failure on any of them
/// rolls back all of them.
pub(super) async fn create_linked_memory(
    conn: &Conn,
    memory: &Memory,
    embedding: Option<&Embedding>,
    relationships: &[Relationship],
) -> Result<LinkedMemory> {
    write_tx(conn, || {
        insert_linked(conn, memory, embedding, relationships)
    })
    .await
}

/// Memories and their relationships, in order, in one IMMEDIATE transaction: a failure on
/// any of them rolls back all of them.
pub(super) async fn create_linked_memories(
    conn: &Conn,
    batch: &[NewRecord],
) -> Result<Vec<LinkedMemory>> {
    write_tx(conn, || async {
        let mut out = Vec::with_capacity(batch.len());
        for r in batch {
            let linked =
                insert_linked(conn, &r.memory, r.embedding.as_ref(), &r.relationships).await?;
            out.push(linked);
        }
        Ok(out)
    })
    .await
}

/// Inserts a memory and its relationships inside the caller's transaction.
async fn insert_linked(
    conn: &Conn,
    memory: &Memory,
    embedding: Option<&Embedding>,
    relationships: &[Relationship],
) -> Result<LinkedMemory> {
    let (memory, created) = insert_memory(conn, memory, embedding).await?;
    let mut linked = Vec::with_capacity(relationships.len());
    for rel in relationships {
        linked.push(insert_relationship(conn, rel).await?);
    }
    Ok(LinkedMemory {
        memory,
        created,
        relationships: linked,
    })
}

/// Memories in one IMMEDIATE transaction (or a savepoint of the caller's), their full text
/// indexed once at its end on a `local` store ([`held`]); a memory whose id is stored is a
/// replay.
pub(super) async fn create_memories(
    conn: &Conn,
    batch: &[(Memory, Option<Embedding>)],
    local: bool,
) -> Result<Vec<Created>> {
    write_tx(conn, || {
        held(conn, local, || async {
            let mut out = Vec::with_capacity(batch.len());
            for chunk in batch.chunks(INSERT_ROWS) {
                let inserted = insert_new(conn, chunk).await?;
                for ((memory, embedding), inserted) in chunk.iter().zip(inserted) {
                    out.push(match inserted {
                        true => {
                            if let Some(embedding) = embedding {
                                set_vector(conn, &memory.id, embedding).await?;
                            }
                            Created::New
                        }
                        false => {
                            replayed(conn, memory).await?;
                            Created::Existing
                        }
                    });
                }
            }
            Ok(out)
        })
    })
    .await
}

/// What an update does to the vector: `None` keeps it, `Some(None)` drops it, `Some(Some(e))`
/// replaces it (an owned [`crate::backend::EmbeddingChange`], to cross into a unit of work).
pub(super) type VectorUpdate = Option<Option<Embedding>>;

pub(super) async fn update_memory(
    conn: &Conn,
    id: &str,
    patch: &MemoryPatch,
    embedding: &VectorUpdate,
    expected_version: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Memory> {
    write_tx(conn, || async {
        let actual = version_of(conn, "memories", id).await?;
        let actual = actual.ok_or_else(|| Error::MemoryNotFound { id: id.to_owned() })?;
        crate::backend::expect_version("memory", id, actual, expected_version)?;
        conn.execute(
            "UPDATE memories SET kind = coalesce(?, kind), title = coalesce(?, title), \
             content = coalesce(?, content), tags = coalesce(?, tags), \
             context = coalesce(?, context), importance = coalesce(?, importance), \
             confidence = coalesce(?, confidence), updated_at = ?, version = version + 1 \
             WHERE id = ?",
            vec![
                Value::from(patch.kind.clone()),
                patch.title.clone().into(),
                patch.content.clone().into(),
                patch.tags.as_ref().map(to_json).into(),
                patch.context.as_ref().map(to_json).into(),
                patch.importance.map(f64::from).into(),
                patch.confidence.map(f64::from).into(),
                micros(now).into(),
                id.into(),
            ],
        )
        .await?;
        match embedding {
            None => {}
            Some(None) => {
                conn.execute("DELETE FROM memory_vectors WHERE memory_id = ?", [id])
                    .await?;
            }
            Some(Some(e)) => set_vector(conn, id, e).await?,
        }
        get_one(conn, id)
            .await?
            .ok_or_else(|| Error::MemoryNotFound { id: id.to_owned() })
    })
    .await
}

/// Deletes a memory (its relationships and vector go with it, by cascade) and returns the
/// relationships it had: read in the same IMMEDIATE transaction, so they are exactly the ones
/// removed, whatever other writers do meanwhile.
pub(super) async fn delete_memory(conn: &Conn, id: &str) -> Result<Vec<Relationship>> {
    write_tx(conn, || async {
        let ids = [id.to_owned()];
        let mut removed = relationships_of(conn, &ids, Direction::Both, &[], None).await?;
        if !delete_by_id(conn, "memories", id).await? {
            return Err(Error::MemoryNotFound { id: id.to_owned() });
        }
        removed.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(removed)
    })
    .await
}

/// Records `accesses` (see `GraphBackend::touch`), a statement each, in one transaction.
pub(super) async fn touch(conn: &Conn, accesses: &[Access]) -> Result<()> {
    const TOUCH: &str = "UPDATE memories SET access_count = access_count + ?1, \
        accessed_at = max(coalesce(accessed_at, ?2), ?2) WHERE id = ?3";
    write_tx(conn, || async {
        for access in accesses {
            let count = i64::try_from(access.count).unwrap_or(i64::MAX);
            let params: [Value; 3] = [
                count.into(),
                micros(access.at).into(),
                access.id.clone().into(),
            ];
            conn.execute(TOUCH, params).await?;
        }
        Ok(())
    })
    .await
}

pub(super) async fn create_relationship(
    conn: &Conn,
    rel: &Relationship,
) -> Result<(Relationship, Created)> {
    write_tx(conn, || insert_relationship(conn, rel)).await
}

/// Inserts a relationship inside the caller's transaction; a replay by id is accepted, an
/// unknown endpoint, a clash of ids or a second edge of one (source, target, type) not.
async fn insert_relationship(conn: &Conn, rel: &Relationship) -> Result<(Relationship, Created)> {
    for id in [&rel.source_id, &rel.target_id] {
        if version_of(conn, "memories", id).await?.is_none() {
            return Err(Error::UnknownEndpoint { id: id.clone() });
        }
    }
    if let Some(existing) = get_relationship(conn, &rel.id).await? {
        return if existing.same_content(rel) {
            Ok((existing, Created::Existing))
        } else {
            Err(Error::IdConflict {
                what: "relationship",
                id: rel.id.clone(),
            })
        };
    }
    let inserted = conn
        .execute(
            &format!(
                "INSERT INTO relationships ({RELATIONSHIP_INSERT_COLUMNS}) \
                 VALUES ({}) ON CONFLICT (source_id, target_id, rel_type) DO NOTHING",
                placeholders(13)
            ),
            relationship_params(rel),
        )
        .await?;
    if inserted == 0 {
        let id = conn
            .row(
                "SELECT id FROM relationships WHERE source_id = ? AND target_id = ? AND rel_type = ?",
                (rel.source_id.as_str(), rel.target_id.as_str(), rel.rel_type.as_str()),
                |row| Ok(row.get::<String>(0)?),
            )
            .await?
            .unwrap_or_default();
        return Err(Error::RelationshipExists {
            id,
            source_id: rel.source_id.clone(),
            target_id: rel.target_id.clone(),
            rel_type: rel.rel_type.clone(),
        });
    }
    Ok((rel.clone(), Created::New))
}

pub(super) async fn update_relationship(
    conn: &Conn,
    id: &str,
    patch: &RelationshipPatch,
    expected_version: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Relationship> {
    let not_found = || Error::RelationshipNotFound { id: id.to_owned() };
    write_tx(conn, || async {
        let actual = version_of(conn, "relationships", id).await?;
        let actual = actual.ok_or_else(not_found)?;
        crate::backend::expect_version("relationship", id, actual, expected_version)?;
        let current = get_relationship(conn, id).await?.ok_or_else(not_found)?;
        let note = patch.note.clone().unwrap_or(current.note);
        let valid_from = patch.valid_from.unwrap_or(current.valid_from);
        let valid_to = patch.valid_to.unwrap_or(current.valid_to);
        conn.execute(
            "UPDATE relationships SET strength = coalesce(?, strength), \
             confidence = coalesce(?, confidence), note = ?, \
             properties = coalesce(?, properties), valid_from = ?, valid_to = ?, \
             updated_at = ?, version = version + 1 WHERE id = ?",
            vec![
                Value::from(patch.strength.map(f64::from)),
                patch.confidence.map(f64::from).into(),
                note.into(),
                patch.properties.as_ref().map(to_json).into(),
                opt_micros(valid_from),
                opt_micros(valid_to),
                micros(now).into(),
                id.into(),
            ],
        )
        .await?;
        get_relationship(conn, id).await?.ok_or_else(not_found)
    })
    .await
}

pub(super) async fn delete_relationship(conn: &Conn, id: &str) -> Result<()> {
    match delete_by_id(conn, "relationships", id).await? {
        true => Ok(()),
        false => Err(Error::RelationshipNotFound { id: id.to_owned() }),
    }
}

/// Deletes the row of `table` (a constant) with `id`; false when there was none.
async fn delete_by_id(conn: &Conn, table: &str, id: &str) -> Result<bool> {
    let sql = format!("DELETE FROM {table} WHERE id = ?");
    Ok(conn.execute(&sql, [id]).await? > 0)
}

/// The version of a row, or `None` when it does not exist.
async fn version_of(conn: &Conn, table: &str, id: &str) -> Result<Option<i64>> {
    let sql = format!("SELECT version FROM {table} WHERE id = ?");
    conn.row(&sql, [id], |row| Ok(row.get::<i64>(0)?)).await
}
