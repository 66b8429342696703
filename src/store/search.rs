//! Ranked search: modes (keyword, semantic, hybrid), hits explained by the terms and fields
//! they matched (through stems, as the index matches), and pages with cursors.
//!
//! Hybrid mode fuses the two rankings as `fusion.rs` describes. Recall (`recall.rs`) builds
//! on the same ranking and adds the graph; nothing here knows about recall.

use serde::{Deserialize, Serialize};

use super::MemoryStore;
use super::coverage::{FIELD_NAMES, TermMatches, coverage, weighed};
use super::fusion::{HybridParams, SEMANTIC_SNIPPET_CHARS, ScoreParts};
use crate::error::{Error, Result};
use crate::model::{Filter, KeywordHit, KeywordMatch, Memory};
use crate::text::{StemmedTerms, excerpt, highlighted, query_terms};

/// How a search finds memories.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Full-text BM25 over title, content and tags.
    #[default]
    Keyword,
    /// Nearest vectors to the query's embedding.
    Semantic,
    /// Keyword and semantic scores fused (see `store/search.rs`); the default when an
    /// embedder is ready.
    Hybrid,
}

impl SearchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Keyword => "keyword",
            SearchMode::Semantic => "semantic",
            SearchMode::Hybrid => "hybrid",
        }
    }
}

/// A search hit with the reasons it matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub memory: Memory,
    pub score: f64,
    /// A short excerpt with matched terms wrapped in `[` `]`.
    pub snippet: String,
    /// Query terms the memory contains.
    pub matched_terms: Vec<String>,
    /// Fields those terms were found in: `title`, `tags`, `content`.
    pub matched_fields: Vec<String>,
    /// The keyword and semantic scores behind `score`.
    pub parts: ScoreParts,
}

/// One page of search results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchPage {
    pub mode: SearchMode,
    pub hits: Vec<SearchHit>,
    /// Pass back to get the next page; `None` on the last one.
    pub next_cursor: Option<String>,
}

/// Prefix of the search cursors this module makes.
const SEARCH_CURSOR_PREFIX: &str = "s1.";

impl MemoryStore {
    /// Ranked search. With no mode, hybrid search runs when the embedder is ready and keyword
    /// search otherwise; semantic or hybrid asked for explicitly without a ready embedder fail
    /// with an error that says why and suggests keyword mode.
    pub async fn search(
        &self,
        query: &str,
        mode: Option<SearchMode>,
        filter: &Filter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<SearchPage> {
        let mode = mode.unwrap_or_else(|| self.default_mode());
        let limit = self.limits.limit(limit)?;
        let offset = cursor.map(decode_search_cursor).transpose()?.unwrap_or(0);
        let max = self.limits.max_results;
        if offset >= max {
            return Ok(SearchPage {
                mode,
                hits: Vec::new(),
                next_cursor: None,
            });
        }
        // One extra hit tells whether another page exists.
        let wanted = (offset + limit + 1).min(max);
        let hits = self
            .ranked(query, mode, filter, wanted, &HybridParams::default())
            .await?;
        let more = hits.len() > offset + limit;
        let hits: Vec<SearchHit> = hits.into_iter().skip(offset).take(limit).collect();
        Ok(SearchPage {
            mode,
            next_cursor: more.then(|| format!("{SEARCH_CURSOR_PREFIX}{}", offset + limit)),
            hits,
        })
    }

    /// Prepares keyword search in the background (the libSQL backend loads the full-text
    /// index's postings into memory, which ranks a search at a large store several times
    /// faster); searches answer meanwhile, as they do without it. For long-lived front ends.
    pub fn start_keyword_index(&self) -> tokio::task::JoinHandle<()> {
        let backend = self.backend.clone();
        tokio::spawn(async move {
            if let Err(err) = backend.warm_up_keywords().await {
                tracing::warn!(%err, "could not prepare keyword search ahead of time");
            }
        })
    }

    /// Hybrid when the embedder is ready, keyword otherwise.
    pub fn default_mode(&self) -> SearchMode {
        if self.embedder.get().is_some() {
            SearchMode::Hybrid
        } else {
            SearchMode::Keyword
        }
    }

    /// The best `limit` hits of `mode` ranked with `params`, explained.
    pub(super) async fn ranked(
        &self,
        query: &str,
        mode: SearchMode,
        filter: &Filter,
        limit: usize,
        params: &HybridParams,
    ) -> Result<Vec<SearchHit>> {
        let terms = StemmedTerms::new(&query_terms(query));
        Ok(match mode {
            SearchMode::Keyword => self
                .keyword_ranked(query, &terms, filter, limit, params)
                .await?
                .into_iter()
                .enumerate()
                .map(|(i, (h, bm25))| {
                    let parts = ScoreParts {
                        keyword: Some(bm25),
                        keyword_rank: Some(i + 1),
                        ..ScoreParts::default()
                    };
                    explain(h.memory, h.score, h.snippet, parts, &terms)
                })
                .collect(),
            SearchMode::Semantic => self
                .semantic_search(query, filter, limit)
                .await?
                .into_iter()
                .enumerate()
                .map(|(i, h)| {
                    let parts = ScoreParts {
                        semantic: Some(h.similarity),
                        semantic_rank: Some(i + 1),
                        ..ScoreParts::default()
                    };
                    let snippet = excerpt(&h.memory.content, SEMANTIC_SNIPPET_CHARS);
                    explain(h.memory, f64::from(h.similarity), snippet, parts, &terms)
                })
                .collect(),
            SearchMode::Hybrid => self
                .hybrid_search(query, filter, limit, params)
                .await?
                .into_iter()
                .map(|h| explain(h.memory, h.score, h.snippet, h.parts, &terms))
                .collect(),
        })
    }

    /// The best `limit` keyword hits with their scores weighed by term coverage (see
    /// `coverage.rs`), each with its plain BM25 score: the coverage of a deeper BM25 pool
    /// decides, so a memory holding every query word is found below the BM25 cut-off. Only
    /// the hits returned get a snippet.
    async fn keyword_ranked(
        &self,
        query: &str,
        terms: &StemmedTerms,
        filter: &Filter,
        limit: usize,
        params: &HybridParams,
    ) -> Result<Vec<(KeywordHit, f64)>> {
        let pool = if params.coverage == 0.0 {
            limit
        } else {
            params.candidates.max(limit).min(self.limits.max_results)
        };
        let (words, filter, pool) = self.keyword_query(query, filter, pool)?;
        let hits = self.backend.keyword_matches(&words, &filter, pool).await?;
        let shares = coverage(hits.iter().map(|h| (&h.memory.id, &h.memory)), terms);
        let mut weighed_hits: Vec<(KeywordMatch, f64)> = hits
            .into_iter()
            .map(|mut h| {
                let bm25 = h.score;
                let share = shares.get(&h.memory.id).copied().unwrap_or(0.0);
                h.score = weighed(bm25, share, params.coverage);
                (h, bm25)
            })
            .collect();
        weighed_hits.sort_by(|a, b| {
            b.0.score
                .total_cmp(&a.0.score)
                .then_with(|| a.0.memory.id.cmp(&b.0.memory.id))
        });
        weighed_hits.truncate(limit);
        Ok(weighed_hits
            .into_iter()
            .map(|(h, bm25)| (highlighted(h, &words), bm25))
            .collect())
    }
}

fn decode_search_cursor(cursor: &str) -> Result<usize> {
    cursor
        .strip_prefix(SEARCH_CURSOR_PREFIX)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            Error::invalid(
                "cursor",
                "is not a search cursor; pass the next_cursor of the previous page unchanged",
            )
        })
}

/// A hit with the query terms it contains, and where. A term matched through its stem is
/// shown with the word it matched, as `token→tokenizer`.
fn explain(
    memory: Memory,
    score: f64,
    snippet: String,
    parts: ScoreParts,
    terms: &StemmedTerms,
) -> SearchHit {
    let matches = TermMatches::of(&memory, terms);
    let matched_terms = terms
        .terms()
        .enumerate()
        .filter_map(|(i, term)| {
            matches.word(i).map(|word| {
                if word == term {
                    term.to_owned()
                } else {
                    format!("{term}→{word}")
                }
            })
        })
        .collect();
    let matched_fields = FIELD_NAMES
        .iter()
        .zip(&matches.fields)
        .filter(|(_, found)| found.iter().any(Option::is_some))
        .map(|(name, _)| (*name).to_owned())
        .collect();
    SearchHit {
        score,
        snippet,
        memory,
        matched_terms,
        matched_fields,
        parts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{add, store};

    #[tokio::test]
    async fn search_pages_with_cursors_and_explains_matches() {
        let s = store().await;
        for i in 0..5 {
            add(
                &s,
                "note",
                &format!("tokio runtime {i}"),
                "about the executor",
            )
            .await;
        }
        let first = s
            .search("tokio executor", None, &Filter::default(), 3, None)
            .await
            .unwrap();
        assert_eq!(first.hits.len(), 3);
        assert_eq!(first.hits[0].matched_terms, ["tokio", "executor"]);
        assert_eq!(first.hits[0].matched_fields, ["title", "content"]);
        let cursor = first.next_cursor.unwrap();
        let second = s
            .search("tokio executor", None, &Filter::default(), 3, Some(&cursor))
            .await
            .unwrap();
        assert_eq!(second.hits.len(), 2);
        assert!(second.next_cursor.is_none());
        let err = s
            .search(
                "tokio",
                Some(SearchMode::Hybrid),
                &Filter::default(),
                3,
                None,
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("keyword"), "{err}");
        assert!(
            s.search("x", None, &Filter::default(), 3, Some("bogus"))
                .await
                .is_err()
        );
    }
}
