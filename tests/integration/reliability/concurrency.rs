//! Several real `mnemograph` servers (embedding with the shared Model2Vec model) and `memctl`
//! processes writing and reading one store file at once: creates, updates with the expected
//! version, contested updates of shared memories, stale updates, relationship churn, deletes
//! and searches. No acknowledged write is lost, no front end reports a locked or busy
//! database, every refused update is reported as a version conflict, and each shared memory
//! ends at version 1 + its acknowledged updates. `benches/soak.rs` runs the same workload for
//! as long as asked.

use std::path::Path;

use crate::support;
use crate::support::store::{assert_intact, open};
use crate::support::workload::{
    Endpoint, Gone, Kind, Ledger, Memctl, Server, Tally, Worker, create_contested, lock_errors,
    verify,
};

const SERVERS: usize = 3;
const MEMCTLS: usize = 2;
/// Operations per process.
const OPS: usize = 80;
const SHARED: usize = 2;

/// `memctl` on `db`, isolated like the servers of `dir` (same environment).
fn memctl(dir: &Path, db: &Path) -> tokio::process::Command {
    let server = support::command(dir);
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_memctl"));
    for (key, value) in server.as_std().get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.arg("--db").arg(db);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_and_memctl_on_one_store_lose_nothing_and_report_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let contested = create_contested(&open(&db).await, SHARED).await;

    let mut starting = Vec::new();
    for i in 0..SERVERS {
        let mut cmd = support::command(dir.path());
        support::with_model(cmd.as_std_mut()).arg("--db").arg(&db);
        starting.push((format!("s{i}"), tokio::spawn(Server::spawn(cmd))));
    }
    let mut endpoints = Vec::new();
    for (name, server) in starting {
        endpoints.push((name, Endpoint::Server(Box::new(server.await.unwrap()))));
    }
    for i in 0..MEMCTLS {
        let (d, db) = (dir.path().to_owned(), db.clone());
        let command = Memctl::new(move || memctl(&d, &db));
        endpoints.push((format!("m{i}"), Endpoint::Memctl(command)));
    }

    let mut running = Vec::new();
    for (i, (name, endpoint)) in endpoints.into_iter().enumerate() {
        let contested = contested.clone();
        running.push(tokio::spawn(async move {
            let mut worker = Worker::new(&name, 1000 + i as u64, &contested, Ledger::default());
            for _ in 0..OPS {
                if let Err(Gone(why)) = worker.step(&endpoint).await {
                    panic!("{name} went away: {why}");
                }
            }
            (worker, endpoint)
        }));
    }
    let (mut tally, mut ledgers, mut stderr) = (Tally::default(), Vec::new(), String::new());
    for task in running {
        let (worker, endpoint) = task.await.unwrap();
        tally.merge(&worker.tally);
        ledgers.push(worker.ledger);
        stderr += &match endpoint {
            Endpoint::Server(server) => server.stop().await,
            Endpoint::Memctl(memctl) => memctl.stderr(),
        };
    }

    assert!(tally.failures.is_empty(), "{:#?}", tally.failures);
    assert!(tally.violations.is_empty(), "{:#?}", tally.violations);
    assert_eq!(lock_errors(&stderr), Vec::<String>::new());
    assert!(!stderr.contains("panicked"), "{stderr}");
    let count = |kind| tally.counts.get(&kind).copied().unwrap_or_default();
    // Stale updates are refused, as conflicts (any other error is a failure above).
    assert!(count(Kind::Stale).conflicts > 0, "{:?}", tally.counts);
    assert_eq!(count(Kind::Stale).done, 0);

    let store = open(&db).await;
    let verdict = verify(&store, &contested, &mut ledgers).await;
    assert!(verdict.problems.is_empty(), "{:#?}", verdict.problems);
    assert_eq!(
        verdict.contested_updates as u64,
        count(Kind::Contend).done,
        "every acknowledged contested update is one version step"
    );
    assert_intact(&store).await;
    println!(
        "{} operations: {:?}; {} memories, {} relationships",
        tally.counts.values().map(|c| c.total()).sum::<u64>(),
        tally.counts,
        verdict.memories,
        verdict.relationships
    );
}
