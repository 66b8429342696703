//! The `mnemograph` binary driven over MCP on its stdio, as an assistant drives it.

mod abuse;
mod budgets;
mod embedder;
mod inspector;
mod knowledge_graph;
mod reference;
mod schemas;
mod stats;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rmcp::model::{ReadResourceRequestParams, Tool};
use serde_json::{Value, json};

use crate::support::client::{Client, call, err, ok, spawn, text};
use crate::support::schema::validate;
use crate::support::{self, memory_ids};

const TOOLS: [&str; 15] = [
    "create_relationship",
    "delete_memory",
    "delete_relationship",
    "explore",
    "find_path",
    "get_memory",
    "get_related",
    "list_memories",
    "memory_stats",
    "recall",
    "search_memories",
    "store_memory",
    "sync",
    "update_memory",
    "update_relationship",
];

const READ_ONLY: [&str; 8] = [
    "explore",
    "find_path",
    "get_memory",
    "get_related",
    "list_memories",
    "memory_stats",
    "recall",
    "search_memories",
];

/// Calls a tool that must succeed and checks its structured content against the tool's
/// advertised output schema.
async fn checked(client: &Client, tools: &HashMap<String, Tool>, tool: &str, args: Value) -> Value {
    let data = ok(client, tool, args).await;
    let schema = tools[tool].output_schema.as_ref().expect("output schema");
    if let Err(mismatch) = validate(&data, schema) {
        panic!("{tool} output does not match its schema: {mismatch}\n{data:#}");
    }
    data
}

async fn tool_map(client: &Client) -> HashMap<String, Tool> {
    client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.name.to_string(), t))
        .collect()
}

async fn store(client: &Client, kind: &str, title: &str, content: &str) -> String {
    let data = ok(
        client,
        "store_memory",
        json!({"kind": kind, "title": title, "content": content}),
    )
    .await;
    data["id"].as_str().unwrap().to_owned()
}

async fn link(client: &Client, source: &str, target: &str, rel_type: &str) -> String {
    let data = ok(
        client,
        "create_relationship",
        json!({"source_id": source, "target_id": target, "rel_type": rel_type, "strength": 0.9}),
    )
    .await;
    data["relationship"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn server_describes_itself_and_every_tool() {
    let dir = tempfile::tempdir().unwrap();
    let client = spawn(dir.path()).await;

    let info = client.peer_info().expect("server info");
    assert_eq!(info.server_info.as_ref().unwrap().name, "mnemograph");
    assert_eq!(
        info.server_info.as_ref().unwrap().version,
        env!("CARGO_PKG_VERSION")
    );
    let instructions = info.instructions.as_deref().unwrap();
    for word in ["search_memories", "SOLVES", "decision", "recall"] {
        assert!(instructions.contains(word), "instructions lack {word}");
    }

    let tools = tool_map(&client).await;
    let names: BTreeSet<&str> = tools.keys().map(String::as_str).collect();
    assert_eq!(names, BTreeSet::from(TOOLS));
    for (name, tool) in &tools {
        assert!(
            tool.title.as_deref().is_some_and(|t| !t.is_empty()),
            "{name} has no title"
        );
        assert!(
            tool.description.as_deref().is_some_and(|d| d.len() > 40),
            "{name} description"
        );
        let a = tool
            .annotations
            .as_ref()
            .unwrap_or_else(|| panic!("{name} has no annotations"));
        assert_eq!(a.title, None, "{name}: the tool's title is enough");
        assert_eq!(
            a.read_only_hint,
            Some(READ_ONLY.contains(&name.as_str())),
            "{name} read-only"
        );
        assert!(
            a.destructive_hint.is_some() && a.idempotent_hint.is_some(),
            "{name} hints"
        );
        // Only sync reaches outside this machine (the primary).
        assert_eq!(a.open_world_hint, Some(name == "sync"), "{name} open world");
        if a.read_only_hint == Some(true) {
            assert_eq!(
                a.destructive_hint,
                Some(false),
                "{name} read-only yet destructive"
            );
        }

        for (what, schema) in [
            ("input", Some(&tool.input_schema)),
            ("output", tool.output_schema.as_ref()),
        ] {
            let schema = schema.unwrap_or_else(|| panic!("{name} has no {what} schema"));
            assert_eq!(
                schema.get("type"),
                Some(&json!("object")),
                "{name} {what} schema type"
            );
            assert!(
                schema.get("properties").is_some_and(Value::is_object),
                "{name} {what} properties"
            );
            // Every $ref resolves.
            let defs = schema.get("$defs").and_then(Value::as_object);
            for r in refs(&Value::Object((**schema).clone())) {
                let def = r.trim_start_matches("#/$defs/");
                assert!(
                    defs.is_some_and(|d| d.contains_key(def)),
                    "{name} {what}: dangling {r}"
                );
            }
        }
    }
    // Bounds and well-known vocabularies are in the schemas the model reads.
    let store_schema = serde_json::to_string(&tools["store_memory"].input_schema).unwrap();
    for needle in ["\"maximum\":1.0", "decision", "SOLVES", "\"maxLength\":300"] {
        assert!(
            store_schema.contains(needle),
            "store_memory schema lacks {needle}"
        );
    }
    let search = &tools["search_memories"].input_schema;
    assert_eq!(search["required"], json!(["query"]));
    assert_eq!(search["properties"]["limit"]["maximum"], json!(50));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn schemas_state_the_defaults_the_store_applies() {
    use mnemograph::store::defaults;
    let dir = tempfile::tempdir().unwrap();
    let client = spawn(dir.path()).await;
    let tools = tool_map(&client).await;
    let described = |tool: &str, field: &str| {
        let schema = Value::Object((*tools[tool].input_schema).clone());
        let property = &schema["properties"][field];
        let property = match property["$ref"].as_str() {
            Some(r) => &schema["$defs"][r.trim_start_matches("#/$defs/")],
            None => property,
        };
        property["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let link = {
        let schema = Value::Object((*tools["store_memory"].input_schema).clone());
        schema["$defs"]["LinkParam"]["properties"]["strength"]["description"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let cases = [
        (
            described("search_memories", "limit"),
            defaults::SEARCH_LIMIT.to_string(),
        ),
        (
            described("recall", "limit"),
            defaults::RECALL_LIMIT.to_string(),
        ),
        (
            described("recall", "max_chars"),
            defaults::BRIEFING_CHARS.to_string(),
        ),
        (
            described("list_memories", "limit"),
            defaults::LIST_LIMIT.to_string(),
        ),
        (
            described("get_related", "depth"),
            defaults::WALK_DEPTH.to_string(),
        ),
        (
            described("get_related", "limit"),
            defaults::RELATED_LIMIT.to_string(),
        ),
        (
            described("find_path", "max_hops"),
            defaults::PATH_MAX_HOPS.to_string(),
        ),
        (
            described("explore", "depth"),
            defaults::EXPLORE_DEPTH.to_string(),
        ),
        (
            described("explore", "max_nodes"),
            defaults::EXPLORE_MAX_NODES.to_string(),
        ),
        (
            described("store_memory", "importance"),
            defaults::IMPORTANCE.to_string(),
        ),
        (
            described("store_memory", "confidence"),
            defaults::CONFIDENCE.to_string(),
        ),
        (
            described("create_relationship", "strength"),
            defaults::STRENGTH.to_string(),
        ),
        (
            described("create_relationship", "confidence"),
            defaults::CONFIDENCE.to_string(),
        ),
        (link, defaults::STRENGTH.to_string()),
    ];
    for (description, value) in cases {
        let stated = format!("(default {value}");
        assert!(
            description.contains(&stated),
            "{description:?} lacks {stated:?}"
        );
    }
    let store_memory = tools["store_memory"].description.as_deref().unwrap();
    let stated = format!("up to {} similar", defaults::SIMILAR_SHOWN);
    assert!(store_memory.contains(&stated), "{store_memory}");
    client.cancel().await.unwrap();
}

fn refs(value: &Value) -> Vec<String> {
    match value {
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| match (k.as_str(), v) {
                ("$ref", Value::String(r)) => vec![r.clone()],
                _ => refs(v),
            })
            .collect(),
        Value::Array(items) => items.iter().flat_map(refs).collect(),
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn every_tool_works_on_its_happy_path() {
    let dir = tempfile::tempdir().unwrap();
    let client = spawn(dir.path()).await;
    let tools = tool_map(&client).await;
    let c = &client;
    let t = &tools;

    let error = checked(
        c,
        t,
        "store_memory",
        json!({
            "kind": "error",
            "title": "SQLite 'database is locked' with concurrent writers",
            "content": "Two processes writing to one SQLite file fail with database is locked.",
            "tags": ["SQLite", "concurrency"],
            "importance": 0.8,
            "context": {"project": "mnemograph", "language": "rust", "paths": ["src/backend"]}
        }),
    )
    .await;
    let error_id = error["id"].as_str().unwrap().to_owned();
    assert_eq!(error["created"], "new");
    assert_eq!(error["version"], 1);

    // A fix stored with a link, and a near-duplicate hint pointing at the error.
    let fix = checked(
        c,
        t,
        "store_memory",
        json!({
            "kind": "fix",
            "title": "Use BEGIN IMMEDIATE for SQLite writes",
            "content": "Take the write lock up front so database is locked never reaches a caller.",
            "links": [{"target_id": error_id, "rel_type": "solves", "strength": 0.9}]
        }),
    )
    .await;
    let fix_id = fix["id"].as_str().unwrap().to_owned();
    assert_eq!(fix["links"][0]["rel_type"], "SOLVES");
    assert_eq!(fix["links"][0]["source_id"], fix_id.as_str());
    assert_eq!(fix["links"][0]["target_id"], error_id.as_str());
    // The error it solves is related, not a near-duplicate: no hint.
    assert_eq!(fix["similar"], json!([]));

    let note = store(
        c,
        "note",
        "WAL mode notes",
        "WAL lets readers run during a write",
    )
    .await;
    let rel_id = link(c, &note, &fix_id, "RELATED_TO").await;

    let got = checked(
        c,
        t,
        "get_memory",
        json!({"ids": [error_id, fix_id], "with_relationships": true}),
    )
    .await;
    assert_eq!(got["memories"].as_array().unwrap().len(), 2);
    assert_eq!(got["memories"][0]["tags"], json!(["sqlite", "concurrency"]));
    assert_eq!(got["memories"][0]["context"]["project"], "mnemograph");
    assert_eq!(
        got["memories"][1]["relationships"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(got["missing"], json!([]));

    let updated = checked(
        c,
        t,
        "update_memory",
        json!({
            "id": note, "expected_version": 1, "importance": 0.9, "tags": ["wal"]
        }),
    )
    .await;
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["tags"], json!(["wal"]));

    let found = checked(
        c,
        t,
        "search_memories",
        json!({"query": "database locked", "limit": 5}),
    )
    .await;
    assert_eq!(found["mode"], "keyword");
    let hits = found["hits"].as_array().unwrap();
    assert!(hits.iter().any(|h| h["id"] == error_id.as_str()));
    assert_eq!(hits[0]["matched_by"], "keyword");
    // Titles and snippets are in the text only, matched terms in [brackets].
    let shown = text(
        &call(
            c,
            "search_memories",
            json!({"query": "database locked", "limit": 5}),
        )
        .await,
    );
    assert!(
        shown.contains(error_id.as_str()) && shown.contains("[locked]"),
        "{shown}"
    );
    let filtered = checked(c, t, "search_memories", json!({
        "query": "database locked", "kinds": ["error"], "project": "mnemograph", "since": "2000-01-01"
    })).await;
    assert_eq!(filtered["hits"].as_array().unwrap().len(), 1);
    let paged = checked(
        c,
        t,
        "search_memories",
        json!({"query": "sqlite", "limit": 1}),
    )
    .await;
    let cursor = paged["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let second = checked(
        c,
        t,
        "search_memories",
        json!({"query": "sqlite", "limit": 1, "cursor": cursor}),
    )
    .await;
    assert_ne!(second["hits"][0]["id"], paged["hits"][0]["id"]);

    let recall = checked(
        c,
        t,
        "recall",
        json!({"query": "concurrent writers locked", "max_chars": 1500}),
    )
    .await;
    let briefing = recall["briefing"].as_str().unwrap();
    assert!(briefing.len() <= 1500 * 4 && briefing.chars().count() <= 1500);
    assert!(
        briefing.contains("BEGIN IMMEDIATE"),
        "the fix that SOLVES the error is recalled: {briefing}"
    );
    assert!(
        recall["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["reason"] == "linked" && i["rel_type"] == "SOLVES")
    );
    // The store's briefing names no tool; the server adds its own hint.
    let nothing = checked(c, t, "recall", json!({"query": "zzqx"})).await;
    assert_eq!(
        nothing["briefing"],
        "Nothing stored matches \"zzqx\". Store what you learn with store_memory."
    );

    let rel = checked(c, t, "update_relationship", json!({
        "id": rel_id, "expected_version": 1, "strength": 0.3, "note": "same topic", "valid_to": "2999-01-01"
    })).await;
    assert_eq!(rel["relationship"]["version"], 2);
    assert_eq!(rel["relationship"]["note"], "same topic");
    let cleared = checked(
        c,
        t,
        "update_relationship",
        json!({"id": rel_id, "note": "", "valid_to": ""}),
    )
    .await;
    assert_eq!(cleared["relationship"]["note"], Value::Null);
    assert_eq!(cleared["relationship"]["valid_to"], Value::Null);

    let related = checked(c, t, "get_related", json!({"id": error_id, "depth": 2})).await;
    assert_eq!(
        memory_ids(&related["neighbours"]),
        [fix_id.as_str(), note.as_str()]
    );

    let path = checked(
        c,
        t,
        "find_path",
        json!({"from_id": error_id, "to_id": note}),
    )
    .await;
    assert_eq!(path["found"], true);
    assert_eq!(path["hops"], 2);
    assert_eq!(path["memories"][1]["id"], fix_id.as_str());
    let strongest = checked(
        c,
        t,
        "find_path",
        json!({"from_id": note, "to_id": error_id, "strongest": true, "directed": true}),
    )
    .await;
    assert_eq!(strongest["hops"], 2);

    let explored = checked(c, t, "explore", json!({"ids": [fix_id]})).await;
    assert_eq!(explored["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(explored["edges"].as_array().unwrap().len(), 2);
    assert_eq!(explored["central"][0]["id"], fix_id.as_str());
    assert_eq!(explored["clusters"].as_array().unwrap().len(), 1);
    let by_query = checked(c, t, "explore", json!({"query": "WAL readers", "depth": 1})).await;
    assert!(
        by_query["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == note.as_str())
    );

    let listed = checked(c, t, "list_memories", json!({"limit": 2})).await;
    assert_eq!(listed["memories"][0]["id"], note.as_str(), "newest first");
    let rest = checked(
        c,
        t,
        "list_memories",
        json!({"cursor": listed["next_cursor"]}),
    )
    .await;
    assert_eq!(rest["memories"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);

    let stats = checked(c, t, "memory_stats", json!({})).await;
    assert_eq!(stats["memories"], 3);
    assert_eq!(stats["relationships"], 2);
    assert_eq!(stats["by_kind"]["fix"], 1);
    assert_eq!(stats["by_rel_type"]["SOLVES"], 1);
    assert_eq!(stats["embedder"], "none");
    assert_eq!(stats["sync"]["mode"], "local");
    assert_eq!(stats["sync"]["pending_writes"], 0);
    let synced = checked(c, t, "sync", json!({})).await;
    assert_eq!(synced["mode"], "local");
    assert_eq!(synced["online"], true);
    assert_eq!(stats["namespace"], "default");
    assert!(
        stats["store_path"]
            .as_str()
            .unwrap()
            .ends_with("default.db")
    );
    assert!(stats["schema_version"].as_u64().unwrap() >= 1);

    let deleted = checked(c, t, "delete_relationship", json!({"id": rel_id})).await;
    assert_eq!(deleted["deleted"], rel_id.as_str());
    let deleted = checked(c, t, "delete_memory", json!({"id": error_id})).await;
    assert_eq!(deleted["relationships_removed"], 1);
    let stats = ok(c, "memory_stats", json!({})).await;
    assert_eq!(
        (stats["memories"].as_u64(), stats["relationships"].as_u64()),
        (Some(2), Some(0))
    );

    client.cancel().await.unwrap();
}

#[tokio::test]
async fn failures_are_tool_errors_that_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let client = spawn(dir.path()).await;
    let c = &client;
    let unknown = "0190c0c0-0000-7000-8000-00000000beef";
    let a = store(c, "note", "first", "one").await;

    for (tool, args) in [
        ("get_memory", json!({"ids": [unknown]})),
        ("update_memory", json!({"id": unknown, "title": "x"})),
        ("delete_memory", json!({"id": unknown})),
        ("get_related", json!({"id": unknown})),
        ("find_path", json!({"from_id": a, "to_id": unknown})),
        ("explore", json!({"ids": [unknown]})),
        ("delete_relationship", json!({"id": unknown})),
        (
            "update_relationship",
            json!({"id": unknown, "strength": 0.1}),
        ),
        (
            "create_relationship",
            json!({"source_id": a, "target_id": unknown, "rel_type": "USES"}),
        ),
        (
            "store_memory",
            json!({"kind": "fix", "title": "t", "content": "c", "links": [{"target_id": unknown, "rel_type": "SOLVES"}]}),
        ),
    ] {
        let message = err(c, tool, args).await;
        assert!(message.contains(unknown), "{tool}: {message}");
    }
    // A link to an unknown memory stores nothing.
    assert_eq!(ok(c, "memory_stats", json!({})).await["memories"], 1);

    let message = err(c, "get_memory", json!({"ids": ["not-an-id"]})).await;
    assert!(message.contains("not-an-id"), "{message}");

    let huge = "x".repeat(64 * 1024 + 1);
    let message = err(
        c,
        "store_memory",
        json!({"kind": "note", "title": "big", "content": huge}),
    )
    .await;
    assert!(
        message.contains("content") && message.contains("65536"),
        "{message}"
    );

    ok(c, "update_memory", json!({"id": a, "content": "two"})).await;
    let message = err(
        c,
        "update_memory",
        json!({"id": a, "expected_version": 1, "content": "three"}),
    )
    .await;
    assert!(
        message.contains("version conflict") && message.contains(&a),
        "{message}"
    );
    assert_eq!(
        ok(c, "get_memory", json!({"ids": [a]})).await["memories"][0]["content"],
        "two"
    );

    let message = err(
        c,
        "search_memories",
        json!({"query": "x", "mode": "semantic"}),
    )
    .await;
    assert!(
        message.contains("embedder") && message.contains("keyword"),
        "{message}"
    );
    let message = err(
        c,
        "store_memory",
        json!({"kind": "note", "title": "t", "content": "c", "importance": 1.5}),
    )
    .await;
    assert!(message.contains("importance"), "{message}");
    let b = store(c, "note", "second", "two").await;
    let message = err(
        c,
        "create_relationship",
        json!({"source_id": a, "target_id": b, "rel_type": "1BAD"}),
    )
    .await;
    assert!(message.contains("rel_type"), "{message}");
    link(c, &a, &b, "USES").await;
    let message = err(
        c,
        "create_relationship",
        json!({"source_id": a, "target_id": b, "rel_type": "USES"}),
    )
    .await;
    assert!(message.contains("already exists"), "{message}");
    let message = err(c, "explore", json!({})).await;
    assert!(
        message.contains("ids") && message.contains("query"),
        "{message}"
    );
    let message = err(c, "get_related", json!({"id": a, "depth": 9})).await;
    assert!(message.contains("depth"), "{message}");
    let message = err(c, "list_memories", json!({"since": "last tuesday"})).await;
    assert!(message.contains("since"), "{message}");
    let message = err(c, "list_memories", json!({"cursor": "garbage"})).await;
    assert!(message.contains("cursor"), "{message}");
    // Arguments of the wrong shape are reported to the model too.
    let result = call(c, "store_memory", json!({"title": "no kind"})).await;
    assert_eq!(result.is_error, Some(true));
    assert!(text(&result).contains("kind"), "{}", text(&result));

    // The server is still fine after all that.
    assert_eq!(ok(c, "memory_stats", json!({})).await["memories"], 2);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn store_memory_makes_the_memory_and_its_links_together_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let client = spawn(dir.path()).await;
    let c = &client;
    let error = store(
        c,
        "error",
        "E0502 in the parser",
        "cannot borrow as mutable",
    )
    .await;
    let cause = store(
        c,
        "problem",
        "A loan across the loop",
        "the iterator borrows",
    )
    .await;
    let counts = || async {
        let stats = ok(c, "memory_stats", json!({})).await;
        (stats["memories"].as_u64(), stats["relationships"].as_u64())
    };
    let before = counts().await;
    let fix = |links: Value| json!({"kind": "fix", "title": "Clone first", "content": "take a copy", "links": links});

    // Each of these used to store the memory (and the links before the bad one) and then
    // fail; now nothing is stored.
    let unknown = "0190c0c0-0000-7000-8000-00000000beef";
    for (links, expect) in [
        (
            json!([{"target_id": error, "rel_type": "SOLVES"}, {"target_id": unknown, "rel_type": "SOLVES"}]),
            "nothing was stored",
        ),
        (
            json!([{"target_id": error, "rel_type": "SOLVES"}, {"target_id": error, "rel_type": "solves"}]),
            "twice",
        ),
        (
            json!([{"target_id": error, "rel_type": "SOLVES"}, {"target_id": cause, "rel_type": "1BAD"}]),
            "rel_type",
        ),
    ] {
        let message = err(c, "store_memory", fix(links)).await;
        assert!(message.contains(expect), "{message}");
        assert_eq!(counts().await, before, "after {message}");
    }

    let made = ok(
        c,
        "store_memory",
        fix(json!([
            {"target_id": error, "rel_type": "SOLVES", "note": "the fix"},
            {"target_id": cause, "rel_type": "CAUSES", "direction": "incoming"}
        ])),
    )
    .await;
    let id = made["id"].as_str().unwrap();
    let links: Vec<(&str, &str, &str)> = made["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["source_id"].as_str().unwrap(),
                l["rel_type"].as_str().unwrap(),
                l["target_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        links,
        [
            (id, "SOLVES", error.as_str()),
            (cause.as_str(), "CAUSES", id)
        ]
    );
    let (memories, relationships) = before;
    assert_eq!(
        counts().await,
        (memories.map(|n| n + 1), relationships.map(|n| n + 2))
    );

    // Deleting it reports the relationships the delete itself removed, both directions.
    let deleted = ok(c, "delete_memory", json!({"id": id.to_uppercase()})).await;
    assert_eq!(deleted["deleted"], id);
    assert_eq!(deleted["relationships_removed"], 2);
    assert_eq!(counts().await, before);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn get_memory_finds_an_id_however_it_is_spelled_and_lists_only_the_missing() {
    let dir = tempfile::tempdir().unwrap();
    let client = spawn(dir.path()).await;
    let c = &client;
    let id = store(c, "note", "Spelled three ways", "one memory").await;
    let braces = format!("{{{}}}", id.to_uppercase());
    let bare = id.replace('-', "");
    let unknown = "0190c0c0-0000-7000-8000-00000000beef";
    let got = ok(
        c,
        "get_memory",
        json!({"ids": [braces, bare, unknown, "not-an-id"]}),
    )
    .await;
    let found: Vec<&str> = got["memories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(found, [id.as_str(), id.as_str()]);
    // Found ids are not reported missing as well, whatever their spelling.
    assert_eq!(got["missing"], json!([unknown, "not-an-id"]));
    let message = err(c, "get_memory", json!({"ids": [unknown, "not-an-id"]})).await;
    assert!(
        message.contains(unknown) && message.contains("not-an-id"),
        "{message}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn recall_briefings_point_at_the_tools() {
    let dir = tempfile::tempdir().unwrap();
    let client = spawn(dir.path()).await;
    let c = &client;
    let nothing = ok(c, "recall", json!({"query": "parser"})).await;
    assert_eq!(
        nothing["briefing"],
        "Nothing stored matches \"parser\". Store what you learn with store_memory."
    );
    for i in 0..6 {
        store(
            c,
            "note",
            &format!("parser note {i}"),
            &"parser details ".repeat(100),
        )
        .await;
    }
    let cut = ok(c, "recall", json!({"query": "parser", "max_chars": 400})).await;
    let briefing = cut["briefing"].as_str().unwrap();
    assert!(
        briefing.ends_with(
            "more relevant memories not shown; raise max_chars or get_memory them by id.)"
        ),
        "{briefing}"
    );
    assert!(briefing.chars().count() <= 400, "{briefing}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn get_related_walks_as_deep_as_asked() {
    let dir = tempfile::tempdir().unwrap();
    let client = spawn(dir.path()).await;
    let c = &client;
    let mut chain = Vec::new();
    for i in 0..5 {
        chain.push(store(c, "concept", &format!("step {i}"), "a link in a chain").await);
    }
    for pair in chain.windows(2) {
        link(c, &pair[0], &pair[1], "DEPENDS_ON").await;
    }
    let side = store(c, "note", "aside", "hangs off step 1").await;
    link(c, &chain[1], &side, "RELATED_TO").await;

    let walk = |args: Value| async move {
        let data = ok(c, "get_related", args).await;
        data["neighbours"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["memory"]["id"].as_str().unwrap().to_owned(),
                    n["depth"].as_u64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let depth = |d: u64| walk(json!({"id": chain[0], "depth": d, "direction": "outgoing"}));
    assert_eq!(depth(1).await, [(chain[1].clone(), 1)]);
    let two = depth(2).await;
    assert_eq!(two.len(), 3);
    assert!(two.contains(&(chain[2].clone(), 2)) && two.contains(&(side.clone(), 2)));
    let four = depth(4).await;
    assert_eq!(four.len(), 5);
    assert!(four.contains(&(chain[4].clone(), 4)));

    let typed = walk(json!({"id": chain[0], "depth": 4, "types": ["DEPENDS_ON"]})).await;
    assert_eq!(
        typed.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        chain[1..].to_vec()
    );
    let incoming = walk(json!({"id": chain[2], "depth": 6, "direction": "incoming"})).await;
    assert_eq!(incoming, [(chain[1].clone(), 1), (chain[0].clone(), 2)]);
    let limited = walk(json!({"id": chain[0], "depth": 4, "limit": 2})).await;
    assert_eq!(limited.len(), 2);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn memories_are_resources() {
    let dir = tempfile::tempdir().unwrap();
    let client = spawn(dir.path()).await;
    let id = store(&client, "decision", "Use libSQL", "one file per namespace").await;

    let resources = client.list_all_resources().await.unwrap();
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        ["memory://recent".to_owned(), format!("memory://{id}")]
    );
    let templates = client.list_all_resource_templates().await.unwrap();
    assert_eq!(templates[0].uri_template, "memory://{id}");

    let read = |uri: String| {
        let client = &client;
        async move {
            client
                .read_resource(ReadResourceRequestParams::new(uri))
                .await
        }
    };
    let contents = read(format!("memory://{id}")).await.unwrap().contents;
    let body = serde_json::to_value(&contents[0]).unwrap();
    assert!(body["text"].as_str().unwrap().contains("Use libSQL"));
    let recent = read("memory://recent".into()).await.unwrap().contents;
    assert!(
        serde_json::to_value(&recent[0]).unwrap()["text"]
            .as_str()
            .unwrap()
            .contains(&id)
    );
    assert!(
        read("memory://0190c0c0-0000-7000-8000-00000000beef".into())
            .await
            .is_err()
    );
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_servers_lose_no_acknowledged_write() {
    const PER_WRITER: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let servers = [spawn(dir.path()).await, spawn(dir.path()).await];

    let mut writers = Vec::new();
    for (s, server) in servers.iter().enumerate() {
        for w in 0..2 {
            let peer = server.peer().clone();
            writers.push(tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for i in 0..PER_WRITER {
                    let args = json!({
                        "kind": "note",
                        "title": format!("server {s} writer {w} memory {i}"),
                        "content": "written under contention",
                    });
                    let Value::Object(args) = args else {
                        unreachable!()
                    };
                    let result = peer
                        .call_tool(
                            rmcp::model::CallToolRequestParams::new("store_memory")
                                .with_arguments(args),
                        )
                        .await
                        .expect("protocol");
                    assert_eq!(
                        result.is_error,
                        Some(false),
                        "write failed: {}",
                        text(&result)
                    );
                    let id = result.structured_content.unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    acknowledged.push(id);
                }
                acknowledged
            }));
        }
    }
    let mut acknowledged = BTreeSet::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert_eq!(acknowledged.len(), 4 * PER_WRITER);
    for server in servers {
        server.cancel().await.unwrap();
    }

    // A fresh process sees every acknowledged write.
    let reader = spawn(dir.path()).await;
    let mut seen = BTreeSet::new();
    let mut cursor = Value::Null;
    loop {
        let page = ok(
            &reader,
            "list_memories",
            json!({"limit": 50, "cursor": cursor}),
        )
        .await;
        for m in page["memories"].as_array().unwrap() {
            seen.insert(m["id"].as_str().unwrap().to_owned());
        }
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(seen, acknowledged);
    reader.cancel().await.unwrap();
}

/// Spawns the server with plain pipes, initialises it by hand and returns the child.
fn spawn_raw(dir: &std::path::Path) -> std::process::Child {
    let cmd = support::command(dir);
    let mut cmd: Command = cmd.into_std();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = child.stdin.as_mut().unwrap();
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#
    )
    .unwrap();
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"store_memory","arguments":{{"kind":"note","title":"t","content":"c"}}}}}}"#
    )
    .unwrap();
    stdin.flush().unwrap();
    child
}

fn wait(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn stdout_is_json_rpc_only_and_stdin_eof_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_raw(dir.path());
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = stdout.lines();
    // Wait for the store_memory answer, then close stdin.
    let mut answers = Vec::new();
    while answers.len() < 2 {
        let line = lines.next().expect("an answer").unwrap();
        let message: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON-RPC: {line}"));
        assert_eq!(message["jsonrpc"], "2.0", "{line}");
        answers.push(message);
    }
    assert_eq!(answers[1]["result"]["isError"], false);
    drop(child.stdin.take());
    assert!(wait(&mut child).success());
    for line in lines {
        let line = line.unwrap();
        assert!(
            serde_json::from_str::<Value>(&line).is_ok(),
            "not JSON-RPC: {line}"
        );
    }
}

#[cfg(unix)]
/// The requests `spawn_raw` sends, as lines.
const RAW_SESSION: &str = concat!(
    r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
    "\n",
    r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    "\n",
    r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"store_memory","arguments":{"kind":"note","title":"t","content":"c"}}}"#,
    "\n",
);

#[test]
fn stdin_and_stdout_may_be_files_as_well_as_pipes() {
    let dir = tempfile::tempdir().unwrap();
    let requests = dir.path().join("requests.jsonl");
    std::fs::write(&requests, RAW_SESSION).unwrap();
    let answers = dir.path().join("answers.jsonl");
    let status = support::command(dir.path())
        .into_std()
        .stdin(std::fs::File::open(&requests).unwrap())
        .stdout(std::fs::File::create(&answers).unwrap())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let written = std::fs::read_to_string(&answers).unwrap();
    let lines: Vec<Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON-RPC: {l}")))
        .collect();
    assert_eq!(lines.len(), 2, "{written}");
    assert_eq!(lines[0]["id"], 1);
    assert_eq!(lines[1]["id"], 2);
    assert_eq!(lines[1]["result"]["isError"], false, "{written}");
}

/// Whether the pipe behind `fd` is in non-blocking mode.
fn non_blocking(fd: impl std::os::fd::AsFd) -> bool {
    rustix::fs::fcntl_getfl(fd)
        .unwrap()
        .contains(rustix::fs::OFlags::NONBLOCK)
}

#[test]
fn pipes_are_read_by_the_event_loop_and_left_as_they_were_found() {
    let dir = tempfile::tempdir().unwrap();
    // Both ends of each pipe stay here too, so their mode can be read from this side.
    let (stdin_read, mut stdin_write) = std::io::pipe().unwrap();
    let (stdout_read, stdout_write) = std::io::pipe().unwrap();
    let mut child = support::command(dir.path())
        .into_std()
        .stdin(stdin_read.try_clone().unwrap())
        .stdout(stdout_write.try_clone().unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    stdin_write.write_all(RAW_SESSION.as_bytes()).unwrap();
    let mut answers = BufReader::new(stdout_read).lines();
    for id in [1, 2] {
        let line = answers.next().expect("an answer").unwrap();
        let message: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(message["id"], id, "{line}");
    }
    // Serving: the pipes are waited on in non-blocking mode, not read by a blocking thread.
    assert!(non_blocking(&stdin_read), "stdin is read in blocking mode");
    assert!(
        non_blocking(&stdout_write),
        "stdout is written in blocking mode"
    );
    drop(stdin_write);
    assert!(wait(&mut child).success());
    assert!(
        !non_blocking(&stdin_read),
        "stdin left in non-blocking mode"
    );
    assert!(
        !non_blocking(&stdout_write),
        "stdout left in non-blocking mode"
    );
}

#[test]
fn sigterm_and_sigint_stop_the_server_cleanly() {
    for signal in ["-TERM", "-INT"] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = spawn_raw(dir.path());
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        // The store_memory answer is the second line: the write was acknowledged.
        let mut line = String::new();
        for _ in 0..2 {
            line.clear();
            stdout.read_line(&mut line).unwrap();
        }
        assert!(line.contains("\"isError\":false"), "{line}");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(wait(&mut child).success(), "{signal}");
    }
}

#[test]
fn help_explains_configuration_and_version_works() {
    let help = Command::new(env!("CARGO_BIN_EXE_mnemograph"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    for needle in [
        "MNEMOGRAPH_DATA_DIR",
        "MNEMOGRAPH_NAMESPACE",
        "MNEMOGRAPH_DB",
        "MNEMOGRAPH_CONFIG",
        "MNEMOGRAPH_LOG",
        "MNEMOGRAPH_LOG_FILE",
        "--limit",
        "stdout",
        "SIGTERM",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
    let version = Command::new(env!("CARGO_BIN_EXE_mnemograph"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(version.stdout).unwrap().trim(),
        format!("mnemograph {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn bad_configuration_fails_fast_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = support::command(dir.path()).into_std();
    let output = cmd
        .env("MNEMOGRAPH_NAMESPACE", "../escape")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing but JSON-RPC on stdout");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("invalid namespace") && stderr.contains("MNEMOGRAPH_NAMESPACE"),
        "{stderr}"
    );
}

/// Started by hand in a terminal, the server says on stderr what it is waiting for; started
/// by a client (stdin a pipe, every other test) it says nothing there.
#[test]
fn started_in_a_terminal_the_server_says_it_waits_for_a_client() {
    use std::io::Read;
    let Some(script) = support::on_path("script") else {
        support::skip("the server's terminal hint: `script` (util-linux) is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(script);
    support::isolate(&mut cmd, &dir.path().join("config"));
    // `script` runs the server on a new pseudo-terminal and copies what it prints to stdout.
    let mut child = cmd
        .env("MNEMOGRAPH_DATA_DIR", dir.path().join("data"))
        .args([
            "-q",
            "-e",
            "-c",
            env!("CARGO_BIN_EXE_mnemograph"),
            "/dev/null",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("Ctrl-C quits") {
        let n = out.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "the server ended without the hint: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let text = String::from_utf8_lossy(&seen);
    assert!(
        text.contains("waiting for an MCP client on stdin"),
        "{text}"
    );
}
