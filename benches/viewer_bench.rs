//! Viewer benchmark: the viewer's JSON API over HTTP at 100k memories.
//!
//! ```text
//! cargo bench --bench viewer_bench              # 100k memories
//! cargo bench --bench viewer_bench -- 10000     # another size
//! ```
//!
//! Builds a store of synthetic memories (the corpus of `store_bench`: ~200-character texts,
//! about two relationships each, embedded by the built-in model so search is hybrid as the
//! viewer runs it), serves the viewer's router on a loopback port, and times requests as the
//! page makes them: a search page (20 hits), a 200-node graph, a memory page, the status and
//! the change marker the page polls. Each is also timed as the direct store call it makes, the
//! baseline the HTTP and JSON overhead is measured against. Timings are medians (p50) and
//! 95th percentiles over repeated calls, one client at a time.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mnemograph::app::App;
use mnemograph::config::{Config, ConfigArgs, PlatformDirs};
use mnemograph::model::{Filter, Traversal};
use mnemograph::store::NewRelationship;

#[path = "support/args.rs"]
mod args;
// Shared with the MCP benchmarks; this one uses the bulk insert and the figures only.
#[allow(dead_code)]
#[path = "support/build.rs"]
mod build;
#[path = "../tests/integration/support/corpus.rs"]
mod corpus;

use build::{ms, percentile};
use corpus::{REL_TYPES, Rng};

const PAGE: usize = 20;
const GRAPH_NODES: usize = 200;

/// Prints p50 and p95 in milliseconds and returns p50.
fn report(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let p50 = percentile(&samples, 0.5);
    println!(
        "  {name:<44} p50 {:>8.2} ms   p95 {:>8.2} ms   (n={})",
        ms(p50),
        ms(percentile(&samples, 0.95)),
        samples.len()
    );
    p50
}

/// Times `call` once per item of `inputs`; returns the times and what the calls returned.
async fn timed<I, T, F, Fut>(inputs: &[I], mut call: F) -> (Vec<Duration>, Vec<T>)
where
    F: FnMut(&I) -> Fut,
    Fut: Future<Output = T>,
{
    let mut samples = Vec::with_capacity(inputs.len());
    let mut outputs = Vec::with_capacity(inputs.len());
    for input in inputs {
        let t = Instant::now();
        outputs.push(call(input).await);
        samples.push(t.elapsed());
    }
    (samples, outputs)
}

/// [`timed`], the times only.
async fn time<I, T, F, Fut>(inputs: &[I], call: F) -> Vec<Duration>
where
    F: FnMut(&I) -> Fut,
    Fut: Future<Output = T>,
{
    timed(inputs, call).await.0
}

/// One GET, answered 200, its body read in full; returns the body's size.
async fn get(url: String) -> usize {
    tokio::task::spawn_blocking(move || {
        let mut answer = ureq::get(&url).call().expect("the viewer answers");
        answer.body_mut().read_to_string().expect("a body").len()
    })
    .await
    .unwrap()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn build(app: &App, n: usize) -> Vec<String> {
    let corpus = corpus::Corpus::new();
    let store = app.store();
    let started = Instant::now();
    let ids = build::insert(store, n, &corpus).await;
    println!(
        "  built {n} memories (embedded on write) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // About two relationships per memory: one to a memory nearby, one anywhere before it.
    let started = Instant::now();
    let mut rng = Rng(99);
    let mut links = 0;
    for i in 1..n {
        for j in [i.saturating_sub(1 + rng.below(50)), rng.below(i)] {
            let linked = store
                .link(NewRelationship {
                    source_id: ids[i].clone(),
                    target_id: ids[j].clone(),
                    rel_type: REL_TYPES[rng.below(REL_TYPES.len())].into(),
                    ..NewRelationship::default()
                })
                .await;
            links += usize::from(linked.is_ok());
        }
    }
    println!(
        "  linked {links} relationships in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    ids
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = args::command_line();
    let n: usize = args.get(1).map_or(100_000, |a| a.parse().expect("a size"));
    let dir = tempfile::tempdir().unwrap();
    let dirs = PlatformDirs {
        config_dir: Some(dir.path().join("config")),
        data_dir: Some(dir.path().join("data")),
    };
    let config = Config::resolve(&ConfigArgs::default(), &|_| None, &dirs).unwrap();
    let app = Arc::new(App::open(&config).await.unwrap());
    app.load_embedder().await;
    println!(
        "viewer_bench: {n} memories, embedder {:?}",
        app.store().embedder().status().state
    );
    let ids = build(&app, n).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = mnemograph::http::viewer::router(Arc::clone(&app));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let store = app.store();
    let corpus = corpus::Corpus::new();
    let mut rng = Rng(2024);

    let queries: Vec<String> = (0..200).map(|_| corpus.query(&mut rng, n, 2)).collect();
    // Warm up: the vector index loads on the first semantic search.
    get(format!("{base}/api/search?q={}", encode(&queries[0]))).await;

    println!("search page ({PAGE} hits, hybrid, two words of a memory)");
    let direct = report(
        "store.search (baseline)",
        time(&queries, |q| {
            let q = q.clone();
            async move {
                store
                    .search(&q, None, &Filter::default(), PAGE, None)
                    .await
                    .expect("search");
            }
        })
        .await,
    );
    let http = report(
        "GET /api/search",
        time(&queries, |q| {
            get(format!("{base}/api/search?q={}&limit={PAGE}", encode(q)))
        })
        .await,
    );
    println!(
        "  HTTP + JSON over the store call          ×{:.2}",
        http.as_secs_f64() / direct.as_secs_f64()
    );
    report(
        "GET /api/search, kind and tag filters",
        time(&queries, |q| {
            get(format!(
                "{base}/api/search?q={}&limit={PAGE}&kind=fix&tag=tag7",
                encode(q)
            ))
        })
        .await,
    );
    report(
        "GET /api/search, no query (newest first)",
        time(&queries[..50], |_| {
            get(format!("{base}/api/search?limit={PAGE}"))
        })
        .await,
    );

    println!("graph (depth 4, at most {GRAPH_NODES} nodes)");
    let seeds: Vec<String> = (0..100)
        .map(|_| ids[rng.below(ids.len())].clone())
        .collect();
    let traversal = Traversal {
        depth: 4,
        max_nodes: GRAPH_NODES,
        ..Traversal::default()
    };
    let (samples, nodes) = timed(&seeds, |id| {
        let (id, traversal) = (id.clone(), &traversal);
        async move {
            store
                .subgraph(std::slice::from_ref(&id), traversal)
                .await
                .expect("subgraph")
                .nodes
                .len()
        }
    })
    .await;
    let direct = report("store.subgraph (baseline)", samples);
    let mean = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len() as f64;
    println!(
        "  nodes per graph (mean)                   {:.0}",
        mean(&nodes)
    );
    let (samples, bytes) = timed(&seeds, |id| {
        get(format!(
            "{base}/api/graph?id={id}&depth=4&max_nodes={GRAPH_NODES}"
        ))
    })
    .await;
    let http = report("GET /api/graph?id=…", samples);
    println!(
        "  HTTP + JSON over the store call          ×{:.2}",
        http.as_secs_f64() / direct.as_secs_f64()
    );
    println!(
        "  JSON per graph (mean)                    {:.0} KiB",
        mean(&bytes) / 1024.0
    );
    report(
        "GET /api/graph?q=… (around 5 search hits)",
        time(&queries[..100], |q| {
            get(format!(
                "{base}/api/graph?q={}&depth=2&max_nodes={GRAPH_NODES}",
                encode(q)
            ))
        })
        .await,
    );

    println!("memory page, status, change marker");
    report(
        "GET /api/memories/{id}",
        time(&seeds, |id| get(format!("{base}/api/memories/{id}"))).await,
    );
    let polls: Vec<()> = vec![(); 500];
    let marker = report(
        "app.changes() (what the page polls)",
        time(&polls, |_| async {
            app.changes().await.expect("changes");
        })
        .await,
    );
    report(
        "GET /api/changes",
        time(&polls, |_| get(format!("{base}/api/changes"))).await,
    );
    let stats = report(
        "store.stats() (counts: the alternative)",
        time(&polls[..50], |_| async {
            store.stats().await.expect("stats");
        })
        .await,
    );
    println!(
        "  stats over the change marker             ×{:.0}",
        stats.as_secs_f64() / marker.as_secs_f64()
    );
    report(
        "GET /api/status",
        time(&polls[..50], |_| get(format!("{base}/api/status"))).await,
    );
}
