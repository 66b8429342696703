//! Dependency cycles: memories that, following relationships forwards, lead back to themselves.
//!
//! Tarjan's algorithm finds the strongly connected components; each component with a cycle is
//! reported once, as one concrete cycle a person can read and break, rather than every cycle
//! (their number grows exponentially with the component).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet, VecDeque};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{EdgeIndex, EdgeReference, NodeIndex};
use petgraph::visit::{EdgeFiltered, EdgeRef};
use serde::{Deserialize, Serialize};

use super::GraphView;

/// One cycle: `edges[i]` leads from `nodes[i]` to `nodes[i + 1]`, and the last edge from the
/// last memory back to the first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cycle {
    /// Memory ids in walking order, the first not repeated at the end.
    pub nodes: Vec<String>,
    /// Relationship ids, one per memory.
    pub edges: Vec<String>,
}

impl GraphView {
    /// One cycle per strongly connected component of the relationships of `rel_types` (exact,
    /// UPPER_SNAKE; empty means all), following their direction. The cycle starts at the
    /// component's smallest memory id and is a shortest one through it; a self-loop is reported
    /// only for a memory in no larger cycle. Cycles come ordered by their first memory id.
    pub fn cycles(&self, rel_types: &[String]) -> Vec<Cycle> {
        let admitted = EdgeFiltered::from_fn(&self.graph, |edge: EdgeReference<'_, usize>| {
            self.admits(rel_types, *edge.weight())
        });
        let mut cycles: Vec<(NodeIndex, Cycle)> = tarjan_scc(&admitted)
            .into_iter()
            .filter_map(|component| {
                let start = *component.iter().min()?;
                let walk = if component.len() == 1 {
                    let self_loop = self
                        .forward(start, rel_types)
                        .filter(|&(_, next)| next == start)
                        .map(|(edge, _)| edge)
                        .min()?;
                    vec![self_loop]
                } else {
                    self.shortest_cycle(start, &component.into_iter().collect(), rel_types)
                };
                Some((start, self.cycle(&walk)))
            })
            .collect();
        cycles.sort_by_key(|&(start, _)| start);
        cycles.into_iter().map(|(_, cycle)| cycle).collect()
    }

    /// Admitted relationships leaving `at`, with the memory each leads to.
    fn forward<'a>(
        &'a self,
        at: NodeIndex,
        rel_types: &'a [String],
    ) -> impl Iterator<Item = (EdgeIndex, NodeIndex)> + 'a {
        self.graph
            .edges(at)
            .filter(|e| self.admits(rel_types, *e.weight()))
            .map(|e| (e.id(), e.target()))
    }

    /// The edges of a shortest cycle through `start` inside `component` (self-loops skipped),
    /// found breadth-first. Neighbours are visited in memory-id order, so among equally short
    /// cycles the one through the smallest ids wins.
    fn shortest_cycle(
        &self,
        start: NodeIndex,
        component: &HashSet<NodeIndex>,
        rel_types: &[String],
    ) -> Vec<EdgeIndex> {
        let mut came_by: HashMap<NodeIndex, (NodeIndex, EdgeIndex)> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(at) = queue.pop_front() {
            let mut steps: Vec<(NodeIndex, EdgeIndex)> = self
                .forward(at, rel_types)
                .filter(|&(_, next)| next != at && component.contains(&next))
                .map(|(edge, next)| (next, edge))
                .collect();
            steps.sort_unstable();
            for (next, edge) in steps {
                if next == start {
                    let mut walk = vec![edge];
                    let mut back = at;
                    while back != start {
                        let (previous, edge) = came_by[&back];
                        walk.push(edge);
                        back = previous;
                    }
                    walk.reverse();
                    return walk;
                }
                if let Entry::Vacant(slot) = came_by.entry(next) {
                    slot.insert((at, edge));
                    queue.push_back(next);
                }
            }
        }
        unreachable!("every memory of a strongly connected component leads back to the others")
    }

    /// The cycle walked by `walk`: each relationship leaves the memory listed at its position.
    fn cycle(&self, walk: &[EdgeIndex]) -> Cycle {
        let (nodes, edges) = walk
            .iter()
            .map(|&edge| {
                let rel = self.relationship(edge);
                (rel.source_id.clone(), rel.id.clone())
            })
            .unzip();
        Cycle { nodes, edges }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{rel, subgraph};
    use super::*;

    fn types(types: &[&str]) -> Vec<String> {
        types.iter().map(|t| t.to_string()).collect()
    }

    fn cycle(nodes: &[&str], edges: &[&str]) -> Cycle {
        Cycle {
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
            edges: edges.iter().map(|e| e.to_string()).collect(),
        }
    }

    fn view() -> GraphView {
        GraphView::new(&subgraph(
            &["a", "b", "c", "s", "x", "y", "z"],
            vec![
                // A dependency cycle.
                rel("a", "b", "DEPENDS_ON", 1.0),
                rel("b", "c", "DEPENDS_ON", 1.0),
                rel("c", "a", "DEPENDS_ON", 1.0),
                // A cycle only when RELATED_TO counts.
                rel("x", "y", "DEPENDS_ON", 1.0),
                rel("y", "x", "RELATED_TO", 1.0),
                // A memory depending on itself.
                rel("s", "s", "DEPENDS_ON", 1.0),
                // Leads into the cycle but is not on it.
                rel("z", "a", "DEPENDS_ON", 1.0),
            ],
        ))
    }

    #[test]
    fn dependency_cycles_and_self_loops_of_the_given_types() {
        assert_eq!(
            view().cycles(&types(&["DEPENDS_ON"])),
            vec![
                cycle(
                    &["a", "b", "c"],
                    &["a-DEPENDS_ON-b", "b-DEPENDS_ON-c", "c-DEPENDS_ON-a"]
                ),
                cycle(&["s"], &["s-DEPENDS_ON-s"]),
            ]
        );
    }

    #[test]
    fn no_types_means_every_relationship_counts() {
        let cycles = view().cycles(&[]);
        assert_eq!(cycles.len(), 3);
        assert_eq!(
            cycles[2],
            cycle(&["x", "y"], &["x-DEPENDS_ON-y", "y-RELATED_TO-x"])
        );
        assert!(view().cycles(&types(&["USES"])).is_empty());
    }

    #[test]
    fn direction_matters() {
        // A triangle when edges are undirected, but nothing leads back.
        let view = GraphView::new(&subgraph(
            &["a", "b", "c"],
            vec![
                rel("a", "b", "DEPENDS_ON", 1.0),
                rel("b", "c", "DEPENDS_ON", 1.0),
                rel("a", "c", "DEPENDS_ON", 1.0),
            ],
        ));
        assert!(view.cycles(&[]).is_empty());
    }

    #[test]
    fn a_component_reports_a_shortest_cycle_through_its_smallest_id() {
        // a → b → c → d → a and the shortcut c → a; b also depends on itself.
        let view = GraphView::new(&subgraph(
            &["a", "b", "c", "d"],
            vec![
                rel("a", "b", "DEPENDS_ON", 1.0),
                rel("b", "c", "DEPENDS_ON", 1.0),
                rel("c", "d", "DEPENDS_ON", 1.0),
                rel("d", "a", "DEPENDS_ON", 1.0),
                rel("c", "a", "DEPENDS_ON", 1.0),
                rel("b", "b", "DEPENDS_ON", 1.0),
            ],
        ));
        assert_eq!(
            view.cycles(&[]),
            vec![cycle(
                &["a", "b", "c"],
                &["a-DEPENDS_ON-b", "b-DEPENDS_ON-c", "c-DEPENDS_ON-a"]
            )]
        );
    }
}
