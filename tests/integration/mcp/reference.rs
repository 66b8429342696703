//! The knowledge-graph profile side by side with the reference server
//! (`@modelcontextprotocol/server-memory`): the same calls, in the same order, on an empty
//! store, must give the answers it gave. Its answers were recorded by running it:
//! `node tests/integration/fixtures/reference_server/record.mjs` (see that script) writes
//! `answers.json`, which is committed, so this test needs neither Node nor the network.
//!
//! What is normalised, and why: JSON text answers are compared as JSON (the reference
//! indents with two spaces like us, but key order and spacing are not a contract), and a
//! tool error's message is our own (the reference server's is a bare exception message), so
//! for errors only the error flag and the name it is about are compared.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::client::{call, spawn_with, text};

const RECORDING: &str = include_str!("../fixtures/reference_server/answers.json");

/// The names in a JSON array of strings.
fn names(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_knowledge_graph_profile_answers_as_the_reference_server_did() {
    let recording: Value = serde_json::from_str(RECORDING).expect("answers.json is JSON");
    let dir = tempfile::tempdir().unwrap();
    let client = spawn_with(dir.path(), &["--profile", "knowledge-graph"]).await;

    let ours = client.list_all_tools().await.unwrap();
    let theirs = recording["tools"].as_array().expect("recorded tools");
    assert_eq!(
        ours.iter()
            .map(|t| t.name.to_string())
            .collect::<BTreeSet<_>>(),
        theirs
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect::<BTreeSet<_>>(),
        "the same nine tools"
    );
    for recorded in theirs {
        let name = recorded["name"].as_str().unwrap();
        let tool = ours.iter().find(|t| t.name == name).unwrap();
        let schema = &tool.input_schema;
        let arguments: BTreeSet<String> = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(arguments, names(&recorded["arguments"]), "{name} arguments");
        assert_eq!(
            names(schema.get("required").unwrap_or(&Value::Null)),
            names(&recorded["required"]),
            "{name} required arguments"
        );
    }

    let calls = recording["calls"].as_array().expect("recorded calls");
    assert!(calls.len() >= 9, "every tool is called");
    for (i, recorded) in calls.iter().enumerate() {
        let tool = recorded["tool"].as_str().unwrap();
        let result = call(&client, tool, recorded["arguments"].clone()).await;
        let what = format!("call {i}, {tool} {}", recorded["arguments"]);
        let said = text(&result);
        assert_eq!(
            Value::Bool(result.is_error.unwrap_or(false)),
            recorded["isError"],
            "{what}: {said}"
        );
        if recorded["isError"] == Value::Bool(true) {
            // The reference says "Entity with name Nobody not found"; ours names it too.
            let about = recorded["text"]
                .as_str()
                .and_then(|t| t.split_whitespace().nth(3))
                .unwrap_or_default();
            assert!(said.contains(about), "{what}: {said}");
            continue;
        }
        assert_eq!(
            result.structured_content.clone().unwrap_or(Value::Null),
            recorded["structuredContent"],
            "{what}: structured content"
        );
        let expected = recorded["text"].as_str().unwrap();
        match serde_json::from_str::<Value>(expected) {
            Ok(json) => assert_eq!(
                serde_json::from_str::<Value>(&said).ok(),
                Some(json),
                "{what}: text"
            ),
            Err(_) => assert_eq!(said, expected, "{what}: text"),
        }
    }
    client.cancel().await.unwrap();
}
