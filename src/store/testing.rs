//! Helpers for the store's unit tests: a store over the in-memory reference backend, and
//! one-line ways to add memories and relationships to it.

use std::sync::Arc;

use super::{Limits, MemoryStore, NewMemory, NewRelationship};
use crate::backend::in_memory::InMemoryBackend;

pub(super) async fn store() -> MemoryStore {
    MemoryStore::open(Arc::new(InMemoryBackend::new()), Limits::default())
        .await
        .unwrap()
}

/// Adds a memory and returns its id.
pub(super) async fn add(store: &MemoryStore, kind: &str, title: &str, content: &str) -> String {
    let new = NewMemory {
        kind: kind.into(),
        title: title.into(),
        content: content.into(),
        ..Default::default()
    };
    store.create(new).await.unwrap().0.id
}

/// Links `source` to `target` and returns the relationship's id.
pub(super) async fn link(
    store: &MemoryStore,
    source: &str,
    target: &str,
    rel: &str,
    strength: f32,
) -> String {
    let new = NewRelationship {
        source_id: source.into(),
        target_id: target.into(),
        rel_type: rel.into(),
        strength: Some(strength),
        ..Default::default()
    };
    store.link(new).await.unwrap().0.id
}
