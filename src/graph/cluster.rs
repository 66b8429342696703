//! Clusters: groups of memories joined by any chain of relationships.

use petgraph::graph::NodeIndex;
use petgraph::unionfind::UnionFind;
use petgraph::visit::EdgeRef;

use super::GraphView;

impl GraphView {
    /// Weakly connected components (relationship direction ignored), singletons included.
    /// Each cluster lists its most central memory first (PageRank over the whole view, ties by
    /// id), so its first id names what the cluster is about; clusters come largest first, equal
    /// sizes by their smallest memory id.
    pub fn clusters(&self) -> Vec<Vec<String>> {
        let n = self.graph.node_count();
        let mut sets = UnionFind::<usize>::new(n);
        for edge in self.graph.edge_references() {
            sets.union(edge.source().index(), edge.target().index());
        }
        let labels = sets.into_labeling();

        // Indexes follow memory ids, so each group is built in id order.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut group_of_label = vec![None; n];
        for (node, &label) in labels.iter().enumerate() {
            let group = *group_of_label[label].get_or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[group].push(node);
        }
        // Groups were opened in order of their smallest member; the stable sort keeps that
        // order among equal sizes.
        groups.sort_by_key(|group| std::cmp::Reverse(group.len()));

        let rank = self.page_rank();
        groups
            .into_iter()
            .map(|mut group| {
                group.sort_by(|&a, &b| rank[b].total_cmp(&rank[a]));
                group
                    .into_iter()
                    .map(|i| self.id(NodeIndex::new(i)).to_owned())
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{rel, subgraph};
    use super::*;

    #[test]
    fn components_largest_first_central_first_singletons_kept() {
        let view = GraphView::new(&subgraph(
            &["f", "e", "d", "c", "b", "a", "g"],
            vec![
                rel("a", "b", "USES", 1.0),
                rel("c", "b", "USES", 1.0),
                rel("e", "d", "USES", 1.0),
            ],
        ));
        assert_eq!(
            view.clusters(),
            vec![
                vec!["b".to_owned(), "a".to_owned(), "c".to_owned()],
                vec!["d".to_owned(), "e".to_owned()],
                vec!["f".to_owned()],
                vec!["g".to_owned()],
            ]
        );
    }

    #[test]
    fn an_empty_view_has_no_clusters() {
        assert!(GraphView::new(&subgraph(&[], vec![])).clusters().is_empty());
    }
}
