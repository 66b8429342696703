//! Briefings for a coding session: what a model should know about a project when a session
//! starts, and the few memories clearly relevant to a prompt. Both are small by rule (a token
//! budget) and name each memory's id so the model can fetch the rest.
//!
//! A session briefing takes, for the project and then the global layer (memories with no
//! project), in this order: decisions, errors met and their fixes, conventions and
//! preferences, the memories recalled most, and the last sessions' digests; within each part
//! the most important and newest first. Parts earlier in the list are what a session most
//! often gets wrong without them, so a tight budget drops the later ones first.
//!
//! A prompt briefing shows nothing unless a memory clearly matches: at least two of the
//! prompt's words, one of them in the memory's title or tags, and at least a third of the
//! prompt's words for short prompts (see [`PROMPT_THRESHOLD`]). A briefing that is wrong half of the
//! time teaches a model to ignore it, so silence is the default.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::MemoryStore;
use super::capture::DIGEST_TAG;
use super::search::{SearchHit, SearchMode};
use crate::error::Result;
use crate::model::{Direction, Filter, Memory};
use crate::text::{excerpt, query_terms};

/// Tokens of a session briefing when the configuration says nothing.
pub const SESSION_BRIEFING_TOKENS: usize = 1500;
/// Tokens of a prompt briefing.
pub const PROMPT_BRIEFING_TOKENS: usize = 500;
/// Characters per token, the usual estimate for English text and code.
pub const CHARS_PER_TOKEN: usize = 4;

/// A briefing: its text (empty when there is nothing to say) and the memories it shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Briefing {
    pub text: String,
    pub ids: Vec<String>,
}

/// Memories shown per part of a session briefing.
const PER_PART: usize = 5;
/// Newest memories of a project among which the most recalled are found: "used most" among
/// what is current, without ranking the whole store on every session start.
const USED_WINDOW: usize = 200;
/// Global memories looked through for preferences and conventions.
const GLOBAL_WINDOW: usize = 100;
/// Characters of a memory's content quoted on its line.
const LINE_CONTENT_CHARS: usize = 160;
/// Memories a prompt briefing shows at most.
const PROMPT_MEMORIES: usize = 3;
/// Candidates a prompt briefing looks at in each layer.
const PROMPT_CANDIDATES: usize = 10;

impl MemoryStore {
    /// The briefing for a session starting in `project` (`None`: the global layer only),
    /// within `max_tokens`. Reads only: recalling a memory here does not count as its use.
    pub async fn session_briefing(
        &self,
        project: Option<&str>,
        max_tokens: usize,
    ) -> Result<Briefing> {
        let max_chars = max_tokens.saturating_mul(CHARS_PER_TOKEN);
        let mut shown: HashSet<String> = HashSet::new();
        let mut parts: Vec<(&str, Vec<String>)> = Vec::new();

        let decisions = self.layered(project, &["decision"], PER_PART).await?;
        parts.push(("Decisions", lines(&decisions, &mut shown, &HashMap::new())));

        let fixes = self
            .layered(project, &["fix", "solution"], PER_PART)
            .await?;
        let solved = self.solved_titles(&fixes).await?;
        parts.push((
            "Errors met and their fixes",
            lines(&fixes, &mut shown, &solved),
        ));

        let conventions = self
            .layered(project, &["convention", "preference", "pattern"], PER_PART)
            .await?;
        parts.push((
            "Conventions and preferences",
            lines(&conventions, &mut shown, &HashMap::new()),
        ));

        if let Some(project) = project {
            let filter = Filter {
                project: Some(project.to_owned()),
                ..Filter::default()
            };
            let mut used = self.newest(&filter, USED_WINDOW).await?;
            used.retain(|m| m.access_count > 0 && !m.tags.iter().any(|t| t == DIGEST_TAG));
            used.sort_by_key(|m| std::cmp::Reverse(m.access_count));
            used.truncate(PER_PART);
            parts.push(("Used most", lines(&used, &mut shown, &HashMap::new())));
        }

        let digests = self
            .newest(
                &Filter {
                    tags: vec![DIGEST_TAG.to_owned()],
                    project: project.map(str::to_owned),
                    ..Filter::default()
                },
                2,
            )
            .await?;
        parts.push((
            "Recent sessions",
            lines(&digests, &mut shown, &HashMap::new()),
        ));

        let header = match project {
            Some(p) => format!("Memories of project {p} (mnemograph; fetch any by its id):\n"),
            None => "Memories (mnemograph; fetch any by its id):\n".to_owned(),
        };
        Ok(render(&header, &parts, max_chars))
    }

    /// The few memories of `project` and the global layer clearly relevant to `prompt`,
    /// within `max_tokens`; an empty briefing when none is.
    pub async fn prompt_briefing(
        &self,
        prompt: &str,
        project: Option<&str>,
        max_tokens: usize,
    ) -> Result<Briefing> {
        self.prompt_briefing_at(prompt, project, max_tokens, &PROMPT_THRESHOLD)
            .await
    }

    /// [`MemoryStore::prompt_briefing`] with another relevance threshold: how the threshold
    /// is calibrated (`benches/prompt_threshold.rs`).
    pub async fn prompt_briefing_at(
        &self,
        prompt: &str,
        project: Option<&str>,
        max_tokens: usize,
        threshold: &PromptThreshold,
    ) -> Result<Briefing> {
        let terms = own_terms(prompt);
        if terms.len() < threshold.min_words.max(1) {
            return Ok(Briefing::default());
        }
        let query = terms.join(" ");
        let mut hits: Vec<SearchHit> = Vec::new();
        let layers: Vec<Option<&str>> = match project {
            Some(p) => vec![Some(p), None],
            None => vec![None],
        };
        for layer in layers {
            let filter = Filter {
                project: layer.map(str::to_owned),
                ..Filter::default()
            };
            let page = self
                .search(
                    &query,
                    Some(SearchMode::Keyword),
                    &filter,
                    PROMPT_CANDIDATES,
                    None,
                )
                .await?;
            hits.extend(
                page.hits
                    .into_iter()
                    .filter(|h| layer.is_some() || h.memory.context.project.is_none()),
            );
        }
        let mut relevant: Vec<SearchHit> = hits
            .into_iter()
            .filter(|h| threshold.passes(h, &terms))
            .collect();
        relevant.sort_by(|a, b| {
            b.matched_terms
                .len()
                .cmp(&a.matched_terms.len())
                .then(b.score.total_cmp(&a.score))
        });
        relevant.dedup_by(|a, b| a.memory.id == b.memory.id);
        relevant.truncate(PROMPT_MEMORIES);
        if relevant.is_empty() {
            return Ok(Briefing::default());
        }
        let memories: Vec<Memory> = relevant.into_iter().map(|h| h.memory).collect();
        let solved = self.solved_titles(&memories).await?;
        let mut shown = HashSet::new();
        let part = lines(&memories, &mut shown, &solved);
        Ok(render(
            "Memories that may help with this prompt (mnemograph; fetch any by its id):\n",
            &[("", part)],
            max_tokens.saturating_mul(CHARS_PER_TOKEN),
        ))
    }

    /// Memories of `kinds` in `project`, then in the global layer, most important and newest
    /// first, at most `limit`.
    async fn layered(
        &self,
        project: Option<&str>,
        kinds: &[&str],
        limit: usize,
    ) -> Result<Vec<Memory>> {
        let filter = Filter {
            kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
            ..Filter::default()
        };
        let mut found = Vec::new();
        if let Some(p) = project {
            let here = Filter {
                project: Some(p.to_owned()),
                ..filter.clone()
            };
            found = self.newest(&here, limit * 2).await?;
        }
        let mut global = self.newest(&filter, GLOBAL_WINDOW).await?;
        global.retain(|m| m.context.project.is_none());
        global.truncate(limit);
        found.sort_by(|a, b| {
            b.importance
                .total_cmp(&a.importance)
                .then(b.created_at.cmp(&a.created_at))
        });
        found.truncate(limit);
        found.extend(global);
        Ok(found)
    }

    /// The newest memories passing `filter`, at most `limit` (one page).
    async fn newest(&self, filter: &Filter, limit: usize) -> Result<Vec<Memory>> {
        let limit = limit.min(self.limits.max_results);
        Ok(self.list(filter, None, limit).await?.memories)
    }

    /// For each fix among `memories`, the title of an error it currently SOLVES.
    async fn solved_titles(&self, memories: &[Memory]) -> Result<HashMap<String, String>> {
        let ids: Vec<String> = memories.iter().map(|m| m.id.clone()).collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rels = self
            .backend
            .relationships_of(
                &ids,
                Direction::Outgoing,
                &["SOLVES".to_owned()],
                Some(Utc::now()),
            )
            .await?;
        let targets: Vec<String> = rels.iter().map(|r| r.target_id.clone()).collect();
        let titles: HashMap<String, String> = self
            .backend
            .summaries(&targets, &Filter::default())
            .await?
            .into_iter()
            .map(|s| (s.id, s.title))
            .collect();
        Ok(rels
            .into_iter()
            .filter_map(|r| Some((r.source_id, titles.get(&r.target_id)?.clone())))
            .collect())
    }
}

/// The prompt's own words as search terms (no joined pairs or identifier parts, which
/// would make a long prompt match everything a little).
fn own_terms(prompt: &str) -> Vec<String> {
    let words: HashSet<String> = crate::text::tokens(prompt).collect();
    query_terms(prompt)
        .into_iter()
        .filter(|t| words.contains(t) && t.chars().count() >= 3)
        .collect()
}

/// When a memory is relevant enough to a prompt to be shown. The rule counts the prompt's own
/// words (three letters or more, no stopwords) that the memory contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptThreshold {
    /// Words a memory must contain.
    pub min_words: usize,
    /// Whether one of them must be in its title or tags (the memory is about it rather than
    /// mentions it).
    pub in_title: bool,
    /// Prompts of at most this many words are short...
    pub short_prompt: usize,
    /// ...and a memory must contain at least this share of a short prompt's words, as a
    /// fraction (numerator, denominator).
    pub short_share: (usize, usize),
}

/// The prompt briefing's threshold: at least two of the prompt's words, one in the title or
/// tags, and a third of the words of a prompt of up to twelve. Calibrated on a labelled set
/// of prompts (BENCHMARKS.md, "Prompt relevance").
pub const PROMPT_THRESHOLD: PromptThreshold = PromptThreshold {
    min_words: 2,
    in_title: true,
    short_prompt: 12,
    short_share: (1, 3),
};

impl PromptThreshold {
    fn passes(&self, hit: &SearchHit, terms: &[String]) -> bool {
        let matched = hit
            .matched_terms
            .iter()
            .filter(|t| terms.contains(t))
            .count();
        let about = !self.in_title
            || hit
                .matched_fields
                .iter()
                .any(|f| f == "title" || f == "tags");
        let (num, den) = self.short_share;
        let share = terms.len() > self.short_prompt || matched * den >= terms.len() * num;
        matched >= self.min_words && about && share
    }
}

/// One line per memory not shown yet: kind, title, what it solves, the start of its
/// content, its id.
fn lines(
    memories: &[Memory],
    shown: &mut HashSet<String>,
    solved: &HashMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for m in memories {
        if !shown.insert(m.id.clone()) {
            continue;
        }
        let mut line = format!("- [{}] {}", m.kind, m.title);
        if let Some(error) = solved.get(&m.id).filter(|e| !m.title.contains(e.as_str())) {
            line.push_str(&format!(" (solves: {error})"));
        }
        // A memory whose content repeats its title shows what comes after it.
        let content = m
            .content
            .strip_prefix(m.title.as_str())
            .unwrap_or(&m.content);
        let content = excerpt(content, LINE_CONTENT_CHARS);
        if !content.is_empty() {
            line.push_str(&format!(" — {content}"));
        }
        if m.context.project.is_none() {
            line.push_str(" (global)");
        }
        line.push_str(&format!(" [id: {}]", m.id));
        out.push(line);
    }
    out
}

/// The briefing's text: the header, then each non-empty part's lines while they fit in
/// `max_chars`. Nothing but the header means nothing to say: an empty briefing.
fn render(header: &str, parts: &[(&str, Vec<String>)], max_chars: usize) -> Briefing {
    let mut text = header.to_owned();
    let mut ids = Vec::new();
    for (name, part) in parts {
        let heading = if name.is_empty() {
            String::new()
        } else {
            format!("{name}:\n")
        };
        let mut first = true;
        for line in part {
            let extra = if first { heading.len() } else { 0 } + line.len() + 1;
            if text.len() + extra > max_chars {
                continue;
            }
            if first {
                text.push_str(&heading);
                first = false;
            }
            text.push_str(line);
            text.push('\n');
            if let Some(id) = line
                .rsplit("[id: ")
                .next()
                .and_then(|r| r.strip_suffix(']'))
            {
                ids.push(id.to_owned());
            }
        }
    }
    if ids.is_empty() {
        return Briefing::default();
    }
    Briefing { text, ids }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Context;
    use crate::store::NewMemory;
    use crate::store::testing::{link, store};

    async fn put(s: &MemoryStore, kind: &str, title: &str, project: Option<&str>) -> String {
        let new = NewMemory {
            kind: kind.into(),
            title: title.into(),
            content: format!("{title}, in detail"),
            context: Context {
                project: project.map(str::to_owned),
                ..Context::default()
            },
            ..NewMemory::default()
        };
        s.create(new).await.unwrap().0.id
    }

    #[tokio::test]
    async fn a_session_briefing_holds_the_project_and_the_global_layer_only() {
        let s = store().await;
        let d = put(&s, "decision", "Use libSQL for storage", Some("a")).await;
        put(&s, "decision", "Use Postgres", Some("b")).await;
        let e = put(&s, "error", "database is locked", Some("a")).await;
        let f = put(&s, "fix", "Set a busy timeout", Some("a")).await;
        link(&s, &f, &e, "SOLVES", 0.9).await;
        let p = put(&s, "preference", "Prefer small commits", None).await;
        let b = s.session_briefing(Some("a"), 1500).await.unwrap();
        assert!(
            b.text.contains("Use libSQL") && !b.text.contains("Postgres"),
            "{}",
            b.text
        );
        assert!(
            b.text.contains("(solves: database is locked)"),
            "{}",
            b.text
        );
        assert!(b.text.contains("Prefer small commits"), "{}", b.text);
        for id in [&d, &f, &p] {
            assert!(b.ids.contains(id), "{id} in {:?}", b.ids);
        }
        let small = s.session_briefing(Some("a"), 60).await.unwrap();
        assert!(
            small.text.len() <= 240 && small.ids.len() == 1,
            "{}",
            small.text
        );
        assert_eq!(
            s.session_briefing(Some("none"), 1500).await.unwrap().ids,
            [p]
        );
    }

    #[tokio::test]
    async fn a_prompt_briefing_is_silent_unless_a_memory_clearly_matches() {
        let s = store().await;
        put(
            &s,
            "fix",
            "SQLite database is locked: set busy_timeout",
            Some("a"),
        )
        .await;
        put(&s, "note", "Lunch order", Some("a")).await;
        let hit = s
            .prompt_briefing("why is the sqlite database locked again?", Some("a"), 500)
            .await
            .unwrap();
        assert_eq!(hit.ids.len(), 1, "{}", hit.text);
        for quiet in [
            "thanks, continue",
            "lock the door",
            "write a parser for dates in sqlite",
        ] {
            let b = s.prompt_briefing(quiet, Some("a"), 500).await.unwrap();
            assert!(b.text.is_empty(), "{quiet}: {}", b.text);
        }
        // Another project's memory is not this project's business.
        let b = s
            .prompt_briefing("sqlite database locked", Some("b"), 500)
            .await
            .unwrap();
        assert!(b.ids.is_empty());
    }
}
