//! Secrets never stored: every write path (MCP tools, memctl add/edit/import) replaces them
//! with markers before anything reaches the store file, says how many it took out, and the
//! config file's `[redaction]` table adds patterns or turns rules off.

use std::path::Path;

use serde_json::json;

use crate::support::client;
use crate::support::memctl::{self, ok, run, stderr};

const GITHUB: &str = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
const OPENAI: &str = "sk-proj-abcdEFGH1234ijklMNOP5678qrst";
const AWS: &str = "AKIAIOSFODNN7EXAMPLE";
const DB_PASSWORD: &str = "hunter2hunter2";
const PRIVATE: &str = "my home address is 12 Elm Street";

/// Every byte of the store's files (the database, its WAL), as text, for a leak check.
fn store_bytes(dir: &Path) -> String {
    let data = dir.join("data");
    let mut all = String::new();
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            all.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    all
}

fn assert_absent(what: &str, text: &str) {
    for secret in [GITHUB, OPENAI, AWS, DB_PASSWORD, PRIVATE] {
        assert!(!text.contains(secret), "{what} holds {secret}");
    }
}

#[tokio::test]
async fn mcp_writes_are_redacted_before_they_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let client = client::spawn(dir.path()).await;
    let anchor = client::ok(
        &client,
        "store_memory",
        json!({"kind": "note", "title": "deploy notes", "content": "the deploy pipeline"}),
    )
    .await;
    let content = format!(
        "Set OPENAI_API_KEY={OPENAI} and push with {GITHUB}.\n\
         The database is postgres://app:{DB_PASSWORD}@db.internal:5432/app\n\
         <private>{PRIVATE}</private>"
    );
    let result = client::call(
        &client,
        "store_memory",
        json!({
            "kind": "fix",
            "title": format!("deploy needs {AWS}"),
            "content": content,
            "tags": ["deploy"],
            "context": {"repo": format!("https://me:{DB_PASSWORD}@github.com/x/y")},
            "links": [{"target_id": anchor["id"], "rel_type": "RELATES_TO",
                       "note": format!("same token {GITHUB}")}],
        }),
    )
    .await;
    let text = format!("{:?}", result.content);
    assert!(
        text.contains("7 secrets were replaced"),
        "the answer says how many secrets went: {text}"
    );
    let stored = result.structured_content.unwrap();
    assert_eq!(stored["redacted"], 7, "{stored}");
    let id = stored["id"].as_str().unwrap().to_owned();

    let got = client::ok(
        &client,
        "get_memory",
        json!({"ids": [id], "with_relationships": true}),
    )
    .await;
    let memory = &got["memories"][0];
    let content = memory["content"].as_str().unwrap();
    assert!(
        content.contains("OPENAI_API_KEY=[REDACTED:api-key]"),
        "{content}"
    );
    assert!(
        content.contains("postgres://app:[REDACTED:url-password]@db.internal"),
        "{content}"
    );
    assert!(content.contains("[REDACTED:private]"), "{content}");
    assert_eq!(memory["title"], "deploy needs [REDACTED:aws-key]");
    assert_absent("get_memory", &got.to_string());

    let updated = client::call(
        &client,
        "update_memory",
        json!({"id": id, "content": format!("rotated; new key {OPENAI}")}),
    )
    .await;
    let text = format!("{:?}", updated.content);
    assert!(text.contains("1 secret was replaced"), "{text}");
    let got = client::ok(&client, "get_memory", json!({"ids": [id]})).await;
    assert_eq!(
        got["memories"][0]["content"],
        "rotated; new key [REDACTED:api-key]"
    );
    client.cancel().await.unwrap();

    assert_absent("the store's files", &store_bytes(dir.path()));
    let export = ok(dir.path(), &["export", "-"]);
    assert!(export.contains("[REDACTED:github-token]"), "{export}");
    assert_absent("memctl export", &export);
}

#[test]
fn memctl_add_and_import_redact_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let added = run(
        dir.path(),
        &[
            "--json",
            "add",
            "-t",
            "ci token",
            "-c",
            &format!("use {GITHUB}"),
        ],
    );
    assert!(added.status.success(), "{}", stderr(&added));
    let doc: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();
    assert_eq!(doc["redacted"], 1, "{doc}");
    assert!(
        stderr(&added).contains("1 secret(s) replaced"),
        "{}",
        stderr(&added)
    );

    let input = dir.path().join("in.jsonl");
    let line = json!({"type": "entity", "name": "aws", "entityType": "credential",
                      "observations": [format!("key {AWS}"), "rotate monthly"]});
    std::fs::write(&input, format!("{line}\n")).unwrap();
    let report = memctl::json(dir.path(), &["import", input.to_str().unwrap()]);
    assert_eq!(report["redacted"], 1, "{report}");
    assert_eq!(report["memories"]["created"], 1, "{report}");

    let export = ok(dir.path(), &["export", "-"]);
    assert!(export.contains("[REDACTED:aws-key]"), "{export}");
    assert_absent("memctl export", &export);
    assert_absent("the store's files", &store_bytes(dir.path()));
}

#[test]
fn the_config_file_adds_patterns_and_turns_rules_off() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[redaction]\ndisable = [\"aws-key\"]\n\
         patterns = [{ name = \"ticket-secret\", regex = \"tks_[a-z0-9]{8}\" }]\n",
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let doc = memctl::json(
        dir.path(),
        &[
            "--config",
            cfg,
            "add",
            "-t",
            "ticket",
            "-c",
            &format!("tks_abcd1234 and {AWS}"),
        ],
    );
    assert_eq!(doc["redacted"], 1, "{doc}");
    let shown = ok(
        dir.path(),
        &["--config", cfg, "show", doc["id"].as_str().unwrap()],
    );
    assert!(
        shown.contains("[REDACTED:ticket-secret] and AKIAIOSFODNN7EXAMPLE"),
        "{shown}"
    );

    std::fs::write(&config, "[redaction]\ndisable = [\"aws\"]\n").unwrap();
    let err = memctl::fails(dir.path(), &["--config", cfg, "list"]);
    assert!(
        err.contains("[redaction]") && err.contains("\"aws\"") && err.contains("aws-key"),
        "{err}"
    );
    std::fs::write(
        &config,
        "[redaction]\npatterns = [{ name = \"broken\", regex = \"(\" }]\n",
    )
    .unwrap();
    let err = memctl::fails(dir.path(), &["--config", cfg, "list"]);
    assert!(
        err.contains("\"broken\"") && err.ends_with("unclosed group"),
        "{err}"
    );
}
