//! `mnemograph serve`: MCP over streamable HTTP with rmcp's client against the real binary,
//! several clients at once, the Host/Origin/token guard, and shutdown on a signal.

mod server;

use std::collections::BTreeMap;

use rmcp::model::{ReadResourceRequestParams, Tool};
use serde_json::{Value, json};

use crate::support::client::{self as stdio, call, err, ok, text};
use crate::support::{self, memory_ids};
use server::{Served, connect, request, try_connect};

const TOKEN: &str = "7f3c9a1e5b2d4c6e8f0a1b3c5d7e9f11";

/// `mnemograph serve` on a fresh store in `dir`.
fn serve(dir: &std::path::Path) -> Served {
    Served::start(support::command(dir).into_std(), &[])
}

/// `mnemograph serve` on a fresh store in `dir` that requires [`TOKEN`].
fn serve_with_token(dir: &std::path::Path) -> Served {
    let mut cmd = support::command(dir).into_std();
    cmd.env("MNEMOGRAPH_SERVE_TOKEN", TOKEN);
    Served::start(cmd, &[])
}

fn by_name(tools: Vec<Tool>) -> BTreeMap<String, Value> {
    tools
        .into_iter()
        .map(|t| (t.name.to_string(), serde_json::to_value(&t).unwrap()))
        .collect()
}

#[tokio::test]
async fn http_offers_the_tools_and_instructions_of_stdio() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path());
    let http = connect(&served.mcp_url(), None).await;
    // Both in the default configuration: output schemas are listed only when asked for.
    let over_stdio = stdio::spawn_with(dir.path(), &[]).await;

    let (http_info, stdio_info) = (http.peer_info().unwrap(), over_stdio.peer_info().unwrap());
    assert_eq!(http_info.server_info, stdio_info.server_info);
    assert_eq!(http_info.instructions, stdio_info.instructions);
    assert_eq!(http_info.capabilities, stdio_info.capabilities);
    let tools = by_name(http.list_all_tools().await.unwrap());
    assert!(tools.contains_key("store_memory"), "{:?}", tools.keys());
    assert_eq!(
        tools,
        by_name(over_stdio.list_all_tools().await.unwrap()),
        "the same tools, schemas and annotations"
    );
    let templates = http.list_all_resource_templates().await.unwrap();
    assert_eq!(
        templates,
        over_stdio.list_all_resource_templates().await.unwrap()
    );
    over_stdio.cancel().await.unwrap();
    http.cancel().await.unwrap();
}

#[tokio::test]
async fn every_tool_works_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path());
    let client = connect(&served.mcp_url(), None).await;
    let c = &client;

    let error = ok(
        c,
        "store_memory",
        json!({
            "kind": "error",
            "title": "SQLite 'database is locked' with concurrent writers",
            "content": "Two processes writing to one SQLite file fail with database is locked.",
            "tags": ["sqlite"], "context": {"project": "mnemograph"}
        }),
    )
    .await;
    let error_id = error["id"].as_str().unwrap().to_owned();
    let fix = ok(
        c,
        "store_memory",
        json!({
            "kind": "fix",
            "title": "Use BEGIN IMMEDIATE for SQLite writes",
            "content": "Take the write lock up front so database is locked never reaches a caller.",
            "links": [{"target_id": error_id, "rel_type": "SOLVES"}]
        }),
    )
    .await;
    let fix_id = fix["id"].as_str().unwrap().to_owned();
    let note = ok(c, "store_memory", json!({
        "kind": "note", "title": "WAL mode notes", "content": "WAL lets readers run during a write"
    }))
    .await;
    let note_id = note["id"].as_str().unwrap().to_owned();
    let rel = ok(
        c,
        "create_relationship",
        json!({
            "source_id": note_id, "target_id": fix_id, "rel_type": "RELATED_TO"
        }),
    )
    .await;
    let rel_id = rel["relationship"]["id"].as_str().unwrap().to_owned();

    let got = ok(c, "get_memory", json!({"ids": [error_id, fix_id]})).await;
    assert_eq!(got["memories"].as_array().unwrap().len(), 2);
    let updated = ok(
        c,
        "update_memory",
        json!({
            "id": note_id, "expected_version": 1, "tags": ["wal"]
        }),
    )
    .await;
    assert_eq!(updated["version"], 2);
    let found = ok(c, "search_memories", json!({"query": "database locked"})).await;
    assert!(
        found["hits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["id"] == error_id.as_str())
    );
    let recalled = ok(c, "recall", json!({"query": "concurrent writers locked"})).await;
    assert!(
        recalled["briefing"]
            .as_str()
            .unwrap()
            .contains("BEGIN IMMEDIATE")
    );
    let listed = ok(c, "list_memories", json!({})).await;
    assert_eq!(listed["memories"].as_array().unwrap().len(), 3);
    let related = ok(c, "get_related", json!({"id": error_id, "depth": 2})).await;
    assert_eq!(
        memory_ids(&related["neighbours"]),
        [fix_id.as_str(), note_id.as_str()]
    );
    let path = ok(
        c,
        "find_path",
        json!({"from_id": error_id, "to_id": note_id}),
    )
    .await;
    assert_eq!(path["hops"], 2);
    let explored = ok(c, "explore", json!({"ids": [fix_id]})).await;
    assert_eq!(explored["nodes"].as_array().unwrap().len(), 3);
    let rel = ok(
        c,
        "update_relationship",
        json!({"id": rel_id, "strength": 0.3}),
    )
    .await;
    assert_eq!(rel["relationship"]["version"], 2);
    let stats = ok(c, "memory_stats", json!({})).await;
    assert_eq!(
        (stats["memories"].as_u64(), stats["relationships"].as_u64()),
        (Some(3), Some(2))
    );
    let synced = ok(c, "sync", json!({})).await;
    assert_eq!(synced["mode"], "local");
    ok(c, "delete_relationship", json!({"id": rel_id})).await;
    ok(c, "delete_memory", json!({"id": note_id})).await;
    let gone = err(c, "get_memory", json!({"ids": [note_id]})).await;
    assert!(gone.contains("not found"), "{gone}");

    // A tool error travels as one, and resources are read over HTTP too.
    let refused = call(
        c,
        "update_memory",
        json!({"id": fix_id, "expected_version": 9}),
    )
    .await;
    assert_eq!(refused.is_error, Some(true), "{}", text(&refused));
    let read = c
        .read_resource(ReadResourceRequestParams::new(format!(
            "memory://{error_id}"
        )))
        .await
        .unwrap();
    assert!(format!("{:?}", read.contents).contains("database is locked"));
    client.cancel().await.unwrap();
}

/// Four sessions at once on one server: each sees the others' writes at once, and a stdio
/// server on the same store sees them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_clients_share_one_store_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path());
    let url = served.mcp_url();
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(connect(&url, None).await);
    }
    let writers: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for j in 0..10 {
                    let data = ok(
                        &c,
                        "store_memory",
                        json!({
                            "kind": "note", "title": format!("client {i} note {j}"),
                            "content": format!("written by client {i} over HTTP, number {j}")
                        }),
                    )
                    .await;
                    ids.push(data["id"].as_str().unwrap().to_owned());
                }
                (c, ids)
            })
        })
        .collect();
    let (mut clients, mut ids) = (Vec::new(), Vec::new());
    for writer in writers {
        let (c, written) = writer.await.unwrap();
        clients.push(c);
        ids.extend(written);
    }
    assert_eq!(ids.len(), 40);
    for c in &clients {
        let stats = ok(c, "memory_stats", json!({})).await;
        assert_eq!(stats["memories"], 40);
    }
    let got = ok(&clients[3], "get_memory", json!({"ids": ids[..10]})).await;
    assert_eq!(
        got["missing"],
        json!([]),
        "client 3 reads client 0's writes"
    );
    let over_stdio = stdio::spawn(dir.path()).await;
    assert_eq!(
        ok(&over_stdio, "memory_stats", json!({})).await["memories"],
        40
    );
    over_stdio.cancel().await.unwrap();
    for c in clients {
        c.cancel().await.unwrap();
    }
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;

/// A POST of `initialize` to `/mcp` with `headers` (Host among them).
fn post_initialize(served: &Served, headers: &str) -> server::Answer {
    request(
        served.addr,
        &format!(
            "POST /mcp HTTP/1.1\nContent-Type: application/json\n\
             Accept: application/json, text/event-stream\n{headers}"
        ),
        INITIALIZE,
    )
}

#[tokio::test]
async fn host_and_origin_are_checked_on_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path());
    let port = served.addr.port();
    let host = |name: &str| format!("Host: {name}:{port}");

    for name in ["127.0.0.1", "localhost", "LocalHost"] {
        let answer = post_initialize(&served, &host(name));
        assert_eq!(answer.status, 200, "{name}: {answer:?}");
        assert!(answer.body.contains("mnemograph"), "{answer:?}");
    }
    // DNS rebinding: a page on another name that resolves to this machine.
    for path in ["POST /mcp", "GET /"] {
        let answer = if path.starts_with("POST") {
            post_initialize(&served, &host("attacker.example"))
        } else {
            request(
                served.addr,
                &format!("GET / HTTP/1.1\n{}", host("attacker.example")),
                "",
            )
        };
        assert_eq!(answer.status, 403, "{path}: {answer:?}");
        assert!(answer.body.contains("DNS rebinding"), "{answer:?}");
        assert!(
            answer.body.contains("--allow-host attacker.example"),
            "{answer:?}"
        );
    }
    let no_host = request(served.addr, "GET / HTTP/1.0", "");
    assert_eq!(no_host.status, 400, "{no_host:?}");
    let bad_host = request(served.addr, "GET / HTTP/1.1\nHost: a b", "");
    assert_eq!(bad_host.status, 400, "{bad_host:?}");

    // A browser page of another site, or of another server on localhost, is refused; the
    // server's own pages pass.
    for origin in [
        "http://attacker.example".to_owned(),
        format!("http://localhost:{}", port + 1),
        "null".to_owned(),
    ] {
        let answer = post_initialize(&served, &format!("{}\nOrigin: {origin}", host("localhost")));
        assert_eq!(answer.status, 403, "{origin}: {answer:?}");
        assert!(answer.body.contains("is not this server"), "{answer:?}");
        let page = request(
            served.addr,
            &format!("GET / HTTP/1.1\n{}\nOrigin: {origin}", host("localhost")),
            "",
        );
        assert_eq!(page.status, 403, "{origin}: {page:?}");
    }
    let own = post_initialize(
        &served,
        &format!("{}\nOrigin: http://localhost:{port}", host("localhost")),
    );
    assert_eq!(own.status, 200, "{own:?}");

    // No token is needed on loopback unless one is set.
    let viewer = request(
        served.addr,
        &format!("GET / HTTP/1.1\n{}", host("127.0.0.1")),
        "",
    );
    assert_eq!(viewer.status, 200, "{viewer:?}");
}

#[tokio::test]
async fn allowed_hosts_extend_the_names_the_server_answers_to() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(
        support::command(dir.path()).into_std(),
        &["--allow-host", "memory.internal"],
    );
    let port = served.addr.port();
    let answer = post_initialize(&served, &format!("Host: memory.internal:{port}"));
    assert_eq!(answer.status, 200, "{answer:?}");
    let other = post_initialize(&served, &format!("Host: other.internal:{port}"));
    assert_eq!(other.status, 403, "{other:?}");
}

#[tokio::test]
async fn a_token_is_required_once_set_as_bearer_or_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve_with_token(dir.path());
    assert!(
        !served.banner.contains(TOKEN),
        "a token the user set is not repeated on stderr: {}",
        served.banner
    );
    assert!(
        served.banner.contains("MNEMOGRAPH_SERVE_TOKEN"),
        "{}",
        served.banner
    );
    let host = format!("Host: 127.0.0.1:{}", served.addr.port());

    let missing = post_initialize(&served, &host);
    assert_eq!(missing.status, 401, "{missing:?}");
    assert_eq!(
        missing.header("www-authenticate"),
        Some("Bearer realm=\"mnemograph\"")
    );
    assert!(
        missing.body.contains("Authorization: Bearer"),
        "{missing:?}"
    );
    let wrong = post_initialize(&served, &format!("{host}\nAuthorization: Bearer {TOKEN}0"));
    assert_eq!(wrong.status, 401, "{wrong:?}");
    let refused = try_connect(&served.mcp_url(), None).await;
    assert!(
        refused.is_err(),
        "rmcp's client without the token is refused"
    );
    let refused = try_connect(&served.mcp_url(), Some("not-the-token")).await;
    assert!(
        refused.is_err(),
        "rmcp's client with another token is refused"
    );

    let client = connect(&served.mcp_url(), Some(TOKEN)).await;
    ok(&client, "memory_stats", json!({})).await;
    client.cancel().await.unwrap();

    // The viewer: a page without the token is refused; the link trades the token for a
    // cookie and a redirect without it; the cookie then opens the pages.
    let page = request(served.addr, &format!("GET / HTTP/1.1\n{host}"), "");
    assert_eq!(page.status, 401, "{page:?}");
    let bad_link = request(
        served.addr,
        &format!("GET /?token=nope HTTP/1.1\n{host}"),
        "",
    );
    assert_eq!(bad_link.status, 401, "{bad_link:?}");
    let link = request(
        served.addr,
        &format!("GET /?token={TOKEN} HTTP/1.1\n{host}"),
        "",
    );
    assert_eq!(link.status, 303, "{link:?}");
    assert_eq!(link.header("location"), Some("/"));
    let cookie = link.header("set-cookie").expect("a cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    let page = request(
        served.addr,
        &format!("GET / HTTP/1.1\n{host}\nCookie: {pair}"),
        "",
    );
    assert_eq!(page.status, 200, "{page:?}");
    // The cookie is a credential for /mcp too (the viewer's own pages may call it).
    let with_cookie = post_initialize(&served, &format!("{host}\nCookie: {pair}"));
    assert_eq!(with_cookie.status, 200, "{with_cookie:?}");
    // The guard's other checks still hold with the token.
    let rebound = post_initialize(
        &served,
        &format!("Host: attacker.example\nAuthorization: Bearer {TOKEN}"),
    );
    assert_eq!(rebound.status, 403, "{rebound:?}");
}

/// SIGTERM and SIGINT stop the server cleanly: it exits with success while sessions are
/// open, and every acknowledged write is in the store afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_stops_the_server_cleanly_with_sessions_open() {
    for signal in ["-TERM", "-INT"] {
        let dir = tempfile::tempdir().unwrap();
        let mut served = serve(dir.path());
        let client = connect(&served.mcp_url(), None).await;
        let other = connect(&served.mcp_url(), None).await;
        let mut ids = Vec::new();
        for i in 0..5 {
            let data = ok(
                &client,
                "store_memory",
                json!({
                    "kind": "note", "title": format!("before {signal} {i}"), "content": "kept"
                }),
            )
            .await;
            ids.push(data["id"].as_str().unwrap().to_owned());
        }
        let addr = served.addr;
        let (status, stderr) = tokio::task::spawn_blocking(move || {
            let stopped = served.stop_with(signal);
            drop(served);
            stopped
        })
        .await
        .unwrap();
        assert!(status.success(), "{signal}: {status:?}\n{stderr}");
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "{signal}: still listening"
        );
        drop((client, other));

        let over_stdio = stdio::spawn(dir.path()).await;
        let got = ok(&over_stdio, "get_memory", json!({"ids": ids})).await;
        assert_eq!(
            got["missing"],
            json!([]),
            "{signal}: every acknowledged write is kept"
        );
        over_stdio.cancel().await.unwrap();
    }
}

/// A write that is waiting for the store's lock when SIGTERM arrives is finished and
/// answered before the server exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_in_flight_at_a_signal_is_finished_and_answered() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = serve(dir.path());
    let client = connect(&served.mcp_url(), None).await;
    ok(&client, "memory_stats", json!({})).await;
    // Another process holding the write lock keeps the next write waiting (the store waits
    // up to its busy timeout for it).
    let db = libsql::Builder::new_local(dir.path().join("data/default.db"))
        .build()
        .await
        .unwrap();
    let lock = db.connect().unwrap();
    lock.execute("BEGIN IMMEDIATE", ()).await.unwrap();
    let write = tokio::spawn(async move {
        let stored = ok(
            &client,
            "store_memory",
            json!({
                "kind": "note", "title": "written across a shutdown", "content": "kept"
            }),
        )
        .await;
        (client, stored)
    });
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    served.signal("-TERM");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(served.running(), "the server waits for the write in flight");
    lock.execute("ROLLBACK", ()).await.unwrap();
    let (client, stored) = write.await.unwrap();
    let id = stored["id"].as_str().unwrap().to_owned();
    let (status, stderr) = tokio::task::spawn_blocking(move || served.wait())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}\n{stderr}");
    drop(client);

    let over_stdio = stdio::spawn(dir.path()).await;
    let got = ok(&over_stdio, "get_memory", json!({"ids": [id]})).await;
    assert_eq!(got["memories"][0]["title"], "written across a shutdown");
    over_stdio.cancel().await.unwrap();
}
