//! The store's answers as tool results: one conversion per result type, so a tool body is
//! parameters → store call → result, and the contract's shape is decided here, next to it.

use super::{
    CentralOut, DeletedOut, ExploreOut, ListOut, MemoryBrief, MemoryOut, NeighbourOut, PathOut,
    RecallItemOut, RecallOut, RelationshipResultOut, SearchHitOut, SearchOut, SimilarOut, StatsOut,
    StoreMemoryOut, SyncOut,
};
use crate::model::{
    Created, Direction, KeywordHit, LinkedMemory, Memory, MemorySummary, Neighbour, Page,
    Relationship, Stats, StoreMeta,
};
use crate::store::{
    DeletedMemory, EmbeddingReport, Exploration, FoundPath, Recall, RecallReason, Recalled,
    SearchHit, SearchPage, Written,
};
use crate::sync::SyncStatus;

impl MemoryOut {
    /// A memory in full, with its relationships when they were asked for.
    pub fn with_relationships(memory: Memory, relationships: Option<Vec<Relationship>>) -> Self {
        MemoryOut {
            relationships: relationships.map(|rels| rels.into_iter().map(Into::into).collect()),
            ..memory.into()
        }
    }
}

impl From<KeywordHit> for SimilarOut {
    fn from(h: KeywordHit) -> Self {
        SimilarOut {
            id: h.memory.id,
            kind: h.memory.kind,
            title: h.memory.title,
            score: h.score,
            snippet: h.snippet,
        }
    }
}

impl StoreMemoryOut {
    /// A stored memory with the links made with it and the near-duplicates found after.
    pub fn new(linked: Written<LinkedMemory>, similar: Vec<KeywordHit>) -> Self {
        let Written {
            record: linked,
            redacted,
        } = linked;
        StoreMemoryOut {
            id: linked.memory.id,
            version: linked.memory.version,
            created: linked.created.into(),
            links: linked
                .relationships
                .into_iter()
                .map(|(rel, _)| rel.into())
                .collect(),
            similar: similar.into_iter().map(Into::into).collect(),
            redacted,
        }
    }
}

impl From<DeletedMemory> for DeletedOut {
    fn from(d: DeletedMemory) -> Self {
        DeletedOut {
            deleted: d.id,
            relationships_removed: d.relationships.len(),
        }
    }
}

impl From<SearchHit> for SearchHitOut {
    fn from(h: SearchHit) -> Self {
        SearchHitOut {
            matched_by: matched_by(&h).to_owned(),
            id: h.memory.id,
            kind: h.memory.kind,
            score: significant(h.score),
        }
    }
}

/// Which side of a search found a hit.
pub fn matched_by(h: &SearchHit) -> &'static str {
    match (h.parts.keyword_rank, h.parts.semantic_rank) {
        (Some(_), Some(_)) => "both",
        (None, Some(_)) => "semantic",
        _ => "keyword",
    }
}

/// `x` to 4 significant digits: a score's 17 digits are noise a model pays for in tokens.
fn significant(x: f64) -> f64 {
    format!("{x:.3e}").parse().unwrap_or(x)
}

impl From<SearchPage> for SearchOut {
    fn from(page: SearchPage) -> Self {
        SearchOut {
            mode: page.mode.as_str().to_owned(),
            next_cursor: page.next_cursor,
            hits: page.hits.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<Recalled> for RecallItemOut {
    fn from(r: Recalled) -> Self {
        let (reason, terms, rel_type, direction, via_id) = match r.reason {
            RecallReason::Matched { terms } => ("matched", terms, None, None, None),
            RecallReason::Linked {
                rel_type,
                direction,
                via_id,
                ..
            } => {
                let direction = match direction {
                    Direction::Incoming => "incoming",
                    _ => "outgoing",
                };
                (
                    "linked",
                    Vec::new(),
                    Some(rel_type),
                    Some(direction.to_owned()),
                    Some(via_id),
                )
            }
        };
        RecallItemOut {
            id: r.memory.id,
            kind: r.memory.kind,
            title: r.memory.title,
            score: r.score,
            reason: reason.to_owned(),
            terms,
            rel_type,
            direction,
            via_id,
        }
    }
}

impl From<Recall> for RecallOut {
    fn from(r: Recall) -> Self {
        RecallOut {
            briefing: r.briefing,
            items: r.items.into_iter().map(Into::into).collect(),
            omitted: r.omitted,
        }
    }
}

impl RelationshipResultOut {
    /// A relationship just created, or found already there (a replay).
    pub fn created(rel: Relationship, created: Created) -> Self {
        RelationshipResultOut {
            relationship: rel.into(),
            created: Some(created.into()),
        }
    }

    /// A relationship just updated.
    pub fn updated(rel: Relationship) -> Self {
        RelationshipResultOut {
            relationship: rel.into(),
            created: None,
        }
    }
}

impl From<Neighbour> for NeighbourOut {
    fn from(n: Neighbour) -> Self {
        NeighbourOut {
            memory: n.memory.into(),
            depth: n.depth,
            via: n.via.into(),
        }
    }
}

impl From<Option<FoundPath>> for PathOut {
    fn from(path: Option<FoundPath>) -> Self {
        match path {
            Some(path) => PathOut {
                found: true,
                hops: path.hops,
                memories: path.memories.into_iter().map(Into::into).collect(),
                relationships: path.relationships.into_iter().map(Into::into).collect(),
            },
            None => PathOut {
                found: false,
                hops: 0,
                memories: Vec::new(),
                relationships: Vec::new(),
            },
        }
    }
}

impl From<Exploration> for ExploreOut {
    fn from(e: Exploration) -> Self {
        ExploreOut {
            nodes: e.subgraph.nodes.into_iter().map(Into::into).collect(),
            edges: e.subgraph.edges.into_iter().map(Into::into).collect(),
            central: e
                .central
                .into_iter()
                .map(|(id, score)| CentralOut { id, score })
                .collect(),
            clusters: e.clusters,
            truncated: e.subgraph.truncated,
        }
    }
}

impl From<Page<MemorySummary>> for ListOut {
    fn from(page: Page<MemorySummary>) -> Self {
        ListOut {
            memories: page.memories.into_iter().map(MemoryBrief::from).collect(),
            next_cursor: page.next_cursor,
        }
    }
}

impl StatsOut {
    /// The store's counts and facts, where it is (`store_path`, `namespace`), its embedder
    /// and its sync state.
    pub fn new(
        stats: Stats,
        meta: StoreMeta,
        embedding: EmbeddingReport,
        store_path: String,
        namespace: String,
        sync: &SyncStatus,
    ) -> Self {
        let embedder = embedding.embedder;
        StatsOut {
            memories: stats.memories,
            relationships: stats.relationships,
            embedded: stats.embedded,
            by_kind: stats.by_kind.into_iter().collect(),
            by_rel_type: stats.by_rel_type.into_iter().collect(),
            size_bytes: stats.size_bytes,
            store_path,
            namespace,
            store_id: meta.store_id,
            schema_version: meta.schema_version,
            embedder: embedder.model.unwrap_or(embedder.provider),
            embedder_state: embedder.state.to_owned(),
            embedder_detail: embedder.detail,
            embedding_dim: embedder.dimension,
            pending_embeddings: embedding.pending,
            sync: SyncOut::from(sync),
        }
    }
}
