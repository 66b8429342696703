//! Duplicates and near-duplicates of a memory about to be stored.
//!
//! Storing what is already there (same kind, same title and content up to case and
//! spacing) answers with the existing memory instead of a copy. Otherwise the closest existing
//! memories are named as near-duplicates, but only when they are close enough to be worth a
//! look: a hint shown on every store teaches people to ignore it. Both come from one probe:
//! the nearest vectors when the memory has one (one scan of the in-memory index), else the
//! newest memories holding every word of its title but stopwords (one AND lookup of the
//! keyword index, which ranks nothing: a ranked search of the title and opening words cost
//! 3–4 ms at 100k memories, most of `store_memory`; the lookup reads the keyword postings in
//! memory where a server loaded them). An exact duplicate holds its title's words, and so does a
//! near-duplicate that kept them, which each change of the labelled set below does (a word
//! dropped, the end cut, two words replaced or a sentence appended, in a memory's text after
//! its title); one whose title was reworded is missed without vectors. The thresholds were
//! calibrated on a labelled set of near-duplicate and distinct pairs (`cargo bench --bench
//! locomo`, see BENCHMARKS.md).
//!
//! The probe compares a bounded list, which can leave an exact duplicate out: the same text
//! stored under other kinds has the same vector (a kind is not embedded) and may fill the
//! nearest, and a common title may be held by more newer memories than the keyword probe
//! reads. When its list was full and held no duplicate, one more lookup decides: the newest
//! memories holding every word of the new memory's title and content (its first 16 but
//! stopwords), which few memories but its copies and longer versions of it hold. A store
//! without such crowds pays nothing for it.

use std::collections::HashSet;

use super::MemoryStore;
use crate::error::Result;
use crate::model::{Embedding, KeywordHit, Memory};
use crate::text::{excerpt, is_stopword, stem, tokens};

/// Cosine similarity of two memories' vectors from which they count as near-duplicates.
pub const NEAR_DUPLICATE_COSINE: f32 = 0.9;
/// Share of distinct word stems two memories have in common (Jaccard) from which they count as
/// near-duplicates, when there are no vectors to compare.
pub const NEAR_DUPLICATE_WORDS: f64 = 0.6;
/// Words of a memory's title the keyword probe asks for (a longer title's first ones).
const PROBE_TITLE_WORDS: usize = 8;
/// Memories holding them all that the keyword probe compares, newest first.
const PROBE_CANDIDATES: usize = 16;
/// Words of a memory's title and content the lookup for an exact duplicate asks for: each
/// one more leaves fewer memories holding them all, for one more posting list to look in.
const EXACT_PROBE_WORDS: usize = 16;
/// Memories holding them all that the lookup for an exact duplicate compares, newest first:
/// few hold so many words of one text but its copies and longer versions of it, and a store
/// holding more longer versions than this, all newer than the copy, is not worth reading
/// whole for it.
const EXACT_CANDIDATES: usize = 256;
/// Characters of an existing memory shown with a hint.
const HINT_CHARS: usize = 120;

/// Text with its whitespace collapsed, in lower case: what "the same text" means here.
fn normalised(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// True when `a` and `b` say the same thing: same kind, same title and content up to case
/// and spacing.
pub fn same_memory(a: &Memory, b: &Memory) -> bool {
    a.kind == b.kind
        && normalised(&a.title) == normalised(&b.title)
        && normalised(&a.content) == normalised(&b.content)
}

/// The distinct word stems of a text.
fn stems(text: &str) -> HashSet<String> {
    tokens(text).map(|t| stem(&t)).collect()
}

/// Share of distinct word stems texts `a` and `b` have in common, in 0..=1 (Jaccard).
pub fn word_overlap(a: &str, b: &str) -> f64 {
    let (a, b) = (stems(a), stems(b));
    let union = a.union(&b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(&b).count() as f64 / union as f64
}

/// A memory's title and content, the text near-duplicates are compared on.
fn compared_text(m: &Memory) -> String {
    format!("{} {}", m.title, m.content)
}

/// What the probe found for a memory about to be stored.
#[derive(Default)]
pub(super) struct Probe {
    /// An existing memory that says the same thing.
    pub duplicate: Option<Memory>,
    /// Existing near-duplicates, closest first, each scored by its similarity (cosine, or
    /// word overlap without vectors).
    pub similar: Vec<KeywordHit>,
}

impl MemoryStore {
    /// Looks for existing memories that duplicate `memory` (not stored yet), naming at most
    /// `limit` near-duplicates.
    pub(super) async fn probe(
        &self,
        memory: &Memory,
        embedding: Option<&Embedding>,
        limit: usize,
    ) -> Result<Probe> {
        // One more than shown: an exact duplicate found among them is not a hint.
        let wanted = limit + 1;
        let (scored, full): (Vec<(Memory, f64)>, bool) = match embedding {
            Some(e) => {
                self.check_embedding(e).await?;
                let scored: Vec<(Memory, f64)> = self
                    .backend
                    .vectors_within(&e.model, &e.vector, NEAR_DUPLICATE_COSINE, wanted)
                    .await?
                    .into_iter()
                    .map(|h| (h.memory, f64::from(h.similarity)))
                    .collect();
                let full = scored.len() == wanted;
                (scored, full)
            }
            None => {
                let holding = self
                    .backend
                    .memories_holding(
                        &probe_words(&memory.title, PROBE_TITLE_WORDS),
                        PROBE_CANDIDATES,
                    )
                    .await?;
                let full = holding.len() == PROBE_CANDIDATES;
                let scored = holding
                    .into_iter()
                    .map(|m| {
                        let overlap = word_overlap(&compared_text(memory), &compared_text(&m));
                        (m, overlap)
                    })
                    .filter(|(_, overlap)| *overlap >= NEAR_DUPLICATE_WORDS)
                    .collect();
                (scored, full)
            }
        };
        let mut duplicate = scored
            .iter()
            .find(|(m, _)| same_memory(m, memory))
            .map(|(m, _)| m.clone());
        if duplicate.is_none() && full {
            duplicate = self.exact_duplicate(memory).await?;
        }
        let mut similar: Vec<KeywordHit> = scored
            .into_iter()
            .filter(|(m, _)| duplicate.as_ref().is_none_or(|d| d.id != m.id))
            .map(|(m, score)| KeywordHit {
                snippet: excerpt(&m.content, HINT_CHARS),
                memory: m,
                score,
            })
            .collect();
        similar.sort_by(|a, b| b.score.total_cmp(&a.score));
        similar.truncate(limit);
        Ok(Probe { duplicate, similar })
    }

    /// The existing memory that says the same as `memory`, when the probe's candidates, all
    /// it could compare, did not hold it: others nearer by vector (the same text under
    /// another kind has the same vector, since a kind is not embedded) or newer memories
    /// holding the title's words may have filled the list. A duplicate holds every word of
    /// the new memory's title and content, so it is among the newest memories holding
    /// [`EXACT_PROBE_WORDS`] of them unless more than [`EXACT_CANDIDATES`] newer ones hold
    /// them all.
    async fn exact_duplicate(&self, memory: &Memory) -> Result<Option<Memory>> {
        let words = probe_words(&compared_text(memory), EXACT_PROBE_WORDS);
        Ok(self
            .backend
            .memories_holding(&words, EXACT_CANDIDATES)
            .await?
            .into_iter()
            .find(|m| same_memory(m, memory)))
    }
}

/// The first `most` distinct words of `text`, in their order, that a lookup of the
/// memories holding them all asks for: all but stopwords, which are what a rewording changes
/// most ("for" or "in") and tell the least; all of them in a text of nothing else.
fn probe_words(text: &str, most: usize) -> Vec<String> {
    let mut words: Vec<String> = tokens(text).collect();
    if words.iter().any(|w| !is_stopword(w)) {
        words.retain(|w| !is_stopword(w));
    }
    let mut distinct: Vec<String> = Vec::with_capacity(most.min(words.len()));
    for word in words {
        if distinct.len() == most {
            break;
        }
        if !distinct.contains(&word) {
            distinct.push(word);
        }
    }
    distinct
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{add, store};

    #[tokio::test]
    async fn same_memory_ignores_case_and_spacing_only() {
        let s = store().await;
        let mut memories = Vec::new();
        for (kind, title, content) in [
            ("fix", "Retry busy", "Set busy_timeout  to 5s."),
            ("fix", "retry BUSY ", "set busy_timeout to 5s."),
            ("note", "Retry busy", "Set busy_timeout to 5s."),
            ("fix", "Retry busy", "Set busy_timeout to 6s."),
        ] {
            let id = add(&s, kind, title, content).await;
            memories.push(s.get(&id).await.unwrap());
        }
        assert!(same_memory(&memories[0], &memories[1]));
        assert!(!same_memory(&memories[0], &memories[2]));
        assert!(!same_memory(&memories[0], &memories[3]));
    }

    #[test]
    fn probe_words_are_the_first_distinct_ones_without_stopwords_unless_there_is_nothing_else() {
        assert_eq!(
            probe_words("Retry the busy write, then retry the read", 8),
            ["retry", "busy", "write", "read"]
        );
        assert_eq!(
            probe_words("Retry the busy write, then retry the read", 3),
            ["retry", "busy", "write"]
        );
        assert_eq!(
            probe_words("Then it was, then the", 8),
            ["then", "it", "was", "the"]
        );
        assert!(probe_words("—", 8).is_empty());
    }

    #[test]
    fn word_overlap_counts_shared_stems() {
        // Stems: {retri, lock, databas} and {retri, the, lock, databas}.
        let overlap = word_overlap(
            "Retry retries locked databases",
            "retry the locked database",
        );
        assert!((overlap - 0.75).abs() < 1e-9);
        assert_eq!(word_overlap("", ""), 0.0);
    }
}
