//! Migration 3 (fewer pages written per memory): a store made by migration 2 keeps its tags,
//! vectors and vector log across it, and the log it leaves keeps numbering upwards.

use std::path::Path;

use mnemograph::backend::libsql::SCHEMA_VERSION;
use mnemograph::model::{Embedding, Filter, MemoryPatch};
use mnemograph::store::NewMemory;

use crate::support::store::{integer, note, open, schema_at, sql};

const OLD_ID: &str = "0190a5a0-0000-7000-8000-000000000002";

fn embedding(v: &[f32]) -> Embedding {
    Embedding {
        model: "test-model".into(),
        vector: v.to_vec(),
    }
}

fn tagged(tag: &str) -> Filter {
    Filter {
        tags: vec![tag.into()],
        ..Filter::default()
    }
}

/// A version-2 store holding one memory with two tags and a vector, written in raw SQL the
/// way that version did (its triggers fill the tag table and the vector log).
async fn version_2_store(path: &Path) {
    schema_at(path, 2).await;
    sql(
        path,
        &format!(
            "INSERT INTO memories (id, kind, title, content, tags, context, importance, \
             confidence, created_at, updated_at, version) VALUES \
             ('{OLD_ID}', 'fix', 'Old lock fix', 'retry when the database is locked', \
              '[\"sqlite\",\"rust-lang\"]', '{{}}', 0.5, 1.0, 1700000000000000, \
              1700000000000000, 1); \
             INSERT INTO memory_vectors (memory_id, model, embedding) \
             VALUES ('{OLD_ID}', 'test-model', X'0000803F00000000'); \
             INSERT INTO meta (key, value) VALUES ('embedding_model', 'test-model');"
        ),
    )
    .await;
    assert_eq!(
        integer(path, "SELECT count(*) FROM memory_tags").await,
        2,
        "version 2 kept tags in their own table"
    );
}

#[tokio::test]
async fn a_version_2_store_keeps_its_tags_and_vectors_through_migration_3() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    version_2_store(&path).await;
    let old_log_end = integer(&path, "SELECT max(seq) FROM vector_log").await;

    let store = open(&path).await;
    assert_eq!(store.meta().await.unwrap().schema_version, SCHEMA_VERSION);
    assert_eq!(
        integer(
            &path,
            "SELECT count(*) FROM sqlite_schema WHERE name IN ('memory_tags', 'memory_tags_memory')"
        )
        .await,
        0,
        "the tag table and its index are gone"
    );

    // The tag filter matches whole tags, as the tag table did: not a part of one.
    for (tag, found) in [("sqlite", 1), ("rust-lang", 1), ("rust", 0), ("lang", 0)] {
        let page = store.list(&tagged(tag), None, 10).await.unwrap();
        assert_eq!(page.memories.len(), found, "tag {tag}");
    }
    let hits = store
        .keyword_search("locked", &tagged("sqlite"), 5)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    let hits = store
        .vector_search(&embedding(&[1.0, 0.0]), &tagged("rust-lang"), 5)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1, "the old vector is searchable");

    // The log goes on numbering after the entries the old table had.
    let new_id = store
        .create(NewMemory {
            tags: vec!["sqlite".into()],
            embedding: Some(embedding(&[0.0, 1.0])),
            ..note("new", "new")
        })
        .await
        .unwrap()
        .0
        .id;
    assert!(integer(&path, "SELECT max(seq) FROM vector_log").await > old_log_end);
    assert_eq!(
        integer(
            &path,
            "SELECT count(*) FROM sqlite_sequence WHERE name = 'vector_log'"
        )
        .await,
        0,
        "no AUTOINCREMENT counter is kept for the log"
    );
    assert_eq!(
        store
            .list(&tagged("sqlite"), None, 10)
            .await
            .unwrap()
            .memories
            .len(),
        2
    );

    // New tags replace old ones for the filter.
    let retag = MemoryPatch {
        tags: Some(vec!["locking".into()]),
        ..MemoryPatch::default()
    };
    store.update(&new_id, retag, None, None).await.unwrap();
    for (tag, found) in [("sqlite", 1), ("locking", 1)] {
        let page = store.list(&tagged(tag), None, 10).await.unwrap();
        assert_eq!(page.memories.len(), found, "tag {tag}");
    }

    // Deleting a memory still takes its vector with it.
    let old_vectors = format!("SELECT count(*) FROM memory_vectors WHERE memory_id = '{OLD_ID}'");
    assert_eq!(integer(&path, &old_vectors).await, 1);
    store.delete(OLD_ID).await.unwrap();
    assert_eq!(integer(&path, &old_vectors).await, 0);
}

#[tokio::test]
async fn an_emptied_vector_log_numbers_above_its_floor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floor.db");
    let a = open(&path).await;
    let b = open(&path).await;
    a.create(NewMemory {
        embedding: Some(embedding(&[1.0, 0.5])),
        ..note("one", "one")
    })
    .await
    .unwrap();
    sql(
        &path,
        "DELETE FROM vector_log; \
         INSERT OR REPLACE INTO meta (key, value) VALUES ('vector_log_floor', '1000000');",
    )
    .await;
    // A loads its index now, at the floor; B's next write must land after that position.
    a.vector_search(&embedding(&[1.0, 0.0]), &Filter::default(), 5)
        .await
        .unwrap();
    b.create(NewMemory {
        embedding: Some(embedding(&[1.0, 0.0])),
        ..note("two", "two")
    })
    .await
    .unwrap();
    assert_eq!(
        integer(&path, "SELECT max(seq) FROM vector_log").await,
        1_000_001
    );
    let hits = a
        .vector_search(&embedding(&[1.0, 0.0]), &Filter::default(), 5)
        .await
        .unwrap();
    let titles: Vec<&str> = hits.iter().map(|h| h.memory.title.as_str()).collect();
    assert_eq!(titles, ["two", "one"]);
}

#[tokio::test]
async fn tags_that_json_escapes_filter_as_exactly_as_plain_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("tags.db")).await;
    let odd = [
        "say \"hi\"",
        "back\\slash",
        "line\nbreak",
        "café",
        "rust-lang",
    ];
    store
        .create(NewMemory {
            tags: odd.iter().map(|t| t.to_string()).collect(),
            ..note("odd tags", "odd tags")
        })
        .await
        .unwrap();
    store.create(note("no tags", "no tags")).await.unwrap();
    for tag in odd {
        let page = store.list(&tagged(tag), None, 10).await.unwrap();
        assert_eq!(page.memories.len(), 1, "tag {tag:?}");
    }
    // Parts of a tag, or of its JSON text, are not tags.
    for tag in [
        "say", "hi", "\"hi\"", "line", "caf", "rust", "lang", "\",\"",
    ] {
        let page = store.list(&tagged(tag), None, 10).await.unwrap();
        assert!(page.memories.is_empty(), "tag {tag:?}");
    }
}
