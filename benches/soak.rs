//! Soak: several real `mnemograph` servers and a `memctl` loop on one store file for a while,
//! each server driven over stdio by a client running the mixed workload of the concurrency
//! test (`tests/integration/support/workload.rs`: creates, updates with the expected
//! version, contested updates of shared memories, stale updates that must be refused,
//! link/unlink churn, deletes, searches).
//!
//! ```text
//! cargo bench --bench soak                      # 4 servers + memctl for 60 s
//! cargo bench --bench soak -- --processes 8 --seconds 600 \
//!     --model-dir ../shared/data/models/m2v-minilm         # servers embed what they store
//! ```
//!
//! Prints operations/s per kind, errors by kind (version conflicts, which are the expected
//! answer to a contested update, and anything else), and the final check of the store against
//! every acknowledged write. Exits with status 1 when a write was lost, an error other than a
//! conflict occurred, an answer broke a guarantee, a server logged a locked or busy database,
//! or an integrity check failed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use mnemograph::backend::libsql::LibsqlBackend;
use mnemograph::store::{Limits, MemoryStore};

#[path = "support/args.rs"]
mod args;
#[path = "support/server.rs"]
mod server;
#[allow(dead_code)] // the crash test kills servers; a soak stops them
#[path = "../tests/integration/support/workload.rs"]
mod workload;

use args::command_line;
use server::server_command;
use workload::{
    Endpoint, Gone, Ledger, Memctl, Server, Tally, Worker, create_contested, lock_errors, verify,
};

/// Run N mnemograph servers on one store with a mixed workload, then check every
/// acknowledged write.
#[derive(Debug, Parser)]
struct Args {
    /// Server processes, each with its own client
    #[arg(long, default_value_t = 4)]
    processes: usize,
    /// How long to run, in seconds
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Clients running `memctl` once per operation, beside the servers
    #[arg(long, default_value_t = 1)]
    memctl: usize,
    /// The server binary [default: the one `cargo bench` built]
    #[arg(long, default_value = env!("CARGO_BIN_EXE_mnemograph"), hide_default_value = true)]
    server: PathBuf,
    /// The memctl binary [default: the one `cargo bench` built]
    #[arg(long, default_value = env!("CARGO_BIN_EXE_memctl"), hide_default_value = true)]
    memctl_bin: PathBuf,
    /// A Model2Vec model directory: the servers embed what they store [default: no embedder]
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Memories every client updates with the version it read
    #[arg(long, default_value_t = 4)]
    shared: usize,
    /// Seed of the clients' choices
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep the store in this directory instead of a temporary one
    #[arg(long)]
    dir: Option<PathBuf>,
}

async fn open(db: &Path) -> MemoryStore {
    let backend = LibsqlBackend::open_local(db).await.expect("open the store");
    MemoryStore::open(Arc::new(backend), Limits::default())
        .await
        .expect("open the store")
}

/// Runs one client until `deadline`; a server that goes away ends it early, with the reason.
async fn drive(
    mut worker: Worker,
    endpoint: Endpoint,
    deadline: Instant,
) -> (Worker, Endpoint, Option<String>) {
    while Instant::now() < deadline {
        if let Err(Gone(why)) = worker.step(&endpoint).await {
            return (worker, endpoint, Some(why));
        }
    }
    (worker, endpoint, None)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse_from(command_line());
    let exe = args.server.clone();
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = args.dir.clone().unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&dir).expect("store directory");
    let db = dir.join("soak.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let contested = create_contested(&open(&db).await, args.shared).await;

    let mut servers = Vec::with_capacity(args.processes);
    for _ in 0..args.processes {
        let mut cmd = server_command(&exe, &db, &dir.join("config"));
        if let Some(model) = &args.model_dir {
            cmd.env("MNEMOGRAPH_EMBEDDER", "model2vec")
                .env("MNEMOGRAPH_MODEL_DIR", model);
        }
        servers.push(Endpoint::Server(Box::new(Server::spawn(cmd).await)));
    }
    let mut embedder = "none".to_owned();
    if args.model_dir.is_some() {
        for endpoint in &servers {
            let Endpoint::Server(server) = endpoint else {
                unreachable!("servers first")
            };
            let stats = server.settled_stats(Duration::from_secs(60)).await;
            let field = |key: &str| stats[key].as_str().unwrap_or("?").to_owned();
            embedder = format!("{} ({})", field("embedder"), field("embedder_state"));
        }
    }
    let mut endpoints = servers;
    if args.memctl > 0 {
        let memctl = args.memctl_bin.clone();
        for _ in 0..args.memctl {
            let (exe, db, config) = (memctl.clone(), db.clone(), dir.join("config"));
            // memctl takes the server's flags and environment.
            let command = Memctl::new(move || server_command(&exe, &db, &config));
            endpoints.push(Endpoint::Memctl(command));
        }
    }
    println!(
        "soak: {} mnemograph processes and {} memctl loops × {} s on one store, {} shared \
         memories, seed {}, embedder {embedder}; {} cores, load average {} at start",
        args.processes,
        args.memctl,
        args.seconds,
        args.shared,
        args.seed,
        std::thread::available_parallelism().map_or(1, |p| p.get()),
        load_average()
    );

    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let running: Vec<_> = endpoints
        .into_iter()
        .enumerate()
        .map(|(i, endpoint)| {
            let name = match endpoint {
                Endpoint::Server(_) => format!("s{i}"),
                Endpoint::Memctl(_) => format!("m{i}"),
            };
            let worker = Worker::new(
                &name,
                args.seed.wrapping_mul(1000) + i as u64,
                &contested,
                Ledger::default(),
            );
            tokio::spawn(drive(worker, endpoint, deadline))
        })
        .collect();
    let (mut tally, mut ledgers, mut stderr, mut gone) =
        (Tally::default(), Vec::new(), String::new(), Vec::new());
    for task in running {
        let (worker, endpoint, went) = task.await.expect("client task");
        gone.extend(went);
        tally.merge(&worker.tally);
        ledgers.push(worker.ledger);
        stderr += &match endpoint {
            Endpoint::Server(server) => server.stop().await,
            Endpoint::Memctl(memctl) => memctl.stderr(),
        };
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!("load average {} at the end", load_average());

    println!(
        "\n{:<18} {:>9} {:>9} {:>9} {:>10} {:>13}",
        "operation", "count", "ops/s", "mean ms", "conflicts", "other errors"
    );
    let mut all = workload::Count::default();
    for (kind, c) in &tally.counts {
        println!(
            "{:<18} {:>9} {:>9.1} {:>9.2} {:>10} {:>13}",
            kind.name(),
            c.total(),
            c.total() as f64 / elapsed,
            c.time.as_secs_f64() * 1e3 / c.total().max(1) as f64,
            c.conflicts,
            c.failed
        );
        all.done += c.done;
        all.conflicts += c.conflicts;
        all.failed += c.failed;
        all.time += c.time;
    }
    println!(
        "{:<18} {:>9} {:>9.1} {:>9.2} {:>10} {:>13}",
        "all",
        all.total(),
        all.total() as f64 / elapsed,
        all.time.as_secs_f64() * 1e3 / all.total().max(1) as f64,
        all.conflicts,
        all.failed
    );

    let store = open(&db).await;
    let verdict = verify(&store, &contested, &mut ledgers).await;
    let failed_checks: Vec<String> = store
        .backend()
        .check_integrity()
        .await
        .expect("integrity checks")
        .into_iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    let locked = lock_errors(&stderr);
    println!(
        "\nfinal check: {} memories, {} relationships and {} shared memories with {} \
         acknowledged updates; lost or changed acknowledged writes: {}",
        verdict.memories,
        verdict.relationships,
        contested.len(),
        verdict.contested_updates,
        verdict.problems.len()
    );
    println!(
        "integrity checks failed: {}; locked/busy lines on stderr: {}; servers gone: {}; \
         broken guarantees: {}",
        failed_checks.len(),
        locked.len(),
        gone.len(),
        tally.violations.len()
    );
    let findings = [
        &verdict.problems,
        &tally.failures,
        &tally.violations,
        &failed_checks,
        &locked,
        &gone,
    ];
    for line in findings.iter().flat_map(|f| f.iter()).take(20) {
        println!("  {line}");
    }
    if findings.iter().all(|f| f.is_empty()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
