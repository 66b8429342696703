//! Breadth-first walks written once over the one-hop primitive of every backend.
//!
//! Each level is one [`GraphBackend::expand`] call: a batched probe of the relationships of
//! the frontier (both directions are index lookups) and the summaries of the memories it
//! discovered, so a walk costs one call per level whatever the fan-out.

use std::collections::{HashMap, HashSet};

use chrono::Utc;

use super::GraphBackend;
use crate::error::Result;
use crate::model::{
    Direction, Filter, MemorySummary, Neighbour, Relationship, Subgraph, Traversal,
};

/// What a walk reached.
struct Walk {
    /// Reached memories in discovery order (seeds first), with their depth and the edge that
    /// reached them (`None` for seeds).
    reached: Vec<(MemorySummary, u32, Option<Relationship>)>,
    /// Every relationship seen whose both ends were reached.
    edges: Vec<Relationship>,
    /// The walk stopped at the node cap.
    truncated: bool,
}

/// The memories reachable from `start` within `traversal.depth`, nearest first (none when
/// `start` does not exist).
pub async fn neighbours(
    backend: &dyn GraphBackend,
    start: &str,
    traversal: &Traversal,
) -> Result<Vec<Neighbour>> {
    let seeds = backend
        .summaries(&[start.to_owned()], &Filter::default())
        .await?;
    match seeds.first() {
        Some(start) => neighbours_from(backend, start, traversal).await,
        None => Ok(Vec::new()),
    }
}

/// [`neighbours`] from a memory the caller already looked up.
pub async fn neighbours_from(
    backend: &dyn GraphBackend,
    start: &MemorySummary,
    traversal: &Traversal,
) -> Result<Vec<Neighbour>> {
    let walk = walk(backend, std::slice::from_ref(start), traversal, false).await?;
    Ok(walk
        .reached
        .into_iter()
        .filter_map(|(memory, depth, via)| via.map(|via| Neighbour { memory, depth, via }))
        .collect())
}

/// The subgraph around `seeds` (those that exist): reached memories and every relationship
/// among them.
pub async fn subgraph(
    backend: &dyn GraphBackend,
    seeds: &[String],
    traversal: &Traversal,
) -> Result<Subgraph> {
    let found = backend.summaries(seeds, &Filter::default()).await?;
    let ordered: Vec<MemorySummary> = seeds
        .iter()
        .filter_map(|id| found.iter().find(|s| &s.id == id).cloned())
        .collect();
    subgraph_from(backend, &ordered, traversal).await
}

/// [`subgraph`] from memories the caller already looked up.
pub async fn subgraph_from(
    backend: &dyn GraphBackend,
    seeds: &[MemorySummary],
    traversal: &Traversal,
) -> Result<Subgraph> {
    let walk = walk(backend, seeds, traversal, true).await?;
    Ok(Subgraph {
        nodes: walk.reached.into_iter().map(|(m, _, _)| m).collect(),
        edges: walk.edges,
        truncated: walk.truncated,
    })
}

/// The relationships a walk collected: those whose both ends were reached, each once.
#[derive(Default)]
struct Edges {
    kept: Vec<Relationship>,
    seen: HashSet<String>,
}

impl Edges {
    fn keep_internal(&mut self, rels: Vec<Relationship>, reached: &HashMap<String, usize>) {
        for rel in rels {
            if reached.contains_key(&rel.source_id)
                && reached.contains_key(&rel.target_id)
                && self.seen.insert(rel.id.clone())
            {
                self.kept.push(rel);
            }
        }
    }
}

/// Walks breadth-first from `seeds` (existing memories, as the caller found them).
async fn walk(
    backend: &dyn GraphBackend,
    seeds: &[MemorySummary],
    t: &Traversal,
    close_last_level: bool,
) -> Result<Walk> {
    let valid_at = (!t.include_expired).then(Utc::now);
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut reached = Vec::new();
    for seed in seeds {
        if !index.contains_key(&seed.id) {
            index.insert(seed.id.clone(), reached.len());
            reached.push((seed.clone(), 0, None));
        }
    }
    let mut edges = Edges::default();
    let mut frontier: Vec<String> = reached.iter().map(|(s, _, _)| s.id.clone()).collect();
    let mut truncated = false;

    for depth in 1..=t.depth {
        if frontier.is_empty() || truncated {
            break;
        }
        let (mut rels, far) = backend
            .expand(&frontier, t.direction, &t.rel_types, valid_at, &t.filter)
            .await?;
        rels.sort_by(|a, b| b.strength.total_cmp(&a.strength).then(a.id.cmp(&b.id)));
        let frontier_set: HashSet<&str> = frontier.iter().map(String::as_str).collect();
        let passing: HashMap<String, MemorySummary> =
            far.into_iter().map(|s| (s.id.clone(), s)).collect();

        // Candidate memories of the next level, each with the first edge that reaches it.
        let mut candidates: Vec<(String, Relationship)> = Vec::new();
        let mut candidate_ids: HashSet<String> = HashSet::new();
        for rel in &rels {
            for next in next_ends(rel, t.direction, &frontier_set) {
                if !index.contains_key(next) && candidate_ids.insert(next.to_owned()) {
                    candidates.push((next.to_owned(), rel.clone()));
                }
            }
        }

        let mut next_frontier = Vec::new();
        for (id, via) in candidates {
            let Some(summary) = passing.get(&id) else {
                continue;
            };
            if reached.len() >= t.max_nodes {
                truncated = true;
                break;
            }
            index.insert(id.clone(), reached.len());
            reached.push((summary.clone(), depth, Some(via)));
            next_frontier.push(id);
        }
        edges.keep_internal(rels, &index);
        frontier = next_frontier;
    }

    // Relationships among the outermost memories were not walked yet; a subgraph wants them.
    if close_last_level && !frontier.is_empty() {
        let rels = backend
            .relationships_of(&frontier, t.direction, &t.rel_types, valid_at)
            .await?;
        edges.keep_internal(rels, &index);
    }

    Ok(Walk {
        reached,
        edges: edges.kept,
        truncated,
    })
}

/// The ends of `rel` a walk in `direction` moves to from the frontier.
fn next_ends<'a>(
    rel: &'a Relationship,
    direction: Direction,
    frontier: &HashSet<&str>,
) -> impl Iterator<Item = &'a str> {
    let forward = matches!(direction, Direction::Outgoing | Direction::Both)
        && frontier.contains(rel.source_id.as_str());
    let backward = matches!(direction, Direction::Incoming | Direction::Both)
        && frontier.contains(rel.target_id.as_str());
    forward
        .then_some(rel.target_id.as_str())
        .into_iter()
        .chain(backward.then_some(rel.source_id.as_str()))
}
