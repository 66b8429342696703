//! Protocol abuse against the real `mnemograph` binary over raw stdio: bytes a broken or
//! hostile client may write. For each case the server answers with a JSON-RPC error (a line
//! that is not JSON gets -32700, with its id when one can be read), skips a blank line, drops a
//! line over the cap (see RELIABILITY.md), or exits cleanly; it never hangs
//! (every read has a timeout), never panics (stderr is checked), writes nothing but JSON-RPC
//! lines on stdout, and keeps serving well-formed requests where the transport stays open.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::task::JoinHandle;

use crate::support;

/// Generous bound on any one answer or exit: only a hang takes this long.
const PATIENCE: Duration = Duration::from_secs(60);

/// JSON-RPC error codes.
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const PARSE_ERROR: i64 = -32700;

/// The server on raw pipes.
struct Raw {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: JoinHandle<String>,
}

impl Raw {
    /// Starts the server on the store in `dir` without any handshake.
    fn start(dir: &Path, args: &[&str]) -> Raw {
        let mut child = support::command(dir)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn mnemograph");
        let mut err = child.stderr.take().expect("stderr");
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text).await;
            text
        });
        Raw {
            stdin: child.stdin.take(),
            stdout: BufReader::new(child.stdout.take().expect("stdout")).lines(),
            child,
            stderr,
        }
    }

    /// Starts the server and completes the MCP handshake.
    async fn initialized(dir: &Path, args: &[&str]) -> Raw {
        let mut raw = Raw::start(dir, args);
        raw.initialize().await;
        raw
    }

    async fn initialize(&mut self) {
        self.send(
            &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "abuse", "version": "0"}}}),
        )
        .await;
        let answer = self.answer().await;
        assert_eq!(answer["id"], 0);
        assert_eq!(
            answer["result"]["serverInfo"]["name"], "mnemograph",
            "{answer}"
        );
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
    }

    /// Writes `bytes` as they are (a line needs its own `\n`).
    async fn write(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(bytes).await.expect("write to the server");
        stdin.flush().await.expect("flush");
    }

    async fn send(&mut self, message: &Value) {
        let mut line = serde_json::to_vec(message).unwrap();
        line.push(b'\n');
        self.write(&line).await;
    }

    /// The next line of stdout, which must be one JSON-RPC answer (result or error).
    async fn answer(&mut self) -> Value {
        let line = tokio::time::timeout(PATIENCE, self.stdout.next_line())
            .await
            .expect("the server hangs")
            .expect("read stdout")
            .expect("the server closed stdout instead of answering");
        json_rpc(&line)
    }

    /// Sends a request and returns the answer to it, which must be the next line.
    async fn request(&mut self, id: i64, method: &str, params: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        let answer = self.answer().await;
        assert_eq!(answer["id"], id, "an answer to something else: {answer}");
        answer
    }

    /// Proves the session still serves: a tool call answers normally.
    async fn still_serves(&mut self, id: i64) {
        let answer = self
            .request(
                id,
                "tools/call",
                json!({"name": "memory_stats", "arguments": {}}),
            )
            .await;
        assert_eq!(answer["result"]["isError"], false, "{answer}");
    }

    /// Closes stdin and waits for the exit; checks every line left on stdout and that stderr
    /// has no panic. Returns the status and stderr.
    async fn finish(mut self) -> (ExitStatus, String) {
        drop(self.stdin.take());
        let rest = tokio::time::timeout(PATIENCE, async {
            let mut rest = Vec::new();
            while let Some(line) = self.stdout.next_line().await.expect("read stdout") {
                rest.push(line);
            }
            rest
        })
        .await
        .expect("the server did not close stdout after stdin closed");
        for line in rest {
            json_rpc(&line);
        }
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the server did not exit after stdin closed")
            .expect("wait");
        let stderr = self.stderr.await.expect("stderr reader");
        assert!(
            !stderr.contains("panicked"),
            "the server panicked: {stderr}"
        );
        (status, stderr)
    }
}

/// Parses a stdout line, which must be a JSON-RPC 2.0 answer: a result with an id, or an
/// error with a code and a message. An error to a request whose id could not be read has no
/// id (rmcp leaves it out where JSON-RPC 2.0 says `null`).
fn json_rpc(line: &str) -> Value {
    let answer: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("stdout carries a line that is not JSON ({e}): {line}"));
    assert_eq!(answer["jsonrpc"], "2.0", "{line}");
    match (answer.get("result"), answer.get("error")) {
        (Some(_), None) => assert!(answer.get("id").is_some(), "no id: {line}"),
        (None, Some(error)) => {
            assert!(error["code"].is_i64(), "{line}");
            assert!(error["message"].is_string(), "{line}");
        }
        _ => panic!("neither a result nor an error: {line}"),
    }
    answer
}

/// The code of an error answer to a request that could not be identified (no id, or null).
fn anonymous_error(answer: &Value) -> i64 {
    assert_eq!(answer["id"], Value::Null, "{answer}");
    answer["error"]["code"].as_i64().expect("an error")
}

#[tokio::test]
async fn lines_that_are_not_json_get_a_parse_error_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = Raw::initialized(dir.path(), &[]).await;
    for (garbage, id) in [
        (&b"this is not json\n"[..], Value::Null),
        // Truncated: the id is read from what came.
        (b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\n", json!(1)),
        (b"}}}\n", Value::Null),
    ] {
        raw.write(garbage).await;
        let answer = raw.answer().await;
        assert_eq!(answer["error"]["code"], PARSE_ERROR, "{answer}");
        assert_eq!(answer["id"], id, "{answer}");
    }
    // Blank lines are skipped: the next line is the answer to this call.
    raw.write(b"\r\n").await;
    raw.write(b"\n").await;
    raw.still_serves(2).await;
    let (status, _) = raw.finish().await;
    assert!(status.success(), "{status}");
}

/// A `store_memory` request whose `importance` is `value`, written as it is.
fn store_with_importance(id: i64, value: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"store_memory","arguments":{{"kind":"note","title":"t","content":"c","importance":{value}}}}}}}"#
    )
}

#[tokio::test]
async fn json_serde_cannot_read_gets_a_parse_error_with_its_id_or_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = Raw::initialized(dir.path(), &[]).await;
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":"deep","method":"tools/call","params":{{"name":"memory_stats","arguments":{{"x":{}{}}}}}}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    for (line, id, says) in [
        (deep, json!("deep"), "recursion limit"),
        (store_with_importance(1, "NaN"), json!(1), "expected value"),
        (
            store_with_importance(2, "1e309"),
            json!(2),
            "number out of range",
        ),
        // The id after the break is found all the same.
        (
            r#"{"method":"ping","params":{"n":1e999},"id":3,"jsonrpc":"2.0"}"#.to_owned(),
            json!(3),
            "number out of range",
        ),
        (r#"[{"a":NaN}]"#.to_owned(), Value::Null, "expected value"),
    ] {
        raw.write(format!("{line}\n").as_bytes()).await;
        let answer = raw.answer().await;
        assert_eq!(answer["error"]["code"], PARSE_ERROR, "{answer}");
        assert_eq!(answer["id"], id, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }

    // A lone surrogate (half of an emoji cut by a client) is replaced and the call goes on.
    let cut = r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"store_memory","arguments":{"kind":"note","title":"cut \ud83d here \ud83d\ude00","content":"lone low \udc00"}}}"#;
    raw.write(format!("{cut}\n").as_bytes()).await;
    let answer = raw.answer().await;
    assert_eq!(answer["id"], 4, "{answer}");
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    let id = answer["result"]["structuredContent"]["id"].clone();
    let got = raw
        .request(
            5,
            "tools/call",
            json!({"name": "get_memory", "arguments": {"ids": [id]}}),
        )
        .await;
    let memory = &got["result"]["structuredContent"]["memories"][0];
    assert_eq!(memory["title"], "cut \u{FFFD} here \u{1F600}", "{got}");
    assert_eq!(memory["content"], "lone low \u{FFFD}", "{got}");

    raw.still_serves(6).await;
    let (status, _) = raw.finish().await;
    assert!(status.success(), "{status}");
    // Only the repaired request stored anything.
    let stats = support::memctl::command(dir.path())
        .args(["--json", "stats"])
        .output()
        .unwrap();
    let stats: Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["memories"], 1, "{stats}");
}

#[tokio::test]
async fn json_that_is_not_a_valid_request_gets_invalid_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = Raw::initialized(dir.path(), &[]).await;
    for line in [
        "42",
        "[1, 2]",
        "\"ping\"",
        "null",
        "{}",
        // No method.
        r#"{"jsonrpc": "2.0", "id": 3}"#,
        // Wrong protocol version.
        r#"{"jsonrpc": "1.0", "id": 4, "method": "ping"}"#,
        // Ids of the wrong type.
        r#"{"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}"#,
        r#"{"jsonrpc": "2.0", "id": [5], "method": "ping"}"#,
        r#"{"jsonrpc": "2.0", "id": true, "method": "ping"}"#,
    ] {
        raw.write(format!("{line}\n").as_bytes()).await;
        let answer = raw.answer().await;
        assert_eq!(
            anonymous_error(&answer),
            INVALID_REQUEST,
            "{line}: {answer}"
        );
    }
    raw.still_serves(6).await;
    let (status, _) = raw.finish().await;
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn a_10_mb_line_is_answered_and_a_line_over_16_mib_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = Raw::initialized(dir.path(), &[]).await;
    let content = "x".repeat(10 * 1024 * 1024);
    let answer = raw
        .request(
            1,
            "tools/call",
            json!({"name": "store_memory",
                   "arguments": {"kind": "note", "title": "big", "content": content}}),
        )
        .await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let message = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(message.contains("content"), "{message}");
    assert!(message.contains("the limit is 65536"), "{message}");

    // Past rmcp's 16 MiB line cap the line is dropped unread, and the session goes on.
    let mut huge = vec![b'y'; 17 * 1024 * 1024];
    huge.push(b'\n');
    raw.write(&huge).await;
    raw.still_serves(2).await;
    let (status, stderr) = raw.finish().await;
    assert!(status.success(), "{status}");
    assert!(stderr.contains("maximum line length"), "{stderr}");
}

#[tokio::test]
async fn invalid_utf8_gets_a_parse_error_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = Raw::initialized(dir.path(), &[]).await;
    raw.write(b"\xff\xfe\xfd\n").await;
    assert_eq!(anonymous_error(&raw.answer().await), PARSE_ERROR);
    raw.write(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"store_memory\",\"arguments\":{\"kind\":\"note\",\"title\":\"t\xc3\x28\",\"content\":\"c\"}}}\n")
        .await;
    let answer = raw.answer().await;
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(answer["error"]["code"], PARSE_ERROR, "{answer}");
    raw.still_serves(2).await;
    let (status, _) = raw.finish().await;
    assert!(status.success(), "{status}");
    // The request with invalid UTF-8 stored nothing.
    let stats = support::memctl::command(dir.path())
        .args(["--json", "stats"])
        .output()
        .unwrap();
    let stats: Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["memories"], 0, "{stats}");
}

#[tokio::test]
async fn unknown_methods_tools_and_wrong_arguments_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = Raw::initialized(dir.path(), &[]).await;
    let answer = raw.request(1, "no/such/method", json!({})).await;
    assert_eq!(answer["error"]["code"], METHOD_NOT_FOUND, "{answer}");
    assert_eq!(
        answer["error"]["message"],
        "unknown method \"no/such/method\""
    );

    // An unknown notification gets no answer (notifications never do).
    raw.send(&json!({"jsonrpc": "2.0", "method": "notifications/no_such_thing"}))
        .await;

    let answer = raw
        .request(
            2,
            "tools/call",
            json!({"name": "no_such_tool", "arguments": {}}),
        )
        .await;
    assert_eq!(answer["error"]["code"], INVALID_PARAMS, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no_such_tool"),
        "{answer}"
    );

    // Arguments that do not decode are a tool error (rmcp's), which the model reads and fixes.
    for (id, arguments, says) in [
        (
            3,
            json!({"kind": "note", "title": 5, "content": "c"}),
            "expected a string",
        ),
        (
            4,
            json!({"kind": "note", "title": "t"}),
            "missing field `content`",
        ),
        (
            5,
            json!({"kind": "note", "title": "t", "content": "c", "tags": "x"}),
            "expected a sequence",
        ),
        (
            6,
            json!({"kind": "note", "title": "t", "content": "c", "importance": "high"}),
            "expected f32",
        ),
    ] {
        let answer = raw
            .request(
                id,
                "tools/call",
                json!({"name": "store_memory", "arguments": arguments}),
            )
            .await;
        assert_eq!(answer["result"]["isError"], true, "{answer}");
        let message = answer["result"]["content"][0]["text"].as_str().unwrap();
        assert!(
            message.contains("failed to deserialize parameters"),
            "{message}"
        );
        assert!(message.contains(says), "{message}");
    }
    // Arguments that are not an object: the request does not have the shape of tools/call.
    let answer = raw
        .request(
            7,
            "tools/call",
            json!({"name": "memory_stats", "arguments": [1]}),
        )
        .await;
    assert_eq!(answer["error"]["code"], INVALID_PARAMS, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("params of tools/call"),
        "{answer}"
    );

    raw.still_serves(8).await;
    let (status, _) = raw.finish().await;
    assert!(status.success(), "{status}");
    let stats = support::memctl::command(dir.path())
        .args(["--json", "stats"])
        .output()
        .unwrap();
    let stats: Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(
        stats["memories"], 0,
        "a rejected call stored something: {stats}"
    );
}

#[tokio::test]
async fn requests_before_initialize_are_refused_until_it_comes() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = Raw::start(dir.path(), &[]);
    // Ping is allowed before initialize.
    let answer = raw.request(1, "ping", json!({})).await;
    assert_eq!(answer["result"], json!({}), "{answer}");
    // Anything else is refused with an error naming what is missing, and the server waits on.
    let answer = raw.request(2, "tools/list", json!({})).await;
    assert!(answer["error"]["code"].is_i64(), "{answer}");
    raw.initialize().await;
    let answer = raw.request(3, "tools/list", json!({})).await;
    assert!(
        answer["result"]["tools"].as_array().unwrap().len() > 5,
        "{answer}"
    );
    let (status, _) = raw.finish().await;
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn a_notification_before_initialize_ends_the_session_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = Raw::start(dir.path(), &[]);
    raw.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await;
    let (status, stderr) = raw.finish().await;
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("mnemograph: MCP session failed: expect initialized request"),
        "{stderr}"
    );
}

#[tokio::test]
async fn closing_stdin_exits_cleanly_before_or_after_initialize() {
    let dir = tempfile::tempdir().unwrap();
    // A client that connects and leaves at once.
    let (status, stderr) = Raw::start(dir.path(), &[]).finish().await;
    assert!(status.success(), "{status}: {stderr}");

    let raw = Raw::initialized(dir.path(), &[]).await;
    let (status, stderr) = raw.finish().await;
    assert!(status.success(), "{status}: {stderr}");
}

#[tokio::test]
async fn a_request_sent_just_before_stdin_closes_is_answered_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = Raw::initialized(dir.path(), &[]).await;
    raw.send(
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "store_memory",
        "arguments": {"kind": "note", "title": "last words", "content": "sent before EOF"}}}),
    )
    .await;
    drop(raw.stdin.take());
    let answer = raw.answer().await;
    assert_eq!(answer["id"], 1);
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    let id = answer["result"]["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = raw.finish().await;
    assert!(status.success(), "{status}");

    assert_eq!(shown(dir.path(), &id)["content"], "sent before EOF");
}

/// Memory `id` of the store in `dir`, as `memctl --json show` prints it.
fn shown(dir: &Path, id: &str) -> Value {
    let shown = support::memctl::command(dir)
        .args(["--json", "show", id])
        .output()
        .unwrap();
    assert!(shown.status.success(), "{shown:?}");
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    shown["memories"][0].clone()
}

#[tokio::test]
async fn a_client_leaving_mid_call_gets_an_all_or_nothing_batch() {
    const ENTITIES: usize = 300;
    let entities: Vec<Value> = (0..ENTITIES)
        .map(|i| {
            json!({"name": format!("entity {i}"), "entityType": "thing",
                        "observations": [format!("observation {i}")]})
        })
        .collect();
    // The client leaves at different moments of the call; each time the store holds all of
    // the batch or none of it, and the server exits cleanly.
    for (trial, delay_ms) in [0u64, 5, 20, 50].into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let mut raw = Raw::initialized(dir.path(), &["--profile", "knowledge-graph"]).await;
        raw.send(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "create_entities", "arguments": {"entities": entities}}}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        // Hang up both pipes: the answer, if any, has nowhere to go.
        let Raw {
            mut child,
            stdin,
            stdout,
            stderr,
        } = raw;
        drop(stdin);
        drop(stdout);
        let status = tokio::time::timeout(PATIENCE, child.wait())
            .await
            .expect("the server did not exit after the client left")
            .unwrap();
        let stderr = stderr.await.unwrap();
        assert!(status.success(), "trial {trial}: {status}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");

        let stats = support::memctl::command(dir.path())
            .args(["--json", "stats"])
            .output()
            .unwrap();
        let stats: Value = serde_json::from_slice(&stats.stdout).unwrap();
        let stored = stats["memories"].as_u64().unwrap() as usize;
        assert!(
            stored == 0 || stored == ENTITIES,
            "trial {trial}: {stored} of {ENTITIES} entities stored"
        );
    }
}

/// The server records recalls in batches, once a second (`store/access.rs`): one made just
/// before the client leaves is written as the server stops.
#[tokio::test]
async fn a_recall_just_before_stdin_closes_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = Raw::initialized(dir.path(), &[]).await;
    let memory = json!({"kind": "fix", "title": "lantern wick", "content": "trim the wick"});
    let params = json!({"name": "store_memory", "arguments": memory});
    let stored = raw.request(1, "tools/call", params).await;
    let id = stored["result"]["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    raw.send(
        &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "recall", "arguments": {"query": "lantern wick"}}}),
    )
    .await;
    drop(raw.stdin.take());
    let answer = raw.answer().await;
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    assert!(answer.to_string().contains(&id), "{answer}");
    let (status, stderr) = raw.finish().await;
    assert!(status.success(), "{status}: {stderr}");

    let memory = shown(dir.path(), &id);
    assert_eq!(memory["access_count"], 1, "{memory}");
    assert!(memory["accessed_at"].is_string(), "{memory}");
}
