//! Semantic search, and the fusion behind hybrid search.
//!
//! Hybrid search fuses the keyword (BM25) and semantic (cosine) rankings. Plain reciprocal
//! rank fusion treats both lists as equally good and throws away how far apart the scores
//! are: on LoCoMo it ranks *below* BM25 alone. Here the candidates of both sides are scored on
//! both sides (keyword hits the vector search did not reach are compared with the query too;
//! semantic hits no query term matched score 0 on BM25), each side's scores are
//! turned into standard scores over the candidates, and the two are added with weights that
//! favour the keyword side. Standard scores keep what a margin means: a memory far above the
//! other candidates on one side wins even when the other side is lukewarm, and a side whose
//! scores are all alike (a query whose words appear everywhere) decides little.
//!
//! Two refinements come before the fusion: keyword scores are weighed by term coverage
//! (`coverage.rs`: a memory holding all of the query beats one holding a word of it in its
//! title), and the query's vector is moved towards the vectors of the three best first-pass
//! candidates (pseudo-relevance feedback), which then score again on the semantic side.
//!
//! Every semantic score here is the vector index's (`GraphBackend::vector_candidates` and
//! `indexed_vectors`): with the libSQL backend, cosines of int8 copies of the vectors, within
//! ~0.003 (p99) of the exact ones, so a hybrid search reads no vector from the database,
//! only the memories it fuses. Standard scores over ~100 candidates do not notice that error:
//! LoCoMo recall is the same to the third digit (BENCHMARKS.md). Semantic search alone
//! reports similarities, and re-ranks its candidates exactly.
//!
//! One comes after it: neighbours in time. What answers a question is often stored next to
//! what matches it (the reply after a question in a conversation, the fix recorded right
//! after the error in a session) without sharing its words. So the memories stored just
//! before and just after each of the best first-pass hits, and the ones a step further in
//! the same direction (an answer often takes a turn or two), join the candidates (scored on
//! the semantic side like the others) and gain a share of that hit's standard score: a
//! neighbour after the hit more than one before it, a second step less than the first.
//!
//! The weights (keyword 0.7, coverage power 2, feedback 0.5, neighbours 0.5 of the best 5,
//! 0.75 for a neighbour before a hit and for the second step) and depth (50 per side) were
//! chosen on the first five LoCoMo conversations, where hybrid recall@10 with the built-in
//! embedder is 0.762 (0.732 on the held-out half, the same over MCP; BENCHMARKS.md has both
//! halves and how each lever moved them), and they suit coding
//! memories as well: identifiers, paths and error codes are matched exactly by the keyword
//! side, which stays the stronger voice; meaning decides among similar keyword scores and
//! brings in memories that say the same thing in other words.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::coverage::{held, shares, weighed};
use crate::error::{Error, Result};
use crate::model::{Embedding, Filter, Memory, VectorHit};
use crate::store::MemoryStore;
use crate::text::{StemmedTerms, excerpt, highlight};
use crate::vector::cosine;

/// How one hit scored on each side. Both parts are present when both sides found it or
/// when its vector could be compared with the query's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreParts {
    /// BM25 relevance (higher is better); `None` when no query term matched it.
    pub keyword: Option<f64>,
    /// 1-based rank in the keyword results.
    pub keyword_rank: Option<usize>,
    /// Cosine similarity to the query in -1..=1; `None` when it has no vector.
    pub semantic: Option<f32>,
    /// 1-based rank among the candidates by similarity.
    pub semantic_rank: Option<usize>,
}

/// A fused hit.
#[derive(Debug, Clone, PartialEq)]
pub struct FusedHit {
    pub memory: Memory,
    /// The fused score in 0..1, higher is better: 0.5 is an average candidate.
    pub score: f64,
    /// Excerpt with matched terms in brackets (keyword side), or the content's start.
    pub snippet: String,
    pub parts: ScoreParts,
}

/// Weights and depths of the fusion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HybridParams {
    /// Weight of the normalised keyword score; the semantic score gets the rest.
    pub keyword_weight: f64,
    /// Candidates taken from each side, at least.
    pub candidates: usize,
    /// Power of term coverage that keyword scores are multiplied by (0: plain BM25); see
    /// `coverage.rs`.
    pub coverage: f64,
    /// Weight of pseudo-relevance feedback: the query's vector moved towards the mean of the
    /// best first-pass candidates' vectors by this much (0: none).
    pub feedback: f32,
    /// First-pass candidates whose vectors make the feedback.
    pub feedback_depth: usize,
    /// Weight of neighbours in time: the memory stored just after one of the best
    /// `neighbour_depth` first-pass hits gains this share of that hit's standard score
    /// (0: none; see `neighbour_before` and `second_neighbours` for the others).
    pub neighbours: f64,
    /// First-pass hits whose neighbours in time are brought in.
    pub neighbour_depth: usize,
    /// Share of the boost that a memory stored *before* a hit gains, against one stored after
    /// it: an answer more often follows what matches it than precedes it.
    pub neighbour_before: f64,
    /// Share of the boost that the memory one step further from the hit (two places away in
    /// time, same direction) gains, against the nearest one (0: only the nearest).
    pub second_neighbours: f64,
}

impl Default for HybridParams {
    fn default() -> Self {
        HybridParams {
            keyword_weight: 0.7,
            candidates: 50,
            coverage: 2.0,
            feedback: 0.5,
            feedback_depth: 3,
            neighbours: 0.5,
            neighbour_depth: 5,
            neighbour_before: 0.75,
            second_neighbours: 0.75,
        }
    }
}

/// One candidate's raw scores.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Candidate {
    keyword: Option<f64>,
    keyword_rank: Option<usize>,
    semantic: Option<f32>,
}

impl MemoryStore {
    /// Nearest memories to the query's embedding.
    pub async fn semantic_search(
        &self,
        query: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<VectorHit>> {
        self.limits.query(query)?;
        let embedding = self.embed_query(query).await?;
        self.vector_search(&embedding, filter, limit).await
    }

    /// Keyword and semantic search fused (see the module doc), best first.
    pub async fn hybrid_search(
        &self,
        query: &str,
        filter: &Filter,
        limit: usize,
        params: &HybridParams,
    ) -> Result<Vec<FusedHit>> {
        let limit = self.limits.limit(limit)?;
        let depth = params.candidates.max(limit).min(self.limits.max_results);
        let embedding = self.embed_query(query).await?;
        // The two sides run at once: each blocks the task it runs in while SQLite works (see
        // `backend::libsql::pool`), so the vector side gets a task of its own.
        let semantic = {
            let (store, embedding, filter) = (self.clone(), embedding.clone(), filter.clone());
            tokio::spawn(async move { store.vector_side(&embedding, &filter, depth).await })
        };
        // Snippets are made for the hits returned only, once the fusion has chosen them.
        let (words, keyword_filter, depth) = self.keyword_query(query, filter, depth)?;
        let keyword = self
            .backend
            .keyword_matches(&words, &keyword_filter, depth)
            .await?;
        // What each keyword hit holds of the query, found while the vector side, the longer
        // of the two, still runs; its own hits are looked at when they come.
        let terms = StemmedTerms::new(&words);
        let mut holds: HashMap<String, Vec<bool>> = HashMap::new();
        if params.coverage != 0.0 {
            for hit in &keyword {
                holds.insert(hit.memory.id.clone(), held(&hit.memory, &terms));
            }
        }
        let semantic = semantic.await.map_err(|e| Error::Task(e.to_string()))??;

        // Each candidate's memory, and whether the keyword side found it.
        let mut memories: HashMap<String, (Memory, bool)> = HashMap::new();
        let mut candidates: HashMap<String, Candidate> = HashMap::new();
        // Candidates' vectors as the index holds them: the semantic hits come with theirs.
        let mut vectors: HashMap<String, Vec<f32>> = HashMap::new();
        for (rank, hit) in keyword.into_iter().enumerate() {
            candidates.insert(
                hit.memory.id.clone(),
                Candidate {
                    keyword: Some(hit.score),
                    keyword_rank: Some(rank + 1),
                    semantic: None,
                },
            );
            memories.insert(hit.memory.id.clone(), (hit.memory, true));
        }
        for hit in semantic {
            candidates
                .entry(hit.memory.id.clone())
                .or_default()
                .semantic = Some(hit.similarity);
            vectors.insert(hit.memory.id.clone(), hit.vector);
            memories
                .entry(hit.memory.id.clone())
                .or_insert_with(|| (hit.memory, false));
        }
        if params.coverage != 0.0 {
            for (id, (memory, _)) in &memories {
                holds
                    .entry(id.clone())
                    .or_insert_with(|| held(memory, &terms));
            }
            let shares = shares(holds.iter().map(|(id, h)| (id, h.as_slice())), terms.len());
            for (id, c) in candidates.iter_mut() {
                c.keyword = c
                    .keyword
                    .map(|k| weighed(k, shares.get(id).copied().unwrap_or(0.0), params.coverage));
            }
        }
        // Vectors of the keyword hits the vector search did not reach, to compare them with
        // the query (and, with feedback, to compare them again).
        let unscored: Vec<String> = candidates
            .keys()
            .filter(|id| !vectors.contains_key(*id))
            .cloned()
            .collect();
        if !unscored.is_empty() {
            let dim = embedding.vector.len();
            vectors.extend(
                self.backend
                    .indexed_vectors(&embedding.model, dim, &unscored)
                    .await?,
            );
        }
        for (id, c) in candidates.iter_mut() {
            if c.semantic.is_none()
                && let Some(v) = vectors.get(id)
            {
                c.semantic = Some(cosine(&embedding.vector, v));
            }
        }
        let mut query_vector = embedding.vector.clone();
        if params.feedback > 0.0 {
            let first = fuse(&candidates, params, &HashMap::new());
            let best: Vec<&Vec<f32>> = first
                .iter()
                .filter_map(|(id, ..)| vectors.get(id))
                .take(params.feedback_depth)
                .collect();
            if !best.is_empty() {
                query_vector = feedback_query(&embedding.vector, &best, params.feedback);
                for (id, c) in candidates.iter_mut() {
                    if let Some(v) = vectors.get(id) {
                        c.semantic = Some(cosine(&query_vector, v));
                    }
                }
            }
        }
        let boosts = if params.neighbours > 0.0 {
            let first = fuse(&candidates, params, &HashMap::new());
            let anchors: Vec<(Memory, f64)> = first
                .iter()
                .take(params.neighbour_depth)
                .filter_map(|(id, z, _)| Some((memories.get(id)?.0.clone(), *z)))
                .collect();
            let hops = if params.second_neighbours > 0.0 { 2 } else { 1 };
            let found = self
                .neighbours_in_time(
                    &anchors,
                    hops,
                    filter,
                    (&embedding.model, &query_vector),
                    &vectors,
                )
                .await?;
            let mut boosts: HashMap<String, f64> = HashMap::new();
            for found in found {
                let direction = if found.before {
                    params.neighbour_before
                } else {
                    1.0
                };
                let step = if found.step == 1 {
                    1.0
                } else {
                    params.second_neighbours
                };
                *boosts.entry(found.memory.id.clone()).or_default() +=
                    params.neighbours * direction * step * found.anchor_z.max(0.0);
                candidates
                    .entry(found.memory.id.clone())
                    .or_insert(Candidate {
                        semantic: found.similarity,
                        ..Candidate::default()
                    });
                memories
                    .entry(found.memory.id.clone())
                    .or_insert_with(|| (found.memory, false));
            }
            boosts
        } else {
            HashMap::new()
        };

        let mut fused = fuse(&candidates, params, &boosts);
        fused.truncate(limit);
        Ok(fused
            .into_iter()
            .filter_map(|(id, z, parts)| {
                let (memory, keyword_hit) = memories.remove(&id)?;
                let snippet = match keyword_hit.then(|| highlight(&memory, &words)) {
                    Some(snippet) if !snippet.is_empty() => snippet,
                    _ => excerpt(&memory.content, SEMANTIC_SNIPPET_CHARS),
                };
                Some(FusedHit {
                    memory,
                    score: probability(z),
                    snippet,
                    parts,
                })
            })
            .collect())
    }

    /// The vector side of a hybrid search: the `depth` nearest memories to `query` with the
    /// index's similarities and vectors (see the module doc).
    async fn vector_side(
        &self,
        query: &Embedding,
        filter: &Filter,
        depth: usize,
    ) -> Result<Vec<VectorHit>> {
        self.check_embedding(query).await?;
        let filter = self.limits.filter(filter)?;
        self.backend
            .vector_candidates(&query.model, &query.vector, &filter, depth)
            .await
    }

    /// The memories stored up to `steps` places before and after each anchor (see
    /// [`HybridParams::neighbours`]), each with its anchor's standard score and its own
    /// similarity to `query`, a vector of `model` (`None` without a vector of that model),
    /// scored with the vector index's copies. Vectors in `known` are not looked up again.
    async fn neighbours_in_time(
        &self,
        anchors: &[(Memory, f64)],
        steps: usize,
        filter: &Filter,
        (model, query): (&str, &[f32]),
        known: &HashMap<String, Vec<f32>>,
    ) -> Result<Vec<InTime>> {
        let filter = self.limits.filter(filter)?;
        let memories: Vec<Memory> = anchors.iter().map(|(m, _)| m.clone()).collect();
        let beside = self
            .backend
            .neighbours_in_time(&memories, steps, &filter)
            .await?;
        // The backend gives each side's neighbours nearest first: the n-th on a side is n
        // steps away.
        let mut taken: HashMap<(&str, bool), usize> = HashMap::new();
        let mut found: Vec<InTime> = Vec::new();
        for (at, memory) in &beside {
            let Some((anchor, z)) = anchors.iter().find(|(a, _)| a.id == *at) else {
                continue;
            };
            let before = (memory.created_at, &memory.id) < (anchor.created_at, &anchor.id);
            let step = taken.entry((at, before)).or_default();
            *step += 1;
            found.push(InTime {
                anchor_z: *z,
                before,
                step: *step,
                memory: memory.clone(),
                similarity: None,
            });
        }
        let mut ids: Vec<String> = found
            .iter()
            .map(|f| f.memory.id.clone())
            .filter(|id| !known.contains_key(id))
            .collect();
        ids.sort();
        ids.dedup();
        let vectors: HashMap<String, Vec<f32>> = match ids.is_empty() {
            true => HashMap::new(),
            false => self
                .backend
                .indexed_vectors(model, query.len(), &ids)
                .await?
                .into_iter()
                .collect(),
        };
        Ok(found
            .into_iter()
            .map(|mut f| {
                f.similarity = known
                    .get(&f.memory.id)
                    .or_else(|| vectors.get(&f.memory.id))
                    .map(|v| cosine(query, v));
                f
            })
            .collect())
    }
}

/// A memory found near a first-pass hit in time.
struct InTime {
    /// The hit's standard score.
    anchor_z: f64,
    /// Stored before the hit (else after it).
    before: bool,
    /// 1 for the memory stored just before or after the hit, 2 for the one beyond it.
    step: usize,
    memory: Memory,
    /// Similarity to the query; `None` without a vector of the query's model.
    similarity: Option<f32>,
}

/// A standard score as a score in 0..1 (the logistic function): 0.5 is an average candidate.
fn probability(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Characters of content shown for a hit no query term matched: the opening of its content
/// stands in for the excerpt around matched words that such a hit cannot have.
pub(super) const SEMANTIC_SNIPPET_CHARS: usize = 160;

/// What a memory with no vector scores on the semantic side, in standard deviations: below
/// nearly every candidate that has one, without erasing a strong keyword score.
const NO_VECTOR_Z: f64 = -3.0;

/// The query vector moved towards the mean of `best` by `weight` (Rocchio feedback): the
/// best first-pass matches say what the query is about in the words the memories use.
fn feedback_query(query: &[f32], best: &[&Vec<f32>], weight: f32) -> Vec<f32> {
    let n = best.len() as f32;
    query
        .iter()
        .enumerate()
        .map(|(i, q)| q + weight * best.iter().map(|v| v[i]).sum::<f32>() / n)
        .collect()
}

/// Mean and standard deviation (floored, so a side whose scores are all equal adds nothing).
fn mean_sd(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let values: Vec<f64> = values.collect();
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt().max(1e-9))
}

/// Scores every candidate in standard deviations, plus its boost from neighbours in time,
/// and sorts them, best first (ties by id).
fn fuse(
    candidates: &HashMap<String, Candidate>,
    params: &HybridParams,
    boosts: &HashMap<String, f64>,
) -> Vec<(String, f64, ScoreParts)> {
    let (kw_mean, kw_sd) = mean_sd(candidates.values().map(|c| c.keyword.unwrap_or(0.0)));
    let (sem_mean, sem_sd) = mean_sd(
        candidates
            .values()
            .filter_map(|c| c.semantic.map(f64::from)),
    );
    let mut by_similarity: Vec<(&String, f32)> = candidates
        .iter()
        .filter_map(|(id, c)| c.semantic.map(|s| (id, s)))
        .collect();
    by_similarity.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let semantic_rank: HashMap<&String, usize> = by_similarity
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i + 1))
        .collect();

    let w = params.keyword_weight.clamp(0.0, 1.0);
    let mut out: Vec<(String, f64, ScoreParts)> = candidates
        .iter()
        .map(|(id, c)| {
            let kw = (c.keyword.unwrap_or(0.0) - kw_mean) / kw_sd;
            let sem = c
                .semantic
                .map_or(NO_VECTOR_Z, |s| (f64::from(s) - sem_mean) / sem_sd);
            let z = w * kw + (1.0 - w) * sem + boosts.get(id).copied().unwrap_or(0.0);
            let parts = ScoreParts {
                keyword: c.keyword,
                keyword_rank: c.keyword_rank,
                semantic: c.semantic,
                semantic_rank: semantic_rank.get(id).copied(),
            };
            (id.clone(), z, parts)
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(keyword: Option<f64>, semantic: Option<f32>) -> Candidate {
        Candidate {
            keyword,
            keyword_rank: None,
            semantic,
        }
    }

    fn order(candidates: &[(&str, Candidate)], weight: f64) -> Vec<String> {
        let map = candidates
            .iter()
            .map(|(id, c)| ((*id).to_owned(), *c))
            .collect();
        let params = HybridParams {
            keyword_weight: weight,
            ..HybridParams::default()
        };
        fuse(&map, &params, &HashMap::new())
            .into_iter()
            .map(|(id, ..)| id)
            .collect()
    }

    #[test]
    fn a_standout_on_one_side_beats_a_lukewarm_pair() {
        let candidates = [
            ("exact", candidate(Some(12.0), Some(0.30))),
            ("both", candidate(Some(3.0), Some(0.50))),
            ("meaning", candidate(None, Some(0.55))),
            ("noise", candidate(Some(2.5), Some(0.20))),
        ];
        assert_eq!(order(&candidates, 0.6)[0], "exact");
        // Meaning alone decides with no keyword weight.
        assert_eq!(order(&candidates, 0.0)[0], "meaning");
    }

    #[test]
    fn scores_are_probabilities_and_parts_are_kept() {
        let mut map = HashMap::new();
        map.insert("a".to_owned(), candidate(Some(5.0), None));
        map.insert("b".to_owned(), candidate(None, Some(0.9)));
        let fused = fuse(&map, &HybridParams::default(), &HashMap::new());
        assert!(
            fused
                .iter()
                .all(|(_, z, _)| (0.0..1.0).contains(&probability(*z)))
        );
        let a = fused.iter().find(|(id, ..)| id == "a").unwrap();
        assert_eq!(a.2.keyword, Some(5.0));
        assert_eq!(a.2.semantic_rank, None);
        let b = fused.iter().find(|(id, ..)| id == "b").unwrap();
        assert_eq!(b.2.semantic_rank, Some(1));
    }

    #[test]
    fn equal_scores_on_one_side_leave_the_other_to_decide() {
        let candidates = [
            ("x", candidate(Some(4.0), Some(0.2))),
            ("y", candidate(Some(4.0), Some(0.8))),
        ];
        assert_eq!(order(&candidates, 0.9), ["y", "x"]);
    }
}
