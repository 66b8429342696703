//! Sync benchmark: two devices (two replica files) on a real sqld on loopback, and a fresh
//! replica bootstrapping a large store.
//!
//! ```text
//! cargo bench --bench sync_bench -- --sqld /path/to/sqld     # 100k bootstrap
//! MNEMOGRAPH_TEST_SQLD=/path/to/sqld cargo bench --bench sync_bench -- --memories 10000
//! ```
//!
//! Measures, in order: the latency of a write through a replica (with and without a vector,
//! and in local mode for contrast); the cost of an explicit sync after a one-memory change and
//! with nothing new; the frames a replica pulls per memory written; keyword search on a
//! replica with 31 memories waiting for the full-text index's next batch against none
//! waiting; the time from a write
//! acknowledged on device A until device B, syncing on its timer only, reads it; and the
//! bootstrap of a fresh replica of a primary holding `--memories` memories with 256-d vectors.
//!
//! The large primary is built locally with the store's bulk insert, dumped to SQL text with
//! the `sqlite3` CLI and handed to sqld as the dump of a new namespace (the admin API's
//! `dump_url`): sqld applies it in one transaction on its side, where writing the same rows
//! through a client would cost a network round trip per statement.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use mnemograph::app::App;
use mnemograph::backend::libsql::LibsqlBackend;
use mnemograph::model::{Embedding, Filter};
use mnemograph::store::{Limits, MemoryStore, NewMemory};
use mnemograph::sync::{Mode, Schedule};

#[path = "support/args.rs"]
mod args;
#[allow(dead_code)] // the relationship types and queries serve the other benchmarks
#[path = "../tests/integration/support/corpus.rs"]
mod corpus;
#[allow(dead_code)] // the tests use more of the sqld helper than this benchmark does
#[path = "../tests/integration/support/sqld.rs"]
mod sqld;

use corpus::{Corpus, Rng};
use sqld::Sqld;

/// The dimension of the bundled Model2Vec model (`m2v-minilm`).
const DIM: usize = 256;
const MODEL: &str = "synthetic-256";
/// Memories per bulk insert while building the large primary.
const BATCH: usize = 1000;
/// How often device B looks for device A's write while its timer runs.
const POLL: Duration = Duration::from_millis(5);

/// Sync figures against a real sqld on 127.0.0.1.
#[derive(Debug, Parser)]
struct Args {
    /// The sqld binary
    #[arg(long, env = "MNEMOGRAPH_TEST_SQLD")]
    sqld: PathBuf,
    /// Memories in the primary a fresh replica bootstraps from (0: skip the bootstrap)
    #[arg(long, default_value_t = 100_000)]
    memories: usize,
    /// Timer intervals to measure the lag with, in seconds
    #[arg(long, value_delimiter = ',', default_values_t = [1.0, 0.2])]
    intervals: Vec<f64>,
    /// Writes observed per timer interval
    #[arg(long, default_value_t = 30)]
    lag_samples: usize,
    /// Samples of each write and explicit-sync figure
    #[arg(long, default_value_t = 50)]
    samples: usize,
    /// Memories written one by one before one sync, to count frames per memory
    #[arg(long, default_value_t = 20)]
    frames_batch: usize,
    /// The sqlite3 CLI, which dumps the locally built primary to SQL text
    #[arg(long, default_value = "sqlite3")]
    sqlite3: PathBuf,
    /// Keep the data (sqld's, the devices') in this directory instead of a temporary one
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// One device: its own replica directory, so its own replica file and outbox, opened
/// through the composition root as the server and memctl open theirs.
struct Device {
    app: App,
    store: MemoryStore,
    libsql: LibsqlBackend,
}

async fn device(root: &Path, name: &str, sqld: &Sqld, namespace: &str) -> Device {
    let config = sqld.device_config(root, name, namespace, Mode::Replica);
    let app = App::open(&config).await.expect("connect a device");
    Device {
        store: app.store().clone(),
        libsql: app.libsql().expect("a replica file").clone(),
        app,
    }
}

/// The synthetic memories: the shared corpus's text, and on request a random unit vector.
struct Memories {
    corpus: Corpus,
    next: usize,
}

impl Memories {
    fn new() -> Self {
        Memories {
            corpus: Corpus::new(),
            next: 0,
        }
    }

    /// Memory `i` of the corpus, with its vector when `vector`.
    fn memory(&self, i: usize, vector: bool) -> NewMemory {
        let (memory, mut rng) = self.corpus.memory(i);
        NewMemory {
            embedding: vector.then(|| embedding(&mut rng)),
            ..memory
        }
    }

    /// A memory not written before in this run.
    fn fresh(&mut self, vector: bool) -> NewMemory {
        self.next += 1;
        self.memory(1_000_000 + self.next, vector)
    }
}

fn embedding(rng: &mut Rng) -> Embedding {
    let v: Vec<f32> = (0..DIM).map(|_| rng.gauss()).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    Embedding {
        model: MODEL.into(),
        vector: v.into_iter().map(|x| x / norm).collect(),
    }
}

/// p50 and p95 of `samples`, and how many.
struct Summary {
    p50: Duration,
    p95: Duration,
    n: usize,
}

fn summarise(mut samples: Vec<Duration>) -> Summary {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    Summary {
        p50: at(0.5),
        p95: at(0.95),
        n: samples.len(),
    }
}

fn row(name: &str, samples: Vec<Duration>) {
    let s = summarise(samples);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "| {name} | {:.2} ms | {:.2} ms | {} |",
        ms(s.p50),
        ms(s.p95),
        s.n
    );
}

fn mib(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0, |m| m.len()) as f64 / (1024.0 * 1024.0)
}

/// A database file's size and its WAL's, in MiB.
fn db_mib(path: &Path) -> (f64, f64) {
    (
        mib(path),
        mib(&PathBuf::from(format!("{}-wal", path.display()))),
    )
}

async fn timed<T>(work: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let out = work.await;
    (out, started.elapsed())
}

/// Write latency: creates through A's replica, and in local mode for contrast.
async fn writes(a: &Device, root: &Path, memories: &mut Memories, samples: usize) {
    let local = MemoryStore::open(
        Arc::new(
            LibsqlBackend::open_local(&root.join("local.db"))
                .await
                .expect("open the local store"),
        ),
        Limits::default(),
    )
    .await
    .expect("open the local store");
    println!("\n| create | p50 | p95 | n |\n|---|---|---|---|");
    for (name, store) in [("replica", &a.store), ("local", &local)] {
        for vector in [false, true] {
            let mut times = Vec::with_capacity(samples);
            for _ in 0..samples {
                let memory = memories.fresh(vector);
                let (created, took) = timed(store.create(memory)).await;
                created.expect("create");
                times.push(took);
            }
            let with = if vector { "with" } else { "without" };
            row(&format!("{name}, {with} a {DIM}-d vector"), times);
        }
    }
}

/// Explicit sync on B: after A wrote one memory, and with nothing new.
async fn explicit_sync(a: &Device, b: &Device, memories: &mut Memories, samples: usize) {
    b.app.sync_now().await.expect("sync");
    let (mut changed, mut unchanged) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        a.store.create(memories.fresh(false)).await.expect("create");
        let (status, took) = timed(b.app.sync_now()).await;
        status.expect("sync");
        changed.push(took);
        let (status, took) = timed(b.app.sync_now()).await;
        status.expect("sync");
        unchanged.push(took);
    }
    println!("\n| explicit sync on B | p50 | p95 | n |\n|---|---|---|---|");
    row("after A wrote one memory", changed);
    row("nothing new", unchanged);
}

/// Frames B pulls per memory A writes, one by one.
async fn frames_per_memory(a: &Device, b: &Device, memories: &mut Memories, batch: usize) {
    b.libsql.sync().await.expect("sync");
    println!(
        "\n| A writes {batch} memories one by one | frames B pulls | per memory |\n|---|---|---|"
    );
    for vector in [false, true] {
        for _ in 0..batch {
            a.store
                .create(memories.fresh(vector))
                .await
                .expect("create");
        }
        let frames = b.libsql.sync().await.expect("sync").frames_synced;
        let with = if vector { "with" } else { "without" };
        println!(
            "| {with} a {DIM}-d vector | {frames} | {:.1} |",
            frames as f64 / batch as f64
        );
    }
}

/// Keyword search on B with no memory waiting for the full-text index's next batch, then with
/// 31 waiting (the longest tail): what reading and ranking the tail adds to a search.
async fn keyword_search_and_tail(a: &Device, b: &Device, memories: &mut Memories, samples: usize) {
    let waiting = || async {
        b.libsql.sync().await.expect("sync");
        b.libsql
            .memories_waiting_for_full_text()
            .await
            .expect("count the tail")
    };
    while waiting().await > 0 {
        a.store.create(memories.fresh(false)).await.expect("create");
    }
    // Queries: two words of each of the corpus's first titles, most of them common.
    let queries: Vec<String> = (0..samples)
        .map(|i| {
            let title = memories.memory(i, false).title;
            title
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let measure = || async {
        let mut times = Vec::with_capacity(queries.len());
        for query in &queries {
            let started = Instant::now();
            b.store
                .keyword_search(query, &Filter::default(), 10)
                .await
                .expect("search");
            times.push(started.elapsed());
        }
        times
    };
    println!("\n| keyword search on B, limit 10 | p50 | p95 | n |\n|---|---|---|---|");
    measure().await; // warm the page cache and the tail's term counts
    row("none waiting for the index", measure().await);
    for _ in 0..31 {
        a.store.create(memories.fresh(false)).await.expect("create");
    }
    assert_eq!(waiting().await, 31);
    measure().await;
    row("31 waiting (read and ranked in Rust)", measure().await);
}

/// Lag with the timer: from A's acknowledged write until B, syncing on its timer only, reads
/// it. Each write waits a random part of the interval first, so writes fall at random
/// points of B's cycle, as real ones do.
async fn lag(a: &Device, b: &Device, memories: &mut Memories, interval: Duration, samples: usize) {
    let worker = b
        .app
        .spawn_sync_worker(Schedule::new(interval))
        .expect("replica mode has a sync worker");
    let mut lags = Vec::with_capacity(samples);
    for _ in 0..samples {
        tokio::time::sleep(interval.mul_f64(fastrand::f64())).await;
        let (created, _) = a.store.create(memories.fresh(false)).await.expect("create");
        let acknowledged = Instant::now();
        let deadline = acknowledged + interval * 10 + Duration::from_secs(10);
        while b.store.get(&created.id).await.is_err() {
            assert!(Instant::now() < deadline, "B never saw A's write");
            tokio::time::sleep(POLL).await;
        }
        lags.push(acknowledged.elapsed());
    }
    worker.abort();
    row(
        &format!("timer every {:.1} s", interval.as_secs_f64()),
        lags,
    );
}

/// Builds a local store of `n` memories with vectors and dumps it to SQL text.
async fn build_dump(root: &Path, n: usize, sqlite3: &Path) -> PathBuf {
    let db = root.join("seed.db");
    let store = MemoryStore::open(
        Arc::new(
            LibsqlBackend::open_local(&db)
                .await
                .expect("open the seed store"),
        ),
        Limits::default(),
    )
    .await
    .expect("open the seed store");
    let memories = Memories::new();
    let started = Instant::now();
    for start in (0..n).step_by(BATCH) {
        let batch = (start..(start + BATCH).min(n))
            .map(|i| memories.memory(i, true))
            .collect();
        store.create_many(batch).await.expect("bulk insert");
    }
    drop(store);
    println!(
        "built the seed store locally: {n} memories in {:.1} s, {:.1} MiB",
        started.elapsed().as_secs_f64(),
        db_mib(&db).0 + db_mib(&db).1
    );
    let dump = root.join("seed.sql");
    let started = Instant::now();
    let out = std::fs::File::create(&dump).expect("create the dump file");
    let status = Command::new(sqlite3)
        .arg(&db)
        .arg(".dump")
        .stdout(out)
        .stderr(Stdio::inherit())
        .status()
        .unwrap_or_else(|e| panic!("run {}: {e} (install sqlite3)", sqlite3.display()));
    assert!(status.success(), "sqlite3 .dump failed: {status}");
    println!(
        "dumped it to SQL text in {:.1} s: {:.1} MiB",
        started.elapsed().as_secs_f64(),
        mib(&dump)
    );
    dump
}

/// A fresh replica of a primary holding `n` memories: libSQL's first sync alone (frames
/// pulled), then a whole device start (`sync::connect`, the store, a first vector search).
async fn bootstrap(root: &Path, sqld: &Sqld, n: usize, sqlite3: &Path) {
    let dump = build_dump(root, n, sqlite3).await;
    let started = Instant::now();
    // sqld runs the dump in one transaction, far faster than the same rows written through a
    // client one round trip per statement.
    let body = serde_json::json!({ "dump_url": format!("file://{}", dump.display()) });
    sqld.create_namespace_with("big", &body);
    println!(
        "sqld created namespace `big` from the dump in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // A load this large exceeds sqld's log size: sqld compacts the log into a snapshot in
    // the background, and until that is written a new replica's first sync fails ("snapshot
    // not found"). Each attempt starts from an empty replica, so the one timed is clean.
    let waited = Instant::now();
    let mut failures = Vec::new();
    let (raw, replicated, first_sync) = loop {
        let raw = root
            .join(format!("raw-{}", failures.len()))
            .join("replica.db");
        std::fs::create_dir_all(raw.parent().expect("a parent")).expect("create the raw dir");
        let db = libsql::Builder::new_remote_replica(&raw, sqld.url(), String::new())
            .namespace("big")
            .build()
            .await
            .expect("open a raw replica");
        match timed(db.sync()).await {
            (Ok(replicated), took) => break (raw, replicated, took),
            (Err(err), _) => {
                assert!(
                    waited.elapsed() < Duration::from_secs(300),
                    "the first sync still fails: {err}"
                );
                failures.push(err.to_string());
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    if let Some(last) = failures.last() {
        let last: String = last.chars().take(100).collect();
        println!(
            "first syncs failed for {:.1} s after the load ({} attempts, last: {last}…)",
            (waited.elapsed() - first_sync).as_secs_f64(),
            failures.len()
        );
    }

    let (fresh, connect) = timed(device(root, "fresh", sqld, "big")).await;
    let query = embedding(&mut Rng(42));
    let (hits, search) = timed(fresh.store.vector_search(&query, &Filter::default(), 10)).await;
    assert_eq!(hits.expect("vector search").len(), 10);
    let (stats, _) = timed(fresh.store.stats()).await;
    let stats = stats.expect("stats");
    assert_eq!(
        stats.memories as usize, n,
        "the fresh replica has every memory"
    );

    println!("\n| bootstrap of {n} memories | figure |\n|---|---|");
    println!(
        "| libSQL's first sync of an empty replica | {:.2} s, {} frames (primary frame {:?}) |",
        first_sync.as_secs_f64(),
        replicated.frames_synced(),
        replicated.frame_no()
    );
    println!(
        "| a new device: `sync::connect` (first sync, schema check) and `MemoryStore::open` | {:.2} s |",
        connect.as_secs_f64()
    );
    println!(
        "| first vector search (loads the vector index) | {:.2} s |",
        search.as_secs_f64()
    );
    let ((data, wal), (raw_data, raw_wal)) = (db_mib(fresh.libsql.path()), db_mib(&raw));
    println!(
        "| replica size | {data:.1} MiB file + {wal:.1} MiB WAL (libSQL's alone, closed: \
         {raw_data:.1} + {raw_wal:.1} MiB) |"
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse_from(args::command_line());
    let temp = tempfile::tempdir().expect("temp dir");
    let root = args.dir.clone().unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&root).expect("create the data dir");
    let sqld = Sqld::start(&args.sqld, &root);
    sqld.create_namespace("bench");
    println!("sqld {} at {}", args.sqld.display(), sqld.url());

    let a = device(&root, "laptop", &sqld, "bench").await;
    let b = device(&root, "desktop", &sqld, "bench").await;
    let mut memories = Memories::new();

    writes(&a, &root, &mut memories, args.samples).await;
    explicit_sync(&a, &b, &mut memories, args.samples).await;
    frames_per_memory(&a, &b, &mut memories, args.frames_batch).await;
    keyword_search_and_tail(&a, &b, &mut memories, args.samples).await;
    println!("\n| A's write visible on B | p50 | p95 | n |\n|---|---|---|---|");
    for &secs in &args.intervals {
        let interval = Duration::from_secs_f64(secs);
        lag(&a, &b, &mut memories, interval, args.lag_samples).await;
    }
    drop((a, b));

    if args.memories > 0 {
        bootstrap(&root, &sqld, args.memories, &args.sqlite3).await;
    }
}
