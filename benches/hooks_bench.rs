//! The hook commands as a coding assistant runs them: process start to exit of `memctl hook
//! session-start` and `memctl hook prompt` on a store of 10,000 memories (20 projects and a
//! global layer), and `memctl hook capture` of a 2 MB Claude Code transcript. The baseline,
//! measured in the same run, is `memctl --version`: starting the process and nothing else.
//!
//! Run with `cargo bench --bench hooks_bench [-- MEMORIES RUNS]`. Targets: session start and
//! prompt at most 50 ms p95; a 2 MB capture at most 1 s.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mnemograph::backend::libsql::LibsqlBackend;
use mnemograph::store::{Limits, MemoryStore};
use serde_json::{Value, json};

#[path = "support/args.rs"]
mod args;
// Shared with the tests and the other benchmarks; this one uses the text generator only.
#[allow(dead_code)]
#[path = "../tests/integration/support/corpus.rs"]
mod corpus;

/// The project the hooks run in; the corpus spreads memories over twenty such names.
const PROJECT_REMOTE: &str = "https://github.com/bench/p3";

fn project_of(i: usize) -> Option<String> {
    (!i.is_multiple_of(10)).then(|| format!("github.com/bench/p{}", i % 20))
}

/// Fills a new store at `db` with `n` memories of the synthetic corpus, in batches.
async fn fill(db: &Path, n: usize) {
    let backend = LibsqlBackend::open_local(db).await.expect("open the store");
    let store = MemoryStore::open(Arc::new(backend), Limits::default())
        .await
        .expect("store");
    let text = corpus::Corpus::new();
    let mut batch = Vec::new();
    for i in 0..n {
        let (mut memory, _) = text.memory(i);
        memory.context.project = project_of(i);
        batch.push(memory);
        if batch.len() == 1000 || i + 1 == n {
            store
                .create_many(std::mem::take(&mut batch))
                .await
                .expect("fill");
        }
    }
}

/// A Claude Code transcript of about `bytes`: turns of a prompt, a failing test run, an
/// edit, an explanation and a passing run, with long command output as real sessions have.
fn transcript(root: &Path, bytes: usize) -> String {
    let words = corpus::Corpus::new();
    let mut rng = corpus::Rng(11);
    let mut out = String::new();
    let mut turn = 0;
    while out.len() < bytes {
        let id = |n: usize| format!("toolu_{turn}_{n}");
        let noise = words.sentence(&mut rng, 400);
        let lines: [Value; 7] = [
            json!({"type": "user", "message": {"role": "user",
                "content": format!("Turn {turn}: {}. Let's use {} for this.",
                    words.sentence(&mut rng, 20), words.sentence(&mut rng, 2))}}),
            json!({"type": "assistant", "message": {"content": [
                {"type": "tool_use", "id": id(1), "name": "Bash",
                 "input": {"command": format!("cargo test -p crate{} 2>&1 | tail -40", turn % 7)}}]}}),
            json!({"type": "user", "message": {"content": [
                {"type": "tool_result", "tool_use_id": id(1), "is_error": true,
                 "content": format!("Exit code 101\n{noise}\nerror[E{:04}]: {}",
                    turn % 500, words.sentence(&mut rng, 6))}]}}),
            json!({"type": "assistant", "message": {"content": [
                {"type": "tool_use", "id": id(2), "name": "Edit",
                 "input": {"file_path": root.join(format!("src/m{}.rs", turn % 40))}}]}}),
            json!({"type": "user", "message": {"content": [
                {"type": "tool_result", "tool_use_id": id(2), "content": "The file has been updated."}]}}),
            json!({"type": "assistant", "message": {"content": [
                {"type": "text", "text": words.sentence(&mut rng, 40)},
                {"type": "tool_use", "id": id(3), "name": "Bash",
                 "input": {"command": format!("cargo test -p crate{}", turn % 7)}}]}}),
            json!({"type": "user", "message": {"content": [
                {"type": "tool_result", "tool_use_id": id(3),
                 "content": format!("{noise}\ntest result: ok. 40 passed; 0 failed")}]}}),
        ];
        for line in lines {
            out.push_str(&line.to_string());
            out.push('\n');
        }
        turn += 1;
    }
    out
}

/// Wall time of `memctl args` with `input` on stdin, from spawn to exit.
fn time(memctl: &Path, env: &[(&str, &Path)], cwd: &Path, args: &[&str], input: &str) -> Duration {
    let started = Instant::now();
    let mut cmd = Command::new(memctl);
    cmd.args(args)
        .current_dir(cwd)
        .env("MNEMOGRAPH_EMBEDDER", "none")
        .env_remove("MNEMOGRAPH_DB")
        .env_remove("MNEMOGRAPH_NAMESPACE")
        .env_remove("MNEMOGRAPH_PRIMARY_URL")
        .env_remove("TURSO_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn memctl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let elapsed = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

struct Figures {
    p50: f64,
    p95: f64,
}

fn figures(mut runs: Vec<Duration>) -> Figures {
    runs.sort();
    let at = |q: f64| runs[((runs.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e3;
    Figures {
        p50: at(0.5),
        p95: at(0.95),
    }
}

fn main() {
    let argv = args::command_line();
    let memories: usize = argv.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let runs: usize = argv.get(2).and_then(|a| a.parse().ok()).unwrap_or(60);
    let memctl = PathBuf::from(env!("CARGO_BIN_EXE_memctl"));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("config");
    let root = dir.path().join("proj");
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        root.join(".git/config"),
        format!("[remote \"origin\"]\n\turl = {PROJECT_REMOTE}\n"),
    )
    .unwrap();

    let started = Instant::now();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(fill(&data.join("default.db"), memories));
    println!(
        "store: {memories} memories in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let env = [
        ("MNEMOGRAPH_DATA_DIR", data.as_path()),
        ("XDG_CONFIG_HOME", config.as_path()),
    ];

    // A prompt that matches a memory of this project (its own title's words), and one that
    // matches nothing clearly.
    let text = corpus::Corpus::new();
    let hit = (0..memories)
        .find(|i| project_of(*i).as_deref() == Some("github.com/bench/p3"))
        .map(|i| text.memory(i).0.title)
        .unwrap();
    let cwd = root.display().to_string();
    let start_input = json!({"session_id": "b", "cwd": cwd, "hook_event_name": "SessionStart",
                             "source": "startup"})
    .to_string();
    let prompt = |p: &str| {
        json!({"session_id": "b", "cwd": cwd, "hook_event_name": "UserPromptSubmit", "prompt": p})
            .to_string()
    };
    let cases: [(&str, Vec<&str>, String); 4] = [
        (
            "baseline: memctl --version",
            vec!["--version"],
            String::new(),
        ),
        ("session-start", vec!["hook", "session-start"], start_input),
        ("prompt (relevant)", vec!["hook", "prompt"], prompt(&hit)),
        (
            "prompt (nothing relevant)",
            vec!["hook", "prompt"],
            prompt("thanks, that looks right to me"),
        ),
    ];
    println!("{runs} runs each, process start to exit:");
    let mut baseline = 0.0;
    for (name, args, input) in &cases {
        // One warm-up run, as the page cache would be in a working session.
        time(&memctl, &env, &root, args, input);
        let all: Vec<Duration> = (0..runs)
            .map(|_| time(&memctl, &env, &root, args, input))
            .collect();
        let f = figures(all);
        if baseline == 0.0 {
            baseline = f.p50;
        }
        println!(
            "  {name:<28} p50 {:6.1} ms  p95 {:6.1} ms  ({:.1}× baseline p50)",
            f.p50,
            f.p95,
            f.p50 / baseline
        );
    }

    let text = transcript(&root, 2 << 20);
    let path = dir.path().join("transcript.jsonl");
    std::fs::write(&path, &text).unwrap();
    let capture_runs = 10;
    let all: Vec<Duration> = (0..capture_runs)
        .map(|run| {
            let input = json!({"session_id": format!("capture-{run}"), "transcript_path": path,
                               "cwd": cwd, "hook_event_name": "PreCompact", "trigger": "auto"});
            time(
                &memctl,
                &env,
                &root,
                &["hook", "capture"],
                &input.to_string(),
            )
        })
        .collect();
    let f = figures(all);
    println!(
        "capture of a {:.1} MB transcript ({} lines), new session each run, {capture_runs} runs: \
         p50 {:.0} ms  p95 {:.0} ms",
        text.len() as f64 / 1e6,
        text.lines().count(),
        f.p50,
        f.p95
    );
}
