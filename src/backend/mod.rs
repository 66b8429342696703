//! Storage: the [`GraphBackend`] trait and its implementations.
//!
//! A backend stores rows and answers queries: full text, vectors, one-hop neighbourhoods. It
//! knows nothing of MCP, the CLI or embedding providers, and it trusts its input: records
//! arrive validated by [`crate::store::MemoryStore`]. Multi-hop walks are written once, in
//! [`walk`], on top of the one-hop primitive every backend provides.

mod import;
pub mod in_memory;
pub mod libsql;
mod walk;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::model::{
    Access, Created, Direction, Embedding, Filter, KeywordHit, KeywordMatch, LinkedMemory, Memory,
    MemoryPatch, MemorySummary, Page, Relationship, RelationshipPatch, Stats, StoreMeta, VectorHit,
};

pub use import::{
    ImportBatch, ImportOutcome, Imported, IntegrityCheck, SkipReason, decide_memory,
    decide_relationship,
};
pub use walk::{neighbours, neighbours_from, subgraph, subgraph_from};

/// The records an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Memory,
    Relationship,
}

/// What an update does to a memory's vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EmbeddingChange<'a> {
    Keep,
    /// Drop the vector (its text changed and a new one is not ready yet).
    Clear,
    Set(&'a Embedding),
}

/// A memory to insert with relationships from or to it, one item of
/// [`GraphBackend::create_linked_memories`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    pub memory: Memory,
    pub embedding: Option<Embedding>,
    pub relationships: Vec<Relationship>,
}

/// A position in listing order (newest first): the last memory of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at_micros: i64,
    pub id: String,
}

impl Cursor {
    const PREFIX: &'static str = "c1.";

    pub fn after(memory: &Memory) -> Self {
        Self::at(memory.created_at, &memory.id)
    }

    /// The cursor after the memory `summary` sums up.
    pub fn after_summary(summary: &MemorySummary) -> Self {
        Self::at(summary.created_at, &summary.id)
    }

    fn at(created_at: DateTime<Utc>, id: &str) -> Self {
        Cursor {
            created_at_micros: created_at.timestamp_micros(),
            id: id.to_owned(),
        }
    }

    pub fn encode(&self) -> String {
        format!("{}{}.{}", Self::PREFIX, self.created_at_micros, self.id)
    }

    /// Parses a cursor made by [`Cursor::encode`]; anything else is an invalid-input error.
    pub fn decode(text: &str) -> Result<Self> {
        let invalid = || {
            crate::Error::invalid(
                "cursor",
                "not a cursor returned by a previous page; omit it to start from the first page",
            )
        };
        let rest = text.strip_prefix(Self::PREFIX).ok_or_else(invalid)?;
        let (micros, id) = rest.split_once('.').ok_or_else(invalid)?;
        let created_at_micros = micros.parse().map_err(|_| invalid())?;
        if id.is_empty() {
            return Err(invalid());
        }
        Ok(Cursor {
            created_at_micros,
            id: id.to_owned(),
        })
    }
}

/// The optimistic-concurrency rule every backend applies before an update: with an expected
/// version, a record at another version is a conflict naming both.
pub(crate) fn expect_version(
    what: &'static str,
    id: &str,
    actual: i64,
    expected: Option<i64>,
) -> Result<()> {
    match expected {
        Some(expected) if expected != actual => Err(crate::Error::VersionConflict {
            what,
            id: id.to_owned(),
            expected,
            actual,
        }),
        _ => Ok(()),
    }
}

/// The endpoints of `rels` that are not among `ids`, each once, in order of appearance.
pub(crate) fn far_ends(ids: &[String], rels: &[Relationship]) -> Vec<String> {
    let near: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut seen = std::collections::HashSet::new();
    rels.iter()
        .flat_map(|r| [r.source_id.as_str(), r.target_id.as_str()])
        .filter(|id| !near.contains(id) && seen.insert(*id))
        .map(str::to_owned)
        .collect()
}

/// Of the (anchor id, neighbour) pairs two sources found, the `steps` nearest neighbours on
/// each side of each anchor in creation order, nearest first (what merging two backends'
/// `neighbours_in_time` needs).
pub(crate) fn nearest_in_time(
    anchors: &[Memory],
    steps: usize,
    found: Vec<(String, Memory)>,
) -> Vec<(String, Memory)> {
    fn key(m: &Memory) -> (DateTime<Utc>, &str) {
        (m.created_at, &m.id)
    }
    let mut sides: HashMap<(String, bool), Vec<Memory>> = HashMap::new();
    for (anchor_id, memory) in found {
        let Some(anchor) = anchors.iter().find(|a| a.id == anchor_id) else {
            continue;
        };
        let before = key(&memory) < key(anchor);
        sides.entry((anchor_id, before)).or_default().push(memory);
    }
    let mut nearest = Vec::new();
    for anchor in anchors {
        for before in [true, false] {
            let Some(mut side) = sides.remove(&(anchor.id.clone(), before)) else {
                continue;
            };
            side.sort_by(|a, b| key(a).cmp(&key(b)));
            if before {
                side.reverse();
            }
            side.dedup_by(|a, b| a.id == b.id);
            nearest.extend(side.into_iter().take(steps).map(|m| (anchor.id.clone(), m)));
        }
    }
    nearest
}

/// [`GraphBackend::create_linked_memories`] as one `create_linked_memory` per record, in
/// order, stopping at the first failure: the default, and what a backend that overrides it
/// falls back to when it cannot write the batch as one.
pub(crate) async fn create_one_by_one<B: GraphBackend + ?Sized>(
    backend: &B,
    batch: &[NewRecord],
) -> Result<Vec<LinkedMemory>> {
    let mut out = Vec::with_capacity(batch.len());
    for r in batch {
        out.push(
            backend
                .create_linked_memory(&r.memory, r.embedding.as_ref(), &r.relationships)
                .await?,
        );
    }
    Ok(out)
}

/// [`GraphBackend::expand`] as its two primitives: the default, and what a backend that
/// overrides `expand` falls back to when it cannot answer both in one.
pub(crate) async fn expand_in_two_calls<B: GraphBackend + ?Sized>(
    backend: &B,
    ids: &[String],
    direction: Direction,
    rel_types: &[String],
    valid_at: Option<DateTime<Utc>>,
    filter: &Filter,
) -> Result<(Vec<Relationship>, Vec<MemorySummary>)> {
    let rels = backend
        .relationships_of(ids, direction, rel_types, valid_at)
        .await?;
    let far = far_ends(ids, &rels);
    let summaries = backend.summaries(&far, filter).await?;
    Ok((rels, summaries))
}

/// Storage of memories and relationships.
///
/// Every method is one unit of work: it either happens completely or not at all.
#[async_trait]
pub trait GraphBackend: Send + Sync + 'static {
    /// Per-store facts: id, schema version, embedding model and dimension.
    async fn meta(&self) -> Result<StoreMeta>;

    /// Records which model (and dimension) the store's vectors come from, unless a space is
    /// already recorded; returns the recorded space either way. The first writer wins, so two
    /// processes can never fill one store with vectors of two models.
    async fn claim_embedding_space(&self, model: &str, dim: usize) -> Result<(String, usize)>;

    /// Records `model` and `dim` as the store's embedding space in place of whatever was
    /// recorded (an explicit model switch, `memctl reembed`), and returns the space it
    /// replaced. Vectors of the old model stay until each memory gets one of the new model
    /// ([`GraphBackend::set_embeddings`]); every search asks for vectors of one model, so the
    /// two are never compared.
    async fn replace_embedding_space(
        &self,
        model: &str,
        dim: usize,
    ) -> Result<Option<(String, usize)>>;

    /// Inserts a memory and relationships from or to it in one transaction: all of it, or
    /// nothing when any part fails.
    ///
    /// The memory is inserted, or accepted as a replay: when a memory with the same id and the
    /// same content exists, it is returned with [`Created::Existing`]; different content with
    /// the same id is [`crate::Error::IdConflict`]. Each relationship is then created as
    /// [`GraphBackend::create_relationship`] does (its endpoints must exist, the new memory
    /// included; one per (source, target, type); a replay by id is accepted).
    async fn create_linked_memory(
        &self,
        memory: &Memory,
        embedding: Option<&Embedding>,
        relationships: &[Relationship],
    ) -> Result<LinkedMemory>;

    /// [`GraphBackend::create_linked_memory`] for each record of `batch` in order, so a
    /// relationship may join a memory earlier in the batch. A backend that can make it one
    /// transaction does (all or nothing); this default makes one unit of work of each record
    /// and stops at the first failure, the records before it stored.
    async fn create_linked_memories(&self, batch: &[NewRecord]) -> Result<Vec<LinkedMemory>> {
        create_one_by_one(self, batch).await
    }

    /// [`GraphBackend::create_linked_memory`] without relationships.
    async fn create_memory(
        &self,
        memory: &Memory,
        embedding: Option<&Embedding>,
    ) -> Result<(Memory, Created)> {
        let linked = self.create_linked_memory(memory, embedding, &[]).await?;
        Ok((linked.memory, linked.created))
    }

    /// [`GraphBackend::create_memory`] for many memories in one transaction: all or none.
    async fn create_memories(&self, batch: &[(Memory, Option<Embedding>)]) -> Result<Vec<Created>>;

    /// The memories that exist among `ids`, in the order asked.
    async fn get_memories(&self, ids: &[String]) -> Result<Vec<Memory>>;

    /// Applies `patch`, bumps the version and sets `updated_at = now`. With `expected_version`,
    /// a memory whose version differs is left alone and the call fails with a conflict.
    async fn update_memory(
        &self,
        id: &str,
        patch: &MemoryPatch,
        embedding: EmbeddingChange<'_>,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Memory>;

    /// Deletes a memory, its relationships (both directions) and its vector, in one unit of
    /// work; returns the relationships removed with it, by id.
    async fn delete_memory(&self, id: &str) -> Result<Vec<Relationship>>;

    /// Records recalls, in one unit of work: each access adds its count to its memory's
    /// `access_count` and moves its `accessed_at` forward to its time (never back: another
    /// process may have recorded a later one). Accesses of one memory add up; unknown ids are
    /// skipped.
    async fn touch(&self, accesses: &[Access]) -> Result<()>;

    /// Memories matching `filter`, newest first, `limit` per page.
    async fn list_memories(
        &self,
        filter: &Filter,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page>;

    /// [`GraphBackend::list_memories`] as summaries, for a listing that shows no content: a
    /// backend that can read summaries without the rest of each memory does so.
    async fn list_summaries(
        &self,
        filter: &Filter,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<MemorySummary>> {
        let page = self.list_memories(filter, after, limit).await?;
        Ok(Page {
            memories: page.memories.iter().map(Memory::summary).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// For each anchor, the memories matching `filter` stored up to `steps` places before and
    /// after it (by creation time, then id): for each anchor, those before it then those after
    /// it, nearest first on each side; at most `2 × steps`, each as (anchor id, neighbour).
    async fn neighbours_in_time(
        &self,
        anchors: &[Memory],
        steps: usize,
        filter: &Filter,
    ) -> Result<Vec<(String, Memory)>>;

    /// Full-text search: memories containing any of `terms` (already normalised by
    /// [`crate::text::query_terms`]), best BM25 first.
    async fn keyword_search(
        &self,
        terms: &[String],
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<KeywordHit>>;

    /// [`GraphBackend::keyword_search`] without snippets (`text::highlighted` makes them), for
    /// a caller that ranks more matches than it shows: the store's ranked search reads a pool
    /// of 50 for a page of 10. This default drops the snippets `keyword_search` made; the
    /// libSQL backend makes none.
    async fn keyword_matches(
        &self,
        terms: &[String],
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<KeywordMatch>> {
        let hits = self.keyword_search(terms, filter, limit).await?;
        Ok(hits
            .into_iter()
            .map(|hit| KeywordMatch {
                memory: hit.memory,
                score: hit.score,
            })
            .collect())
    }

    /// Memories holding every one of `words` (lower-cased, as [`crate::text::tokens`] splits
    /// text) in their title, content or tags, at most `limit`: the bounded probe for
    /// duplicates of a memory about to be stored, which costs one lookup of the words instead
    /// of a ranking of every memory sharing any of them. This default takes the best keyword
    /// matches that hold them all; the libSQL backend asks its index for exactly those, newest
    /// first.
    async fn memories_holding(&self, words: &[String], limit: usize) -> Result<Vec<Memory>> {
        let hits = self
            .keyword_search(words, &Filter::default(), limit)
            .await?;
        Ok(hits
            .into_iter()
            .map(|hit| hit.memory)
            .filter(|m| {
                let held: std::collections::HashSet<String> =
                    crate::text::tokens(&crate::text::fields(m).join(" ")).collect();
                words.iter().all(|w| held.contains(w))
            })
            .collect())
    }

    /// Nearest memories to `vector` by cosine similarity among vectors of `model`.
    async fn vector_search(
        &self,
        model: &str,
        vector: &[f32],
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<VectorHit>>;

    /// Nearest memories to `vector` as the backend's vector index ranks them, for a caller
    /// that fuses similarities rather than reports them (hybrid search): a backend with an
    /// approximate index may skip the exact re-rank of [`Self::vector_search`], and then each
    /// hit's similarity and vector are the index's, within its error (about 0.01) of the
    /// exact ones. This default is the exact search.
    async fn vector_candidates(
        &self,
        model: &str,
        vector: &[f32],
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<VectorHit>> {
        self.vector_search(model, vector, filter, limit).await
    }

    /// The vectors of `model` (of `dim` dimensions) of the memories among `ids` as the vector
    /// index holds them, in no particular order: the same ones [`Self::vector_candidates`]
    /// scores with, to score them against other queries, for a caller that has just searched
    /// (the index may lag writes made since this process's last vector search). Memories
    /// without such a vector are left out. This default is the stored vectors
    /// ([`Self::embeddings`]).
    async fn indexed_vectors(
        &self,
        model: &str,
        dim: usize,
        ids: &[String],
    ) -> Result<Vec<(String, Vec<f32>)>> {
        Ok(self
            .embeddings(ids)
            .await?
            .into_iter()
            .filter(|(_, e)| e.model == model && e.vector.len() == dim)
            .map(|(id, e)| (id, e.vector))
            .collect())
    }

    /// Memories whose vector of `model` has a cosine similarity of at least `min_similarity`
    /// to `vector`, at most `limit`, closest first: the probe for near-duplicates of a memory
    /// about to be stored. This default keeps what a vector search of `limit` finds above
    /// the threshold; the libSQL backend asks its index for the vectors that could reach the
    /// threshold alone (for a high threshold usually none, and then it reads no vector).
    async fn vectors_within(
        &self,
        model: &str,
        vector: &[f32],
        min_similarity: f32,
        limit: usize,
    ) -> Result<Vec<VectorHit>> {
        let mut hits = self
            .vector_search(model, vector, &Filter::default(), limit)
            .await?;
        hits.retain(|hit| hit.similarity >= min_similarity);
        Ok(hits)
    }

    /// Inserts a relationship, or accepts a replay of the same one (see `create_memory`).
    async fn create_relationship(&self, rel: &Relationship) -> Result<(Relationship, Created)>;

    async fn get_relationship(&self, id: &str) -> Result<Relationship>;

    async fn update_relationship(
        &self,
        id: &str,
        patch: &RelationshipPatch,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Relationship>;

    async fn delete_relationship(&self, id: &str) -> Result<()>;

    /// One hop: the relationships touching any of `ids` in `direction`, of any of `rel_types`
    /// (all when empty), valid at `valid_at` (all when `None`).
    async fn relationships_of(
        &self,
        ids: &[String],
        direction: Direction,
        rel_types: &[String],
        valid_at: Option<DateTime<Utc>>,
    ) -> Result<Vec<Relationship>>;

    /// Summaries of the memories among `ids` that pass `filter`, in no particular order.
    async fn summaries(&self, ids: &[String], filter: &Filter) -> Result<Vec<MemorySummary>>;

    /// The ids of `kind` that start with `prefix` (lower-case), in order, at most `limit`:
    /// how a person's shortened id is resolved.
    async fn ids_with_prefix(
        &self,
        kind: IdKind,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>>;

    /// Prepares vector search over `model` (`dim` dimensions) ahead of the first query, e.g.
    /// by loading an in-process index. Backends with nothing to prepare do nothing.
    async fn warm_up_vectors(&self, _model: &str, _dim: usize) -> Result<()> {
        Ok(())
    }

    /// Prepares keyword search ahead of the first query, e.g. by loading the full-text
    /// index's postings into memory; a long-lived front end calls it once, in the background.
    /// Backends with nothing to prepare do nothing.
    async fn warm_up_keywords(&self) -> Result<()> {
        Ok(())
    }

    /// One level of a walk: [`GraphBackend::relationships_of`] `ids`, and the summaries of
    /// their far ends (endpoints not in `ids`) that pass `filter`. A backend whose calls cost
    /// a round trip answers both in one.
    async fn expand(
        &self,
        ids: &[String],
        direction: Direction,
        rel_types: &[String],
        valid_at: Option<DateTime<Utc>>,
        filter: &Filter,
    ) -> Result<(Vec<Relationship>, Vec<MemorySummary>)> {
        expand_in_two_calls(self, ids, direction, rel_types, valid_at, filter).await
    }

    async fn stats(&self) -> Result<Stats>;

    /// Writes a batch of complete records in one transaction, all or nothing. A record whose
    /// id is absent is inserted as given; one whose id exists is replaced only when the
    /// imported `(updated_at, version)` is newer and its content differs, so importing the
    /// same data twice changes nothing ([`decide_memory`], [`decide_relationship`]). A written
    /// memory gets exactly the vector given with it. With `dry_run` the outcome is computed
    /// and nothing is kept.
    ///
    /// The batch is shared: the caller counts the outcome against it afterwards, and a
    /// backend whose unit of work runs apart from the caller reads it there without a copy.
    async fn import_batch(&self, batch: Arc<ImportBatch>, dry_run: bool) -> Result<ImportOutcome>;

    /// The stored vectors of the memories among `ids` (any model), in no particular order.
    async fn embeddings(&self, ids: &[String]) -> Result<Vec<(String, Embedding)>>;

    /// Checks the storage's own consistency (indexes, orphan rows, vectors of another model
    /// than the recorded one) and reports each check; a failed check is not an error.
    async fn check_integrity(&self) -> Result<Vec<IntegrityCheck>>;

    /// Memories with no vector of `model` (none at all, or one of another model), oldest
    /// first, at most `limit`: the work list of the background embedder.
    async fn memories_without_embedding(&self, model: &str, limit: usize) -> Result<Vec<Memory>>;

    /// Stores vectors made outside a write: each `(id, version, embedding)` is written only
    /// while the memory still has `version`, so a vector of text that has changed meanwhile
    /// is dropped rather than stored. The memory itself (version, `updated_at`) is left alone.
    /// Returns how many vectors were written.
    async fn set_embeddings(&self, batch: &[(String, i64, Embedding)]) -> Result<usize>;
}
