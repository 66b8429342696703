//! How this device sees its queued writes before the primary has them.
//!
//! The overlay is an in-memory store (the reference backend) holding every memory and
//! relationship a queued write touched, as it is after those writes, plus the ids they
//! deleted. Reads consult it over the replica, so a write queued offline is visible to `get`
//! and `list` at once. Applying a write to the overlay is also what checks it (unknown id,
//! version conflict, missing endpoint) before it is queued. The overlay is rebuilt from the
//! outbox whenever the outbox changes under it (replay, another process's writes).

use std::collections::HashSet;

use crate::backend::GraphBackend;
use crate::backend::in_memory::InMemoryBackend;
use crate::error::{Error, Result};
use crate::model::Direction;

use super::op::{Applied, Op};

#[derive(Default)]
pub(super) struct Overlay {
    /// The touched rows, after the queued writes.
    pending: InMemoryBackend,
    /// Ids of memories in `pending` (present or deleted there).
    memories: HashSet<String>,
    /// Ids of relationships in `pending` (present or deleted there).
    relationships: HashSet<String>,
    pub(super) deleted_memories: HashSet<String>,
    pub(super) deleted_relationships: HashSet<String>,
    /// Queued writes applied.
    pub(super) len: usize,
}

impl Overlay {
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(super) fn pending(&self) -> &InMemoryBackend {
        &self.pending
    }

    /// True when the overlay has its own view of memory `id` (changed or deleted).
    pub(super) fn owns_memory(&self, id: &str) -> bool {
        self.memories.contains(id)
    }

    pub(super) fn owns_relationship(&self, id: &str) -> bool {
        self.relationships.contains(id)
    }

    /// Ids of the memories the overlay has its own view of.
    pub(super) fn memory_ids(&self) -> Vec<String> {
        self.memories.iter().cloned().collect()
    }

    /// Ids of the relationships the overlay has its own view of, or deleted.
    pub(super) fn relationship_ids(&self) -> impl Iterator<Item = &String> {
        self.relationships.union(&self.deleted_relationships)
    }

    /// Applies `op` over `base` (the replica): brings in the rows it touches, does it on
    /// those rows, and records what it deleted.
    pub(super) async fn apply(&mut self, op: &Op, base: &dyn GraphBackend) -> Result<Applied> {
        let mut cascaded = Vec::new();
        match op {
            Op::CreateMemory {
                memory,
                relationships,
                ..
            } => {
                self.adopt_memory(&memory.id, base).await?;
                for rel in relationships {
                    self.adopt_memory(&rel.source_id, base).await?;
                    self.adopt_memory(&rel.target_id, base).await?;
                }
            }
            Op::UpdateMemory { id, .. } => self.adopt_memory(id, base).await?,
            Op::DeleteMemory { id, .. } => {
                self.adopt_memory(id, base).await?;
                // Its relationships go with it: they must be hidden too. Those the overlay
                // owns are answered by its own copy (or already gone from it).
                cascaded = base
                    .relationships_of(std::slice::from_ref(id), Direction::Both, &[], None)
                    .await?
                    .into_iter()
                    .filter(|r| !self.owns_relationship(&r.id))
                    .collect();
            }
            Op::CreateRelationship { relationship } => {
                self.adopt_memory(&relationship.source_id, base).await?;
                self.adopt_memory(&relationship.target_id, base).await?;
            }
            Op::UpdateRelationship { id, .. } | Op::DeleteRelationship { id, .. } => {
                self.adopt_relationship(id, base).await?;
            }
        }
        let mut applied = op.apply(&self.pending).await?;
        match op {
            Op::DeleteMemory { id, .. } => {
                self.deleted_memories.insert(id.clone());
                // What this device saw removed: the overlay's own rows and the replica's.
                if let Applied::DeletedMemory(removed) = &mut applied {
                    removed.extend(cascaded);
                    removed.sort_by(|a, b| a.id.cmp(&b.id));
                    for rel in removed.iter() {
                        self.relationships.insert(rel.id.clone());
                        self.deleted_relationships.insert(rel.id.clone());
                    }
                }
            }
            Op::CreateMemory { relationships, .. } => {
                self.relationships
                    .extend(relationships.iter().map(|r| r.id.clone()));
            }
            Op::CreateRelationship { relationship } => {
                self.relationships.insert(relationship.id.clone());
            }
            Op::DeleteRelationship { id, .. } => {
                self.deleted_relationships.insert(id.clone());
            }
            _ => {}
        }
        self.len += 1;
        Ok(applied)
    }

    /// Copies memory `id` from `base` into the overlay the first time a write touches it.
    async fn adopt_memory(&mut self, id: &str, base: &dyn GraphBackend) -> Result<()> {
        if !self.memories.insert(id.to_owned()) {
            return Ok(());
        }
        if let Some(memory) = base.get_memories(&[id.to_owned()]).await?.pop() {
            let vector = base
                .embeddings(&[id.to_owned()])
                .await?
                .pop()
                .map(|(_, e)| e);
            self.pending.create_memory(&memory, vector.as_ref()).await?;
        }
        Ok(())
    }

    async fn adopt_relationship(&mut self, id: &str, base: &dyn GraphBackend) -> Result<()> {
        if !self.relationships.insert(id.to_owned()) {
            return Ok(());
        }
        match base.get_relationship(id).await {
            Ok(rel) => {
                self.adopt_memory(&rel.source_id, base).await?;
                self.adopt_memory(&rel.target_id, base).await?;
                // Deleted endpoints mean the relationship went with them.
                if !self.deleted_memories.contains(&rel.source_id)
                    && !self.deleted_memories.contains(&rel.target_id)
                {
                    self.pending.create_relationship(&rel).await?;
                }
                Ok(())
            }
            Err(Error::RelationshipNotFound { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }
}
