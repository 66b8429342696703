//! The libSQL backend: a database file on this machine (local mode), an embedded replica of a
//! libSQL primary (replica mode) or the primary itself over HTTP (remote mode). The SQL is the
//! same in all three; [`pool`] knows how each kind of connection is set up.
//!
//! Where things are, one job a room:
//! - [`open`] opens each kind of store and migrates it at open ([`migrate`] holds the schema
//!   steps); [`primary`] says where a primary is;
//! - [`pool`] hands out connections and runs units of work off the async workers; each
//!   connection keeps the statements it prepared ([`statements`]);
//! - [`write`] creates, updates and deletes memories and relationships; [`read`] reads them
//!   back by id or page; [`meta`] keeps the store's own facts; [`tally`] runs this process's
//!   writes on one connection and keeps the statistics exact by what each changed;
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
mod held;
mod import;
mod keyword;
mod maintenance;
mod meta;
mod migrate;
mod neighbourhood;
mod open;
mod pending;
mod pool;
mod postings;
mod primary;
mod rank;
mod read;
mod rows;
mod statements;
mod tail;
mod tally;
mod tokenize;
mod vectors;
mod write;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use migrate::{SCHEMA_VERSION, migrate_to};
pub use open::{DEFAULT_BUSY_TIMEOUT, Replicated};
pub use primary::Primary;

use self::changes::ChangeWatch;
use self::filter::Clause;
use self::pool::{Conn, Pool};
use self::postings::{Fresh, KeywordCache};
use self::rows::distinct;
use self::tail::Tail;
use self::tally::{Delta, Footprint, Tally, footprint};
use self::vectors::VectorCache;
use super::{
    Cursor, EmbeddingChange, GraphBackend, IdKind, ImportBatch, ImportOutcome, IntegrityCheck,
    NewRecord,
};
use crate::error::{Error, Result};
use crate::model::{
    Access, Created, Direction, Embedding, Filter, KeywordHit, KeywordMatch, LinkedMemory, Memory,
    MemoryPatch, MemorySummary, Page, Relationship, RelationshipPatch, Stats, StoreMeta, VectorHit,
};
use crate::text;

/// A store in a libSQL database.
#[derive(Clone)]
pub struct LibsqlBackend {
    shared: Arc<Shared>,
}

/// What every clone of a backend shares: the file, and the database open on it. The open
/// database is replaced as a whole when a damaged replica is downloaded again
/// ([`LibsqlBackend::reopen_replica`]), so every holder of the backend — the sync layer, the
/// maintenance commands, the change watch of a front end — moves to the new copy at once.
struct Shared {
    path: PathBuf,
    open: RwLock<Arc<Inner>>,
}

/// One open database and what is cached from it.
struct Inner {
    pool: Pool,
    vectors: VectorCache,
    /// The full-text index's postings in memory (`postings.rs`).
    keywords: KeywordCache,
    tally: Tally,
    changes: ChangeWatch,
    /// What searching the full-text index's tail needs.
    tail: Arc<Tail>,
}

impl Inner {
    /// The postings in memory, brought up to date, when a search may use them: `None` when
    /// they were never loaded, or fell behind and are loaded again aside (see
    /// `KeywordCache::refresh`), while FTS5 answers.
    async fn current_keywords(
        &self,
        conn: &Conn,
        backend: LibsqlBackend,
    ) -> Result<Option<&KeywordCache>> {
        Ok(match self.keywords.refresh(conn).await? {
            Fresh::Current => Some(&self.keywords),
            Fresh::NotLoaded => None,
            Fresh::Dropped => {
                tokio::spawn(async move { backend.warm_up_keywords().await });
                None
            }
        })
    }
}

impl LibsqlBackend {
    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The database open now. Units of work hold it while they run, so a replacement never
    /// pulls a connection from under one.
    fn current(&self) -> Arc<Inner> {
        Arc::clone(&self.shared.open.read().expect("open database lock"))
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
        let inner = self.current();
        inner.changes.data_version(&inner.pool).await
    }

    async fn run<T, F, Fut>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T>>,
    {
        self.current().pool.run(work).await
    }

    /// Runs a short read in place (see [`Pool::read`]).
    async fn read<T, F, Fut>(&self, work: F) -> Result<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        self.current().pool.read(work).await
    }

    /// Runs a unit of work that also uses what is cached from the open database (the vector
    /// index, the full-text tail's counts): the cache and the connection come from the same
    /// copy, even while a damaged replica is being replaced.
    async fn run_on<T, F, Fut>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Inner>, Conn) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let inner = self.current();
        let pool_holder = Arc::clone(&inner);
        pool_holder.pool.run(move |conn| work(inner, conn)).await
    }

    /// Runs a short write that says what it changed in the statistics (see `tally.rs`), in
    /// place when the write lock is free.
    async fn write<T, F, Fut>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(T, Delta)>>,
    {
        let inner = self.current();
        inner.tally.write(&inner.pool, true, work).await
    }

    /// Runs a bulk write (a batch of records) like [`LibsqlBackend::write`], always off the
    /// async workers: it takes milliseconds.
    async fn write_bulk<T, F, Fut>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(T, Delta)>>,
    {
        let inner = self.current();
        inner.tally.write(&inner.pool, false, work).await
    }
}

/// The clause of a listing: `filter`, and past `after` when it is given.
fn listing(filter: &Filter, after: Option<&Cursor>) -> Clause {
    let mut clause = Clause::from_filter(filter);
    if let Some(c) = after {
        clause.and(
            "(m.created_at, m.id) < (?, ?)",
            [c.created_at_micros.into(), c.id.clone().into()],
        );
    }
    clause
}

/// Adds to `delta` what creating `linked` (with `embedding`) changed: the memory and the
/// relationships that are new, not those that existed already.
fn linked_delta(delta: &mut Delta, linked: &LinkedMemory, embedding: Option<&Embedding>) {
    if linked.created == Created::New {
        delta.memory(&new_memory(&linked.memory, embedding), 1);
    }
    for (rel, created) in &linked.relationships {
        if *created == Created::New {
            delta.relationship(&rel.rel_type, 1);
        }
    }
}

/// What a new memory adds to the statistics.
fn new_memory(memory: &Memory, embedding: Option<&Embedding>) -> Footprint {
    Footprint {
        kind: memory.kind.clone(),
        vector_model: embedding.map(|e| e.model.clone()),
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
        self.write(move |conn| async move {
            let linked =
                write::create_linked_memory(&conn, &memory, embedding.as_ref(), &relationships)
                    .await?;
            let mut delta = Delta::default();
            linked_delta(&mut delta, &linked, embedding.as_ref());
            Ok((linked, delta))
        })
        .await
    }

    async fn create_linked_memories(&self, batch: &[NewRecord]) -> Result<Vec<LinkedMemory>> {
        let batch = batch.to_vec();
        self.write_bulk(move |conn| async move {
            let written = write::create_linked_memories(&conn, &batch).await?;
            let mut delta = Delta::default();
            for (record, linked) in batch.iter().zip(&written) {
                linked_delta(&mut delta, linked, record.embedding.as_ref());
            }
            Ok((written, delta))
        })
        .await
    }

    async fn create_memories(&self, batch: &[(Memory, Option<Embedding>)]) -> Result<Vec<Created>> {
        let batch = batch.to_vec();
        let local = !self.current().pool.replicated();
        self.write_bulk(move |conn| async move {
            let created = write::create_memories(&conn, &batch, local).await?;
            let mut delta = Delta::default();
            for ((memory, embedding), created) in batch.iter().zip(&created) {
                if *created == Created::New {
                    delta.memory(&new_memory(memory, embedding.as_ref()), 1);
                }
            }
            Ok((created, delta))
        })
        .await
    }

    async fn get_memories(&self, ids: &[String]) -> Result<Vec<Memory>> {
        let ids = ids.to_vec();
        self.read(move |conn| async move { read::get_memories(&conn, &ids).await })
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
        self.write(move |conn| async move {
            let before = footprint(&conn, &id).await?;
            let memory =
                write::update_memory(&conn, &id, &patch, &embedding, expected_version, now).await?;
            let mut delta = Delta::default();
            if let Some(before) = before {
                let after = Footprint {
                    kind: memory.kind.clone(),
                    vector_model: match &embedding {
                        None => before.vector_model.clone(),
                        Some(set) => set.as_ref().map(|e| e.model.clone()),
                    },
                };
                if after != before {
                    delta.memory(&before, -1);
                    delta.memory(&after, 1);
                }
            }
            Ok((memory, delta))
        })
        .await
    }

    async fn delete_memory(&self, id: &str) -> Result<Vec<Relationship>> {
        let id = id.to_owned();
        self.write(move |conn| async move {
            let before = footprint(&conn, &id).await?;
            let removed = write::delete_memory(&conn, &id).await?;
            let mut delta = Delta::default();
            if let Some(before) = before {
                delta.memory(&before, -1);
            }
            for rel in &removed {
                delta.relationship(&rel.rel_type, -1);
            }
            Ok((removed, delta))
        })
        .await
    }

    async fn touch(&self, accesses: &[Access]) -> Result<()> {
        if accesses.is_empty() {
            return Ok(());
        }
        let accesses = accesses.to_vec();
        self.write(move |conn| async move {
            write::touch(&conn, &accesses).await?;
            Ok(((), Delta::default()))
        })
        .await
    }

    async fn list_memories(
        &self,
        filter: &Filter,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page> {
        let clause = listing(filter, after);
        self.read(move |conn| async move { read::list_memories(&conn, clause, limit).await })
            .await
    }

    async fn list_summaries(
        &self,
        filter: &Filter,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<MemorySummary>> {
        let clause = listing(filter, after);
        self.read(move |conn| async move { read::list_summaries(&conn, clause, limit).await })
            .await
    }

    async fn neighbours_in_time(
        &self,
        anchors: &[Memory],
        steps: usize,
        filter: &Filter,
    ) -> Result<Vec<(String, Memory)>> {
        let anchors = anchors.to_vec();
        let clause = Clause::from_filter(filter);
        self.read(move |conn| async move {
            let mut found = Vec::new();
            for anchor in &anchors {
                for memory in read::beside(&conn, anchor, steps, &clause).await? {
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
        let matches = self.keyword_matches(terms, filter, limit).await?;
        Ok(matches
            .into_iter()
            .map(|found| text::highlighted(found, terms))
            .collect())
    }

    async fn keyword_matches(
        &self,
        terms: &[String],
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<KeywordMatch>> {
        if terms.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let terms = terms.to_vec();
        let clause = Clause::from_filter(filter);
        let backend = self.clone();
        self.run_on(move |inner, conn| async move {
            let scorer = keyword::Scorer::over(inner.pool.link());
            let keywords = inner.current_keywords(&conn, backend).await?;
            let hits = keyword::search(&conn, scorer, keywords, &terms, &clause, limit).await?;
            tail::search_with_tail(&conn, &inner.tail, &terms, &clause, hits, limit).await
        })
        .await
    }

    async fn memories_holding(&self, words: &[String], limit: usize) -> Result<Vec<Memory>> {
        if words.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let words = words.to_vec();
        let backend = self.clone();
        self.run_on(move |inner, conn| async move {
            let keywords = inner.current_keywords(&conn, backend).await?;
            let found = keyword::holding(&conn, keywords, &words, limit).await?;
            tail::holding_with_tail(&conn, &inner.tail, &words, found, limit).await
        })
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
        self.run_on(move |inner, conn| async move {
            inner
                .vectors
                .search(&conn, &model, &vector, &filter, limit)
                .await
        })
        .await
    }

    async fn vector_candidates(
        &self,
        model: &str,
        vector: &[f32],
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<VectorHit>> {
        let (model, vector, filter) = (model.to_owned(), vector.to_vec(), filter.clone());
        self.run_on(move |inner, conn| async move {
            inner
                .vectors
                .nearest(&conn, &model, &vector, &filter, limit)
                .await
        })
        .await
    }

    async fn indexed_vectors(
        &self,
        model: &str,
        dim: usize,
        ids: &[String],
    ) -> Result<Vec<(String, Vec<f32>)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(found) = self
            .current()
            .vectors
            .loaded_approximations(model, dim, ids)
        {
            return Ok(found);
        }
        let (model, ids) = (model.to_owned(), ids.to_vec());
        self.run_on(move |inner, conn| async move {
            inner.vectors.refresh(&conn, &model, dim).await?;
            Ok(inner
                .vectors
                .loaded_approximations(&model, dim, &ids)
                .unwrap_or_default())
        })
        .await
    }

    async fn vectors_within(
        &self,
        model: &str,
        vector: &[f32],
        min_similarity: f32,
        limit: usize,
    ) -> Result<Vec<VectorHit>> {
        let (model, vector) = (model.to_owned(), vector.to_vec());
        self.run_on(move |inner, conn| async move {
            inner
                .vectors
                .within(&conn, &model, &vector, min_similarity, limit)
                .await
        })
        .await
    }

    async fn create_relationship(&self, rel: &Relationship) -> Result<(Relationship, Created)> {
        let rel = rel.clone();
        self.write(move |conn| async move {
            let (rel, created) = write::create_relationship(&conn, &rel).await?;
            let mut delta = Delta::default();
            if created == Created::New {
                delta.relationship(&rel.rel_type, 1);
            }
            Ok(((rel, created), delta))
        })
        .await
    }

    async fn get_relationship(&self, id: &str) -> Result<Relationship> {
        let id = id.to_owned();
        self.read(move |conn| async move {
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
        // A relationship's type is not patched: the figures stay.
        self.write(move |conn| async move {
            let rel = write::update_relationship(&conn, &id, &patch, expected_version, now).await?;
            Ok((rel, Delta::default()))
        })
        .await
    }

    async fn delete_relationship(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |conn| async move {
            let rel_type = tally::rel_type(&conn, &id).await?;
            write::delete_relationship(&conn, &id).await?;
            let mut delta = Delta::default();
            if let Some(rel_type) = rel_type {
                delta.relationship(&rel_type, -1);
            }
            Ok(((), delta))
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
        self.read(move |conn| async move {
            neighbourhood::relationships_of(&conn, &ids, direction, &rel_types, valid_at).await
        })
        .await
    }

    async fn summaries(&self, ids: &[String], filter: &Filter) -> Result<Vec<MemorySummary>> {
        let ids = ids.to_vec();
        let filter = filter.clone();
        self.read(move |conn| async move { neighbourhood::summaries(&conn, &ids, &filter).await })
            .await
    }

    async fn ids_with_prefix(
        &self,
        kind: IdKind,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        let prefix = prefix.to_owned();
        self.read(
            move |conn| async move { read::ids_with_prefix(&conn, kind, &prefix, limit).await },
        )
        .await
    }

    async fn warm_up_vectors(&self, model: &str, dim: usize) -> Result<()> {
        let model = model.to_owned();
        self.run_on(
            move |inner, conn| async move { inner.vectors.refresh(&conn, &model, dim).await },
        )
        .await
    }

    async fn warm_up_keywords(&self) -> Result<()> {
        self.run_on(move |inner, conn| async move {
            match keyword::Scorer::over(inner.pool.link()) {
                keyword::Scorer::Kept => inner.keywords.load(&conn).await,
                keyword::Scorer::Fts5 => Ok(()),
            }
        })
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
        self.read(move |conn| async move {
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
        let inner = self.current();
        inner.tally.stats(&inner.pool).await
    }

    async fn import_batch(&self, batch: Arc<ImportBatch>, dry_run: bool) -> Result<ImportOutcome> {
        self.run_on(move |inner, conn| async move {
            let local = !inner.pool.replicated();
            import::import_batch(&conn, &batch, dry_run, local).await
        })
        .await
    }

    async fn embeddings(&self, ids: &[String]) -> Result<Vec<(String, Embedding)>> {
        let ids = distinct(ids);
        self.run(move |conn| async move { import::embeddings(&conn, &ids).await })
            .await
    }

    async fn check_integrity(&self) -> Result<Vec<IntegrityCheck>> {
        self.run_on(move |inner, conn| async move {
            maintenance::integrity(&conn, inner.pool.replicated()).await
        })
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
