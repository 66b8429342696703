//! In-memory reference backend.
//!
//! [`InMemoryBackend`] keeps every record in maps behind one mutex and answers every query by
//! scanning them. It is slow on purpose and simple on purpose: it is the executable
//! specification of [`GraphBackend`] that the conformance suite (`tests/integration/conformance/`)
//! compares the libSQL backend against, and a fast fake for tests of the layers above.
//!
//! It mirrors what the libSQL backend stores, not only what it is given:
//! - timestamps are kept at microsecond precision (the libSQL schema stores INTEGER
//!   microseconds), so a record reads back exactly as it would from the database, and
//!   `Filter::since` and validity instants are compared at the same precision;
//! - keyword search is BM25 over title, content and tags with the column weights of
//!   `bm25(memories_fts, 0.75, 1.0, 2.0)` (negated: higher is better) and the same constants
//!   as FTS5 (k1 = 1.2, b = 0.75, idf floored at 1e-6). Tokens are the lower-cased runs of
//!   letters and digits of [`crate::text::tokens`], like `unicode61`. The libSQL backend also
//!   stems with Porter and folds diacritics; this reference does neither, so it is exact only
//!   for words Porter leaves unchanged and for plain ASCII text;
//! - vector search is an exact cosine scan over the vectors of the asked model.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

mod import;

use super::{
    Cursor, EmbeddingChange, GraphBackend, IdKind, ImportBatch, ImportOutcome, IntegrityCheck,
};
use crate::error::{Error, Result};
use crate::model::{
    Access, Created, Direction, Embedding, Filter, KeywordHit, LinkedMemory, Memory, MemoryPatch,
    MemorySummary, Page, Relationship, RelationshipPatch, Stats, StoreMeta, VectorHit,
};
use crate::text::{Token, fields, snippet, token_spans};

/// The reference reports the schema version the libSQL backend writes.
use super::libsql::SCHEMA_VERSION;

/// FTS5 BM25 constants.
const BM25_K1: f64 = 1.2;
const BM25_B: f64 = 0.75;
/// Column weights of `bm25(memories_fts, 0.75, 1.0, 2.0)`: title, content, tags.
const COLUMN_WEIGHTS: [f64; 3] = [0.75, 1.0, 2.0];
/// Tokens of context an excerpt shows around its matches.
/// The in-memory reference implementation of [`GraphBackend`].
pub struct InMemoryBackend {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    meta: StoreMeta,
    memories: HashMap<String, Memory>,
    /// Vectors by memory id.
    vectors: HashMap<String, Embedding>,
    relationships: BTreeMap<String, Relationship>,
}

impl InMemoryBackend {
    /// An empty store with a fresh store id.
    pub fn new() -> Self {
        InMemoryBackend {
            state: Mutex::new(State {
                meta: StoreMeta {
                    store_id: uuid::Uuid::now_v7().to_string(),
                    schema_version: SCHEMA_VERSION,
                    embedding_model: None,
                    embedding_dim: None,
                },
                ..State::default()
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every mutation validates before it writes (or takes back what it wrote when a later
        // part fails) and none panics midway, so a poisoned lock holds no half a change.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for InMemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for InMemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state();
        f.debug_struct("InMemoryBackend")
            .field("store_id", &state.meta.store_id)
            .field("memories", &state.memories.len())
            .field("relationships", &state.relationships.len())
            .finish()
    }
}

/// `at` truncated to whole microseconds, the precision the database keeps.
fn micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

fn stored_memory(memory: &Memory) -> Memory {
    let mut m = memory.clone();
    m.created_at = micros(m.created_at);
    m.updated_at = micros(m.updated_at);
    m.accessed_at = m.accessed_at.map(micros);
    m
}

fn stored_relationship(rel: &Relationship) -> Relationship {
    let mut r = rel.clone();
    r.created_at = micros(r.created_at);
    r.updated_at = micros(r.updated_at);
    r.valid_from = r.valid_from.map(micros);
    r.valid_to = r.valid_to.map(micros);
    r
}

/// The filter as the database evaluates it: `since` at microsecond precision.
fn stored_filter(filter: &Filter) -> Filter {
    let mut f = filter.clone();
    f.since = f.since.map(micros);
    f
}

/// Listing order key: newest first, then id descending.
fn listing_key(m: &Memory) -> (i64, &str) {
    (m.created_at.timestamp_micros(), m.id.as_str())
}

impl State {
    /// What creating `memory` would do, without doing it: `Ok(true)` inserts, `Ok(false)` is a
    /// replay of the stored one.
    fn check_create(&self, memory: &Memory) -> Result<bool> {
        match self.memories.get(&memory.id) {
            None => Ok(true),
            Some(stored) if stored.same_content(memory) => Ok(false),
            Some(_) => Err(Error::IdConflict {
                what: "memory",
                id: memory.id.clone(),
            }),
        }
    }

    fn insert_memory(&mut self, memory: &Memory, embedding: Option<&Embedding>) -> Memory {
        let stored = stored_memory(memory);
        self.memories.insert(stored.id.clone(), stored.clone());
        if let Some(e) = embedding {
            self.vectors.insert(stored.id.clone(), e.clone());
        }
        stored
    }

    fn memory(&self, id: &str) -> Result<&Memory> {
        self.memories
            .get(id)
            .ok_or_else(|| Error::MemoryNotFound { id: id.to_owned() })
    }

    fn relationship(&self, id: &str) -> Result<&Relationship> {
        self.relationships
            .get(id)
            .ok_or_else(|| Error::RelationshipNotFound { id: id.to_owned() })
    }

    fn update_memory(
        &mut self,
        id: &str,
        patch: &MemoryPatch,
        embedding: EmbeddingChange<'_>,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Memory> {
        let stored = self.memory(id)?;
        super::expect_version("memory", id, stored.version, expected_version)?;
        let mut m = stored.clone();
        let MemoryPatch {
            kind,
            title,
            content,
            tags,
            context,
            importance,
            confidence,
        } = patch.clone();
        if let Some(v) = kind {
            m.kind = v;
        }
        if let Some(v) = title {
            m.title = v;
        }
        if let Some(v) = content {
            m.content = v;
        }
        if let Some(v) = tags {
            m.tags = v;
        }
        if let Some(v) = context {
            m.context = v;
        }
        if let Some(v) = importance {
            m.importance = v;
        }
        if let Some(v) = confidence {
            m.confidence = v;
        }
        m.version += 1;
        m.updated_at = micros(now);
        match embedding {
            EmbeddingChange::Keep => {}
            EmbeddingChange::Clear => {
                self.vectors.remove(id);
            }
            EmbeddingChange::Set(e) => {
                self.vectors.insert(id.to_owned(), e.clone());
            }
        }
        self.memories.insert(id.to_owned(), m.clone());
        Ok(m)
    }

    fn list(&self, filter: &Filter, after: Option<&Cursor>, limit: usize) -> Page {
        let filter = stored_filter(filter);
        let mut rows: Vec<&Memory> = self
            .memories
            .values()
            .filter(|m| filter.matches(m))
            .filter(|m| after.is_none_or(|c| listing_key(m) < (c.created_at_micros, c.id.as_str())))
            .collect();
        rows.sort_by(|a, b| listing_key(b).cmp(&listing_key(a)));
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more {
            rows.last().map(|m| Cursor::after(m).encode())
        } else {
            None
        };
        Page {
            memories: rows.into_iter().cloned().collect(),
            next_cursor,
        }
    }

    fn neighbours_in_time(
        &self,
        anchors: &[Memory],
        steps: usize,
        filter: &Filter,
    ) -> Vec<(String, Memory)> {
        let filter = stored_filter(filter);
        let mut order: Vec<&Memory> = self
            .memories
            .values()
            .filter(|m| filter.matches(m))
            .collect();
        order.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let mut found = Vec::new();
        for anchor in anchors {
            let key = (anchor.created_at, &anchor.id);
            let at = order.partition_point(|m| (m.created_at, &m.id) < key);
            let before = order[..at].iter().rev().take(steps);
            let after = order[at..]
                .iter()
                .filter(|m| (m.created_at, &m.id) > key)
                .take(steps);
            for memory in before.chain(after) {
                found.push((anchor.id.clone(), (*memory).clone()));
            }
        }
        found
    }

    fn keyword_search(&self, terms: &[String], filter: &Filter, limit: usize) -> Vec<KeywordHit> {
        if terms.is_empty() || limit == 0 || self.memories.is_empty() {
            return Vec::new();
        }
        let terms: Vec<String> = terms.iter().map(|t| t.to_lowercase()).collect();
        // Every row counts towards the corpus statistics, as in the FTS5 index.
        let docs: Vec<(&Memory, [Vec<Token>; 3])> = self
            .memories
            .values()
            .map(|m| (m, fields(m).map(|f| token_spans(&f))))
            .collect();
        let rows = docs.len() as f64;
        let total_tokens: usize = docs
            .iter()
            .map(|(_, cols)| cols.iter().map(Vec::len).sum::<usize>())
            .sum();
        let avgdl = (total_tokens as f64 / rows).max(f64::MIN_POSITIVE);
        let idf: Vec<f64> = terms
            .iter()
            .map(|term| {
                let hits = docs
                    .iter()
                    .filter(|(_, cols)| cols.iter().flatten().any(|t| &t.lower == term))
                    .count() as f64;
                let idf = ((rows - hits + 0.5) / (hits + 0.5)).ln();
                if idf <= 0.0 { 1e-6 } else { idf }
            })
            .collect();

        let filter = stored_filter(filter);
        let mut hits: Vec<(f64, &Memory, &[Vec<Token>; 3])> = Vec::new();
        for (memory, cols) in &docs {
            let mut matched = false;
            let mut score = 0.0;
            let length = cols.iter().map(Vec::len).sum::<usize>() as f64;
            for (term, idf) in terms.iter().zip(&idf) {
                let freq: f64 = cols
                    .iter()
                    .zip(COLUMN_WEIGHTS)
                    .map(|(col, w)| w * col.iter().filter(|t| &t.lower == term).count() as f64)
                    .sum();
                if freq > 0.0 {
                    matched = true;
                }
                score += idf * (freq * (BM25_K1 + 1.0))
                    / (freq + BM25_K1 * (1.0 - BM25_B + BM25_B * length / avgdl));
            }
            if matched && filter.matches(memory) {
                hits.push((score, memory, cols));
            }
        }
        hits.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
        hits.truncate(limit);
        hits.into_iter()
            .map(|(score, memory, cols)| KeywordHit {
                snippet: snippet(&fields(memory), cols, |t| terms.contains(&t.lower)),
                memory: memory.clone(),
                score,
            })
            .collect()
    }

    fn vector_search(
        &self,
        model: &str,
        vector: &[f32],
        filter: &Filter,
        limit: usize,
    ) -> Vec<VectorHit> {
        let filter = stored_filter(filter);
        let mut hits: Vec<VectorHit> = self
            .vectors
            .iter()
            .filter(|(_, e)| e.model == model && e.vector.len() == vector.len())
            .filter_map(|(id, e)| {
                let memory = self.memories.get(id)?;
                filter.matches(memory).then(|| VectorHit {
                    memory: memory.clone(),
                    similarity: cosine(vector, &e.vector),
                    vector: Vec::new(),
                })
            })
            .collect();
        hits.sort_by(|a, b| {
            b.similarity
                .total_cmp(&a.similarity)
                .then_with(|| a.memory.id.cmp(&b.memory.id))
        });
        hits.truncate(limit);
        // Vectors are copied for the hits kept only.
        for hit in &mut hits {
            hit.vector = self.vectors[&hit.memory.id].vector.clone();
        }
        hits
    }

    fn create_relationship(&mut self, rel: &Relationship) -> Result<(Relationship, Created)> {
        for end in [&rel.source_id, &rel.target_id] {
            if !self.memories.contains_key(end) {
                return Err(Error::UnknownEndpoint { id: end.clone() });
            }
        }
        if let Some(stored) = self.relationships.get(&rel.id) {
            return if stored.same_content(&stored_relationship(rel)) {
                Ok((stored.clone(), Created::Existing))
            } else {
                Err(Error::IdConflict {
                    what: "relationship",
                    id: rel.id.clone(),
                })
            };
        }
        if let Some(existing) = self.relationships.values().find(|r| {
            r.source_id == rel.source_id
                && r.target_id == rel.target_id
                && r.rel_type == rel.rel_type
        }) {
            return Err(Error::RelationshipExists {
                id: existing.id.clone(),
                source_id: existing.source_id.clone(),
                target_id: existing.target_id.clone(),
                rel_type: existing.rel_type.clone(),
            });
        }
        let stored = stored_relationship(rel);
        self.relationships.insert(stored.id.clone(), stored.clone());
        Ok((stored, Created::New))
    }

    /// Creates the memory, then each relationship; on the first failure, takes back what it
    /// made, so the store is as it was (the lock is held throughout, so no reader sees it).
    fn create_linked_memory(
        &mut self,
        memory: &Memory,
        embedding: Option<&Embedding>,
        relationships: &[Relationship],
    ) -> Result<LinkedMemory> {
        let (memory, created) = if self.check_create(memory)? {
            (self.insert_memory(memory, embedding), Created::New)
        } else {
            (self.memories[&memory.id].clone(), Created::Existing)
        };
        let mut linked: Vec<(Relationship, Created)> = Vec::with_capacity(relationships.len());
        for rel in relationships {
            match self.create_relationship(rel) {
                Ok(made) => linked.push(made),
                Err(err) => {
                    for (made, outcome) in &linked {
                        if *outcome == Created::New {
                            self.relationships.remove(&made.id);
                        }
                    }
                    if created == Created::New {
                        self.memories.remove(&memory.id);
                        self.vectors.remove(&memory.id);
                    }
                    return Err(err);
                }
            }
        }
        Ok(LinkedMemory {
            memory,
            created,
            relationships: linked,
        })
    }

    fn update_relationship(
        &mut self,
        id: &str,
        patch: &RelationshipPatch,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Relationship> {
        let stored = self.relationship(id)?;
        super::expect_version("relationship", id, stored.version, expected_version)?;
        let mut r = stored.clone();
        let RelationshipPatch {
            strength,
            confidence,
            note,
            properties,
            valid_from,
            valid_to,
        } = patch.clone();
        if let Some(v) = strength {
            r.strength = v;
        }
        if let Some(v) = confidence {
            r.confidence = v;
        }
        if let Some(v) = note {
            r.note = v;
        }
        if let Some(v) = properties {
            r.properties = v;
        }
        if let Some(v) = valid_from {
            r.valid_from = v.map(micros);
        }
        if let Some(v) = valid_to {
            r.valid_to = v.map(micros);
        }
        r.version += 1;
        r.updated_at = micros(now);
        self.relationships.insert(id.to_owned(), r.clone());
        Ok(r)
    }

    fn relationships_of(
        &self,
        ids: &[String],
        direction: Direction,
        rel_types: &[String],
        valid_at: Option<DateTime<Utc>>,
    ) -> Vec<Relationship> {
        let ids: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let valid_at = valid_at.map(micros);
        let mut rels: Vec<Relationship> = self
            .relationships
            .values()
            .filter(|r| {
                let out = ids.contains(r.source_id.as_str());
                let inc = ids.contains(r.target_id.as_str());
                match direction {
                    Direction::Outgoing => out,
                    Direction::Incoming => inc,
                    Direction::Both => out || inc,
                }
            })
            .filter(|r| rel_types.is_empty() || rel_types.contains(&r.rel_type))
            .filter(|r| valid_at.is_none_or(|t| r.is_valid_at(t)))
            .cloned()
            .collect();
        rels.sort_by(|a, b| {
            b.strength
                .total_cmp(&a.strength)
                .then_with(|| a.id.cmp(&b.id))
        });
        rels
    }

    fn stats(&self) -> Stats {
        fn counted<'a>(names: impl Iterator<Item = &'a str>) -> Vec<(String, u64)> {
            let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
            for name in names {
                *counts.entry(name).or_default() += 1;
            }
            let mut counts: Vec<(String, u64)> =
                counts.into_iter().map(|(k, n)| (k.to_owned(), n)).collect();
            counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            counts
        }
        Stats {
            memories: self.memories.len() as u64,
            relationships: self.relationships.len() as u64,
            embedded: self
                .vectors
                .iter()
                .filter(|(id, e)| {
                    self.memories.contains_key(*id)
                        && self
                            .meta
                            .embedding_model
                            .as_ref()
                            .is_none_or(|m| &e.model == m)
                })
                .count() as u64,
            by_kind: counted(self.memories.values().map(|m| m.kind.as_str())),
            by_rel_type: counted(self.relationships.values().map(|r| r.rel_type.as_str())),
            size_bytes: 0,
        }
    }
}

/// Cosine similarity; 0 when either vector has no length.
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        (dot / (na.sqrt() * nb.sqrt())) as f32
    }
}

#[async_trait]
impl GraphBackend for InMemoryBackend {
    async fn meta(&self) -> Result<StoreMeta> {
        Ok(self.state().meta.clone())
    }

    async fn claim_embedding_space(&self, model: &str, dim: usize) -> Result<(String, usize)> {
        let mut state = self.state();
        let meta = &mut state.meta;
        if meta.embedding_model.is_none() || meta.embedding_dim.is_none() {
            meta.embedding_model = Some(model.to_owned());
            meta.embedding_dim = Some(dim);
        }
        Ok((
            meta.embedding_model.clone().unwrap_or_default(),
            meta.embedding_dim.unwrap_or_default(),
        ))
    }

    async fn replace_embedding_space(
        &self,
        model: &str,
        dim: usize,
    ) -> Result<Option<(String, usize)>> {
        let mut state = self.state();
        let meta = &mut state.meta;
        let previous = meta.embedding_model.take().zip(meta.embedding_dim.take());
        meta.embedding_model = Some(model.to_owned());
        meta.embedding_dim = Some(dim);
        Ok(previous)
    }

    async fn create_linked_memory(
        &self,
        memory: &Memory,
        embedding: Option<&Embedding>,
        relationships: &[Relationship],
    ) -> Result<LinkedMemory> {
        self.state()
            .create_linked_memory(memory, embedding, relationships)
    }

    async fn create_memories(&self, batch: &[(Memory, Option<Embedding>)]) -> Result<Vec<Created>> {
        let mut state = self.state();
        // Validate the whole batch first, against the store and against earlier batch items.
        let mut pending: HashMap<&str, &Memory> = HashMap::new();
        let mut created = Vec::with_capacity(batch.len());
        for (memory, _) in batch {
            let outcome = match pending.get(memory.id.as_str()) {
                Some(earlier) if earlier.same_content(memory) => Created::Existing,
                Some(_) => {
                    return Err(Error::IdConflict {
                        what: "memory",
                        id: memory.id.clone(),
                    });
                }
                None if state.check_create(memory)? => {
                    pending.insert(&memory.id, memory);
                    Created::New
                }
                None => Created::Existing,
            };
            created.push(outcome);
        }
        for ((memory, embedding), outcome) in batch.iter().zip(&created) {
            if *outcome == Created::New {
                state.insert_memory(memory, embedding.as_ref());
            }
        }
        Ok(created)
    }

    async fn get_memories(&self, ids: &[String]) -> Result<Vec<Memory>> {
        let state = self.state();
        Ok(ids
            .iter()
            .filter_map(|id| state.memories.get(id).cloned())
            .collect())
    }

    async fn update_memory(
        &self,
        id: &str,
        patch: &MemoryPatch,
        embedding: EmbeddingChange<'_>,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Memory> {
        self.state()
            .update_memory(id, patch, embedding, expected_version, now)
    }

    async fn delete_memory(&self, id: &str) -> Result<Vec<Relationship>> {
        let mut state = self.state();
        state.memory(id)?;
        state.memories.remove(id);
        state.vectors.remove(id);
        // In id order: the map's order.
        let removed: Vec<String> = state
            .relationships
            .values()
            .filter(|r| r.source_id == id || r.target_id == id)
            .map(|r| r.id.clone())
            .collect();
        Ok(removed
            .iter()
            .filter_map(|rid| state.relationships.remove(rid))
            .collect())
    }

    async fn touch(&self, accesses: &[Access]) -> Result<()> {
        let mut state = self.state();
        for access in accesses {
            if let Some(m) = state.memories.get_mut(&access.id) {
                let at = micros(access.at);
                m.accessed_at = Some(m.accessed_at.map_or(at, |was| was.max(at)));
                m.access_count = m.access_count.saturating_add(access.count);
            }
        }
        Ok(())
    }

    async fn list_memories(
        &self,
        filter: &Filter,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page> {
        Ok(self.state().list(filter, after, limit))
    }

    async fn neighbours_in_time(
        &self,
        anchors: &[Memory],
        steps: usize,
        filter: &Filter,
    ) -> Result<Vec<(String, Memory)>> {
        Ok(self.state().neighbours_in_time(anchors, steps, filter))
    }

    async fn keyword_search(
        &self,
        terms: &[String],
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<KeywordHit>> {
        Ok(self.state().keyword_search(terms, filter, limit))
    }

    async fn vector_search(
        &self,
        model: &str,
        vector: &[f32],
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<VectorHit>> {
        Ok(self.state().vector_search(model, vector, filter, limit))
    }

    async fn create_relationship(&self, rel: &Relationship) -> Result<(Relationship, Created)> {
        self.state().create_relationship(rel)
    }

    async fn get_relationship(&self, id: &str) -> Result<Relationship> {
        self.state().relationship(id).cloned()
    }

    async fn update_relationship(
        &self,
        id: &str,
        patch: &RelationshipPatch,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Relationship> {
        self.state()
            .update_relationship(id, patch, expected_version, now)
    }

    async fn delete_relationship(&self, id: &str) -> Result<()> {
        let mut state = self.state();
        state.relationship(id)?;
        state.relationships.remove(id);
        Ok(())
    }

    async fn relationships_of(
        &self,
        ids: &[String],
        direction: Direction,
        rel_types: &[String],
        valid_at: Option<DateTime<Utc>>,
    ) -> Result<Vec<Relationship>> {
        Ok(self
            .state()
            .relationships_of(ids, direction, rel_types, valid_at))
    }

    async fn summaries(&self, ids: &[String], filter: &Filter) -> Result<Vec<MemorySummary>> {
        let state = self.state();
        let filter = stored_filter(filter);
        let mut seen = HashSet::new();
        Ok(ids
            .iter()
            .filter(|id| seen.insert(id.as_str()))
            .filter_map(|id| state.memories.get(id))
            .filter(|m| filter.matches(m))
            .map(Memory::summary)
            .collect())
    }

    async fn ids_with_prefix(
        &self,
        kind: IdKind,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        let state = self.state();
        let keys: Box<dyn Iterator<Item = &String>> = match kind {
            IdKind::Memory => Box::new(state.memories.keys()),
            IdKind::Relationship => Box::new(state.relationships.keys()),
        };
        let mut ids: Vec<String> = keys.filter(|id| id.starts_with(prefix)).cloned().collect();
        ids.sort_unstable();
        ids.truncate(limit);
        Ok(ids)
    }

    async fn stats(&self) -> Result<Stats> {
        Ok(self.state().stats())
    }

    async fn import_batch(&self, batch: Arc<ImportBatch>, dry_run: bool) -> Result<ImportOutcome> {
        Ok(self.state().import(&batch, dry_run))
    }

    async fn embeddings(&self, ids: &[String]) -> Result<Vec<(String, Embedding)>> {
        Ok(self.state().embeddings(ids))
    }

    async fn check_integrity(&self) -> Result<Vec<IntegrityCheck>> {
        Ok(self.state().integrity())
    }

    async fn memories_without_embedding(&self, model: &str, limit: usize) -> Result<Vec<Memory>> {
        let state = self.state();
        let mut missing: Vec<&Memory> = state
            .memories
            .values()
            .filter(|m| state.vectors.get(&m.id).is_none_or(|e| e.model != model))
            .collect();
        // Oldest first, like the database's insertion order.
        missing.sort_by(|a, b| listing_key(a).cmp(&listing_key(b)));
        Ok(missing.into_iter().take(limit).cloned().collect())
    }

    async fn set_embeddings(&self, batch: &[(String, i64, Embedding)]) -> Result<usize> {
        let mut state = self.state();
        let mut written = 0;
        for (id, version, embedding) in batch {
            if state
                .memories
                .get(id)
                .is_some_and(|m| m.version == *version)
            {
                state.vectors.insert(id.clone(), embedding.clone());
                written += 1;
            }
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests;
