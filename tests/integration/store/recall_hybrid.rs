//! Recall and search with the built-in embedder: hybrid hits expanded through typed
//! relationships, and the identifiers of coding memories (snake_case, paths, error codes,
//! CamelCase) found by their parts.

use std::sync::Arc;

use mnemograph::backend::in_memory::InMemoryBackend;
use mnemograph::embed::EmbedderHandle;
use mnemograph::model::Filter;
use mnemograph::store::{
    Limits, MemoryStore, NewMemory, NewRelationship, RecallQuery, RecallReason, SearchMode,
};

use crate::support::store::model;

async fn store() -> MemoryStore {
    MemoryStore::open_with_embedder(
        Arc::new(InMemoryBackend::new()),
        Limits::default(),
        EmbedderHandle::ready(model()),
    )
    .await
    .unwrap()
}

async fn add(store: &MemoryStore, kind: &str, title: &str, content: &str) -> String {
    let new = NewMemory {
        kind: kind.into(),
        title: title.into(),
        content: content.into(),
        ..Default::default()
    };
    store.create(new).await.unwrap().0.id
}

/// Links `source` to `target` with strength 0.9.
pub(super) async fn link(store: &MemoryStore, source: &str, target: &str, rel_type: &str) {
    let new = NewRelationship {
        source_id: source.into(),
        target_id: target.into(),
        rel_type: rel_type.into(),
        strength: Some(0.9),
        ..Default::default()
    };
    store.link(new).await.unwrap();
}

fn query(text: &str) -> RecallQuery {
    RecallQuery {
        query: text.into(),
        filter: Filter::default(),
        limit: 10,
        max_chars: None,
        hints: Default::default(),
    }
}

#[tokio::test]
async fn recall_follows_relationships_by_type_from_hybrid_matches() {
    let s = store().await;
    let error = add(
        &s,
        "error",
        "E0502 in the parser",
        "cannot borrow `tokens` as mutable because it is also borrowed as immutable",
    )
    .await;
    let fix = add(
        &s,
        "fix",
        "Collect before mutating",
        "Take the indices first, then change the vector in a second loop.",
    )
    .await;
    let old = add(
        &s,
        "decision",
        "Symbol table as HashMap",
        "Use a HashMap keyed by name.",
    )
    .await;
    let new = add(
        &s,
        "decision",
        "Symbol table as BTreeMap",
        "Use a BTreeMap so output order is deterministic.",
    )
    .await;
    for i in 0..6 {
        add(
            &s,
            "note",
            &format!("Unrelated {i}"),
            "Lunch is on Fridays.",
        )
        .await;
    }
    link(&s, &fix, &error, "SOLVES").await;
    link(&s, &new, &old, "SUPERSEDES").await;

    let recall = s.recall(&query("E0502 borrow error")).await.unwrap();
    assert_eq!(recall.items[0].memory.id, error);
    let linked = recall
        .items
        .iter()
        .find(|r| r.memory.id == fix)
        .expect("the fix comes with the error it solves");
    assert!(
        matches!(&linked.reason, RecallReason::Linked { rel_type, .. } if rel_type == "SOLVES")
    );

    // Unrelated memories are not padded in because they are the nearest of the rest.
    assert!(
        recall
            .items
            .iter()
            .all(|r| !r.memory.title.starts_with("Unrelated")),
        "{recall:#?}"
    );
    let mut ids: Vec<&str> = recall.items.iter().map(|r| r.memory.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), recall.items.len());

    // A newer decision is found with the one it replaced.
    let recall = s.recall(&query("BTreeMap symbol table")).await.unwrap();
    assert_eq!(recall.items[0].memory.id, new);
    assert!(recall.items.iter().any(|r| r.memory.id == old));
}

#[tokio::test]
async fn identifiers_are_found_by_their_parts() {
    let s = store().await;
    let snake = add(
        &s,
        "fix",
        "parse_config panics on empty files",
        "Return a default Config from parse_config when the file is empty.",
    )
    .await;
    let path = add(
        &s,
        "file",
        "src/backend/libsql/keyword.rs",
        "Keyword search over FTS5 with BM25 ranking.",
    )
    .await;
    let code = add(
        &s,
        "error",
        "SQLITE_BUSY on write",
        "Error code 5 when another connection holds the write lock.",
    )
    .await;
    let camel = add(
        &s,
        "pattern",
        "HashMap::with_capacity",
        "Preallocate the HashMap when the number of entries is known.",
    )
    .await;
    for i in 0..8 {
        add(
            &s,
            "note",
            &format!("Meeting notes {i}"),
            "Agenda and attendees.",
        )
        .await;
    }
    let top = |query: &'static str, mode: Option<SearchMode>| {
        let s = s.clone();
        async move {
            s.search(query, mode, &Filter::default(), 3, None)
                .await
                .unwrap()
                .hits
                .into_iter()
                .map(|h| h.memory.id)
                .collect::<Vec<_>>()
        }
    };
    for mode in [Some(SearchMode::Keyword), None] {
        assert_eq!(top("config parse", mode).await[0], snake);
        assert_eq!(top("parse_config", mode).await[0], snake);
        assert_eq!(top("keyword.rs", mode).await[0], path);
        assert_eq!(top("libsql backend", mode).await[0], path);
        assert_eq!(top("sqlite busy", mode).await[0], code);
        assert_eq!(top("SQLITE_BUSY", mode).await[0], code);
        assert_eq!(top("HashMap capacity", mode).await[0], camel);
    }
    // CamelCase written as words finds it too: by the joined query term in keyword mode, by
    // meaning and keywords together in hybrid mode.
    assert_eq!(top("hash map", Some(SearchMode::Keyword)).await[0], camel);
    assert_eq!(top("hash map", None).await[0], camel);
}
