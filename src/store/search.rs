//! Semantic and hybrid search.
//!
//! Hybrid search fuses the keyword (BM25) and semantic (cosine) rankings. Plain reciprocal
//! rank fusion treats both lists as equally good and ignores how far apart the scores are;
//! on LoCoMo it ranks worse than BM25 alone. Here both sides are scored for every candidate
//! either side found (the vectors of keyword hits are read and compared exactly), each score
//! is normalised over the candidates, and the two are combined with fixed weights.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::MemoryStore;
use crate::error::Result;
use crate::model::{Filter, Memory, VectorHit};
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
    /// The fused score in 0..=1, higher is better.
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
}

impl Default for HybridParams {
    fn default() -> Self {
        HybridParams {
            keyword_weight: std::env::var("MNEMO_KW")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.6),
            candidates: std::env::var("MNEMO_CAND")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(50),
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
        let keyword = self.keyword_search(query, filter, depth).await?;
        let semantic = self.vector_search(&embedding, filter, depth).await?;

        let mut memories: HashMap<String, (Memory, String)> = HashMap::new();
        let mut candidates: HashMap<String, Candidate> = HashMap::new();
        for (rank, hit) in keyword.into_iter().enumerate() {
            candidates.insert(
                hit.memory.id.clone(),
                Candidate {
                    keyword: Some(hit.score),
                    keyword_rank: Some(rank + 1),
                    semantic: None,
                },
            );
            memories.insert(hit.memory.id.clone(), (hit.memory, hit.snippet));
        }
        for hit in semantic {
            candidates
                .entry(hit.memory.id.clone())
                .or_default()
                .semantic = Some(hit.similarity);
            memories
                .entry(hit.memory.id.clone())
                .or_insert_with(|| (hit.memory.clone(), String::new()));
        }
        // Keyword hits the vector search did not reach: compare their vectors exactly.
        let unscored: Vec<String> = candidates
            .iter()
            .filter(|(_, c)| c.semantic.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        if !unscored.is_empty() {
            for (id, stored) in self.backend.embeddings(&unscored).await? {
                if stored.model == embedding.model
                    && let Some(c) = candidates.get_mut(&id)
                {
                    c.semantic = Some(cosine(&embedding.vector, &stored.vector));
                }
            }
        }

        let mut fused = fuse(&candidates, params);
        fused.truncate(limit);
        Ok(fused
            .into_iter()
            .filter_map(|(id, score, parts)| {
                let (memory, snippet) = memories.remove(&id)?;
                let snippet = if snippet.is_empty() {
                    super::recall::excerpt(&memory.content, SEMANTIC_SNIPPET_CHARS)
                } else {
                    snippet
                };
                Some(FusedHit {
                    memory,
                    score,
                    snippet,
                    parts,
                })
            })
            .collect())
    }
}

/// Characters of content shown for a hit no query term matched.
const SEMANTIC_SNIPPET_CHARS: usize = 160;

/// Scores every candidate and sorts them, best first (ties by id).
fn fuse(
    candidates: &HashMap<String, Candidate>,
    params: &HybridParams,
) -> Vec<(String, f64, ScoreParts)> {
    let best_keyword = candidates
        .values()
        .filter_map(|c| c.keyword)
        .fold(0.0, f64::max);
    let sims: Vec<f32> = candidates.values().filter_map(|c| c.semantic).collect();
    let (lo, hi) = sims
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &s| (lo.min(s), hi.max(s)));
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

    let mode = std::env::var("MNEMO_FUSION").unwrap_or_else(|_| "convex".into());
    let stats = |xs: Vec<f64>| {
        let n = xs.len().max(1) as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt().max(1e-9))
    };
    let (km, ks) = stats(
        candidates
            .values()
            .map(|c| c.keyword.unwrap_or(0.0))
            .collect(),
    );
    let (sm, ss) = stats(
        candidates
            .values()
            .filter_map(|c| c.semantic.map(f64::from))
            .collect(),
    );
    let mut out: Vec<(String, f64, ScoreParts)> = candidates
        .iter()
        .map(|(id, c)| {
            let kw = match c.keyword {
                Some(s) if best_keyword > 0.0 => s / best_keyword,
                _ => 0.0,
            };
            let sem = match c.semantic {
                Some(s) if hi > lo => f64::from((s - lo) / (hi - lo)),
                Some(_) => 1.0,
                None => 0.0,
            };
            let w = params.keyword_weight;
            let score = match mode.as_str() {
                "rrf" => {
                    c.keyword_rank.map_or(0.0, |r| 1.0 / (60.0 + r as f64))
                        + semantic_rank
                            .get(id)
                            .map_or(0.0, |&r| 1.0 / (60.0 + r as f64))
                }
                "wrrf" => {
                    w * c.keyword_rank.map_or(0.0, |r| 1.0 / (60.0 + r as f64))
                        + (1.0 - w)
                            * semantic_rank
                                .get(id)
                                .map_or(0.0, |&r| 1.0 / (60.0 + r as f64))
                }
                "z" => {
                    w * (c.keyword.unwrap_or(0.0) - km) / ks
                        + (1.0 - w) * c.semantic.map_or(-3.0, |x| (f64::from(x) - sm) / ss)
                }
                "dbsf" => {
                    let n =
                        |x: f64, m: f64, s: f64| ((x - (m - 3.0 * s)) / (6.0 * s)).clamp(0.0, 1.0);
                    w * n(c.keyword.unwrap_or(0.0), km, ks)
                        + (1.0 - w) * c.semantic.map_or(0.0, |x| n(f64::from(x), sm, ss))
                }
                "rawcos" => w * kw + (1.0 - w) * f64::from(c.semantic.unwrap_or(0.0)),
                _ => w * kw + (1.0 - w) * sem,
            };
            let parts = ScoreParts {
                keyword: c.keyword,
                keyword_rank: c.keyword_rank,
                semantic: c.semantic,
                semantic_rank: semantic_rank.get(id).copied(),
            };
            (id.clone(), score, parts)
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}
