//! The data model: memories (nodes), relationships (edges) and the query types both front ends
//! and every backend share.
//!
//! Records here are plain data. The rules (what is valid, how ids and timestamps are made) live
//! in [`crate::store`]; backends receive records that already passed them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Well-known memory kinds. The vocabulary is open: any other lower-case word is accepted.
pub const WELL_KNOWN_KINDS: &[&str] = &[
    "solution",
    "problem",
    "error",
    "fix",
    "decision",
    "pattern",
    "convention",
    "preference",
    "task",
    "technology",
    "file",
    "concept",
    "person",
    "note",
];

/// Well-known relationship types. Custom UPPER_SNAKE types are accepted too.
pub const WELL_KNOWN_REL_TYPES: &[&str] = &[
    "SOLVES",
    "CAUSES",
    "FIXES",
    "DEPENDS_ON",
    "PART_OF",
    "RELATED_TO",
    "SUPERSEDES",
    "CONTRADICTS",
    "EXAMPLE_OF",
    "USES",
];

/// Where a memory came from: free-form, typed where the meaning is known.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Anything else the writer wanted to keep.
    #[serde(default, flatten)]
    pub extra: Map<String, Value>,
}

impl Context {
    pub fn is_empty(&self) -> bool {
        *self == Context::default()
    }
}

/// A memory: one node of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub content: String,
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Context::is_empty")]
    pub context: Context,
    pub importance: f32,
    pub confidence: f32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accessed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub access_count: u64,
    pub version: i64,
}

impl Memory {
    /// True when `other` carries the same user-visible content, ignoring bookkeeping
    /// (timestamps, access, version). A replayed create is accepted when this holds.
    pub fn same_content(&self, other: &Memory) -> bool {
        self.id == other.id
            && self.kind == other.kind
            && self.title == other.title
            && self.content == other.content
            && self.tags == other.tags
            && self.context == other.context
            && self.importance == other.importance
            && self.confidence == other.confidence
    }

    pub fn summary(&self) -> MemorySummary {
        MemorySummary {
            id: self.id.clone(),
            kind: self.kind.clone(),
            title: self.title.clone(),
            tags: self.tags.clone(),
            importance: self.importance,
            created_at: self.created_at,
        }
    }
}

/// The short form of a memory used where many are listed (graph answers, neighbours).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemorySummary {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub tags: Vec<String>,
    pub importance: f32,
    pub created_at: DateTime<Utc>,
}

/// An embedding vector and the model that produced it. Vectors of two models are never compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    pub model: String,
    pub vector: Vec<f32>,
}

/// A typed, directed relationship: one edge of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relationship {
    pub id: String,
    pub source_id: String,
    pub target_id: String,
    pub rel_type: String,
    pub strength: f32,
    pub confidence: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub properties: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl Relationship {
    /// True when the relationship holds at `at` (its validity interval contains it).
    pub fn is_valid_at(&self, at: DateTime<Utc>) -> bool {
        self.valid_from.is_none_or(|from| from <= at) && self.valid_to.is_none_or(|to| at < to)
    }

    /// True when `other` is the same edge with the same user-visible content.
    pub fn same_content(&self, other: &Relationship) -> bool {
        self.id == other.id
            && self.source_id == other.source_id
            && self.target_id == other.target_id
            && self.rel_type == other.rel_type
            && self.strength == other.strength
            && self.confidence == other.confidence
            && self.note == other.note
            && self.properties == other.properties
            && self.valid_from == other.valid_from
            && self.valid_to == other.valid_to
    }

    /// The endpoint opposite `id`.
    pub fn other_end(&self, id: &str) -> &str {
        if self.source_id == id {
            &self.target_id
        } else {
            &self.source_id
        }
    }
}

/// A partial update of a memory: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryPatch {
    pub kind: Option<String>,
    pub title: Option<String>,
    pub content: Option<String>,
    pub tags: Option<Vec<String>>,
    pub context: Option<Context>,
    pub importance: Option<f32>,
    pub confidence: Option<f32>,
}

impl MemoryPatch {
    pub fn is_empty(&self) -> bool {
        *self == MemoryPatch::default()
    }

    /// True when the patch changes text that embeddings and the keyword index are made from.
    pub fn changes_text(&self) -> bool {
        self.title.is_some() || self.content.is_some() || self.tags.is_some()
    }
}

/// A partial update of a relationship. `valid_to: Some(None)` clears the end of validity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RelationshipPatch {
    pub strength: Option<f32>,
    pub confidence: Option<f32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "set_or_clear"
    )]
    pub note: Option<Option<String>>,
    pub properties: Option<Map<String, Value>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "set_or_clear"
    )]
    pub valid_from: Option<Option<DateTime<Utc>>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "set_or_clear"
    )]
    pub valid_to: Option<Option<DateTime<Utc>>>,
}

/// Serde for a patch field that can leave, set or clear: absent leaves, `null` clears, a
/// value sets. Plain `Option<Option<T>>` would read `null` back as "leave", so a queued
/// "clear the note" would be lost on its way through the sync outbox.
mod set_or_clear {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

impl RelationshipPatch {
    pub fn is_empty(&self) -> bool {
        *self == RelationshipPatch::default()
    }
}

/// Filters shared by listing, keyword, vector and graph queries. Every set field must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// Any of these kinds.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// All of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    pub project: Option<String>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    pub min_importance: Option<f32>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// Evaluates the filter on a memory (used by the in-memory backend and by graph expansion).
    pub fn matches(&self, m: &Memory) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&m.kind))
            && self.tags.iter().all(|t| m.tags.contains(t))
            && self
                .project
                .as_ref()
                .is_none_or(|p| m.context.project.as_ref() == Some(p))
            && self.since.is_none_or(|s| m.created_at >= s)
            && self.min_importance.is_none_or(|i| m.importance >= i)
    }
}

/// Which way to follow relationships from a memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From source to target.
    Outgoing,
    /// From target to source.
    Incoming,
    #[default]
    Both,
}

/// A page of memories (or of their summaries) in listing order (newest first) and the
/// cursor of the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T = Memory> {
    pub memories: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A keyword search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeywordHit {
    pub memory: Memory,
    /// BM25 relevance, higher is better (SQLite's bm25() negated).
    pub score: f64,
    /// A short excerpt with matched terms wrapped in `[` `]`.
    pub snippet: String,
}

/// A keyword match as ranked, before a snippet is made for it: the store ranks a deeper pool
/// than a page shows (term coverage weighs it again) and makes snippets only for the hits it
/// returns.
#[derive(Debug, Clone, PartialEq)]
pub struct KeywordMatch {
    pub memory: Memory,
    /// BM25 relevance, as [`KeywordHit::score`].
    pub score: f64,
}

/// Recalls of one memory to record: its `access_count` grows by `count`, and its
/// `accessed_at` becomes `at` unless it is later already (see `GraphBackend::touch`).
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    pub id: String,
    /// Times it was recalled since its access was last recorded.
    pub count: u64,
    /// When it was last recalled.
    pub at: DateTime<Utc>,
}

impl Access {
    /// One recall of memory `id` at `at`.
    pub fn one(id: impl Into<String>, at: DateTime<Utc>) -> Self {
        Access {
            id: id.into(),
            count: 1,
            at,
        }
    }
}

/// A vector search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorHit {
    pub memory: Memory,
    /// Cosine similarity in -1..=1, higher is better.
    pub similarity: f32,
    /// The memory's vector the search scored it with (the stored one, or the vector index's
    /// copy of it for `GraphBackend::vector_candidates`): a caller comparing it with another
    /// query (hybrid search's feedback) need not read it again. Not serialised.
    #[serde(skip)]
    pub vector: Vec<f32>,
}

/// Options of a breadth-first walk through the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Traversal {
    pub direction: Direction,
    /// Relationship types to follow; empty follows all.
    #[serde(default)]
    pub rel_types: Vec<String>,
    pub depth: u32,
    /// Follow relationships whose validity interval has ended too.
    #[serde(default)]
    pub include_expired: bool,
    /// Memories that fail the filter are neither returned nor walked through.
    #[serde(default)]
    pub filter: Filter,
    /// Stop once this many memories (seeds included) were reached.
    pub max_nodes: usize,
}

impl Default for Traversal {
    fn default() -> Self {
        Traversal {
            direction: Direction::Both,
            rel_types: Vec::new(),
            depth: 1,
            include_expired: false,
            filter: Filter::default(),
            max_nodes: 1000,
        }
    }
}

/// A memory reached by a walk, how far from the start and through which relationship.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    pub memory: MemorySummary,
    pub depth: u32,
    /// The relationship the walk came through (the first one found at the smallest depth).
    pub via: Relationship,
}

/// A loaded part of the graph: memories and every relationship among them that was walked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Subgraph {
    pub nodes: Vec<MemorySummary>,
    pub edges: Vec<Relationship>,
    /// True when the node cap stopped the walk early.
    pub truncated: bool,
}

/// What a create did: made a new record, or found the same record already there (a replay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Created {
    New,
    Existing,
}

/// What creating a memory together with its relationships did, record by record: each is new,
/// or the same record found already there (a replay).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkedMemory {
    pub memory: Memory,
    pub created: Created,
    /// The relationships, in the order given.
    pub relationships: Vec<(Relationship, Created)>,
}

/// Counts and sizes of a store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub memories: u64,
    pub relationships: u64,
    /// Memories with a vector of the recorded embedding model (of any model while none is
    /// recorded); after a model switch, vectors of the old model are not counted.
    pub embedded: u64,
    pub by_kind: Vec<(String, u64)>,
    pub by_rel_type: Vec<(String, u64)>,
    /// Bytes used by the database (pages × page size); 0 where not applicable.
    pub size_bytes: u64,
}

/// Per-store facts kept in the `meta` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreMeta {
    pub store_id: String,
    pub schema_version: u32,
    pub embedding_model: Option<String>,
    pub embedding_dim: Option<usize>,
}
