//! Migration 6: bulk writes index their new memories' full text once, at their end; a local
//! store's insert runs the two statements of its own trigger. Whatever the path, the index
//! holds exactly the stored text, other processes' keyword postings follow it, and no hold
//! outlives the transaction that made it.

use std::io::Cursor;
use std::path::Path;

use mnemograph::model::{Filter, MemoryPatch};
use mnemograph::store::MemoryStore;
use mnemograph::store::transfer::{Format, ImportOptions, ImportReport};

use crate::support::store::{assert_intact, integer, note, open, schema_at, sql};

const OLD_ID: &str = "0190a5a0-0000-7000-8000-000000000005";

fn id(i: usize) -> String {
    format!("0190a5a0-0000-7000-8000-{i:012x}")
}

fn memory_line(i: usize, title: &str, content: &str, version: i64) -> String {
    serde_json::json!({"type": "memory", "id": id(i), "kind": "note", "title": title,
        "content": content, "tags": ["bulk"], "context": {}, "importance": 0.5,
        "confidence": 1.0, "created_at": format!("2025-01-01T00:00:{:02}.{i:06}Z", i % 60),
        "updated_at": format!("2025-01-0{version}T00:00:00Z"), "access_count": 0,
        "version": version})
    .to_string()
}

/// A native export of `n` memories about lanterns, each linked to the next; the first memory
/// appears again later in the same input with newer content, so the import updates a memory
/// its own batch created.
fn export(n: usize) -> String {
    let mut lines = vec![
        serde_json::json!({"type": "header", "format": "mnemograph", "version": 1,
            "exported_at": "2025-06-01T00:00:00Z", "store_id": id(900_000), "schema_version": 1,
            "embedding_model": null, "embedding_dim": null})
        .to_string(),
    ];
    for i in 0..n {
        lines.push(memory_line(
            i,
            &format!("Lantern {i}"),
            "a brass lantern",
            1,
        ));
    }
    lines.push(memory_line(0, "Lantern 0", "a copper lantern, revised", 2));
    for i in 0..n - 1 {
        lines.push(
            serde_json::json!({"type": "relationship", "id": id(500_000 + i),
                "source_id": id(i), "target_id": id(i + 1), "rel_type": "RELATED_TO",
                "strength": 0.5, "confidence": 1.0, "created_at": "2025-01-02T00:00:00Z",
                "updated_at": "2025-01-02T00:00:00Z", "version": 1})
            .to_string(),
        );
    }
    lines.join("\n")
}

async fn import(store: &MemoryStore, input: String, dry_run: bool) -> ImportReport {
    let records = Format::Native.read(Cursor::new(input.into_bytes()));
    let options = ImportOptions {
        dry_run,
        ..ImportOptions::default()
    };
    let report = store.import(records, options).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    report
}

async fn found(store: &MemoryStore, query: &str) -> usize {
    store
        .keyword_search(query, &Filter::default(), 500)
        .await
        .unwrap()
        .len()
}

/// The index matches the stored text (FTS5's own check against its content table), and no
/// hold is left set in the file.
async fn assert_whole(store: &MemoryStore, path: &Path) {
    assert_intact(store).await;
    assert_eq!(
        integer(path, "SELECT held_above IS NULL FROM fts_state").await,
        1,
        "a hold was committed"
    );
}

#[tokio::test]
async fn an_import_is_indexed_whole_and_other_processes_follow_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bulk.db");
    let store = open(&path).await;
    let other = open(&path).await;
    store.create(note("Lamp", "an oil lamp")).await.unwrap();
    // The other process holds its keyword postings before the import, and follows the
    // import through the full-text log.
    other.backend().warm_up_keywords().await.unwrap();
    assert_eq!(found(&other, "lamp").await, 1);

    // 130 memories: several insert statements and a partial last one.
    let report = import(&store, export(130), false).await;
    assert_eq!((report.memories.created, report.memories.updated), (130, 1));
    assert_eq!(report.relationships.created, 129);

    for s in [&store, &other] {
        assert_eq!(
            found(s, "brass").await,
            129,
            "every memory but the revised one"
        );
        assert_eq!(found(s, "copper").await, 1, "indexed as it ended up");
        assert_eq!(found(s, "lantern").await, 130);
    }
    assert_whole(&store, &path).await;

    // After the bulk write, single writes are indexed as they are made.
    store
        .create(note("Lantern 130", "a glass lantern"))
        .await
        .unwrap();
    assert_eq!(found(&other, "glass").await, 1);
    assert_whole(&store, &path).await;
}

#[tokio::test]
async fn a_dry_run_and_a_refused_batch_hold_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("held.db");
    let store = open(&path).await;

    let report = import(&store, export(60), true).await;
    assert_eq!(report.memories.created, 60);
    assert_eq!(found(&store, "lantern").await, 0, "a dry run keeps nothing");

    // A batch with one bad record writes none of them, its hold included.
    let batch = vec![note("candle", "a wax candle"), note("", "bad")];
    assert!(store.create_many(batch).await.is_err());

    store
        .create(note("Torch", "a lantern torch"))
        .await
        .unwrap();
    assert_eq!(found(&store, "lantern").await, 1);
    assert_eq!(found(&store, "candle").await, 0);
    assert_whole(&store, &path).await;
}

#[tokio::test]
async fn a_version_5_store_keeps_its_index_through_migration_6() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    schema_at(&path, 5).await;
    sql(
        &path,
        &format!(
            "INSERT INTO memories (id, kind, title, content, tags, context, importance, \
             confidence, created_at, updated_at, version) VALUES \
             ('{OLD_ID}', 'fix', 'Old lock fix', 'retry when the file handle is stale', \
              '[\"sqlite\"]', '{{}}', 0.5, 1.0, 1700000000000000, 1700000000000000, 1);"
        ),
    )
    .await;

    let store = open(&path).await;
    assert_eq!(found(&store, "stale").await, 1);
    store
        .update(
            OLD_ID,
            MemoryPatch {
                content: Some("wait for the busy writer".into()),
                ..MemoryPatch::default()
            },
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(found(&store, "stale").await, 0);
    assert_eq!(found(&store, "busy").await, 1);
    let new = store.create(note("New fix", "a busy loop")).await.unwrap();
    assert_eq!(found(&store, "busy").await, 2);
    store.delete(&new.0.id).await.unwrap();
    assert_eq!(found(&store, "busy").await, 1);
    assert_whole(&store, &path).await;
}
