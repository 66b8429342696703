//! add, show, edit, rm, list.

use std::collections::HashMap;
use std::io::Read;

use clap::Args;
use serde::Serialize;
use serde_json::json;

use crate::backend::IdKind;
use crate::cli::args::FilterArgs;
use crate::cli::editor::Draft;
use crate::cli::output::{Style, count, cut, table};
use crate::cli::{CliError, CliResult, Ctx, Output, memory_id, memory_ids};
use crate::model::{Context, Created, Memory, MemoryPatch, Relationship};
use crate::store::{NewMemory, defaults};

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Kind: solution, problem, error, fix, decision, pattern, convention, preference, task,
    /// technology, file, concept, person, note, or another lower-case word
    #[arg(long, short = 'k', default_value = "note")]
    kind: String,
    /// One-line title
    #[arg(long, short = 't')]
    title: Option<String>,
    /// Content; `-` reads it from stdin. Without it (on a terminal) $EDITOR opens
    #[arg(long, short = 'c')]
    content: Option<String>,
    /// Tags (repeatable or comma-separated)
    #[arg(long = "tag", alias = "tags", value_delimiter = ',')]
    tags: Vec<String>,
    /// How much it matters, 0..1 [default: 0.5]
    #[arg(long)]
    importance: Option<f32>,
    /// How sure it is right, 0..1 [default: 1]
    #[arg(long)]
    confidence: Option<f32>,
    #[command(flatten)]
    context: ContextArgs,
}

/// Where a memory applies.
#[derive(Debug, Clone, Default, Args)]
struct ContextArgs {
    /// Project name (context.project)
    #[arg(long)]
    project: Option<String>,
    /// Repository, e.g. github.com/acme/api
    #[arg(long)]
    repo: Option<String>,
    /// File or directory concerned (repeatable)
    #[arg(long = "path")]
    paths: Vec<String>,
    /// Programming language
    #[arg(long)]
    language: Option<String>,
    /// Git branch
    #[arg(long)]
    branch: Option<String>,
    /// Git commit
    #[arg(long)]
    commit: Option<String>,
}

impl ContextArgs {
    fn is_empty(&self) -> bool {
        self.project.is_none()
            && self.repo.is_none()
            && self.paths.is_empty()
            && self.language.is_none()
            && self.branch.is_none()
            && self.commit.is_none()
    }

    /// `base` with the given fields replaced.
    fn over(self, base: Context) -> Context {
        Context {
            project: self.project.or(base.project),
            repo: self.repo.or(base.repo),
            paths: if self.paths.is_empty() {
                base.paths
            } else {
                self.paths
            },
            language: self.language.or(base.language),
            branch: self.branch.or(base.branch),
            commit: self.commit.or(base.commit),
            extra: base.extra,
        }
    }
}

fn read_stdin() -> CliResult<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(CliError::io("cannot read the content from stdin"))?;
    Ok(text)
}

pub async fn add(ctx: &Ctx, a: AddArgs) -> CliResult {
    let content = match a.content.as_deref() {
        Some("-") => Some(read_stdin()?),
        Some(text) => Some(text.to_owned()),
        None => None,
    };
    let (kind, title, content, tags, importance, confidence, project) = match (a.title, content) {
        (Some(title), Some(content)) => (
            a.kind,
            title,
            content,
            a.tags,
            a.importance,
            a.confidence,
            None,
        ),
        (title, content) => {
            let draft = Draft {
                kind: a.kind,
                title: title.unwrap_or_default(),
                tags: a.tags,
                importance: a.importance.unwrap_or(defaults::IMPORTANCE),
                confidence: a.confidence.unwrap_or(defaults::CONFIDENCE),
                project: a.context.project.clone(),
                content: content.unwrap_or_default(),
            }
            .edit("give --title and --content (or --content - to read stdin)")?;
            (
                draft.kind,
                draft.title,
                draft.content,
                draft.tags,
                Some(draft.importance),
                Some(draft.confidence),
                draft.project,
            )
        }
    };
    let mut context = a.context.over(Context::default());
    context.project = project.or(context.project);
    let store = ctx.store_for_write().await?;
    let new = NewMemory {
        kind,
        title,
        content,
        tags,
        context,
        importance,
        confidence,
        ..Default::default()
    };
    let written = store.create_with_links(new, Vec::new()).await?;
    let (memory, created) = (written.record.memory, written.record.created);
    ctx.note_queued();
    ctx.note_redacted(written.redacted);
    let data = json!({
        "id": memory.id,
        "version": memory.version,
        "created": created,
        "redacted": written.redacted,
    });
    ctx.out.print(&data, |out| match created {
        Created::New => format!("{} {}", out.paint(Style::Green, "stored"), memory.id),
        Created::Existing => format!("already stored {}", memory.id),
    })
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Memory ids
    #[arg(required = true)]
    ids: Vec<String>,
}

#[derive(Serialize)]
struct Shown {
    #[serde(flatten)]
    memory: Memory,
    relationships: Vec<Relationship>,
    /// Titles of the memories at the other ends, for people (not in the JSON).
    #[serde(skip)]
    titles: HashMap<String, String>,
}

pub async fn show(ctx: &Ctx, a: ShowArgs) -> CliResult {
    let store = ctx.store().await?;
    // Prefixes become whole ids; an id found nowhere stays as typed, to be named missing.
    let mut asked = Vec::with_capacity(a.ids.len());
    for text in &a.ids {
        asked.push(match store.resolve_id(IdKind::Memory, text).await {
            Ok(id) => id,
            Err(crate::Error::MemoryNotFound { .. }) => text.clone(),
            Err(err) => return Err(err.into()),
        });
    }
    let fetched = store.get_many(&asked).await?;
    if let Some(err) = fetched.missing_error() {
        return Err(err.into());
    }
    let mut shown = Vec::with_capacity(fetched.memories.len());
    for memory in fetched.memories {
        let relationships = store.relationships(&memory.id).await?;
        let ends: Vec<String> = relationships
            .iter()
            .map(|r| far_end(r, &memory.id).to_owned())
            .collect();
        let titles = store
            .summaries(&ends)
            .await?
            .into_iter()
            .map(|s| (s.id, s.title))
            .collect();
        shown.push(Shown {
            memory,
            relationships,
            titles,
        });
    }
    #[derive(Serialize)]
    struct ShowOut<'a> {
        memories: &'a [Shown],
    }
    ctx.out.print(&ShowOut { memories: &shown }, |out| {
        shown
            .iter()
            .map(|s| render_memory(out, s))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// The memory at the other end of `r` from `id` (`id` itself for a loop).
fn far_end<'r>(r: &'r Relationship, id: &str) -> &'r str {
    if r.source_id == id {
        &r.target_id
    } else {
        &r.source_id
    }
}

fn render_memory(out: &Output, s: &Shown) -> String {
    let m = &s.memory;
    let mut text = format!(
        "{} {}\n",
        out.paint(Style::Cyan, &format!("[{}]", m.kind)),
        out.paint(Style::Bold, &m.title)
    );
    let mut field = |name: &str, value: String| {
        text.push_str(&format!(
            "{}  {value}\n",
            out.paint(Style::Dim, &format!("{name:<11}"))
        ));
    };
    field("id", m.id.clone());
    if !m.tags.is_empty() {
        field("tags", m.tags.join(", "));
    }
    field(
        "importance",
        format!("{}  confidence {}", m.importance, m.confidence),
    );
    field(
        "created",
        format!(
            "{}  updated {}  version {}",
            m.created_at.format("%Y-%m-%d %H:%M"),
            m.updated_at.format("%Y-%m-%d %H:%M"),
            m.version
        ),
    );
    if m.access_count > 0 {
        field("recalled", format!("{} times", m.access_count));
    }
    if !m.context.is_empty() {
        field(
            "context",
            serde_json::to_string(&m.context).unwrap_or_default(),
        );
    }
    text.push('\n');
    text.push_str(m.content.trim_end());
    text.push('\n');
    if !s.relationships.is_empty() {
        text.push('\n');
        for r in &s.relationships {
            let other = far_end(r, &m.id);
            let title = s.titles.get(other).map_or(String::new(), |t| cut(t, 60));
            let arrow = if r.source_id == m.id { '→' } else { '←' };
            let line = format!(
                "{arrow} {} {other} {title:?} (relationship {})",
                r.rel_type, r.id
            );
            text.push_str(&out.paint(Style::Dim, &line));
            text.push('\n');
        }
    }
    text
}

#[derive(Debug, Args)]
pub struct EditArgs {
    /// Memory id
    id: String,
    /// New kind
    #[arg(long, short = 'k')]
    kind: Option<String>,
    /// New title
    #[arg(long, short = 't')]
    title: Option<String>,
    /// New content; `-` reads it from stdin
    #[arg(long, short = 'c')]
    content: Option<String>,
    /// New tags, replacing the old ones (repeatable or comma-separated)
    #[arg(long = "tag", alias = "tags", value_delimiter = ',')]
    tags: Option<Vec<String>>,
    #[arg(long)]
    importance: Option<f32>,
    #[arg(long)]
    confidence: Option<f32>,
    #[command(flatten)]
    context: ContextArgs,
    /// Fail if the memory's version is no longer this one (someone else changed it)
    #[arg(long, value_name = "N")]
    expected_version: Option<i64>,
}

pub async fn edit(ctx: &Ctx, a: EditArgs) -> CliResult {
    let store = ctx.store().await?;
    let current = store.get(&memory_id(&store, &a.id).await?).await?;
    let content = match a.content.as_deref() {
        Some("-") => Some(read_stdin()?),
        other => other.map(str::to_owned),
    };
    let flags_given = a.kind.is_some()
        || a.title.is_some()
        || content.is_some()
        || a.tags.is_some()
        || a.importance.is_some()
        || a.confidence.is_some()
        || !a.context.is_empty();
    let (patch, expected) = if flags_given {
        let patch = MemoryPatch {
            kind: a.kind,
            title: a.title,
            content,
            tags: a.tags,
            context: (!a.context.is_empty()).then(|| a.context.over(current.context.clone())),
            importance: a.importance,
            confidence: a.confidence,
        };
        (patch, a.expected_version)
    } else {
        let before = Draft {
            kind: current.kind.clone(),
            title: current.title.clone(),
            tags: current.tags.clone(),
            importance: current.importance,
            confidence: current.confidence,
            project: current.context.project.clone(),
            content: current.content.clone(),
        };
        let after = before.edit(
            "give the fields to change as flags (--title, --content, --kind, --tag, \
             --importance, --confidence, --project)",
        )?;
        let patch = MemoryPatch {
            kind: (after.kind != before.kind).then(|| after.kind.clone()),
            title: (after.title != before.title).then(|| after.title.clone()),
            content: (after.content != before.content).then(|| after.content.clone()),
            tags: (after.tags != before.tags).then(|| after.tags.clone()),
            context: (after.project != before.project).then(|| Context {
                project: after.project.clone(),
                ..current.context.clone()
            }),
            importance: (after.importance != before.importance).then_some(after.importance),
            confidence: (after.confidence != before.confidence).then_some(after.confidence),
        };
        if patch.is_empty() {
            return ctx.out.print(&current, |_| "nothing changed".to_owned());
        }
        // Someone else's change made while the editor was open must not be overwritten.
        (patch, Some(a.expected_version.unwrap_or(current.version)))
    };
    let written = store.update(&current.id, patch, None, expected).await?;
    ctx.note_queued();
    ctx.note_redacted(written.redacted);
    let memory = written.record;
    ctx.out.print(&memory, |out| {
        format!(
            "{} {} to version {}",
            out.paint(Style::Green, "updated"),
            memory.id,
            memory.version
        )
    })
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Memory ids
    #[arg(required = true)]
    ids: Vec<String>,
}

pub async fn rm(ctx: &Ctx, a: RmArgs) -> CliResult {
    let store = ctx.store().await?;
    let mut found = Vec::with_capacity(a.ids.len());
    for id in memory_ids(&store, &a.ids).await? {
        found.push(store.get(&id).await?);
    }
    let titles: Vec<String> = found
        .iter()
        .map(|m| format!("{:?}", cut(&m.title, 60)))
        .collect();
    ctx.confirm(&format!(
        "delete {} memor{} ({}) and their relationships?",
        found.len(),
        if found.len() == 1 { "y" } else { "ies" },
        titles.join(", ")
    ))?;
    let mut removed = 0;
    for memory in &found {
        removed += store.delete(&memory.id).await?.relationships.len();
    }
    ctx.note_queued();
    let ids: Vec<&str> = found.iter().map(|m| m.id.as_str()).collect();
    ctx.out.print(
        &json!({"deleted": ids, "relationships_removed": removed}),
        |_| {
            format!(
                "deleted {} ({})",
                ids.join(", "),
                count(removed as u64, "relationship", "relationships")
            )
        },
    )
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    filter: FilterArgs,
    /// Memories per page
    #[arg(long, default_value_t = defaults::LIST_LIMIT)]
    limit: usize,
    /// The next_cursor of the previous page
    #[arg(long)]
    cursor: Option<String>,
}

pub async fn list(ctx: &Ctx, a: ListArgs) -> CliResult {
    let store = ctx.store().await?;
    let page = store
        .list(&a.filter.into(), a.cursor.as_deref(), a.limit)
        .await?;
    ctx.out.print(&page, |out| {
        if page.memories.is_empty() {
            return "no memories".to_owned();
        }
        let rows: Vec<Vec<String>> = page
            .memories
            .iter()
            .map(|m| {
                vec![
                    m.id.clone(),
                    m.kind.clone(),
                    m.created_at.format("%Y-%m-%d").to_string(),
                    cut(&m.title, 70),
                ]
            })
            .collect();
        let mut text = table(out, &["ID", "KIND", "CREATED", "TITLE"], &rows);
        if let Some(cursor) = &page.next_cursor {
            text.push_str(&out.paint(Style::Dim, &format!("more: --cursor {cursor}")));
        }
        text
    })
}
