//! Answers computed over a loaded subgraph: paths, central memories, clusters and dependency
//! cycles.
//!
//! The backend loads a [`Subgraph`] (memories and the relationships among them); [`GraphView`]
//! turns it once into a petgraph graph and every question is then answered in memory. Nothing
//! here touches SQL or the backend, so what a view sees is exactly what the caller loaded:
//! choosing which relationships count (expired ones, filters, the node cap) is the caller's job.
//!
//! Every answer is deterministic: ties are broken by memory id (then relationship id), never by
//! the order rows came back from storage, so tests and users see the same output for the same
//! graph.

mod cluster;
mod cycles;
mod path;
mod rank;

use std::collections::HashMap;

use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};

use crate::model::{Relationship, Subgraph};

pub use cycles::Cycle;
pub use path::{Path, PathCost, PathOptions};

/// A subgraph ready for graph algorithms.
///
/// Node weights are memory ids and edge weights are indexes into the relationships the view was
/// built from, so an algorithm's answer maps back to records without copying them into the
/// graph. Nodes are added in memory-id order and edges in relationship-id order, so comparing two
/// [`NodeIndex`] (or [`EdgeIndex`]) values compares their ids: that is how ties are broken
/// cheaply and independently of the order the subgraph listed them in.
#[derive(Debug, Clone)]
pub struct GraphView {
    graph: DiGraph<String, usize>,
    index: HashMap<String, NodeIndex>,
    /// `subgraph.edges` as given; edge weights index into it.
    relationships: Vec<Relationship>,
}

impl GraphView {
    /// Builds the view. Duplicate memories or relationships (same id) are kept once, and a
    /// relationship whose source or target is not among the nodes is ignored: a walk cut by the
    /// node cap leaves such dangling edges and they lead nowhere the view can name.
    pub fn new(subgraph: &Subgraph) -> Self {
        let mut ids: Vec<&str> = subgraph.nodes.iter().map(|n| n.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();

        let mut graph = DiGraph::with_capacity(ids.len(), subgraph.edges.len());
        let mut index = HashMap::with_capacity(ids.len());
        for id in ids {
            index.insert(id.to_owned(), graph.add_node(id.to_owned()));
        }

        let edges = &subgraph.edges;
        let mut order: Vec<usize> = (0..edges.len()).collect();
        // Stable, so the first of several relationships sharing an id is the one kept.
        order.sort_by(|&a, &b| edges[a].id.cmp(&edges[b].id));
        order.dedup_by(|later, kept| edges[*later].id == edges[*kept].id);
        for i in order {
            let rel = &edges[i];
            if let (Some(&source), Some(&target)) =
                (index.get(&rel.source_id), index.get(&rel.target_id))
            {
                graph.add_edge(source, target, i);
            }
        }

        GraphView {
            graph,
            index,
            relationships: edges.clone(),
        }
    }

    /// Memories in the view.
    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    /// Relationships in the view (dangling and duplicate ones excluded).
    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    fn node(&self, id: &str) -> Option<NodeIndex> {
        self.index.get(id).copied()
    }

    fn id(&self, node: NodeIndex) -> &str {
        &self.graph[node]
    }

    fn relationship(&self, edge: EdgeIndex) -> &Relationship {
        &self.relationships[self.graph[edge]]
    }

    /// Strength of the relationship at `index` (a graph edge weight), clamped to 0..=1. Stored
    /// values are validated; this only keeps a bad row from poisoning sums: NaN counts as 0.
    fn strength(&self, index: usize) -> f64 {
        let strength = f64::from(self.relationships[index].strength);
        if strength.is_nan() {
            0.0
        } else {
            strength.clamp(0.0, 1.0)
        }
    }

    /// True when the relationship at `index` (a graph edge weight) is one of `rel_types`; an
    /// empty list admits every type. Types are compared exactly: callers pass them normalised
    /// (UPPER_SNAKE), as the store writes them.
    fn admits(&self, rel_types: &[String], index: usize) -> bool {
        rel_types.is_empty() || rel_types.contains(&self.relationships[index].rel_type)
    }
}

#[cfg(test)]
mod testing {
    //! Hand-made subgraphs for the tests of every algorithm.

    use chrono::Utc;

    use crate::model::{MemorySummary, Relationship, Subgraph};

    pub fn memory(id: &str) -> MemorySummary {
        MemorySummary {
            id: id.to_owned(),
            kind: "note".to_owned(),
            title: format!("memory {id}"),
            tags: Vec::new(),
            importance: 0.5,
            created_at: Utc::now(),
        }
    }

    /// A relationship with id `source-rel_type-target`.
    pub fn rel(source: &str, target: &str, rel_type: &str, strength: f32) -> Relationship {
        let now = Utc::now();
        Relationship {
            id: format!("{source}-{rel_type}-{target}"),
            source_id: source.to_owned(),
            target_id: target.to_owned(),
            rel_type: rel_type.to_owned(),
            strength,
            confidence: 1.0,
            note: None,
            properties: Default::default(),
            valid_from: None,
            valid_to: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    pub fn subgraph(nodes: &[&str], edges: Vec<Relationship>) -> Subgraph {
        Subgraph {
            nodes: nodes.iter().map(|id| memory(id)).collect(),
            edges,
            truncated: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{rel, subgraph};
    use super::*;

    #[test]
    fn edges_to_memories_outside_the_subgraph_are_ignored() {
        let view = GraphView::new(&subgraph(
            &["a", "b"],
            vec![
                rel("a", "b", "USES", 1.0),
                rel("a", "ghost", "USES", 1.0),
                rel("ghost", "b", "USES", 1.0),
            ],
        ));
        assert_eq!(view.node_count(), 2);
        assert_eq!(view.edge_count(), 1);
        assert_eq!(view.clusters(), vec![vec!["a".to_owned(), "b".to_owned()]]);
        let path = view
            .shortest_path("a", "b", &PathOptions::default())
            .unwrap();
        assert_eq!(path.edges[0].id, "a-USES-b");
    }

    #[test]
    fn duplicate_memories_and_relationships_are_kept_once() {
        let mut sub = subgraph(&["a", "b", "a"], vec![rel("a", "b", "USES", 1.0)]);
        sub.edges.push(sub.edges[0].clone());
        let view = GraphView::new(&sub);
        assert_eq!(view.node_count(), 2);
        assert_eq!(view.edge_count(), 1);
    }
}
