//! Subgraphs as files people can look at: Graphviz DOT, Mermaid and GraphML.
//!
//! Nodes are labelled `[kind] title` and edges with their relationship type; ids stay in the
//! files (as node names or attributes) so a picture can be traced back to memories.

use std::fmt::Write;

use crate::model::Subgraph;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT: `dot -Tsvg graph.dot > graph.svg`
    Dot,
    /// Mermaid flowchart, for Markdown that renders it
    Mermaid,
    /// GraphML, for Gephi, yEd or Cytoscape
    Graphml,
}

/// Longest title shown in a label.
const LABEL_CHARS: usize = 60;

fn label(kind: &str, title: &str) -> String {
    format!("[{kind}] {}", crate::cli::output::cut(title, LABEL_CHARS))
}

pub fn render(format: GraphFormat, graph: &Subgraph) -> String {
    match format {
        GraphFormat::Dot => dot(graph),
        GraphFormat::Mermaid => mermaid(graph),
        GraphFormat::Graphml => graphml(graph),
    }
}

/// A DOT string literal.
fn dot_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Graphviz's dot lays unconnected parts side by side, so a whole store (many small parts)
/// became one row thousands of points wide; packing them as an array keeps it near square.
fn dot(graph: &Subgraph) -> String {
    let mut out = String::from(
        "digraph memories {\n  graph [pack=true, packmode=\"array_u\"];\n  \
         node [shape=box, style=rounded];\n",
    );
    for n in &graph.nodes {
        let _ = writeln!(
            out,
            "  {} [label={}];",
            dot_string(&n.id),
            dot_string(&label(&n.kind, &n.title))
        );
    }
    for e in &graph.edges {
        let _ = writeln!(
            out,
            "  {} -> {} [label={}, penwidth={:.1}];",
            dot_string(&e.source_id),
            dot_string(&e.target_id),
            dot_string(&e.rel_type),
            1.0 + 2.0 * e.strength
        );
    }
    out.push_str("}\n");
    out
}

/// Mermaid node ids must be plain words, so nodes are numbered and labels quoted; `"` has no
/// escape inside a Mermaid label and becomes `#quot;`.
fn mermaid(graph: &Subgraph) -> String {
    let index: std::collections::HashMap<&str, usize> = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let quote = |t: &str| t.replace('"', "#quot;");
    let mut out = String::from("flowchart LR\n");
    for (i, n) in graph.nodes.iter().enumerate() {
        let _ = writeln!(out, "  m{i}[\"{}\"]", quote(&label(&n.kind, &n.title)));
    }
    for e in &graph.edges {
        if let (Some(s), Some(t)) = (
            index.get(e.source_id.as_str()),
            index.get(e.target_id.as_str()),
        ) {
            let _ = writeln!(out, "  m{s} -->|{}| m{t}", quote(&e.rel_type));
        }
    }
    out
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn graphml(graph: &Subgraph) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n\
         \x20 <key id=\"kind\" for=\"node\" attr.name=\"kind\" attr.type=\"string\"/>\n\
         \x20 <key id=\"title\" for=\"node\" attr.name=\"title\" attr.type=\"string\"/>\n\
         \x20 <key id=\"importance\" for=\"node\" attr.name=\"importance\" attr.type=\"double\"/>\n\
         \x20 <key id=\"rel_type\" for=\"edge\" attr.name=\"rel_type\" attr.type=\"string\"/>\n\
         \x20 <key id=\"strength\" for=\"edge\" attr.name=\"strength\" attr.type=\"double\"/>\n\
         \x20 <graph id=\"memories\" edgedefault=\"directed\">\n",
    );
    for n in &graph.nodes {
        let _ = writeln!(
            out,
            "    <node id=\"{}\"><data key=\"kind\">{}</data><data key=\"title\">{}</data><data key=\"importance\">{}</data></node>",
            xml(&n.id),
            xml(&n.kind),
            xml(&n.title),
            n.importance
        );
    }
    for e in &graph.edges {
        let _ = writeln!(
            out,
            "    <edge id=\"{}\" source=\"{}\" target=\"{}\"><data key=\"rel_type\">{}</data><data key=\"strength\">{}</data></edge>",
            xml(&e.id),
            xml(&e.source_id),
            xml(&e.target_id),
            xml(&e.rel_type),
            e.strength
        );
    }
    out.push_str("  </graph>\n</graphml>\n");
    out
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::model::{MemorySummary, Relationship};

    fn sample() -> Subgraph {
        let node = |id: &str, title: &str| MemorySummary {
            id: id.into(),
            kind: "fix".into(),
            title: title.into(),
            tags: vec![],
            importance: 0.5,
            created_at: Utc::now(),
        };
        let now = Utc::now();
        Subgraph {
            nodes: vec![node("a", "Say \"hi\" <now>"), node("b", "B & co")],
            edges: vec![Relationship {
                id: "r".into(),
                source_id: "a".into(),
                target_id: "b".into(),
                rel_type: "SOLVES".into(),
                strength: 0.5,
                confidence: 1.0,
                note: None,
                properties: Default::default(),
                valid_from: None,
                valid_to: None,
                created_at: now,
                updated_at: now,
                version: 1,
            }],
            truncated: false,
        }
    }

    #[test]
    fn formats_escape_labels() {
        let g = sample();
        let dot = render(GraphFormat::Dot, &g);
        assert!(
            dot.contains(r#""a" [label="[fix] Say \"hi\" <now>"];"#),
            "{dot}"
        );
        assert!(dot.contains(r#""a" -> "b" [label="SOLVES""#), "{dot}");
        let mermaid = render(GraphFormat::Mermaid, &g);
        assert!(
            mermaid.contains("m0[\"[fix] Say #quot;hi#quot; <now>\"]"),
            "{mermaid}"
        );
        assert!(mermaid.contains("m0 -->|SOLVES| m1"), "{mermaid}");
        let graphml = render(GraphFormat::Graphml, &g);
        assert!(
            graphml.contains("Say &quot;hi&quot; &lt;now&gt;"),
            "{graphml}"
        );
        assert!(graphml.contains("B &amp; co"), "{graphml}");
        assert!(
            graphml.contains(r#"<edge id="r" source="a" target="b">"#),
            "{graphml}"
        );
    }
}
