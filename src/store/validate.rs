//! Input rules: limits, normalisation and validation of everything a caller sends.
//!
//! Every check returns [`Error::Invalid`] naming the field and what to change, before anything
//! is written, so a rejected request leaves the store untouched.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Context, Embedding, Filter};

/// Every size, count and depth the store accepts. Front ends expose them as configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Characters in a memory title (one line).
    pub max_title_chars: usize,
    /// Bytes of memory content.
    pub max_content_bytes: usize,
    /// Tags on one memory.
    pub max_tags: usize,
    /// Characters in one tag, kind or relationship type.
    pub max_label_chars: usize,
    /// Bytes of a memory's context or a relationship's properties, as JSON.
    pub max_json_bytes: usize,
    /// Characters in a relationship note.
    pub max_note_chars: usize,
    /// Dimensions of an embedding vector.
    pub max_vector_dim: usize,
    /// Characters of a search query.
    pub max_query_chars: usize,
    /// Results of one list or search call.
    pub max_results: usize,
    /// Hops of a graph walk or a path.
    pub max_depth: u32,
    /// Memories in one loaded subgraph.
    pub max_subgraph_nodes: usize,
    /// Ids or records in one batch request (and kinds or relationship types in one filter).
    pub max_batch: usize,
    /// Results in one page of an MCP tool answer: answers go into a model's context window,
    /// so a page stays small and its cursor fetches the next one.
    pub max_page: usize,
    /// Characters of a recall briefing.
    pub max_briefing_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_title_chars: 300,
            max_content_bytes: 64 * 1024,
            max_tags: 32,
            max_label_chars: 64,
            max_json_bytes: 16 * 1024,
            max_note_chars: 2000,
            max_vector_dim: 4096,
            max_query_chars: 4096,
            max_results: 500,
            max_depth: 6,
            max_subgraph_nodes: 5000,
            max_batch: 10_000,
            max_page: 50,
            max_briefing_chars: 50_000,
        }
    }
}

impl Limits {
    /// A memory id: a UUID in canonical lower-case hyphenated form.
    pub fn id(&self, field: &'static str, id: &str) -> Result<String> {
        uuid::Uuid::parse_str(id.trim())
            .map(|u| u.hyphenated().to_string())
            .map_err(|_| {
                Error::invalid(
                    field,
                    format!("{id:?} is not a memory or relationship id (ids are UUIDs)"),
                )
            })
    }

    /// A memory kind: one lower-case word of letters, digits, `_` or `-`.
    pub fn kind(&self, kind: &str) -> Result<String> {
        let kind = kind.trim().to_lowercase();
        self.label("kind", &kind, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
        })?;
        Ok(kind)
    }

    /// A relationship type in UPPER_SNAKE case; spaces and dashes become underscores.
    pub fn rel_type(&self, rel_type: &str) -> Result<String> {
        let t: String = rel_type
            .trim()
            .chars()
            .map(|c| match c {
                ' ' | '-' => '_',
                c => c.to_ascii_uppercase(),
            })
            .collect();
        self.label("rel_type", &t, |c| {
            c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
        })?;
        if !t.starts_with(|c: char| c.is_ascii_uppercase()) {
            return Err(Error::invalid(
                "rel_type",
                format!("{t:?} must start with a letter, e.g. SOLVES or DEPENDS_ON"),
            ));
        }
        Ok(t)
    }

    fn label(
        &self,
        field: &'static str,
        value: &str,
        allowed: impl Fn(char) -> bool,
    ) -> Result<()> {
        if value.is_empty() {
            return Err(Error::invalid(field, "must not be empty"));
        }
        let chars = value.chars().count();
        if chars > self.max_label_chars {
            return Err(Error::invalid(
                field,
                format!(
                    "is {chars} characters; the limit is {}",
                    self.max_label_chars
                ),
            ));
        }
        if let Some(bad) = value.chars().find(|&c| !allowed(c)) {
            return Err(Error::invalid(
                field,
                format!("{value:?} contains {bad:?}; use letters, digits and underscores"),
            ));
        }
        Ok(())
    }

    /// A title: one line (whitespace runs, newlines included, collapse to one space).
    pub fn title(&self, title: &str) -> Result<String> {
        no_nul("title", title)?;
        let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
        if title.is_empty() {
            return Err(Error::invalid(
                "title",
                "must not be empty; give a short one-line summary",
            ));
        }
        let chars = title.chars().count();
        if chars > self.max_title_chars {
            return Err(Error::invalid(
                "title",
                format!(
                    "is {chars} characters; the limit is {}: shorten it and put details in the content",
                    self.max_title_chars
                ),
            ));
        }
        Ok(title)
    }

    /// Content: anything but blank, at most `max_content_bytes`.
    pub fn content(&self, content: &str) -> Result<String> {
        no_nul("content", content)?;
        if content.trim().is_empty() {
            return Err(Error::invalid("content", "must not be empty"));
        }
        if content.len() > self.max_content_bytes {
            return Err(Error::invalid(
                "content",
                format!(
                    "is {} bytes; the limit is {}: split it into several linked memories",
                    content.len(),
                    self.max_content_bytes
                ),
            ));
        }
        Ok(content.to_owned())
    }

    /// Tags: trimmed, lower-case, without empties and duplicates (first occurrence kept).
    pub fn tags(&self, tags: &[String]) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for tag in tags {
            no_nul("tags", tag)?;
            let tag = tag.trim().to_lowercase();
            if tag.is_empty() || out.contains(&tag) {
                continue;
            }
            let chars = tag.chars().count();
            if chars > self.max_label_chars {
                return Err(Error::invalid(
                    "tags",
                    format!(
                        "tag {tag:?} is {chars} characters; the limit is {}",
                        self.max_label_chars
                    ),
                ));
            }
            out.push(tag);
        }
        if out.len() > self.max_tags {
            return Err(Error::invalid(
                "tags",
                format!(
                    "{} tags given; the limit is {}: keep the most telling ones",
                    out.len(),
                    self.max_tags
                ),
            ));
        }
        Ok(out)
    }

    /// Context: known fields trimmed (blank ones dropped), bounded as JSON.
    pub fn context(&self, mut context: Context) -> Result<Context> {
        for field in [
            &mut context.project,
            &mut context.repo,
            &mut context.language,
            &mut context.branch,
            &mut context.commit,
        ] {
            *field = field
                .take()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty());
        }
        context.paths.retain(|p| !p.trim().is_empty());
        self.json_size("context", &context)?;
        Ok(context)
    }

    /// Any JSON-serialisable value within `max_json_bytes`.
    pub fn json_size<T: Serialize>(&self, field: &'static str, value: &T) -> Result<()> {
        let len = serde_json::to_vec(value)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if len > self.max_json_bytes {
            return Err(Error::invalid(
                field,
                format!(
                    "is {len} bytes as JSON; the limit is {}",
                    self.max_json_bytes
                ),
            ));
        }
        Ok(())
    }

    /// A score in 0..=1.
    pub fn unit(&self, field: &'static str, value: f32) -> Result<f32> {
        if !(0.0..=1.0).contains(&value) {
            return Err(Error::invalid(field, format!("{value} is outside 0..=1")));
        }
        Ok(value)
    }

    /// A relationship note.
    pub fn note(&self, note: &str) -> Result<Option<String>> {
        no_nul("note", note)?;
        let note = note.trim();
        let chars = note.chars().count();
        if chars > self.max_note_chars {
            return Err(Error::invalid(
                "note",
                format!(
                    "is {chars} characters; the limit is {}",
                    self.max_note_chars
                ),
            ));
        }
        Ok((!note.is_empty()).then(|| note.to_owned()))
    }

    /// An embedding: a named model and a finite, non-zero vector of bounded dimension.
    pub fn embedding(&self, embedding: &Embedding) -> Result<()> {
        no_nul("embedding.model", &embedding.model)?;
        if embedding.model.trim().is_empty() {
            return Err(Error::invalid(
                "embedding.model",
                "must name the model that made the vector",
            ));
        }
        let dim = embedding.vector.len();
        if dim == 0 || dim > self.max_vector_dim {
            return Err(Error::invalid(
                "embedding",
                format!("has {dim} dimensions; expected 1..={}", self.max_vector_dim),
            ));
        }
        if let Some(i) = embedding.vector.iter().position(|x| !x.is_finite()) {
            return Err(Error::invalid(
                "embedding",
                format!(
                    "value {i} is {}; every value must be a finite number",
                    embedding.vector[i]
                ),
            ));
        }
        if embedding.vector.iter().all(|&x| x == 0.0) {
            return Err(Error::invalid(
                "embedding",
                "is all zeros; it has no direction to compare",
            ));
        }
        Ok(())
    }

    /// A result count: 1..=max_results.
    pub fn limit(&self, limit: usize) -> Result<usize> {
        if limit == 0 || limit > self.max_results {
            return Err(Error::invalid(
                "limit",
                format!("{limit} is outside 1..={}", self.max_results),
            ));
        }
        Ok(limit)
    }

    /// A walk depth or a path length (`field` names which): 1..=max_depth.
    pub fn depth(&self, field: &'static str, depth: u32) -> Result<u32> {
        if depth == 0 || depth > self.max_depth {
            return Err(Error::invalid(
                field,
                format!("{depth} is outside 1..={}", self.max_depth),
            ));
        }
        Ok(depth)
    }

    /// A node cap: 1..=max_subgraph_nodes.
    pub fn node_cap(&self, nodes: usize) -> Result<usize> {
        if nodes == 0 || nodes > self.max_subgraph_nodes {
            return Err(Error::invalid(
                "max_nodes",
                format!("{nodes} is outside 1..={}", self.max_subgraph_nodes),
            ));
        }
        Ok(nodes)
    }

    /// A batch of ids or records: 1..=max_batch.
    pub fn batch(&self, field: &'static str, len: usize) -> Result<()> {
        if len > self.max_batch {
            return Err(Error::invalid(
                field,
                format!("{len} items; the limit is {} per call", self.max_batch),
            ));
        }
        Ok(())
    }

    /// A page size asked of an MCP tool: `default` when absent (capped by `max_page`), else
    /// 1..=max_page.
    pub fn page(&self, limit: Option<usize>, default: usize) -> Result<usize> {
        match limit {
            None => Ok(default.min(self.max_page)),
            Some(n) if n == 0 || n > self.max_page => Err(Error::invalid(
                "limit",
                format!(
                    "{n} is outside 1..={} per page; use the cursor for more",
                    self.max_page
                ),
            )),
            Some(n) => Ok(n),
        }
    }

    /// The size budget of a recall briefing: min..=max_briefing_chars.
    pub fn briefing(&self, max_chars: usize, min: usize) -> Result<usize> {
        if max_chars < min || max_chars > self.max_briefing_chars {
            return Err(Error::invalid(
                "max_chars",
                format!("{max_chars} is outside {min}..={}", self.max_briefing_chars),
            ));
        }
        Ok(max_chars)
    }

    /// A search query: bounded in length.
    pub fn query(&self, query: &str) -> Result<()> {
        let chars = query.chars().count();
        if chars > self.max_query_chars {
            return Err(Error::invalid(
                "query",
                format!(
                    "is {chars} characters; the limit is {}",
                    self.max_query_chars
                ),
            ));
        }
        Ok(())
    }

    /// A filter: labels normalised like the values they are compared with.
    pub fn filter(&self, filter: &Filter) -> Result<Filter> {
        self.batch("kinds", filter.kinds.len())?;
        let kinds = filter
            .kinds
            .iter()
            .map(|k| self.kind(k))
            .collect::<Result<Vec<_>>>()?;
        let tags = self.tags(&filter.tags)?;
        if let Some(min) = filter.min_importance {
            self.unit("min_importance", min)?;
        }
        Ok(Filter {
            kinds,
            tags,
            project: filter
                .project
                .as_ref()
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty()),
            since: filter.since,
            min_importance: filter.min_importance,
        })
    }
}

/// Refuses text holding U+0000. SQLite keeps it, but libSQL reads text back as a C string,
/// so everything after it would be silently lost; JSON fields (context, properties) escape it
/// and keep it.
fn no_nul(field: &'static str, text: &str) -> Result<()> {
    if text.contains('\0') {
        return Err(Error::invalid(
            field,
            "contains a NUL character (U+0000), which cannot be stored; remove it",
        ));
    }
    Ok(())
}

/// Parses a time a caller wrote (a model or a person: every front end accepts the same):
/// RFC 3339, or a plain date meaning its midnight UTC.
pub fn parse_time(field: &'static str, text: &str) -> Result<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
        })
        .map_err(|_| {
            Error::invalid(
                field,
                format!("{text:?} is not a time; use RFC 3339 like 2025-06-01T12:00:00Z or a date like 2025-06-01"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_accept_rfc3339_and_dates() {
        let t = parse_time("since", "2025-06-01").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-06-01T00:00:00+00:00");
        let t = parse_time("since", "2025-06-01T12:00:00+02:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-06-01T10:00:00+00:00");
        let err = parse_time("valid_to", "yesterday").unwrap_err();
        assert!(err.to_string().contains("valid_to"));
    }

    #[test]
    fn rel_types_normalise_to_upper_snake() {
        let l = Limits::default();
        assert_eq!(l.rel_type("depends on").unwrap(), "DEPENDS_ON");
        assert_eq!(l.rel_type(" solves ").unwrap(), "SOLVES");
        assert!(l.rel_type("1ABC").is_err());
        assert!(l.rel_type("A;DROP").is_err());
    }

    #[test]
    fn titles_become_one_line() {
        let l = Limits::default();
        assert_eq!(l.title("  a\n b\t c ").unwrap(), "a b c");
        assert!(l.title(" \n ").is_err());
    }

    #[test]
    fn tags_normalise_and_dedupe() {
        let l = Limits::default();
        let tags = vec![" Rust ".into(), "rust".into(), "".into(), "SQLite".into()];
        assert_eq!(l.tags(&tags).unwrap(), ["rust", "sqlite"]);
    }

    #[test]
    fn unit_interval_rejects_nan() {
        assert!(Limits::default().unit("importance", f32::NAN).is_err());
    }

    #[test]
    fn pages_default_within_the_limit_and_refuse_beyond_it() {
        let l = Limits {
            max_page: 3,
            ..Limits::default()
        };
        assert_eq!(l.page(None, 10).unwrap(), 3);
        assert_eq!(l.page(Some(3), 10).unwrap(), 3);
        assert!(l.page(Some(4), 10).is_err());
        assert!(l.page(Some(0), 10).is_err());
    }

    #[test]
    fn text_with_nul_is_refused_where_it_would_be_cut_short() {
        let l = Limits::default();
        assert!(l.title("a\0b").is_err());
        assert!(l.content("a\0b").is_err());
        assert!(l.tags(&["a\0b".into()]).is_err());
        assert!(l.note("a\0b").is_err());
        let context = Context {
            project: Some("a\0b".into()),
            ..Context::default()
        };
        assert_eq!(l.context(context.clone()).unwrap(), context);
    }

    #[test]
    fn ids_are_canonical_uuids() {
        let l = Limits::default();
        let id = uuid::Uuid::now_v7();
        assert_eq!(
            l.id("id", &id.to_string().to_uppercase()).unwrap(),
            id.to_string()
        );
        assert!(l.id("id", "memory-1").is_err());
    }
}
