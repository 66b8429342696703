//! The store on a real libSQL file: schema migrations, file permissions, input rules, the
//! vector index following other writers, keyword ranking at scale, paths, and concurrent
//! writers. Backend-level behaviour shared with the other backends is in `conformance`.

mod graph_reads;
mod held_full_text;
mod leaner_writes;
mod recall_hybrid;
mod recall_quality;
mod tied_matches;

use std::path::Path;

use mnemograph::Error;
use mnemograph::backend::libsql::{LibsqlBackend, SCHEMA_VERSION};
use mnemograph::graph::PathCost;
use mnemograph::model::{Created, Direction, Embedding, Filter, MemoryPatch, Traversal};
use mnemograph::store::{
    Limits, LinkDirection, MemoryStore, NewLink, NewMemory, NewRelationship, PathQuery,
};
use tempfile::TempDir;

use crate::support::store::{note, open, schema_at, sql};

async fn temp_store() -> (TempDir, MemoryStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir.path().join("store.db")).await;
    (dir, store)
}

fn embedding(v: &[f32]) -> Embedding {
    Embedding {
        model: "test-model".into(),
        vector: v.to_vec(),
    }
}

async fn add(store: &MemoryStore, title: &str) -> String {
    store.create(note(title, title)).await.expect("create").0.id
}

async fn link(store: &MemoryStore, from: &str, to: &str, rel_type: &str, strength: f32) -> String {
    let new = NewRelationship {
        source_id: from.into(),
        target_id: to.into(),
        rel_type: rel_type.into(),
        strength: Some(strength),
        ..NewRelationship::default()
    };
    store.link(new).await.expect("link").0.id
}

#[tokio::test]
async fn a_store_made_by_the_first_migration_opens_with_current_code() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    // Build a version-1 store and write into it the way that version did, in raw SQL.
    schema_at(&path, 1).await;
    sql(
        &path,
        "INSERT INTO memories (id, kind, title, content, tags, context, importance, \
         confidence, created_at, updated_at, version) VALUES \
         ('0190a5a0-0000-7000-8000-000000000001', 'fix', 'Old borrow fix', \
          'clone the Arc before moving it', '[\"rust\"]', '{\"project\":\"p\"}', 0.7, 1.0, \
          1700000000000000, 1700000000000000, 1)",
    )
    .await;
    let store = open(&path).await;
    assert_eq!(store.meta().await.unwrap().schema_version, SCHEMA_VERSION);
    let m = store
        .get("0190a5a0-0000-7000-8000-000000000001")
        .await
        .unwrap();
    assert_eq!(
        (m.kind.as_str(), m.tags.as_slice()),
        ("fix", &["rust".to_owned()][..])
    );
    let hits = store
        .keyword_search("borrow", &Filter::default(), 5)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1, "the old row is in the full-text index");
}

#[tokio::test]
async fn a_store_from_a_newer_version_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    drop(open(&path).await);
    {
        let db = libsql::Builder::new_local(&path).build().await.unwrap();
        let conn = db.connect().unwrap();
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)",
            (),
        )
        .await
        .unwrap();
    }
    let err = LibsqlBackend::open_local(&path)
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(err, Error::SchemaTooNew { found: 999, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade mnemograph"), "{err}");
}

#[tokio::test]
async fn two_processes_creating_a_store_at_once_migrate_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    let (a, b) = tokio::join!(
        LibsqlBackend::open_local(&path),
        LibsqlBackend::open_local(&path)
    );
    a.expect("first opener");
    b.expect("second opener");
    let db = libsql::Builder::new_local(&path).build().await.unwrap();
    let conn = db.connect().unwrap();
    // Versions need not be contiguous (branches number theirs apart): each applied once, up
    // to the current one.
    let mut rows = conn
        .query(
            "SELECT count(*), count(DISTINCT version), max(version) FROM schema_migrations",
            (),
        )
        .await
        .unwrap();
    let row = rows.next().await.unwrap().unwrap();
    let (n, distinct, max): (i64, i64, i64) = (
        row.get(0).unwrap(),
        row.get(1).unwrap(),
        row.get(2).unwrap(),
    );
    assert_eq!(n, distinct, "a migration was applied twice");
    assert_eq!(max as u32, SCHEMA_VERSION);
}

#[cfg(unix)]
#[tokio::test]
async fn store_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private").join("store.db");
    let store = open(&path).await;
    add(&store, "something").await;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert_eq!(mode(&path), 0o600);
}

#[tokio::test]
async fn invalid_input_is_refused_and_nothing_is_written() {
    let (_dir, store) = temp_store().await;
    let limits = Limits::default();
    let cases: Vec<(NewMemory, &str)> = vec![
        (note("  ", "content"), "title"),
        (note("title", "\n \t"), "content"),
        (
            note("title", &"x".repeat(limits.max_content_bytes + 1)),
            "content",
        ),
        (
            NewMemory {
                tags: (0..=limits.max_tags).map(|i| format!("t{i}")).collect(),
                ..note("title", "content")
            },
            "tags",
        ),
        (
            NewMemory {
                importance: Some(1.5),
                ..note("title", "content")
            },
            "importance",
        ),
        (
            NewMemory {
                embedding: Some(embedding(&[1.0, f32::NAN])),
                ..note("title", "content")
            },
            "embedding",
        ),
        (
            NewMemory {
                kind: "not a kind!".into(),
                ..note("title", "content")
            },
            "kind",
        ),
        (
            NewMemory {
                id: Some("not-a-uuid".into()),
                ..note("title", "content")
            },
            "id",
        ),
    ];
    for (new, field) in cases {
        match store.create(new).await {
            Err(Error::Invalid { field: f, reason }) => {
                assert_eq!(f, field, "{reason}");
                assert!(!reason.is_empty());
            }
            other => panic!("{field}: expected a validation error, got {other:?}"),
        }
    }
    // A vector of another dimension than the store's first one is refused too.
    store
        .create(NewMemory {
            embedding: Some(embedding(&[1.0, 0.0, 0.0])),
            ..note("first", "has a vector")
        })
        .await
        .unwrap();
    let err = store
        .create(NewMemory {
            embedding: Some(embedding(&[1.0, 0.0])),
            ..note("second", "wrong dimension")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ModelMismatch {
                stored_dim: 3,
                given_dim: 2,
                ..
            }
        ),
        "{err}"
    );
    // A batch with one bad record writes none of them.
    let batch = vec![note("good", "good"), note("", "bad")];
    assert!(store.create_many(batch).await.is_err());
    assert_eq!(store.stats().await.unwrap().memories, 1);
}

/// Statistics are counted once and then kept until the database changes: every write, by
/// this store or by another process on the file, must show in the next figures.
#[tokio::test]
async fn statistics_follow_every_write_whoever_makes_it() {
    let (dir, store) = temp_store().await;
    let other = open(&dir.path().join("store.db")).await;
    let figures = |s: mnemograph::model::Stats| (s.memories, s.relationships, s.by_kind);
    assert_eq!(figures(store.stats().await.unwrap()), (0, 0, vec![]));

    let first = add(&store, "written here").await;
    assert_eq!(
        figures(store.stats().await.unwrap()),
        (1, 0, vec![("note".into(), 1)])
    );
    let second = add(&other, "written by another process").await;
    link(&other, &second, &first, "SOLVES", 0.5).await;
    let stats = store.stats().await.unwrap();
    assert_eq!(figures(stats.clone()), (2, 1, vec![("note".into(), 2)]));
    assert_eq!(stats.by_rel_type, vec![("SOLVES".into(), 1)]);
    assert_eq!(
        store.stats().await.unwrap(),
        stats,
        "nothing changed, same figures"
    );

    store
        .update(
            &first,
            MemoryPatch {
                kind: Some("fix".into()),
                ..MemoryPatch::default()
            },
            None,
            None,
        )
        .await
        .unwrap();
    other.delete(&second).await.unwrap();
    assert_eq!(
        figures(store.stats().await.unwrap()),
        (1, 0, vec![("fix".into(), 1)])
    );
}

#[tokio::test]
async fn relationship_and_traversal_limits_are_enforced() {
    let (_dir, store) = temp_store().await;
    let a = add(&store, "a").await;
    let b = add(&store, "b").await;
    let self_link = NewRelationship {
        source_id: a.clone(),
        target_id: a.clone(),
        rel_type: "RELATED_TO".into(),
        ..NewRelationship::default()
    };
    assert!(matches!(
        store.link(self_link).await,
        Err(Error::Invalid {
            field: "target_id",
            ..
        })
    ));
    let unknown = uuid::Uuid::now_v7().to_string();
    let dangling = NewRelationship {
        source_id: a.clone(),
        target_id: unknown.clone(),
        rel_type: "RELATED_TO".into(),
        ..NewRelationship::default()
    };
    assert!(
        matches!(store.link(dangling).await, Err(Error::UnknownEndpoint { id }) if id == unknown)
    );
    link(&store, &a, &b, "depends on", 0.9).await;
    let too_deep = Traversal {
        depth: Limits::default().max_depth + 1,
        ..Traversal::default()
    };
    assert!(matches!(
        store.neighbours(&a, &too_deep).await,
        Err(Error::Invalid { field: "depth", .. })
    ));
    assert!(matches!(
        store.list(&Filter::default(), None, 100_000).await,
        Err(Error::Invalid { field: "limit", .. })
    ));
    assert!(
        matches!(store.get(&unknown).await, Err(Error::MemoryNotFound { id }) if id == unknown)
    );
    // The relationship type was normalised to UPPER_SNAKE.
    let rels = store.relationships(&a).await.unwrap();
    assert_eq!(rels[0].rel_type, "DEPENDS_ON");
}

#[tokio::test]
async fn replays_are_idempotent_and_stale_versions_conflict() {
    let (_dir, store) = temp_store().await;
    let id = uuid::Uuid::now_v7().to_string();
    let new = NewMemory {
        id: Some(id.clone()),
        ..note("Replayed", "a write whose acknowledgement was lost")
    };
    assert_eq!(store.create(new.clone()).await.unwrap().1, Created::New);
    assert_eq!(
        store.create(new.clone()).await.unwrap().1,
        Created::Existing
    );
    let clash = NewMemory {
        content: "different".into(),
        ..new
    };
    assert!(matches!(
        store.create(clash).await,
        Err(Error::IdConflict { .. })
    ));

    let patch = MemoryPatch {
        title: Some("Renamed".into()),
        ..MemoryPatch::default()
    };
    let updated = store
        .update(&id, patch.clone(), None, Some(1))
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    let err = store.update(&id, patch, None, Some(1)).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::VersionConflict {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.stats().await.unwrap().memories, 1);
}

/// The field an [`Error::Invalid`] names.
fn invalid_field(err: &Error) -> Option<&'static str> {
    match err {
        Error::Invalid { field, .. } => Some(field),
        _ => None,
    }
}

fn solves(target: &str) -> NewLink {
    NewLink {
        target_id: target.into(),
        rel_type: "SOLVES".into(),
        ..NewLink::default()
    }
}

#[tokio::test]
async fn a_memory_and_its_links_are_stored_together_or_not_at_all() {
    let (_dir, store) = temp_store().await;
    let error = add(&store, "E0502 in the parser").await;
    let cause = add(&store, "A loan across the loop").await;
    let before = store.stats().await.unwrap();

    // Every rule is checked before anything is written: a link to a missing memory, a link
    // breaking a relationship rule, the same relationship twice, a link to the memory itself.
    let missing = uuid::Uuid::now_v7().to_string();
    let err = store
        .create_with_links(
            note("Fix", "clone first"),
            vec![solves(&error), solves(&missing)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::LinkTargetNotFound { id } if *id == missing),
        "{err:?}"
    );
    assert!(err.to_string().contains("nothing was stored"), "{err}");
    let bad_strength = NewLink {
        strength: Some(1.5),
        ..solves(&error)
    };
    let err = store
        .create_with_links(note("Fix", "clone first"), vec![bad_strength])
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&err), Some("strength"), "{err:?}");
    // Spelled two ways, still the same relationship.
    let err = store
        .create_with_links(
            note("Fix", "clone first"),
            vec![solves(&error), solves(&error.to_uppercase())],
        )
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&err), Some("links"), "{err:?}");
    let id = uuid::Uuid::now_v7().to_string();
    let to_itself = NewMemory {
        id: Some(id.clone()),
        ..note("Fix", "clone first")
    };
    let err = store
        .create_with_links(to_itself, vec![solves(&id)])
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&err), Some("target_id"), "{err:?}");
    assert_eq!(store.stats().await.unwrap(), before);

    // All good: the memory and both links, one each way, normalised like any relationship.
    let id = uuid::Uuid::now_v7().to_string();
    let new = NewMemory {
        id: Some(id.clone()),
        ..note("Clone before the loop", "take a copy first")
    };
    let links = vec![
        NewLink {
            id: Some(uuid::Uuid::now_v7().to_string()),
            rel_type: "solves".into(),
            strength: Some(0.9),
            note: Some("the fix".into()),
            ..solves(&error)
        },
        NewLink {
            id: Some(uuid::Uuid::now_v7().to_string()),
            target_id: cause.clone(),
            direction: LinkDirection::Incoming,
            rel_type: "causes".into(),
            ..NewLink::default()
        },
    ];
    let linked = store
        .create_with_links(new.clone(), links.clone())
        .await
        .unwrap();
    assert_eq!(
        (linked.memory.id.as_str(), linked.created),
        (id.as_str(), Created::New)
    );
    let made: Vec<(&str, &str, &str, Created)> = linked
        .relationships
        .iter()
        .map(|(r, c)| {
            (
                r.source_id.as_str(),
                r.rel_type.as_str(),
                r.target_id.as_str(),
                *c,
            )
        })
        .collect();
    assert_eq!(
        made,
        [
            (id.as_str(), "SOLVES", error.as_str(), Created::New),
            (cause.as_str(), "CAUSES", id.as_str(), Created::New),
        ]
    );
    assert_eq!(linked.relationships[0].0.strength, 0.9);
    assert_eq!(store.relationships(&id).await.unwrap().len(), 2);

    // The same create replayed (its acknowledgement lost) is recognised record by record.
    let again = store.create_with_links(new, links).await.unwrap();
    assert_eq!(again.created, Created::Existing);
    let replayed: Vec<Created> = again.relationships.iter().map(|(_, c)| *c).collect();
    assert_eq!(replayed, [Created::Existing; 2]);
    let after = store.stats().await.unwrap();
    assert_eq!(
        (after.memories, after.relationships),
        (before.memories + 1, before.relationships + 2)
    );
}

#[tokio::test]
async fn hostile_queries_are_plain_text() {
    let (_dir, store) = temp_store().await;
    add(&store, "NEAR the AND gate: quoting \"rules\" (with parens)").await;
    for q in [
        "\"",
        "\"\"",
        "*",
        "-",
        "NEAR",
        "NEAR(a b)",
        "AND OR NOT",
        "(((",
        "col:umn",
        "🚀🔥",
        "a* OR b*",
        "^start",
        "title:x",
        "",
    ] {
        let hits = store.keyword_search(q, &Filter::default(), 10).await;
        assert!(hits.is_ok(), "{q:?}: {hits:?}");
    }
    let hits = store
        .keyword_search("\"NEAR\" AND (gate*)", &Filter::default(), 10)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert!(hits[0].snippet.contains("[NEAR]"), "{}", hits[0].snippet);
}

#[tokio::test]
async fn the_vector_index_follows_writes_from_other_processes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    // Two backends on one file stand for two processes: separate connections and indexes.
    let a = open(&path).await;
    let b = open(&path).await;
    let near = |x: f32| embedding(&[1.0, x, 0.0]);
    let first = a
        .create(NewMemory {
            embedding: Some(near(0.1)),
            ..note("first", "first")
        })
        .await
        .unwrap()
        .0
        .id;
    let top = |hits: Vec<mnemograph::model::VectorHit>| -> Vec<String> {
        hits.into_iter().map(|h| h.memory.title).collect()
    };
    let query = near(0.0);
    assert_eq!(
        top(a
            .vector_search(&query, &Filter::default(), 5)
            .await
            .unwrap()),
        ["first"]
    );

    // B adds a closer memory, moves the first one away, then A searches again.
    b.create(NewMemory {
        embedding: Some(near(0.01)),
        ..note("second", "second")
    })
    .await
    .unwrap();
    b.update(
        &first,
        MemoryPatch::default(),
        Some(embedding(&[0.0, 0.0, 1.0])),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        top(a
            .vector_search(&query, &Filter::default(), 5)
            .await
            .unwrap()),
        ["second", "first"]
    );
    // B deletes; A no longer finds it.
    b.delete(&first).await.unwrap();
    assert_eq!(
        top(a
            .vector_search(&query, &Filter::default(), 5)
            .await
            .unwrap()),
        ["second"]
    );

    // A text update without a new vector drops the stale vector.
    let second = b.list(&Filter::default(), None, 1).await.unwrap().memories[0]
        .id
        .clone();
    let retitle = MemoryPatch {
        content: Some("new text".into()),
        ..MemoryPatch::default()
    };
    b.update(&second, retitle, None, None).await.unwrap();
    assert!(
        a.vector_search(&query, &Filter::default(), 5)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_index_behind_the_pruned_log_reloads_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pruned.db");
    let a = open(&path).await;
    let b = open(&path).await;
    let v = |x: f32| embedding(&[1.0, x]);
    a.create(NewMemory {
        embedding: Some(v(0.5)),
        ..note("one", "one")
    })
    .await
    .unwrap();
    a.vector_search(&v(0.0), &Filter::default(), 5)
        .await
        .unwrap();
    b.create(NewMemory {
        embedding: Some(v(0.0)),
        ..note("two", "two")
    })
    .await
    .unwrap();
    {
        // Simulate pruning past A's position: drop the log and raise its floor.
        let db = libsql::Builder::new_local(&path).build().await.unwrap();
        let conn = db.connect().unwrap();
        conn.execute_batch(
            "DELETE FROM vector_log; \
             INSERT OR REPLACE INTO meta (key, value) VALUES ('vector_log_floor', '1000000');",
        )
        .await
        .unwrap();
    }
    let hits = a
        .vector_search(&v(0.0), &Filter::default(), 5)
        .await
        .unwrap();
    let titles: Vec<&str> = hits.iter().map(|h| h.memory.title.as_str()).collect();
    assert_eq!(titles, ["two", "one"]);
}

#[tokio::test]
async fn filtered_vector_search_finds_matches_beyond_the_candidates() {
    let (_dir, store) = temp_store().await;
    // 300 memories near the query, and one far away but the only one of its kind.
    let batch: Vec<NewMemory> = (0..300)
        .map(|i| NewMemory {
            embedding: Some(embedding(&[1.0, i as f32 / 1000.0, 0.0])),
            ..note(&format!("near {i}"), "near")
        })
        .collect();
    store.create_many(batch).await.unwrap();
    store
        .create(NewMemory {
            kind: "decision".into(),
            embedding: Some(embedding(&[0.0, 0.0, 1.0])),
            ..note("far", "far")
        })
        .await
        .unwrap();
    let filter = Filter {
        kinds: vec!["decision".into()],
        ..Filter::default()
    };
    let hits = store
        .vector_search(&embedding(&[1.0, 0.0, 0.0]), &filter, 3)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].memory.title, "far");
}

#[tokio::test]
async fn identifiers_are_found_by_their_parts_by_keyword() {
    let (_dir, store) = temp_store().await;
    add(&store, "HashMap capacity must be a power of two").await;
    add(
        &store,
        "parse_config_file fails on SQLITE_BUSY in src/store/mod.rs",
    )
    .await;
    add(&store, "a hash map is not ordered").await;
    let titles = |hits: Vec<mnemograph::model::KeywordHit>| -> Vec<String> {
        let mut t: Vec<String> = hits.into_iter().map(|h| h.memory.title).collect();
        t.sort();
        t
    };
    let search = |q: &'static str| {
        let store = store.clone();
        async move {
            store
                .keyword_search(q, &Filter::default(), 10)
                .await
                .unwrap()
        }
    };
    // CamelCase ⇄ separate words, both ways.
    assert_eq!(
        titles(search("hash map").await),
        [
            "HashMap capacity must be a power of two",
            "a hash map is not ordered"
        ]
    );
    assert_eq!(titles(search("HashMap").await).len(), 2);
    // snake_case, paths and error codes by their parts.
    let parse = "parse_config_file fails on SQLITE_BUSY in src/store/mod.rs";
    assert_eq!(titles(search("config file").await), [parse]);
    assert_eq!(titles(search("sqlite busy").await), [parse]);
    assert_eq!(titles(search("store/mod.rs").await), [parse]);
    assert_eq!(titles(search("parseConfigFile").await), [parse]);
}

#[tokio::test]
async fn common_terms_do_not_drown_rare_ones() {
    let (_dir, store) = temp_store().await;
    // "widget" is in every memory, well past the ranking budget; "gizmo" in three.
    let batch: Vec<NewMemory> = (0..2000)
        .map(|i| {
            let extra = if i % 700 == 0 { " gizmo" } else { "" };
            note(&format!("widget number {i}"), &format!("a widget{extra}"))
        })
        .collect();
    store.create_many(batch).await.unwrap();
    let hits = store
        .keyword_search("widget gizmo", &Filter::default(), 3)
        .await
        .unwrap();
    assert_eq!(hits.len(), 3);
    assert!(
        hits.iter().all(|h| h.memory.content.contains("gizmo")),
        "{hits:?}"
    );
    // With more results asked than rare matches, the common term fills the rest.
    let hits = store
        .keyword_search("widget gizmo", &Filter::default(), 10)
        .await
        .unwrap();
    assert_eq!(hits.len(), 10);
    assert!(hits[..3].iter().all(|h| h.memory.content.contains("gizmo")));
    // A query of common terms only ranks their newest thousand matches.
    let hits = store
        .keyword_search("widget", &Filter::default(), 5)
        .await
        .unwrap();
    assert_eq!(hits.len(), 5);
    for hit in hits {
        let n: usize = hit
            .memory
            .title
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            n >= 1000,
            "{} is older than the newest 1,000",
            hit.memory.title
        );
    }
}

#[tokio::test]
async fn old_memories_holding_every_common_term_come_first() {
    let (_dir, store) = temp_store().await;
    // "alpha" and "beta" are each in half of 2,000 memories, both far past the ranking
    // budget; only three old memories hold both, outside the newest thousand matches.
    let both = [5, 50, 500];
    let batch: Vec<NewMemory> = (0..2000)
        .map(|i| {
            let words = if both.contains(&i) {
                "alpha beta"
            } else if i % 2 == 0 {
                "alpha"
            } else {
                "beta"
            };
            note(&format!("entry {i}"), &format!("an entry about {words}"))
        })
        .collect();
    store.create_many(batch).await.unwrap();
    let hits = store
        .keyword_search("alpha beta", &Filter::default(), 10)
        .await
        .unwrap();
    assert_eq!(hits.len(), 10);
    let mut first: Vec<&str> = hits[..3].iter().map(|h| h.memory.title.as_str()).collect();
    first.sort();
    assert_eq!(first, ["entry 5", "entry 50", "entry 500"], "{hits:?}");
    // The rest are filled from the matches of either word.
    assert!(
        hits[3..]
            .iter()
            .all(|h| !h.memory.content.contains("alpha beta"))
    );
}

#[tokio::test]
async fn paths_by_hops_and_by_strength() {
    let (_dir, store) = temp_store().await;
    let [a, b, c, d, e] = [
        add(&store, "a").await,
        add(&store, "b").await,
        add(&store, "c").await,
        add(&store, "d").await,
        add(&store, "e").await,
    ];
    // Short but weak: a → e. Long but strong: a → b → c → d → e.
    link(&store, &a, &e, "RELATED_TO", 0.05).await;
    link(&store, &a, &b, "CAUSES", 0.9).await;
    link(&store, &b, &c, "CAUSES", 0.9).await;
    link(&store, &c, &d, "CAUSES", 0.9).await;
    link(&store, &d, &e, "CAUSES", 0.9).await;
    let hops = store
        .find_path(&a, &e, &PathQuery::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hops.hops, 1);
    let strong = PathQuery {
        cost: PathCost::Strength,
        ..PathQuery::default()
    };
    let path = store.find_path(&a, &e, &strong).await.unwrap().unwrap();
    let titles: Vec<&str> = path.memories.iter().map(|m| m.title.as_str()).collect();
    assert_eq!(titles, ["a", "b", "c", "d", "e"]);
    // Directed: e cannot reach a along the arrows; within 2 hops, b → e needs 3.
    let directed = PathQuery {
        directed: true,
        ..PathQuery::default()
    };
    assert!(store.find_path(&e, &a, &directed).await.unwrap().is_none());
    let short = PathQuery {
        max_hops: 2,
        rel_types: vec!["CAUSES".into()],
        ..PathQuery::default()
    };
    assert!(store.find_path(&b, &e, &short).await.unwrap().is_none());
    let unknown = uuid::Uuid::now_v7().to_string();
    assert!(matches!(
        store.find_path(&a, &unknown, &PathQuery::default()).await,
        Err(Error::MemoryNotFound { .. })
    ));
}

#[tokio::test]
async fn explore_ranks_the_hub_and_finds_cycles() {
    let (_dir, store) = temp_store().await;
    let hub = add(&store, "hub").await;
    let mut spokes = Vec::new();
    for i in 0..5 {
        let s = add(&store, &format!("spoke {i}")).await;
        link(&store, &s, &hub, "DEPENDS_ON", 0.8).await;
        spokes.push(s);
    }
    link(&store, &hub, &spokes[0], "DEPENDS_ON", 0.8).await;
    let t = Traversal {
        depth: 2,
        ..Traversal::default()
    };
    let exploration = store
        .explore(std::slice::from_ref(&hub), &t, 3)
        .await
        .unwrap();
    assert_eq!(exploration.subgraph.nodes.len(), 6);
    assert_eq!(exploration.central[0].0, hub);
    assert_eq!(exploration.clusters.len(), 1);
    let cycles_t = Traversal {
        rel_types: vec!["DEPENDS_ON".into()],
        direction: Direction::Both,
        ..t
    };
    let cycles = store
        .cycles(std::slice::from_ref(&hub), &cycles_t)
        .await
        .unwrap();
    assert_eq!(cycles.len(), 1);
    assert_eq!(cycles[0].nodes.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_lose_nothing_and_conflicts_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let stores = [open(&path).await, open(&path).await, open(&path).await];
    let shared = stores[0].create(note("counter", "0")).await.unwrap().0.id;
    let mut tasks = Vec::new();
    for (w, store) in stores.iter().enumerate() {
        for t in 0..3 {
            let store = store.clone();
            let shared = shared.clone();
            tasks.push(tokio::spawn(async move {
                let mut created = Vec::new();
                let (mut applied, mut conflicts) = (0, 0);
                for i in 0..40 {
                    let title = format!("writer {w}.{t} #{i}");
                    created.push(
                        store
                            .create(note(&title, &title))
                            .await
                            .expect("create")
                            .0
                            .id,
                    );
                    let current = store.get(&shared).await.expect("get");
                    let patch = MemoryPatch {
                        content: Some(format!("{}", current.version)),
                        ..MemoryPatch::default()
                    };
                    match store
                        .update(&shared, patch, None, Some(current.version))
                        .await
                    {
                        Ok(_) => applied += 1,
                        Err(Error::VersionConflict { .. }) => conflicts += 1,
                        Err(e) => panic!("unexpected error under contention: {e}"),
                    }
                }
                (created, applied, conflicts)
            }));
        }
    }
    let mut all = Vec::new();
    let mut applied = 0;
    for task in tasks {
        let (created, a, _) = task.await.unwrap();
        all.extend(created);
        applied += a;
    }
    let check = open(&path).await;
    let fetched = check.get_many(&all).await.unwrap();
    assert_eq!(
        (fetched.memories.len(), fetched.missing.len()),
        (all.len(), 0)
    );
    // Every update that reported success is one version step: none was lost.
    assert_eq!(check.get(&shared).await.unwrap().version, 1 + applied);
}

/// A write that finds the store's lock held by another connection waits for it off the async
/// workers (a short write runs in place only when the lock is free): with a single worker, a
/// read is still answered while the write waits, and the write lands once the lock is gone.
/// The lock is let go by a thread of its own after 3 s, so a write that waited in place would
/// hold the only worker until then and be finished before the read.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_write_waiting_for_the_lock_leaves_reads_answered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.db");
    let store = open(&path).await;
    let id = store.create(note("waits", "before")).await.unwrap().0.id;
    let other = libsql::Builder::new_local(&path).build().await.unwrap();
    let lock = other.connect().unwrap();
    lock.execute("BEGIN IMMEDIATE", ()).await.unwrap();
    let unlocked = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(3));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(lock.execute("ROLLBACK", ())).unwrap();
    });

    let write = tokio::spawn({
        let (store, id) = (store.clone(), id.clone());
        async move {
            let patch = MemoryPatch {
                content: Some("after".into()),
                ..MemoryPatch::default()
            };
            store.update(&id, patch, None, None).await
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let read = store.get(&id).await.unwrap();
    assert_eq!(read.content, "before");
    assert!(
        !write.is_finished(),
        "the read was answered while the write waited for the lock"
    );

    let written = write.await.unwrap().unwrap();
    unlocked.join().unwrap();
    assert_eq!(written.record.version, 2);
    assert_eq!(store.get(&id).await.unwrap().content, "after");
}

/// A capture's batch is one transaction on libSQL: a record that fails while being written
/// (an id already taken by other content) takes the records before it with it.
#[tokio::test]
async fn a_linked_batch_is_written_whole_or_not_at_all() {
    let (_dir, store) = temp_store().await;
    let id = |n: u8| format!("01900000-0000-7000-8000-0000000000{n:02}");
    let with_id = |n: u8, title: &str| NewMemory {
        id: Some(id(n)),
        ..note(title, title)
    };
    store.create(with_id(1, "taken")).await.unwrap();
    let solves = |n: u8| NewLink {
        id: Some(id(90 + n)),
        target_id: id(n),
        rel_type: "SOLVES".into(),
        ..NewLink::default()
    };
    let batch = vec![
        (with_id(2, "the error"), Vec::new()),
        (with_id(3, "the fix"), vec![solves(2)]),
        (with_id(1, "other content under a taken id"), Vec::new()),
    ];
    let err = store.create_linked_many(batch.clone()).await.unwrap_err();
    assert!(matches!(err, Error::IdConflict { .. }), "{err}");
    assert_eq!(
        store.stats().await.unwrap().memories,
        1,
        "nothing of the batch stays"
    );

    let written = store.create_linked_many(batch[..2].to_vec()).await.unwrap();
    assert_eq!(written[1].relationships.len(), 1);
    assert_eq!(store.stats().await.unwrap().relationships, 1);
    let again = store.create_linked_many(batch[..2].to_vec()).await.unwrap();
    assert!(
        again.iter().all(|w| w.created == Created::Existing),
        "a replay"
    );
}

/// Without a filter, matches are ranked in the full-text index alone (no memory read per
/// match); with one, the ranking query joins the memories. Both must give the same hits in the
/// same order, ties by id included: identical memories tie, inside the page and at its cut.
#[tokio::test]
async fn keyword_ranking_without_a_filter_equals_the_joined_ranking() {
    let (_dir, store) = temp_store().await;
    let batch: Vec<NewMemory> = (0..1500)
        .map(|i| {
            let new = match i % 5 {
                // Identical memories tie: 15 of them at the top for "zeta omega", 285 for
                // "alpha beta" past any page's cut.
                _ if i % 100 == 2 => note("zeta", "zeta omega"),
                0 => note("alpha beta", "alpha beta gamma"),
                1 => note(&format!("alpha {i}"), "alpha delta delta"),
                2 => note(
                    &format!("omega {i}"),
                    &format!("omega {}", "word ".repeat(i % 9)),
                ),
                3 => note(
                    &format!("entry {i}"),
                    &format!("gamma {}", "alpha ".repeat(i % 4)),
                ),
                _ => note(&format!("other {i}"), "epsilon"),
            };
            // Ids descend as memories are added: ties ordered by row would not be by id.
            NewMemory {
                id: Some(format!("01900000-0000-7000-8000-{:012x}", 10_000 - i)),
                ..new
            }
        })
        .collect();
    store.create_many(batch).await.unwrap();
    let everything = Filter {
        min_importance: Some(0.0),
        ..Filter::default()
    };
    for query in [
        "zeta omega",
        "alpha",
        "alpha beta",
        "gamma delta",
        "epsilon",
    ] {
        for limit in [1, 7, 10, 20, 51] {
            let ranking = |filter: Filter| {
                let store = store.clone();
                async move {
                    store
                        .keyword_search(query, &filter, limit)
                        .await
                        .unwrap()
                        .into_iter()
                        .map(|h| (h.memory.id, h.score))
                        .collect::<Vec<_>>()
                }
            };
            let unfiltered = ranking(Filter::default()).await;
            assert_eq!(unfiltered.len(), limit, "{query} {limit}");
            assert!(
                unfiltered
                    .windows(2)
                    .all(|w| w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0)),
                "best first, equal scores by id: {query} {limit} {unfiltered:?}"
            );
            assert_eq!(
                unfiltered,
                ranking(everything.clone()).await,
                "{query} {limit}"
            );
        }
    }
}
