//! `memory_stats` of a long-running server stays exact while it writes and while another
//! process (the real `memctl`) writes to the same store: the server keeps its figures by the
//! changes of its own writes and counts again when anyone else committed (`tally.rs`). Each
//! step compares the server's figures with a fresh count by a new `memctl stats`.

use serde_json::{Value, json};

use crate::support::client::{Client, ok, spawn};
use crate::support::memctl;

/// The figures both report, in one shape: totals and the groups as maps.
fn figures(v: &Value) -> Value {
    json!({
        "memories": v["memories"],
        "relationships": v["relationships"],
        "embedded": v["embedded"],
        "by_kind": v["by_kind"],
        "by_rel_type": v["by_rel_type"],
    })
}

/// The server's figures must equal a fresh count by another process, and say `memories`.
async fn agree(server: &Client, dir: &std::path::Path, memories: u64, step: &str) {
    let served = figures(&ok(server, "memory_stats", json!({})).await);
    let counted = figures(&memctl::json(dir, &["stats"]));
    assert_eq!(served, counted, "after {step}");
    assert_eq!(served["memories"], memories, "after {step}");
}

async fn store(server: &Client, kind: &str, title: &str) -> String {
    let stored = ok(
        server,
        "store_memory",
        json!({"kind": kind, "title": title, "content": format!("{title}, in detail.")}),
    )
    .await;
    stored["id"].as_str().unwrap().to_owned()
}

fn add(dir: &std::path::Path, kind: &str, title: &str) -> String {
    let added = memctl::json(
        dir,
        &["add", "-k", kind, "-t", title, "-c", "Added by memctl."],
    );
    added["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn stats_stay_exact_through_own_and_foreign_writes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = spawn(d).await;
    let fix = store(&server, "fix", "Retry on busy").await;
    agree(&server, d, 1, "the first store").await;

    // The server's own writes: memories, a relationship, a kind changed.
    let error = store(&server, "error", "Database is locked").await;
    let note = store(&server, "note", "Busy timeout is five seconds").await;
    ok(
        &server,
        "create_relationship",
        json!({"source_id": fix, "target_id": error, "rel_type": "SOLVES"}),
    )
    .await;
    let related = ok(
        &server,
        "create_relationship",
        json!({"source_id": note, "target_id": error, "rel_type": "RELATED_TO"}),
    )
    .await;
    agree(&server, d, 3, "the server's stores and links").await;
    ok(
        &server,
        "update_memory",
        json!({"id": note, "kind": "decision"}),
    )
    .await;
    ok(
        &server,
        "update_memory",
        json!({"id": note, "importance": 0.9}),
    )
    .await;
    agree(&server, d, 3, "a kind changed").await;

    // Another process writes; the server has not written since.
    let foreign = add(d, "pattern", "Backoff with jitter");
    memctl::ok(d, &["link", &foreign, "SOLVES", &error]);
    agree(&server, d, 4, "memctl's add and link").await;

    // Another process writes, then the server writes before anyone asks for figures.
    let second = add(d, "pattern", "Exponential backoff");
    store(&server, "fix", "Close idle connections").await;
    agree(&server, d, 6, "memctl's add then the server's store").await;

    // Deletes: the server's cascades through relationships, memctl's too.
    ok(
        &server,
        "delete_relationship",
        json!({"id": related["relationship"]["id"]}),
    )
    .await;
    ok(&server, "delete_memory", json!({"id": error})).await;
    agree(&server, d, 5, "the server's deletes").await;
    memctl::ok(d, &["rm", "--yes", &second]);
    memctl::ok(d, &["rm", "--yes", &foreign]);
    agree(&server, d, 3, "memctl's deletes").await;

    // Failed writes change nothing.
    let missing = uuid::Uuid::now_v7().to_string();
    let failed =
        crate::support::client::call(&server, "delete_memory", json!({"id": missing})).await;
    assert_eq!(failed.is_error, Some(true));
    agree(&server, d, 3, "a failed delete").await;
    server.cancel().await.unwrap();
}
