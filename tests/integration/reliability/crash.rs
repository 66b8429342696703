//! Crash safety: the real server, embedding with the shared Model2Vec model, is killed with
//! SIGKILL at a random moment of a burst of writes, round after round on one store file, so
//! damage would accumulate. After each kill the file is reopened through the library: every
//! write acknowledged to the client is there and intact, acknowledged deletes stay deleted,
//! the write in flight is applied whole or not at all, SQLite's and FTS5's integrity checks
//! pass, every stored vector is the embedding of its memory's current text, and the vector
//! index (a fresh one, and one that followed the file across every crash) finds exactly the
//! stored vectors.
//!
//! The seed is printed; `MNEMOGRAPH_CRASH_SEED=<seed>` replays the same rounds (each kill
//! comes after the same delay, which lands on a nearby instruction, not the same one).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use mnemograph::backend::GraphBackend;
use mnemograph::backend::libsql::LibsqlBackend;
use mnemograph::embed::model2vec::Model2VecEmbedder;
use mnemograph::embed::{Embedder, memory_text};
use mnemograph::model::Filter;
use mnemograph::store::MemoryStore;
use mnemograph::vector::cosine;

use crate::support;
use crate::support::store::open;
use crate::support::workload::{
    Endpoint, Gone, Ledger, Rng, Server, Worker, create_contested, verify,
};

const ROUNDS: u64 = 16;
/// When the kill comes, after the handshake or after the embedder is ready.
const KILL_AFTER_MS: std::ops::Range<u64> = 20..800;
/// Memories every round updates with the version it read.
const SHARED: usize = 2;
/// Stored vectors looked up in each index per round (the whole set is compared too).
const SELF_PROBES: usize = 16;
/// Longest a burst may run before the kill ends it: beyond, the client hangs (a bug).
const BURST_LIMIT: Duration = Duration::from_secs(60);

fn seed() -> u64 {
    match std::env::var("MNEMOGRAPH_CRASH_SEED") {
        Ok(s) => s.parse().expect("MNEMOGRAPH_CRASH_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    }
}

async fn spawn(dir: &Path, db: &Path) -> Server {
    let mut cmd = support::command(dir);
    support::with_model(cmd.as_std_mut()).arg("--db").arg(db);
    Server::spawn(cmd).await
}

/// Every stored vector of `ids` is of `model` and embeds its memory's current text; `fresh`
/// (an index loaded now) and `follower` (an index that has followed `vector_log` since the
/// first round) each find exactly the stored vectors, and a sample of them as their own
/// nearest neighbours.
/// Returns how many of `ids` have a vector.
async fn check_vectors(
    store: &MemoryStore,
    follower: &LibsqlBackend,
    model: &Model2VecEmbedder,
    ids: &[String],
) -> usize {
    let memories = store.get_many(ids).await.unwrap().memories;
    let stored = store.backend().embeddings(ids).await.unwrap();
    if stored.is_empty() {
        return 0;
    }
    let texts: Vec<String> = stored
        .iter()
        .map(|(id, _)| {
            let m = memories
                .iter()
                .find(|m| &m.id == id)
                .expect("vector of a live memory");
            memory_text(&m.title, &m.content, &m.tags)
        })
        .collect();
    let expected = model.embed(&texts).await.unwrap();
    for ((id, stored), expected) in stored.iter().zip(&expected) {
        assert_eq!(stored.model, model.model_id(), "vector of {id}");
        let similarity = cosine(&stored.vector, expected);
        assert!(
            similarity > 0.9999,
            "the vector of {id} is not its current text's ({similarity})"
        );
    }
    let with_vector: BTreeSet<&String> = stored.iter().map(|(id, _)| id).collect();
    let indexes: [(&str, &dyn GraphBackend); 2] = [
        ("a fresh index", store.backend().as_ref()),
        ("the index that followed every crash", follower),
    ];
    for (name, index) in indexes {
        for (id, e) in stored.iter().step_by(stored.len().div_ceil(SELF_PROBES)) {
            let hits = index
                .vector_search(&e.model, &e.vector, &Filter::default(), 1)
                .await
                .unwrap();
            assert_eq!(
                hits.first().map(|h| &h.memory.id),
                Some(id),
                "{name}: the nearest vector to {id}'s own"
            );
        }
        let (_, probe) = &stored[0];
        let all = index
            .vector_search(&probe.model, &probe.vector, &Filter::default(), ids.len())
            .await
            .unwrap();
        let found: BTreeSet<&String> = all.iter().map(|h| &h.memory.id).collect();
        assert_eq!(found, with_vector, "{name} against the stored vectors");
    }
    stored.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_at_random_points() {
    let seed = seed();
    println!("crash seed {seed}: MNEMOGRAPH_CRASH_SEED={seed} replays these rounds");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let model = support::store::model();
    let contested = create_contested(&open(&db).await, SHARED).await;
    let follower = LibsqlBackend::open_local(&db).await.unwrap();

    let mut rng = Rng(seed);
    let mut ledger = Ledger::default();
    let (mut interrupted, mut applied, mut acknowledged) = (0, 0, 0);
    for round in 0..ROUNDS {
        let kill_after =
            KILL_AFTER_MS.start + rng.next() % (KILL_AFTER_MS.end - KILL_AFTER_MS.start);
        let mut worker = Worker::new(&format!("r{round}"), rng.next(), &contested, ledger);
        let endpoint = Endpoint::Server(Box::new(spawn(dir.path(), &db).await));
        let Endpoint::Server(server) = &endpoint else {
            unreachable!()
        };
        // Half the rounds start once the model is loaded, so writes are embedded on the way
        // in and the worker embeds what earlier rounds left without a vector meanwhile.
        let embedding = rng.below(2) == 0;
        if embedding {
            let stats = server.settled_stats(Duration::from_secs(30)).await;
            assert_eq!(stats["embedder_state"], "ready", "{stats}");
        }
        let burst = async {
            loop {
                if let Err(Gone(why)) = worker.step(&endpoint).await {
                    return why;
                }
            }
        };
        let kill = async {
            tokio::time::sleep(Duration::from_millis(kill_after)).await;
            server.kill();
        };
        let (why, ()) = tokio::time::timeout(BURST_LIMIT, async { tokio::join!(burst, kill) })
            .await
            .unwrap_or_else(|_| panic!("round {round} (seed {seed}): the client hung"));
        let Endpoint::Server(server) = endpoint else {
            unreachable!()
        };
        let stderr = server.stop().await;
        assert!(!stderr.contains("panicked"), "round {round}: {stderr}");
        assert!(
            worker.tally.failures.is_empty(),
            "{:?}",
            worker.tally.failures
        );
        assert!(
            worker.tally.violations.is_empty(),
            "{:?}",
            worker.tally.violations
        );
        let done: u64 = worker.tally.counts.values().map(|c| c.done).sum();
        acknowledged += done;
        ledger = worker.ledger;
        let in_flight = ledger.uncertain.clone();
        interrupted += u64::from(in_flight.is_some());

        let store = open(&db).await;
        let verdict = verify(&store, &contested, std::slice::from_mut(&mut ledger)).await;
        applied += verdict.uncertain_applied;
        assert!(
            verdict.problems.is_empty(),
            "round {round} (seed {seed}, killed after {kill_after} ms, {why}, in flight: \
             {in_flight:?}): {:#?}",
            verdict.problems
        );
        for check in store.backend().check_integrity().await.unwrap() {
            assert!(check.ok, "round {round} (seed {seed}): {check:?}");
        }
        let mut ids = ledger.live_memories();
        ids.extend(contested.iter().cloned());
        let embedded = check_vectors(&store, &follower, &model, &ids).await;
        println!(
            "round {round}: killed after {kill_after} ms{} ({done} acknowledged, in flight: \
             {}), {} memories ({embedded} with a vector), {} relationships",
            if embedding { " embedding" } else { "" },
            in_flight.map_or("nothing".to_owned(), |op| format!("{op:?}")
                .chars()
                .take(40)
                .collect()),
            verdict.memories + contested.len(),
            verdict.relationships
        );
    }
    println!(
        "{ROUNDS} kills, {acknowledged} acknowledged operations, {interrupted} writes in \
         flight at a kill ({applied} of them applied)"
    );

    // A last server embeds what the crashes left without a vector.
    let server = spawn(dir.path(), &db).await;
    let mut stats = server.settled_stats(Duration::from_secs(30)).await;
    for _ in 0..600 {
        if stats["pending_embeddings"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        stats = server.tool("memory_stats", serde_json::json!({})).await;
    }
    assert_eq!(stats["pending_embeddings"], 0, "{stats}");
    server.stop().await;
    let store = open(&db).await;
    let verdict = verify(&store, &contested, std::slice::from_mut(&mut ledger)).await;
    assert!(verdict.problems.is_empty(), "{:#?}", verdict.problems);
    let mut ids = ledger.live_memories();
    ids.extend(contested.iter().cloned());
    assert_eq!(
        check_vectors(&store, &follower, &model, &ids).await,
        ids.len()
    );
}
