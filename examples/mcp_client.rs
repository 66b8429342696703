//! A client session with the MCP server, as an assistant holds one: start `mnemograph` over
//! stdio with rmcp's child-process client, initialize, list the tools, store a memory and
//! search for it, on a temporary store.
//!
//! ```text
//! cargo build --bin mnemograph && cargo run --example mcp_client [-- PATH/TO/mnemograph]
//! ```

use std::error::Error;
use std::path::PathBuf;

use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

type Client = RunningService<RoleClient, ()>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let data = tempfile::tempdir()?;
    let mut server = tokio::process::Command::new(server_binary());
    server
        .env("MNEMOGRAPH_DATA_DIR", data.path())
        .env("MNEMOGRAPH_EMBEDDER", "none")
        .env("MNEMOGRAPH_LOG", "warn")
        // None of the user's own setup: no config file, no other store, no primary.
        .env("XDG_CONFIG_HOME", data.path())
        .env("MNEMOGRAPH_MODE", "local")
        .env_remove("MNEMOGRAPH_CONFIG")
        .env_remove("MNEMOGRAPH_DB");
    let client = ().serve(TokioChildProcess::new(server)?).await?;
    if let Some(server) = client.peer_info().and_then(|info| info.server_info.clone()) {
        println!("connected to {} {}", server.name, server.version);
    }

    let tools = client.list_all_tools().await?;
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    println!("{} tools: {}", names.len(), names.join(", "));

    let fix = json!({"kind": "fix", "title": "SQLite 'database is locked': set a busy timeout",
        "content": "PRAGMA busy_timeout = 5000; BEGIN IMMEDIATE for writes.", "tags": ["sqlite"]});
    let stored = call(&client, "store_memory", fix).await?;
    println!("stored {}", stored["id"].as_str().unwrap_or("?"));

    let query = json!({"query": "database locked"});
    let found = call(&client, "search_memories", query).await?;
    for hit in found["hits"].as_array().into_iter().flatten() {
        let field = |key: &str| hit[key].as_str().unwrap_or("?").to_owned();
        println!(
            "found {} {} (score {})",
            field("id"),
            field("kind"),
            hit["score"]
        );
    }
    client.cancel().await?;
    Ok(())
}

/// Calls `tool` with `args` (a JSON object); a tool error becomes an error with its message.
async fn call(client: &Client, tool: &str, args: Value) -> Result<Value, Box<dyn Error>> {
    let args = args.as_object().cloned().unwrap_or_default();
    let request = CallToolRequestParams::new(tool.to_owned()).with_arguments(args);
    let result = client.call_tool(request).await?;
    if result.is_error == Some(true) {
        return Err(format!("{tool}: {:?}", result.content).into());
    }
    Ok(result.structured_content.unwrap_or_default())
}

/// The server: the first argument, else the `mnemograph` cargo built beside this example
/// (examples go to `target/<profile>/examples/`), else the bare name, looked up on `PATH`.
fn server_binary() -> PathBuf {
    if let Some(path) = std::env::args_os().nth(1) {
        return path.into();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("mnemograph")))
        .filter(|beside| beside.is_file())
        .unwrap_or_else(|| PathBuf::from("mnemograph"))
}
