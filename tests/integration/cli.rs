//! The real `memctl` binary, run in temporary directories: every command's happy and error
//! paths, JSON shapes, import/export round trips, the foreign formats, and working on a store
//! an `mnemograph` server is writing to.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use crate::support::memctl::{command as memctl, fails, json, ok, run, stderr, stdout};
use crate::support::store::written_by_the_old_model;
use crate::support::{self, client, fixture, memory_ids};

fn add(dir: &Path, kind: &str, title: &str, content: &str) -> String {
    json(dir, &["add", "-k", kind, "-t", title, "-c", content])["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[test]
fn init_add_show_list_have_stable_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let init = json(d, &["init"]);
    assert_eq!(
        keys(&init),
        [
            "created",
            "mode",
            "namespace",
            "path",
            "primary",
            "schema_version",
            "store_id"
        ]
    );
    assert_eq!(
        (&init["mode"], &init["primary"]),
        (&json!("local"), &json!(null))
    );
    assert_eq!(init["created"], true);
    assert_eq!(json(d, &["init"])["created"], false);

    let added = json(
        d,
        &[
            "add",
            "-k",
            "fix",
            "-t",
            "Retry busy",
            "-c",
            "use a timeout",
            "--tag",
            "SQLite,db",
            "--importance",
            "0.8",
            "--project",
            "mg",
            "--path",
            "src/a.rs",
        ],
    );
    assert_eq!(keys(&added), ["created", "id", "redacted", "version"]);
    assert_eq!(added["redacted"], 0);
    assert_eq!(added["created"], "new");
    let id = added["id"].as_str().unwrap();

    let shown = json(d, &["show", id]);
    let m = &shown["memories"][0];
    assert_eq!(m["title"], "Retry busy");
    assert_eq!(m["tags"], json!(["sqlite", "db"]));
    assert_eq!(
        m["context"],
        json!({"project": "mg", "paths": ["src/a.rs"]})
    );
    assert_eq!(m["relationships"], json!([]));
    for key in [
        "id",
        "kind",
        "content",
        "importance",
        "confidence",
        "created_at",
        "updated_at",
        "version",
        "access_count",
    ] {
        assert!(m.get(key).is_some(), "show lacks {key}");
    }

    add(d, "note", "Second", "another one");
    let page = json(d, &["list", "--limit", "1"]);
    assert_eq!(keys(&page), ["memories", "next_cursor"]);
    assert_eq!(page["memories"][0]["title"], "Second");
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = json(d, &["list", "--limit", "1", "--cursor", cursor]);
    assert_eq!(next["memories"][0]["id"], id);
    assert!(next["next_cursor"].is_null());
    assert_eq!(
        json(d, &["list", "-k", "fix", "--tag", "db"])["memories"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let human = ok(d, &["list"]);
    assert!(human.starts_with("ID"), "{human}");
    assert!(!human.contains('\x1b'), "no colour off a terminal: {human}");
}

#[test]
fn failures_are_one_line_with_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(fails(d, &["list"]).contains("no store at"));
    ok(d, &["init"]);
    assert!(fails(d, &["show", "01900000-0000-7000-8000-00000000dead"]).contains("not found"));
    assert!(fails(d, &["show", "not-an-id"]).contains("not found"));
    assert!(fails(d, &["add", "-k", "Bad Kind!", "-t", "x", "-c", "y"]).contains("kind"));
    assert!(fails(d, &["add", "-t", "title only"]).contains("--content"));
    assert!(fails(d, &["list", "--cursor", "bogus"]).contains("cursor"));
    assert!(fails(d, &["import", "/nonexistent/file.jsonl"]).contains("cannot open"));
    assert!(fails(d, &["export", "/nonexistent/dir/out.jsonl"]).contains("cannot create"));
    assert!(fails(d, &["-n", "../x", "list"]).contains("invalid namespace"));
    // clap's own usage errors exit with 2.
    assert_eq!(run(d, &["frobnicate"]).status.code(), Some(2));
}

#[test]
fn show_finds_ids_however_spelled_and_names_every_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    let added = json(d, &["add", "-t", "Spelled two ways", "-c", "one memory"]);
    let id = added["id"].as_str().unwrap();
    let braces = format!("{{{}}}", id.to_uppercase());
    let shown = json(d, &["show", &braces, &id.replace('-', "")]);
    let ids: Vec<&str> = shown["memories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id, id]);
    let unknown = "01900000-0000-7000-8000-00000000dead";
    let message = fails(d, &["show", id, unknown, "not-an-id"]);
    assert!(
        message.contains(unknown) && message.contains("not-an-id") && !message.contains(id),
        "{message}"
    );
}

#[test]
fn times_are_read_by_the_same_rules_as_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    let a = add(d, "note", "Then", "a memory");
    let b = add(d, "note", "Now", "another");
    let listed = |since: &str| {
        json(d, &["list", "--since", since])["memories"]
            .as_array()
            .unwrap()
            .len()
    };
    // A date is its midnight UTC; RFC 3339 with any offset.
    assert_eq!(listed("2000-01-01"), 2);
    assert_eq!(listed("2999-01-01T00:00:00+02:00"), 0);
    let linked = json(
        d,
        &[
            "link",
            &a,
            "SUPERSEDES",
            &b,
            "--valid-from",
            " 2025-06-01 ",
            "--valid-to",
            "2025-06-02T14:00:00+02:00",
        ],
    );
    assert_eq!(linked["relationship"]["valid_from"], "2025-06-01T00:00:00Z");
    assert_eq!(linked["relationship"]["valid_to"], "2025-06-02T12:00:00Z");
    // The store's message, as a usage error.
    let refused = run(d, &["list", "--since", "yesterday"]);
    assert_eq!(refused.status.code(), Some(2));
    let message = stderr(&refused);
    assert!(
        message.contains("\"yesterday\" is not a time") && message.contains("RFC 3339"),
        "{message}"
    );
}

#[test]
fn recall_briefings_point_at_memctl_not_at_the_tools() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    let nothing = ok(d, &["recall", "parser"]);
    assert!(
        nothing.contains("Store what you learn with `memctl add`.")
            && !nothing.contains("store_memory"),
        "{nothing}"
    );
    for i in 0..6 {
        add(
            d,
            "note",
            &format!("parser note {i}"),
            &"parser details ".repeat(100),
        );
    }
    let cut = json(d, &["recall", "parser", "--max-chars", "400"]);
    let briefing = cut["briefing"].as_str().unwrap();
    assert!(
        briefing.ends_with(
            "more relevant memories not shown; raise --max-chars, or `memctl show` them by id.)"
        ),
        "{briefing}"
    );
    assert!(!briefing.contains("get_memory"), "{briefing}");
}

#[test]
fn add_reads_stdin_and_edit_uses_flags_or_the_editor() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut child = memctl(d)
        .args(["--json", "add", "-t", "From stdin", "-c", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped content\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let id = serde_json::from_slice::<Value>(&out.stdout).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        json(d, &["show", &id])["memories"][0]["content"],
        "piped content\n"
    );

    let edited = json(d, &["edit", &id, "--title", "Renamed", "--tag", "x"]);
    assert_eq!(edited["title"], "Renamed");
    assert_eq!(edited["version"], 2);
    assert!(
        fails(
            d,
            &["edit", &id, "--title", "Again", "--expected-version", "1"]
        )
        .contains("version conflict")
    );

    // At a terminal, $EDITOR gets the text form; here a script that rewrites the content
    // line (the editor needs a terminal: see the next test for memctl without one).
    let mut edit = memctl(d);
    edit.args(["--json", "edit", &id]).env(
        "EDITOR",
        "sed -i -e 's/^piped content$/edited in the editor/' -e 's/^importance: .*/importance: 0.9/'",
    );
    let Some((ok, printed)) = support::on_a_terminal(&edit) else {
        return;
    };
    assert!(ok, "{printed}");
    let m: Value =
        serde_json::from_str(printed.trim()).unwrap_or_else(|e| panic!("{e}: {printed}"));
    assert_eq!(m["content"], "edited in the editor");
    assert_eq!(m["importance"], 0.9);
    assert_eq!(m["title"], "Renamed");

    let mut failed = memctl(d);
    failed.args(["edit", &id]).env("EDITOR", "false");
    let (ok, printed) = support::on_a_terminal(&failed).unwrap();
    assert!(!ok);
    assert!(printed.contains("nothing was changed"), "{printed}");
}

#[test]
fn rm_and_namespace_removal_need_confirmation_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = add(d, "note", "Doomed", "to be removed");
    let b = add(d, "note", "Kept", "stays");
    json(d, &["link", &a, "RELATED_TO", &b]);
    assert!(fails(d, &["rm", &a]).contains("--yes"));
    let removed = json(d, &["rm", "--yes", &a]);
    assert_eq!(removed, json!({"deleted": [a], "relationships_removed": 1}));
    assert!(fails(d, &["show", &a]).contains("not found"));

    let created = json(d, &["namespaces", "create", "work"]);
    assert_eq!(created["created"], true);
    let listed = json(d, &["namespaces"]);
    let names: Vec<&str> = listed["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "work"]);
    assert_eq!(listed["current"], "default");
    assert!(fails(d, &["namespaces", "remove", "work"]).contains("--yes"));
    ok(d, &["--yes", "namespaces", "remove", "work"]);
    assert!(fails(d, &["namespaces", "remove", "work"]).contains("no namespace work"));
    assert!(fails(d, &["namespaces", "create", "bad name"]).contains("invalid namespace"));
}

#[test]
fn search_recall_and_the_graph_commands() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let error = add(
        d,
        "error",
        "E0502 borrow conflict",
        "cannot borrow as mutable",
    );
    let fix = add(d, "fix", "Clone before the loop", "take a copy first");
    let note = add(d, "note", "Loop idioms", "iterate by reference");
    let link = json(
        d,
        &[
            "link",
            &fix,
            "solves",
            &error,
            "--strength",
            "0.9",
            "--note",
            "works",
        ],
    );
    assert_eq!(link["created"], "new");
    assert_eq!(link["relationship"]["rel_type"], "SOLVES");
    assert!(
        fails(d, &["link", &fix, "SOLVES", &error]).contains("already exists"),
        "one relationship per (source, target, type)"
    );
    let rel2 = json(d, &["link", &note, "RELATED_TO", &fix])["relationship"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(fails(d, &["link", &fix, "SOLVES", &fix]).contains("source itself"));

    let found = json(d, &["search", "borrow", "--explain"]);
    assert_eq!(keys(&found), ["hits", "mode", "next_cursor"]);
    assert_eq!(found["mode"], "keyword");
    let hit = &found["hits"][0];
    assert_eq!(
        keys(hit),
        [
            "matched_fields",
            "matched_terms",
            "memory",
            "parts",
            "score",
            "snippet"
        ]
    );
    assert_eq!(hit["memory"]["id"], error.as_str());
    assert!(ok(d, &["search", "borrow", "--explain"]).contains("keyword score"));
    let semantic = fails(d, &["search", "borrow", "--mode", "semantic"]);
    assert!(
        semantic.contains("embedder") && semantic.contains("keyword"),
        "{semantic}"
    );

    let recall = json(d, &["recall", "E0502 borrow"]);
    assert_eq!(keys(&recall), ["briefing", "items", "omitted"]);
    assert_eq!(recall["items"][1]["memory"]["id"], fix.as_str());
    assert_eq!(recall["items"][1]["reason"]["kind"], "linked");
    assert!(fails(d, &["recall", "x", "--max-chars", "10"]).contains("max_chars"));
    // People get memctl's words, not the MCP tools' names.
    assert_eq!(
        ok(d, &["recall", "zzqx"]).trim(),
        "Nothing stored matches \"zzqx\". Store what you learn with `memctl add`."
    );

    let related = json(d, &["related", &error, "--depth", "2"]);
    assert_eq!(
        memory_ids(&related["neighbours"]),
        [fix.as_str(), note.as_str()]
    );
    assert_eq!(
        json(d, &["related", &error, "--direction", "outgoing"])["neighbours"],
        json!([])
    );

    let path = json(d, &["path", &note, &error]);
    assert_eq!(path["found"], true);
    assert_eq!(path["hops"], 2);
    assert_eq!(
        json(
            d,
            &["path", &note, &error, "--directed", "--type", "SOLVES"]
        )["found"],
        false
    );

    let explored = json(d, &["explore", &error, "--depth", "2"]);
    assert_eq!(explored["subgraph"]["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(explored["clusters"].as_array().unwrap().len(), 1);
    assert_eq!(
        json(d, &["explore", "--query", "borrow"])["subgraph"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(fails(d, &["explore"]).contains("--query"));

    let dot = ok(d, &["graph", &error, "--depth", "2"]);
    assert!(
        dot.starts_with("digraph memories {") && dot.contains("SOLVES"),
        "{dot}"
    );
    assert!(ok(d, &["graph", "-q", "borrow", "-f", "mermaid"]).starts_with("flowchart LR"));
    let file = d.join("g.graphml");
    let file_str = file.to_str().unwrap();
    let wrote = json(
        d,
        &["graph", &error, "-d", "2", "-f", "graphml", "-o", file_str],
    );
    assert_eq!(wrote["nodes"], 3);
    assert!(std::fs::read_to_string(&file).unwrap().contains("<graphml"));
    assert!(fails(d, &["graph", &error, "-f", "graphml", "-o", file_str]).contains("--force"));
    ok(
        d,
        &["graph", &error, "-f", "dot", "-o", file_str, "--force"],
    );

    assert_eq!(json(d, &["unlink", &rel2])["deleted"], rel2.as_str());
    assert!(fails(d, &["unlink", &rel2]).contains("not found"));
}

#[test]
fn stats_config_doctor_sync_and_completions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(fails(d, &["stats"]).contains("no store"));
    add(d, "fix", "One", "first");
    let stats = json(d, &["stats"]);
    assert_eq!(stats["memories"], 1);
    assert_eq!(stats["by_kind"], json!({"fix": 1}));
    for key in [
        "path",
        "namespace",
        "store_id",
        "schema_version",
        "relationships",
        "embedded",
        "size_bytes",
    ] {
        assert!(stats.get(key).is_some(), "stats lacks {key}");
    }

    let config = memctl(d)
        .args(["--json", "--limit", "max_tags=5", "config"])
        .env("MNEMOGRAPH_NAMESPACE", "default")
        .output()
        .unwrap();
    let config: Value = serde_json::from_slice(&config.stdout).unwrap();
    let source = |key: &str| {
        config["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap()["source"]
            .clone()
    };
    assert_eq!(source("data_dir"), "environment MNEMOGRAPH_DATA_DIR");
    assert_eq!(source("namespace"), "environment MNEMOGRAPH_NAMESPACE");
    assert_eq!(source("limits.max_tags"), "flag --limit");
    assert_eq!(source("log"), "default");
    let value = |config: &Value, key: &str| {
        config["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap_or_else(|| panic!("no {key} in {config}"))["value"]
            .clone()
    };
    // The embedder is shown too: the built-in model unless configured otherwise.
    let builtin: Value = serde_json::from_slice(
        &memctl(d)
            .env_remove("MNEMOGRAPH_EMBEDDER")
            .args(["--json", "config"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(value(&builtin, "embedder"), "model2vec");
    assert_eq!(value(&builtin, "model_dir"), "(built-in model)");
    let openai: Value = serde_json::from_slice(
        &memctl(d)
            .env("MNEMOGRAPH_EMBEDDER", "openai")
            .env("MNEMOGRAPH_EMBED_URL", "http://127.0.0.1:9/v1")
            .env("MNEMOGRAPH_EMBED_MODEL", "nomic-embed")
            .args(["--json", "config"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(value(&openai, "embedder"), "openai");
    assert_eq!(value(&openai, "embed_url"), "http://127.0.0.1:9/v1");
    assert_eq!(value(&openai, "embed_model"), "nomic-embed");

    let doctor = json(d, &["doctor"]);
    assert_eq!(doctor["ok"], true, "{doctor:#}");
    let names: Vec<&str> = doctor["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for name in [
        "configuration",
        "database pages",
        "full-text index",
        "orphan relationships",
        "store file mode",
        "disk space",
    ] {
        assert!(names.contains(&name), "doctor lacks {name}: {names:?}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let db = d.join("data/default.db");
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(fails(d, &["doctor"]).contains("checks failed"));
        assert!(ok_or_failed(d, &["doctor"]).contains("chmod go-rwx"));
    }

    let status = json(d, &["sync", "status"]);
    assert_eq!(status["mode"], "local");
    assert_eq!(status["primary"], Value::Null);
    assert_eq!(status["pending_writes"], 0);
    assert!(ok(d, &["sync", "now"]).contains("nothing to sync"));
    // Bare `sync` is `sync status`, with every key its help lists.
    let bare = json(d, &["sync"]);
    assert_eq!(bare, status, "{bare}");
    assert_eq!(
        keys(&bare),
        [
            "conflicts",
            "consecutive_failures",
            "frame_no",
            "frames_synced",
            "interval_secs",
            "lag_secs",
            "last_attempt",
            "last_error",
            "last_success",
            "mode",
            "online",
            "pending_writes",
            "primary",
            "refused",
            "replaying_elsewhere",
            "replica"
        ]
    );
    assert!(ok(d, &["completions", "bash"]).contains("memctl"));
    assert!(ok(d, &["completions", "zsh"]).contains("#compdef memctl"));
}

/// stdout of a command whatever its exit status.
fn ok_or_failed(dir: &Path, args: &[&str]) -> String {
    stdout(&run(dir, args))
}

/// Every memory and relationship of a native export, without the header (whose export time
/// and store id differ between stores), in a canonical order.
fn records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<Value> = text
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines.sort_by_key(|v| {
        (
            v["type"].as_str().unwrap().to_owned(),
            v["id"].as_str().unwrap().to_owned(),
        )
    });
    lines
}

#[test]
fn export_then_import_into_a_new_store_gives_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let imported = json(d, &["import", &fixture("native_small.jsonl")]);
    assert_eq!(imported["memories"]["created"], 3);
    assert_eq!(imported["relationships"]["created"], 2);
    assert_eq!(imported["errors"], json!([]));

    let first = d.join("first.jsonl");
    let exported = json(d, &["export", first.to_str().unwrap()]);
    assert_eq!(exported["memories"], 3);
    assert_eq!(exported["embeddings"], 2);
    assert_eq!(exported["relationships"], 2);
    assert!(fails(d, &["export", first.to_str().unwrap()]).contains("--force"));
    ok(d, &["export", first.to_str().unwrap(), "--force"]);

    // A new namespace: a dry run previews against an empty store and makes nothing; without
    // --create a write is refused as a likely typo, and nothing is made either.
    let preview = json(
        d,
        &["-n", "copy", "import", "--dry-run", first.to_str().unwrap()],
    );
    assert_eq!(preview["memories"]["created"], 3, "{preview}");
    let refused = fails(d, &["-n", "copy", "import", first.to_str().unwrap()]);
    assert!(
        refused.contains("namespace copy has no store yet") && refused.contains("--create"),
        "{refused}"
    );
    assert!(!d.join("data/copy.db").exists(), "neither made the store");
    ok(
        d,
        &["-n", "copy", "--create", "import", first.to_str().unwrap()],
    );
    let second = d.join("second.jsonl");
    ok(d, &["-n", "copy", "export", second.to_str().unwrap()]);
    assert_eq!(records(&first), records(&second));
    // The fixture itself survives the trip field for field (ids, times, versions, vectors).
    let original: Vec<Value> = {
        let mut v: Vec<Value> = std::fs::read_to_string(fixture("native_small.jsonl"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        v.sort_by_key(|v| {
            (
                v["type"].as_str().unwrap().to_owned(),
                v["id"].as_str().unwrap().to_owned(),
            )
        });
        v
    };
    for (a, b) in original.iter().zip(records(&second)) {
        for (key, value) in a.as_object().unwrap() {
            let same = match (value, &b[key]) {
                (Value::String(x), Value::String(y))
                    if key.ends_with("_at") || key.starts_with("valid") =>
                {
                    chrono::DateTime::parse_from_rfc3339(x).unwrap()
                        == chrono::DateTime::parse_from_rfc3339(y).unwrap()
                }
                (x, y) => x == y,
            };
            assert!(same, "{key}: {value} became {}", b[key]);
        }
    }
    let exported_stdout = ok(d, &["-n", "copy", "export", "-"]);
    assert!(
        exported_stdout.starts_with("{\"type\":\"header\",\"format\":\"mnemograph\",\"version\":1")
    );
}

#[test]
fn import_is_idempotent_updates_newer_and_dry_runs_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    let dry = json(d, &["import", "--dry-run", &fixture("native_small.jsonl")]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["memories"]["created"], 3);
    assert_eq!(dry["relationships"]["created"], 2);
    assert_eq!(json(d, &["stats"])["memories"], 0);

    ok(d, &["import", &fixture("native_small.jsonl")]);
    let again = json(d, &["import", &fixture("native_small.jsonl")]);
    assert_eq!(
        again["memories"],
        json!({"created": 0, "updated": 0, "skipped": 3, "skipped_by_reason": {"unchanged": 3}})
    );
    assert_eq!(
        again["relationships"]["skipped_by_reason"],
        json!({"unchanged": 2})
    );

    // A newer version of a memory replaces it; an older one is skipped.
    let text = std::fs::read_to_string(fixture("native_small.jsonl")).unwrap();
    let newer = text.replace("\"content\":\"one writer, many readers\"", "\"content\":\"one writer, many readers, no waiting\"")
        .replace("\"created_at\":\"2025-05-04T08:00:00Z\",\"updated_at\":\"2025-05-04T08:00:00Z\",\"access_count\":0,\"version\":1}",
                 "\"created_at\":\"2025-05-04T08:00:00Z\",\"updated_at\":\"2025-05-05T08:00:00Z\",\"access_count\":0,\"version\":2}");
    let newer_path = d.join("newer.jsonl");
    std::fs::write(&newer_path, &newer).unwrap();
    let updated = json(d, &["import", newer_path.to_str().unwrap()]);
    assert_eq!(updated["memories"]["updated"], 1);
    let older_path = d.join("older.jsonl");
    std::fs::write(
        &older_path,
        text.replace("one writer, many readers", "stale text"),
    )
    .unwrap();
    assert_eq!(
        json(d, &["import", older_path.to_str().unwrap()])["memories"]["skipped_by_reason"]["older"],
        1
    );
    let note = json(d, &["show", "01900000-0000-7000-8000-0000000000a3"]);
    assert_eq!(
        note["memories"][0]["content"],
        "one writer, many readers, no waiting"
    );
}

#[test]
fn malformed_lines_are_reported_and_never_half_import_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lines: Vec<String> = std::fs::read_to_string(fixture("native_small.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    // header, m1, m2, <bad>, m3, r1, r2: with batches of 2, m1 and m2 form a whole batch.
    let mut bad = lines.clone();
    bad.insert(3, "{not json".to_owned());
    bad.insert(
        5,
        lines[3]
            .replace("\"kind\":\"note\"", "\"kind\":\"Not A Kind\"")
            .replace("0000000000a3", "0000000000a9"),
    );
    let path = d.join("bad.jsonl");
    std::fs::write(&path, bad.join("\n")).unwrap();
    let p = path.to_str().unwrap();

    let o = run(d, &["--json", "import", p, "--batch-size", "2"]);
    assert!(!o.status.success());
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["stopped_at"], "line 4");
    assert_eq!(
        report["memories"]["created"], 2,
        "the full batch before the bad line"
    );
    assert!(
        stderr(&o).contains("line 4: not a mnemograph record"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("stopped at line 4"));

    let o = run(
        d,
        &[
            "-n",
            "b",
            "--create",
            "--json",
            "import",
            p,
            "--batch-size",
            "3",
        ],
    );
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        report["memories"]["created"], 0,
        "the batch holding the bad line is not written"
    );

    let skipped = json(
        d,
        &["-n", "c", "--create", "import", p, "--on-error", "skip"],
    );
    let at: Vec<&str> = skipped["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["at"].as_str().unwrap())
        .collect();
    assert_eq!(at, ["line 4", "line 6"]);
    assert!(
        skipped["errors"][1]["message"]
            .as_str()
            .unwrap()
            .contains("kind")
    );
    assert_eq!(skipped["memories"]["created"], 3);
    assert_eq!(skipped["relationships"]["created"], 2);

    let headless = d.join("headless.jsonl");
    std::fs::write(&headless, lines[1..].join("\n")).unwrap();
    assert!(
        fails(
            d,
            &[
                "-n",
                "e",
                "--create",
                "import",
                headless.to_str().unwrap(),
                "-f",
                "native"
            ]
        )
        .contains("line 1")
    );
    let empty = d.join("empty.jsonl");
    std::fs::write(&empty, "\n\n").unwrap();
    assert!(fails(d, &["import", empty.to_str().unwrap()]).contains("empty"));
}

#[test]
fn imports_the_reference_memory_servers_memory_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let report = json(d, &["import", &fixture("server_memory.jsonl")]);
    assert_eq!(report["memories"]["created"], 3);
    assert_eq!(report["relationships"]["created"], 2);
    let again = json(d, &["import", &fixture("server_memory.jsonl")]);
    assert_eq!(again["memories"]["skipped"], 3);
    assert_eq!(again["relationships"]["skipped"], 2);

    let hits = json(d, &["search", "Spanish"]);
    let john = &hits["hits"][0]["memory"];
    assert_eq!(john["title"], "John_Smith");
    assert_eq!(john["kind"], "person");
    assert_eq!(
        john["content"],
        "Speaks fluent Spanish\nGraduated in 2019\nPrefers morning meetings"
    );
    let shown = json(d, &["show", john["id"].as_str().unwrap()]);
    let types: Vec<&str> = shown["memories"][0]["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rel_type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"WORKS_AT") && types.contains(&"IS_LEARNING"),
        "{types:?}"
    );
    let rust = json(d, &["list", "-k", "programming-language"]);
    assert_eq!(
        rust["memories"][0]["context"]["knowledge_graph"],
        json!({"entity_type": "programming language", "empty": true})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_entities_answer_to_the_servers_knowledge_graph_tools() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    ok(&d, &["import", &fixture("server_memory.jsonl")]);
    let client = client::spawn_with(&d, &["--profile", "knowledge-graph"]).await;
    let graph = client::ok(&client, "read_graph", json!({})).await;
    let names: Vec<&str> = graph["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    let rust = graph["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "Rust")
        .unwrap();
    assert_eq!(rust["entityType"], "programming language");
    assert_eq!(rust["observations"], json!([]));
    let relation = graph["relations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["to"] == "Anthropic")
        .unwrap();
    assert_eq!(relation["relationType"], "works_at");
    client.cancel().await.unwrap();
}

#[test]
fn imports_a_memorygraph_export() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let report = json(d, &["import", &fixture("memorygraph_export.json")]);
    assert_eq!(report["memories"]["created"], 3, "{report:#}");
    assert_eq!(report["relationships"]["created"], 2);
    assert_eq!(
        json(d, &["import", &fixture("memorygraph_export.json")])["memories"]["skipped"],
        3
    );

    let problem = json(d, &["show", "4b1e2f3a-5c6d-4e7f-8a9b-0c1d2e3f4a5b"]);
    let m = &problem["memories"][0];
    assert_eq!(m["kind"], "problem");
    assert_eq!(m["created_at"], "2025-01-10T09:30:00Z");
    assert_eq!(m["context"]["project"], "search-api");
    assert_eq!(m["context"]["language"], "python");
    assert_eq!(m["context"]["paths"], json!(["api/search.py"]));
    assert_eq!(
        m["context"]["memorygraph"]["summary"],
        "Search endpoint timeouts"
    );
    let solves = m["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rel_type"] == "SOLVES")
        .unwrap();
    assert_eq!(solves["note"], "verified in staging");
    assert_eq!(solves["strength"], 0.9);
    let legacy = json(d, &["list", "-k", "general"]);
    assert_eq!(
        legacy["memories"][0]["context"]["memorygraph"]["id"],
        "legacy-note-1"
    );

    let broken = d.join("broken.json");
    std::fs::write(&broken, "{\"memories\": [").unwrap();
    assert!(
        fails(
            d,
            &["import", broken.to_str().unwrap(), "-f", "memorygraph"]
        )
        .contains("document")
    );
}

#[test]
fn backup_and_vacuum() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["import", &fixture("native_small.jsonl")]);
    let copy = d.join("backup.db");
    let c = copy.to_str().unwrap();
    assert!(json(d, &["backup", c])["size_bytes"].as_u64().unwrap() > 0);
    assert!(fails(d, &["backup", c]).contains("--force"));
    ok(d, &["backup", c, "--force"]);
    let from_copy = memctl(d)
        .args(["--json", "--db", c, "stats"])
        .output()
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&from_copy.stdout).unwrap()["memories"],
        3
    );
    let vacuumed = json(d, &["vacuum"]);
    assert!(vacuumed["after_bytes"].as_u64().unwrap() > 0);
    assert_eq!(json(d, &["doctor"])["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memctl_works_while_a_server_writes_to_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let d: PathBuf = dir.path().to_owned();
    let client = client::spawn(&d).await;
    // The peer handle can be moved into a task; the running service stays here.
    let peer = client.peer().clone();
    let writer = tokio::spawn(async move {
        for i in 0..40 {
            let args = json!({"kind": "note", "title": format!("server note {i}"), "content": "written over MCP"});
            let result = peer
                .call_tool(
                    CallToolRequestParams::new("store_memory")
                        .with_arguments(args.as_object().unwrap().clone()),
                )
                .await
                .unwrap();
            assert_eq!(result.is_error, Some(false), "{result:?}");
        }
    });
    let d2 = d.clone();
    let cli = tokio::task::spawn_blocking(move || {
        for i in 0..10 {
            add(&d2, "fix", &format!("cli fix {i}"), "written by memctl");
            json(&d2, &["list", "--limit", "5"]);
            json(&d2, &["search", "note"]);
        }
        let backup = d2.join("live-backup.db");
        ok(&d2, &["backup", backup.to_str().unwrap()]);
        let export = d2.join("live.jsonl");
        ok(&d2, &["export", export.to_str().unwrap()]);
    });
    cli.await.unwrap();
    writer.await.unwrap();
    let stats = json(&d, &["stats"]);
    assert_eq!(stats["memories"], 50);
    let served = client::ok(&client, "memory_stats", json!({})).await;
    assert_eq!(served["memories"], 50);
    assert_eq!(json(&d, &["doctor"])["ok"], true);
    client.cancel().await.unwrap();
}

/// A `memctl` command with the built-in embedder on the shared model.
fn with_model(dir: &Path, args: &[&str]) -> Output {
    support::with_model(&mut memctl(dir))
        .args(args)
        .output()
        .expect("run memctl")
}

/// [`with_model`] with `--json`, which must succeed.
fn json_with_model(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let o = with_model(dir, &all);
    assert!(o.status.success(), "memctl {args:?} failed: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("memctl {args:?}: {e}"))
}

fn embeddings_check(doctor: &Value) -> String {
    doctor["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "embeddings")
        .unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn reembed_embeds_memories_written_without_an_embedder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let add_off = |title: &str, content: &str| -> String {
        let o = memctl(d)
            .env("MNEMOGRAPH_EMBEDDER", "none")
            .args(["--json", "add", "-k", "note", "-t", title, "-c", content])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice::<Value>(&o.stdout).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let lock = add_off(
        "SQLite database is locked",
        "two processes write at once; use a busy timeout",
    );
    add_off("Borrow checker", "E0502 in the parser");
    add_off("Cats", "my cat sleeps in the sun");
    let stats = json(d, &["stats"]);
    assert_eq!(
        (stats["embedded"].clone(), stats["embedding_model"].clone()),
        (json!(0), Value::Null)
    );

    // No embedder configured: a one-line error that says how to configure one.
    let o = memctl(d)
        .env("MNEMOGRAPH_EMBEDDER", "none")
        .arg("reembed")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.starts_with("memctl: ")
            && err.contains("MNEMOGRAPH_EMBEDDER=model2vec")
            && err.contains("MNEMOGRAPH_MODEL_DIR"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!run(d, &["reembed", "--batch", "0"]).status.success());

    let report = json_with_model(d, &["reembed", "--batch", "2"]);
    assert_eq!(
        keys(&report),
        [
            "dimension",
            "embedded",
            "failed",
            "model",
            "previous_dimension",
            "previous_model",
            "skipped",
            "total"
        ]
    );
    let model = report["model"].as_str().unwrap().to_owned();
    assert!(model.starts_with("model2vec/m2v-minilm-int8@"), "{model}");
    assert_eq!(report["dimension"], 256);
    assert_eq!(report["previous_model"], Value::Null);
    assert_eq!(
        [
            &report["total"],
            &report["embedded"],
            &report["failed"],
            &report["skipped"]
        ],
        [&json!(3), &json!(3), &json!(0), &json!(0)]
    );
    // stdout is the JSON alone: no progress bar off a terminal.
    let stats = json(d, &["stats"]);
    assert_eq!(stats["embedded"], 3);
    assert_eq!(stats["embedding_model"], model.as_str());

    let page = json_with_model(
        d,
        &[
            "search",
            "concurrent writers conflict",
            "--mode",
            "semantic",
        ],
    );
    assert_eq!(page["mode"], "semantic");
    assert_eq!(memory_ids(&page["hits"])[0], lock.as_str());
    let page = json_with_model(d, &["search", "sqlite writers", "--mode", "hybrid"]);
    assert_eq!(memory_ids(&page["hits"])[0], lock.as_str());

    // Again: nothing to do.
    let again = json_with_model(d, &["reembed"]);
    assert_eq!(
        (again["embedded"].clone(), again["skipped"].clone()),
        (json!(0), json!(3))
    );
    let o = with_model(d, &["reembed"]);
    assert!(stdout(&o).contains("nothing to do"), "{}", stdout(&o));
    let forced = json_with_model(d, &["reembed", "--force"]);
    assert_eq!(forced["embedded"], 3);

    let doctor = json_with_model(d, &["doctor"]);
    assert_eq!(doctor["ok"], true, "{doctor:#}");
    assert!(
        embeddings_check(&doctor).contains("3 of 3 memories"),
        "{doctor:#}"
    );
    assert!(ok(d, &["--help"]).contains("reembed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reembed_switches_a_store_from_another_model() {
    let dir = tempfile::tempdir().unwrap();
    let d: PathBuf = dir.path().to_owned();
    ok(&d, &["init"]);
    // The old model writes the memories (embedded on write) through the library.
    let db = d.join("data/default.db");
    let lock = written_by_the_old_model(&db).await;

    let d2 = d.clone();
    let lock2 = lock.clone();
    tokio::task::spawn_blocking(move || {
        let d = d2.as_path();
        let stats = json(d, &["stats"]);
        assert_eq!(stats["embedding_model"], "test/m2v-minilm-64d");
        assert_eq!(stats["embedded"], 3);

        // Before the switch: doctor and semantic search say to run reembed.
        let o = with_model(d, &["--json", "doctor"]);
        assert!(!o.status.success());
        let doctor: Value = serde_json::from_slice(&o.stdout).unwrap();
        let detail = embeddings_check(&doctor);
        assert!(
            detail.contains("test/m2v-minilm-64d") && detail.contains("memctl reembed"),
            "{detail}"
        );
        let o = with_model(d, &["search", "writers", "--mode", "semantic"]);
        assert!(!o.status.success());
        assert!(stderr(&o).contains("memctl reembed"), "{}", stderr(&o));
        // Keyword search is unaffected.
        assert_eq!(
            memory_ids(&json(d, &["search", "sqlite"])["hits"])[0],
            lock2.as_str()
        );

        let report = json_with_model(d, &["reembed"]);
        assert_eq!(report["previous_model"], "test/m2v-minilm-64d");
        assert_eq!(report["previous_dimension"], 64);
        assert_eq!(report["dimension"], 256);
        assert_eq!(
            (report["total"].clone(), report["embedded"].clone()),
            (json!(3), json!(3))
        );
        let model = report["model"].as_str().unwrap().to_owned();

        let stats = json(d, &["stats"]);
        assert_eq!(stats["embedding_model"], model.as_str());
        assert_eq!(stats["embedded"], 3);
        let doctor = json_with_model(d, &["doctor"]);
        assert_eq!(doctor["ok"], true, "{doctor:#}");
        let page = json_with_model(
            d,
            &[
                "search",
                "concurrent writers conflict",
                "--mode",
                "semantic",
            ],
        );
        assert_eq!(memory_ids(&page["hits"])[0], lock2.as_str());
        assert_eq!(json_with_model(d, &["reembed"])["embedded"], 0);
    })
    .await
    .unwrap();

    // Every old vector was replaced by one of the new model.
    let backend = mnemograph::backend::libsql::LibsqlBackend::open_local(&db)
        .await
        .unwrap();
    use mnemograph::backend::GraphBackend;
    let ids: Vec<String> = backend
        .list_memories(&Default::default(), None, 10)
        .await
        .unwrap()
        .memories
        .into_iter()
        .map(|m| m.id)
        .collect();
    let vectors = backend.embeddings(&ids).await.unwrap();
    assert_eq!(vectors.len(), 3);
    assert!(
        vectors
            .iter()
            .all(|(_, e)| e.model.starts_with("model2vec/") && e.vector.len() == 256)
    );
    assert!(ids.contains(&lock));
}

/// File-level commands refuse a store whose memories live on a primary, before touching
/// anything (no local file is made), and `config` shows the mode and where it came from.
#[test]
fn backup_and_vacuum_are_for_local_stores() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let backup = d.join("copy.db");
    for args in [&["backup", backup.to_str().unwrap()][..], &["vacuum"]] {
        let out = memctl(d)
            .env("MNEMOGRAPH_PRIMARY_URL", "http://127.0.0.1:9")
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains("replica mode") && err.contains("memctl export"),
            "{err}"
        );
    }
    assert!(!backup.exists());
    assert!(!d.join("data").join("default.db").exists());
    let out = memctl(d)
        .env("MNEMOGRAPH_PRIMARY_URL", "http://127.0.0.1:9")
        .args(["--json", "config"])
        .output()
        .unwrap();
    let config: Value = serde_json::from_slice(&out.stdout).unwrap();
    let setting = |key: &str| {
        config["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("no {key} in {config}"))
    };
    assert_eq!(setting("mode")["value"], "replica");
    assert_eq!(setting("primary_url")["value"], "http://127.0.0.1:9");
    assert!(
        setting("primary_url")["source"]
            .as_str()
            .unwrap()
            .contains("MNEMOGRAPH_PRIMARY_URL")
    );
}

/// With nothing configured, memctl searches and recalls by meaning too, as the server does;
/// `--mode keyword` still skips the model.
#[test]
fn search_and_recall_are_hybrid_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let builtin = |args: &[&str]| {
        let o = memctl(d)
            .env_remove("MNEMOGRAPH_EMBEDDER")
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "memctl {args:?}: {}", stderr(&o));
        serde_json::from_slice::<Value>(&o.stdout).unwrap()
    };
    builtin(&[
        "--json",
        "add",
        "-k",
        "fix",
        "-t",
        "Retry when SQLite reports busy",
        "-c",
        "A busy timeout lets a writer wait for the lock.",
    ]);
    let found = builtin(&["--json", "search", "database locked by another process"]);
    assert_eq!(found["mode"], "hybrid", "{found}");
    assert_eq!(found["hits"].as_array().unwrap().len(), 1, "{found}");
    let recalled = builtin(&["--json", "recall", "database locked by another process"]);
    assert_eq!(recalled["items"].as_array().unwrap().len(), 1, "{recalled}");
    let keyword = builtin(&["--json", "search", "busy", "--mode", "keyword"]);
    assert_eq!(keyword["mode"], "keyword", "{keyword}");
}

/// Without a terminal memctl never starts an editor (one would hang a script, or print escape
/// codes into its output): a missing field is an error that names the flags to pass.
#[test]
fn without_a_terminal_missing_fields_are_an_error_not_an_editor() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // An editor that would hang the test if it were started.
    let no_editor = |args: &[&str]| {
        memctl(d)
            .env("EDITOR", "sleep 600")
            .args(args)
            .output()
            .unwrap()
    };
    let o = no_editor(&["add", "-c", "content without a title"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("no terminal") && err.contains("--title") && err.contains("--content"),
        "{err}"
    );
    assert!(stdout(&o).is_empty(), "nothing on stdout: {}", stdout(&o));
    let id = json(d, &["add", "-t", "Titled", "-c", "body"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let o = no_editor(&["edit", &id]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("no terminal") && err.contains("--title"),
        "{err}"
    );
    assert_eq!(
        json(d, &["show", &id])["memories"][0]["version"],
        1,
        "nothing changed"
    );
}

/// A reader that stops early (`memctl export - | head`) ends memctl quietly, as any filter.
#[test]
fn a_closed_output_pipe_ends_quietly() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let big = "word ".repeat(12_000);
    for i in 0..12 {
        ok(
            d,
            &["add", "-k", "note", "-t", &format!("n{i}"), "-c", &big],
        );
    }
    for args in [&["export", "-"][..], &["--json", "list", "--limit", "30"]] {
        let mut child = memctl(d)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 10];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        // The read end is dropped here, with megabytes still to write.
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "memctl {args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "memctl {args:?}");
    }
}

/// A write to a namespace nobody made is more likely a typo than a wish: it is refused, and
/// makes nothing, unless --create says otherwise. The default namespace is made on first use.
#[test]
fn a_misspelt_namespace_is_not_created_by_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["-n", "work", "init"]);
    ok(d, &["-n", "work", "add", "-t", "Kept", "-c", "in work"]);
    let err = fails(d, &["-n", "wrok", "add", "-t", "Lost?", "-c", "typo"]);
    assert!(
        err.contains("namespace wrok has no store yet") && err.contains("--create"),
        "{err}"
    );
    assert!(!d.join("data/wrok.db").exists());
    ok(
        d,
        &[
            "-n",
            "wrok",
            "--create",
            "add",
            "-t",
            "Meant",
            "-c",
            "on purpose",
        ],
    );
    assert!(d.join("data/wrok.db").exists());
    // The default namespace needs no ceremony.
    ok(d, &["add", "-t", "First", "-c", "memory"]);
    assert!(d.join("data/default.db").exists());
}

/// People may shorten ids: a unique prefix works wherever memctl takes an id; one that fits
/// several is an error listing them.
#[test]
fn unique_id_prefixes_are_accepted_and_ambiguous_ones_listed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = add(d, "error", "Locked database", "SQLITE_BUSY");
    let b = add(d, "fix", "Busy timeout", "wait for the lock");
    // UUIDv7 ids made together share their leading time digits: find the shortest
    // prefix of each that the other lacks.
    let short = |id: &str, other: &str| {
        let n = id
            .chars()
            .zip(other.chars())
            .take_while(|(x, y)| x == y)
            .count()
            + 1;
        id[..n.max(8)].to_owned()
    };
    let (pa, pb) = (short(&a, &b), short(&b, &a));
    let linked = json(d, &["link", &pb, "SOLVES", &pa]);
    let rel = linked["relationship"]["id"].as_str().unwrap().to_owned();
    assert_eq!(linked["relationship"]["source_id"], b.as_str());
    assert_eq!(linked["relationship"]["target_id"], a.as_str());
    assert_eq!(json(d, &["show", &pa])["memories"][0]["id"], a.as_str());
    let related = json(d, &["related", &pa]);
    assert_eq!(related["id"], a.as_str());
    assert_eq!(memory_ids(&related["neighbours"]), [b.as_str()]);
    assert_eq!(json(d, &["path", &pa, &pb])["hops"], 1);
    assert_eq!(
        json(d, &["edit", &pb, "--title", "Set a busy timeout"])["id"],
        b.as_str()
    );
    // A prefix both share is ambiguous, and the error names both.
    let common = &a[..a
        .chars()
        .zip(b.chars())
        .take_while(|(x, y)| x == y)
        .count()
        .max(4)];
    if b.starts_with(common) {
        let err = fails(d, &["show", common]);
        assert!(
            err.contains("matches several memories") && err.contains(&a) && err.contains(&b),
            "{err}"
        );
    }
    assert!(fails(d, &["show", "ffff"]).contains("not found"));
    json(d, &["unlink", &rel[..rel.len() - 4]]);
    assert!(
        json(d, &["related", &a])["neighbours"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    json(d, &["--yes", "rm", &pa]);
    assert!(fails(d, &["show", &a]).contains("not found"));
}

/// A store of many small unlinked parts renders as a picture near square, not as one row
/// thousands of points wide (Graphviz's `dot`, when installed, measures it).
#[test]
fn a_whole_store_graph_lays_out_readably() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut ids = Vec::new();
    for i in 0..30 {
        let error = add(d, "error", &format!("Error number {i}"), "something failed");
        let fix = add(d, "fix", &format!("Fix number {i}"), "what solved it");
        json(d, &["link", &fix, "SOLVES", &error]);
        ids.push(error);
    }
    let mut args = vec!["graph"];
    args.extend(ids.iter().map(String::as_str));
    let dot = ok(d, &args);
    assert!(dot.contains("packmode=\"array_u\""), "{dot}");
    let Some(graphviz) = support::on_path("dot") else {
        support::skip("the laid-out size: Graphviz's `dot` is not installed");
        return;
    };
    let mut child = std::process::Command::new(graphviz)
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dot.as_bytes())
        .unwrap();
    let svg = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let size = |attr: &str| -> f64 {
        let at = svg.find(&format!("{attr}=\"")).unwrap() + attr.len() + 2;
        svg[at..].split("pt").next().unwrap().parse().unwrap()
    };
    let (width, height) = (size("width"), size("height"));
    assert!(width / height < 4.0, "{width} x {height} points");
}
