//! [`MemoryStore`]: the use cases both front ends share, and every rule about memories.
//!
//! Front ends translate their requests into these calls; the store validates and normalises
//! input ([`validate`]), makes ids and timestamps, and drives the backend and [`crate::graph`].

mod access;
mod batch;
mod briefing;
mod capture;
mod coverage;
pub mod defaults;
mod duplicates;
mod embedding;
mod fusion;
mod path;
mod recall;
mod redact;
mod reembed;
mod search;
#[cfg(test)]
mod testing;
pub mod transfer;
mod validate;

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use self::access::AccessLog;
pub use self::briefing::{
    Briefing, CHARS_PER_TOKEN, PROMPT_BRIEFING_TOKENS, PROMPT_THRESHOLD, PromptThreshold,
    SESSION_BRIEFING_TOKENS,
};
pub use self::capture::{CaptureReport, CaptureScope, CaptureState, SessionEvent, default_project};
use self::duplicates::Probe;
pub use self::duplicates::{
    NEAR_DUPLICATE_COSINE, NEAR_DUPLICATE_WORDS, same_memory, word_overlap,
};
pub use self::embedding::EmbeddingReport;
pub use self::fusion::{FusedHit, HybridParams, ScoreParts};
pub use self::path::{FoundPath, PathQuery};
pub use self::recall::{
    BriefingHints, MIN_BRIEFING_CHARS, Recall, RecallQuery, RecallReason, Recalled,
};
pub use self::redact::{BUILTIN_NAMES, CustomPattern, RedactionConfig, RedactionError, Redactor};
pub use self::reembed::{DEFAULT_REEMBED_BATCH, ReembedOptions, ReembedReport};
pub use self::search::{SearchHit, SearchMode, SearchPage};
pub use self::validate::{Limits, parse_time};
use crate::backend::{self, Cursor, EmbeddingChange, GraphBackend, IdKind};
use crate::embed::EmbedderHandle;
use crate::error::{Error, Result};
use crate::graph::{Cycle, GraphView};
use crate::model::{
    Context, Created, Embedding, Filter, KeywordHit, LinkedMemory, Memory, MemoryPatch,
    MemorySummary, Neighbour, Page, Relationship, RelationshipPatch, Stats, StoreMeta, Subgraph,
    Traversal, VectorHit,
};

/// A memory to create. Only kind, title and content are required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewMemory {
    /// Writer-made id for replays and imports; a new UUIDv7 when absent.
    pub id: Option<String>,
    pub kind: String,
    pub title: String,
    pub content: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub context: Context,
    pub importance: Option<f32>,
    pub confidence: Option<f32>,
    /// Original creation time for imports; now when absent.
    pub created_at: Option<DateTime<Utc>>,
    pub embedding: Option<Embedding>,
}

/// A relationship to create. Only the endpoints and the type are required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewRelationship {
    pub id: Option<String>,
    pub source_id: String,
    pub target_id: String,
    pub rel_type: String,
    pub strength: Option<f32>,
    pub confidence: Option<f32>,
    pub note: Option<String>,
    #[serde(default)]
    pub properties: Map<String, Value>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
}

// The MCP tools read this type as is, so its documentation is what a model reads in their
// schema; it has no `Serialize`, which would add a default there.
/// Which way a link made with a new memory points.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LinkDirection {
    /// new memory → target, e.g. the new fix SOLVES the target error.
    #[default]
    Outgoing,
    /// target → new memory, e.g. the target error is CAUSED by ... (target CAUSES new).
    Incoming,
}

/// A relationship made together with a new memory, between it and an existing memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewLink {
    /// Writer-made id for replays; a new UUIDv7 when absent.
    pub id: Option<String>,
    /// The existing memory at the other end.
    pub target_id: String,
    pub direction: LinkDirection,
    pub rel_type: String,
    pub strength: Option<f32>,
    pub note: Option<String>,
}

/// Memories asked for by id.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    /// The memories found, in the order asked.
    pub memories: Vec<Memory>,
    /// The ids not found, as they were asked for.
    pub missing: Vec<String>,
}

impl Fetched {
    /// The error that names the ids not found, if any.
    pub fn missing_error(&self) -> Option<Error> {
        match self.missing.as_slice() {
            [] => None,
            [id] => Some(Error::MemoryNotFound { id: id.clone() }),
            ids => Some(Error::MemoriesNotFound {
                ids: ids.join(", "),
            }),
        }
    }
}

/// What deleting a memory removed.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletedMemory {
    /// The memory's id, in the store's spelling.
    pub id: String,
    /// The relationships removed with it, by id.
    pub relationships: Vec<Relationship>,
}

/// The subgraph around some memories with its central memories and clusters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exploration {
    pub subgraph: Subgraph,
    /// Memory ids by PageRank, best first, with their scores.
    pub central: Vec<(String, f64)>,
    /// Connected groups of memory ids, largest first.
    pub clusters: Vec<Vec<String>>,
}

/// Shortest id prefix [`MemoryStore::resolve_id`] looks up: shorter ones match too much.
pub const MIN_ID_PREFIX: usize = 4;
/// Candidates an ambiguous prefix's error lists.
const AMBIGUOUS_SHOWN: usize = 10;

/// The memory store.
#[derive(Clone)]
pub struct MemoryStore {
    backend: Arc<dyn GraphBackend>,
    limits: Limits,
    /// The recorded embedding space (model, dimension), once known.
    space: Arc<RwLock<Option<(String, usize)>>>,
    /// Embeds on write and for semantic search, once ready; see `embedding.rs`.
    embedder: EmbedderHandle,
    /// Takes secrets out of every text a write brings; see `redact.rs`.
    redactor: Arc<Redactor>,
    /// Recalls noted for the access recorder; see `access.rs`.
    accesses: Arc<AccessLog>,
}

/// The outcome of a write, and how many secrets the store took out of its text first.
#[derive(Debug, Clone, PartialEq)]
pub struct Written<T> {
    pub record: T,
    /// Secrets replaced by `[REDACTED:…]` markers before anything was stored.
    pub redacted: usize,
}

/// A write's outcome reads as its record (`written.version`), as axum's `Json` does; the
/// count is there for the callers that report it.
impl<T> std::ops::Deref for Written<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.record
    }
}

/// Now, at the microsecond precision the store keeps.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

impl MemoryStore {
    /// A store over `backend` enforcing `limits`.
    pub async fn open(backend: Arc<dyn GraphBackend>, limits: Limits) -> Result<Self> {
        let meta = backend.meta().await?;
        let space = meta.embedding_model.zip(meta.embedding_dim);
        Ok(MemoryStore {
            backend,
            limits,
            space: Arc::new(RwLock::new(space)),
            embedder: EmbedderHandle::off(),
            redactor: Arc::new(Redactor::default()),
            accesses: Arc::default(),
        })
    }

    /// The same store redacting with `redactor` instead of the built-in rules alone.
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = Arc::new(redactor);
        self
    }

    /// Takes the secrets out of a memory about to be created; returns how many there were.
    fn scrub(&self, new: &mut NewMemory) -> usize {
        let mut count = 0;
        let NewMemory {
            title,
            content,
            tags,
            context,
            ..
        } = new;
        self.redactor
            .memory(title, content, tags, context, &mut count);
        count
    }

    /// A store that embeds with `embedder`. A ready embedder must belong to the store's
    /// embedding space (or claims it for a store without one): a mismatch is an error.
    pub async fn open_with_embedder(
        backend: Arc<dyn GraphBackend>,
        limits: Limits,
        embedder: EmbedderHandle,
    ) -> Result<Self> {
        let mut store = Self::open(backend, limits).await?;
        if let Some(ready) = embedder.get() {
            store
                .check_space(ready.model_id(), ready.dimension())
                .await?;
        }
        store.embedder = embedder;
        Ok(store)
    }

    pub fn backend(&self) -> &Arc<dyn GraphBackend> {
        &self.backend
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub async fn meta(&self) -> Result<StoreMeta> {
        self.backend.meta().await
    }

    pub async fn stats(&self) -> Result<Stats> {
        self.backend.stats().await
    }

    /// Checks an embedding and that it belongs to the store's embedding space, recording the
    /// space on the first vector the store ever sees.
    async fn check_embedding(&self, embedding: &Embedding) -> Result<()> {
        self.limits.embedding(embedding)?;
        self.check_space(&embedding.model, embedding.vector.len())
            .await
    }

    /// Checks that vectors of `model` with `dim` dimensions belong to the store's embedding
    /// space, recording the space when the store has none yet.
    async fn check_space(&self, model: &str, dim: usize) -> Result<()> {
        let given = (model.to_owned(), dim);
        let known = self.space.read().expect("space lock").clone();
        let space = match known {
            Some(space) => space,
            None => {
                let space = self
                    .backend
                    .claim_embedding_space(&given.0, given.1)
                    .await?;
                *self.space.write().expect("space lock") = Some(space.clone());
                space
            }
        };
        if space != given {
            return Err(Error::ModelMismatch {
                stored: space.0,
                stored_dim: space.1,
                given: given.0,
                given_dim: given.1,
            });
        }
        Ok(())
    }

    /// Validates `new` into a full record.
    async fn prepare(
        &self,
        new: NewMemory,
        at: DateTime<Utc>,
    ) -> Result<(Memory, Option<Embedding>)> {
        let l = &self.limits;
        if let Some(e) = &new.embedding {
            self.check_embedding(e).await?;
        }
        let id = match &new.id {
            Some(id) => l.id("id", id)?,
            None => uuid::Uuid::now_v7().to_string(),
        };
        let created_at = new.created_at.map_or(at, |t| t.trunc_subsecs(6));
        let memory = Memory {
            id,
            kind: l.kind(&new.kind)?,
            title: l.title(&new.title)?,
            content: l.content(&new.content)?,
            tags: l.tags(&new.tags)?,
            context: l.context(new.context)?,
            importance: l.unit("importance", new.importance.unwrap_or(defaults::IMPORTANCE))?,
            confidence: l.unit("confidence", new.confidence.unwrap_or(defaults::CONFIDENCE))?,
            created_at,
            updated_at: created_at,
            accessed_at: None,
            access_count: 0,
            version: 1,
        };
        Ok((memory, new.embedding))
    }

    /// Stores a memory. Replaying the same create (same id and content) returns the stored
    /// memory with [`Created::Existing`] instead of failing or duplicating.
    pub async fn create(&self, new: NewMemory) -> Result<(Memory, Created)> {
        let linked = self.create_with_links(new, Vec::new()).await?.record;
        Ok((linked.memory, linked.created))
    }

    /// Stores a memory and relationships between it and existing memories: all of it in one
    /// transaction, or nothing. Every input is checked before anything is written: the
    /// memory's fields, each link by the rules of [`MemoryStore::link`], each relationship
    /// given once, and every link target existing. A replay of the same create (same memory
    /// and relationship ids, same content) answers [`Created::Existing`] for each record.
    /// Secrets in the memory's text or the links' notes are redacted first.
    ///
    /// Storing what is already there (same kind, title and content up to case and spacing,
    /// with no links) answers the existing memory with [`Created::Existing`] instead of
    /// making a copy.
    pub async fn create_with_links(
        &self,
        new: NewMemory,
        links: Vec<NewLink>,
    ) -> Result<Written<LinkedMemory>> {
        Ok(self.create_with_hints(new, links, 0).await?.0)
    }

    /// [`MemoryStore::create_with_links`], also naming at most `hints` existing memories that
    /// look like near-duplicates of the new one (see `duplicates.rs`); none when it turned out
    /// to be a duplicate itself.
    pub async fn create_with_hints(
        &self,
        mut new: NewMemory,
        links: Vec<NewLink>,
        hints: usize,
    ) -> Result<(Written<LinkedMemory>, Vec<KeywordHit>)> {
        self.limits.batch("links", links.len())?;
        // A writer-made id is a replay, which the backend recognises by that id.
        let replay = new.id.is_some();
        let at = now();
        let mut redacted = self.scrub(&mut new);
        let (memory, embedding) = self.prepare(new, at).await?;
        let relationships = self.relationships_of_links(&memory.id, links, at, &mut redacted)?;
        let targets: Vec<String> = relationships
            .iter()
            .map(|r| r.other_end(&memory.id).to_owned())
            .collect();
        self.check_targets(&targets).await?;
        let embedding = match embedding {
            Some(given) => Some(given),
            None => self.embed_new(std::slice::from_ref(&memory)).await.pop(),
        };
        let probe = if replay && hints == 0 {
            // A replay wants no hints and is never answered as a duplicate: nothing to probe.
            Probe::default()
        } else {
            match self.probe(&memory, embedding.as_ref(), hints).await {
                Ok(probe) => probe,
                Err(err) => {
                    // Finding duplicates is a nicety: the memory is stored all the same.
                    tracing::warn!(%err, "could not look for duplicates of a new memory");
                    Probe::default()
                }
            }
        };
        if let Some(existing) = probe.duplicate
            && relationships.is_empty()
            && !replay
        {
            let record = LinkedMemory {
                memory: existing,
                created: Created::Existing,
                relationships: Vec::new(),
            };
            return Ok((Written { record, redacted }, Vec::new()));
        }
        let record = self
            .backend
            .create_linked_memory(&memory, embedding.as_ref(), &relationships)
            .await?;
        Ok((Written { record, redacted }, probe.similar))
    }

    /// Stores many memories in one transaction: all of them, or none when any is invalid.
    pub async fn create_many(&self, batch: Vec<NewMemory>) -> Result<Vec<(String, Created)>> {
        self.limits.batch("memories", batch.len())?;
        let at = now();
        let mut records = Vec::with_capacity(batch.len());
        for mut new in batch {
            self.scrub(&mut new);
            records.push(self.prepare(new, at).await?);
        }
        self.embed_missing(&mut records).await;
        let outcomes = self.backend.create_memories(&records).await?;
        Ok(records
            .into_iter()
            .zip(outcomes)
            .map(|((m, _), created)| (m.id, created))
            .collect())
    }

    /// One memory by id.
    pub async fn get(&self, id: &str) -> Result<Memory> {
        let id = self
            .limits
            .id("id", id)
            .map_err(|_| Error::MemoryNotFound { id: id.to_owned() })?;
        self.backend
            .get_memories(std::slice::from_ref(&id))
            .await?
            .pop()
            .ok_or(Error::MemoryNotFound { id })
    }

    /// The memories among `ids`, in the order asked, and the ids not found. An id is looked
    /// up in the store's spelling (a UUID in braces, without hyphens or in upper case finds
    /// its memory); one that is not a memory id at all is not found.
    pub async fn get_many(&self, ids: &[String]) -> Result<Fetched> {
        self.limits.batch("ids", ids.len())?;
        let normalised: Vec<Option<String>> =
            ids.iter().map(|id| self.limits.id("id", id).ok()).collect();
        let wanted: Vec<String> = normalised.iter().flatten().cloned().collect();
        let memories = self.backend.get_memories(&wanted).await?;
        let found: HashSet<&str> = memories.iter().map(|m| m.id.as_str()).collect();
        let missing = ids
            .iter()
            .zip(&normalised)
            .filter(|(_, id)| id.as_deref().is_none_or(|id| !found.contains(id)))
            .map(|(asked, _)| asked.clone())
            .collect();
        Ok(Fetched { memories, missing })
    }

    /// Applies a partial update. New text without a new vector drops the old vector, so a
    /// search never ranks a memory by text it no longer has. Secrets in the new text are
    /// redacted first.
    pub async fn update(
        &self,
        id: &str,
        mut patch: MemoryPatch,
        embedding: Option<Embedding>,
        expected_version: Option<i64>,
    ) -> Result<Written<Memory>> {
        let l = &self.limits;
        let id = l
            .id("id", id)
            .map_err(|_| Error::MemoryNotFound { id: id.to_owned() })?;
        if patch.is_empty() && embedding.is_none() {
            return Err(Error::invalid(
                "patch",
                "changes nothing; give at least one field to update",
            ));
        }
        if let Some(e) = &embedding {
            self.check_embedding(e).await?;
        }
        let mut redacted = 0;
        let r = &self.redactor;
        for text in [&mut patch.title, &mut patch.content].into_iter().flatten() {
            r.string(text, &mut redacted);
        }
        for tag in patch.tags.iter_mut().flatten() {
            r.string(tag, &mut redacted);
        }
        if let Some(context) = &mut patch.context {
            r.context(context, &mut redacted);
        }
        let patch = MemoryPatch {
            kind: patch.kind.as_deref().map(|k| l.kind(k)).transpose()?,
            title: patch.title.as_deref().map(|t| l.title(t)).transpose()?,
            content: patch.content.as_deref().map(|c| l.content(c)).transpose()?,
            tags: patch.tags.as_deref().map(|t| l.tags(t)).transpose()?,
            context: patch.context.map(|c| l.context(c)).transpose()?,
            importance: patch
                .importance
                .map(|v| l.unit("importance", v))
                .transpose()?,
            confidence: patch
                .confidence
                .map(|v| l.unit("confidence", v))
                .transpose()?,
        };
        let change = match &embedding {
            Some(e) => EmbeddingChange::Set(e),
            None if patch.changes_text() => EmbeddingChange::Clear,
            None => EmbeddingChange::Keep,
        };
        let memory = self
            .backend
            .update_memory(&id, &patch, change, expected_version, now())
            .await?;
        if change == EmbeddingChange::Clear {
            self.embed_after_update(&memory).await;
        }
        Ok(Written {
            record: memory,
            redacted,
        })
    }

    /// Deletes a memory with its relationships and vector, and says what went: the answer
    /// comes from the delete itself, so no other writer's change can make it wrong.
    pub async fn delete(&self, id: &str) -> Result<DeletedMemory> {
        let id = self
            .limits
            .id("id", id)
            .map_err(|_| Error::MemoryNotFound { id: id.to_owned() })?;
        let relationships = self.backend.delete_memory(&id).await?;
        Ok(DeletedMemory { id, relationships })
    }

    /// A page of memories, newest first.
    pub async fn list(&self, filter: &Filter, cursor: Option<&str>, limit: usize) -> Result<Page> {
        let (filter, after, limit) = self.listing(filter, cursor, limit)?;
        self.backend
            .list_memories(&filter, after.as_ref(), limit)
            .await
    }

    /// [`MemoryStore::list`] as summaries, for a listing that shows no content (cheaper).
    pub async fn list_summaries(
        &self,
        filter: &Filter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<MemorySummary>> {
        let (filter, after, limit) = self.listing(filter, cursor, limit)?;
        self.backend
            .list_summaries(&filter, after.as_ref(), limit)
            .await
    }

    /// A listing's filter, cursor and limit, checked against the store's limits.
    fn listing(
        &self,
        filter: &Filter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Filter, Option<Cursor>, usize)> {
        let filter = self.limits.filter(filter)?;
        let limit = self.limits.limit(limit)?;
        let after = cursor.map(Cursor::decode).transpose()?;
        Ok((filter, after, limit))
    }

    /// Full-text search. Any text is a valid query: it is split into plain terms.
    pub async fn keyword_search(
        &self,
        query: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<KeywordHit>> {
        let (terms, filter, limit) = self.keyword_query(query, filter, limit)?;
        self.backend.keyword_search(&terms, &filter, limit).await
    }

    /// A keyword query's terms, filter and limit, checked against the store's limits.
    pub(super) fn keyword_query(
        &self,
        query: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<(Vec<String>, Filter, usize)> {
        self.limits.query(query)?;
        let filter = self.limits.filter(filter)?;
        let limit = self.limits.limit(limit)?;
        Ok((crate::text::query_terms(query), filter, limit))
    }

    /// Nearest memories to a query vector of the store's embedding space.
    pub async fn vector_search(
        &self,
        query: &Embedding,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<VectorHit>> {
        self.check_embedding(query).await?;
        let filter = self.limits.filter(filter)?;
        let limit = self.limits.limit(limit)?;
        self.backend
            .vector_search(&query.model, &query.vector, &filter, limit)
            .await
    }

    /// Creates a typed relationship. Replays are accepted like memory creates.
    /// Secrets in the note or properties are redacted (a note is short; the count goes to
    /// the log rather than the answer).
    pub async fn link(&self, new: NewRelationship) -> Result<(Relationship, Created)> {
        let mut redacted = 0;
        let rel = self.relationship(new, now(), &mut redacted)?;
        if redacted > 0 {
            tracing::info!(redacted, "secrets redacted from a relationship");
        }
        self.backend.create_relationship(&rel).await
    }

    /// Validates `new` into a full record made at `at`: the rules of every relationship.
    /// Secrets in its note and properties are replaced, adding their number to `redacted`.
    fn relationship(
        &self,
        mut new: NewRelationship,
        at: DateTime<Utc>,
        redacted: &mut usize,
    ) -> Result<Relationship> {
        let l = &self.limits;
        if let Some(note) = &mut new.note {
            self.redactor.string(note, redacted);
        }
        new.properties
            .values_mut()
            .for_each(|v| self.redactor.json(v, redacted));
        let source_id = l.id("source_id", &new.source_id)?;
        let target_id = l.id("target_id", &new.target_id)?;
        if source_id == target_id {
            return Err(Error::invalid(
                "target_id",
                "is the source itself; a relationship joins two different memories",
            ));
        }
        check_validity(new.valid_from, new.valid_to)?;
        l.json_size("properties", &new.properties)?;
        Ok(Relationship {
            id: match &new.id {
                Some(id) => l.id("id", id)?,
                None => uuid::Uuid::now_v7().to_string(),
            },
            source_id,
            target_id,
            rel_type: l.rel_type(&new.rel_type)?,
            strength: l.unit("strength", new.strength.unwrap_or(defaults::STRENGTH))?,
            confidence: l.unit("confidence", new.confidence.unwrap_or(defaults::CONFIDENCE))?,
            note: new
                .note
                .as_deref()
                .map(|n| l.note(n))
                .transpose()?
                .flatten(),
            properties: new.properties,
            valid_from: new.valid_from.map(|t| t.trunc_subsecs(6)),
            valid_to: new.valid_to.map(|t| t.trunc_subsecs(6)),
            created_at: at,
            updated_at: at,
            version: 1,
        })
    }

    pub async fn get_relationship(&self, id: &str) -> Result<Relationship> {
        let id = self
            .limits
            .id("id", id)
            .map_err(|_| Error::RelationshipNotFound { id: id.to_owned() })?;
        self.backend.get_relationship(&id).await
    }

    /// Applies a partial update to a relationship.
    pub async fn update_relationship(
        &self,
        id: &str,
        mut patch: RelationshipPatch,
        expected_version: Option<i64>,
    ) -> Result<Relationship> {
        let l = &self.limits;
        let current = self.get_relationship(id).await?;
        if patch.is_empty() {
            return Err(Error::invalid(
                "patch",
                "changes nothing; give at least one field to update",
            ));
        }
        let mut redacted = 0;
        if let Some(Some(note)) = &mut patch.note {
            self.redactor.string(note, &mut redacted);
        }
        if let Some(props) = &mut patch.properties {
            props
                .values_mut()
                .for_each(|v| self.redactor.json(v, &mut redacted));
        }
        if redacted > 0 {
            tracing::info!(redacted, "secrets redacted from a relationship update");
        }
        if let Some(props) = &patch.properties {
            l.json_size("properties", props)?;
        }
        let patch = RelationshipPatch {
            strength: patch.strength.map(|v| l.unit("strength", v)).transpose()?,
            confidence: patch
                .confidence
                .map(|v| l.unit("confidence", v))
                .transpose()?,
            note: patch
                .note
                .map(|n| {
                    n.as_deref()
                        .map(|n| l.note(n))
                        .transpose()
                        .map(Option::flatten)
                })
                .transpose()?,
            properties: patch.properties,
            valid_from: patch.valid_from.map(|t| t.map(|t| t.trunc_subsecs(6))),
            valid_to: patch.valid_to.map(|t| t.map(|t| t.trunc_subsecs(6))),
        };
        check_validity(
            patch.valid_from.unwrap_or(current.valid_from),
            patch.valid_to.unwrap_or(current.valid_to),
        )?;
        self.backend
            .update_relationship(&current.id, &patch, expected_version, now())
            .await
    }

    pub async fn unlink(&self, id: &str) -> Result<()> {
        let id = self
            .limits
            .id("id", id)
            .map_err(|_| Error::RelationshipNotFound { id: id.to_owned() })?;
        self.backend.delete_relationship(&id).await
    }

    /// Relationships of one memory (both directions, valid or not).
    pub async fn relationships(&self, id: &str) -> Result<Vec<Relationship>> {
        let memory = self.get(id).await?;
        self.backend
            .relationships_of(&[memory.id], crate::model::Direction::Both, &[], None)
            .await
    }

    /// Validates a traversal against the limits.
    fn traversal(&self, t: &Traversal) -> Result<Traversal> {
        let l = &self.limits;
        l.batch("types", t.rel_types.len())?;
        Ok(Traversal {
            direction: t.direction,
            rel_types: t
                .rel_types
                .iter()
                .map(|r| l.rel_type(r))
                .collect::<Result<_>>()?,
            depth: l.depth("depth", t.depth)?,
            include_expired: t.include_expired,
            filter: l.filter(&t.filter)?,
            max_nodes: l.node_cap(t.max_nodes)?,
        })
    }

    /// Memories within `traversal.depth` hops of `id`, nearest first.
    pub async fn neighbours(&self, id: &str, traversal: &Traversal) -> Result<Vec<Neighbour>> {
        let traversal = self.traversal(traversal)?;
        let start = self.summary(id).await?;
        backend::neighbours_from(self.backend.as_ref(), &start, &traversal).await
    }

    /// The subgraph within `traversal.depth` hops of `seeds`.
    pub async fn subgraph(&self, seeds: &[String], traversal: &Traversal) -> Result<Subgraph> {
        let traversal = self.traversal(traversal)?;
        self.limits.batch("seeds", seeds.len())?;
        let mut ids = Vec::with_capacity(seeds.len());
        for seed in seeds {
            ids.push(self.limits.id("seeds", seed)?);
        }
        let found = self.backend.summaries(&ids, &Filter::default()).await?;
        let mut ordered = Vec::with_capacity(ids.len());
        for id in &ids {
            match found.iter().find(|s| &s.id == id) {
                Some(seed) => ordered.push(seed.clone()),
                None => return Err(Error::MemoryNotFound { id: id.clone() }),
            }
        }
        backend::subgraph_from(self.backend.as_ref(), &ordered, &traversal).await
    }

    /// The subgraph around `seeds` with its central memories and clusters.
    pub async fn explore(
        &self,
        seeds: &[String],
        traversal: &Traversal,
        top: usize,
    ) -> Result<Exploration> {
        let subgraph = self.subgraph(seeds, traversal).await?;
        let view = GraphView::new(&subgraph);
        Ok(Exploration {
            central: view.central(top),
            clusters: view.clusters(),
            subgraph,
        })
    }

    /// Dependency cycles among the relationships of `rel_types` around `seeds`.
    pub async fn cycles(&self, seeds: &[String], traversal: &Traversal) -> Result<Vec<Cycle>> {
        let subgraph = self.subgraph(seeds, traversal).await?;
        Ok(GraphView::new(&subgraph).cycles(&traversal.rel_types))
    }

    /// The shortest (or strongest) connection between two memories.
    pub async fn find_path(
        &self,
        from: &str,
        to: &str,
        query: &PathQuery,
    ) -> Result<Option<FoundPath>> {
        let from = self.summary(from).await?;
        let to = self.summary(to).await?;
        self.limits.batch("types", query.rel_types.len())?;
        let query = PathQuery {
            max_hops: self.limits.depth("max_hops", query.max_hops)?,
            rel_types: query
                .rel_types
                .iter()
                .map(|r| self.limits.rel_type(r))
                .collect::<Result<_>>()?,
            ..query.clone()
        };
        path::find(self.backend.as_ref(), &from, &to, &query).await
    }

    /// The summary of one memory: cheaper than [`MemoryStore::get`] where content is not needed.
    async fn summary(&self, id: &str) -> Result<MemorySummary> {
        let id = self
            .limits
            .id("id", id)
            .map_err(|_| Error::MemoryNotFound { id: id.to_owned() })?;
        self.backend
            .summaries(std::slice::from_ref(&id), &Filter::default())
            .await?
            .pop()
            .ok_or(Error::MemoryNotFound { id })
    }

    /// The id a person means: a whole id in any spelling the store accepts, or a prefix of
    /// at least [`MIN_ID_PREFIX`] characters that names exactly one memory (or relationship).
    /// Several matches are an error listing them, so the person can pick.
    pub async fn resolve_id(&self, kind: IdKind, text: &str) -> Result<String> {
        let not_found = || match kind {
            IdKind::Memory => Error::MemoryNotFound {
                id: text.to_owned(),
            },
            IdKind::Relationship => Error::RelationshipNotFound {
                id: text.to_owned(),
            },
        };
        if let Ok(id) = self.limits.id("id", text) {
            return Ok(id);
        }
        let prefix = text.trim().to_ascii_lowercase();
        let plausible = prefix.len() >= MIN_ID_PREFIX
            && prefix.len() < 36
            && prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        if !plausible {
            return Err(not_found());
        }
        let mut ids = self
            .backend
            .ids_with_prefix(kind, &prefix, AMBIGUOUS_SHOWN + 1)
            .await?;
        match ids.len() {
            0 => Err(not_found()),
            1 => Ok(ids.remove(0)),
            _ => {
                if ids.len() > AMBIGUOUS_SHOWN {
                    ids.truncate(AMBIGUOUS_SHOWN);
                    ids.push("…".to_owned());
                }
                Err(Error::AmbiguousId {
                    prefix,
                    what: match kind {
                        IdKind::Memory => "memories",
                        IdKind::Relationship => "relationships",
                    },
                    candidates: ids,
                })
            }
        }
    }

    /// Summaries of memories by id (unknown ids skipped).
    pub async fn summaries(&self, ids: &[String]) -> Result<Vec<MemorySummary>> {
        self.backend.summaries(ids, &Filter::default()).await
    }
}

fn check_validity(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<()> {
    match (from, to) {
        (Some(f), Some(t)) if t <= f => {
            Err(Error::invalid("valid_to", "must be later than valid_from"))
        }
        _ => Ok(()),
    }
}
