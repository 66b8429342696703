//! Security properties of the real binaries: owner-only files, `doctor` warning about loose
//! permissions, secrets never printed or logged, and output files (export, backup, graph) that
//! never overwrite without `--force` and never write through a symlink.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};

use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

use crate::support::memctl::{ok, run};
use crate::support::{self, client};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn store_path(dir: &Path) -> PathBuf {
    dir.join("data").join("default.db")
}

#[tokio::test]
async fn the_server_makes_the_store_and_its_log_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let client = client::spawn_with(dir.path(), &["--log-file", log.to_str().unwrap()]).await;
    client::ok(
        &client,
        "store_memory",
        json!({"kind": "note", "title": "private", "content": "not for others"}),
    )
    .await;
    let db = store_path(dir.path());
    // The -wal and -shm files exist while the server has the store open.
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", db.display()));
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    assert_eq!(mode(db.parent().unwrap()), 0o700);
    assert_eq!(mode(&log), 0o600);
    client.cancel().await.unwrap();
}

#[test]
fn memctl_makes_the_store_and_every_copy_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    assert_eq!(mode(&store_path(d)), 0o600);
    assert_eq!(mode(&d.join("data")), 0o700);
    ok(
        d,
        &["add", "-k", "note", "-t", "private", "-c", "not for others"],
    );
    let export = d.join("export.jsonl");
    let backup = d.join("backup.db");
    let graph = d.join("graph.dot");
    ok(d, &["export", export.to_str().unwrap()]);
    ok(d, &["backup", backup.to_str().unwrap()]);
    ok(
        d,
        &["graph", "--query", "private", "-o", graph.to_str().unwrap()],
    );
    for file in [&export, &backup, &graph] {
        assert_eq!(mode(file), 0o600, "{}", file.display());
        assert!(
            std::fs::metadata(file).unwrap().len() > 0,
            "{}",
            file.display()
        );
    }
    // No temporary file is left beside them.
    let names: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn doctor_warns_when_others_can_read_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    let checks = |stdout: &str| -> Vec<Value> {
        let report: Value = serde_json::from_str(stdout).unwrap();
        report["checks"].as_array().unwrap().clone()
    };
    let find = |checks: &[Value], name: &str| -> Value {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} check in {checks:?}"))
            .clone()
    };
    // Only the mode checks matter here: free space depends on the machine.
    let healthy = checks(&String::from_utf8(run(d, &["doctor", "--json"]).stdout).unwrap());
    assert_eq!(find(&healthy, "store file mode")["ok"], json!(true));
    assert_eq!(find(&healthy, "store directory mode")["ok"], json!(true));

    let db = store_path(d);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(d.join("data"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run(d, &["doctor", "--json"]);
    assert!(
        !out.status.success(),
        "doctor must fail on loose permissions"
    );
    let loose = checks(&String::from_utf8(out.stdout).unwrap());
    let file = find(&loose, "store file mode");
    assert_eq!(file["ok"], json!(false));
    let detail = file["detail"].as_str().unwrap();
    assert!(
        detail.contains("644") && detail.contains("chmod go-rwx"),
        "{detail}"
    );
    let directory = find(&loose, "store directory mode");
    assert_eq!(directory["ok"], json!(false));
    assert!(directory["detail"].as_str().unwrap().contains("755"));
}

/// The commands that write a file the user names, each with its output path.
fn writers(path: &Path) -> Vec<Vec<String>> {
    let p = path.to_str().unwrap().to_owned();
    vec![
        vec!["export".into(), p.clone()],
        vec!["backup".into(), p.clone()],
        vec![
            "graph".into(),
            "--query".into(),
            "alpha".into(),
            "-o".into(),
            p,
        ],
    ]
}

fn args(cmd: &[String], extra: &[&str]) -> Vec<String> {
    cmd.iter()
        .cloned()
        .chain(extra.iter().map(|s| (*s).to_owned()))
        .collect()
}

fn run_args(dir: &Path, args: &[String]) -> Output {
    support::memctl::command(dir)
        .args(args)
        .output()
        .expect("run memctl")
}

#[test]
fn outputs_never_overwrite_without_force_nor_write_through_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        d,
        &["add", "-k", "note", "-t", "alpha", "-c", "alpha content"],
    );
    let victim = d.join("victim.txt");
    let out = d.join("out");
    for cmd in writers(&out) {
        let name = &cmd[0];
        // An existing file is kept without --force and replaced with it.
        std::fs::write(&out, "keep me").unwrap();
        let refused = run_args(d, &cmd);
        assert!(!refused.status.success(), "{name}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("--force"), "{name}: {stderr}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me", "{name}");
        assert!(
            run_args(d, &args(&cmd, &["--force"])).status.success(),
            "{name}"
        );
        assert_ne!(std::fs::read(&out).unwrap(), b"keep me", "{name}");
        assert_eq!(mode(&out), 0o600, "{name}");
        std::fs::remove_file(&out).unwrap();

        // A symlink at the path is refused without --force and replaced, never followed,
        // with it: the file it points at is unchanged.
        std::fs::write(&victim, "victim").unwrap();
        let victim_mode = mode(&victim);
        symlink(&victim, &out).unwrap();
        assert!(!run_args(d, &cmd).status.success(), "{name}");
        assert!(out.symlink_metadata().unwrap().is_symlink(), "{name}");
        assert!(
            run_args(d, &args(&cmd, &["--force"])).status.success(),
            "{name}"
        );
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "victim",
            "{name}"
        );
        assert!(out.symlink_metadata().unwrap().is_file(), "{name}");
        assert_eq!(mode(&victim), victim_mode, "{name}: victim mode changed");
        std::fs::remove_file(&out).unwrap();

        // A dangling symlink counts as existing: nothing is created where it points.
        let elsewhere = d.join("elsewhere");
        symlink(&elsewhere, &out).unwrap();
        assert!(!run_args(d, &cmd).status.success(), "{name}");
        assert!(
            !elsewhere.exists(),
            "{name} wrote through a dangling symlink"
        );
        std::fs::remove_file(&out).unwrap();

        // The store itself is never an output, even with --force.
        let db = store_path(d);
        let store_cmd: Vec<String> = writers(&db).into_iter().find(|c| &c[0] == name).unwrap();
        let refused = run_args(d, &args(&store_cmd, &["--force"]));
        assert!(!refused.status.success(), "{name}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("store itself"), "{name}: {stderr}");
    }
    // The store was never touched.
    let stats: Value = serde_json::from_str(&ok(d, &["stats", "--json"])).unwrap();
    assert_eq!(stats["memories"], json!(1));
    let doctor: Value = serde_json::from_slice(&run(d, &["doctor", "--json"]).stdout).unwrap();
    for check in doctor["checks"].as_array().unwrap() {
        // Free space depends on the machine, not on this test.
        if check["name"] != "disk space" {
            assert_eq!(check["ok"], json!(true), "{check}");
        }
    }
}

/// Secrets the binaries read, by environment variable, each with a distinctive value. A new
/// secret (e.g. a sync token) is one more line here: every test below checks it too.
const SECRETS: &[(&str, &str)] = &[
    ("MNEMOGRAPH_EMBED_API_KEY", "sk-mnemo-3f9c2e7a-SECRET"),
    ("OPENAI_API_KEY", "sk-openai-8d1b4c6f-SECRET"),
    ("MNEMOGRAPH_AUTH_TOKEN", "tok-mnemo-5a7e1d9b-SECRET"),
    ("TURSO_AUTH_TOKEN", "tok-turso-2c4f8a6e-SECRET"),
];

/// Fails when any secret value occurs in `text` (which came from `what`).
fn assert_no_secret(what: &str, text: &str) {
    for (var, secret) in SECRETS {
        assert!(
            !text.contains(secret),
            "the value of {var} appears in {what}:\n{text}"
        );
    }
}

/// An OpenAI-compatible endpoint that refuses every request with 401, recording the request
/// heads it received. Runs until the test process ends.
fn refusing_endpoint() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if let Some(head) = answer_401(stream) {
                record.lock().unwrap().push(head);
            }
        }
    });
    (url, seen)
}

fn answer_401(stream: TcpStream) -> Option<String> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = n.trim().parse().unwrap_or(0);
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let answer = r#"{"error":{"message":"invalid api key","type":"invalid_request_error"}}"#;
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    )
    .ok()?;
    Some(head)
}

/// A URL on which nothing listens.
fn closed_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// Runs the server with the secrets in its environment, the HTTP embedder pointed at `url` and
/// debug logs to stderr and a file, makes it fail in the ways a bad key or endpoint makes it
/// fail, and checks that no secret reaches a tool answer, stderr or the log file.
async fn server_keeps_secrets(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let stderr_path = dir.path().join("stderr.txt");
    let mut cmd = support::command(dir.path());
    cmd.env("MNEMOGRAPH_EMBEDDER", "openai")
        .env("MNEMOGRAPH_EMBED_URL", url)
        .args(["--log", "debug", "--log-file", log.to_str().unwrap()]);
    for (var, secret) in SECRETS {
        cmd.env(var, secret);
    }
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let client = ().serve(transport).await.expect("initialize");

    let mut answers = Vec::new();
    let stored = client::ok(
        &client,
        "store_memory",
        json!({"kind": "note", "title": "a memory", "content": "embedding it fails"}),
    )
    .await;
    answers.push(stored.to_string());
    for (tool, args) in [
        (
            "search_memories",
            json!({"query": "memory", "mode": "semantic"}),
        ),
        (
            "search_memories",
            json!({"query": "memory", "mode": "hybrid"}),
        ),
        ("get_memory", json!({"ids": ["not-an-id"]})),
        ("memory_stats", json!({})),
        ("recall", json!({"query": "memory"})),
    ] {
        let result = client::call(&client, tool, args).await;
        answers.push(client::text(&result));
        answers.push(format!("{:?}", result.structured_content));
    }
    client.cancel().await.unwrap();

    for answer in &answers {
        assert_no_secret("a tool answer", answer);
    }
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(
        stderr.contains("DEBUG"),
        "debug logging was not on:\n{stderr}"
    );
    assert_no_secret("the server's stderr", &stderr);
    assert_no_secret("the log file", &std::fs::read_to_string(&log).unwrap());
}

#[tokio::test]
async fn the_server_never_prints_or_logs_secrets() {
    let (url, seen) = refusing_endpoint();
    server_keeps_secrets(&url).await;
    // The key was really sent, so its absence above means something.
    let heads = seen.lock().unwrap().join("");
    assert!(
        heads.contains(SECRETS[0].1),
        "no request carried the key: {heads}"
    );
    server_keeps_secrets(&closed_url()).await;
}

#[test]
fn memctl_never_prints_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["add", "-k", "note", "-t", "a memory", "-c", "content"]);
    let (url, _) = refusing_endpoint();
    for endpoint in [url, closed_url()] {
        for args in [
            &["config"][..],
            &["config", "--json"],
            &["doctor", "--json"],
            &["search", "memory", "--mode", "semantic"],
            &["search", "memory", "--mode", "hybrid", "--json"],
            &["recall", "memory"],
            &["add", "-k", "note", "-t", "another", "-c", "content"],
        ] {
            let mut cmd = support::memctl::command(d);
            cmd.env("MNEMOGRAPH_EMBEDDER", "openai")
                .env("MNEMOGRAPH_EMBED_URL", &endpoint)
                .env("MNEMOGRAPH_LOG", "debug")
                .args(args)
                .stdout(Stdio::piped());
            for (var, secret) in SECRETS {
                cmd.env(var, secret);
            }
            let out = cmd.output().unwrap();
            let what = format!("memctl {args:?}");
            assert_no_secret(&what, &String::from_utf8_lossy(&out.stdout));
            assert_no_secret(&what, &String::from_utf8_lossy(&out.stderr));
        }
    }
}

#[test]
fn resolved_configuration_never_shows_secrets_in_debug_output() {
    let dir = tempfile::tempdir().unwrap();
    let env = |name: &str| {
        SECRETS
            .iter()
            .find(|(var, _)| *var == name)
            .map(|(_, secret)| (*secret).to_owned())
            .or_else(|| (name == "MNEMOGRAPH_EMBED_URL").then(|| "http://127.0.0.1:9/v1".into()))
    };
    let dirs = mnemograph::config::PlatformDirs {
        config_dir: Some(dir.path().join("config")),
        data_dir: Some(dir.path().join("data")),
    };
    let config = mnemograph::config::Config::resolve(&Default::default(), &env, &dirs).unwrap();
    assert_no_secret("Config's Debug output", &format!("{config:?}"));
    assert_no_secret("Config's Debug output", &format!("{config:#?}"));
}

/// The primary's token, in replica and remote mode, when the primary refuses it or cannot be
/// reached: memctl fails, and the server fails or (refused) starts and logs why, with a clear
/// error that never includes it.
#[test]
fn the_primary_token_never_appears_when_sync_fails() {
    let (refusing, seen) = refusing_endpoint();
    for primary in [refusing.trim_end_matches("/v1").to_owned(), closed_url()] {
        for mode in ["replica", "remote"] {
            let dir = tempfile::tempdir().unwrap();
            let log = dir.path().join("server.log");
            let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_mnemograph"));
            let mut memctl = support::memctl::command(dir.path());
            memctl.args(["sync", "status"]);
            server
                .env("MNEMOGRAPH_DATA_DIR", dir.path().join("data"))
                .env("XDG_CONFIG_HOME", dir.path().join("config"))
                .args(["--log", "debug", "--log-file", log.to_str().unwrap()])
                .stdin(Stdio::null());
            for cmd in [&mut server, &mut memctl] {
                cmd.env("MNEMOGRAPH_PRIMARY_URL", &primary)
                    .env("MNEMOGRAPH_MODE", mode)
                    .env("MNEMOGRAPH_LOG", "debug")
                    .stdout(Stdio::piped());
                for (var, secret) in SECRETS {
                    cmd.env(var, secret);
                }
            }
            for (what, cmd) in [
                ("mnemograph", &mut server),
                ("memctl sync status", &mut memctl),
            ] {
                let out = cmd.output().unwrap();
                let stderr = String::from_utf8_lossy(&out.stderr);
                if what == "mnemograph" && out.status.success() {
                    // A primary that refuses the token leaves the server running (every tool
                    // says why); it ran until stdin closed, and its log says why.
                    let logged = std::fs::read_to_string(&log).unwrap_or_default();
                    assert!(
                        primary == refusing.trim_end_matches("/v1")
                            && logged.contains("refused the token"),
                        "{what} in {mode} mode against {primary} succeeded:\n{logged}"
                    );
                } else {
                    assert!(
                        !out.status.success(),
                        "{what} in {mode} mode against {primary} succeeded"
                    );
                    assert!(
                        stderr.contains("primary"),
                        "{what}: the error does not name the primary:\n{stderr}"
                    );
                }
                assert_no_secret(what, &stderr);
                assert_no_secret(what, &String::from_utf8_lossy(&out.stdout));
            }
            assert_no_secret(
                "the log file",
                &std::fs::read_to_string(&log).unwrap_or_default(),
            );
        }
    }
    // The token was really offered to the primary, so its absence above means something.
    let heads = seen.lock().unwrap().join("");
    assert!(
        heads.contains(SECRETS[2].1),
        "no request carried the token: {heads}"
    );
}
