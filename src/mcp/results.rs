//! Tool results: the structured content of each tool (with the schema advertised as its
//! `outputSchema`), the compact text beside it, and tool errors.
//!
//! The output types are the MCP server's public contract, kept apart from the store's model so
//! the model can evolve without silently changing what clients parse, and so bookkeeping a
//! model has no use for stays out of its context window.

mod mapping;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::model::{Created, Memory, MemorySummary, Relationship};

/// A successful tool result: compact text for the model to read and the same facts as
/// structured content matching the tool's `outputSchema`.
pub struct Reply<T> {
    pub text: String,
    pub data: T,
}

impl<T: Serialize> IntoCallToolResult for Reply<T> {
    fn into_call_tool_result(self) -> Result<CallToolResponse, rmcp::ErrorData> {
        let value = serde_json::to_value(&self.data).map_err(|e| {
            rmcp::ErrorData::internal_error(format!("cannot serialise the result: {e}"), None)
        })?;
        let mut result = CallToolResult::success(vec![ContentBlock::text(self.text)]);
        result.structured_content = Some(value);
        Ok(result.into())
    }
}

/// A failed tool call, reported to the model as a result with `isError` and a message that
/// says what to do next (protocol errors are kept for malformed requests).
#[derive(Debug)]
pub struct ToolError(pub String);

impl From<crate::Error> for ToolError {
    fn from(err: crate::Error) -> Self {
        if !err.is_user_error() {
            tracing::error!(%err, "store failure");
        }
        ToolError(err.to_string())
    }
}

impl IntoCallToolResult for ToolError {
    fn into_call_tool_result(self) -> Result<CallToolResponse, rmcp::ErrorData> {
        Ok(CallToolResult::error(vec![ContentBlock::text(self.0)]).into())
    }
}

pub type ToolResult<T> = Result<Reply<T>, ToolError>;

/// A memory in full.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MemoryOut {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub content: String,
    pub tags: Vec<String>,
    /// Project, repo, paths, language, branch, commit and any extra keys.
    #[schemars(schema_with = "super::schema::any_object")]
    pub context: Value,
    pub importance: f32,
    pub confidence: f32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub accessed_at: Option<DateTime<Utc>>,
    pub access_count: u64,
    /// Pass as expected_version when updating.
    pub version: i64,
    /// Present when relationships were asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relationships: Option<Vec<RelationshipOut>>,
}

impl From<Memory> for MemoryOut {
    fn from(m: Memory) -> Self {
        MemoryOut {
            context: serde_json::to_value(&m.context).unwrap_or(Value::Null),
            id: m.id,
            kind: m.kind,
            title: m.title,
            content: m.content,
            tags: m.tags,
            importance: m.importance,
            confidence: m.confidence,
            created_at: m.created_at,
            updated_at: m.updated_at,
            accessed_at: m.accessed_at,
            access_count: m.access_count,
            version: m.version,
            relationships: None,
        }
    }
}

/// A memory in short.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MemoryBrief {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub tags: Vec<String>,
    pub importance: f32,
    pub created_at: DateTime<Utc>,
}

impl From<MemorySummary> for MemoryBrief {
    fn from(s: MemorySummary) -> Self {
        MemoryBrief {
            id: s.id,
            kind: s.kind,
            title: s.title,
            tags: s.tags,
            importance: s.importance,
            created_at: s.created_at,
        }
    }
}

impl From<&Memory> for MemoryBrief {
    fn from(m: &Memory) -> Self {
        m.summary().into()
    }
}

/// A relationship.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RelationshipOut {
    pub id: String,
    pub source_id: String,
    pub target_id: String,
    pub rel_type: String,
    pub strength: f32,
    pub confidence: f32,
    pub note: Option<String>,
    #[schemars(schema_with = "super::schema::any_object")]
    pub properties: Value,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
    /// Pass as expected_version when updating.
    pub version: i64,
}

impl From<Relationship> for RelationshipOut {
    fn from(r: Relationship) -> Self {
        RelationshipOut {
            properties: Value::Object(r.properties),
            id: r.id,
            source_id: r.source_id,
            target_id: r.target_id,
            rel_type: r.rel_type,
            strength: r.strength,
            confidence: r.confidence,
            note: r.note,
            valid_from: r.valid_from,
            valid_to: r.valid_to,
            version: r.version,
        }
    }
}

/// Whether a create made a new record or found the same one already stored (a replay).
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CreatedOut {
    New,
    Existing,
}

impl From<Created> for CreatedOut {
    fn from(c: Created) -> Self {
        match c {
            Created::New => CreatedOut::New,
            Created::Existing => CreatedOut::Existing,
        }
    }
}

/// An existing memory that looks like the one just stored.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SimilarOut {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub score: f64,
    pub snippet: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StoreMemoryOut {
    pub id: String,
    pub version: i64,
    pub created: CreatedOut,
    /// Relationships made from `links`.
    pub links: Vec<RelationshipOut>,
    /// Existing memories that look similar: link to them or update one instead of keeping
    /// near-copies.
    pub similar: Vec<SimilarOut>,
    /// Secrets replaced by `[REDACTED:…]` markers before storing (absent when none).
    #[serde(skip_serializing_if = "is_zero")]
    pub redacted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GetMemoryOut {
    pub memories: Vec<MemoryOut>,
    /// Requested ids that do not exist.
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DeletedOut {
    pub deleted: String,
    /// Relationships removed with a deleted memory.
    pub relationships_removed: usize,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SearchHitOut {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub tags: Vec<String>,
    pub importance: f32,
    pub created_at: DateTime<Utc>,
    /// Excerpt with matched terms in [brackets].
    pub snippet: String,
    /// Higher is better.
    pub score: f64,
    /// Why it matched: the query terms found, and in which fields.
    pub matched_terms: Vec<String>,
    pub matched_fields: Vec<String>,
    /// Which side found it: keyword, semantic or both.
    pub matched_by: String,
    /// BM25 score on the keyword side, when a query term matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyword_score: Option<f64>,
    /// Cosine similarity to the query on the semantic side, when compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub semantic_score: Option<f32>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SearchOut {
    /// The mode that ran.
    pub mode: String,
    pub hits: Vec<SearchHitOut>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RecallItemOut {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub score: f64,
    /// `matched` (the query matched it) or `linked` (related to a match).
    pub reason: String,
    /// Matched query terms, for `matched`.
    pub terms: Vec<String>,
    /// For `linked`: the relationship type, its direction and the matched memory.
    pub rel_type: Option<String>,
    pub direction: Option<String>,
    pub via_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RecallOut {
    /// A compact briefing to read.
    pub briefing: String,
    /// The memories in the briefing, best first.
    pub items: Vec<RecallItemOut>,
    /// Relevant memories the size budget left out.
    pub omitted: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RelationshipResultOut {
    pub relationship: RelationshipOut,
    /// Only for create_relationship: new, or existing for a replay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<CreatedOut>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct NeighbourOut {
    pub memory: MemoryBrief,
    /// Hops from the start.
    pub depth: u32,
    /// The relationship the walk arrived through.
    pub via: RelationshipOut,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RelatedOut {
    pub id: String,
    pub neighbours: Vec<NeighbourOut>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PathOut {
    pub found: bool,
    pub hops: usize,
    /// Memories from `from_id` to `to_id`.
    pub memories: Vec<MemoryBrief>,
    /// `relationships[i]` joins `memories[i]` and `memories[i + 1]`.
    pub relationships: Vec<RelationshipOut>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CentralOut {
    pub id: String,
    /// PageRank score.
    pub score: f64,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ExploreOut {
    pub nodes: Vec<MemoryBrief>,
    pub edges: Vec<RelationshipOut>,
    /// Most central memories, best first.
    pub central: Vec<CentralOut>,
    /// Connected groups of memory ids, largest first.
    pub clusters: Vec<Vec<String>>,
    /// True when max_nodes cut the walk short.
    pub truncated: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ListOut {
    pub memories: Vec<MemoryBrief>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SyncOut {
    /// local, replica or remote.
    pub mode: String,
    /// The primary's URL (without credentials); absent for a local store.
    pub primary: Option<String>,
    /// Whether the last contact with the primary succeeded (always true when local).
    pub online: bool,
    /// When this process last synced, RFC 3339.
    pub last_success: Option<String>,
    /// Seconds since then.
    pub lag_secs: Option<f64>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// Writes made while the primary was unreachable, waiting to be sent.
    pub pending_writes: u64,
    /// Queued writes the primary refused (e.g. another device changed the memory first);
    /// `memctl sync status` lists them.
    pub refused_writes: u64,
}

impl From<&crate::sync::SyncStatus> for SyncOut {
    fn from(s: &crate::sync::SyncStatus) -> Self {
        SyncOut {
            mode: s.mode.to_string(),
            primary: s.primary.clone(),
            online: s.online,
            last_success: s.last_success.map(|t| t.to_rfc3339()),
            lag_secs: s.lag_secs(chrono::Utc::now()),
            last_error: s.last_error.clone(),
            pending_writes: s.pending_writes,
            refused_writes: s.conflicts,
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StatsOut {
    pub memories: u64,
    pub relationships: u64,
    /// Memories with an embedding vector.
    pub embedded: u64,
    pub by_kind: BTreeMap<String, u64>,
    pub by_rel_type: BTreeMap<String, u64>,
    pub size_bytes: u64,
    pub store_path: String,
    pub namespace: String,
    pub store_id: String,
    pub schema_version: u32,
    /// The embedding model when ready, else the configured provider (or "none": keyword
    /// search only).
    pub embedder: String,
    /// none, loading, ready or failed.
    pub embedder_state: String,
    /// Why the embedder failed and what to do, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedder_detail: Option<String>,
    /// Dimensions of the embedder's vectors, when ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding_dim: Option<usize>,
    /// Memories waiting to be embedded in the background.
    pub pending_embeddings: u64,
    pub sync: SyncOut,
}
