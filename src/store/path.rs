//! Finding a path: load the graph around both ends, meet in the middle, let petgraph choose.
//!
//! A breadth-first search from each end, always widening the smaller frontier, touches far
//! fewer memories than a search from one end (two balls of radius h/2 instead of one of
//! radius h). The edges it loads go to [`GraphView::shortest_path`], which picks the fewest
//! hops or the strongest chain among them.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::backend::GraphBackend;
use crate::error::Result;
use crate::graph::{GraphView, PathCost, PathOptions};
use crate::model::{Direction, Filter, MemorySummary, Relationship, Subgraph};

/// What path to look for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathQuery {
    /// Longest path considered, in relationships.
    pub max_hops: u32,
    /// Relationship types a path may use; empty allows all.
    #[serde(default)]
    pub rel_types: Vec<String>,
    pub cost: PathCost,
    /// Only walk relationships from source to target.
    #[serde(default)]
    pub directed: bool,
}

impl Default for PathQuery {
    fn default() -> Self {
        PathQuery {
            max_hops: 4,
            rel_types: Vec::new(),
            cost: PathCost::Hops,
            directed: false,
        }
    }
}

/// A path: the memories along it and the relationship joining each to the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoundPath {
    pub memories: Vec<MemorySummary>,
    /// `relationships[i]` joins `memories[i]` and `memories[i + 1]`, in either direction.
    pub relationships: Vec<Relationship>,
    pub hops: usize,
    /// Hops, or the summed -ln(strength) for the strongest chain.
    pub cost: f64,
}

/// One end's search state.
struct Side {
    visited: HashSet<String>,
    frontier: Vec<String>,
    direction: Direction,
    radius: u32,
}

impl Side {
    fn new(start: &str, direction: Direction) -> Self {
        Side {
            visited: HashSet::from([start.to_owned()]),
            frontier: vec![start.to_owned()],
            direction,
            radius: 0,
        }
    }
}

pub(super) async fn find(
    backend: &dyn GraphBackend,
    from: &MemorySummary,
    to: &MemorySummary,
    query: &PathQuery,
) -> Result<Option<FoundPath>> {
    if from.id == to.id {
        return Ok(Some(FoundPath {
            memories: vec![from.clone()],
            relationships: Vec::new(),
            hops: 0,
            cost: 0.0,
        }));
    }
    let (forward, backward) = if query.directed {
        (Direction::Outgoing, Direction::Incoming)
    } else {
        (Direction::Both, Direction::Both)
    };
    let mut sides = [Side::new(&from.id, forward), Side::new(&to.id, backward)];
    let mut edges: HashMap<String, Relationship> = HashMap::new();
    let now = Some(Utc::now());
    let mut met = false;

    while sides[0].radius + sides[1].radius < query.max_hops {
        // Fewest hops: stop as soon as the balls touch. Strongest chain: keep widening to the
        // full radius, since a longer chain may be stronger.
        if met && query.cost == PathCost::Hops {
            break;
        }
        let (a, b) = sides.split_at_mut(1);
        let (side, other) = if a[0].frontier.len() <= b[0].frontier.len() {
            (&mut a[0], &b[0])
        } else {
            (&mut b[0], &a[0])
        };
        if side.frontier.is_empty() {
            break;
        }
        let rels = backend
            .relationships_of(&side.frontier, side.direction, &query.rel_types, now)
            .await?;
        let frontier: HashSet<&str> = side.frontier.iter().map(String::as_str).collect();
        let mut next = Vec::new();
        for rel in rels {
            let ends = [
                (&rel.source_id, &rel.target_id),
                (&rel.target_id, &rel.source_id),
            ];
            for (here, there) in ends {
                let allowed = match side.direction {
                    Direction::Outgoing => here == &rel.source_id,
                    Direction::Incoming => here == &rel.target_id,
                    Direction::Both => true,
                };
                if allowed && frontier.contains(here.as_str()) && side.visited.insert(there.clone())
                {
                    met |= other.visited.contains(there);
                    next.push(there.clone());
                }
            }
            edges.entry(rel.id.clone()).or_insert(rel);
        }
        side.frontier = next;
        side.radius += 1;
        // A frontier node already seen by the other side also means the balls touch.
        met |= side.frontier.iter().any(|id| other.visited.contains(id));
    }
    if !met {
        return Ok(None);
    }

    let ids: Vec<String> = sides[0].visited.union(&sides[1].visited).cloned().collect();
    let nodes = backend.summaries(&ids, &Filter::default()).await?;
    let subgraph = Subgraph {
        nodes,
        edges: edges.into_values().collect(),
        truncated: false,
    };
    let options = PathOptions {
        cost: query.cost,
        directed: query.directed,
        rel_types: query.rel_types.clone(),
    };
    let Some(path) = GraphView::new(&subgraph).shortest_path(&from.id, &to.id, &options) else {
        return Ok(None);
    };
    let by_id: HashMap<&str, &MemorySummary> =
        subgraph.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    Ok(Some(FoundPath {
        memories: path
            .nodes
            .iter()
            .filter_map(|id| by_id.get(id.as_str()).map(|s| (*s).clone()))
            .collect(),
        relationships: path.edges,
        hops: path.hops,
        cost: path.cost,
    }))
}
