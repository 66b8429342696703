//! Memories as MCP resources: `memory://{id}` for one memory and `memory://recent` listing
//! the newest, so a client can attach memories to a conversation without a tool call.

use rmcp::ErrorData;
use rmcp::model::{
    ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate,
};

use super::format;
use super::results::{MemoryBrief, MemoryOut};
use crate::model::Filter;
use crate::store::MemoryStore;

const SCHEME: &str = "memory://";
const RECENT_URI: &str = "memory://recent";
/// Memories listed by `resources/list` and shown by `memory://recent`.
const RECENT_COUNT: usize = 20;
const MARKDOWN: &str = "text/markdown";

fn memory_uri(id: &str) -> String {
    format!("{SCHEME}{id}")
}

/// The recent list itself plus the newest memories, each readable by its uri.
pub async fn list(store: &MemoryStore) -> Result<ListResourcesResult, ErrorData> {
    let page = store
        .list(&Filter::default(), None, RECENT_COUNT)
        .await
        .map_err(internal)?;
    let mut resources = vec![
        Resource::new(RECENT_URI, "recent")
            .with_title("Recent memories")
            .with_description("The newest memories, one line each")
            .with_mime_type(MARKDOWN),
    ];
    resources.extend(page.memories.iter().map(|m| {
        Resource::new(memory_uri(&m.id), m.title.clone())
            .with_title(format!("[{}] {}", m.kind, m.title))
            .with_mime_type(MARKDOWN)
            .with_size(m.content.len() as u64)
    }));
    Ok(ListResourcesResult::with_all_items(resources))
}

pub fn templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(vec![
        ResourceTemplate::new("memory://{id}", "memory")
            .with_title("A memory")
            .with_description("One memory in full, with its relationships, by id")
            .with_mime_type(MARKDOWN),
    ])
}

/// Reads `memory://recent` or `memory://{id}`; an unknown uri or id is a resource-not-found
/// protocol error, as MCP prescribes for resources.
pub async fn read(store: &MemoryStore, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let text = if uri == RECENT_URI {
        let page = store
            .list(&Filter::default(), None, RECENT_COUNT)
            .await
            .map_err(internal)?;
        let lines: Vec<String> = page
            .memories
            .iter()
            .map(|m| format::brief(&MemoryBrief::from(m)))
            .collect();
        if lines.is_empty() {
            "no memories yet".to_owned()
        } else {
            lines.join("\n")
        }
    } else {
        let id = uri.strip_prefix(SCHEME).ok_or_else(|| not_found(uri))?;
        let memory = store.get(id).await.map_err(|e| match e {
            crate::Error::MemoryNotFound { .. } => not_found(uri),
            other => internal(other),
        })?;
        let relationships = store.relationships(&memory.id).await.map_err(internal)?;
        format::memory(&MemoryOut {
            relationships: Some(relationships.into_iter().map(Into::into).collect()),
            ..memory.into()
        })
    };
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(text, uri).with_mime_type(MARKDOWN),
    ]))
}

fn not_found(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!("no resource {uri}; use memory://recent or memory://<memory id>"),
        None,
    )
}

fn internal(err: crate::Error) -> ErrorData {
    tracing::error!(%err, "resource read failed");
    ErrorData::internal_error(err.to_string(), None)
}
