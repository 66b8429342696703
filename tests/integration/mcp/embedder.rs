//! The MCP server with the built-in embedder: it answers at once while the model loads in the
//! background, then searches in hybrid mode by default, embeds what it stores and reports the
//! embedder in memory_stats. Without a model directory it keeps working by keyword and says
//! what to configure.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support;
use crate::support::client::{self, Client, ok};

/// The server with the Model2Vec embedder: the built-in model, or a model directory that
/// does not exist.
async fn spawn_with_model(dir: &Path, model: bool) -> Client {
    let mut cmd = support::command(dir);
    support::with_model(cmd.as_std_mut());
    if !model {
        cmd.env("MNEMOGRAPH_MODEL_DIR", dir.join("no-such-model"));
    }
    client::connect(cmd).await
}

/// memory_stats once the embedder has left the loading state.
async fn settled_stats(client: &Client) -> Value {
    for _ in 0..200 {
        let stats = ok(client, "memory_stats", json!({})).await;
        if stats["embedder_state"] != "loading" {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the embedder is still loading after 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_embeds_and_searches_hybrid_once_the_model_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let client = spawn_with_model(dir.path(), true).await;
    let stats = settled_stats(&client).await;
    assert_eq!(stats["embedder_state"], "ready", "{stats}");
    assert_eq!(stats["embedding_dim"], 256);
    assert!(
        stats["embedder"]
            .as_str()
            .unwrap()
            .starts_with("model2vec/m2v-minilm-int8@")
    );

    let stored = ok(
        &client,
        "store_memory",
        json!({"kind": "fix", "title": "SQLITE_BUSY under concurrent writes",
               "content": "Set busy_timeout so a writer waits for the lock instead of failing."}),
    )
    .await;
    ok(
        &client,
        "store_memory",
        json!({"kind": "note", "title": "Team lunch", "content": "Fridays at noon."}),
    )
    .await;
    let stats = ok(&client, "memory_stats", json!({})).await;
    assert_eq!(
        (
            stats["embedded"].clone(),
            stats["pending_embeddings"].clone()
        ),
        (json!(2), json!(0))
    );

    let found = ok(
        &client,
        "search_memories",
        json!({"query": "database locked when two processes write"}),
    )
    .await;
    assert_eq!(found["mode"], "hybrid");
    let top = &found["hits"][0];
    assert_eq!(top["id"], stored["id"]);
    assert_eq!(top["matched_by"], "both");
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_broken_model_directory_the_server_works_by_keyword_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let client = spawn_with_model(dir.path(), false).await;
    let stats = settled_stats(&client).await;
    assert_eq!(stats["embedder_state"], "failed");
    assert_eq!(stats["embedder"], "model2vec");
    assert!(
        stats["embedder_detail"]
            .as_str()
            .unwrap()
            .contains("MNEMOGRAPH_MODEL_DIR")
    );
    ok(
        &client,
        "store_memory",
        json!({"kind": "note", "title": "Kept", "content": "stored without a vector"}),
    )
    .await;
    let found = ok(&client, "search_memories", json!({"query": "kept"})).await;
    assert_eq!(found["mode"], "keyword");
    assert_eq!(found["hits"].as_array().unwrap().len(), 1);
    let message = client::err(
        &client,
        "search_memories",
        json!({"query": "kept", "mode": "semantic"}),
    )
    .await;
    assert!(message.contains("MNEMOGRAPH_MODEL_DIR"), "{message}");
    client.cancel().await.unwrap();
}

/// With nothing configured — no embedder setting, no model directory, no download — the
/// server embeds with the model compiled into it and searches hybrid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_configuration_the_built_in_model_searches_by_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = support::command(dir.path());
    cmd.env_remove("MNEMOGRAPH_EMBEDDER");
    let client = client::connect(cmd).await;
    let stats = settled_stats(&client).await;
    assert_eq!(stats["embedder_state"], "ready", "{stats}");
    assert!(
        stats["embedder"]
            .as_str()
            .unwrap()
            .starts_with("model2vec/m2v-minilm-int8@"),
        "{stats}"
    );
    ok(
        &client,
        "store_memory",
        json!({"kind": "fix", "title": "Retry when SQLite reports busy",
               "content": "A busy timeout lets a writer wait for the lock."}),
    )
    .await;
    let found = ok(
        &client,
        "search_memories",
        json!({"query": "database locked by another process"}),
    )
    .await;
    assert_eq!(found["mode"], "hybrid", "{found}");
    assert!(
        matches!(
            found["hits"][0]["matched_by"].as_str(),
            Some("semantic" | "both")
        ),
        "{found}"
    );
    client.cancel().await.unwrap();
}
