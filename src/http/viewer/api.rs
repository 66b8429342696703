//! The viewer's JSON API. Each handler translates a request into `App`/`MemoryStore` calls and
//! the answer into JSON for the page; what is valid and what a write does are the store's
//! rules, so a request the store refuses comes back with the store's own message.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::ApiError;
use crate::app::{App, Changes};
use crate::model::{
    Direction, Filter, Memory, MemoryPatch, MemorySummary, Relationship, RelationshipPatch,
    Traversal,
};
use crate::store::{NewRelationship, SearchMode, defaults, parse_time};
use crate::text::excerpt;

type Answer<T> = Result<Json<T>, ApiError>;
type Shared = State<Arc<App>>;

/// Characters of content shown for a memory listed without a query (newest first).
const LISTED_SNIPPET_CHARS: usize = 200;

/// Filters as the search form sends them: lists comma-separated, empty fields absent.
#[derive(Debug, Default, Deserialize)]
pub struct FilterParams {
    kind: Option<String>,
    tag: Option<String>,
    project: Option<String>,
    /// A date or RFC 3339 time: memories created since.
    since: Option<String>,
}

impl FilterParams {
    fn filter(&self) -> Result<Filter, ApiError> {
        let list = |text: &Option<String>| -> Vec<String> {
            text.iter()
                .flat_map(|t| t.split(','))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let given = |text: &Option<String>| {
            text.as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        Ok(Filter {
            kinds: list(&self.kind),
            tags: list(&self.tag),
            project: given(&self.project),
            since: given(&self.since)
                .map(|t| parse_time("since", &t))
                .transpose()?,
            min_importance: None,
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
    mode: Option<SearchMode>,
    cursor: Option<String>,
    limit: Option<usize>,
    #[serde(flatten)]
    filter: FilterParams,
}

/// One line of a result list.
#[derive(Debug, Serialize)]
pub struct Hit {
    id: String,
    kind: String,
    title: String,
    tags: Vec<String>,
    project: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// An excerpt; matched terms are wrapped in `[` `]`.
    snippet: String,
    score: Option<f64>,
}

impl Hit {
    fn new(memory: Memory, snippet: String, score: Option<f64>) -> Self {
        Hit {
            id: memory.id,
            kind: memory.kind,
            title: memory.title,
            tags: memory.tags,
            project: memory.context.project,
            created_at: memory.created_at,
            updated_at: memory.updated_at,
            snippet,
            score,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Hits {
    /// `keyword`, `semantic` or `hybrid`; `recent` for a listing without a query.
    mode: &'static str,
    hits: Vec<Hit>,
    next_cursor: Option<String>,
}

/// `GET /api/search`: ranked search with filters, or the newest memories without a query.
pub async fn search(State(app): Shared, Query(p): Query<SearchParams>) -> Answer<Hits> {
    let filter = p.filter.filter()?;
    let limit = p.limit.unwrap_or(defaults::SEARCH_LIMIT);
    let store = app.store();
    if p.q.trim().is_empty() {
        let page = store.list(&filter, p.cursor.as_deref(), limit).await?;
        return Ok(Json(Hits {
            mode: "recent",
            hits: page
                .memories
                .into_iter()
                .map(|m| {
                    let snippet = excerpt(&m.content, LISTED_SNIPPET_CHARS);
                    Hit::new(m, snippet, None)
                })
                .collect(),
            next_cursor: page.next_cursor,
        }));
    }
    let page = store
        .search(&p.q, p.mode, &filter, limit, p.cursor.as_deref())
        .await?;
    Ok(Json(Hits {
        mode: page.mode.as_str(),
        hits: page
            .hits
            .into_iter()
            .map(|h| Hit::new(h.memory, h.snippet, Some(h.score)))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// A relationship as seen from one of its memories.
#[derive(Debug, Serialize)]
pub struct Link {
    #[serde(flatten)]
    relationship: Relationship,
    /// `out` when the memory is the source, `in` when it is the target.
    direction: &'static str,
    /// The memory at the other end.
    other: Option<MemorySummary>,
}

#[derive(Debug, Serialize)]
pub struct MemoryPage {
    memory: Memory,
    links: Vec<Link>,
}

/// `GET /api/memories/{id}`: a memory with its relationships both ways and the titles of the
/// memories at their other ends.
pub async fn memory(State(app): Shared, Path(id): Path<String>) -> Answer<MemoryPage> {
    let store = app.store();
    let memory = store.get(&id).await?;
    let relationships = store.relationships(&memory.id).await?;
    let others: Vec<String> = relationships
        .iter()
        .map(|r| r.other_end(&memory.id).to_owned())
        .collect();
    let mut summaries: HashMap<String, MemorySummary> = store
        .summaries(&others)
        .await?
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    let links = relationships
        .into_iter()
        .map(|relationship| {
            let outgoing = relationship.source_id == memory.id;
            let other = summaries.remove(relationship.other_end(&memory.id));
            Link {
                direction: if outgoing { "out" } else { "in" },
                other,
                relationship,
            }
        })
        .collect();
    Ok(Json(MemoryPage { memory, links }))
}

/// An edit: the fields to change and the version the person edited.
#[derive(Debug, Deserialize)]
pub struct MemoryEdit {
    expected_version: Option<i64>,
    #[serde(flatten)]
    patch: MemoryPatch,
}

/// An edited memory, and how many secrets the store took out of the new text.
#[derive(Debug, Serialize)]
pub struct Edited {
    #[serde(flatten)]
    memory: Memory,
    redacted: usize,
}

/// `PATCH /api/memories/{id}`: a partial update, refused on a version conflict.
pub async fn update_memory(
    State(app): Shared,
    Path(id): Path<String>,
    Json(edit): Json<MemoryEdit>,
) -> Answer<Edited> {
    let written = app
        .store()
        .update(&id, edit.patch, None, edit.expected_version)
        .await?;
    Ok(Json(Edited {
        redacted: written.redacted,
        memory: written.record,
    }))
}

/// `DELETE /api/memories/{id}`: the memory and its relationships.
pub async fn delete_memory(State(app): Shared, Path(id): Path<String>) -> Answer<Value> {
    let deleted = app.store().delete(&id).await?;
    Ok(Json(json!({
        "id": deleted.id,
        "relationships": deleted.relationships.len(),
    })))
}

/// `POST /api/relationships`.
pub async fn link(State(app): Shared, Json(new): Json<NewRelationship>) -> Answer<Relationship> {
    let (relationship, _) = app.store().link(new).await?;
    Ok(Json(relationship))
}

#[derive(Debug, Deserialize)]
pub struct RelationshipEdit {
    expected_version: Option<i64>,
    #[serde(flatten)]
    patch: RelationshipPatch,
}

/// `PATCH /api/relationships/{id}`: strength, note, validity; refused on a version conflict.
pub async fn update_relationship(
    State(app): Shared,
    Path(id): Path<String>,
    Json(edit): Json<RelationshipEdit>,
) -> Answer<Relationship> {
    let relationship = app
        .store()
        .update_relationship(&id, edit.patch, edit.expected_version)
        .await?;
    Ok(Json(relationship))
}

/// `DELETE /api/relationships/{id}`.
pub async fn unlink(State(app): Shared, Path(id): Path<String>) -> Answer<Value> {
    app.store().unlink(&id).await?;
    Ok(Json(json!({ "id": id })))
}

#[derive(Debug, Deserialize)]
pub struct GraphParams {
    /// Around this memory…
    id: Option<String>,
    /// …or around the best matches of this query.
    q: Option<String>,
    depth: Option<u32>,
    max_nodes: Option<usize>,
    #[serde(flatten)]
    filter: FilterParams,
}

/// An edge as the graph draws it.
#[derive(Debug, Serialize)]
pub struct Edge {
    id: String,
    source: String,
    target: String,
    rel_type: String,
    strength: f32,
}

#[derive(Debug, Serialize)]
pub struct Graph {
    nodes: Vec<MemorySummary>,
    edges: Vec<Edge>,
    /// True when the node cap stopped the walk.
    truncated: bool,
}

/// `GET /api/graph`: the subgraph within `depth` hops of a memory, or of a query's best
/// matches.
pub async fn graph(State(app): Shared, Query(p): Query<GraphParams>) -> Answer<Graph> {
    let filter = p.filter.filter()?;
    let traversal = Traversal {
        direction: Direction::Both,
        depth: p.depth.unwrap_or(defaults::EXPLORE_DEPTH),
        max_nodes: p.max_nodes.unwrap_or(defaults::EXPLORE_MAX_NODES),
        filter: filter.clone(),
        ..Traversal::default()
    };
    let store = app.store();
    let subgraph = match (&p.id, p.q.as_deref().map(str::trim)) {
        (Some(id), _) => store.subgraph(std::slice::from_ref(id), &traversal).await?,
        (None, Some(q)) if !q.is_empty() => {
            store
                .explore_query(q, &filter, defaults::EXPLORE_SEEDS, &traversal, 0)
                .await?
                .subgraph
        }
        _ => {
            return Err(crate::Error::invalid(
                "graph",
                "give a memory id (id=…) or a query (q=…) to draw the graph around",
            )
            .into());
        }
    };
    Ok(Json(Graph {
        nodes: subgraph.nodes,
        edges: subgraph
            .edges
            .into_iter()
            .map(|r| Edge {
                id: r.id,
                source: r.source_id,
                target: r.target_id,
                rel_type: r.rel_type,
                strength: r.strength,
            })
            .collect(),
        truncated: subgraph.truncated,
    }))
}

/// `GET /api/status`: counts by kind and type, the embedder, where the store is, and sync.
pub async fn status(State(app): Shared) -> Answer<Value> {
    let store = app.store();
    let location = app.location();
    Ok(Json(json!({
        "stats": store.stats().await?,
        "meta": store.meta().await?,
        "embedder": store.embedder().status(),
        "search_mode": store.default_mode().as_str(),
        "location": {
            "mode": location.mode,
            "path": location.path.display().to_string(),
            "namespace": location.namespace,
            "primary": location.primary,
        },
        "sync": app.sync_status(),
        "refusals": app.sync_refusals().await?,
    })))
}

/// `GET /api/changes`: the marker the page polls to show other writers' changes.
pub async fn changes(State(app): Shared) -> Answer<Changes> {
    Ok(Json(app.changes().await?))
}
