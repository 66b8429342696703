//! The libSQL backend: a database file on this machine (local mode), an embedded replica of a
//! libSQL primary (replica mode) or the primary itself over HTTP (remote mode). The SQL is the
//! same in all three; [`pool`] knows how each kind of connection is set up.
//!
//! Layout: [`pool`] hands out connections and runs units of work off the async workers,
//! [`migrate`] brings the schema up to date at open, [`rows`] and [`filter`] translate between
//! SQL and the model, [`vectors`] keeps the in-process vector index in step with the table.

mod filter;
mod import;
mod keyword;
mod maintenance;
mod migrate;
mod neighbourhood;
mod pending;
mod pool;
mod primary;
mod rows;
mod vectors;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use libsql::{Builder, Connection, Statement, Value};

pub use migrate::{SCHEMA_VERSION, migrate_to};
pub use primary::Primary;

use self::filter::Clause;
use self::pool::{Link, Pool, write_tx};
use self::rows::{
    INSERT_MEMORY, MEMORY_COLUMNS, RELATIONSHIP_COLUMNS, RELATIONSHIP_INSERT_COLUMNS, collect,
    memory_params, micros, opt_micros, placeholders, relationship_params, to_json,
};
use self::vectors::VectorCache;
use super::{Cursor, EmbeddingChange, GraphBackend, ImportBatch, ImportOutcome, IntegrityCheck};
use crate::error::{Error, Result};
use crate::model::{
    Created, Direction, Embedding, Filter, KeywordHit, Memory, MemoryPatch, MemorySummary, Page,
    Relationship, RelationshipPatch, Stats, StoreMeta, VectorHit,
};
use crate::private_fs;
use crate::vector::to_blob;

/// How long a unit of work waits for another process's write lock before giving up.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Most ids bound in one `IN (…)` list; longer lists are split.
const IN_CHUNK: usize = 500;

/// A store in a libSQL database.
#[derive(Clone)]
pub struct LibsqlBackend {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    vectors: VectorCache,
    path: PathBuf,
}

impl LibsqlBackend {
    /// Opens (creating if needed) the store at `path`, migrating its schema.
    pub async fn open_local(path: &Path) -> Result<Self> {
        Self::open_local_with(path, DEFAULT_BUSY_TIMEOUT).await
    }

    /// [`LibsqlBackend::open_local`] with an explicit busy timeout.
    pub async fn open_local_with(path: &Path, busy_timeout: Duration) -> Result<Self> {
        private_fs::create_file(path)?;
        let db = Builder::new_local(path).build().await?;
        let backend = Self::with_pool(Pool::new(db, Link::Local, busy_timeout), path.to_owned());
        backend
            .run(|conn| async move {
                // WAL lets readers proceed while one writer commits; the mode is persistent.
                conn.query("PRAGMA journal_mode = WAL", ()).await?;
                Ok(())
            })
            .await?;
        backend.migrate().await?;
        Ok(backend)
    }

    /// Opens the embedded replica at `path` of `primary`: syncs once (a replica that cannot
    /// reach its primary still opens, and serves what it has), then migrates the schema on the
    /// primary if it is behind.
    ///
    /// No sync interval is given to libSQL: [`crate::sync::worker`] runs the timer, so that
    /// failures are counted, backed off and reported.
    pub async fn open_replica(path: &Path, primary: &Primary) -> Result<Self> {
        private_fs::create_parent(path)?;
        let mut builder = Builder::new_remote_replica(path, primary.url.clone(), primary.token())
            .read_your_writes(true);
        if let Some(namespace) = &primary.namespace {
            builder = builder.namespace(namespace.clone());
        }
        let db = builder
            .build()
            .await
            .map_err(|e| Error::from(e).via_primary(&primary.display_url(), CANNOT_OPEN))?;
        private_fs::restrict(path)?;
        let backend = Self::with_pool(
            Pool::new(db, Link::Replica, DEFAULT_BUSY_TIMEOUT),
            path.to_owned(),
        );
        // A replica that already has the current schema opens at once: the sync worker
        // pulls in the background, so an unreachable primary never delays a start. A new or
        // outdated replica syncs first, to learn whether the primary needs migrating.
        if !backend.is_current().await? {
            if let Err(err) = backend.sync().await {
                tracing::warn!(primary = %primary.display_url(), error = %err,
                    "cannot sync the replica on open; serving the local copy");
            }
            backend
                .migrate()
                .await
                .map_err(|e| e.via_primary(&primary.display_url(), NO_SCHEMA_YET))?;
        }
        Ok(backend)
    }

    /// Opens the store on `primary` itself, with no local copy: every statement is a request.
    pub async fn open_remote(primary: &Primary) -> Result<Self> {
        let mut builder = Builder::new_remote(primary.url.clone(), primary.token());
        if let Some(namespace) = &primary.namespace {
            builder = builder.namespace(namespace.clone());
        }
        let db = builder
            .build()
            .await
            .map_err(|e| Error::from(e).via_primary(&primary.display_url(), CANNOT_OPEN))?;
        let backend = Self::with_pool(
            Pool::new(db, Link::Remote, DEFAULT_BUSY_TIMEOUT),
            PathBuf::from(primary.display_url()),
        );
        backend
            .migrate()
            .await
            .map_err(|e| e.via_primary(&primary.display_url(), NO_SCHEMA_YET))?;
        Ok(backend)
    }

    fn with_pool(pool: Pool, path: PathBuf) -> Self {
        LibsqlBackend {
            inner: Arc::new(Inner {
                pool,
                vectors: VectorCache::default(),
                path,
            }),
        }
    }

    /// Whether the schema is at this build's version, read without writing anything.
    async fn is_current(&self) -> Result<bool> {
        self.run(|conn| async move { migrate::is_current(&conn).await })
            .await
    }

    async fn migrate(&self) -> Result<()> {
        let name = self.inner.path.display().to_string();
        self.run(move |conn| async move { migrate::migrate(&conn, &name).await })
            .await
    }

    /// Pulls the primary's new frames into this replica; an error in other modes.
    pub async fn sync(&self) -> Result<Replicated> {
        let replicated = self.inner.pool.database().sync().await?;
        Ok(Replicated {
            frame_no: replicated.frame_no(),
            frames_synced: replicated.frames_synced() as u64,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Exact nearest neighbours by a full scan in SQL (`vector_distance_cos`): the ground
    /// truth the approximate index is measured against.
    pub async fn vector_search_exact(
        &self,
        model: &str,
        vector: &[f32],
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<VectorHit>> {
        let (model, vector, filter) = (model.to_owned(), vector.to_vec(), filter.clone());
        self.run(move |conn| async move {
            vectors::exact_search(&conn, &model, &vector, &filter, limit).await
        })
        .await
    }

    async fn run<T, F, Fut>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Connection) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T>>,
    {
        self.inner.pool.run(work).await
    }
}

/// What one sync of a replica did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replicated {
    /// The primary's frame number the replica has reached, if it has any frame.
    pub frame_no: Option<u64>,
    /// Frames applied by this sync.
    pub frames_synced: u64,
}

/// What an unreachable primary means for opening a store.
const CANNOT_OPEN: &str = "the store cannot be opened";
/// What it means for a replica's first migration check.
const NO_SCHEMA_YET: &str = "a replica that never reached its primary has no schema to serve yet";

async fn get_one(conn: &Connection, id: &str) -> Result<Option<Memory>> {
    let sql = format!("SELECT {MEMORY_COLUMNS} FROM memories m WHERE m.id = ?");
    let rows = conn.query(&sql, [id]).await?;
    Ok(collect(rows, rows::memory).await?.pop())
}

async fn get_relationship(conn: &Connection, id: &str) -> Result<Option<Relationship>> {
    let sql = format!("SELECT {RELATIONSHIP_COLUMNS} FROM relationships r WHERE r.id = ?");
    let rows = conn.query(&sql, [id]).await?;
    Ok(collect(rows, rows::relationship).await?.pop())
}

const UPSERT_VECTOR: &str = "INSERT INTO memory_vectors (memory_id, model, embedding) \
    VALUES (?, ?, ?) ON CONFLICT (memory_id) DO UPDATE SET model = excluded.model, \
    embedding = excluded.embedding";

fn vector_params(id: &str, embedding: &Embedding) -> Vec<Value> {
    vec![
        id.into(),
        embedding.model.clone().into(),
        to_blob(&embedding.vector).into(),
    ]
}

async fn set_vector(conn: &Connection, id: &str, embedding: &Embedding) -> Result<()> {
    conn.execute(UPSERT_VECTOR, vector_params(id, embedding))
        .await?;
    Ok(())
}

/// The statements of a memory insert, prepared once per transaction: preparing a statement
/// whose table has triggers costs more than running it, which matters for bulk imports.
struct MemoryWriter {
    insert: Statement,
    vector: Statement,
}

impl MemoryWriter {
    async fn prepare(conn: &Connection) -> Result<Self> {
        Ok(MemoryWriter {
            insert: conn.prepare(INSERT_MEMORY).await?,
            vector: conn.prepare(UPSERT_VECTOR).await?,
        })
    }

    /// Inserts one memory inside the caller's transaction; a replay is accepted, a clash not.
    async fn insert(
        &mut self,
        conn: &Connection,
        memory: &Memory,
        embedding: Option<&Embedding>,
    ) -> Result<(Memory, Created)> {
        let inserted = self.insert.execute(memory_params(memory)).await;
        self.insert.reset();
        if inserted? == 0 {
            let existing =
                get_one(conn, &memory.id)
                    .await?
                    .ok_or_else(|| Error::MemoryNotFound {
                        id: memory.id.clone(),
                    })?;
            return if existing.same_content(memory) {
                Ok((existing, Created::Existing))
            } else {
                Err(Error::IdConflict {
                    what: "memory",
                    id: memory.id.clone(),
                })
            };
        }
        if let Some(embedding) = embedding {
            let done = self
                .vector
                .execute(vector_params(&memory.id, embedding))
                .await;
            self.vector.reset();
            done?;
        }
        Ok((memory.clone(), Created::New))
    }
}

/// Deletes the row of `table` (a constant) with `id`; false when there was none.
async fn delete_by_id(conn: &Connection, table: &str, id: &str) -> Result<bool> {
    let sql = format!("DELETE FROM {table} WHERE id = ?");
    Ok(conn.execute(&sql, [id]).await? > 0)
}

/// The version of a row, or `None` when it does not exist.
async fn version_of(conn: &Connection, table: &str, id: &str) -> Result<Option<i64>> {
    let sql = format!("SELECT version FROM {table} WHERE id = ?");
    let mut rows = conn.query(&sql, [id]).await?;
    Ok(match rows.next().await? {
        Some(row) => Some(row.get(0)?),
        None => None,
    })
}

/// `ids` without repeats, first occurrence kept: chunked `IN` lists must not see an id twice.
fn distinct(ids: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
}

async fn count(conn: &Connection, sql: &str) -> Result<u64> {
    let mut rows = conn.query(sql, ()).await?;
    Ok(match rows.next().await? {
        Some(row) => row.get::<i64>(0)?.max(0) as u64,
        None => 0,
    })
}

async fn grouped(conn: &Connection, sql: &str) -> Result<Vec<(String, u64)>> {
    let mut rows = conn.query(sql, ()).await?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        out.push((row.get(0)?, row.get::<i64>(1)?.max(0) as u64));
    }
    Ok(out)
}

#[async_trait]
impl GraphBackend for LibsqlBackend {
    async fn meta(&self) -> Result<StoreMeta> {
        self.run(|conn| async move {
            let mut rows = conn.query("SELECT key, value FROM meta", ()).await?;
            let mut meta = StoreMeta {
                schema_version: SCHEMA_VERSION,
                ..StoreMeta::default()
            };
            while let Some(row) = rows.next().await? {
                let value: String = row.get(1)?;
                match row.get_str(0)? {
                    "store_id" => meta.store_id = value,
                    "embedding_model" => meta.embedding_model = Some(value),
                    "embedding_dim" => meta.embedding_dim = value.parse().ok(),
                    _ => {}
                }
            }
            Ok(meta)
        })
        .await
    }

    async fn claim_embedding_space(&self, model: &str, dim: usize) -> Result<(String, usize)> {
        let model = model.to_owned();
        self.run(move |conn| async move {
            write_tx(&conn, || async {
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('embedding_model', ?), ('embedding_dim', ?)",
                    (model.as_str(), dim.to_string()),
                )
                .await?;
                let mut rows = conn
                    .query(
                        "SELECT (SELECT value FROM meta WHERE key = 'embedding_model'), \
                         (SELECT value FROM meta WHERE key = 'embedding_dim')",
                        (),
                    )
                    .await?;
                let row = rows.next().await?.ok_or_else(|| Error::Corrupt {
                    what: "meta",
                    reason: "embedding space missing after recording it".into(),
                })?;
                let dim: String = row.get(1)?;
                let dim = dim.parse().map_err(|_| Error::Corrupt {
                    what: "meta",
                    reason: format!("embedding_dim {dim:?} is not a number"),
                })?;
                Ok((row.get(0)?, dim))
            })
            .await
        })
        .await
    }

    async fn replace_embedding_space(
        &self,
        model: &str,
        dim: usize,
    ) -> Result<Option<(String, usize)>> {
        let model = model.to_owned();
        self.run(move |conn| async move {
            write_tx(&conn, || async {
                let mut rows = conn
                    .query(
                        "SELECT (SELECT value FROM meta WHERE key = 'embedding_model'), \
                         (SELECT value FROM meta WHERE key = 'embedding_dim')",
                        (),
                    )
                    .await?;
                let previous = match rows.next().await? {
                    Some(row) => {
                        let model: Option<String> = row.get(0)?;
                        let dim: Option<String> = row.get(1)?;
                        model.zip(dim.and_then(|d| d.parse().ok()))
                    }
                    None => None,
                };
                drop(rows);
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('embedding_model', ?), ('embedding_dim', ?)",
                    (model.as_str(), dim.to_string()),
                )
                .await?;
                Ok(previous)
            })
            .await
        })
        .await
    }

    async fn create_memory(
        &self,
        memory: &Memory,
        embedding: Option<&Embedding>,
    ) -> Result<(Memory, Created)> {
        let (memory, embedding) = (memory.clone(), embedding.cloned());
        self.run(move |conn| async move {
            write_tx(&conn, || async {
                let mut writer = MemoryWriter::prepare(&conn).await?;
                writer.insert(&conn, &memory, embedding.as_ref()).await
            })
            .await
        })
        .await
    }

    async fn create_memories(&self, batch: &[(Memory, Option<Embedding>)]) -> Result<Vec<Created>> {
        let batch = batch.to_vec();
        self.run(move |conn| async move {
            write_tx(&conn, || async {
                let mut writer = MemoryWriter::prepare(&conn).await?;
                let mut out = Vec::with_capacity(batch.len());
                for (memory, embedding) in &batch {
                    out.push(writer.insert(&conn, memory, embedding.as_ref()).await?.1);
                }
                Ok(out)
            })
            .await
        })
        .await
    }

    async fn get_memories(&self, ids: &[String]) -> Result<Vec<Memory>> {
        let ids = ids.to_vec();
        self.run(move |conn| async move {
            if let [id] = ids.as_slice() {
                return Ok(get_one(&conn, id).await?.into_iter().collect());
            }
            let mut found = std::collections::HashMap::new();
            for chunk in ids.chunks(IN_CHUNK) {
                let sql = format!(
                    "SELECT {MEMORY_COLUMNS} FROM memories m WHERE m.id IN ({})",
                    placeholders(chunk.len())
                );
                let rows = conn.query(&sql, chunk.to_vec()).await?;
                for m in collect(rows, rows::memory).await? {
                    found.insert(m.id.clone(), m);
                }
            }
            Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
        })
        .await
    }

    async fn update_memory(
        &self,
        id: &str,
        patch: &MemoryPatch,
        embedding: EmbeddingChange<'_>,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Memory> {
        let (id, patch) = (id.to_owned(), patch.clone());
        let embedding = match embedding {
            EmbeddingChange::Keep => None,
            EmbeddingChange::Clear => Some(None),
            EmbeddingChange::Set(e) => Some(Some(e.clone())),
        };
        self.run(move |conn| async move {
            write_tx(&conn, || async {
                let actual = version_of(&conn, "memories", &id).await?;
                let actual = actual.ok_or_else(|| Error::MemoryNotFound { id: id.clone() })?;
                super::expect_version("memory", &id, actual, expected_version)?;
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
                        id.clone().into(),
                    ],
                )
                .await?;
                match &embedding {
                    None => {}
                    Some(None) => {
                        conn.execute(
                            "DELETE FROM memory_vectors WHERE memory_id = ?",
                            [id.as_str()],
                        )
                        .await?;
                    }
                    Some(Some(e)) => set_vector(&conn, &id, e).await?,
                }
                get_one(&conn, &id)
                    .await?
                    .ok_or_else(|| Error::MemoryNotFound { id: id.clone() })
            })
            .await
        })
        .await
    }

    async fn delete_memory(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.run(move |conn| async move {
            match delete_by_id(&conn, "memories", &id).await? {
                true => Ok(()),
                false => Err(Error::MemoryNotFound { id }),
            }
        })
        .await
    }

    async fn touch(&self, ids: &[String], at: DateTime<Utc>) -> Result<()> {
        let ids = distinct(ids);
        self.run(move |conn| async move {
            write_tx(&conn, || async {
                for chunk in ids.chunks(IN_CHUNK) {
                    let sql = format!(
                        "UPDATE memories SET accessed_at = ?, access_count = access_count + 1 \
                     WHERE id IN ({})",
                        placeholders(chunk.len())
                    );
                    let mut params: Vec<Value> = vec![micros(at).into()];
                    params.extend(chunk.iter().map(|id| Value::from(id.clone())));
                    conn.execute(&sql, params).await?;
                }
                Ok(())
            })
            .await
        })
        .await
    }

    async fn list_memories(
        &self,
        filter: &Filter,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page> {
        let mut clause = Clause::from_filter(filter);
        if let Some(c) = after {
            clause.and(
                "(m.created_at, m.id) < (?, ?)",
                [c.created_at_micros.into(), c.id.clone().into()],
            );
        }
        self.run(move |conn| async move {
            let sql = format!(
                "SELECT {MEMORY_COLUMNS} FROM memories m WHERE 1{} \
                 ORDER BY m.created_at DESC, m.id DESC LIMIT ?",
                clause.sql
            );
            let mut params = clause.params;
            params.push((limit as i64 + 1).into());
            let mut memories = collect(conn.query(&sql, params).await?, rows::memory).await?;
            let next_cursor = (memories.len() > limit).then(|| {
                memories.truncate(limit);
                Cursor::after(memories.last().expect("limit > 0 when more rows exist")).encode()
            });
            Ok(Page {
                memories,
                next_cursor,
            })
        })
        .await
    }

    async fn keyword_search(
        &self,
        terms: &[String],
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<KeywordHit>> {
        if terms.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let terms = terms.to_vec();
        let clause = Clause::from_filter(filter);
        self.run(move |conn| async move { keyword::search(&conn, &terms, &clause, limit).await })
            .await
    }

    async fn vector_search(
        &self,
        model: &str,
        vector: &[f32],
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<VectorHit>> {
        let (model, vector, filter) = (model.to_owned(), vector.to_vec(), filter.clone());
        let inner = Arc::clone(&self.inner);
        self.run(move |conn| async move {
            inner
                .vectors
                .search(&conn, &model, &vector, &filter, limit)
                .await
        })
        .await
    }

    async fn create_relationship(&self, rel: &Relationship) -> Result<(Relationship, Created)> {
        let rel = rel.clone();
        self.run(move |conn| async move {
            write_tx(&conn, || async {
                for id in [&rel.source_id, &rel.target_id] {
                    if version_of(&conn, "memories", id).await?.is_none() {
                        return Err(Error::UnknownEndpoint { id: id.clone() });
                    }
                }
                if let Some(existing) = get_relationship(&conn, &rel.id).await? {
                    return if existing.same_content(&rel) {
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
                        relationship_params(&rel),
                    )
                    .await?;
                if inserted == 0 {
                    let mut rows = conn
                        .query(
                            "SELECT id FROM relationships WHERE source_id = ? AND target_id = ? AND rel_type = ?",
                            (rel.source_id.as_str(), rel.target_id.as_str(), rel.rel_type.as_str()),
                        )
                        .await?;
                    let id = match rows.next().await? {
                        Some(row) => row.get(0)?,
                        None => String::new(),
                    };
                    return Err(Error::RelationshipExists {
                        id,
                        source_id: rel.source_id.clone(),
                        target_id: rel.target_id.clone(),
                        rel_type: rel.rel_type.clone(),
                    });
                }
                Ok((rel.clone(), Created::New))
            })
            .await
        })
        .await
    }

    async fn get_relationship(&self, id: &str) -> Result<Relationship> {
        let id = id.to_owned();
        self.run(move |conn| async move {
            get_relationship(&conn, &id)
                .await?
                .ok_or(Error::RelationshipNotFound { id })
        })
        .await
    }

    async fn update_relationship(
        &self,
        id: &str,
        patch: &RelationshipPatch,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Relationship> {
        let (id, patch) = (id.to_owned(), patch.clone());
        self.run(move |conn| async move {
            write_tx(&conn, || async {
                let actual = version_of(&conn, "relationships", &id).await?;
                let actual =
                    actual.ok_or_else(|| Error::RelationshipNotFound { id: id.clone() })?;
                super::expect_version("relationship", &id, actual, expected_version)?;
                let current = get_relationship(&conn, &id)
                    .await?
                    .ok_or_else(|| Error::RelationshipNotFound { id: id.clone() })?;
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
                        id.clone().into(),
                    ],
                )
                .await?;
                get_relationship(&conn, &id)
                    .await?
                    .ok_or_else(|| Error::RelationshipNotFound { id: id.clone() })
            })
            .await
        })
        .await
    }

    async fn delete_relationship(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.run(move |conn| async move {
            match delete_by_id(&conn, "relationships", &id).await? {
                true => Ok(()),
                false => Err(Error::RelationshipNotFound { id }),
            }
        })
        .await
    }

    async fn relationships_of(
        &self,
        ids: &[String],
        direction: Direction,
        rel_types: &[String],
        valid_at: Option<DateTime<Utc>>,
    ) -> Result<Vec<Relationship>> {
        let (ids, rel_types) = (ids.to_vec(), rel_types.to_vec());
        self.run(move |conn| async move {
            neighbourhood::relationships_of(&conn, &ids, direction, &rel_types, valid_at).await
        })
        .await
    }

    async fn summaries(&self, ids: &[String], filter: &Filter) -> Result<Vec<MemorySummary>> {
        let ids = ids.to_vec();
        let filter = filter.clone();
        self.run(move |conn| async move { neighbourhood::summaries(&conn, &ids, &filter).await })
            .await
    }

    async fn warm_up_vectors(&self, model: &str, dim: usize) -> Result<()> {
        let model = model.to_owned();
        let inner = Arc::clone(&self.inner);
        self.run(move |conn| async move { inner.vectors.refresh(&conn, &model, dim).await })
            .await
    }

    async fn expand(
        &self,
        ids: &[String],
        direction: Direction,
        rel_types: &[String],
        valid_at: Option<DateTime<Utc>>,
        filter: &Filter,
    ) -> Result<(Vec<Relationship>, Vec<MemorySummary>)> {
        let (ids, rel_types, filter) = (ids.to_vec(), rel_types.to_vec(), filter.clone());
        self.run(move |conn| async move {
            let rels =
                neighbourhood::relationships_of(&conn, &ids, direction, &rel_types, valid_at)
                    .await?;
            let far = super::far_ends(&ids, &rels);
            let summaries = neighbourhood::summaries(&conn, &far, &filter).await?;
            Ok((rels, summaries))
        })
        .await
    }

    async fn stats(&self) -> Result<Stats> {
        self.run(|conn| async move {
            // A SELECT over the pragma functions, not `PRAGMA page_count`: an embedded replica
            // forwards that pragma to the primary, and this is a question about this file.
            let size_bytes = count(
                &conn,
                "SELECT p.page_count * s.page_size FROM pragma_page_count() p, pragma_page_size() s",
            )
            .await?;
            Ok(Stats {
                memories: count(&conn, "SELECT count(*) FROM memories").await?,
                relationships: count(&conn, "SELECT count(*) FROM relationships").await?,
                embedded: count(
                    &conn,
                    "SELECT count(*) FROM memory_vectors WHERE model = coalesce(\
                     (SELECT value FROM meta WHERE key = 'embedding_model'), model)",
                )
                .await?,
                by_kind: grouped(
                    &conn,
                    "SELECT kind, count(*) AS n FROM memories GROUP BY kind ORDER BY n DESC, kind",
                )
                .await?,
                by_rel_type: grouped(
                    &conn,
                    "SELECT rel_type, count(*) AS n FROM relationships GROUP BY rel_type \
                     ORDER BY n DESC, rel_type",
                )
                .await?,
                size_bytes,
            })
        })
        .await
    }

    async fn import_batch(&self, batch: &ImportBatch, dry_run: bool) -> Result<ImportOutcome> {
        let batch = batch.clone();
        self.run(move |conn| async move { import::import_batch(&conn, &batch, dry_run).await })
            .await
    }

    async fn embeddings(&self, ids: &[String]) -> Result<Vec<(String, Embedding)>> {
        let ids = distinct(ids);
        self.run(move |conn| async move { import::embeddings(&conn, &ids).await })
            .await
    }

    async fn check_integrity(&self) -> Result<Vec<IntegrityCheck>> {
        self.run(|conn| async move { maintenance::integrity(&conn).await })
            .await
    }

    async fn memories_without_embedding(&self, model: &str, limit: usize) -> Result<Vec<Memory>> {
        let model = model.to_owned();
        self.run(move |conn| async move {
            pending::memories_without_embedding(&conn, &model, limit).await
        })
        .await
    }

    async fn set_embeddings(&self, batch: &[(String, i64, Embedding)]) -> Result<usize> {
        let batch = batch.to_vec();
        self.run(move |conn| async move { pending::set_embeddings(&conn, &batch).await })
            .await
    }
}
