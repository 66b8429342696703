//! Helpers for tests that drive the real binaries, and a test embedding space.

pub mod sqld;
pub mod workload;

use std::path::Path;

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Map, Value};

pub type Client = RunningService<RoleClient, ()>;

/// A `mnemograph` command isolated in `dir`: its data dir, and a config dir with no file, so
/// the user's own configuration never leaks in.
pub fn command(dir: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mnemograph"));
    cmd.env("MNEMOGRAPH_DATA_DIR", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("MNEMOGRAPH_LOG", "warn")
        // Keyword search only, whatever embedder the user configured; tests/embed_mcp.rs
        // runs the server with the built-in one.
        .env("MNEMOGRAPH_EMBEDDER", "none");
    for var in USER_SETTINGS {
        cmd.env_remove(var);
    }
    cmd
}

/// Variables of the user's environment that would point a test's process at another store,
/// model, embedding server or primary.
const USER_SETTINGS: [&str; 13] = [
    "MNEMOGRAPH_DB",
    "MNEMOGRAPH_NAMESPACE",
    "MNEMOGRAPH_CONFIG",
    "MNEMOGRAPH_LOG_FILE",
    "MNEMOGRAPH_MODEL_DIR",
    "MNEMOGRAPH_EMBED_URL",
    "MNEMOGRAPH_MODE",
    "MNEMOGRAPH_PRIMARY_URL",
    "MNEMOGRAPH_AUTH_TOKEN",
    "TURSO_DATABASE_URL",
    "TURSO_AUTH_TOKEN",
    "VISUAL",
    "EDITOR",
];

/// Spawns the server on the store in `dir` and completes the MCP handshake.
pub async fn spawn(dir: &Path) -> Client {
    spawn_with(dir, &[]).await
}

/// [`spawn`] with extra command-line arguments.
pub async fn spawn_with(dir: &Path, args: &[&str]) -> Client {
    let mut cmd = command(dir);
    cmd.args(args);
    let transport = TokioChildProcess::new(cmd).expect("spawn mnemograph");
    ().serve(transport).await.expect("initialize")
}

/// Calls a tool; a protocol error fails the test (tool errors are returned).
pub async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("{tool}: protocol error {e}"))
}

/// Calls a tool that must succeed and returns its structured content.
pub async fn ok(client: &Client, tool: &str, args: Value) -> Value {
    let result = call(client, tool, args).await;
    assert_eq!(
        result.is_error,
        Some(false),
        "{tool} failed: {}",
        text(&result)
    );
    assert!(!text(&result).is_empty(), "{tool} returned no text");
    result
        .structured_content
        .unwrap_or_else(|| panic!("{tool} returned no structured content"))
}

/// Calls a tool that must fail with a tool error and returns its message.
pub async fn err(client: &Client, tool: &str, args: Value) -> String {
    let result = call(client, tool, args).await;
    assert_eq!(
        result.is_error,
        Some(true),
        "{tool} should have failed: {}",
        text(&result)
    );
    text(&result)
}

/// The text content of a result.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks `value` against a JSON Schema as schemars writes them: `type`, `properties`,
/// `required`, `items`, `additionalProperties`, `enum`/`const`, `anyOf`/`oneOf` and local
/// `$ref`s. Returns the first mismatch as a path and a reason.
pub fn validate(value: &Value, schema: &Map<String, Value>) -> Result<(), String> {
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    check(value, &Value::Object(schema.clone()), &defs, "$")
}

fn check(value: &Value, schema: &Value, defs: &Map<String, Value>, at: &str) -> Result<(), String> {
    let Some(schema) = schema.as_object() else {
        // `true` accepts anything.
        return Ok(());
    };
    if let Some(Value::String(r)) = schema.get("$ref") {
        let name = r.trim_start_matches("#/$defs/");
        let target = defs.get(name).ok_or(format!("{at}: unknown $ref {r}"))?;
        return check(value, target, defs, at);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = schema.get(key)
            && !options.iter().any(|o| check(value, o, defs, at).is_ok())
        {
            return Err(format!("{at}: {value} matches none of {key}"));
        }
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        return Err(format!("{at}: {value} is not {c}"));
    }
    if let Some(Value::Array(options)) = schema.get("enum")
        && !options.contains(value)
    {
        return Err(format!("{at}: {value} not in enum"));
    }
    if let Some(ty) = schema.get("type") {
        let types: Vec<&str> = match ty {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("{at}: bad type {ty}")),
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let fits = types
            .iter()
            .any(|t| *t == actual || (*t == "number" && actual == "integer"));
        if !fits {
            return Err(format!("{at}: {actual} is not {types:?}"));
        }
    }
    if let Value::Object(object) = value {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(required)) = schema.get("required") {
            for key in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(key) {
                    return Err(format!("{at}: missing required {key}"));
                }
            }
        }
        for (key, v) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(s) => check(v, s, defs, &format!("{at}.{key}"))?,
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return Err(format!("{at}: unexpected property {key}"));
                    }
                    Some(s @ Value::Object(_)) => check(v, s, defs, &format!("{at}.{key}"))?,
                    _ if properties.is_some() && schema.get("additionalProperties").is_none() => {
                        // schemars lists every property a struct writes: an unknown key
                        // means the schema and the output disagree.
                        return Err(format!("{at}: property {key} is not in the schema"));
                    }
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(item, item_schema, defs, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// An embedder cut to the first 64 dimensions of another and renormalised: a real embedding
/// space of its own (another model id and dimension), standing in for "the old model".
pub struct Truncated(pub std::sync::Arc<dyn mnemograph::embed::Embedder>);

#[async_trait::async_trait]
impl mnemograph::embed::Embedder for Truncated {
    fn model_id(&self) -> &str {
        "test/m2v-minilm-64d"
    }

    fn dimension(&self) -> usize {
        64
    }

    async fn embed(
        &self,
        texts: &[String],
    ) -> Result<Vec<Vec<f32>>, mnemograph::embed::EmbedError> {
        let vectors = self.0.embed(texts).await?;
        Ok(vectors
            .into_iter()
            .map(|v| {
                let mut v = v[..64].to_vec();
                let norm = v
                    .iter()
                    .map(|x| x * x)
                    .sum::<f32>()
                    .sqrt()
                    .max(f32::EPSILON);
                v.iter_mut().for_each(|x| *x /= norm);
                v
            })
            .collect())
    }
}

/// A `memctl` command isolated in `dir` like [`command`]: its data dir, no config file, no
/// colour, no embedder, stdin closed.
pub fn memctl(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_memctl"));
    cmd.env("MNEMOGRAPH_DATA_DIR", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("NO_COLOR", "1")
        .env("MNEMOGRAPH_EMBEDDER", "none")
        .stdin(std::process::Stdio::null());
    for var in USER_SETTINGS {
        cmd.env_remove(var);
    }
    cmd
}

/// The shared Model2Vec model (256 dimensions) that tests embed with.
pub fn model_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/models/m2v-minilm")
}
