//! What the server costs a model in context, held to the budgets: the tool list every
//! session reads, the instructions, and a search answer. Sizes are deterministic, so they are
//! asserted; each test prints its figures for BENCHMARKS.md.

use serde_json::{Value, json};

use crate::support::client::{call, ok, spawn_with, text};

/// `tools/list` of the default profile, in characters of its JSON.
const TOOLS_LIST_BUDGET: usize = 20_000;
/// The instructions sent at initialisation, in bytes.
const INSTRUCTIONS_BUDGET: usize = 2_048;
/// Text and structured content of a 10-hit search answer together, in bytes.
const SEARCH_ANSWER_BUDGET: usize = 4_096;

#[tokio::test]
async fn the_tool_list_and_instructions_fit_their_budgets() {
    let dir = tempfile::tempdir().unwrap();
    let client = spawn_with(dir.path(), &[]).await;
    let tools = client.list_all_tools().await.unwrap();
    let listed = serde_json::to_string(&tools).unwrap().chars().count();
    let instructions = client
        .peer_info()
        .and_then(|info| info.instructions.clone())
        .unwrap_or_default()
        .len();
    println!("tools/list {listed} characters, instructions {instructions} bytes");
    assert!(
        listed <= TOOLS_LIST_BUDGET,
        "tools/list is {listed} characters, over {TOOLS_LIST_BUDGET}"
    );
    assert!(
        instructions <= INSTRUCTIONS_BUDGET,
        "instructions are {instructions} bytes, over {INSTRUCTIONS_BUDGET}"
    );
    // Lean, not mute: every tool still says what it is for and takes strict arguments.
    for tool in &tools {
        assert!(
            tool.description.as_deref().is_some_and(|d| d.len() >= 60),
            "{} says too little",
            tool.name
        );
        assert!(
            tool.output_schema.is_none(),
            "{} lists an output schema",
            tool.name
        );
        assert_eq!(
            tool.input_schema.get("additionalProperties"),
            Some(&json!(false))
        );
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_ten_hit_search_answer_fits_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    let client = spawn_with(dir.path(), &[]).await;
    // Memories the size an assistant writes: a title of about 80 characters, a paragraph.
    for i in 0..12 {
        ok(
            &client,
            "store_memory",
            json!({
                "kind": "fix",
                "title": format!("SQLite 'database is locked' with {i} concurrent writers: use BEGIN IMMEDIATE"),
                "content": format!(
                    "Two MCP servers on one store file failed with SQLITE_BUSY when both wrote at \
                     once (case {i}). A deferred transaction that reads and then writes cannot \
                     wait for the lock, whatever the busy timeout, so the second writer fails at \
                     once. Taking the write lock up front with BEGIN IMMEDIATE makes it wait its \
                     turn instead; a busy timeout of five seconds covers the longest import."
                ),
                "tags": ["sqlite", "concurrency", "locking"],
                "context": {"project": "mnemograph", "paths": ["src/backend/libsql/pool.rs"]},
            }),
        )
        .await;
    }
    let answer = call(
        &client,
        "search_memories",
        json!({"query": "sqlite database locked concurrent writers", "limit": 10}),
    )
    .await;
    let structured = answer.structured_content.clone().unwrap_or(Value::Null);
    assert_eq!(structured["hits"].as_array().map(Vec::len), Some(10));
    let (text, data) = (text(&answer).len(), structured.to_string().len());
    println!(
        "10-hit search answer: text {text} + structured {data} = {} bytes",
        text + data
    );
    assert!(
        text + data <= SEARCH_ANSWER_BUDGET,
        "a 10-hit search answer is {} bytes, over {SEARCH_ANSWER_BUDGET}",
        text + data
    );
    client.cancel().await.unwrap();
}
