//! What the MCP benchmarks (`mcp_bench`, `raw_pipe`) share: the synthetic store they serve
//! (`n` memories of the shared corpus built through the library, bulk `create_many`, without
//! vectors or with those of an embedder, then about one relationship per memory made one
//! `link` at a time), the sizes and directory of a run, and the figures they print.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mnemograph::backend::libsql::LibsqlBackend;
use mnemograph::embed::EmbedderHandle;
use mnemograph::store::{Limits, MemoryStore, NewRelationship};

use super::corpus::{Corpus, REL_TYPES, Rng};

const BATCH: usize = 1000;

/// The store sizes a run measures: those on the command line, else `default`.
pub fn sizes(command_line: Vec<String>, default: &[usize]) -> Vec<usize> {
    match command_line.split_first() {
        Some((_, args)) if !args.is_empty() => args
            .iter()
            .map(|a| a.parse().expect("sizes are numbers of memories"))
            .collect(),
        _ => default.to_vec(),
    }
}

/// Where a run keeps its stores: `MNEMOGRAPH_BENCH_DIR` (kept for inspection), else `temp`.
pub fn bench_dir(temp: &Path) -> PathBuf {
    std::env::var_os("MNEMOGRAPH_BENCH_DIR").map_or_else(|| temp.to_owned(), PathBuf::from)
}

/// How many results the array at JSON `pointer` of a tool's answer holds (0 without one):
/// shows that the calls timed did real work (a search that finds nothing is fast and useless).
pub fn results(data: &serde_json::Value, pointer: Option<&str>) -> usize {
    pointer
        .and_then(|p| data.pointer(p))
        .and_then(serde_json::Value::as_array)
        .map_or(0, Vec::len)
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A memory figure of a `/proc/<pid>/status` text (e.g. `VmHWM`), in MiB.
pub fn status_mib(status: &str, field: &str) -> f64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
/// Wall time allowed for creating relationships one `link` at a time: beyond it a large
/// store gets fewer than one per memory, so the whole run stays within a few minutes.
const LINK_BUDGET: Duration = Duration::from_secs(60);

/// Stores the first `n` memories of `corpus` in `store` with bulk `create_many`, in batches
/// of [`BATCH`], and returns their ids in corpus order.
pub async fn insert(store: &MemoryStore, n: usize, corpus: &Corpus) -> Vec<String> {
    let mut ids: Vec<String> = Vec::with_capacity(n);
    for start in (0..n).step_by(BATCH) {
        let batch = (start..(start + BATCH).min(n))
            .map(|i| corpus.memory(i).0)
            .collect();
        let created = store.create_many(batch).await.expect("bulk insert");
        ids.extend(created.into_iter().map(|(id, _)| id));
    }
    ids
}

/// Builds a store of `n` memories without vectors and returns their ids.
#[allow(dead_code)] // raw_pipe builds through `build_with`
pub async fn build(path: &Path, n: usize, corpus: &Corpus) -> Vec<String> {
    build_with(path, n, corpus, EmbedderHandle::off()).await
}

/// Builds a store of `n` memories, each with its vector when `embedder` is ready, and returns
/// their ids.
pub async fn build_with(
    path: &Path,
    n: usize,
    corpus: &Corpus,
    embedder: EmbedderHandle,
) -> Vec<String> {
    let backend = LibsqlBackend::open_local(path).await.expect("open store");
    let vectors = embedder.get().is_some();
    let store = MemoryStore::open_with_embedder(Arc::new(backend), Limits::default(), embedder)
        .await
        .expect("open store");
    let started = Instant::now();
    let ids = insert(&store, n, corpus).await;
    println!(
        "  build: {n} memories{} in {:.1} s (create_many, batches of {BATCH})",
        if vectors { " with vectors" } else { "" },
        started.elapsed().as_secs_f64()
    );

    // Random endpoints rather than memory order, so that if the budget cuts linking short
    // the graph is uniformly sparser instead of dense at one end and empty at the other.
    let mut rng = Rng(99);
    let started = Instant::now();
    let mut links = 0;
    while links < n && started.elapsed() < LINK_BUDGET {
        let (source, target) = (rng.below(n), rng.below(n));
        if source == target {
            continue;
        }
        store
            .link(NewRelationship {
                source_id: ids[source].clone(),
                target_id: ids[target].clone(),
                rel_type: REL_TYPES[rng.below(REL_TYPES.len())].into(),
                strength: Some(0.2 + 0.8 * rng.unit() as f32),
                ..NewRelationship::default()
            })
            .await
            .expect("link");
        links += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    if links < n {
        println!(
            "  build: only {links} relationships ({:.2} per memory, not 1): `link` stopped \
             at the {}-s budget ({:.0} links/s)",
            links as f64 / n as f64,
            LINK_BUDGET.as_secs(),
            links as f64 / secs
        );
    } else {
        println!("  build: {links} relationships in {secs:.1} s (one `link` each)");
    }
    ids
}
