//! Bulk import and self-checks of the in-memory reference backend.
//!
//! An import batch is decided in full against the stored records plus the batch's own earlier
//! writes, and only then applied, so a batch is all or nothing and a dry run is the same
//! computation without the final step.

use std::collections::HashMap;

use super::{State, stored_memory, stored_relationship};
use crate::backend::{
    ImportBatch, ImportOutcome, Imported, IntegrityCheck, SkipReason, decide_memory,
    decide_relationship,
};
use crate::model::{Embedding, Memory, Relationship};

impl State {
    pub(super) fn import(&mut self, batch: &ImportBatch, dry_run: bool) -> ImportOutcome {
        let mut memories: HashMap<String, (Memory, Option<Embedding>)> = HashMap::new();
        let mut outcome = ImportOutcome::default();
        for (memory, embedding) in &batch.memories {
            let memory = stored_memory(memory);
            let stored = memories
                .get(&memory.id)
                .map(|(m, _)| m)
                .or_else(|| self.memories.get(&memory.id));
            let done = decide_memory(stored, &memory);
            if !matches!(done, Imported::Skipped(_)) {
                memories.insert(memory.id.clone(), (memory, embedding.clone()));
            }
            outcome.memories.push(done);
        }

        let mut relationships: HashMap<String, Relationship> = HashMap::new();
        for rel in &batch.relationships {
            let rel = stored_relationship(rel);
            let stored = relationships
                .get(&rel.id)
                .or_else(|| self.relationships.get(&rel.id));
            let exists = |id: &String| memories.contains_key(id) || self.memories.contains_key(id);
            let mut done = decide_relationship(stored, &rel);
            if done == Imported::Created {
                let same_triple = |r: &Relationship| {
                    r.id != rel.id
                        && (&r.source_id, &r.target_id, &r.rel_type)
                            == (&rel.source_id, &rel.target_id, &rel.rel_type)
                };
                if !exists(&rel.source_id) || !exists(&rel.target_id) {
                    done = Imported::Skipped(SkipReason::MissingEndpoint);
                } else if self.relationships.values().any(same_triple)
                    || relationships.values().any(same_triple)
                {
                    done = Imported::Skipped(SkipReason::Conflict);
                }
            }
            if !matches!(done, Imported::Skipped(_)) {
                relationships.insert(rel.id.clone(), rel);
            }
            outcome.relationships.push(done);
        }

        if !dry_run {
            for (id, (memory, embedding)) in memories {
                match embedding {
                    Some(e) => self.vectors.insert(id.clone(), e),
                    None => self.vectors.remove(&id),
                };
                self.memories.insert(id, memory);
            }
            self.relationships.extend(relationships);
        }
        outcome
    }

    pub(super) fn embeddings(&self, ids: &[String]) -> Vec<(String, Embedding)> {
        ids.iter()
            .filter_map(|id| self.vectors.get(id).map(|e| (id.clone(), e.clone())))
            .collect()
    }

    /// The invariants the libSQL schema enforces with foreign keys, checked by scanning.
    pub(super) fn integrity(&self) -> Vec<IntegrityCheck> {
        let orphan_relationships = self
            .relationships
            .values()
            .filter(|r| {
                !self.memories.contains_key(&r.source_id)
                    || !self.memories.contains_key(&r.target_id)
            })
            .count();
        let orphan_vectors = self
            .vectors
            .keys()
            .filter(|id| !self.memories.contains_key(*id))
            .count();
        let foreign_vectors = match &self.meta.embedding_model {
            Some(model) => self.vectors.values().filter(|e| &e.model != model).count(),
            None => 0,
        };
        vec![
            IntegrityCheck::count(
                "orphan relationships",
                orphan_relationships as u64,
                "relationships to missing memories",
            ),
            IntegrityCheck::count(
                "orphan vectors",
                orphan_vectors as u64,
                "vectors of missing memories",
            ),
            IntegrityCheck::count(
                "vector model",
                foreign_vectors as u64,
                "vectors of another model than the store's",
            ),
        ]
    }
}
