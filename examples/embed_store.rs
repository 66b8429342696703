//! The store embedded in another Rust program: a libSQL store in a temporary directory, an
//! error and its fix linked by `SOLVES`, a search by meaning that finds the error, and a recall that
//! brings the fix along through the link.
//!
//! ```text
//! cargo run --example embed_store
//! ```

use std::sync::Arc;

use mnemograph::backend::libsql::LibsqlBackend;
use mnemograph::embed::EmbedderHandle;
use mnemograph::embed::model2vec::Model2VecEmbedder;
use mnemograph::model::Filter;
use mnemograph::store::{
    BriefingHints, Limits, MemoryStore, NewMemory, NewRelationship, RecallQuery,
};

#[tokio::main]
async fn main() -> mnemograph::Result<()> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let backend = LibsqlBackend::open_local(&dir.path().join("memories.db")).await?;
    // The model compiled into the library: search by keywords and by meaning, offline.
    let model = Model2VecEmbedder::builtin().expect("the built-in model loads");
    let embedder = EmbedderHandle::ready(Arc::new(model));
    let store =
        MemoryStore::open_with_embedder(Arc::new(backend), Limits::default(), embedder).await?;

    let memory = |kind: &str, title: &str, content: &str| NewMemory {
        kind: kind.into(),
        title: title.into(),
        content: content.into(),
        tags: vec!["sqlite".into()],
        ..NewMemory::default()
    };
    let (error, _) = store
        .create(memory(
            "error",
            "SQLite 'database is locked' under concurrent writers",
            "Two processes write at once; the second fails with SQLITE_BUSY.",
        ))
        .await?;
    let (fix, _) = store
        .create(memory(
            "fix",
            "Set a busy timeout and write with BEGIN IMMEDIATE",
            "PRAGMA busy_timeout = 5000; take the write lock up front.",
        ))
        .await?;
    store
        .link(NewRelationship {
            source_id: fix.id,
            target_id: error.id,
            rel_type: "SOLVES".into(),
            ..NewRelationship::default()
        })
        .await?;

    let page = store
        .search("two writers collide", None, &Filter::default(), 5, None)
        .await?;
    println!("search ({} mode):", page.mode.as_str());
    for hit in &page.hits {
        println!("  [{}] {}", hit.memory.kind, hit.snippet);
    }

    // A briefing for "what do I know about this": the matches, and what they are linked to.
    let recall = store
        .recall(&RecallQuery {
            query: "database is locked".into(),
            filter: Filter::default(),
            limit: 5,
            max_chars: Some(1000),
            hints: BriefingHints::default(),
        })
        .await?;
    println!("\nrecall:\n{}", recall.briefing);
    Ok(())
}
