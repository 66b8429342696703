//! The tool schemas of both profiles, read over real stdio and held to JSON Schema 2020-12 by
//! a real validator, and the arguments they do not declare refused as tool errors.

use rmcp::model::Tool;
use serde_json::{Map, Value, json};

use crate::support::client::{Client, err, ok, spawn, spawn_with};

/// Formats a client can be expected to know: JSON Schema 2020-12's own, and the numeric ones
/// of OpenAPI that schemars writes for signed integers and floats.
const KNOWN_FORMATS: [&str; 10] = [
    "date-time",
    "date",
    "time",
    "duration",
    "uri",
    "uuid",
    "int32",
    "int64",
    "float",
    "double",
];

/// Every subschema of `schema` with its path: the values of schema keywords, not of
/// `properties`/`$defs` names or of `default`, `examples`, `const` and `enum` data.
fn subschemas<'a>(schema: &'a Value, at: String, found: &mut Vec<(String, &'a Value)>) {
    found.push((at.clone(), schema));
    let Some(object) = schema.as_object() else {
        return;
    };
    for (key, value) in object {
        match key.as_str() {
            "properties" | "$defs" | "patternProperties" => {
                for (name, inner) in value.as_object().into_iter().flatten() {
                    subschemas(inner, format!("{at}/{key}/{name}"), found);
                }
            }
            "anyOf" | "oneOf" | "allOf" | "prefixItems" => {
                for (i, inner) in value.as_array().into_iter().flatten().enumerate() {
                    subschemas(inner, format!("{at}/{key}/{i}"), found);
                }
            }
            "items"
            | "additionalProperties"
            | "not"
            | "if"
            | "then"
            | "else"
            | "unevaluatedProperties"
            | "contains"
            | "propertyNames" => {
                subschemas(value, format!("{at}/{key}"), found);
            }
            _ => {}
        }
    }
}

fn is_object_schema(schema: &Map<String, Value>) -> bool {
    schema.contains_key("properties")
        || match schema.get("type") {
            Some(Value::String(t)) => t == "object",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
            _ => false,
        }
}

/// Checks one published schema; returns what is wrong with it.
fn problems(tool: &str, which: &str, schema: &Map<String, Value>) -> Vec<String> {
    let schema = Value::Object(schema.clone());
    let mut problems = Vec::new();
    if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
        problems.push(format!("{tool} {which}: not a valid 2020-12 schema: {e}"));
    }
    if let Err(e) = jsonschema::draft202012::new(&schema) {
        problems.push(format!("{tool} {which}: does not compile: {e}"));
    }
    let mut found = Vec::new();
    subschemas(&schema, String::new(), &mut found);
    for (at, sub) in found {
        let Some(sub) = sub.as_object() else {
            // `false` (no other properties) is a statement; `true` says nothing.
            if sub == &Value::Bool(true) {
                problems.push(format!("{tool} {which}{at}: the schema true"));
            }
            continue;
        };
        if let Some(format) = sub.get("format")
            && !KNOWN_FORMATS.iter().any(|known| format == known)
        {
            problems.push(format!("{tool} {which}{at}: unknown format {format}"));
        }
        // A memory's context keeps extra keys (and their values as given) by design; its
        // extra values are typed instead.
        let open_by_design = at.starts_with("/$defs/ContextParam");
        if which == "input"
            && is_object_schema(sub)
            && !open_by_design
            && sub.get("additionalProperties") != Some(&Value::Bool(false))
        {
            problems.push(format!(
                "{tool} input{at}: additionalProperties is not false"
            ));
        }
    }
    problems
}

async fn tools(client: &Client) -> Vec<Tool> {
    client.list_all_tools().await.unwrap()
}

#[tokio::test]
async fn every_schema_of_both_profiles_is_strict_2020_12() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    for args in [
        &["--output-schemas"][..],
        &["--profile", "knowledge-graph"][..],
    ] {
        let client = spawn_with(dir.path(), args).await;
        let listed = tools(&client).await;
        assert!(listed.len() >= 9, "{}", listed.len());
        for tool in &listed {
            all.extend(problems(&tool.name, "input", &tool.input_schema));
            let output = tool
                .output_schema
                .as_ref()
                .expect("every tool has an outputSchema");
            all.extend(problems(&tool.name, "output", output));
        }
        client.cancel().await.unwrap();
    }
    assert!(all.is_empty(), "{}", all.join("\n"));
}

#[tokio::test]
async fn a_real_validator_refuses_an_undeclared_argument_and_accepts_real_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let client = spawn(dir.path()).await;
    let listed = tools(&client).await;
    let schema = |name: &str, output: bool| {
        let tool = listed.iter().find(|t| t.name == name).unwrap();
        let schema = match output {
            true => tool.output_schema.clone().unwrap(),
            false => tool.input_schema.clone(),
        };
        jsonschema::draft202012::new(&Value::Object(schema.as_ref().clone())).unwrap()
    };
    let search = schema("search_memories", false);
    assert!(search.is_valid(&json!({"query": "x", "kinds": ["fix"]})));
    assert!(!search.is_valid(&json!({"query": "x", "bogus_arg": 1})));
    assert!(!search.is_valid(&json!({"query": "x", "kind": "fix"})));
    assert!(!schema("memory_stats", false).is_valid(&json!({"verbose": true})));
    let store = schema("store_memory", false);
    let with_context = json!({"kind": "note", "title": "t", "content": "c",
        "context": {"project": "p", "ticket": "A-1", "seen": 2}});
    assert!(store.is_valid(&with_context));
    let stray_link_field = json!({"kind": "note", "title": "t", "content": "c",
        "links": [{"target_id": "x", "rel_type": "USES", "weight": 1}]});
    assert!(!store.is_valid(&stray_link_field));

    // Outputs with a context, extra keys and relationships fit their schemas.
    let first = ok(&client, "store_memory", with_context).await;
    assert!(schema("store_memory", true).is_valid(&first), "{first:#}");
    let id = first["id"].as_str().unwrap();
    let second = ok(
        &client,
        "store_memory",
        json!({"kind": "fix", "title": "u", "content": "d",
               "links": [{"target_id": id, "rel_type": "SOLVES"}]}),
    )
    .await;
    assert!(schema("store_memory", true).is_valid(&second), "{second:#}");
    let got = ok(
        &client,
        "get_memory",
        json!({"ids": [id], "with_relationships": true}),
    )
    .await;
    assert!(schema("get_memory", true).is_valid(&got), "{got:#}");
    let stats = ok(&client, "memory_stats", json!({})).await;
    assert!(schema("memory_stats", true).is_valid(&stats), "{stats:#}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn undeclared_arguments_are_tool_errors_naming_them_in_the_memory_profile() {
    let dir = tempfile::tempdir().unwrap();
    let client = spawn(dir.path()).await;

    let message = err(
        &client,
        "search_memories",
        json!({"kind": "fix", "query": "x"}),
    )
    .await;
    assert_eq!(
        message,
        "unknown argument \"kind\" for search_memories; valid arguments: cursor, kinds, limit, \
         min_importance, mode, project, query, since, tags (did you mean \"kinds\"?)"
    );
    let message = err(
        &client,
        "search_memories",
        json!({"query": "x", "bogus_arg": 1}),
    )
    .await;
    assert!(
        message.starts_with(
            "unknown argument \"bogus_arg\" for search_memories; valid arguments: cursor, kinds"
        ),
        "{message}"
    );
    // A field of a nested object given at the top, and a stray field inside a nested object.
    let message = err(
        &client,
        "store_memory",
        json!({"kind": "note", "title": "t", "content": "c", "project": "p"}),
    )
    .await;
    assert!(
        message.starts_with("unknown argument \"project\" for store_memory"),
        "{message}"
    );
    assert!(
        message.ends_with("(project belongs in context)"),
        "{message}"
    );
    let message = err(
        &client,
        "store_memory",
        json!({"kind": "note", "title": "t", "content": "c",
               "links": [{"target_id": "x", "rel_type": "USES", "weight": 1}]}),
    )
    .await;
    assert_eq!(
        message,
        "unknown argument \"weight\" in links[0] for store_memory; valid arguments there: \
         direction, note, rel_type, strength, target_id"
    );
    let message = err(&client, "memory_stats", json!({"verbose": true})).await;
    assert!(
        message.starts_with("unknown argument \"verbose\" for memory_stats"),
        "{message}"
    );

    // A context keeps extra keys, as documented; and nothing refused was stored.
    let stored = ok(
        &client,
        "store_memory",
        json!({"kind": "note", "title": "t", "content": "c", "context": {"ticket": "A-1"}}),
    )
    .await;
    let stats = ok(&client, "memory_stats", json!({})).await;
    assert_eq!(stats["memories"], 1, "{stats}");
    let got = ok(&client, "get_memory", json!({"ids": [stored["id"]]})).await;
    assert_eq!(got["memories"][0]["context"]["ticket"], "A-1", "{got}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn undeclared_arguments_are_tool_errors_naming_them_in_the_knowledge_graph_profile() {
    let dir = tempfile::tempdir().unwrap();
    let client = spawn_with(dir.path(), &["--profile", "knowledge-graph"]).await;

    let message = err(
        &client,
        "search_nodes",
        json!({"query": "x", "bogus_arg": 1}),
    )
    .await;
    assert_eq!(
        message,
        "unknown argument \"bogus_arg\" for search_nodes; valid arguments: query"
    );
    let message = err(
        &client,
        "create_entities",
        json!({"entities": [{"name": "a", "entityType": "t", "observations": [], "kind": "x"}]}),
    )
    .await;
    assert_eq!(
        message,
        "unknown argument \"kind\" in entities[0] for create_entities; valid arguments there: \
         entityType, name, observations"
    );
    let message = err(
        &client,
        "add_observations",
        json!({"observations": [{"entity_name": "a", "contents": ["o"]}]}),
    )
    .await;
    assert!(
        message.ends_with("(did you mean \"entityName\"?)"),
        "{message}"
    );
    let message = err(&client, "read_graph", json!({"entities": []})).await;
    assert!(
        message.starts_with("unknown argument \"entities\" for read_graph"),
        "{message}"
    );
    let graph = ok(&client, "read_graph", json!({})).await;
    assert_eq!(graph["entities"], json!([]), "{graph}");
    client.cancel().await.unwrap();
}
