//! An MCP client session with the real server, as an assistant holds one.

use std::path::Path;

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

// The workload, which the soak benchmark includes alone, reads results the same way.
pub use super::workload::text;

pub type Client = RunningService<RoleClient, ()>;

/// Starts the server `cmd` describes (see [`super::command`]) and completes the MCP handshake.
pub async fn connect(cmd: tokio::process::Command) -> Client {
    let transport = TokioChildProcess::new(cmd).expect("spawn mnemograph");
    ().serve(transport).await.expect("initialize")
}

/// Spawns the server on the store in `dir` and completes the MCP handshake. It lists its
/// output schemas, so the tests can check every result against its tool's.
pub async fn spawn(dir: &Path) -> Client {
    spawn_with(dir, &["--output-schemas"]).await
}

/// [`spawn`] with extra command-line arguments.
pub async fn spawn_with(dir: &Path, args: &[&str]) -> Client {
    let mut cmd = super::command(dir);
    cmd.args(args);
    connect(cmd).await
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
