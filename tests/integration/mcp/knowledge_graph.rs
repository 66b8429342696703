//! `--profile knowledge-graph`: the reference MCP memory server's tools over this store.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::client::{self, Client, err, ok, spawn, spawn_with, text};
use crate::support::schema::validate;

const TOOLS: [&str; 9] = [
    "add_observations",
    "create_entities",
    "create_relations",
    "delete_entities",
    "delete_observations",
    "delete_relations",
    "open_nodes",
    "read_graph",
    "search_nodes",
];

async fn kg(dir: &std::path::Path) -> Client {
    spawn_with(dir, &["--profile", "knowledge-graph"]).await
}

/// Calls a tool, checks its structured content against its output schema, and checks that
/// its text is the JSON the reference server prints (for tools that answer with data).
async fn call(client: &Client, tool: &str, args: Value) -> Value {
    let tools = client.list_all_tools().await.unwrap();
    let schema = tools
        .iter()
        .find(|t| t.name == tool)
        .unwrap()
        .output_schema
        .clone()
        .unwrap();
    let data = ok(client, tool, args).await;
    validate(&data, &schema).unwrap_or_else(|e| panic!("{tool}: {e}\n{data:#}"));
    data
}

fn names(entities: &Value) -> Vec<&str> {
    entities
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_reference_tools_work_over_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let client = kg(dir.path()).await;
    let tools: BTreeSet<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(tools, TOOLS.iter().map(|t| t.to_string()).collect());
    for tool in client.list_all_tools().await.unwrap() {
        assert!(
            tool.title.is_some() && tool.annotations.is_some(),
            "{}",
            tool.name
        );
    }

    let created = call(&client, "create_entities", json!({"entities": [
        {"name": "John Smith", "entityType": "Person", "observations": ["Speaks fluent Spanish", "Lives in Madrid"]},
        {"name": "Anthropic", "entityType": "organization", "observations": []},
        {"name": "John Smith", "entityType": "person", "observations": ["duplicate in the same call"]}
    ]})).await;
    assert_eq!(names(&created["entities"]), ["John Smith", "Anthropic"]);
    // Existing names are skipped, as in the reference server.
    let again = call(
        &client,
        "create_entities",
        json!({"entities": [{"name": "Anthropic", "entityType": "x", "observations": []}]}),
    )
    .await;
    assert_eq!(again["entities"], json!([]));

    let relations = call(
        &client,
        "create_relations",
        json!({"relations": [
            {"from": "John Smith", "to": "Anthropic", "relationType": "works at"},
            {"from": "John Smith", "to": "Anthropic", "relationType": "works at"}
        ]}),
    )
    .await;
    assert_eq!(relations["relations"].as_array().unwrap().len(), 1);

    let added = call(&client, "add_observations", json!({"observations": [
        {"entityName": "Anthropic", "contents": ["AI safety company", "Based in San Francisco"]},
        {"entityName": "Anthropic", "contents": ["AI safety company", "Makes Claude"]}
    ]})).await;
    assert_eq!(
        added["results"][0]["addedObservations"],
        json!(["AI safety company", "Based in San Francisco"])
    );
    assert_eq!(
        added["results"][1]["addedObservations"],
        json!(["Makes Claude"])
    );

    let graph = call(&client, "read_graph", json!({})).await;
    assert_eq!(
        graph["entities"],
        json!([
            {"name": "John Smith", "entityType": "Person", "observations": ["Speaks fluent Spanish", "Lives in Madrid"]},
            {"name": "Anthropic", "entityType": "organization", "observations": ["AI safety company", "Based in San Francisco", "Makes Claude"]}
        ])
    );
    assert_eq!(
        graph["relations"],
        json!([{"from": "John Smith", "to": "Anthropic", "relationType": "works at"}])
    );

    // Like the reference server, the relations touching a match, wherever they lead.
    let found = call(&client, "search_nodes", json!({"query": "madr"})).await;
    assert_eq!(names(&found["entities"]), ["John Smith"]);
    assert_eq!(
        found["relations"],
        json!([{"from": "John Smith", "to": "Anthropic", "relationType": "works at"}])
    );
    let by_type = call(&client, "search_nodes", json!({"query": "ORGANIZ"})).await;
    assert_eq!(names(&by_type["entities"]), ["Anthropic"]);
    let opened = call(
        &client,
        "open_nodes",
        json!({"names": ["John Smith", "Anthropic", "Nobody"]}),
    )
    .await;
    assert_eq!(opened["entities"].as_array().unwrap().len(), 2);
    assert_eq!(opened["relations"].as_array().unwrap().len(), 1);

    call(&client, "delete_observations", json!({"deletions": [
        {"entityName": "Anthropic", "observations": ["Based in San Francisco", "AI safety company", "Makes Claude"]},
        {"entityName": "Nobody", "observations": ["x"]}
    ]})).await;
    let opened = call(&client, "open_nodes", json!({"names": ["Anthropic"]})).await;
    assert_eq!(opened["entities"][0]["observations"], json!([]));

    call(&client, "delete_relations", json!({"relations": [{"from": "John Smith", "to": "Anthropic", "relationType": "works at"}]})).await;
    assert_eq!(
        call(&client, "read_graph", json!({})).await["relations"],
        json!([])
    );
    call(
        &client,
        "create_relations",
        json!({"relations": [{"from": "John Smith", "to": "Anthropic", "relationType": "knows"}]}),
    )
    .await;
    let done = call(
        &client,
        "delete_entities",
        json!({"entityNames": ["Anthropic", "Anthropic", "Nobody"]}),
    )
    .await;
    assert_eq!(done["success"], true);
    let graph = call(&client, "read_graph", json!({})).await;
    assert_eq!(names(&graph["entities"]), ["John Smith"]);
    assert_eq!(
        graph["relations"],
        json!([]),
        "relations go with their entities"
    );

    // The text is the JSON the reference server prints.
    let result = client::call(&client, "open_nodes", json!({"names": ["John Smith"]})).await;
    let printed: Value = serde_json::from_str(&text(&result)).unwrap();
    assert_eq!(printed, result.structured_content.unwrap());

    let message = err(
        &client,
        "add_observations",
        json!({"observations": [{"entityName": "Nobody", "contents": ["x"]}]}),
    )
    .await;
    assert_eq!(message, "Entity with name Nobody not found");
    let message = err(
        &client,
        "create_relations",
        json!({"relations": [{"from": "Nobody", "to": "John Smith", "relationType": "knows"}]}),
    )
    .await;
    assert!(message.contains("Nobody"), "{message}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn both_profiles_share_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let graph = kg(dir.path()).await;
    call(&graph, "create_entities", json!({"entities": [
        {"name": "tokio", "entityType": "technology", "observations": ["async runtime", "spawn_blocking for sync work"]}
    ]})).await;
    graph.cancel().await.unwrap();

    let memory = spawn(dir.path()).await;
    let hits = ok(
        &memory,
        "search_memories",
        json!({"query": "spawn_blocking"}),
    )
    .await;
    assert_eq!(hits["hits"][0]["kind"], "technology");
    let id = hits["hits"][0]["id"].as_str().unwrap().to_owned();
    let memory_of = ok(&memory, "get_memory", json!({"ids": [id]})).await;
    assert_eq!(memory_of["memories"][0]["title"], "tokio");
    let other = ok(&memory, "store_memory", json!({"kind": "note", "title": "blocking pool", "content": "sized by max_blocking_threads"})).await;
    ok(
        &memory,
        "create_relationship",
        json!({"source_id": id, "target_id": other["id"], "rel_type": "USES"}),
    )
    .await;
    memory.cancel().await.unwrap();

    let graph = kg(dir.path()).await;
    let all = call(&graph, "read_graph", json!({})).await;
    assert_eq!(names(&all["entities"]), ["tokio", "blocking pool"]);
    assert_eq!(
        all["relations"],
        json!([{"from": "tokio", "to": "blocking pool", "relationType": "USES"}])
    );
    graph.cancel().await.unwrap();
}
