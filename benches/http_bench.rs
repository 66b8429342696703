//! Per-call overhead of MCP over streamable HTTP against MCP over stdio: the real
//! `mnemograph` binary both ways, on one store, in one run.
//!
//! ```text
//! cargo bench --bench http_bench                 # 1,000 memories, 500 calls per tool and transport
//! cargo bench --bench http_bench -- 100000 200   # memories, calls
//! ```
//!
//! It builds a store through the library (no vectors, `MNEMOGRAPH_EMBEDDER=none`), starts
//! `mnemograph` on stdio and `mnemograph serve` on 127.0.0.1 over that store, opens one rmcp
//! client session with each (child process / streamable HTTP), and times each tool's round
//! trip on the client side, alternating the two transports call by call so both see the same
//! machine. `get_memory` spends some 15 µs in the store, so its difference is nearly all the
//! transport's own cost; `memory_stats` and a keyword search show it beside more work. The
//! store is small by default because the transport's cost does not depend on its size.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mnemograph::backend::libsql::LibsqlBackend;
use mnemograph::store::{Limits, MemoryStore};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

#[path = "support/args.rs"]
mod args;
#[allow(dead_code)] // the relationship types serve the other benchmarks
#[path = "../tests/integration/support/corpus.rs"]
mod corpus;
#[allow(dead_code)] // the tests use more of it: raw requests, the banner, other signals
#[path = "../tests/integration/http/server.rs"]
mod http;
#[path = "support/server.rs"]
mod server;

use args::command_line;
use corpus::{Corpus, Rng};
use http::{Client, Served};
use server::server_command;

/// Calls per transport before timing, so connections, caches and the allocator settle.
const WARM_UP: usize = 50;

async fn build(path: &Path, n: usize, corpus: &Corpus) -> Vec<String> {
    let backend = LibsqlBackend::open_local(path).await.expect("open store");
    let store = MemoryStore::open(Arc::new(backend), Limits::default())
        .await
        .expect("open store");
    let mut ids = Vec::with_capacity(n);
    for start in (0..n).step_by(1000) {
        let batch = (start..(start + 1000).min(n))
            .map(|i| corpus.memory(i).0)
            .collect();
        let created = store.create_many(batch).await.expect("bulk insert");
        ids.extend(created.into_iter().map(|(id, _)| id));
    }
    ids
}

async fn call(client: &Client, tool: &str, args: &Value) {
    let Value::Object(args) = args.clone() else {
        unreachable!("tool arguments are objects")
    };
    let result = client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("{tool}: protocol error {e}"));
    assert_eq!(result.is_error, Some(false), "{tool}: {:?}", result.content);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let exe = Path::new(env!("CARGO_BIN_EXE_mnemograph"));
    let line = command_line();
    let number = |i: usize, default: usize| {
        line.get(i)
            .map_or(default, |a| a.parse().expect("a number"))
    };
    let (n, calls) = (number(1, 1_000), number(2, 500));
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("http-bench.db");
    let config_home = dir.path().join("config");
    let corpus = Corpus::new();
    let ids = build(&db, n, &corpus).await;

    let stdio: Client =
        ().serve(TokioChildProcess::new(server_command(exe, &db, &config_home)).expect("spawn"))
            .await
            .expect("initialize over stdio");
    let served = Served::start(server_command(exe, &db, &config_home).into_std(), &[]);
    let over_http = http::connect(&served.mcp_url(), None).await;
    println!(
        "== {n} memories, {calls} calls per tool and transport, alternating ({} cores)",
        std::thread::available_parallelism().map_or(1, |p| p.get())
    );
    println!(
        "  {:<16} {:>10} {:>10} {:>10} {:>10} {:>12} {:>7}",
        "tool", "stdio p50", "stdio p95", "HTTP p50", "HTTP p95", "HTTP - stdio", "ratio"
    );

    let mut rng = Rng(7);
    type Args<'a> = Box<dyn FnMut(&mut Rng) -> Value + 'a>;
    let cases: [(&str, Args); 3] = [
        (
            "get_memory",
            Box::new(|rng| {
                let id = &ids[rng.below(n)];
                json!({ "ids": [id] })
            }),
        ),
        ("memory_stats", Box::new(|_| json!({}))),
        (
            "search_memories",
            Box::new(|rng| json!({"query": corpus.query(rng, n, 2), "mode": "keyword"})),
        ),
    ];
    for (tool, mut args) in cases {
        let mut samples = [Vec::with_capacity(calls), Vec::with_capacity(calls)];
        for i in 0..WARM_UP + calls {
            // The same arguments both ways; which transport goes first alternates.
            let args = args(&mut rng);
            let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let client = if which == 0 { &stdio } else { &over_http };
                let t = Instant::now();
                call(client, tool, &args).await;
                if i >= WARM_UP {
                    samples[which].push(t.elapsed());
                }
            }
        }
        for s in &mut samples {
            s.sort();
        }
        let p = |which: usize, q| ms(percentile(&samples[which], q));
        println!(
            "  {tool:<16} {:>7.3} ms {:>7.3} ms {:>7.3} ms {:>7.3} ms {:>+9.3} ms {:>6.2}×",
            p(0, 0.5),
            p(0, 0.95),
            p(1, 0.5),
            p(1, 0.95),
            p(1, 0.5) - p(0, 0.5),
            p(1, 0.5) / p(0, 0.5)
        );
    }
    stdio.cancel().await.expect("stop the stdio server");
    over_http.cancel().await.expect("close the HTTP session");
    let mut served = served;
    let (status, _) = served.stop_with("-TERM");
    assert!(status.success(), "mnemograph serve stopped with {status:?}");
}
