//! Shortest connections between two memories.
//!
//! Petgraph's Dijkstra is run once from the goal over the admitted edges walked backwards, which
//! gives every memory the cost of its best route to the goal. The path is then read forwards
//! from the start, each step taking an edge that keeps to that best cost; among equally good
//! steps the one to the smallest memory id (then relationship id) wins, so the answer does not
//! depend on the order the subgraph was loaded in.

use std::cmp::Ordering;
use std::ops::Add;

use petgraph::Direction::{Incoming, Outgoing};
use petgraph::algo::dijkstra;
use petgraph::graph::{EdgeIndex, EdgeReference, NodeIndex};
use petgraph::visit::{EdgeFiltered, EdgeRef, Reversed, UndirectedAdaptor};
use serde::{Deserialize, Serialize};

use super::GraphView;
use crate::model::Relationship;

/// Weakest strength a relationship counts with, so a strength of 0 is a very expensive step
/// rather than an infinite one.
const MIN_STRENGTH: f64 = 1e-6;

/// Path weights closer than this are equal. Strengths are `f32` (about seven significant
/// digits), so 0.9 × 0.9 and a stored 0.81 differ by about 1e-8 once in `f64`: without the
/// tolerance that rounding, not the hop count, would decide between the two chains.
const WEIGHT_TOLERANCE: f64 = 1e-6;

/// What "shortest" means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PathCost {
    /// Fewest relationships.
    #[default]
    Hops,
    /// Strongest chain: the largest product of relationship strengths, then fewest hops.
    Strength,
}

impl PathCost {
    /// Cost of one step over a relationship of `strength` (already in 0..=1).
    fn of(self, strength: f64) -> Cost {
        let weight = match self {
            PathCost::Hops => 1.0,
            PathCost::Strength => -strength.max(MIN_STRENGTH).ln(),
        };
        Cost { weight, hops: 1 }
    }
}

/// How to look for a path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PathOptions {
    pub cost: PathCost,
    /// Only walk relationships from source to target. Otherwise a path may walk them backwards:
    /// it answers "how are these connected", not "what leads to what".
    pub directed: bool,
    /// Relationship types a path may use (exact, UPPER_SNAKE); empty allows all.
    pub rel_types: Vec<String>,
}

/// A chain of relationships from one memory to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Path {
    /// Memory ids from the start to the goal, both included.
    pub nodes: Vec<String>,
    /// `edges[i]` joins `nodes[i]` and `nodes[i + 1]`, in either direction unless the search
    /// was directed.
    pub edges: Vec<Relationship>,
    pub hops: usize,
    /// [`PathCost::Hops`]: the number of hops. [`PathCost::Strength`]: `-ln` of the product of
    /// the (clamped) strengths, so `exp(-cost)` is the strength of the whole chain.
    pub cost: f64,
}

/// Cost of a walk as Dijkstra adds it up: the weight, then the hops as the tie-break.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    weight: f64,
    hops: usize,
}

impl Add for Cost {
    type Output = Cost;

    fn add(self, other: Cost) -> Cost {
        Cost {
            weight: self.weight + other.weight,
            hops: self.hops + other.hops,
        }
    }
}

impl PartialOrd for Cost {
    fn partial_cmp(&self, other: &Cost) -> Option<Ordering> {
        if (self.weight - other.weight).abs() <= WEIGHT_TOLERANCE {
            Some(self.hops.cmp(&other.hops))
        } else {
            self.weight.partial_cmp(&other.weight)
        }
    }
}

/// Equality is the ordering's: both Dijkstra's heap and the path reading rely on them agreeing.
impl PartialEq for Cost {
    fn eq(&self, other: &Cost) -> bool {
        self.partial_cmp(other) == Some(Ordering::Equal)
    }
}

impl GraphView {
    /// Shortest connection from `from` to `to` under `opts`, or `None` when either memory is not
    /// in the view or no admitted chain joins them. A memory is joined to itself by a path of
    /// one node and no edges.
    pub fn shortest_path(&self, from: &str, to: &str, opts: &PathOptions) -> Option<Path> {
        let (start, goal) = (self.node(from)?, self.node(to)?);
        let admitted = EdgeFiltered::from_fn(&self.graph, |edge: EdgeReference<'_, usize>| {
            self.admits(&opts.rel_types, *edge.weight())
        });
        let cost = |index: usize| opts.cost.of(self.strength(index));
        let to_goal = if opts.directed {
            dijkstra(Reversed(&admitted), goal, None, |e| cost(*e.weight()))
        } else {
            dijkstra(UndirectedAdaptor(&admitted), goal, None, |e| {
                cost(*e.weight())
            })
        };

        let mut left = *to_goal.get(&start)?;
        let mut at = start;
        let mut total = Cost::default();
        let mut nodes = vec![self.id(start).to_owned()];
        let mut edges = Vec::new();
        while at != goal {
            let (edge, next, step) = self
                .steps(at, opts.directed)
                .filter(|&(edge, _)| self.admits(&opts.rel_types, self.graph[edge]))
                .filter_map(|(edge, next)| {
                    let step = cost(self.graph[edge]);
                    let rest = *to_goal.get(&next)?;
                    (step + rest == left).then_some((edge, next, step))
                })
                .min_by_key(|&(edge, next, _)| (next, edge))
                // The edge Dijkstra last relaxed `at` through always qualifies, and each step
                // lowers the hops left by one, so the reading ends at the goal.
                .expect("a node Dijkstra reached has a step along its best cost");
            left = to_goal[&next];
            total = total + step;
            at = next;
            nodes.push(self.id(next).to_owned());
            edges.push(self.relationship(edge).clone());
        }
        Some(Path {
            nodes,
            edges,
            hops: total.hops,
            cost: total.weight,
        })
    }

    /// Edges a walk may leave `at` by, with the memory each leads to: outgoing ones, and
    /// incoming ones walked backwards unless `directed`.
    fn steps(
        &self,
        at: NodeIndex,
        directed: bool,
    ) -> impl Iterator<Item = (EdgeIndex, NodeIndex)> + '_ {
        let forward = self
            .graph
            .edges_directed(at, Outgoing)
            .map(|e| (e.id(), e.target()));
        let backward = (!directed)
            .then(|| {
                self.graph
                    .edges_directed(at, Incoming)
                    .map(|e| (e.id(), e.source()))
            })
            .into_iter()
            .flatten();
        forward.chain(backward)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{rel, subgraph};
    use super::*;

    fn ids(path: &Path) -> Vec<&str> {
        path.nodes.iter().map(String::as_str).collect()
    }

    fn rel_ids(path: &Path) -> Vec<&str> {
        path.edges.iter().map(|e| e.id.as_str()).collect()
    }

    fn by(cost: PathCost) -> PathOptions {
        PathOptions {
            cost,
            ..PathOptions::default()
        }
    }

    /// a → b → d is short but b → d is weak; a → c → e → d is longer and strong.
    fn diamond() -> GraphView {
        GraphView::new(&subgraph(
            &["a", "b", "c", "d", "e"],
            vec![
                rel("a", "b", "USES", 0.9),
                rel("b", "d", "USES", 0.1),
                rel("a", "c", "USES", 0.9),
                rel("c", "e", "USES", 0.9),
                rel("e", "d", "USES", 0.9),
            ],
        ))
    }

    #[test]
    fn hops_and_strength_choose_different_routes() {
        let view = diamond();

        let short = view.shortest_path("a", "d", &by(PathCost::Hops)).unwrap();
        assert_eq!(ids(&short), ["a", "b", "d"]);
        assert_eq!(rel_ids(&short), ["a-USES-b", "b-USES-d"]);
        assert_eq!(short.hops, 2);
        assert_eq!(short.cost, 2.0);

        let strong = view
            .shortest_path("a", "d", &by(PathCost::Strength))
            .unwrap();
        assert_eq!(ids(&strong), ["a", "c", "e", "d"]);
        assert_eq!(rel_ids(&strong), ["a-USES-c", "c-USES-e", "e-USES-d"]);
        assert_eq!(strong.hops, 3);
        let product = 0.9_f32 as f64 * 0.9_f32 as f64 * 0.9_f32 as f64;
        assert!(
            (strong.cost - -product.ln()).abs() < 1e-9,
            "{}",
            strong.cost
        );
    }

    #[test]
    fn equally_strong_chains_go_to_the_shorter_one() {
        // The same strength in two hops or one; the id tie-break alone would step to "b".
        for (step, direct) in [(0.5, 0.25), (0.9, 0.81), (0.8, 0.64), (0.3, 0.09)] {
            let view = GraphView::new(&subgraph(
                &["a", "b", "z"],
                vec![
                    rel("a", "b", "USES", step),
                    rel("b", "z", "USES", step),
                    rel("a", "z", "USES", direct),
                ],
            ));
            let path = view
                .shortest_path("a", "z", &by(PathCost::Strength))
                .unwrap();
            assert_eq!(ids(&path), ["a", "z"], "{step} × {step} against {direct}");
        }
        // A chain that is really stronger still wins over fewer hops.
        let view = GraphView::new(&subgraph(
            &["a", "b", "z"],
            vec![
                rel("a", "b", "USES", 0.5),
                rel("b", "z", "USES", 0.5),
                rel("a", "z", "USES", 0.249),
            ],
        ));
        let path = view
            .shortest_path("a", "z", &by(PathCost::Strength))
            .unwrap();
        assert_eq!(ids(&path), ["a", "b", "z"]);
    }

    #[test]
    fn equal_paths_are_broken_by_memory_id_whatever_the_load_order() {
        let edges = vec![
            rel("a", "c", "USES", 1.0),
            rel("c", "d", "USES", 1.0),
            rel("a", "b", "USES", 1.0),
            rel("b", "d", "USES", 1.0),
        ];
        let mut reversed = edges.clone();
        reversed.reverse();
        for edges in [edges, reversed] {
            let view = GraphView::new(&subgraph(&["d", "c", "b", "a"], edges));
            let path = view
                .shortest_path("a", "d", &PathOptions::default())
                .unwrap();
            assert_eq!(ids(&path), ["a", "b", "d"]);
        }
    }

    #[test]
    fn undirected_paths_walk_edges_backwards_and_directed_ones_do_not() {
        let view = GraphView::new(&subgraph(
            &["a", "b", "c"],
            vec![rel("a", "b", "USES", 1.0), rel("c", "b", "USES", 1.0)],
        ));

        let connection = view
            .shortest_path("a", "c", &PathOptions::default())
            .unwrap();
        assert_eq!(ids(&connection), ["a", "b", "c"]);
        assert_eq!(rel_ids(&connection), ["a-USES-b", "c-USES-b"]);
        let back = view
            .shortest_path("b", "a", &PathOptions::default())
            .unwrap();
        assert_eq!(ids(&back), ["b", "a"]);

        let directed = PathOptions {
            directed: true,
            ..PathOptions::default()
        };
        assert_eq!(view.shortest_path("a", "c", &directed), None);
        assert_eq!(view.shortest_path("b", "a", &directed), None);
        let forward = view.shortest_path("c", "b", &directed).unwrap();
        assert_eq!(rel_ids(&forward), ["c-USES-b"]);
    }

    #[test]
    fn rel_types_limit_the_edges_a_path_may_use() {
        let view = GraphView::new(&subgraph(
            &["a", "b", "c"],
            vec![
                rel("a", "b", "USES", 1.0),
                rel("b", "c", "USES", 1.0),
                rel("a", "c", "RELATED_TO", 1.0),
            ],
        ));
        let only = |types: &[&str]| PathOptions {
            rel_types: types.iter().map(|t| t.to_string()).collect(),
            ..PathOptions::default()
        };

        let any = view
            .shortest_path("a", "c", &PathOptions::default())
            .unwrap();
        assert_eq!(rel_ids(&any), ["a-RELATED_TO-c"]);
        let uses = view.shortest_path("a", "c", &only(&["USES"])).unwrap();
        assert_eq!(rel_ids(&uses), ["a-USES-b", "b-USES-c"]);
        assert_eq!(view.shortest_path("a", "c", &only(&["DEPENDS_ON"])), None);
    }

    #[test]
    fn absent_or_unconnected_memories_have_no_path() {
        let view = GraphView::new(&subgraph(
            &["a", "b", "lonely"],
            vec![rel("a", "b", "USES", 1.0), rel("a", "ghost", "USES", 1.0)],
        ));
        let opts = PathOptions::default();
        assert_eq!(view.shortest_path("a", "ghost", &opts), None);
        assert_eq!(view.shortest_path("ghost", "a", &opts), None);
        assert_eq!(view.shortest_path("a", "lonely", &opts), None);

        let itself = view.shortest_path("a", "a", &opts).unwrap();
        assert_eq!(ids(&itself), ["a"]);
        assert!(itself.edges.is_empty());
        assert_eq!((itself.hops, itself.cost), (0, 0.0));
    }

    #[test]
    fn a_zero_strength_edge_is_expensive_but_usable() {
        let view = GraphView::new(&subgraph(&["a", "b"], vec![rel("a", "b", "USES", 0.0)]));
        let path = view
            .shortest_path("a", "b", &by(PathCost::Strength))
            .unwrap();
        assert!((path.cost - -MIN_STRENGTH.ln()).abs() < 1e-12);
    }
}
