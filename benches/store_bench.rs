//! Store benchmark: builds synthetic stores and measures the store API on the real libSQL file.
//!
//! ```text
//! cargo bench --bench store_bench                  # 10k and 100k memories
//! cargo bench --bench store_bench -- 10000         # one size
//! ```
//!
//! Each size runs in two fresh child processes, so peak RSS and open time are those of one
//! job: `build` bulk-inserts memories (~200-char texts, 384-d clustered vectors) and about two
//! relationships each, then measures single inserts; `serve` reopens the store and measures
//! reads. Timings are medians (p50) and 95th percentiles over repeated calls.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mnemograph::backend::libsql::LibsqlBackend;
use mnemograph::graph::PathCost;
use mnemograph::model::{Direction, Embedding, Filter, Traversal};
use mnemograph::store::{Limits, MemoryStore, NewMemory, NewRelationship, PathQuery};

#[path = "support/args.rs"]
mod args;
#[path = "../tests/integration/support/corpus.rs"]
mod corpus;

use corpus::{REL_TYPES, Rng};

const DIM: usize = 384;
const MODEL: &str = "synthetic-384";
const CLUSTERS: usize = 1000;
const BATCH: usize = 1000;
/// The synthetic corpus with 384-d vectors clustered around 1,000 random centres (topics).
struct Corpus {
    text: corpus::Corpus,
    centres: Vec<Vec<f32>>,
}

impl Corpus {
    fn new() -> Self {
        let mut rng = Rng(8);
        let centres = (0..CLUSTERS)
            .map(|_| normalise((0..DIM).map(|_| rng.gauss()).collect()))
            .collect();
        Corpus {
            text: corpus::Corpus::new(),
            centres,
        }
    }

    fn sentence(&self, rng: &mut Rng, words: usize) -> String {
        self.text.sentence(rng, words)
    }

    fn cluster_of(i: usize) -> usize {
        (i.wrapping_mul(2_654_435_761)) % CLUSTERS
    }

    /// A vector near the centre of `cluster`.
    fn vector(&self, rng: &mut Rng, cluster: usize) -> Vec<f32> {
        let noise = 1.0 / (DIM as f32).sqrt();
        normalise(
            self.centres[cluster]
                .iter()
                .map(|c| c + rng.gauss() * noise)
                .collect(),
        )
    }

    fn memory(&self, i: usize) -> NewMemory {
        let (memory, mut rng) = self.text.memory(i);
        NewMemory {
            embedding: Some(Embedding {
                model: MODEL.into(),
                vector: self.vector(&mut rng, Self::cluster_of(i)),
            }),
            ..memory
        }
    }
}

fn normalise(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "  {name:<34} p50 {:>9.1} µs   p95 {:>9.1} µs   (n={})",
        us(percentile(&samples, 0.5)),
        us(percentile(&samples, 0.95)),
        samples.len()
    );
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn file_mib(path: &Path) -> f64 {
    let size = |p: PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    (size(path.to_owned()) + size(wal)) as f64 / (1024.0 * 1024.0)
}

async fn open(path: &Path) -> MemoryStore {
    let backend = LibsqlBackend::open_local(path).await.expect("open store");
    MemoryStore::open(Arc::new(backend), Limits::default())
        .await
        .expect("open store")
}

async fn build(path: &Path, n: usize) {
    let corpus = Corpus::new();
    let store = open(path).await;
    // Only the store's work is timed, not making the synthetic data.
    let mut spent = Duration::ZERO;
    let mut ids: Vec<String> = Vec::with_capacity(n);
    for start in (0..n).step_by(BATCH) {
        let batch = (start..(start + BATCH).min(n))
            .map(|i| corpus.memory(i))
            .collect();
        let t = Instant::now();
        let created = store.create_many(batch).await.expect("bulk insert");
        spent += t.elapsed();
        ids.extend(created.into_iter().map(|(id, _)| id));
    }
    let secs = spent.as_secs_f64();
    println!(
        "  bulk insert with vectors            {:>9.0} memories/s ({n} in {secs:.1} s)",
        n as f64 / secs
    );

    // About two relationships per memory: one inside its cluster (topical locality), one anywhere.
    let mut rng = Rng(99);
    let mut by_cluster: Vec<Vec<usize>> = vec![Vec::new(); CLUSTERS];
    let mut link_times = Vec::with_capacity(2 * n);
    let started = Instant::now();
    for i in 0..n {
        let cluster = Corpus::cluster_of(i);
        let mut targets = Vec::new();
        if let Some(&j) = by_cluster[cluster].get(rng.below(by_cluster[cluster].len().max(1))) {
            targets.push(j);
        }
        if i > 0 {
            targets.push(rng.below(i));
        }
        by_cluster[cluster].push(i);
        for j in targets {
            let t = Instant::now();
            let result = store
                .link(NewRelationship {
                    source_id: ids[i].clone(),
                    target_id: ids[j].clone(),
                    rel_type: REL_TYPES[rng.below(REL_TYPES.len())].into(),
                    strength: Some(0.2 + 0.8 * rng.unit() as f32),
                    ..NewRelationship::default()
                })
                .await;
            if result.is_ok() {
                link_times.push(t.elapsed());
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  relationships                       {:>9.0} links/s ({} in {secs:.1} s)",
        link_times.len() as f64 / secs,
        link_times.len()
    );

    let mut single = Vec::new();
    for i in 0..300 {
        let memory = corpus.memory(n + i);
        let t = Instant::now();
        store.create(memory).await.expect("single insert");
        single.push(t.elapsed());
    }
    report("single insert with vector (1 tx)", single);
    println!(
        "  file size                           {:>9.1} MiB",
        file_mib(path)
    );
    println!(
        "  peak RSS (build process)            {:>9.1} MiB",
        peak_rss_mib()
    );
}

async fn serve(path: &Path, n: usize) {
    let corpus = Corpus::new();
    let t = Instant::now();
    let store = open(path).await;
    println!(
        "  open existing store                 {:>9.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let mut rng = Rng(2024);

    let page = store
        .list(&Filter::default(), None, 500)
        .await
        .expect("list");
    let mut ids: Vec<String> = page.memories.iter().map(|m| m.id.clone()).collect();
    // Ids from all over the store: walk a few random pages deep is slow, so sample via search.
    for _ in 0..20 {
        let q = corpus.sentence(&mut rng, 2);
        for hit in store
            .keyword_search(&q, &Filter::default(), 50)
            .await
            .expect("search")
        {
            ids.push(hit.memory.id);
        }
    }

    let t = Instant::now();
    let query = Embedding {
        model: MODEL.into(),
        vector: corpus.vector(&mut rng, 0),
    };
    store
        .vector_search(&query, &Filter::default(), 10)
        .await
        .expect("vector search");
    println!(
        "  first vector search (index load)    {:>9.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let mut samples = Vec::new();
    for _ in 0..2000 {
        let id = &ids[rng.below(ids.len())];
        let t = Instant::now();
        store.get(id).await.expect("get");
        samples.push(t.elapsed());
    }
    report("get by id", samples);

    let mut samples = Vec::new();
    for _ in 0..500 {
        let q = corpus.text.query(&mut rng, n, 2);
        let t = Instant::now();
        store
            .keyword_search(&q, &Filter::default(), 10)
            .await
            .expect("keyword");
        samples.push(t.elapsed());
    }
    report("keyword search top-10", samples);

    // Filtered by one of the corpus's 50 tags (each on ~4% of the memories).
    let tagged = |rng: &mut Rng| Filter {
        tags: vec![format!("tag{}", rng.below(50))],
        ..Filter::default()
    };
    let mut samples = Vec::new();
    for _ in 0..500 {
        let filter = tagged(&mut rng);
        let t = Instant::now();
        store.list(&filter, None, 20).await.expect("list by tag");
        samples.push(t.elapsed());
    }
    report("list by tag, first 20", samples);

    let mut samples = Vec::new();
    for _ in 0..500 {
        let q = corpus.text.query(&mut rng, n, 2);
        let filter = tagged(&mut rng);
        let t = Instant::now();
        store
            .keyword_search(&q, &filter, 10)
            .await
            .expect("keyword by tag");
        samples.push(t.elapsed());
    }
    report("keyword search top-10, one tag", samples);

    let mut samples = Vec::new();
    let mut recall = Vec::new();
    let backend = LibsqlBackend::open_local(path).await.expect("open");
    for i in 0..300 {
        let cluster = rng.below(CLUSTERS);
        let query = Embedding {
            model: MODEL.into(),
            vector: corpus.vector(&mut rng, cluster),
        };
        let t = Instant::now();
        let hits = store
            .vector_search(&query, &Filter::default(), 10)
            .await
            .expect("vector");
        samples.push(t.elapsed());
        if i < 40 {
            let exact = backend
                .vector_search_exact(MODEL, &query.vector, &Filter::default(), 10)
                .await
                .expect("exact");
            let found = hits
                .iter()
                .filter(|h| exact.iter().any(|e| e.memory.id == h.memory.id))
                .count();
            recall.push(found as f64 / exact.len().max(1) as f64);
        }
    }
    report("vector top-10", samples);
    println!(
        "  vector recall@10 vs exact           {:>9.3} (over {} queries)",
        recall.iter().sum::<f64>() / recall.len() as f64,
        recall.len()
    );

    let two_hops = Traversal {
        depth: 2,
        ..Traversal::default()
    };
    let mut samples = Vec::new();
    let mut reached = 0;
    for _ in 0..500 {
        let id = &ids[rng.below(ids.len())];
        let t = Instant::now();
        reached += store
            .neighbours(id, &two_hops)
            .await
            .expect("neighbours")
            .len();
        samples.push(t.elapsed());
    }
    report(
        &format!("2-hop neighbours (avg {} found)", reached / 500),
        samples,
    );

    // Path targets 2–4 hops away, found by random walks.
    let mut samples = Vec::new();
    let mut hops = 0;
    let query = PathQuery {
        max_hops: 4,
        cost: PathCost::Hops,
        ..PathQuery::default()
    };
    for _ in 0..300 {
        let from = ids[rng.below(ids.len())].clone();
        let mut to = from.clone();
        for _ in 0..2 + rng.below(3) {
            let next = store
                .neighbours(
                    &to,
                    &Traversal {
                        depth: 1,
                        ..Traversal::default()
                    },
                )
                .await
                .expect("walk");
            if let Some(nb) = next.get(rng.below(next.len().max(1))) {
                to = nb.memory.id.clone();
            }
        }
        let t = Instant::now();
        let path = store.find_path(&from, &to, &query).await.expect("path");
        samples.push(t.elapsed());
        hops += path.map_or(0, |p| p.hops);
    }
    report(
        &format!("shortest path ≤4 hops (avg {:.1})", hops as f64 / 300.0),
        samples,
    );

    let big = Traversal {
        depth: 6,
        max_nodes: 1000,
        direction: Direction::Both,
        ..Traversal::default()
    };
    let mut samples = Vec::new();
    let mut nodes = 0;
    for _ in 0..50 {
        let id = ids[rng.below(ids.len())].clone();
        let t = Instant::now();
        nodes += store
            .subgraph(&[id], &big)
            .await
            .expect("subgraph")
            .nodes
            .len();
        samples.push(t.elapsed());
    }
    report(
        &format!("subgraph load (avg {} nodes)", nodes / 50),
        samples,
    );
    println!(
        "  peak RSS (serve process)            {:>9.1} MiB",
        peak_rss_mib()
    );
}

fn main() {
    let args = args::command_line().split_off(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match args.first().map(String::as_str) {
        Some(phase @ ("build" | "serve")) => {
            let path = PathBuf::from(&args[1]);
            let n: usize = args[2].parse().expect("size");
            if phase == "build" {
                runtime.block_on(build(&path, n));
            } else {
                runtime.block_on(serve(&path, n));
            }
        }
        _ => {
            let sizes: Vec<usize> = if args.is_empty() {
                vec![10_000, 100_000]
            } else {
                args.iter()
                    .map(|a| a.parse().expect("sizes are numbers"))
                    .collect()
            };
            // MNEMOGRAPH_BENCH_DIR keeps the stores for inspection; a temp dir otherwise.
            let temp = tempfile::tempdir().expect("temp dir");
            let dir = std::env::var_os("MNEMOGRAPH_BENCH_DIR")
                .map_or_else(|| temp.path().to_owned(), PathBuf::from);
            let exe = std::env::current_exe().expect("own path");
            for n in sizes {
                let path = dir.join(format!("bench-{n}.db"));
                let _ = std::fs::remove_file(&path);
                println!(
                    "== {n} memories ({} cores)",
                    std::thread::available_parallelism().map_or(1, |p| p.get())
                );
                for phase in ["build", "serve"] {
                    let status = Command::new(&exe)
                        .args([phase, &path.display().to_string(), &n.to_string()])
                        .status()
                        .expect("run phase");
                    assert!(status.success(), "{phase} failed");
                }
            }
        }
    }
}
