//! Unit tests of the reference backend's own machinery: BM25 against SQLite's FTS5, snippets,
//! timestamp precision, batches, cursors. Behaviour shared with the libSQL backend is tested
//! once for both in `tests/integration/conformance/`.

use chrono::{DateTime, Utc};
use serde_json::Map;

use super::*;

fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, nanos).unwrap()
}

fn mem(id: &str, title: &str, content: &str, tags: &[&str]) -> Memory {
    Memory {
        id: id.to_owned(),
        kind: "note".to_owned(),
        title: title.to_owned(),
        content: content.to_owned(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        context: Default::default(),
        importance: 0.5,
        confidence: 0.5,
        created_at: at(0, 0),
        updated_at: at(0, 0),
        accessed_at: None,
        access_count: 0,
        version: 1,
    }
}

fn terms(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// The reference's BM25 is FTS5's: same scores as `bm25(fts, 0.75, 1.0, 2.0)` over a table
/// with the same columns (tags as the JSON text the libSQL backend indexes), without Porter.
#[tokio::test]
async fn bm25_equals_fts5() {
    let docs = [
        mem("d1", "Alpha beta", "gamma delta alpha", &["alpha"]),
        mem(
            "d2",
            "beta",
            "alpha alpha alpha epsilon zeta eta theta",
            &[],
        ),
        mem("d3", "gamma", "beta", &["beta", "gamma"]),
        mem(
            "d4",
            "iota kappa",
            "lambda mu nu xi omicron pi rho sigma",
            &["tau"],
        ),
        mem("d5", "upsilon", "alpha phi chi", &["psi", "omega"]),
    ];
    let backend = InMemoryBackend::new();
    for d in &docs {
        backend.create_memory(d, None).await.unwrap();
    }

    let db = libsql::Builder::new_local(":memory:")
        .build()
        .await
        .unwrap();
    let conn = db.connect().unwrap();
    conn.execute(
        "CREATE VIRTUAL TABLE fts USING fts5 (id UNINDEXED, title, content, tags, \
         tokenize = 'unicode61 remove_diacritics 2')",
        (),
    )
    .await
    .unwrap();
    for d in &docs {
        let tags = serde_json::to_string(&d.tags).unwrap();
        conn.execute(
            "INSERT INTO fts (id, title, content, tags) VALUES (?, ?, ?, ?)",
            [
                d.id.as_str(),
                d.title.as_str(),
                d.content.as_str(),
                tags.as_str(),
            ],
        )
        .await
        .unwrap();
    }

    for query in [
        &["alpha"][..],
        &["beta"],
        &["gamma", "alpha"],
        &["tau"],
        &["alpha", "zzz"],
    ] {
        let match_expr = query
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(" OR ");
        // id UNINDEXED is column 0: weight it 0 and shift the others.
        let mut rows = conn
            .query(
                "SELECT id, -bm25(fts, 0.0, 0.75, 1.0, 2.0) FROM fts WHERE fts MATCH ? ORDER BY id",
                [match_expr],
            )
            .await
            .unwrap();
        let mut want: Vec<(String, f64)> = Vec::new();
        while let Some(row) = rows.next().await.unwrap() {
            want.push((row.get(0).unwrap(), row.get(1).unwrap()));
        }
        let mut got: Vec<(String, f64)> = backend
            .keyword_search(&terms(query), &Filter::default(), 100)
            .await
            .unwrap()
            .into_iter()
            .map(|h| (h.memory.id, h.score))
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert!(!want.is_empty(), "{query:?}");
        assert_eq!(got.len(), want.len(), "{query:?}: {got:?} vs {want:?}");
        for ((gid, g), (wid, w)) in got.iter().zip(&want) {
            assert_eq!(gid, wid, "{query:?}");
            assert!((g - w).abs() < 1e-9, "{query:?} {gid}: {g} vs FTS5 {w}");
        }
    }
}

#[tokio::test]
async fn keyword_ranks_best_first_ties_by_id() {
    let backend = InMemoryBackend::new();
    for d in [
        mem("b", "same words", "x", &[]),
        mem("a", "same words", "x", &[]),
        mem("c", "other", "same and more words", &[]),
    ] {
        backend.create_memory(&d, None).await.unwrap();
    }
    let hits = backend
        .keyword_search(&terms(&["same"]), &Filter::default(), 10)
        .await
        .unwrap();
    let ids: Vec<&str> = hits.iter().map(|h| h.memory.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(hits[0].score, hits[1].score);
    assert!(hits[1].score > hits[2].score);
    // Terms are matched case-insensitively and whole-token only.
    let none = backend
        .keyword_search(&terms(&["sam"]), &Filter::default(), 10)
        .await
        .unwrap();
    assert!(none.is_empty());
    let upper = backend
        .keyword_search(&terms(&["SAME"]), &Filter::default(), 10)
        .await
        .unwrap();
    assert_eq!(upper.len(), 3);
}

#[tokio::test]
async fn timestamps_are_kept_to_the_microsecond() {
    let backend = InMemoryBackend::new();
    let mut m = mem("t", "t", "t", &[]);
    m.created_at = at(1, 123_456_789);
    m.updated_at = at(2, 999);
    m.accessed_at = Some(at(3, 1_999));
    let (stored, _) = backend.create_memory(&m, None).await.unwrap();
    assert_eq!(stored.created_at, at(1, 123_456_000));
    assert_eq!(stored.updated_at, at(2, 0));
    assert_eq!(stored.accessed_at, Some(at(3, 1_000)));
    // A replay differing below the microsecond is still the same memory.
    let (_, created) = backend.create_memory(&m, None).await.unwrap();
    assert_eq!(created, Created::Existing);

    // `since` compares at the same precision as the database.
    let since = Filter {
        since: Some(at(1, 123_456_999)),
        ..Filter::default()
    };
    let page = backend.list_memories(&since, None, 10).await.unwrap();
    assert_eq!(page.memories.len(), 1);

    let updated = backend
        .update_memory(
            "t",
            &MemoryPatch::default(),
            EmbeddingChange::Keep,
            None,
            at(5, 7_777),
        )
        .await
        .unwrap();
    assert_eq!(updated.updated_at, at(5, 7_000));
    backend.touch(&[Access::one("t", at(6, 5))]).await.unwrap();
    let got = backend.get_memories(&["t".to_owned()]).await.unwrap();
    assert_eq!(got[0].accessed_at, Some(at(6, 0)));
}

#[tokio::test]
async fn batch_validates_everything_before_writing() {
    let backend = InMemoryBackend::new();
    let a = mem("a", "a", "a", &[]);
    let b = mem("b", "b", "b", &[]);
    let mut b2 = b.clone();
    b2.title = "changed".to_owned();
    let err = backend
        .create_memories(&[(a.clone(), None), (b.clone(), None), (b2, None)])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::IdConflict { what: "memory", ref id } if id == "b"));
    assert_eq!(backend.stats().await.unwrap().memories, 0);
    let created = backend
        .create_memories(&[(a.clone(), None), (a.clone(), None), (b, None)])
        .await
        .unwrap();
    assert_eq!(created, [Created::New, Created::Existing, Created::New]);
}

#[tokio::test]
async fn cursor_continues_after_ties() {
    let backend = InMemoryBackend::new();
    for id in ["a", "b", "c", "d"] {
        backend
            .create_memory(&mem(id, id, id, &[]), None)
            .await
            .unwrap();
    }
    let first = backend
        .list_memories(&Filter::default(), None, 2)
        .await
        .unwrap();
    let ids: Vec<&str> = first.memories.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["d", "c"]);
    let cursor = Cursor::decode(first.next_cursor.as_deref().unwrap()).unwrap();
    let second = backend
        .list_memories(&Filter::default(), Some(&cursor), 2)
        .await
        .unwrap();
    let ids: Vec<&str> = second.memories.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["b", "a"]);
    assert_eq!(second.next_cursor, None);
}

#[tokio::test]
async fn embedding_space_first_claim_wins() {
    let backend = InMemoryBackend::new();
    let meta = backend.meta().await.unwrap();
    assert_eq!(meta.schema_version, crate::backend::libsql::SCHEMA_VERSION);
    assert!(uuid::Uuid::parse_str(&meta.store_id).is_ok());
    assert_ne!(
        meta.store_id,
        InMemoryBackend::new().meta().await.unwrap().store_id
    );
    assert_eq!(
        backend.claim_embedding_space("m", 4).await.unwrap(),
        ("m".to_owned(), 4)
    );
    assert_eq!(
        backend.claim_embedding_space("n", 8).await.unwrap(),
        ("m".to_owned(), 4)
    );
}

#[tokio::test]
async fn vector_search_skips_other_models_and_lengths() {
    let backend = InMemoryBackend::new();
    let e = |model: &str, v: &[f32]| Embedding {
        model: model.to_owned(),
        vector: v.to_vec(),
    };
    let vectors = [
        ("a", e("m", &[1.0, 0.0])),
        ("b", e("m", &[1.0, 1.0])),
        ("c", e("n", &[1.0, 0.0])),
        ("d", e("m", &[1.0, 0.0, 0.0])),
        ("z", e("m", &[0.0, 0.0])),
    ];
    for (id, v) in &vectors {
        backend
            .create_memory(&mem(id, id, id, &[]), Some(v))
            .await
            .unwrap();
    }
    let hits = backend
        .vector_search("m", &[2.0, 0.0], &Filter::default(), 10)
        .await
        .unwrap();
    let got: Vec<(&str, f32)> = hits
        .iter()
        .map(|h| (h.memory.id.as_str(), h.similarity))
        .collect();
    assert_eq!(got[0], ("a", 1.0));
    assert_eq!(got[1].0, "b");
    assert!((got[1].1 - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    // A zero vector has no direction: similarity 0, last.
    assert_eq!(got[2], ("z", 0.0));
    assert_eq!(got.len(), 3);
}

#[tokio::test]
async fn relationship_replay_compares_at_stored_precision() {
    let backend = InMemoryBackend::new();
    for id in ["a", "b"] {
        backend
            .create_memory(&mem(id, id, id, &[]), None)
            .await
            .unwrap();
    }
    let rel = Relationship {
        id: "r".into(),
        source_id: "a".into(),
        target_id: "b".into(),
        rel_type: "USES".into(),
        strength: 0.5,
        confidence: 0.5,
        note: None,
        properties: Map::new(),
        valid_from: Some(at(1, 1_500)),
        valid_to: None,
        created_at: at(0, 0),
        updated_at: at(0, 0),
        version: 1,
    };
    let (stored, created) = backend.create_relationship(&rel).await.unwrap();
    assert_eq!(created, Created::New);
    assert_eq!(stored.valid_from, Some(at(1, 1_000)));
    let (_, created) = backend.create_relationship(&rel).await.unwrap();
    assert_eq!(created, Created::Existing);
}
