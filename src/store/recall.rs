//! Recall: what helps with a task. Ranked matches (see `search.rs`) expanded one hop through
//! the graph, ranked again and cut to a size budget as a briefing; and exploring the graph
//! around a query.
//!
//! These are use cases both front ends share, so the ranking and the briefing format live
//! here once rather than in the MCP server and again in `memctl`.

use std::collections::HashMap;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::HybridParams;
use super::search::SearchHit;
use super::{Exploration, MemoryStore, defaults};
use crate::error::Result;
use crate::model::{Direction, Filter, Memory, Traversal};
use crate::text::excerpt;

/// Why a memory is in a recall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecallReason {
    /// It matched the query itself.
    Matched { terms: Vec<String> },
    /// A matched memory is linked to it.
    Linked {
        rel_type: String,
        /// `outgoing`: this memory → the matched one; `incoming`: the matched one → this one.
        direction: Direction,
        via_id: String,
        via_title: String,
    },
}

/// One recalled memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recalled {
    pub memory: Memory,
    /// Relevance in 0..=1: a match's normalised keyword score, or for a linked memory the
    /// score of the match it hangs off times the relationship's strength and a hop discount.
    pub score: f64,
    pub reason: RecallReason,
}

/// The answer to "what do I know that helps with X".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recall {
    /// Ranked, best first: the memories the briefing shows.
    pub items: Vec<Recalled>,
    /// Relevant memories left out of the briefing by the size budget.
    pub omitted: Vec<String>,
    /// A compact text briefing of `items`, at most the requested number of characters.
    pub briefing: String,
}

/// What a recall asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct RecallQuery {
    pub query: String,
    pub filter: Filter,
    /// Most memories in the answer, matches and linked ones together.
    pub limit: usize,
    /// Most characters of the briefing; `None` for [`defaults::BRIEFING_CHARS`], or the
    /// `max_briefing_chars` limit when that is lower.
    pub max_chars: Option<usize>,
    /// The front end's own words for the end of the briefing.
    pub hints: BriefingHints,
}

/// What a front end tells its user at the end of a briefing, in its own terms (tool names,
/// commands, flags): the store's text names none. Empty hints add nothing; the briefing keeps
/// within its budget with them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BriefingHints {
    /// A sentence said when nothing matches, e.g. how to store what one learns.
    pub nothing_found: &'static str,
    /// Said when the budget left memories out, after their count: how to see them.
    pub more: &'static str,
}

/// How much a linked memory is worth relative to the match it hangs off, before strength:
/// one hop away is good evidence but never better than a direct match.
const HOP_DISCOUNT: f64 = 0.8;
/// Fused score a memory no query word matched needs to be recalled: better than the average
/// candidate (0.5), so a briefing is not padded with the nearest of unrelated memories.
const MIN_SEMANTIC_SEED: f64 = 0.5;
/// Matches considered per recall, before linked memories are added.
const RECALL_SEEDS: usize = 10;
/// Smallest briefing a recall accepts: one memory's header and a line of it.
pub const MIN_BRIEFING_CHARS: usize = 200;

/// How recall and exploration rank their seeds: as search does, without neighbours in time.
/// They bring related memories through the graph, whose edges say why (a fix SOLVES the
/// error); a neighbour in time would often be the same memory with a weaker reason.
fn seed_params() -> HybridParams {
    HybridParams {
        neighbours: 0.0,
        ..HybridParams::default()
    }
}

impl MemoryStore {
    /// Recall: keyword matches expanded one hop through currently valid relationships (so a
    /// matched error brings the fix that SOLVES it), ranked, de-duplicated and rendered as a
    /// briefing within `max_chars`. Recalled memories have their access recorded.
    pub async fn recall(&self, q: &RecallQuery) -> Result<Recall> {
        let limit = self.limits.limit(q.limit)?;
        let max_chars = q
            .max_chars
            .unwrap_or_else(|| defaults::BRIEFING_CHARS.min(self.limits.max_briefing_chars));
        self.limits.briefing(max_chars, MIN_BRIEFING_CHARS)?;
        let hits: Vec<SearchHit> = self
            .ranked(
                &q.query,
                self.default_mode(),
                &q.filter,
                RECALL_SEEDS.max(limit).min(self.limits.max_results),
                &seed_params(),
            )
            .await?
            .into_iter()
            .filter(|h| h.parts.keyword.is_some() || h.score >= MIN_SEMANTIC_SEED)
            .collect();
        let best = hits.iter().map(|h| h.score).fold(f64::MIN, f64::max);

        let mut ranked: HashMap<String, Recalled> = HashMap::new();
        for hit in &hits {
            let score = if best > 0.0 {
                (hit.score / best).clamp(0.0, 1.0)
            } else {
                1.0
            };
            ranked.insert(
                hit.memory.id.clone(),
                Recalled {
                    memory: hit.memory.clone(),
                    score,
                    reason: RecallReason::Matched {
                        terms: hit.matched_terms.clone(),
                    },
                },
            );
        }

        let seed_ids: Vec<String> = hits.iter().map(|h| h.memory.id.clone()).collect();
        if !seed_ids.is_empty() {
            let rels = self
                .backend
                .relationships_of(&seed_ids, Direction::Both, &[], Some(Utc::now()))
                .await?;
            // The best way each linked memory is reached: (score, reason).
            let mut linked: HashMap<String, (f64, RecallReason)> = HashMap::new();
            for rel in &rels {
                for (seed, other, direction) in [
                    (&rel.source_id, &rel.target_id, Direction::Incoming),
                    (&rel.target_id, &rel.source_id, Direction::Outgoing),
                ] {
                    let Some(seed) = ranked.get(seed) else {
                        continue;
                    };
                    let score = seed.score
                        * f64::from(rel.strength.clamp(0.0, 1.0))
                        * link_weight(&rel.rel_type, direction)
                        * HOP_DISCOUNT;
                    if linked.get(other).is_none_or(|(s, _)| score > *s) {
                        let reason = RecallReason::Linked {
                            rel_type: rel.rel_type.clone(),
                            direction,
                            via_id: seed.memory.id.clone(),
                            via_title: seed.memory.title.clone(),
                        };
                        linked.insert(other.clone(), (score, reason));
                    }
                }
            }
            let ids: Vec<String> = linked.keys().cloned().collect();
            for memory in self.backend.get_memories(&ids).await? {
                if !q.filter.matches(&memory) {
                    continue;
                }
                let Some((score, reason)) = linked.remove(&memory.id) else {
                    continue;
                };
                match ranked.get_mut(&memory.id) {
                    // Matched and linked to a match: two pieces of evidence (the fix that
                    // mentions the error and SOLVES it), combined as independent ones.
                    Some(matched) => {
                        if score > matched.score {
                            matched.reason = reason;
                        }
                        matched.score = 1.0 - (1.0 - matched.score) * (1.0 - score);
                    }
                    None => {
                        ranked.insert(
                            memory.id.clone(),
                            Recalled {
                                memory,
                                score,
                                reason,
                            },
                        );
                    }
                }
            }
        }

        let mut items: Vec<Recalled> = ranked.into_values().collect();
        items.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(b.memory.importance.total_cmp(&a.memory.importance))
                .then_with(|| a.memory.id.cmp(&b.memory.id))
        });
        items.truncate(limit);
        let (briefing, shown) = briefing(&q.query, &items, max_chars, &q.hints);
        let omitted = items
            .split_off(shown)
            .into_iter()
            .map(|r| r.memory.id)
            .collect();

        let ids: Vec<String> = items.iter().map(|r| r.memory.id.clone()).collect();
        if !ids.is_empty() {
            // Access statistics are a nicety: a busy store must not fail the recall itself.
            if let Err(err) = self.touch(&ids).await {
                tracing::warn!(%err, "could not record access of recalled memories");
            }
        }
        Ok(Recall {
            items,
            omitted,
            briefing,
        })
    }

    /// The subgraph around the best keyword matches of `query` (at most `seeds` of them), with
    /// its central memories and clusters. No match gives an empty exploration.
    pub async fn explore_query(
        &self,
        query: &str,
        filter: &Filter,
        seeds: usize,
        traversal: &Traversal,
        top: usize,
    ) -> Result<Exploration> {
        let hits = self
            .ranked(query, self.default_mode(), filter, seeds, &seed_params())
            .await?;
        if hits.is_empty() {
            return Ok(Exploration {
                subgraph: Default::default(),
                central: Vec::new(),
                clusters: Vec::new(),
            });
        }
        let ids: Vec<String> = hits.into_iter().map(|h| h.memory.id).collect();
        self.explore(&ids, traversal, top).await
    }
}

/// How much a linked memory is worth through a relationship of `rel_type`, seen from the
/// matched memory (`Outgoing`: the linked memory points at the match). What answers or
/// explains a match (the fix that SOLVES it, the cause) counts fully; a newer memory that
/// SUPERSEDES the match counts fully while the older one it replaced counts little;
/// loose associations count less.
fn link_weight(rel_type: &str, direction: Direction) -> f64 {
    match (rel_type, direction) {
        ("SOLVES" | "FIXES" | "CAUSES", _) => 1.0,
        ("SUPERSEDES", Direction::Outgoing) => 1.0,
        ("SUPERSEDES", _) => 0.3,
        ("CONTRADICTS", _) => 0.9,
        ("DEPENDS_ON" | "PART_OF" | "USES" | "EXAMPLE_OF", _) => 0.75,
        _ => 0.6,
    }
}

/// Renders the briefing: a header line per memory, why it is there, and as much of its
/// content as a fair share of the budget allows. Returns the text and how many items it shows;
/// the rest are counted in a closing line, with the front end's hint on how to see them.
fn briefing(
    query: &str,
    items: &[Recalled],
    max_chars: usize,
    hints: &BriefingHints,
) -> (String, usize) {
    if items.is_empty() {
        let mut text = format!("Nothing stored matches {query:?}.");
        if !hints.nothing_found.is_empty() {
            text.push(' ');
            text.push_str(hints.nothing_found);
        }
        return (text, 0);
    }
    // Room kept for the closing line about omitted memories: at least what a short hint
    // needs, so the layout does not shift with the hint, and all that a long one needs.
    const FOOTER: usize = 120;
    let budget = max_chars.saturating_sub(FOOTER.max(closing(items.len(), hints).chars().count()));
    let share = (budget / items.len()).clamp(160, 1200);
    let mut out = format!("Memories relevant to {query:?}:\n");
    let mut shown = 0;
    for item in items {
        let m = &item.memory;
        let mut entry = format!(
            "\n[{}] {} (id {}, score {:.2})\n",
            m.kind, m.title, m.id, item.score
        );
        if let RecallReason::Linked {
            rel_type,
            direction,
            via_title,
            ..
        } = &item.reason
        {
            let line = match direction {
                Direction::Incoming => format!("  linked: {via_title:?} {rel_type} this\n"),
                _ => format!("  linked: this {rel_type} {via_title:?}\n"),
            };
            entry.push_str(&line);
        }
        let used = out.chars().count() + entry.chars().count();
        if used > budget {
            break;
        }
        let room = share.min(budget - used).saturating_sub(3);
        let body = excerpt(&m.content, room);
        if !body.is_empty() {
            entry.push_str("  ");
            entry.push_str(&body);
            entry.push('\n');
        }
        out.push_str(&entry);
        shown += 1;
    }
    if shown < items.len() {
        out.push_str(&closing(items.len() - shown, hints));
    }
    (out, shown)
}

/// The closing line about `omitted` memories left out of a briefing.
fn closing(omitted: usize, hints: &BriefingHints) -> String {
    if hints.more.is_empty() {
        format!("\n({omitted} more relevant memories not shown.)")
    } else {
        format!(
            "\n({omitted} more relevant memories not shown; {}.)",
            hints.more
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{add, link, store};

    /// `n` long notes that all match "parser": more than a small briefing can show.
    async fn add_parser_notes(s: &MemoryStore, n: usize) {
        for i in 0..n {
            let content = "parser details ".repeat(200);
            add(s, "note", &format!("parser note {i}"), &content).await;
        }
    }

    fn query(text: &str, max_chars: usize) -> RecallQuery {
        RecallQuery {
            query: text.into(),
            filter: Filter::default(),
            limit: 10,
            max_chars: Some(max_chars),
            hints: BriefingHints::default(),
        }
    }

    #[tokio::test]
    async fn recall_brings_the_fix_that_solves_a_matched_error() {
        let s = store().await;
        let error = add(
            &s,
            "error",
            "E0502 borrow conflict",
            "cannot borrow as mutable",
        )
        .await;
        let fix = add(&s, "fix", "Clone before the loop", "take a copy first").await;
        let weak = add(&s, "note", "Unrelated tidbit", "something else").await;
        add(&s, "note", "Other", "nothing relevant").await;
        link(&s, &fix, &error, "SOLVES", 0.9).await;
        link(&s, &weak, &error, "RELATED_TO", 0.1).await;

        let recall = s.recall(&query("E0502 borrow", 4000)).await.unwrap();
        let ids: Vec<&str> = recall.items.iter().map(|r| r.memory.id.as_str()).collect();
        assert_eq!(ids, [error.as_str(), fix.as_str(), weak.as_str()]);
        assert!(matches!(
            &recall.items[1].reason,
            RecallReason::Linked { rel_type, direction: Direction::Outgoing, .. } if rel_type == "SOLVES"
        ));
        assert!(recall.items[1].score > recall.items[2].score);
        assert!(recall.briefing.contains("Clone before the loop"));
        assert!(
            recall
                .briefing
                .contains("this SOLVES \"E0502 borrow conflict\"")
        );
        // Recall records access.
        assert_eq!(s.get(&fix).await.unwrap().access_count, 1);
    }

    #[tokio::test]
    async fn the_newer_memory_counts_fully_and_the_superseded_one_little() {
        let s = store().await;
        let new = add(
            &s,
            "decision",
            "BTreeMap symbol table",
            "deterministic order",
        )
        .await;
        let old = add(&s, "decision", "Older choice", "keyed by name").await;
        let fix = add(&s, "fix", "Sort first", "a stable sort").await;
        link(&s, &new, &old, "SUPERSEDES", 1.0).await;
        link(&s, &fix, &new, "SOLVES", 1.0).await;
        let recall = s
            .recall(&query("btreemap deterministic", 4000))
            .await
            .unwrap();
        let score = |id: &str| {
            recall
                .items
                .iter()
                .find(|r| r.memory.id == id)
                .unwrap()
                .score
        };
        assert_eq!(score(&new), 1.0);
        assert!((score(&fix) - HOP_DISCOUNT).abs() < 1e-9);
        assert!((score(&old) - 0.3 * HOP_DISCOUNT).abs() < 1e-9);
        // Seen from the old memory, the one that replaced it counts fully.
        assert_eq!(link_weight("SUPERSEDES", Direction::Outgoing), 1.0);
        assert!(
            link_weight("RELATED_TO", Direction::Both) < link_weight("SOLVES", Direction::Both)
        );
    }

    #[tokio::test]
    async fn briefings_name_no_front_end_and_carry_its_hints_within_the_budget() {
        const LONG: &str = "read them one by one with the command that shows a memory in \
            full, or ask again with a larger budget so that more of them fit in the briefing";
        let hints = BriefingHints {
            nothing_found: "Add one.",
            more: LONG,
        };
        let s = store().await;
        let empty = s.recall(&query("anything", 600)).await.unwrap();
        assert_eq!(empty.briefing, "Nothing stored matches \"anything\".");
        let hinted = RecallQuery {
            hints: hints.clone(),
            ..query("anything", 600)
        };
        let empty = s.recall(&hinted).await.unwrap();
        assert_eq!(
            empty.briefing,
            "Nothing stored matches \"anything\". Add one."
        );

        add_parser_notes(&s, 8).await;
        let plain = s.recall(&query("parser", 600)).await.unwrap();
        assert!(
            plain
                .briefing
                .ends_with("more relevant memories not shown.)"),
            "{}",
            plain.briefing
        );
        for name in ["store_memory", "get_memory", "max_chars", "memctl"] {
            assert!(!plain.briefing.contains(name), "{}", plain.briefing);
        }
        let hinted = RecallQuery {
            hints,
            ..query("parser", 600)
        };
        let hinted = s.recall(&hinted).await.unwrap();
        assert!(hinted.briefing.ends_with(&format!("; {LONG}.)")));
        assert!(hinted.briefing.chars().count() <= 600);
    }

    #[tokio::test]
    async fn briefing_respects_the_budget_and_names_what_it_left_out() {
        let s = store().await;
        add_parser_notes(&s, 8).await;
        let recall = s.recall(&query("parser", 600)).await.unwrap();
        assert!(
            recall.briefing.chars().count() <= 600,
            "{}",
            recall.briefing.len()
        );
        assert!(!recall.omitted.is_empty());
        assert_eq!(recall.items.len() + recall.omitted.len(), 8);
        assert!(recall.briefing.contains("more relevant memories not shown"));
        assert!(s.recall(&query("parser", 10)).await.is_err());
    }
}
