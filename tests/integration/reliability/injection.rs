//! SQL and FTS5 injection: hostile text through every text field, id, filter and query
//! parameter of the store (on a real libSQL file) and of the MCP server (over stdio), and an
//! audit of the SQL the libSQL backend assembles.
//!
//! Each payload must come back byte for byte where the field keeps text, be refused with an
//! input error where the field has a vocabulary (kinds, relationship types, ids, cursors), and
//! be searched as plain words; afterwards every table is still there, every row is present and
//! the integrity checks pass.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use mnemograph::Error;
use mnemograph::backend::libsql::LibsqlBackend;
use mnemograph::graph::PathCost;
use mnemograph::model::{Filter, MemoryPatch, RelationshipPatch, Traversal};
use mnemograph::store::{
    Limits, MemoryStore, NewMemory, NewRelationship, PathQuery, RecallQuery, SearchMode,
};
use serde_json::{Map, Value, json};

use crate::support::client;
use crate::support::store::assert_intact;

/// SQL injection, FTS5 query syntax, NUL bytes, LIKE wildcards and unusual Unicode.
const PAYLOADS: &[&str] = &[
    "'; DROP TABLE memories; --",
    "\" OR 1=1 --",
    "') UNION SELECT id, title, content FROM memories --",
    "1; DELETE FROM memories WHERE 1=1",
    "Robert'); DROP TABLE relationships;--",
    "x' || (SELECT sqlite_version()) || '",
    "nul\0byte",
    "title:x",
    "NEAR(alpha beta)",
    "prefix*",
    "\"unbalanced",
    "^caret",
    "-minus",
    "alpha AND beta OR gamma NOT delta",
    "%_ LIKE wildcard \\ escape",
    "ünïcødé 日本語 🚀 \u{202e}rtl",
];

/// The names of the tables in the store file.
async fn tables(path: &Path) -> BTreeSet<String> {
    let db = libsql::Builder::new_local(path).build().await.unwrap();
    let conn = db.connect().unwrap();
    let mut rows = conn
        .query("SELECT name FROM sqlite_master WHERE type = 'table'", ())
        .await
        .unwrap();
    let mut names = BTreeSet::new();
    while let Some(row) = rows.next().await.unwrap() {
        names.insert(row.get::<String>(0).unwrap());
    }
    names
}

/// A context whose every text field, and an extra key and value, is `p`.
fn hostile_context(p: &str) -> Value {
    json!({"project": p, "repo": p, "paths": [p], "language": p, "branch": p, "commit": p,
           "extra_note": p, p: "as a key"})
}

/// `p` as a text field can hold it: NUL becomes a space.
fn plain(p: &str) -> String {
    p.replace('\0', " ")
}

fn assert_invalid<T: std::fmt::Debug>(result: mnemograph::Result<T>, field: &str, p: &str) {
    match result {
        Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field, "{p:?}"),
        other => panic!("{p:?} as {field}: expected an input error, got {other:?}"),
    }
}

#[tokio::test]
async fn hostile_text_round_trips_and_never_runs_as_sql_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let backend = LibsqlBackend::open_local(&path).await.unwrap();
    let store = MemoryStore::open(Arc::new(backend), Limits::default())
        .await
        .unwrap();
    let tables_before = tables(&path).await;
    let limits = Limits::default();

    // Text fields keep the payload exactly (titles collapse whitespace, tags lower-case).
    // Text holding NUL is refused (libSQL would read it back cut short), so such a payload is
    // kept with NUL as a space in text fields, and as it is in JSON fields.
    let mut ids = Vec::new();
    for p in PAYLOADS {
        let text = plain(p);
        let context = serde_json::from_value(hostile_context(p)).unwrap();
        let new = NewMemory {
            kind: "note".into(),
            title: format!("title {text}"),
            content: text.clone(),
            tags: vec![text.clone()],
            context,
            ..NewMemory::default()
        };
        if text != *p {
            for (field, bad) in [
                (
                    "title",
                    NewMemory {
                        title: (*p).to_owned(),
                        ..new.clone()
                    },
                ),
                (
                    "content",
                    NewMemory {
                        content: (*p).to_owned(),
                        ..new.clone()
                    },
                ),
                (
                    "tags",
                    NewMemory {
                        tags: vec![(*p).to_owned()],
                        ..new.clone()
                    },
                ),
            ] {
                assert_invalid(store.create(bad).await, field, p);
            }
        }
        let (memory, _) = store
            .create(new)
            .await
            .unwrap_or_else(|e| panic!("{p:?}: {e}"));
        let got = store.get(&memory.id).await.unwrap();
        assert_eq!(got.title, format!("title {text}"), "{p:?}");
        assert_eq!(got.content, text);
        assert_eq!(got.tags, [text.to_lowercase()]);
        assert_eq!(
            serde_json::to_value(&got.context).unwrap(),
            hostile_context(p)
        );
        ids.push(got.id);
    }
    let mut memories = PAYLOADS.len() as u64;

    for (i, p) in PAYLOADS.iter().enumerate() {
        let id = &ids[i];
        let text = plain(p);
        let own = Filter {
            project: Some((*p).to_owned()),
            ..Filter::default()
        };

        // Updates keep the payload too.
        let patch = MemoryPatch {
            content: Some(format!("{text} (updated)")),
            ..MemoryPatch::default()
        };
        let updated = store.update(id, patch, None, None).await.unwrap();
        assert_eq!(updated.content, format!("{text} (updated)"));

        // Vocabulary fields refuse what they cannot hold and store what they can.
        let kind = store
            .create(NewMemory {
                kind: (*p).to_owned(),
                title: "kind probe".into(),
                content: "kind probe".into(),
                ..NewMemory::default()
            })
            .await;
        match limits.kind(p) {
            Ok(normal) => {
                assert_eq!(kind.unwrap().0.kind, normal);
                memories += 1;
            }
            Err(_) => assert_invalid(kind, "kind", p),
        }

        // Ids: never found, never an SQL error.
        assert!(matches!(
            store.get(p).await,
            Err(Error::MemoryNotFound { .. })
        ));
        assert!(matches!(
            store.delete(p).await,
            Err(Error::MemoryNotFound { .. })
        ));
        let patch = MemoryPatch {
            title: Some("x".into()),
            ..MemoryPatch::default()
        };
        assert!(matches!(
            store.update(p, patch, None, None).await,
            Err(Error::MemoryNotFound { .. })
        ));
        assert!(matches!(
            store.get_relationship(p).await,
            Err(Error::RelationshipNotFound { .. })
        ));
        assert!(matches!(
            store.unlink(p).await,
            Err(Error::RelationshipNotFound { .. })
        ));
        let found = store
            .get_many(&[(*p).to_owned(), id.clone()])
            .await
            .unwrap();
        assert_eq!(found.memories.len(), 1, "{p:?}");
        assert_eq!(found.missing, [*p], "{p:?}");
        assert_invalid(
            store
                .create(NewMemory {
                    id: Some((*p).to_owned()),
                    kind: "note".into(),
                    title: "id probe".into(),
                    content: "id probe".into(),
                    ..NewMemory::default()
                })
                .await,
            "id",
            p,
        );
        let traversal = Traversal::default();
        assert!(matches!(
            store.neighbours(p, &traversal).await,
            Err(Error::MemoryNotFound { .. })
        ));
        assert!(
            store
                .subgraph(&[(*p).to_owned()], &traversal)
                .await
                .is_err()
        );

        // Relationships: the note and properties keep the payload; the type is a vocabulary.
        let next = &ids[(i + 1) % ids.len()];
        let mut properties = Map::new();
        properties.insert((*p).to_owned(), json!(p));
        let new = NewRelationship {
            source_id: id.clone(),
            target_id: next.clone(),
            rel_type: "RELATED_TO".into(),
            note: Some(text.clone()),
            properties: properties.clone(),
            ..NewRelationship::default()
        };
        if text != *p {
            let bad = NewRelationship {
                note: Some((*p).to_owned()),
                ..new.clone()
            };
            assert_invalid(store.link(bad).await, "note", p);
        }
        let (rel, _) = store
            .link(new)
            .await
            .unwrap_or_else(|e| panic!("{p:?}: {e}"));
        let got = store.get_relationship(&rel.id).await.unwrap();
        assert_eq!(got.note, Some(text.clone()));
        assert_eq!(got.properties, properties);
        let patch = RelationshipPatch {
            note: Some(Some(format!("{text} again"))),
            ..RelationshipPatch::default()
        };
        let got = store
            .update_relationship(&rel.id, patch, None)
            .await
            .unwrap();
        assert_eq!(got.note, Some(format!("{text} again")));
        let typed = store
            .link(NewRelationship {
                source_id: next.clone(),
                target_id: id.clone(),
                rel_type: (*p).to_owned(),
                ..NewRelationship::default()
            })
            .await;
        match limits.rel_type(p) {
            Ok(normal) => assert_eq!(typed.unwrap().0.rel_type, normal),
            Err(_) => assert_invalid(typed, "rel_type", p),
        }
        assert_invalid(
            store
                .link(NewRelationship {
                    source_id: (*p).to_owned(),
                    target_id: id.clone(),
                    rel_type: "RELATED_TO".into(),
                    ..NewRelationship::default()
                })
                .await,
            "source_id",
            p,
        );
        let traversal = Traversal {
            rel_types: vec![(*p).to_owned()],
            ..Traversal::default()
        };
        let walked = store.neighbours(id, &traversal).await;
        let path = store
            .find_path(
                id,
                next,
                &PathQuery {
                    rel_types: vec![(*p).to_owned()],
                    cost: PathCost::Strength,
                    ..PathQuery::default()
                },
            )
            .await;
        if limits.rel_type(p).is_ok() {
            walked.unwrap();
            path.unwrap();
        } else {
            assert_invalid(walked, "rel_type", p);
            assert_invalid(path, "rel_type", p);
        }

        // Filters compare the payload as a value.
        let page = store.list(&own, None, 50).await.unwrap();
        let listed: Vec<&str> = page.memories.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(listed, [id.as_str()], "project filter {p:?}");
        let by_tag = Filter {
            tags: vec![text.clone()],
            ..Filter::default()
        };
        let page = store.list(&by_tag, None, 50).await.unwrap();
        assert_eq!(page.memories.len(), 1, "tag filter {p:?}");
        assert_eq!(page.memories[0].id, *id);
        let by_kind = Filter {
            kinds: vec![(*p).to_owned()],
            ..Filter::default()
        };
        let listed = store.list(&by_kind, None, 50).await;
        if limits.kind(p).is_ok() {
            listed.unwrap();
        } else {
            assert_invalid(listed, "kind", p);
        }

        // Cursors: a foreign one is refused; a well-formed one with a hostile id is a value.
        assert_invalid(
            store.list(&Filter::default(), Some(p), 5).await,
            "cursor",
            p,
        );
        let crafted = format!("c1.0.{p}");
        let page = store
            .list(&Filter::default(), Some(&crafted), 5)
            .await
            .unwrap();
        assert!(page.memories.is_empty(), "{crafted:?}");
        assert_invalid(
            store
                .search(
                    "x",
                    Some(SearchMode::Keyword),
                    &Filter::default(),
                    5,
                    Some(p),
                )
                .await,
            "cursor",
            p,
        );

        // Queries are plain words: the payload finds its own memory when it has any word
        // that is not a stopword, and never fails.
        let hits = store.keyword_search(p, &own, 10).await.unwrap();
        let expect_hit = !mnemograph::text::query_terms(p).is_empty();
        assert_eq!(hits.len(), usize::from(expect_hit), "query {p:?}");
        if expect_hit {
            assert_eq!(hits[0].memory.id, *id);
        }
        store
            .keyword_search(p, &Filter::default(), 10)
            .await
            .unwrap();
        store
            .search(p, Some(SearchMode::Keyword), &own, 10, None)
            .await
            .unwrap();
        store
            .recall(&RecallQuery {
                query: (*p).to_owned(),
                filter: own.clone(),
                limit: 5,
                max_chars: Some(1000),
                hints: Default::default(),
            })
            .await
            .unwrap();
        store
            .explore_query(p, &own, 3, &Traversal::default(), 3)
            .await
            .unwrap();
    }

    // Nothing was dropped or deleted, and the file is sound.
    assert_eq!(tables(&path).await, tables_before);
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.memories, memories);
    assert!(stats.relationships >= PAYLOADS.len() as u64);
    for id in &ids {
        store.get(id).await.unwrap();
    }
    assert_intact(&store).await;
}

#[tokio::test]
async fn hostile_text_through_the_mcp_server_is_plain_data() {
    let dir = tempfile::tempdir().unwrap();
    let client = client::spawn(dir.path()).await;
    let payloads = [PAYLOADS[0], PAYLOADS[2], PAYLOADS[8], PAYLOADS[15]];
    let mut ids = Vec::new();
    for p in payloads {
        let stored = client::ok(
            &client,
            "store_memory",
            json!({"kind": "note", "title": format!("title {p}"), "content": p, "tags": [p],
                   "context": hostile_context(p)}),
        )
        .await;
        let id = stored["id"].as_str().unwrap().to_owned();
        let got = client::ok(&client, "get_memory", json!({"ids": [id]})).await;
        let memory = &got["memories"][0];
        assert_eq!(memory["content"], json!(p));
        assert_eq!(memory["title"], json!(format!("title {p}")));
        assert_eq!(memory["tags"], json!([p.to_lowercase()]));
        assert_eq!(memory["context"]["project"], json!(p));

        let found = client::ok(
            &client,
            "search_memories",
            json!({"query": p, "mode": "keyword", "project": p, "tags": [p]}),
        )
        .await;
        assert_eq!(found["hits"][0]["id"], json!(id), "{p:?}");
        client::ok(&client, "recall", json!({"query": p})).await;
        client::ok(&client, "explore", json!({"query": p})).await;
        client::ok(&client, "list_memories", json!({"project": p})).await;

        for (args, field) in [
            (json!({"query": "x", "kinds": [p]}), "kind"),
            (json!({"query": "x", "since": p}), "since"),
            (json!({"query": "x", "cursor": p}), "cursor"),
        ] {
            let message = client::err(&client, "search_memories", args).await;
            assert!(message.contains(field), "{p:?}: {message}");
        }
        let message = client::err(&client, "list_memories", json!({"cursor": p})).await;
        assert!(message.contains("cursor"), "{message}");
        client::err(&client, "get_memory", json!({"ids": [p]})).await;
        client::err(&client, "delete_memory", json!({"id": p})).await;
        client::err(&client, "get_related", json!({"id": p})).await;
        client::err(&client, "find_path", json!({"from_id": p, "to_id": id})).await;
        let message = client::err(
            &client,
            "store_memory",
            json!({"kind": p, "title": "t", "content": "c"}),
        )
        .await;
        assert!(message.contains("kind"), "{message}");
        ids.push(id);
    }
    for pair in ids.windows(2) {
        let p = payloads[0];
        let rel = client::ok(
            &client,
            "create_relationship",
            json!({"source_id": pair[0], "target_id": pair[1], "rel_type": "RELATED_TO",
                   "note": p}),
        )
        .await;
        assert_eq!(rel["relationship"]["note"], json!(p));
        let message = client::err(
            &client,
            "create_relationship",
            json!({"source_id": pair[0], "target_id": pair[1], "rel_type": p}),
        )
        .await;
        assert!(message.contains("rel_type"), "{message}");
    }
    // NUL: refused in text, kept in JSON.
    let nul = PAYLOADS[6];
    let message = client::err(
        &client,
        "store_memory",
        json!({"kind": "note", "title": "t", "content": nul}),
    )
    .await;
    assert!(
        message.contains("content") && message.contains("U+0000"),
        "{message}"
    );
    let stored = client::ok(
        &client,
        "store_memory",
        json!({"kind": "note", "title": "t", "content": "c", "context": {"project": nul}}),
    )
    .await;
    let got = client::ok(&client, "get_memory", json!({"ids": [stored["id"]]})).await;
    assert_eq!(got["memories"][0]["context"]["project"], json!(nul));

    let stats = client::ok(&client, "memory_stats", json!({})).await;
    assert_eq!(stats["memories"], json!(payloads.len() + 1));
    assert_eq!(stats["relationships"], json!(payloads.len() - 1));
    client.cancel().await.unwrap();

    let path = dir.path().join("data").join("default.db");
    let backend = LibsqlBackend::open_local(&path).await.unwrap();
    let store = MemoryStore::open(Arc::new(backend), Limits::default())
        .await
        .unwrap();
    assert_intact(&store).await;
    assert_eq!(
        store.stats().await.unwrap().memories,
        payloads.len() as u64 + 1
    );
}

/// Names `format!` may interpolate into SQL text in the libSQL backend: column lists (string
/// constants), the two table or column names passed as literals by the backend itself, and
/// limits written into kept statements' SQL (a bound `LIMIT` expires the statement): the
/// keyword search's integer constants and a listing's page size (a `usize`).
const SQL_CONSTANTS: &[&str] = &[
    "MEMORY_COLUMNS",
    "RELATIONSHIP_COLUMNS",
    "RELATIONSHIP_INSERT_COLUMNS",
    "MEMORY_INSERT_COLUMNS",
    "SUMMARY_COLUMNS",
    "BM25",
    "table",
    "end",
    "page_rows",
    "RANK_BUDGET",
    "COUNTED_MATCHES",
    "TOP_RANKED",
    "newest",
];

/// Positional arguments `format!` may interpolate into SQL text: `?` lists and the SQL of a
/// filter clause (itself made of constants and `?`).
/// Placeholder lists, filter clauses and a score expression (`keyword.rs`'s `Scorer::sql`,
/// one of two constants).
const SQL_FRAGMENTS: &[&str] = &[
    "placeholders(",
    "value_rows::<",
    "clause.sql",
    "scorer.sql()",
];

const SQL_WORDS: &[&str] = &[
    "SELECT ", "INSERT ", "UPDATE ", "DELETE ", " WHERE ", " IN (",
];

/// The text of the call starting at `open` (the index of its opening parenthesis), up to the
/// matching parenthesis, with string literals kept but not counted.
fn call_text(source: &str, open: usize) -> &str {
    let bytes = source.as_bytes();
    let (mut depth, mut in_string, mut i) = (0usize, false, open);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'(' if !in_string => depth += 1,
            b')' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return &source[open + 1..i];
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!("unbalanced call at byte {open}")
}

/// Splits the first string literal of a macro call from the arguments after it.
fn literal_and_args(call: &str) -> (&str, Vec<&str>) {
    let start = call.find('"').expect("a format string");
    let bytes = call.as_bytes();
    let mut end = start + 1;
    while bytes[end] != b'"' {
        end += if bytes[end] == b'\\' { 2 } else { 1 };
    }
    let args = call[end + 1..]
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    (&call[start + 1..end], args)
}

#[test]
fn the_backend_builds_sql_only_from_constants_and_placeholders() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/backend/libsql");
    let mut audited = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let file = entry.unwrap().path();
        if file.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&file).unwrap();
        for (at, _) in source.match_indices("format!(") {
            let call = call_text(&source, at + "format!".len());
            let (literal, args) = literal_and_args(call);
            if !SQL_WORDS.iter().any(|w| literal.contains(w)) {
                continue;
            }
            audited += 1;
            let place = format!("{}: format!({call})", file.display());
            let mut positional = 0;
            for hole in literal.split('{').skip(1) {
                let name = hole.split('}').next().unwrap();
                if name.is_empty() {
                    positional += 1;
                } else {
                    assert!(
                        SQL_CONSTANTS.contains(&name),
                        "{place}: interpolates {{{name}}}, which is not a known SQL constant"
                    );
                }
            }
            assert_eq!(positional, args.len(), "{place}: unexpected arguments");
            for arg in args {
                assert!(
                    SQL_FRAGMENTS.iter().any(|f| arg.starts_with(f)),
                    "{place}: interpolates {arg}, which is not a placeholder list"
                );
            }
        }
        // The names above are passed as literals only.
        for helper in ["delete_by_id(&conn, ", "version_of(&conn, "] {
            for (at, _) in source.match_indices(helper) {
                let arg = &source[at + helper.len()..];
                assert!(
                    arg.starts_with('"'),
                    "{}: {helper} without a literal",
                    file.display()
                );
            }
        }
    }
    // Every query file was read: a rename must not turn this test into a no-op.
    assert!(audited >= 15, "only {audited} SQL format! calls found");
}
