//! link, unlink, related, path, explore and graph.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use serde_json::json;

use super::transfer::OutputFile;
use crate::cli::args::{DirectionArg, time};
use crate::cli::output::{Style, count, cut, table};
use crate::cli::render::{GraphFormat, render};
use crate::cli::{CliError, CliResult, Ctx, memory_id, memory_ids, relationship_id};
use crate::graph::PathCost;
use crate::model::{Created, Filter, MemorySummary, Neighbour, Relationship, Traversal};
use crate::store::{Exploration, MemoryStore, NewRelationship, PathQuery, defaults};

#[derive(Debug, Args)]
pub struct LinkArgs {
    /// Id of the memory the relationship starts from, e.g. the fix
    source: String,
    /// Type in UPPER_SNAKE case: SOLVES, CAUSES, FIXES, DEPENDS_ON, PART_OF, RELATED_TO,
    /// SUPERSEDES, CONTRADICTS, EXAMPLE_OF, USES, or a custom one
    rel_type: String,
    /// Id of the memory it points to, e.g. the error
    target: String,
    /// How strong, 0..1 [default: 0.5]
    #[arg(long)]
    strength: Option<f32>,
    /// How sure, 0..1 [default: 1]
    #[arg(long)]
    confidence: Option<f32>,
    /// Why, in a sentence
    #[arg(long)]
    note: Option<String>,
    /// When it started to hold (RFC 3339 or YYYY-MM-DD)
    #[arg(long, value_parser = time)]
    valid_from: Option<chrono::DateTime<chrono::Utc>>,
    /// When it stopped holding
    #[arg(long, value_parser = time)]
    valid_to: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn link(ctx: &Ctx, a: LinkArgs) -> CliResult {
    let store = ctx.store().await?;
    let (rel, created) = store
        .link(NewRelationship {
            source_id: memory_id(&store, &a.source).await?,
            target_id: memory_id(&store, &a.target).await?,
            rel_type: a.rel_type,
            strength: a.strength,
            confidence: a.confidence,
            note: a.note,
            valid_from: a.valid_from,
            valid_to: a.valid_to,
            ..Default::default()
        })
        .await?;
    ctx.note_queued();
    ctx.out
        .print(&json!({"relationship": rel, "created": created}), |out| {
            let verb = match created {
                Created::New => out.paint(Style::Green, "linked"),
                Created::Existing => "already linked".to_owned(),
            };
            format!(
                "{verb} {} -{}-> {} ({})",
                rel.source_id, rel.rel_type, rel.target_id, rel.id
            )
        })
}

#[derive(Debug, Args)]
pub struct UnlinkArgs {
    /// Relationship id (see `memctl show <memory>`)
    id: String,
}

pub async fn unlink(ctx: &Ctx, a: UnlinkArgs) -> CliResult {
    let store = ctx.store().await?;
    let rel = store
        .get_relationship(&relationship_id(&store, &a.id).await?)
        .await?;
    store.unlink(&rel.id).await?;
    ctx.note_queued();
    ctx.out.print(&json!({"deleted": rel.id}), |_| {
        format!(
            "deleted relationship {} ({} -{}-> {})",
            rel.id, rel.source_id, rel.rel_type, rel.target_id
        )
    })
}

/// How far and along what to walk.
#[derive(Debug, Clone, Args)]
pub struct WalkArgs {
    /// Hops to walk
    #[arg(long, short = 'd', default_value_t = defaults::WALK_DEPTH)]
    depth: u32,
    /// Only follow this relationship type (repeatable)
    #[arg(long = "type", value_name = "TYPE")]
    types: Vec<String>,
    /// Also follow relationships whose validity has ended
    #[arg(long)]
    include_expired: bool,
}

#[derive(Debug, Args)]
pub struct RelatedArgs {
    /// Memory id
    id: String,
    #[command(flatten)]
    walk: WalkArgs,
    /// Which way to follow relationships
    #[arg(long, value_enum, default_value_t)]
    direction: DirectionArg,
    /// Most memories to show
    #[arg(long, default_value_t = defaults::RELATED_LIMIT)]
    limit: usize,
}

pub async fn related(ctx: &Ctx, a: RelatedArgs) -> CliResult {
    let store = ctx.store().await?;
    let traversal = Traversal {
        direction: a.direction.into(),
        rel_types: a.walk.types,
        depth: a.walk.depth,
        include_expired: a.walk.include_expired,
        filter: Filter::default(),
        // The cap counts the start too.
        max_nodes: a.limit + 1,
    };
    let id = memory_id(&store, &a.id).await?;
    let neighbours = store.neighbours(&id, &traversal).await?;
    #[derive(Serialize)]
    struct RelatedOut<'a> {
        id: &'a str,
        neighbours: &'a [Neighbour],
    }
    let data = RelatedOut {
        id: &id,
        neighbours: &neighbours,
    };
    ctx.out.print(&data, |out| {
        if neighbours.is_empty() {
            return format!("nothing is linked to {id}");
        }
        let rows: Vec<Vec<String>> = neighbours
            .iter()
            .map(|n| {
                let arrow = if n.via.target_id == n.memory.id {
                    format!("-{}->", n.via.rel_type)
                } else {
                    format!("<-{}-", n.via.rel_type)
                };
                vec![
                    n.depth.to_string(),
                    arrow,
                    n.memory.id.clone(),
                    n.memory.kind.clone(),
                    cut(&n.memory.title, 60),
                ]
            })
            .collect();
        table(out, &["HOP", "VIA", "ID", "KIND", "TITLE"], &rows)
    })
}

#[derive(Debug, Args)]
pub struct PathArgs {
    /// Id of the first memory
    from: String,
    /// Id of the second memory
    to: String,
    /// Longest path considered, in relationships
    #[arg(long, default_value_t = defaults::PATH_MAX_HOPS)]
    max_hops: u32,
    /// Only use this relationship type (repeatable)
    #[arg(long = "type", value_name = "TYPE")]
    types: Vec<String>,
    /// Prefer the strongest chain over the fewest hops
    #[arg(long)]
    strongest: bool,
    /// Only follow relationships from source to target
    #[arg(long)]
    directed: bool,
}

pub async fn path(ctx: &Ctx, a: PathArgs) -> CliResult {
    let store = ctx.store().await?;
    let query = PathQuery {
        max_hops: a.max_hops,
        rel_types: a.types,
        cost: if a.strongest {
            PathCost::Strength
        } else {
            PathCost::Hops
        },
        directed: a.directed,
    };
    let (from, to) = (
        memory_id(&store, &a.from).await?,
        memory_id(&store, &a.to).await?,
    );
    let found = store.find_path(&from, &to, &query).await?;
    #[derive(Serialize)]
    struct PathOut<'a> {
        found: bool,
        hops: usize,
        memories: &'a [MemorySummary],
        relationships: &'a [Relationship],
    }
    let data = match &found {
        Some(p) => PathOut {
            found: true,
            hops: p.hops,
            memories: &p.memories,
            relationships: &p.relationships,
        },
        None => PathOut {
            found: false,
            hops: 0,
            memories: &[],
            relationships: &[],
        },
    };
    ctx.out.print(&data, |out| match &found {
        None => format!(
            "no path within {} hops between {} and {}",
            a.max_hops, from, to
        ),
        Some(p) => {
            let mut text = String::new();
            for (i, m) in p.memories.iter().enumerate() {
                text.push_str(&format!(
                    "{} {}\n",
                    out.paint(Style::Cyan, &format!("[{}]", m.kind)),
                    out.paint(Style::Bold, &format!("{} ({})", cut(&m.title, 70), m.id))
                ));
                if let Some(r) = p.relationships.get(i) {
                    let arrow = if r.source_id == m.id {
                        format!("  │ {} ↓", r.rel_type)
                    } else {
                        format!("  │ {} ↑", r.rel_type)
                    };
                    text.push_str(&out.paint(Style::Dim, &arrow));
                    text.push('\n');
                }
            }
            text
        }
    })
}

/// Where to start exploring: ids, or the best matches of a query.
#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// Memory ids to start from
    ids: Vec<String>,
    /// Or: start from the best matches of this query
    #[arg(long, short = 'q', conflicts_with = "ids")]
    query: Option<String>,
    /// Matches of --query to start from
    #[arg(long, default_value_t = defaults::EXPLORE_SEEDS)]
    seeds: usize,
    /// Most memories in the subgraph
    #[arg(long, default_value_t = defaults::EXPLORE_MAX_NODES)]
    max_nodes: usize,
}

impl SeedArgs {
    async fn explore(
        &self,
        store: &MemoryStore,
        walk: &WalkArgs,
        top: usize,
    ) -> CliResult<Exploration> {
        let traversal = Traversal {
            direction: crate::model::Direction::Both,
            rel_types: walk.types.clone(),
            depth: walk.depth,
            include_expired: walk.include_expired,
            filter: Filter::default(),
            max_nodes: self.max_nodes,
        };
        Ok(match (&self.query, self.ids.is_empty()) {
            (Some(q), _) => {
                store
                    .explore_query(q, &Filter::default(), self.seeds, &traversal, top)
                    .await?
            }
            (None, false) => {
                let ids = memory_ids(store, &self.ids).await?;
                store.explore(&ids, &traversal, top).await?
            }
            (None, true) => {
                return Err(CliError::Usage(
                    "give memory ids to start from, or --query".into(),
                ));
            }
        })
    }
}

#[derive(Debug, Args)]
pub struct ExploreArgs {
    #[command(flatten)]
    seeds: SeedArgs,
    #[command(flatten)]
    walk: WalkArgs,
    /// Central memories to show
    #[arg(long, default_value_t = defaults::CENTRAL_SHOWN)]
    top: usize,
}

pub async fn explore(ctx: &Ctx, a: ExploreArgs) -> CliResult {
    let store = ctx.store().await?;
    let found = a.seeds.explore(&store, &a.walk, a.top).await?;
    ctx.out.print(&found, |out| {
        let sub = &found.subgraph;
        if sub.nodes.is_empty() {
            return "nothing to explore: no memory matched".to_owned();
        }
        let title = |id: &str| {
            sub.nodes
                .iter()
                .find(|n| n.id == id)
                .map(|n| cut(&n.title, 60))
                .unwrap_or_default()
        };
        let mut text = format!(
            "{}, {}{}\n\n{}\n",
            count(sub.nodes.len() as u64, "memory", "memories"),
            count(sub.edges.len() as u64, "relationship", "relationships"),
            if sub.truncated {
                " (cut at --max-nodes)"
            } else {
                ""
            },
            out.paint(Style::Bold, "central")
        );
        for (id, score) in &found.central {
            text.push_str(&format!("  {score:.3}  {id}  {}\n", title(id)));
        }
        text.push_str(&format!("\n{}\n", out.paint(Style::Bold, "clusters")));
        for (i, cluster) in found.clusters.iter().enumerate() {
            let names: Vec<String> = cluster.iter().take(5).map(|id| title(id)).collect();
            let more = cluster.len().saturating_sub(5);
            text.push_str(&format!(
                "  {}. {}: {}{}\n",
                i + 1,
                count(cluster.len() as u64, "memory", "memories"),
                names.join("; "),
                if more > 0 {
                    format!("; and {more} more")
                } else {
                    String::new()
                }
            ));
        }
        text
    })
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    seeds: SeedArgs,
    #[command(flatten)]
    walk: WalkArgs,
    /// dot (Graphviz), mermaid or graphml
    #[arg(long, short = 'f', value_enum, default_value_t = GraphFormat::Dot)]
    format: GraphFormat,
    /// Write to this file instead of stdout
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Replace --output if it exists (a symlink there is replaced, not followed)
    #[arg(long)]
    force: bool,
}

pub async fn graph(ctx: &Ctx, a: GraphArgs) -> CliResult {
    let store = ctx.store().await?;
    let found = a.seeds.explore(&store, &a.walk, 0).await?;
    let text = render(a.format, &found.subgraph);
    match &a.output {
        None => ctx.out.text(&text),
        Some(path) => {
            let (output, mut file) = OutputFile::create(path, a.force, &ctx.config.db_path.value)?;
            std::io::Write::write_all(&mut file, text.as_bytes())
                .map_err(CliError::io(format!("cannot write {}", path.display())))?;
            drop(file);
            output.commit()?;
            ctx.out.print(
                &json!({"path": path, "nodes": found.subgraph.nodes.len(), "edges": found.subgraph.edges.len()}),
                |_| format!(
                    "wrote {} and {} to {}",
                    count(found.subgraph.nodes.len() as u64, "memory", "memories"),
                    count(found.subgraph.edges.len() as u64, "relationship", "relationships"),
                    path.display()
                ),
            )
        }
    }
}
