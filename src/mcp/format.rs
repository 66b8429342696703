//! The compact text of each tool result: one line per memory or relationship, ids first so a
//! model can act on them, and hints where a next step is likely.

use std::fmt::Write;

use crate::store::SearchPage;

use super::results::matched_by;
use super::results::{
    CreatedOut, DeletedOut, ExploreOut, GetMemoryOut, ListOut, MemoryBrief, MemoryOut, PathOut,
    RelatedOut, RelationshipOut, RelationshipResultOut, StatsOut, StoreMemoryOut,
};

pub fn brief(m: &MemoryBrief) -> String {
    format!("{} [{}] {}", m.id, m.kind, m.title)
}

pub fn relationship(r: &RelationshipOut) -> String {
    let mut line = format!(
        "{} -{}-> {} (id {}, strength {:.2}, v{})",
        r.source_id, r.rel_type, r.target_id, r.id, r.strength, r.version
    );
    if let Some(to) = r.valid_to {
        let _ = write!(line, ", valid until {}", to.to_rfc3339());
    }
    if let Some(note) = &r.note {
        let _ = write!(line, ": {note}");
    }
    line
}

pub fn memory(m: &MemoryOut) -> String {
    let mut out = format!(
        "{} [{}] {} (v{}, importance {:.2})",
        m.id, m.kind, m.title, m.version, m.importance
    );
    if !m.tags.is_empty() {
        let _ = write!(out, "\ntags: {}", m.tags.join(", "));
    }
    if m.context.as_object().is_some_and(|c| !c.is_empty()) {
        let _ = write!(out, "\ncontext: {}", m.context);
    }
    let _ = write!(out, "\n{}", m.content);
    if let Some(rels) = &m.relationships {
        if rels.is_empty() {
            out.push_str("\nrelationships: none");
        } else {
            out.push_str("\nrelationships:");
            for r in rels {
                let _ = write!(out, "\n  {}", relationship(r));
            }
        }
    }
    out
}

pub fn stored(s: &StoreMemoryOut) -> String {
    let verb = match s.created {
        CreatedOut::New => "stored",
        CreatedOut::Existing => "already stored (same content)",
    };
    let mut out = format!("{verb} {} (v{})", s.id, s.version);
    out.push_str(&redacted(s.redacted));
    for r in &s.links {
        let _ = write!(out, "\nlinked {}", relationship(r));
    }
    if !s.similar.is_empty() {
        out.push_str(
            "\nsimilar existing memories (link to them, or update one and delete this if it duplicates):",
        );
        for m in &s.similar {
            let _ = write!(
                out,
                "\n  {} [{}] {} (score {:.2})",
                m.id, m.kind, m.title, m.score
            );
        }
    }
    out
}

/// A line saying how many secrets a write lost on the way in, or nothing.
pub fn redacted(count: usize) -> String {
    match count {
        0 => String::new(),
        1 => "\n1 secret was replaced by a [REDACTED:…] marker before storing".to_owned(),
        n => format!("\n{n} secrets were replaced by [REDACTED:…] markers before storing"),
    }
}

pub fn got(g: &GetMemoryOut) -> String {
    let mut out = g
        .memories
        .iter()
        .map(memory)
        .collect::<Vec<_>>()
        .join("\n\n");
    if !g.missing.is_empty() {
        let _ = write!(out, "\n\nnot found: {}", g.missing.join(", "));
    }
    out
}

pub fn deleted(d: &DeletedOut) -> String {
    format!(
        "deleted {} and {} relationship(s)",
        d.deleted, d.relationships_removed
    )
}

/// One entry per hit, best first: id, kind and title, then the snippet with the matched
/// terms in [brackets]; the side that found it when not only words did.
pub fn search(page: &SearchPage) -> String {
    if page.hits.is_empty() {
        return "no matches; try other words or fewer filters".to_owned();
    }
    let mut out = String::new();
    for (i, h) in page.hits.iter().enumerate() {
        let by = match matched_by(h) {
            "keyword" => String::new(),
            side => format!(" ({side})"),
        };
        let m = &h.memory;
        let _ = writeln!(
            out,
            "{}. {} [{}] {}{by}\n   {}",
            i + 1,
            m.id,
            m.kind,
            m.title,
            h.snippet
        );
    }
    if let Some(c) = &page.next_cursor {
        let _ = write!(out, "more: pass cursor {c:?}");
    }
    out.trim_end().to_owned()
}

pub fn relationship_result(r: &RelationshipResultOut) -> String {
    let verb = match r.created {
        Some(CreatedOut::New) => "created ",
        Some(CreatedOut::Existing) => "already existed: ",
        None => "updated ",
    };
    format!("{verb}{}", relationship(&r.relationship))
}

pub fn related(r: &RelatedOut) -> String {
    if r.neighbours.is_empty() {
        return format!("{} has no related memories with these options", r.id);
    }
    let mut out = format!("{} related memories of {}:", r.neighbours.len(), r.id);
    for n in &r.neighbours {
        let v = &n.via;
        let _ = write!(
            out,
            "\n  depth {}: {} (via {} -{}-> {})",
            n.depth,
            brief(&n.memory),
            v.source_id,
            v.rel_type,
            v.target_id
        );
    }
    out
}

pub fn path(p: &PathOut) -> String {
    if !p.found {
        return "no path within max_hops; raise max_hops, drop type filters, or link them"
            .to_owned();
    }
    let mut out = format!("path of {} hop(s):", p.hops);
    for (i, m) in p.memories.iter().enumerate() {
        let _ = write!(out, "\n  {}", brief(m));
        if let Some(r) = p.relationships.get(i) {
            let _ = write!(out, "\n    {}", relationship(r));
        }
    }
    out
}

pub fn explore(e: &ExploreOut) -> String {
    if e.nodes.is_empty() {
        return "nothing to explore: no memory matched".to_owned();
    }
    let mut out = format!(
        "{} memories, {} relationships{}",
        e.nodes.len(),
        e.edges.len(),
        if e.truncated {
            " (truncated: raise max_nodes)"
        } else {
            ""
        }
    );
    let title = |id: &str| {
        e.nodes
            .iter()
            .find(|n| n.id == id)
            .map_or(String::new(), |n| n.title.clone())
    };
    if !e.central.is_empty() {
        out.push_str("\ncentral:");
        for c in &e.central {
            let _ = write!(out, "\n  {} {} ({:.3})", c.id, title(&c.id), c.score);
        }
    }
    let _ = write!(
        out,
        "\nclusters: {}",
        e.clusters
            .iter()
            .map(|c| c.len().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    out.push_str("\nmemories:");
    for n in &e.nodes {
        let _ = write!(out, "\n  {}", brief(n));
    }
    out.push_str("\nrelationships:");
    for r in &e.edges {
        let _ = write!(out, "\n  {} -{}-> {}", r.source_id, r.rel_type, r.target_id);
    }
    out
}

pub fn list(l: &ListOut) -> String {
    if l.memories.is_empty() {
        return "no memories".to_owned();
    }
    let mut out = l.memories.iter().map(brief).collect::<Vec<_>>().join("\n");
    if let Some(c) = &l.next_cursor {
        let _ = write!(out, "\nmore: pass cursor {c:?}");
    }
    out
}

pub fn stats(s: &StatsOut) -> String {
    let join = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{} memories ({}), {} relationships ({}), {} embedded, {} waiting\nstore {} (namespace {}, {} bytes, schema v{})\nembedder {} ({}{}), sync {}",
        s.memories,
        join(&s.by_kind),
        s.relationships,
        join(&s.by_rel_type),
        s.embedded,
        s.pending_embeddings,
        s.store_path,
        s.namespace,
        s.size_bytes,
        s.schema_version,
        s.embedder,
        s.embedder_state,
        s.embedder_detail
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default(),
        sync_summary(&s.sync)
    )
}

/// One line about sync for the stats: the mode, and for a replica its freshness and queue.
fn sync_summary(s: &super::results::SyncOut) -> String {
    let Some(primary) = &s.primary else {
        return s.mode.clone();
    };
    let mut line = format!("{} of {primary}", s.mode);
    match (s.online, s.lag_secs) {
        (true, Some(lag)) => line.push_str(&format!(", synced {lag:.0} s ago")),
        (true, None) => line.push_str(", not synced yet"),
        (false, _) => line.push_str(&format!(
            ", primary unreachable: {}",
            s.last_error.as_deref().unwrap_or("no answer")
        )),
    }
    if s.pending_writes > 0 {
        line.push_str(&format!(", {} writes queued", s.pending_writes));
    }
    if s.refused_writes > 0 {
        line.push_str(&format!(", {} refused", s.refused_writes));
    }
    line
}
