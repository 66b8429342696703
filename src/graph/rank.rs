//! Central memories: weighted PageRank over the subgraph.
//!
//! petgraph's `page_rank` counts every edge as 1, so a relationship of strength 0.1 would weigh
//! as much as one of strength 1; this is a small weighted power iteration instead. Relationships
//! count in both directions: a memory is central when much links to it or from it (a decision
//! many fixes DEPEND_ON, a pattern that USES many technologies).

use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;

use super::GraphView;

/// Probability of following a relationship rather than jumping to a random memory.
const DAMPING: f64 = 0.85;
/// Stop when a round moves the ranks by less than this in total (L1).
const TOLERANCE: f64 = 1e-6;
const MAX_ROUNDS: usize = 100;

impl GraphView {
    /// The `top` most central memories with their PageRank, best first (ties by memory id).
    /// Scores over the whole view sum to 1, so they compare across calls on the same view only.
    pub fn central(&self, top: usize) -> Vec<(String, f64)> {
        let rank = self.page_rank();
        let mut order: Vec<usize> = (0..rank.len()).collect();
        // Node indexes follow memory ids, so the stable sort breaks ties by id.
        order.sort_by(|&a, &b| rank[b].total_cmp(&rank[a]));
        order
            .into_iter()
            .take(top)
            .map(|i| (self.id(NodeIndex::new(i)).to_owned(), rank[i]))
            .collect()
    }

    /// PageRank of every memory, indexed like the graph's nodes.
    ///
    /// Each memory passes its rank to its neighbours in proportion to relationship strength. Self-loops are left out (a memory linking itself says nothing about
    /// its place among others), and a memory with no weighted relationship is dangling: its
    /// rank is spread over all memories, which keeps the total at 1.
    pub(super) fn page_rank(&self) -> Vec<f64> {
        let n = self.graph.node_count();
        if n == 0 {
            return Vec::new();
        }
        let links: Vec<(usize, usize, f64)> = self
            .graph
            .edge_references()
            .filter(|e| e.source() != e.target())
            .map(|e| {
                let strength = self.strength(*e.weight());
                (e.source().index(), e.target().index(), strength)
            })
            .filter(|&(_, _, w)| w > 0.0)
            .collect();
        let mut out_weight = vec![0.0; n];
        for &(a, b, w) in &links {
            out_weight[a] += w;
            out_weight[b] += w;
        }

        let uniform = 1.0 / n as f64;
        let mut rank = vec![uniform; n];
        for _ in 0..MAX_ROUNDS {
            let dangling: f64 = (0..n)
                .filter(|&i| out_weight[i] == 0.0)
                .map(|i| rank[i])
                .sum();
            let mut next = vec![(1.0 - DAMPING + DAMPING * dangling) * uniform; n];
            for &(a, b, w) in &links {
                next[b] += DAMPING * rank[a] * w / out_weight[a];
                next[a] += DAMPING * rank[b] * w / out_weight[b];
            }
            let moved: f64 = next.iter().zip(&rank).map(|(x, y)| (x - y).abs()).sum();
            rank = next;
            if moved < TOLERANCE {
                break;
            }
        }
        rank
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{rel, subgraph};
    use super::*;

    fn score(ranks: &[(String, f64)], id: &str) -> f64 {
        ranks.iter().find(|(i, _)| i == id).unwrap().1
    }

    #[test]
    fn the_hub_of_a_star_ranks_first_whatever_the_edge_directions() {
        // Two leaves point at the hub and two are pointed at: direction must not matter.
        let view = GraphView::new(&subgraph(
            &["a", "b", "c", "d", "hub"],
            vec![
                rel("a", "hub", "USES", 1.0),
                rel("b", "hub", "USES", 1.0),
                rel("hub", "c", "USES", 1.0),
                rel("hub", "d", "USES", 1.0),
            ],
        ));
        let ranks = view.central(10);
        assert_eq!(ranks.len(), 5);
        assert_eq!(ranks[0].0, "hub");
        let total: f64 = ranks.iter().map(|(_, s)| s).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");

        // Closed form for an undirected star with k leaves over N = k + 1 memories:
        // hub = (1 + d·k) / (N · (1 + d)).
        let hub = (1.0 + DAMPING * 4.0) / (5.0 * (1.0 + DAMPING));
        assert!((ranks[0].1 - hub).abs() < 1e-5, "{} vs {hub}", ranks[0].1);
        let leaves: Vec<&str> = ranks[1..].iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(leaves, ["a", "b", "c", "d"]);
        assert!((score(&ranks, "a") - score(&ranks, "d")).abs() < 1e-9);

        assert_eq!(view.central(2).len(), 2);
    }

    #[test]
    fn strength_weights_the_rank_passed_along() {
        let view = GraphView::new(&subgraph(
            &["x", "strong", "weak"],
            vec![
                rel("x", "strong", "USES", 1.0),
                rel("x", "weak", "USES", 0.1),
            ],
        ));
        let ranks = view.central(3);
        let order: Vec<&str> = ranks.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(order, ["x", "strong", "weak"]);
        assert!(score(&ranks, "strong") > score(&ranks, "weak") + 0.1);
    }

    #[test]
    fn isolated_memories_keep_the_total_at_one() {
        let view = GraphView::new(&subgraph(
            &["a", "b", "c", "d"],
            vec![rel("a", "b", "USES", 1.0), rel("c", "c", "USES", 1.0)],
        ));
        let ranks = view.central(usize::MAX);
        let total: f64 = ranks.iter().map(|(_, s)| s).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        // The self-loop gives "c" nothing over the isolated "d".
        assert!((score(&ranks, "c") - score(&ranks, "d")).abs() < 1e-9);
        assert!(score(&ranks, "a") > score(&ranks, "c"));
    }

    #[test]
    fn an_empty_view_has_no_central_memory() {
        assert!(GraphView::new(&subgraph(&[], vec![])).central(5).is_empty());
    }
}
