//! Graph reads and listings read through indexes (`schema/0006_covering_summaries.sql`):
//! what they return must not change with how they read it.

use mnemograph::backend::libsql::migrate_to;
use mnemograph::model::{Filter, Traversal};

use super::{link, temp_store};
use crate::support::store::{note, open};

#[tokio::test]
async fn a_listing_of_summaries_pages_as_the_listing_of_memories_does() {
    let (_dir, store) = temp_store().await;
    for i in 0..7 {
        let mut new = note(&format!("harbour note {i}"), "the boats stay dry");
        new.tags = vec![format!("t{}", i % 2)];
        new.kind = if i % 3 == 0 { "fix" } else { "note" }.into();
        store.create(new).await.expect("create");
    }
    let filters = [
        Filter::default(),
        Filter {
            kinds: vec!["note".into()],
            ..Filter::default()
        },
        Filter {
            tags: vec!["t1".into()],
            ..Filter::default()
        },
    ];
    for filter in filters {
        let (mut full_cursor, mut brief_cursor) = (None::<String>, None::<String>);
        let mut pages = 0;
        loop {
            let full = store
                .list(&filter, full_cursor.as_deref(), 2)
                .await
                .unwrap();
            let brief = store
                .list_summaries(&filter, brief_cursor.as_deref(), 2)
                .await
                .unwrap();
            let expected: Vec<_> = full.memories.iter().map(|m| m.summary()).collect();
            assert_eq!(brief.memories, expected, "{filter:?} page {pages}");
            assert_eq!(brief.next_cursor, full.next_cursor);
            pages += 1;
            match full.next_cursor {
                Some(next) => {
                    full_cursor = Some(next.clone());
                    brief_cursor = Some(next);
                }
                None => break,
            }
        }
        assert!(pages >= 2, "{filter:?}: the listing spans pages");
    }
}

#[tokio::test]
async fn a_store_from_before_the_summary_index_walks_its_graph_once_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let (a, b) = (
        "0190a5a0-0000-7000-8000-00000000000a",
        "0190a5a0-0000-7000-8000-00000000000b",
    );
    {
        // Memories written at schema 4, in raw SQL: the index must be built over them.
        let db = libsql::Builder::new_local(&path).build().await.unwrap();
        let conn = db.connect().unwrap();
        migrate_to(&conn, "old.db", 4).await.unwrap();
        for (id, title) in [(a, "lantern repairs"), (b, "harbour wall")] {
            conn.execute(
                "INSERT INTO memories (id, kind, title, content, tags, context, importance, \
                 confidence, created_at, updated_at, version) VALUES \
                 (?, 'note', ?, 'text', '[\"old\"]', '{}', 0.5, 1.0, 1700000000000000, \
                 1700000000000000, 1)",
                (id, title),
            )
            .await
            .unwrap();
        }
    }
    let store = open(&path).await;
    link(&store, a, b, "RELATES_TO", 0.8).await;
    let neighbours = store.neighbours(a, &Traversal::default()).await.unwrap();
    let titles: Vec<_> = neighbours.iter().map(|n| n.memory.title.as_str()).collect();
    assert_eq!(titles, ["harbour wall"]);
    let found = store.summaries(&[b.into(), a.into()]).await.unwrap();
    let mut got: Vec<_> = found
        .iter()
        .map(|s| (s.id.as_str(), s.title.as_str(), s.tags.clone()))
        .collect();
    got.sort();
    let old = vec!["old".to_owned()];
    assert_eq!(
        got,
        [
            (a, "lantern repairs", old.clone()),
            (b, "harbour wall", old)
        ]
    );
    assert_eq!(
        store.summaries(&["no-such-id".to_owned()]).await.unwrap(),
        []
    );
}
