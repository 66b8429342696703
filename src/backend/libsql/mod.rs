//! The libSQL backend: a database file on this machine (local mode), an embedded replica of a
//! libSQL primary (replica mode) or the primary itself over HTTP (remote mode). The SQL is the
//! same in all three; [`pool`] knows how each kind of connection is set up.
//!
//! Where things are, one job a room:
//! - [`open`] opens each kind of store and migrates it at open ([`migrate`] holds the schema
//!   steps); [`primary`] says where a primary is;
//! - [`pool`] hands out connections and runs units of work off the async workers;
//! - [`write`] creates, updates and deletes memories and relationships; [`read`] reads them
//!   back by id or page; [`meta`] keeps the store's own facts and statistics;
//! - [`keyword`] (full text), [`vectors`] (the in-process vector index kept in step with the
//!   table) and [`neighbourhood`] (one hop, summaries) answer queries;
//! - [`changes`] tells front ends that follow other writers when anything was committed;
//! - [`import`], [`pending`] and [`maintenance`]: batch import, memories waiting for a vector,
//!   integrity checks, backup and vacuum;
//! - [`rows`] and [`filter`] translate between SQL and the model;
//! - this file is the glue: the [`GraphBackend`] impl, each method one unit of work calling
//!   into the rooms above.

mod changes;
mod filter;
mod import;
mod keyword;
mod maintenance;
mod meta;
mod migrate;
mod neighbourhood;
mod open;
mod pending;
mod pool;
mod primary;
mod read;
mod rows;
mod vectors;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use libsql::Connection;

pub use migrate::{SCHEMA_VERSION, migrate_to};
pub use open::{DEFAULT_BUSY_TIMEOUT, Replicated};
pub use primary::Primary;

use self::changes::ChangeWatch;
use self::filter::Clause;
use self::pool::Pool;
use self::rows::distinct;
use self::vectors::VectorCache;
use super::{
    Cursor, EmbeddingChange, GraphBackend, IdKind, ImportBatch, ImportOutcome, IntegrityCheck,
};
use crate::error::{Error, Result};
use crate::model::{
    Created, Direction, Embedding, Filter, KeywordHit, LinkedMemory, Memory, MemoryPatch,
    MemorySummary, Page, Relationship, RelationshipPatch, Stats, StoreMeta, VectorHit,
};

/// A store in a libSQL database.
#[derive(Clone)]
pub struct LibsqlBackend {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    vectors: VectorCache,
    stats: meta::StatsCache,
    path: PathBuf,
    changes: ChangeWatch,
}

impl LibsqlBackend {
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

    /// A number that changes whenever anything is committed to the store, by this process or
    /// any other (see `changes.rs`); `None` for a remote store, where there is no such number.
    pub async fn data_version(&self) -> Result<Option<i64>> {
        self.inner.changes.data_version(&self.inner.pool).await
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

#[async_trait]
impl GraphBackend for LibsqlBackend {
    async fn meta(&self) -> Result<StoreMeta> {
        self.run(|conn| async move { meta::meta(&conn).await })
            .await
    }

    async fn claim_embedding_space(&self, model: &str, dim: usize) -> Result<(String, usize)> {
        let model = model.to_owned();
        self.run(move |conn| async move { meta::claim_embedding_space(&conn, &model, dim).await })
            .await
    }

    async fn replace_embedding_space(
        &self,
        model: &str,
        dim: usize,
    ) -> Result<Option<(String, usize)>> {
        let model = model.to_owned();
        self.run(move |conn| async move { meta::replace_embedding_space(&conn, &model, dim).await })
            .await
    }

    async fn create_linked_memory(
        &self,
        memory: &Memory,
        embedding: Option<&Embedding>,
        relationships: &[Relationship],
    ) -> Result<LinkedMemory> {
        let (memory, embedding) = (memory.clone(), embedding.cloned());
        let relationships = relationships.to_vec();
        self.run(move |conn| async move {
            write::create_linked_memory(&conn, &memory, embedding.as_ref(), &relationships).await
        })
        .await
    }

    async fn create_memories(&self, batch: &[(Memory, Option<Embedding>)]) -> Result<Vec<Created>> {
        let batch = batch.to_vec();
        self.run(move |conn| async move { write::create_memories(&conn, &batch).await })
            .await
    }

    async fn get_memories(&self, ids: &[String]) -> Result<Vec<Memory>> {
        let ids = ids.to_vec();
        self.run(move |conn| async move { read::get_memories(&conn, &ids).await })
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
            write::update_memory(&conn, &id, &patch, &embedding, expected_version, now).await
        })
        .await
    }

    async fn delete_memory(&self, id: &str) -> Result<Vec<Relationship>> {
        let id = id.to_owned();
        self.run(move |conn| async move { write::delete_memory(&conn, &id).await })
            .await
    }

    async fn touch(&self, ids: &[String], at: DateTime<Utc>) -> Result<()> {
        let ids = distinct(ids);
        self.run(move |conn| async move { write::touch(&conn, &ids, at).await })
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
        self.run(move |conn| async move { read::list_memories(&conn, clause, limit).await })
            .await
    }

    async fn neighbours_in_time(
        &self,
        anchors: &[Memory],
        filter: &Filter,
    ) -> Result<Vec<(String, Memory)>> {
        let anchors = anchors.to_vec();
        let clause = Clause::from_filter(filter);
        self.run(move |conn| async move {
            let mut found = Vec::new();
            for anchor in &anchors {
                for memory in read::beside(&conn, anchor, &clause).await? {
                    found.push((anchor.id.clone(), memory));
                }
            }
            Ok(found)
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
        self.run(move |conn| async move { write::create_relationship(&conn, &rel).await })
            .await
    }

    async fn get_relationship(&self, id: &str) -> Result<Relationship> {
        let id = id.to_owned();
        self.run(move |conn| async move {
            read::get_relationship(&conn, &id)
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
            write::update_relationship(&conn, &id, &patch, expected_version, now).await
        })
        .await
    }

    async fn delete_relationship(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.run(move |conn| async move { write::delete_relationship(&conn, &id).await })
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

    async fn ids_with_prefix(
        &self,
        kind: IdKind,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        let prefix = prefix.to_owned();
        self.run(
            move |conn| async move { read::ids_with_prefix(&conn, kind, &prefix, limit).await },
        )
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
        self.inner.stats.stats(&self.inner.pool).await
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
