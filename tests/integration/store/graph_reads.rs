//! Listings read in their brief form (summaries, without content): what they return must not
//! change with how they read it.

use mnemograph::model::Filter;

use super::temp_store;
use crate::support::store::note;

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
