//! Bulk import and self-checks: the types both backends share, and the one rule that decides
//! what importing a record over a stored one does.
//!
//! The rule lives here, not in each backend, so the in-memory reference and libSQL cannot
//! drift apart on what "idempotent import" means.

use serde::{Deserialize, Serialize};

use crate::model::{Embedding, Memory, Relationship};

/// What importing one record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Imported {
    /// The record was new and is now stored as given.
    Created,
    /// A record with its id was stored with other content and an older
    /// `(updated_at, version)`; the imported one replaced it.
    Updated,
    /// Nothing was written, for the reason given.
    Skipped(SkipReason),
}

/// Why an imported record was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The stored record has the same content (a replayed import).
    Unchanged,
    /// The stored record differs but is as new or newer.
    Older,
    /// A relationship whose source or target memory does not exist.
    MissingEndpoint,
    /// A relationship whose id is stored with other endpoints or type, or whose
    /// (source, target, type) is stored under another id.
    Conflict,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Unchanged => "unchanged",
            SkipReason::Older => "older",
            SkipReason::MissingEndpoint => "missing_endpoint",
            SkipReason::Conflict => "conflict",
        }
    }
}

/// Records to import as they are: ids, timestamps, versions and access counts are kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportBatch {
    /// Each memory with exactly the vector it should have (an updated memory without one
    /// loses its stored vector, which was made from text it no longer has).
    pub memories: Vec<(Memory, Option<Embedding>)>,
    /// Written after the memories, so they may join memories of the same batch.
    pub relationships: Vec<Relationship>,
}

impl ImportBatch {
    pub fn len(&self) -> usize {
        self.memories.len() + self.relationships.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What an [`ImportBatch`] did, record by record, in batch order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportOutcome {
    pub memories: Vec<Imported>,
    pub relationships: Vec<Imported>,
}

/// One storage self-check: what was checked, whether it passed and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrityCheck {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

impl IntegrityCheck {
    /// A check that counts bad rows: it passes when there are none.
    pub fn count(name: &str, bad: u64, what: &str) -> Self {
        IntegrityCheck {
            name: name.to_owned(),
            ok: bad == 0,
            detail: if bad == 0 {
                format!("no {what}")
            } else {
                format!("{bad} {what}")
            },
        }
    }
}

/// What importing `incoming` over the memory stored under its id does.
pub fn decide_memory(stored: Option<&Memory>, incoming: &Memory) -> Imported {
    match stored {
        None => Imported::Created,
        Some(s) if s.same_content(incoming) => Imported::Skipped(SkipReason::Unchanged),
        Some(s) if (incoming.updated_at, incoming.version) > (s.updated_at, s.version) => {
            Imported::Updated
        }
        Some(_) => Imported::Skipped(SkipReason::Older),
    }
}

/// What importing `incoming` over the relationship stored under its id does. The caller
/// checks endpoints and (source, target, type) uniqueness for new ids.
pub fn decide_relationship(stored: Option<&Relationship>, incoming: &Relationship) -> Imported {
    match stored {
        None => Imported::Created,
        Some(s)
            if (&s.source_id, &s.target_id, &s.rel_type)
                != (&incoming.source_id, &incoming.target_id, &incoming.rel_type) =>
        {
            Imported::Skipped(SkipReason::Conflict)
        }
        Some(s) if s.same_content(incoming) => Imported::Skipped(SkipReason::Unchanged),
        Some(s) if (incoming.updated_at, incoming.version) > (s.updated_at, s.version) => {
            Imported::Updated
        }
        Some(_) => Imported::Skipped(SkipReason::Older),
    }
}
