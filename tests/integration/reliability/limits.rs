//! Every limit of `Limits`, set low through configuration (a `--limit` flag, an
//! `MNEMOGRAPH_<KEY>` variable or the config file's `[limits]` table), on the real server and
//! `memctl`: input at the limit is accepted, input just over it is refused with a message that
//! names the field and the limit, and a refused call writes nothing.

use std::path::Path;

use mnemograph::store::Limits;
use serde_json::{Value, json};

use crate::support::{self, client};

/// How a case sets its limit.
#[derive(Debug, Clone, Copy)]
enum Via {
    Flag,
    Env,
    File,
}

/// One request: a tool call on the server, or a memctl command line.
enum Call {
    Tool(&'static str, Value),
    Memctl(Vec<String>),
}

fn tool(name: &'static str, args: Value) -> Call {
    Call::Tool(name, args)
}

fn memctl(args: &[&str]) -> Call {
    Call::Memctl(args.iter().map(|a| (*a).to_owned()).collect())
}

/// A limit set to `value` and requests just at and just over it.
struct Case {
    key: &'static str,
    value: usize,
    via: Via,
    /// The tool set of the server.
    profile: &'static str,
    /// The field the refusal names.
    field: &'static str,
    at: Call,
    over: Vec<Call>,
}

/// Ids of the seeded chain M0 -USES-> M1 -USES-> M2 -USES-> M3.
const M: [&str; 4] = [
    "01900000-0000-7000-8000-000000000000",
    "01900000-0000-7000-8000-000000000001",
    "01900000-0000-7000-8000-000000000002",
    "01900000-0000-7000-8000-000000000003",
];

/// A native import file holding the seeded chain.
fn seed_file(dir: &Path) -> String {
    let header = json!({"type": "header", "format": "mnemograph", "version": 1,
        "exported_at": "2025-06-01T00:00:00Z", "store_id": "01900000-0000-7000-8000-0000000000ff",
        "schema_version": 1, "embedding_model": null, "embedding_dim": null});
    let mut lines = vec![header.to_string()];
    for (i, id) in M.iter().enumerate() {
        lines.push(memory_line(id, &format!("m{i}"), None).to_string());
    }
    for (i, pair) in M.windows(2).enumerate() {
        lines.push(
            json!({"type": "relationship", "id": format!("01900000-0000-7000-8000-0000000001{i:02}"),
                   "source_id": pair[0], "target_id": pair[1], "rel_type": "USES",
                   "strength": 0.5, "confidence": 1.0, "created_at": "2025-06-01T00:00:00Z",
                   "updated_at": "2025-06-01T00:00:00Z", "version": 1})
            .to_string(),
        );
    }
    write_jsonl(dir, "seed.jsonl", &lines)
}

fn memory_line(id: &str, title: &str, vector: Option<Vec<f32>>) -> Value {
    let mut line = json!({"type": "memory", "id": id, "kind": "note", "title": title,
        "content": "seed", "tags": [], "importance": 0.5, "confidence": 1.0,
        "created_at": "2025-06-01T00:00:00Z", "updated_at": "2025-06-01T00:00:00Z",
        "access_count": 0, "version": 1});
    if let Some(vector) = vector {
        line["embedding"] = json!({"model": "test-model", "vector": vector});
    }
    line
}

fn write_jsonl(dir: &Path, name: &str, lines: &[String]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path.to_str().unwrap().to_owned()
}

/// A native import file of one memory with a vector of `dim` dimensions.
fn vector_file(dir: &Path, dim: usize) -> String {
    let header = json!({"type": "header", "format": "mnemograph", "version": 1,
        "exported_at": "2025-06-01T00:00:00Z", "store_id": "01900000-0000-7000-8000-0000000000fe",
        "schema_version": 1, "embedding_model": null, "embedding_dim": null});
    let id = format!("01900000-0000-7000-8000-0000000002{dim:02}");
    let vector = (1..=dim).map(|i| i as f32).collect();
    let lines = [
        header.to_string(),
        memory_line(&id, "vector", Some(vector)).to_string(),
    ];
    write_jsonl(dir, &format!("vector{dim}.jsonl"), &lines)
}

fn memory(title: &str) -> Value {
    json!({"kind": "note", "title": title, "content": "c"})
}

fn entities(n: usize) -> Value {
    let list: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("entity {i}"), "entityType": "thing", "observations": ["o"]}))
        .collect();
    json!({ "entities": list })
}

/// One case per limit (several requests where a limit guards several ways in), each set a
/// different way so every configuration route is exercised.
fn cases(dir: &Path) -> Vec<Case> {
    let x = |n: usize| "x".repeat(n);
    vec![
        Case {
            key: "max_title_chars",
            value: 20,
            via: Via::Flag,
            profile: "memory",
            field: "title",
            at: tool("store_memory", memory(&x(20))),
            over: vec![
                tool("store_memory", memory(&x(21))),
                tool("update_memory", json!({"id": M[0], "title": x(21)})),
            ],
        },
        Case {
            // create_entities is one transaction: a refused entity takes the others with it.
            key: "max_title_chars",
            value: 20,
            via: Via::Env,
            profile: "knowledge-graph",
            field: "title",
            at: tool(
                "create_entities",
                json!({"entities": [
                {"name": x(20), "entityType": "thing", "observations": []}]}),
            ),
            over: vec![tool(
                "create_entities",
                json!({"entities": [
                {"name": "fits", "entityType": "thing", "observations": []},
                {"name": x(21), "entityType": "thing", "observations": []}]}),
            )],
        },
        Case {
            key: "max_content_bytes",
            value: 32,
            via: Via::Env,
            profile: "memory",
            field: "content",
            at: tool(
                "store_memory",
                json!({"kind": "note", "title": "t", "content": x(32)}),
            ),
            over: vec![tool(
                "store_memory",
                json!({"kind": "note", "title": "t", "content": x(33)}),
            )],
        },
        Case {
            key: "max_tags",
            value: 3,
            via: Via::File,
            profile: "memory",
            field: "tags",
            at: tool(
                "store_memory",
                json!({"kind": "note", "title": "t", "content": "c",
                                            "tags": ["a", "b", "c"]}),
            ),
            over: vec![
                tool(
                    "store_memory",
                    json!({"kind": "note", "title": "t", "content": "c",
                                            "tags": ["a", "b", "c", "d"]}),
                ),
                tool(
                    "search_memories",
                    json!({"query": "t", "tags": ["a", "b", "c", "d"]}),
                ),
            ],
        },
        Case {
            key: "max_label_chars",
            value: 8,
            via: Via::Flag,
            profile: "memory",
            field: "kind",
            at: tool(
                "store_memory",
                json!({"kind": x(8), "title": "t", "content": "c"}),
            ),
            over: vec![tool(
                "store_memory",
                json!({"kind": x(9), "title": "t", "content": "c"}),
            )],
        },
        Case {
            // {"project":"…"} is 14 bytes around the name.
            key: "max_json_bytes",
            value: 64,
            via: Via::Env,
            profile: "memory",
            field: "context",
            at: tool(
                "store_memory",
                json!({"kind": "note", "title": "t", "content": "c",
                                            "context": {"project": x(50)}}),
            ),
            over: vec![tool(
                "store_memory",
                json!({"kind": "note", "title": "t", "content": "c",
                       "context": {"project": x(51)}}),
            )],
        },
        Case {
            key: "max_note_chars",
            value: 10,
            via: Via::File,
            profile: "memory",
            field: "note",
            at: tool(
                "create_relationship",
                json!({"source_id": M[0], "target_id": M[2],
                                                   "rel_type": "USES", "note": x(10)}),
            ),
            over: vec![
                tool(
                    "create_relationship",
                    json!({"source_id": M[0], "target_id": M[3],
                                                   "rel_type": "USES", "note": x(11)}),
                ),
                // The link is checked before the memory is stored: neither is written.
                tool(
                    "store_memory",
                    json!({"kind": "note", "title": "t", "content": "c",
                     "links": [{"target_id": M[0], "rel_type": "USES", "note": x(11)}]}),
                ),
            ],
        },
        Case {
            key: "max_vector_dim",
            value: 4,
            via: Via::Flag,
            profile: "memory",
            field: "embedding",
            at: memctl(&["import", &vector_file(dir, 4)]),
            over: vec![memctl(&["import", &vector_file(dir, 5)])],
        },
        Case {
            key: "max_query_chars",
            value: 10,
            via: Via::Env,
            profile: "memory",
            field: "query",
            at: tool("search_memories", json!({"query": x(10)})),
            over: vec![
                tool("search_memories", json!({"query": x(11)})),
                tool("recall", json!({"query": x(11)})),
                tool("explore", json!({"query": x(11)})),
            ],
        },
        Case {
            key: "max_results",
            value: 5,
            via: Via::File,
            profile: "memory",
            field: "limit",
            at: memctl(&["list", "--limit", "5"]),
            over: vec![
                memctl(&["list", "--limit", "6"]),
                memctl(&["search", "m0", "--limit", "6"]),
            ],
        },
        Case {
            key: "max_depth",
            value: 2,
            via: Via::Flag,
            profile: "memory",
            field: "depth",
            at: tool("get_related", json!({"id": M[0], "depth": 2})),
            over: vec![
                tool("get_related", json!({"id": M[0], "depth": 3})),
                tool("explore", json!({"ids": [M[0]], "depth": 3})),
            ],
        },
        Case {
            key: "max_depth",
            value: 2,
            via: Via::Env,
            profile: "memory",
            field: "max_hops",
            at: tool(
                "find_path",
                json!({"from_id": M[0], "to_id": M[2], "max_hops": 2}),
            ),
            over: vec![tool(
                "find_path",
                json!({"from_id": M[0], "to_id": M[3], "max_hops": 3}),
            )],
        },
        Case {
            key: "max_subgraph_nodes",
            value: 3,
            via: Via::Env,
            profile: "memory",
            field: "max_nodes",
            at: tool("explore", json!({"ids": [M[0]], "max_nodes": 3})),
            over: vec![tool("explore", json!({"ids": [M[0]], "max_nodes": 4}))],
        },
        Case {
            key: "max_batch",
            value: 3,
            via: Via::File,
            profile: "memory",
            field: "ids",
            at: tool("get_memory", json!({"ids": [M[0], M[1], M[2]]})),
            over: vec![tool("get_memory", json!({"ids": M}))],
        },
        Case {
            key: "max_batch",
            value: 3,
            via: Via::Flag,
            profile: "memory",
            field: "links",
            at: tool(
                "store_memory",
                json!({"kind": "note", "title": "t", "content": "c",
                "links": [{"target_id": M[0], "rel_type": "USES"},
                          {"target_id": M[1], "rel_type": "USES"},
                          {"target_id": M[2], "rel_type": "USES"}]}),
            ),
            over: vec![tool(
                "store_memory",
                json!({"kind": "note", "title": "t",
                "content": "c", "links": M.iter().map(|id| json!({"target_id": id,
                "rel_type": "USES"})).collect::<Vec<_>>()}),
            )],
        },
        Case {
            key: "max_batch",
            value: 3,
            via: Via::Env,
            profile: "knowledge-graph",
            field: "entities",
            at: tool("create_entities", entities(3)),
            over: vec![tool("create_entities", entities(4))],
        },
        Case {
            key: "max_page",
            value: 3,
            via: Via::Flag,
            profile: "memory",
            field: "limit",
            at: tool("search_memories", json!({"query": "m0", "limit": 3})),
            over: vec![
                tool("search_memories", json!({"query": "m0", "limit": 4})),
                tool("list_memories", json!({"limit": 4})),
                tool("recall", json!({"query": "m0", "limit": 4})),
            ],
        },
        Case {
            key: "max_briefing_chars",
            value: 300,
            via: Via::File,
            profile: "memory",
            field: "max_chars",
            at: tool("recall", json!({"query": "m0", "max_chars": 300})),
            over: vec![
                tool("recall", json!({"query": "m0", "max_chars": 301})),
                memctl(&["recall", "m0", "--max-chars", "301"]),
            ],
        },
    ]
}

/// Sets the case's limit on a server or memctl command.
fn configure(cmd: &mut std::process::Command, case: &Case) {
    match case.via {
        Via::Flag => {
            cmd.arg("--limit")
                .arg(format!("{}={}", case.key, case.value));
        }
        Via::Env => {
            cmd.env(
                format!("MNEMOGRAPH_{}", case.key.to_uppercase()),
                case.value.to_string(),
            );
        }
        // The config file sits in the default place (XDG_CONFIG_HOME is the test's).
        Via::File => {}
    }
}

/// Memories and relationships in the store, read beside the running server.
async fn counts(dir: &Path) -> (u64, u64) {
    let store = support::store::open(&dir.join("data").join("default.db")).await;
    let stats = store.stats().await.unwrap();
    (stats.memories, stats.relationships)
}

/// Runs one request; `Ok` with the answer or `Err` with the error message.
async fn request(
    client: &client::Client,
    dir: &Path,
    case: &Case,
    call: &Call,
) -> Result<String, String> {
    match call {
        Call::Tool(name, args) => {
            let result = client::call(client, name, args.clone()).await;
            let text = client::text(&result);
            if result.is_error == Some(true) {
                Err(text)
            } else {
                Ok(text)
            }
        }
        Call::Memctl(args) => {
            let mut cmd = support::memctl::command(dir);
            configure(&mut cmd, case);
            let out = cmd.args(args).output().unwrap();
            if out.status.success() {
                Ok(String::from_utf8_lossy(&out.stdout).into_owned())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).into_owned())
            }
        }
    }
}

async fn check(case: &Case) {
    let name = format!(
        "{} = {} via {:?} ({})",
        case.key, case.value, case.via, case.field
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    if let Via::File = case.via {
        let config = d.join("config").join("mnemograph");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(
            config.join("config.toml"),
            format!("[limits]\n{} = {}\n", case.key, case.value),
        )
        .unwrap();
    }
    let seed = seed_file(d);
    let mut import = support::memctl::command(d);
    let out = import.args(["import", &seed]).output().unwrap();
    assert!(out.status.success(), "{name}: seeding failed: {out:?}");

    let mut cmd = support::command(d);
    cmd.args(["--profile", case.profile]);
    configure(cmd.as_std_mut(), case);
    let client = client::connect(cmd).await;

    if let Err(message) = request(&client, d, case, &case.at).await {
        panic!("{name}: input at the limit was refused: {message}");
    }
    let before = counts(d).await;
    for call in &case.over {
        let message = match request(&client, d, case, call).await {
            Ok(answer) => panic!("{name}: input over the limit was accepted: {answer}"),
            Err(message) => message,
        };
        let limit = case.value.to_string();
        assert!(
            message.contains(case.field)
                && (message.contains(&format!("the limit is {limit}"))
                    || message.contains(&format!("..={limit}"))),
            "{name}: the refusal must name the field and the limit: {message}"
        );
        assert_eq!(
            counts(d).await,
            before,
            "{name}: a refused call wrote: {message}"
        );
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn every_limit_is_configurable_and_enforced_at_the_edge() {
    let dir = tempfile::tempdir().unwrap();
    let cases = cases(dir.path());
    for case in &cases {
        check(case).await;
    }
    // Every limit has a case: a new limit without one fails here.
    let Value::Object(keys) = serde_json::to_value(Limits::default()).unwrap() else {
        unreachable!()
    };
    for key in keys.keys() {
        assert!(
            cases.iter().any(|c| c.key == key),
            "limit {key} has no test case"
        );
    }
}
