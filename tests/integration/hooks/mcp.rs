//! The MCP server and the hooks agree on the project: a memory the model stores through the
//! tools, in a server started in the project, is in the next session's briefing.

use serde_json::json;

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
