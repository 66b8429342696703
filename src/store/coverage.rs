//! Term coverage: how much of a query a memory holds.
//!
//! BM25 sums what each matched term is worth, so a memory holding one rare query word several
//! times (or in its tags, weighted ×2) can outrank one holding every word of the query once.
//! People searching for a memory expect the one that says everything they typed first. So
//! keyword scores are multiplied by the memory's coverage of the query raised to a power: the
//! share of the query's terms it holds (matched through stems, as the index matches), each
//! term weighted by how rare it is among the candidates, so that missing a rare word costs
//! more than missing a common one.

use std::collections::HashMap;

use crate::model::Memory;
use crate::text::StemmedTerms;

/// Where a memory holds each query term: per field (title, tags, content), per term, the
/// word that matched it through its stem.
pub(super) struct TermMatches {
    pub(super) fields: [Vec<Option<String>>; 3],
}

/// The searchable fields, in the order [`TermMatches`] keeps them.
pub(super) const FIELD_NAMES: [&str; 3] = ["title", "tags", "content"];

impl TermMatches {
    pub(super) fn of(memory: &Memory, terms: &StemmedTerms) -> Self {
        TermMatches {
            fields: [
                terms.find_in(&memory.title),
                // Tags as the index holds them: one text, space-separated.
                terms.find_in(&memory.tags.join(" ")),
                terms.find_in(&memory.content),
            ],
        }
    }

    /// The word matching term `i` in any field, title first.
    pub(super) fn word(&self, i: usize) -> Option<&str> {
        self.fields.iter().find_map(|f| f[i].as_deref())
    }

    /// True when some field holds term `i`.
    pub(super) fn holds(&self, i: usize) -> bool {
        self.word(i).is_some()
    }
}

/// Each candidate's coverage of the query in 0..=1 (see the module doc). A term no candidate
/// holds weighs nothing: it tells none of them apart.
pub(super) fn coverage<'m>(
    memories: impl Iterator<Item = (&'m String, &'m Memory)>,
    terms: &StemmedTerms,
) -> HashMap<String, f64> {
    let held: Vec<(&String, Vec<bool>)> = memories.map(|(id, m)| (id, held(m, terms))).collect();
    shares(held.iter().map(|(id, h)| (*id, h.as_slice())), terms.len())
}

/// Per query term, whether `memory` holds it: what [`shares`] weighs. A caller that gets its
/// candidates in parts (hybrid search, whose keyword hits come before its vector side's)
/// finds them for each part as it comes.
pub(super) fn held(memory: &Memory, terms: &StemmedTerms) -> Vec<bool> {
    let matches = TermMatches::of(memory, terms);
    (0..terms.len()).map(|i| matches.holds(i)).collect()
}

/// [`coverage`] from what each candidate holds of the `terms` query terms (see [`held`]).
pub(super) fn shares<'m>(
    held: impl Iterator<Item = (&'m String, &'m [bool])>,
    terms: usize,
) -> HashMap<String, f64> {
    let held: Vec<(&String, &[bool])> = held.collect();
    let pool = held.len() as f64;
    let weights: Vec<f64> = (0..terms)
        .map(|i| {
            let df = held.iter().filter(|(_, h)| h[i]).count() as f64;
            if df == 0.0 {
                0.0
            } else {
                (1.0 + (pool + 1.0) / (df + 0.5)).ln()
            }
        })
        .collect();
    let total: f64 = weights.iter().sum();
    held.into_iter()
        .map(|(id, h)| {
            let covered: f64 = weights
                .iter()
                .zip(h)
                .filter(|(_, h)| **h)
                .map(|(w, _)| w)
                .sum();
            let share = if total > 0.0 { covered / total } else { 0.0 };
            (id.clone(), share)
        })
        .collect()
}

/// A keyword score weighed by coverage: `score × coverage^power`.
pub(super) fn weighed(score: f64, coverage: f64, power: f64) -> f64 {
    if power == 0.0 {
        score
    } else {
        score * coverage.powf(power)
    }
}
