//! Creating many memories with their links in one write: what a capture of a session stores
//! (errors, the fixes that solve them, decisions, a digest) goes in one transaction instead of
//! one per memory, each memory under the rules of [`MemoryStore::create_with_links`].

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{LinkDirection, MemoryStore, NewLink, NewMemory, NewRelationship, Written, now};
use crate::backend::NewRecord;
use crate::error::{Error, Result};
use crate::model::{Filter, LinkedMemory, Relationship};

impl MemoryStore {
    /// Stores `batch`: each memory with relationships between it and existing memories or
    /// memories earlier in the batch, in one transaction where the backend has them (all or
    /// nothing). Every rule of [`MemoryStore::create_with_links`] holds (redaction first, every
    /// field and link checked before anything is written, a replay by id answered
    /// [`crate::model::Created::Existing`]) except the look for near-duplicates, which
    /// [`MemoryStore::create_many`] skips too: a batch is written by a program that gives its
    /// records their own ids (a capture), not typed by a model that may repeat itself.
    pub async fn create_linked_many(
        &self,
        batch: Vec<(NewMemory, Vec<NewLink>)>,
    ) -> Result<Vec<Written<LinkedMemory>>> {
        self.limits.batch("memories", batch.len())?;
        let at = now();
        let mut records = Vec::with_capacity(batch.len());
        let mut links_of = Vec::with_capacity(batch.len());
        let mut redactions = Vec::with_capacity(batch.len());
        let mut earlier: HashSet<String> = HashSet::new();
        let mut elsewhere: Vec<String> = Vec::new();
        for (mut new, links) in batch {
            self.limits.batch("links", links.len())?;
            let mut redacted = self.scrub(&mut new);
            let (memory, embedding) = self.prepare(new, at).await?;
            let relationships =
                self.relationships_of_links(&memory.id, links, at, &mut redacted)?;
            for rel in &relationships {
                let other = rel.other_end(&memory.id);
                if !earlier.contains(other) {
                    elsewhere.push(other.to_owned());
                }
            }
            earlier.insert(memory.id.clone());
            records.push((memory, embedding));
            links_of.push(relationships);
            redactions.push(redacted);
        }
        self.check_targets(&elsewhere).await?;
        self.embed_missing(&mut records).await;
        let records: Vec<NewRecord> = records
            .into_iter()
            .zip(links_of)
            .map(|((memory, embedding), relationships)| NewRecord {
                memory,
                embedding,
                relationships,
            })
            .collect();
        let written = self.backend.create_linked_memories(&records).await?;
        Ok(written
            .into_iter()
            .zip(redactions)
            .map(|(record, redacted)| Written { record, redacted })
            .collect())
    }

    /// The relationships `links` make between the memory `id` and others, each checked by
    /// the rules of [`MemoryStore::link`] and given once; secrets in their notes counted in
    /// `redacted`.
    pub(super) fn relationships_of_links(
        &self,
        id: &str,
        links: Vec<NewLink>,
        at: DateTime<Utc>,
        redacted: &mut usize,
    ) -> Result<Vec<Relationship>> {
        let mut relationships: Vec<Relationship> = Vec::with_capacity(links.len());
        for link in links {
            let other = self.limits.id("target_id", &link.target_id)?;
            let (source_id, target_id) = match link.direction {
                LinkDirection::Outgoing => (id.to_owned(), other),
                LinkDirection::Incoming => (other, id.to_owned()),
            };
            let rel = self.relationship(
                NewRelationship {
                    id: link.id,
                    source_id,
                    target_id,
                    rel_type: link.rel_type,
                    strength: link.strength,
                    note: link.note,
                    ..Default::default()
                },
                at,
                redacted,
            )?;
            if relationships.iter().any(|r| {
                (&r.source_id, &r.target_id, &r.rel_type)
                    == (&rel.source_id, &rel.target_id, &rel.rel_type)
            }) {
                return Err(Error::invalid(
                    "links",
                    format!(
                        "give each relationship once: {} -{}-> {} is given twice",
                        rel.source_id, rel.rel_type, rel.target_id
                    ),
                ));
            }
            relationships.push(rel);
        }
        Ok(relationships)
    }

    /// Fails with [`Error::LinkTargetNotFound`] unless every memory of `targets` exists.
    pub(super) async fn check_targets(&self, targets: &[String]) -> Result<()> {
        if targets.is_empty() {
            return Ok(());
        }
        let found = self.backend.summaries(targets, &Filter::default()).await?;
        match targets.iter().find(|t| !found.iter().any(|s| &s.id == *t)) {
            Some(id) => Err(Error::LinkTargetNotFound { id: id.clone() }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Created;
    use crate::store::testing::store;

    const M1: &str = "01900000-0000-7000-8000-000000000001";
    const M2: &str = "01900000-0000-7000-8000-000000000002";

    fn memory(id: &str, title: &str) -> NewMemory {
        NewMemory {
            id: Some(id.into()),
            kind: "note".into(),
            title: title.into(),
            content: format!("{title}, with ghp_{}", "a".repeat(36)),
            ..NewMemory::default()
        }
    }

    fn link_to(target: &str) -> Vec<NewLink> {
        vec![NewLink {
            id: Some("01900000-0000-7000-8000-0000000000a1".into()),
            target_id: target.into(),
            rel_type: "SOLVES".into(),
            ..NewLink::default()
        }]
    }

    #[tokio::test]
    async fn a_batch_links_to_earlier_memories_redacts_and_replays() {
        let s = store().await;
        let batch = vec![
            (memory(M1, "The error"), Vec::new()),
            (memory(M2, "The fix"), link_to(M1)),
        ];
        let written = s.create_linked_many(batch.clone()).await.unwrap();
        assert_eq!(written.len(), 2);
        assert_eq!(written[1].relationships.len(), 1);
        assert!(written.iter().all(|w| w.redacted == 1));
        assert!(!s.get(M2).await.unwrap().content.contains("ghp_"));
        let again = s.create_linked_many(batch).await.unwrap();
        assert!(again.iter().all(|w| w.created == Created::Existing));
    }

    #[tokio::test]
    async fn a_link_to_a_memory_neither_stored_nor_earlier_fails_before_any_write() {
        let s = store().await;
        let batch = vec![
            (memory(M1, "First"), link_to(M2)),
            (memory(M2, "Second"), Vec::new()),
        ];
        let err = s.create_linked_many(batch).await.unwrap_err();
        assert!(
            matches!(err, Error::LinkTargetNotFound { ref id } if id == M2),
            "{err}"
        );
        assert!(s.get(M1).await.is_err(), "nothing was written");
    }
}
