//! The MCP server and the hooks agree on the project: a memory the model stores through the
//! tools, in a server started in the project or told the project by its client's roots, is
//! filed under it and in the next session's briefing.

use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
};
use rmcp::service::RequestContext;
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};
use serde_json::{Value, json};

use super::{PROJECT, World, stdout};
use crate::support;
use crate::support::client::{connect, ok};

#[tokio::test(flavor = "multi_thread")]
async fn a_server_started_in_a_project_files_memories_under_it() {
    let w = World::new();
    let mut cmd = support::command(w.path());
    cmd.current_dir(w.project());
    let client = connect(cmd).await;
    let stored = |kind: &str, title: &str| json!({"kind": kind, "title": title, "content": format!("{title}, said once")});
    ok(
        &client,
        "store_memory",
        stored("decision", "Dates are parsed with chrono"),
    )
    .await;
    ok(
        &client,
        "store_memory",
        stored("preference", "Answer in short sentences"),
    )
    .await;
    let mut elsewhere = stored("decision", "Billing uses Postgres");
    elsewhere["context"] = json!({"project": "github.com/acme/billing"});
    ok(&client, "store_memory", elsewhere).await;
    client.cancel().await.unwrap();

    let memories = w.memories();
    let project_of = |title: &str| {
        memories
            .iter()
            .find(|m| m["title"] == title)
            .map(|m| m["context"]["project"].clone())
            .unwrap()
    };
    assert_eq!(project_of("Dates are parsed with chrono"), PROJECT);
    assert_eq!(
        project_of("Answer in short sentences"),
        json!(null),
        "preferences are global"
    );
    assert_eq!(
        project_of("Billing uses Postgres"),
        "github.com/acme/billing",
        "given wins"
    );

    let start = json!({"session_id": "m1", "cwd": w.project(), "hook_event_name": "SessionStart"});
    let out = stdout(&w.run_hook("memctl hook session-start", &start));
    assert!(out.contains("Dates are parsed with chrono"), "{out}");
    assert!(
        out.contains("Answer in short sentences") && !out.contains("Postgres"),
        "{out}"
    );
}

/// A client that declares the `roots` capability, as an editor with a workspace does (roots
/// are deprecated for the protocol after 2025-11-25, which this client does not speak).
#[derive(Clone)]
struct Workspace {
    roots: Arc<Mutex<Vec<String>>>,
}

#[allow(deprecated)]
impl ClientHandler for Workspace {
    fn get_info(&self) -> ClientConfig {
        let capabilities = ClientCapabilities::builder()
            .enable_roots()
            .enable_roots_list_changed()
            .build();
        // The protocol of today's clients, in which a server may still ask for the roots.
        ClientConfig::new(capabilities, Implementation::new("workspace", "1.0"))
            .with_protocol_version(ProtocolVersion::V_2025_06_18)
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ListRootsResult, ErrorData> {
        let roots = self.roots.lock().unwrap();
        let roots = roots.iter().map(rmcp::model::Root::new).collect();
        Ok(rmcp::model::ListRootsResult::new(roots))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_files_memories_under_the_project_of_its_clients_roots() {
    let w = World::new();
    // A second project, a repository without a remote: named by its root directory.
    let other = w.path().join("notes");
    std::fs::create_dir_all(other.join(".git")).unwrap();
    let other = other.canonicalize().unwrap();
    let uri = |dir: &std::path::Path| format!("file://{}", dir.display());
    let workspace = Workspace {
        roots: Arc::new(Mutex::new(vec![
            "https://example.com/not-a-directory".to_owned(),
            uri(&w.project().join("src")),
        ])),
    };
    // Started outside the project, as a client configured once for every workspace does.
    let mut cmd = support::command(w.path());
    cmd.current_dir(w.path());
    let transport = TokioChildProcess::new(cmd).unwrap();
    let client = workspace.clone().serve(transport).await.unwrap();
    // Stores a decision without a project; returns the project it was filed under.
    let store = async |title: &str| {
        let args =
            json!({"kind": "decision", "title": title, "content": format!("{title}, said once")});
        let Value::Object(args) = args else {
            unreachable!()
        };
        let result = client
            .call_tool(CallToolRequestParams::new("store_memory").with_arguments(args))
            .await
            .unwrap();
        assert_eq!(result.is_error, Some(false), "{result:?}");
        let id = result.structured_content.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        w.json(&["show", &id])["memories"][0]["context"]["project"].clone()
    };
    assert_eq!(
        store("Dates are parsed with chrono").await,
        PROJECT,
        "the first root that is a directory"
    );

    // The workspace changes: the client says so, and the next memory follows it.
    *workspace.roots.lock().unwrap() = vec![uri(&other)];
    client.notify_roots_list_changed().await.unwrap();
    // The notification and the next call travel separately; a write that races it may
    // still see the old roots, so wait until the server has asked again.
    let mut project = Value::Null;
    for attempt in 0..50 {
        project = store(&format!("Notes are kept in Markdown ({attempt})")).await;
        if project != PROJECT {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(project, other.display().to_string());
    client.cancel().await.unwrap();
}
