//! search and recall.

use clap::Args;

use crate::cli::args::FilterArgs;
use crate::cli::output::{Style, cut};
use crate::cli::{CliResult, Ctx};
use crate::model::Direction;
use crate::store::{BriefingHints, RecallQuery, RecallReason, SearchMode, defaults};

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to look for, in plain words
    query: String,
    /// keyword, semantic or hybrid (semantic and hybrid need an embedder) [default: hybrid
    /// when the embedder is ready, else keyword]
    #[arg(long, value_enum)]
    mode: Option<SearchModeArg>,
    /// Show how each hit scored: the score and which terms matched in which fields
    #[arg(long)]
    explain: bool,
    #[command(flatten)]
    filter: FilterArgs,
    /// Hits per page
    #[arg(long, default_value_t = defaults::SEARCH_LIMIT)]
    limit: usize,
    /// The next_cursor of the previous page
    #[arg(long)]
    cursor: Option<String>,
}

/// clap's view of [`SearchMode`].
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SearchModeArg {
    Keyword,
    Semantic,
    Hybrid,
}

impl From<SearchModeArg> for SearchMode {
    fn from(m: SearchModeArg) -> Self {
        match m {
            SearchModeArg::Keyword => SearchMode::Keyword,
            SearchModeArg::Semantic => SearchMode::Semantic,
            SearchModeArg::Hybrid => SearchMode::Hybrid,
        }
    }
}

pub async fn search(ctx: &Ctx, a: SearchArgs) -> CliResult {
    let store = match a.mode {
        // Keyword search needs no embedder; any other search loads it, as the server does.
        Some(SearchModeArg::Keyword) => ctx.store().await?,
        _ => super::reembed::embedded_store(ctx).await?,
    };
    let page = store
        .search(
            &a.query,
            a.mode.map(Into::into),
            &a.filter.into(),
            a.limit,
            a.cursor.as_deref(),
        )
        .await?;
    ctx.out.print(&page, |out| {
        if page.hits.is_empty() {
            return format!("nothing matches {:?}", a.query);
        }
        let mut text = String::new();
        for hit in &page.hits {
            let m = &hit.memory;
            text.push_str(&format!(
                "{}  {} {}\n",
                out.paint(Style::Dim, &m.id),
                out.paint(Style::Cyan, &format!("[{}]", m.kind)),
                out.paint(Style::Bold, &cut(&m.title, 80))
            ));
            text.push_str(&format!("    {}\n", cut(&hit.snippet, 160)));
            if a.explain {
                text.push_str(&out.paint(
                    Style::Dim,
                    &format!(
                        "    {} score {}: terms {} in {}\n",
                        page.mode.as_str(),
                        // BM25 scores of words found in most memories of a small store are
                        // tiny: show them in scientific notation rather than as 0.000.
                        if hit.score.abs() >= 0.01 || hit.score == 0.0 {
                            format!("{:.3}", hit.score)
                        } else {
                            format!("{:.2e}", hit.score)
                        },
                        hit.matched_terms.join(", "),
                        hit.matched_fields.join(", ")
                    ),
                ));
            }
        }
        if let Some(cursor) = &page.next_cursor {
            text.push_str(&out.paint(Style::Dim, &format!("more: --cursor {cursor}")));
        }
        text
    })
}

/// How a person stores what they learn and sees what a briefing left out, with memctl.
const BRIEFING_HINTS: BriefingHints = BriefingHints {
    nothing_found: "Store what you learn with `memctl add`.",
    more: "raise --max-chars, or `memctl show` them by id",
};

#[derive(Debug, Args)]
pub struct RecallArgs {
    /// The task or problem at hand
    query: String,
    #[command(flatten)]
    filter: FilterArgs,
    /// Most memories in the answer
    #[arg(long, default_value_t = defaults::RECALL_LIMIT)]
    limit: usize,
    /// Size budget of the briefing, in characters [default: 4000, or the max_briefing_chars
    /// limit when lower]
    #[arg(long)]
    max_chars: Option<usize>,
}

pub async fn recall(ctx: &Ctx, a: RecallArgs) -> CliResult {
    let store = super::reembed::embedded_store(ctx).await?;
    let recall = store
        .recall(&RecallQuery {
            query: a.query,
            filter: a.filter.into(),
            limit: a.limit,
            max_chars: a.max_chars,
            hints: BRIEFING_HINTS,
        })
        .await?;
    ctx.out.print(&recall, |out| {
        let mut text = recall.briefing.clone();
        if !recall.items.is_empty() {
            text.push_str("\n\n");
            for item in &recall.items {
                let why = match &item.reason {
                    RecallReason::Matched { terms } => format!("matched {}", terms.join(", ")),
                    RecallReason::Linked {
                        rel_type,
                        direction,
                        via_id,
                        ..
                    } => match direction {
                        Direction::Incoming => format!("{via_id} {rel_type} this"),
                        _ => format!("this {rel_type} {via_id}"),
                    },
                };
                text.push_str(&out.paint(
                    Style::Dim,
                    &format!("{}  {:.2}  {why}\n", item.memory.id, item.score),
                ));
            }
        }
        text
    })
}
