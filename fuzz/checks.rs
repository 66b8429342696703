//! The properties the fuzz targets hold mnemograph to, one checker per target.
//!
//! This one file is compiled twice: as the library of the cargo-fuzz crate (each target in
//! `fuzz_targets/` feeds libFuzzer's inputs to a checker) and, through `#[path]`, by
//! `tests/integration/reliability/fuzz_corpus.rs`, which replays every kept corpus input and
//! every fixed crash on stable. Keeping the checks here rather than in the mnemograph library keeps test-only code
//! (and its panics) out of the shipped crate; they need nothing but its public API.
//!
//! A checker panics when a property fails, which is what libFuzzer reports as a crash and what
//! fails the replay test. Each checker is built once per process (a store on disk, a runtime)
//! and then checks one input at a time.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use mnemograph::Error;
use mnemograph::app::{App, StoreLocation};
use mnemograph::backend::in_memory::InMemoryBackend;
use mnemograph::backend::libsql::LibsqlBackend;
use mnemograph::config::Profile;
use mnemograph::mcp::MnemographServer;
use mnemograph::model::Filter;
use mnemograph::store::transfer::{Format, ImportOptions, Located, OnError};
use mnemograph::store::{Limits, MemoryStore, NewMemory, NewRelationship};
use mnemograph::text;
use rmcp::ServiceExt;
use serde_json::{Map, Number, Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::runtime::Runtime;

/// Longest any single check may take before it counts as a hang (libFuzzer's own timeout is
/// the primary guard while fuzzing; this one keeps the replay test from hanging).
const HANG: Duration = Duration::from_secs(30);

/// A runtime like the server's (libSQL units of work run in `block_in_place`, which needs the
/// multi-threaded scheduler) with one worker: checks run one at a time.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A store on a fresh libSQL file, with the project's real schema and FTS5 index.
fn libsql_store(runtime: &Runtime) -> (TempDir, MemoryStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("fuzz.db");
    let store = runtime.block_on(async {
        let backend = LibsqlBackend::open_local(&path).await.expect("open store");
        MemoryStore::open(Arc::new(backend), Limits::default())
            .await
            .expect("open store")
    });
    (dir, store)
}

/// Search: user text → query terms → FTS5 MATCH expression → a real FTS5 index.
///
/// Properties: whatever the text, the terms are distinct, at most
/// [`text::MAX_QUERY_TERMS`], and carry no ASCII character but lower-case letters and digits
/// (so nothing of FTS5's syntax); a snippet over the text never panics; and a keyword search
/// with it on a real store answers, never failing with an FTS5 syntax error (or any other),
/// except for the documented query-length limit.
pub struct SearchCheck {
    runtime: Runtime,
    _dir: TempDir,
    store: MemoryStore,
}

/// Memories in the search store: more than the ranking budget (1,000) share the word
/// "common", so a query containing it takes the path that ranks only the rarer terms.
const SEARCH_MEMORIES: usize = 1100;

impl SearchCheck {
    pub fn new() -> Self {
        let runtime = runtime();
        let (dir, store) = libsql_store(&runtime);
        let letters: Vec<char> = "abcdefghijklmnopqrstuvwxyzéßİ日本".chars().collect();
        let batch = (0..SEARCH_MEMORIES)
            .map(|i| NewMemory {
                kind: "note".into(),
                title: format!("common memory {i} HashMap parseHTTPResponse"),
                content: format!(
                    "common shared word{} letter {} digit {} near AND OR NOT \"quoted\" x*y (paren) col:umn \
                     naïve café Straße İstanbul 日本語 🚀 E0502 snake_case src/main.rs",
                    i % 7,
                    letters[i % letters.len()],
                    i % 10
                ),
                tags: vec![format!("t{}", i % 5)],
                ..Default::default()
            })
            .collect();
        runtime
            .block_on(store.create_many(batch))
            .expect("seed the search store");
        SearchCheck {
            runtime,
            _dir: dir,
            store,
        }
    }

    pub fn check(&self, data: &[u8]) {
        let query = String::from_utf8_lossy(data);
        let terms = text::query_terms(&query);
        assert!(
            terms.len() <= text::MAX_QUERY_TERMS,
            "{} terms",
            terms.len()
        );
        for (i, term) in terms.iter().enumerate() {
            assert!(!term.is_empty(), "an empty term from {query:?}");
            assert!(!terms[..i].contains(term), "{term:?} twice in {terms:?}");
            assert!(
                term.chars()
                    .all(|c| !c.is_ascii() || c.is_ascii_lowercase() || c.is_ascii_digit()),
                "term {term:?} of {query:?} carries an ASCII character that is not a lower-case letter or digit"
            );
        }
        let texts = [query.to_string(), query.to_string(), String::new()];
        let cols = texts.clone().map(|t| text::token_spans(&t));
        text::snippet(&texts, &cols, |token| {
            terms
                .iter()
                .any(|term| text::loosely_matches(&token.lower, term))
        });

        let limit = 10;
        let searched = self.runtime.block_on(async {
            tokio::time::timeout(
                HANG,
                self.store.keyword_search(&query, &Filter::default(), limit),
            )
            .await
            .expect("keyword search hangs")
        });
        match searched {
            Ok(hits) => assert!(hits.len() <= limit),
            Err(Error::Invalid { field: "query", .. })
                if query.chars().count() > self.store.limits().max_query_chars => {}
            Err(err) => panic!("keyword search for {query:?} (terms {terms:?}) failed: {err}"),
        }
    }
}

impl Default for SearchCheck {
    fn default() -> Self {
        Self::new()
    }
}

/// Import: arbitrary bytes as a native export, a reference server `memory.jsonl` or a
/// MemoryGraph export (the first byte chooses, or asks for detection as `memctl import` does).
///
/// Properties: reading never panics; every record or error is located (`line N` within the
/// input for the line formats, `document`, `memories[i]` or `relationships[i]` for
/// MemoryGraph), line numbers increase, error messages are not empty; and importing the records
/// into a real store succeeds (bad records are reported, never a store failure) and accounts
/// for every record exactly once, as created, updated, skipped or an error.
pub struct ImportCheck {
    runtime: Runtime,
    _dir: TempDir,
    store: MemoryStore,
}

impl ImportCheck {
    pub fn new() -> Self {
        let runtime = runtime();
        let (dir, store) = libsql_store(&runtime);
        ImportCheck {
            runtime,
            _dir: dir,
            store,
        }
    }

    pub fn check(&self, data: &[u8]) {
        let Some((&selector, body)) = data.split_first() else {
            return;
        };
        let format = match selector % 4 {
            0 => Format::Native,
            1 => Format::KnowledgeGraph,
            2 => Format::Memorygraph,
            _ => {
                let text = String::from_utf8_lossy(body);
                let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                Format::detect(first.trim())
            }
        };
        let records: Vec<Located> = format.read(Cursor::new(body.to_vec())).collect();
        let lines = body.split(|&b| b == b'\n').count();
        let mut last_line = 0;
        for (at, parsed) in &records {
            match format {
                Format::Native | Format::KnowledgeGraph => {
                    let n: usize = at
                        .strip_prefix("line ")
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| panic!("{format:?} record located at {at:?}"));
                    assert!(n > last_line && n <= lines, "{at} of {lines} lines");
                    last_line = n;
                }
                Format::Memorygraph => assert!(
                    at == "document" || indexed(at, "memories[") || indexed(at, "relationships["),
                    "MemoryGraph record located at {at:?}"
                ),
            }
            if let Err(message) = parsed {
                assert!(!message.trim().is_empty(), "an empty error at {at}");
            }
        }

        let count = records.len() as u64;
        let options = ImportOptions {
            on_error: OnError::Skip,
            batch_size: 7,
            ..Default::default()
        };
        let report = self
            .runtime
            .block_on(async {
                tokio::time::timeout(HANG, self.store.import(records, options))
                    .await
                    .expect("import hangs")
            })
            .unwrap_or_else(|err| panic!("import failed as a store failure: {err}"));
        let (m, r) = (&report.memories, &report.relationships);
        let accounted = report.errors.len() as u64
            + m.created
            + m.updated
            + m.skipped
            + r.created
            + r.updated
            + r.skipped;
        assert_eq!(
            accounted, count,
            "records lost or counted twice: {report:?}"
        );
    }
}

impl Default for ImportCheck {
    fn default() -> Self {
        Self::new()
    }
}

/// True when `at` is `prefix` followed by a number and `]`.
fn indexed(at: &str, prefix: &str) -> bool {
    at.strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(']'))
        .is_some_and(|n| n.parse::<usize>().is_ok())
}

/// Ids of the memories and the relationship every tool-call check starts with, so that
/// arguments naming them reach past the "not found" checks.
pub const SEED_IDS: [&str; 3] = [
    "01900000-0000-7000-8000-00000000000a",
    "01900000-0000-7000-8000-00000000000b",
    "01900000-0000-7000-8000-0000000000ab",
];

/// Names (titles) of the seeded memories, which the knowledge-graph tools call entities.
const SEED_NAMES: [&str; 2] = ["alpha", "beta"];

/// Tool arguments: arbitrary JSON as the arguments of each tool, over a real MCP session.
///
/// [`ToolCheck::select`] chooses one tool of either profile; the rest is the arguments, as
/// JSON text when it parses as an object, else drawn from the bytes as a JSON value built from the
/// tools' own parameter names (see [`arguments`]). Each call runs against a fresh server over
/// an in-memory store seeded with two memories and a relationship, so a failing input
/// reproduces alone. The decoding (rmcp's `Parameters`), the tool and the store's `Limits` all
/// run as in production.
///
/// Properties: every call gets exactly one JSON-RPC answer with its id, in time: a result (a
/// tool error is fine) or an error other than an internal one; no tool panics (the server
/// turns a panic into an "internal error in ..." tool error, which fails the check); and the
/// session then ends cleanly when the client closes.
pub struct ToolCheck {
    runtime: Runtime,
    tools: Vec<(Profile, String)>,
    keys: Vec<String>,
}

impl ToolCheck {
    pub fn new() -> Self {
        let runtime = runtime();
        let mut tools = Vec::new();
        let mut keys = Vec::new();
        for profile in [Profile::Memory, Profile::KnowledgeGraph] {
            let server = runtime.block_on(server(profile));
            // Sorted by name, so a selector byte means the same tool in every run.
            let mut offered = server.tools();
            offered.sort_by(|a, b| a.name.cmp(&b.name));
            for tool in offered {
                collect_keys(&Value::Object((*tool.input_schema).clone()), &mut keys);
                tools.push((profile, tool.name.to_string()));
            }
        }
        keys.sort();
        keys.dedup();
        ToolCheck {
            runtime,
            tools,
            keys,
        }
    }

    /// The tools, by profile and name, in the order the selector byte indexes them.
    pub fn tools(&self) -> &[(Profile, String)] {
        &self.tools
    }

    /// The tool an input calls, and its argument bytes: a first line naming a tool (the
    /// kept corpus is written so, which keeps it valid as tools are added), else the tool the
    /// first byte indexes.
    pub fn select<'a>(&self, data: &'a [u8]) -> Option<(&(Profile, String), &'a [u8])> {
        if let Some(end) = data.iter().position(|&b| b == b'\n')
            && let Some(tool) = self
                .tools
                .iter()
                .find(|(_, n)| n.as_bytes() == &data[..end])
        {
            return Some((tool, &data[end + 1..]));
        }
        let (&selector, body) = data.split_first()?;
        Some((&self.tools[usize::from(selector) % self.tools.len()], body))
    }

    pub fn check(&self, data: &[u8]) {
        let Some(((profile, tool), body)) = self.select(data) else {
            return;
        };
        let args = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(args)) => args,
            _ => arguments(&mut Draw::new(body), &self.keys),
        };
        self.runtime.block_on(async {
            tokio::time::timeout(HANG, call(*profile, tool, args))
                .await
                .unwrap_or_else(|_| panic!("{tool} hangs"))
        });
    }
}

impl Default for ToolCheck {
    fn default() -> Self {
        Self::new()
    }
}

/// A server of `profile` over an in-memory store holding the seed memories.
async fn server(profile: Profile) -> MnemographServer {
    let store = MemoryStore::open(Arc::new(InMemoryBackend::new()), Limits::default())
        .await
        .expect("open the in-memory store");
    for (id, name) in SEED_IDS.iter().zip(SEED_NAMES) {
        store
            .create(NewMemory {
                id: Some((*id).to_owned()),
                kind: "fix".into(),
                title: name.into(),
                content: format!("{name} observation"),
                tags: vec!["seed".into()],
                ..Default::default()
            })
            .await
            .expect("seed a memory");
    }
    store
        .link(NewRelationship {
            id: Some(SEED_IDS[2].to_owned()),
            source_id: SEED_IDS[0].to_owned(),
            target_id: SEED_IDS[1].to_owned(),
            rel_type: "SOLVES".into(),
            ..Default::default()
        })
        .await
        .expect("seed a relationship");
    let location = StoreLocation::in_memory("fuzz");
    MnemographServer::new(App::over(store, location), profile)
}

/// One tool call in a session of its own, checked as [`ToolCheck`] says.
async fn call(profile: Profile, tool: &str, args: Map<String, Value>) {
    let server = server(profile).await;
    let (server_io, client_io) = tokio::io::duplex(1 << 16);
    let serving = tokio::spawn(async move {
        server
            .serve(server_io)
            .await
            .expect("initialize")
            .waiting()
            .await
    });
    let (read, mut write) = tokio::io::split(client_io);
    let mut lines = BufReader::new(read).lines();
    let mut send = async |message: Value| {
        let mut line = serde_json::to_vec(&message).expect("serialise");
        line.push(b'\n');
        write.write_all(&line).await.expect("write to the server");
    };
    send(
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "fuzz", "version": "0"}}}),
    )
    .await;
    let initialized = lines.next_line().await.expect("read").expect("an answer");
    assert!(initialized.contains("\"result\""), "{initialized}");
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    let args = Value::Object(args);
    send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": tool, "arguments": &args}}))
    .await;
    let line = lines
        .next_line()
        .await
        .expect("read")
        .unwrap_or_else(|| panic!("{tool}: the session ended without an answer"));
    let answer: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("{tool}: the answer is not JSON ({e}): {line}"));
    assert_eq!(answer["jsonrpc"], "2.0", "{line}");
    assert_eq!(answer["id"], 1, "{tool}: answer to another request: {line}");
    match (answer.get("result"), answer.get("error")) {
        (Some(result), None) => {
            let content = result["content"]
                .as_array()
                .unwrap_or_else(|| panic!("{tool}: a result without content: {line}"));
            if result["isError"] == true {
                let text = content
                    .iter()
                    .filter_map(|c| c["text"].as_str())
                    .collect::<String>();
                assert!(!text.is_empty(), "{tool}: an error without a message");
                assert!(
                    !text.contains("internal error in"),
                    "{tool} panicked on {args}: {text}"
                );
            }
        }
        (None, Some(error)) => {
            assert_ne!(error["code"], -32603, "{tool}: internal error: {line}");
            assert!(
                error["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{tool}: an error without a message: {line}"
            );
        }
        _ => panic!("{tool}: neither a result nor an error: {line}"),
    }
    drop(write);
    drop(lines);
    serving
        .await
        .expect("the session task panicked")
        .expect("the session task failed");
}

/// Every property name in a JSON Schema, however deeply nested.
fn collect_keys(schema: &Value, keys: &mut Vec<String>) {
    match schema {
        Value::Object(object) => {
            if let Some(Value::Object(properties)) = object.get("properties") {
                keys.extend(properties.keys().cloned());
            }
            object.values().for_each(|v| collect_keys(v, keys));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_keys(v, keys)),
        _ => {}
    }
}

/// Reads choices from fuzz bytes; past the end every choice is 0.
struct Draw<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Draw<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Draw { bytes, at: 0 }
    }

    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let start = self.at.min(self.bytes.len());
        let end = (start + n).min(self.bytes.len());
        self.at += n;
        &self.bytes[start..end]
    }

    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for (i, x) in self.take(8).iter().enumerate() {
            b[i] = *x;
        }
        u64::from_le_bytes(b)
    }
}

/// Tool arguments drawn from fuzz bytes: an object whose keys are parameter names of the
/// tools (so decoding gets past "missing field" and reaches the values' checks), with values
/// of every JSON type, including ids of the seeded memories, dates and extreme numbers.
fn arguments(d: &mut Draw, keys: &[String]) -> Map<String, Value> {
    let mut args = Map::new();
    for _ in 0..d.below(8) {
        let key = keys[d.below(keys.len())].clone();
        args.insert(key, value(d, keys, 0));
    }
    args
}

fn value(d: &mut Draw, keys: &[String], depth: usize) -> Value {
    const STRINGS: [&str; 12] = [
        "",
        " ",
        "SOLVES",
        "fix",
        "both",
        "keyword",
        "semantic",
        "2025-06-01",
        "2025-06-01T12:00:00Z",
        "9999-12-31T23:59:59Z",
        "alpha",
        "beta",
    ];
    match d.below(if depth < 3 { 10 } else { 7 }) {
        0 => Value::Null,
        1 => Value::Bool(d.byte() & 1 == 1),
        2 => Value::Number((d.u64() as i64 >> d.below(64)).into()),
        3 => {
            let x = f64::from_bits(d.u64());
            Number::from_f64(x).map_or(Value::Null, Value::Number)
        }
        4 => Value::String(STRINGS[d.below(STRINGS.len())].to_owned()),
        5 => Value::String(SEED_IDS[d.below(SEED_IDS.len())].to_owned()),
        6 => {
            let n = d.below(40);
            Value::String(String::from_utf8_lossy(d.take(n)).repeat(1 + d.below(4) * 300))
        }
        7 | 8 => Value::Array((0..d.below(5)).map(|_| value(d, keys, depth + 1)).collect()),
        _ => Value::Object(arguments(d, keys)),
    }
}
