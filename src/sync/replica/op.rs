//! A write waiting in the outbox, and the rule that replays it idempotently.
//!
//! Every queued write carries what makes a replay safe: ids and timestamps made by the
//! writer, and for updates and deletes the version the device saw. A replay after a crash or
//! a lost acknowledgement recognises a write that already reached the primary and does not
//! apply it twice; a write made on a version the primary has since moved past (another device
//! changed the memory meanwhile) is refused as a conflict that shows both sides, never
//! applied over the other device's change.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::backend::{EmbeddingChange, GraphBackend};
use crate::error::{Error, Result};
use crate::model::{
    Created, Embedding, LinkedMemory, Memory, MemoryPatch, Relationship, RelationshipPatch,
};

/// An owned [`EmbeddingChange`], for storage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VectorChange {
    Keep,
    Clear,
    Set(Embedding),
}

impl VectorChange {
    pub fn from_change(change: &EmbeddingChange<'_>) -> Self {
        match change {
            EmbeddingChange::Keep => VectorChange::Keep,
            EmbeddingChange::Clear => VectorChange::Clear,
            EmbeddingChange::Set(e) => VectorChange::Set((*e).clone()),
        }
    }

    pub fn as_change(&self) -> EmbeddingChange<'_> {
        match self {
            VectorChange::Keep => EmbeddingChange::Keep,
            VectorChange::Clear => EmbeddingChange::Clear,
            VectorChange::Set(e) => EmbeddingChange::Set(e),
        }
    }
}

/// One queued write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// A memory created with its relationships, in one transaction on the primary.
    CreateMemory {
        memory: Memory,
        embedding: Option<Embedding>,
        /// Absent from ops queued before memories were created with their links, which read
        /// back as creates without any.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        relationships: Vec<Relationship>,
    },
    UpdateMemory {
        id: String,
        patch: MemoryPatch,
        vector: VectorChange,
        expected_version: Option<i64>,
        /// The version this device saw when it made the change: the update is known to be
        /// applied when the memory is at `base_version + 1` with `updated_at == now`.
        base_version: i64,
        now: DateTime<Utc>,
    },
    DeleteMemory {
        id: String,
        /// The version this device saw when it deleted the memory (absent from ops queued
        /// before deletes carried it: those delete whatever is there).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base_version: Option<i64>,
    },
    CreateRelationship {
        relationship: Relationship,
    },
    UpdateRelationship {
        id: String,
        patch: RelationshipPatch,
        expected_version: Option<i64>,
        base_version: i64,
        now: DateTime<Utc>,
    },
    DeleteRelationship {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base_version: Option<i64>,
    },
}

/// What applying a write produced: the answer its caller gets.
#[derive(Debug)]
pub enum Applied {
    Created(LinkedMemory),
    /// An updated memory.
    Memory(Memory),
    Relationship(Relationship, Created),
    /// A deleted memory, with the relationships removed with it.
    DeletedMemory(Vec<Relationship>),
    Deleted,
}

/// What a replay did.
#[derive(Debug, PartialEq)]
pub enum Replayed {
    /// Applied now, or found already applied: either way it is on the primary.
    Done,
    /// The primary refused it for good (a conflict with another device's change, a deleted
    /// endpoint): reported, not retried.
    Refused(String),
}

impl Op {
    /// A short description for logs and conflict reports.
    pub fn describe(&self) -> String {
        match self {
            Op::CreateMemory { memory, .. } => format!("create memory {}", memory.id),
            Op::UpdateMemory { id, .. } => format!("update memory {id}"),
            Op::DeleteMemory { id, .. } => format!("delete memory {id}"),
            Op::CreateRelationship { relationship } => {
                format!("create relationship {}", relationship.id)
            }
            Op::UpdateRelationship { id, .. } => format!("update relationship {id}"),
            Op::DeleteRelationship { id, .. } => format!("delete relationship {id}"),
        }
    }

    /// Does this write on `target`, as the one backend call it stands for.
    pub async fn apply(&self, target: &dyn GraphBackend) -> Result<Applied> {
        Ok(match self {
            Op::CreateMemory {
                memory,
                embedding,
                relationships,
            } => Applied::Created(
                target
                    .create_linked_memory(memory, embedding.as_ref(), relationships)
                    .await?,
            ),
            Op::UpdateMemory {
                id,
                patch,
                vector,
                expected_version,
                now,
                ..
            } => Applied::Memory(
                target
                    .update_memory(id, patch, vector.as_change(), *expected_version, *now)
                    .await?,
            ),
            Op::DeleteMemory { id, .. } => Applied::DeletedMemory(target.delete_memory(id).await?),
            Op::CreateRelationship { relationship } => {
                let (r, created) = target.create_relationship(relationship).await?;
                Applied::Relationship(r, created)
            }
            Op::UpdateRelationship {
                id,
                patch,
                expected_version,
                now,
                ..
            } => Applied::Relationship(
                target
                    .update_relationship(id, patch, *expected_version, *now)
                    .await?,
                Created::New,
            ),
            Op::DeleteRelationship { id, .. } => {
                target.delete_relationship(id).await?;
                Applied::Deleted
            }
        })
    }

    /// Applies this write to `target` unless it is already there. Transient errors (the
    /// primary is unreachable) and a refused token (a new token may be given) are returned,
    /// so the op stays queued; any other error refuses
    /// the write for good ([`Replayed::Refused`]), so one bad write cannot block the queue.
    ///
    /// Creates need no check (a replay by id is accepted), deletes of a missing row are done.
    pub async fn replay(&self, target: &dyn GraphBackend) -> Result<Replayed> {
        if self.already_applied(target).await? {
            return Ok(Replayed::Done);
        }
        if let Some(conflict) = self.conflict(target).await? {
            return Ok(Replayed::Refused(conflict));
        }
        // The check above and the write are not one transaction: an update is guarded again
        // by its base version, so a change landing in between is still a version conflict.
        match (self, self.on_base().apply(target).await) {
            (_, Ok(_))
            | (Op::DeleteMemory { .. }, Err(Error::MemoryNotFound { .. }))
            | (Op::DeleteRelationship { .. }, Err(Error::RelationshipNotFound { .. })) => {
                Ok(Replayed::Done)
            }
            (_, Err(err)) if err.is_transient() || err.token_refusal().is_some() => Err(err),
            (_, Err(err)) => Ok(Replayed::Refused(err.to_string())),
        }
    }

    /// This write made safe to apply on the version it was made on: an update without an
    /// expected version of its own expects its base version.
    fn on_base(&self) -> Cow<'_, Op> {
        let mut guarded = self.clone();
        match &mut guarded {
            Op::UpdateMemory {
                expected_version: expected @ None,
                base_version,
                ..
            }
            | Op::UpdateRelationship {
                expected_version: expected @ None,
                base_version,
                ..
            } => *expected = Some(*base_version),
            _ => return Cow::Borrowed(self),
        }
        Cow::Owned(guarded)
    }

    /// Why this write must not be applied: the record it changes or deletes is at another
    /// version on `target` than the one this device saw. The reason shows both sides.
    async fn conflict(&self, target: &dyn GraphBackend) -> Result<Option<String>> {
        let (base, ours) = match self {
            Op::UpdateMemory {
                base_version,
                patch,
                ..
            } => (*base_version, describe_patch(patch)),
            Op::DeleteMemory {
                base_version: Some(base),
                ..
            } => (*base, "delete it".to_owned()),
            Op::UpdateRelationship { base_version, .. } => {
                (*base_version, "change the relationship".to_owned())
            }
            Op::DeleteRelationship {
                base_version: Some(base),
                ..
            } => (*base, "delete it".to_owned()),
            _ => return Ok(None),
        };
        let theirs = match self {
            Op::UpdateMemory { id, .. } | Op::DeleteMemory { id, .. } => target
                .get_memories(std::slice::from_ref(id))
                .await?
                .pop()
                .map(|m| {
                    let when = m.updated_at.format("%Y-%m-%d %H:%M:%S UTC");
                    (m.version, format!("\"{}\", changed {when}", m.title))
                }),
            Op::UpdateRelationship { id, .. } | Op::DeleteRelationship { id, .. } => {
                match target.get_relationship(id).await {
                    Ok(r) => {
                        let when = r.updated_at.format("%Y-%m-%d %H:%M:%S UTC");
                        Some((r.version, format!("{}, changed {when}", r.rel_type)))
                    }
                    Err(Error::RelationshipNotFound { .. }) => None,
                    Err(err) => return Err(err),
                }
            }
            _ => None,
        };
        Ok(theirs.and_then(|(version, summary)| {
            (version != base).then(|| {
                format!(
                    "conflict: another device changed it while this one was offline; the \
                     primary has v{version} ({summary}), this device's write was made on \
                     v{base} to {ours}; not applied, so neither change is lost: look at both \
                     and apply yours again if it still holds"
                )
            })
        }))
    }

    /// True when this update already reached `target` (its answer was lost).
    async fn already_applied(&self, target: &dyn GraphBackend) -> Result<bool> {
        Ok(match self {
            Op::UpdateMemory {
                id,
                base_version,
                now,
                ..
            } => already_at(
                target.get_memories(std::slice::from_ref(id)).await?.first(),
                *base_version,
                *now,
                |m| (m.version, m.updated_at),
            ),
            Op::UpdateRelationship {
                id,
                base_version,
                now,
                ..
            } => {
                let current = match target.get_relationship(id).await {
                    Ok(rel) => Some(rel),
                    Err(Error::RelationshipNotFound { .. }) => None,
                    Err(err) => return Err(err),
                };
                already_at(current.as_ref(), *base_version, *now, |r| {
                    (r.version, r.updated_at)
                })
            }
            _ => false,
        })
    }
}

/// True when `current` is the result of this very update: one version past the one it was
/// made on, stamped with its time (timestamps are stored to the microsecond).
fn already_at<T>(
    current: Option<&T>,
    base_version: i64,
    now: DateTime<Utc>,
    key: impl Fn(&T) -> (i64, DateTime<Utc>),
) -> bool {
    current.is_some_and(|item| {
        let (version, updated_at) = key(item);
        version == base_version + 1 && updated_at.timestamp_micros() == now.timestamp_micros()
    })
}

/// What an update changes, briefly: the fields and the start of new text.
fn describe_patch(patch: &MemoryPatch) -> String {
    let short = |text: &str| {
        let mut cut: String = text.chars().take(60).collect();
        if cut.len() < text.len() {
            cut.push('…');
        }
        format!("{cut:?}")
    };
    let mut parts = Vec::new();
    if let Some(title) = &patch.title {
        parts.push(format!("title {}", short(title)));
    }
    if let Some(content) = &patch.content {
        parts.push(format!("content {}", short(content)));
    }
    for (field, set) in [
        ("kind", patch.kind.is_some()),
        ("tags", patch.tags.is_some()),
        ("context", patch.context.is_some()),
        ("importance", patch.importance.is_some()),
        ("confidence", patch.confidence.is_some()),
    ] {
        if set {
            parts.push(field.to_owned());
        }
    }
    format!("set {}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::in_memory::InMemoryBackend;

    fn memory(id: &str) -> Memory {
        let at = Utc::now();
        Memory {
            id: id.to_owned(),
            kind: "fact".into(),
            title: "t".into(),
            content: "c".into(),
            tags: vec![],
            context: Default::default(),
            importance: 0.5,
            confidence: 1.0,
            created_at: at,
            updated_at: at,
            accessed_at: None,
            access_count: 0,
            version: 1,
        }
    }

    #[test]
    fn ops_survive_a_round_trip_through_json_including_cleared_fields() {
        let op = Op::UpdateRelationship {
            id: "r".into(),
            patch: RelationshipPatch {
                note: Some(None),
                valid_to: Some(Some(Utc::now())),
                ..Default::default()
            },
            expected_version: Some(3),
            base_version: 3,
            now: Utc::now(),
        };
        let json = serde_json::to_string(&op).unwrap();
        assert_eq!(serde_json::from_str::<Op>(&json).unwrap(), op);
        // A field left alone stays absent, so it reads back as "leave".
        assert!(!json.contains("valid_from"));
    }

    #[tokio::test]
    async fn a_replayed_update_is_applied_once() {
        let target = InMemoryBackend::new();
        let m = memory("0192a000-0000-7000-8000-000000000001");
        target.create_memory(&m, None).await.unwrap();
        let op = Op::UpdateMemory {
            id: m.id.clone(),
            patch: MemoryPatch {
                content: Some("new".into()),
                ..Default::default()
            },
            vector: VectorChange::Keep,
            expected_version: Some(1),
            base_version: 1,
            now: Utc::now(),
        };
        assert_eq!(op.replay(&target).await.unwrap(), Replayed::Done);
        // The acknowledgement was lost and the op replays: recognised, not a conflict.
        assert_eq!(op.replay(&target).await.unwrap(), Replayed::Done);
        let stored = target
            .get_memories(std::slice::from_ref(&m.id))
            .await
            .unwrap();
        assert_eq!(stored[0].version, 2);
        assert_eq!(stored[0].content, "new");
    }

    #[tokio::test]
    async fn replays_of_creates_and_deletes_are_idempotent() {
        let target = InMemoryBackend::new();
        let m = memory("0192a000-0000-7000-8000-000000000002");
        let create = Op::CreateMemory {
            memory: m.clone(),
            embedding: None,
            relationships: Vec::new(),
        };
        let delete = Op::DeleteMemory {
            id: m.id.clone(),
            base_version: Some(1),
        };
        for op in [&create, &create, &delete, &delete] {
            assert_eq!(op.replay(&target).await.unwrap(), Replayed::Done);
        }
        assert!(target.get_memories(&[m.id]).await.unwrap().is_empty());
    }

    #[test]
    fn a_create_queued_before_links_existed_reads_back_and_is_written_the_same() {
        let m = memory("0192a000-0000-7000-8000-000000000004");
        let old = serde_json::json!({"op": "create_memory", "memory": m, "embedding": null});
        let op: Op = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(
            op,
            Op::CreateMemory {
                memory: m,
                embedding: None,
                relationships: Vec::new(),
            }
        );
        assert_eq!(serde_json::to_value(&op).unwrap(), old);
    }

    #[tokio::test]
    async fn a_replayed_create_with_links_is_applied_once() {
        let target = InMemoryBackend::new();
        let error = memory("0192a000-0000-7000-8000-000000000005");
        target.create_memory(&error, None).await.unwrap();
        let fix = memory("0192a000-0000-7000-8000-000000000006");
        let at = Utc::now();
        let solves = Relationship {
            id: "0192a000-0000-7000-8000-000000000007".into(),
            source_id: fix.id.clone(),
            target_id: error.id.clone(),
            rel_type: "SOLVES".into(),
            strength: 0.5,
            confidence: 1.0,
            note: None,
            properties: Default::default(),
            valid_from: None,
            valid_to: None,
            created_at: at,
            updated_at: at,
            version: 1,
        };
        let op = Op::CreateMemory {
            memory: fix.clone(),
            embedding: None,
            relationships: vec![solves],
        };
        let op: Op = serde_json::from_str(&serde_json::to_string(&op).unwrap()).unwrap();
        for _ in 0..2 {
            assert_eq!(op.replay(&target).await.unwrap(), Replayed::Done);
        }
        let rels = target
            .relationships_of(&[fix.id], crate::model::Direction::Both, &[], None)
            .await
            .unwrap();
        assert_eq!(rels.len(), 1);
        assert_eq!(target.stats().await.unwrap().memories, 2);
    }

    #[tokio::test]
    async fn a_conflict_with_another_device_is_refused_not_retried() {
        let target = InMemoryBackend::new();
        let m = memory("0192a000-0000-7000-8000-000000000003");
        target.create_memory(&m, None).await.unwrap();
        let other_device = MemoryPatch {
            title: Some("theirs".into()),
            ..Default::default()
        };
        target
            .update_memory(
                &m.id,
                &other_device,
                EmbeddingChange::Keep,
                Some(1),
                Utc::now(),
            )
            .await
            .unwrap();
        let ours = Op::UpdateMemory {
            id: m.id.clone(),
            patch: MemoryPatch {
                title: Some("ours".into()),
                ..Default::default()
            },
            vector: VectorChange::Keep,
            expected_version: Some(1),
            base_version: 1,
            now: Utc::now(),
        };
        match ours.replay(&target).await.unwrap() {
            Replayed::Refused(reason) => {
                for part in ["conflict", "v2 (\"theirs\"", "made on v1", "title \"ours\""] {
                    assert!(reason.contains(part), "{part}: {reason}");
                }
            }
            Replayed::Done => panic!("a stale update must not overwrite another device's"),
        }
    }

    #[tokio::test]
    async fn queued_writes_without_an_expected_version_are_guarded_by_their_base() {
        let target = InMemoryBackend::new();
        let m = memory("0192a000-0000-7000-8000-000000000008");
        target.create_memory(&m, None).await.unwrap();
        let other_device = MemoryPatch {
            content: Some("theirs".into()),
            ..Default::default()
        };
        let at = Utc::now();
        target
            .update_memory(&m.id, &other_device, EmbeddingChange::Keep, None, at)
            .await
            .unwrap();
        let update = Op::UpdateMemory {
            id: m.id.clone(),
            patch: MemoryPatch {
                content: Some("ours".into()),
                ..Default::default()
            },
            vector: VectorChange::Keep,
            expected_version: None,
            base_version: 1,
            now: Utc::now(),
        };
        let delete = Op::DeleteMemory {
            id: m.id.clone(),
            base_version: Some(1),
        };
        for op in [update, delete] {
            assert!(
                matches!(op.replay(&target).await.unwrap(), Replayed::Refused(_)),
                "{op:?}"
            );
        }
        let stored = target
            .get_memories(std::slice::from_ref(&m.id))
            .await
            .unwrap();
        assert_eq!(
            stored[0].content, "theirs",
            "the other device's change stands"
        );

        // On the version it was made on, the same delete goes through; an op queued before
        // deletes carried a version deletes whatever is there.
        let current = Op::DeleteMemory {
            id: m.id.clone(),
            base_version: Some(2),
        };
        assert_eq!(current.replay(&target).await.unwrap(), Replayed::Done);
        let old: Op =
            serde_json::from_value(serde_json::json!({"op": "delete_memory", "id": m.id})).unwrap();
        assert_eq!(
            old,
            Op::DeleteMemory {
                id: m.id.clone(),
                base_version: None
            }
        );
        assert!(target.get_memories(&[m.id]).await.unwrap().is_empty());
    }
}
