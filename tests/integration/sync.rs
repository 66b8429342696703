//! Multi-device sync against a real sqld: devices are separate data directories (separate
//! replica files), the primary is started, stopped and restarted by the test.
//!
//! Runs when `MNEMOGRAPH_TEST_SQLD` names an sqld binary; each test says it is `SKIPPED`
//! otherwise.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use mnemograph::app::App;
use mnemograph::backend::GraphBackend;
use mnemograph::config::Config;
use mnemograph::model::{Embedding, Filter, Memory, MemoryPatch};
use mnemograph::store::{LinkDirection, MemoryStore, NewLink, NewMemory, NewRelationship};
use mnemograph::sync::{Mode, Schedule};
use serde_json::json;

use crate::support::sqld::Sqld;
use crate::support::{self, client};

/// One device: its own data and config directories, so its own replica files and outbox,
/// opened through the composition root as the server and memctl open theirs.
struct Device {
    app: App,
    store: MemoryStore,
}

async fn device_in(root: &Path, name: &str, sqld: &Sqld, namespace: &str) -> Device {
    open_device(&sqld.device_config(root, name, namespace, Mode::Replica)).await
}

async fn open_device(config: &Config) -> Device {
    let app = App::open(config).await.expect("open a device");
    Device {
        store: app.store().clone(),
        app,
    }
}

async fn device(root: &Path, name: &str, sqld: &Sqld) -> Device {
    device_in(root, name, sqld, "default").await
}

/// Stores the memory "Synced" through memctl with a good token of `signer`, so the device in
/// `root` has a replica that synced before its token changes.
fn synced_before_the_token_changed(root: &Path, sqld: &Sqld, signer: &support::jwt::Signer) {
    let args = [
        "add",
        "--title",
        "Synced",
        "--content",
        "before the token changed",
    ];
    let good = memctl_on(root, &sqld.url(), Some(&signer.token("rw")), &args);
    assert!(good.status.success(), "{}", support::memctl::stderr(&good));
}

/// `memctl args` on the device whose directories are in `root`, replicating the primary at
/// `url` (with `token` when the primary checks tokens), whatever the outcome.
fn memctl_on(root: &Path, url: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = support::memctl::command(root);
    cmd.env("MNEMOGRAPH_PRIMARY_URL", url);
    if let Some(token) = token {
        cmd.env("MNEMOGRAPH_AUTH_TOKEN", token);
    }
    cmd.args(args).output().unwrap()
}

fn note(title: &str, content: &str) -> NewMemory {
    NewMemory {
        kind: "fix".into(),
        title: title.into(),
        content: content.into(),
        tags: vec!["sync".into()],
        ..Default::default()
    }
}

fn unit(v: [f32; 4]) -> Embedding {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    Embedding {
        model: "test/4d".into(),
        vector: v.iter().map(|x| x / norm).collect(),
    }
}

async fn embedded(store: &MemoryStore, title: &str, content: &str, v: [f32; 4]) -> Memory {
    let new = NewMemory {
        embedding: Some(unit(v)),
        ..note(title, content)
    };
    store.create(new).await.unwrap().0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_see_each_others_memories_relationships_and_search() {
    let root = tempfile::tempdir().unwrap();
    let Some(sqld) = support::sqld(root.path()) else {
        return;
    };
    let a = device(root.path(), "laptop", &sqld).await;
    let b = device(root.path(), "desktop", &sqld).await;
    // Counted now, so the figures after the sync must come from the pulled frames, not an
    // earlier count.
    assert_eq!(b.store.stats().await.unwrap().memories, 0);

    let cause = embedded(
        &a.store,
        "Pool exhausted under load",
        "the connection pool ran dry at 50 clients",
        [1.0, 0.0, 0.0, 0.0],
    )
    .await;
    let fix = embedded(
        &a.store,
        "Raise pool size",
        "set max_connections to 200 and add a queue",
        [0.0, 1.0, 0.0, 0.0],
    )
    .await;
    let (rel, _) = a
        .store
        .link(NewRelationship {
            source_id: fix.id.clone(),
            target_id: cause.id.clone(),
            rel_type: "SOLVES".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    // Read-your-writes on the writing device, before any explicit sync.
    assert_eq!(a.store.get(&fix.id).await.unwrap().title, "Raise pool size");

    b.app.sync_now().await.unwrap();
    let stats = b.store.stats().await.unwrap();
    assert_eq!((stats.memories, stats.relationships), (2, 1));
    assert_eq!(
        b.store.get(&cause.id).await.unwrap(),
        a.store.get(&cause.id).await.unwrap()
    );
    let rels = b.store.relationships(&cause.id).await.unwrap();
    assert_eq!(rels.len(), 1);
    assert_eq!(rels[0].id, rel.id);
    let hits = b
        .store
        .keyword_search("connection pool", &Filter::default(), 10)
        .await
        .unwrap();
    assert_eq!(
        hits.first().map(|h| h.memory.id.as_str()),
        Some(cause.id.as_str())
    );
    let near = b
        .store
        .vector_search(&unit([0.1, 1.0, 0.0, 0.0]), &Filter::default(), 1)
        .await
        .unwrap();
    assert_eq!(near[0].memory.id, fix.id);

    // And back: B's delete reaches A, taking the relationship with it.
    b.store.delete(&cause.id).await.unwrap();
    a.app.sync_now().await.unwrap();
    assert!(a.store.get(&cause.id).await.is_err());
    assert!(a.store.relationships(&fix.id).await.unwrap().is_empty());
    let status = a.app.sync_status();
    assert!(status.online && status.last_success.is_some(), "{status:?}");
    assert!(status.frame_no.is_some());
}

/// A replicated store adds new memories to its full-text index 32 at a time (fewer pages
/// for every device to pull); keyword search on another device finds each one meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_memories_are_found_by_keyword_before_their_batch_is_indexed() {
    let root = tempfile::tempdir().unwrap();
    let Some(sqld) = support::sqld(root.path()) else {
        return;
    };
    let a = device(root.path(), "a", &sqld).await;
    let b = device(root.path(), "b", &sqld).await;
    let waiting = |d: &Device| {
        let libsql = d.app.libsql().expect("a replica file").clone();
        async move { libsql.memories_waiting_for_full_text().await.unwrap() }
    };
    let found_on_b = |word: String| {
        let store = b.store.clone();
        async move {
            let hits = store
                .keyword_search(&word, &Filter::default(), 10)
                .await
                .unwrap();
            hits.into_iter().map(|h| h.memory.title).collect::<Vec<_>>()
        }
    };
    for i in 0..33 {
        a.store
            .create(note(&format!("Batch note {i}"), &format!("marker{i} text")))
            .await
            .unwrap();
        if [4, 30, 31, 32].contains(&i) {
            b.app.sync_now().await.unwrap();
            let expected = (i + 1) % 32;
            assert_eq!(waiting(&b).await, expected as u64, "after {} writes", i + 1);
            for j in [0, i / 2, i] {
                assert_eq!(
                    found_on_b(format!("marker{j}")).await,
                    [format!("Batch note {j}")],
                    "after {} writes",
                    i + 1
                );
            }
        }
    }
    let checks = b.app.libsql().unwrap().check_integrity().await.unwrap();
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timer_alone_propagates_a_change() {
    let root = tempfile::tempdir().unwrap();
    let Some(sqld) = support::sqld(root.path()) else {
        return;
    };
    let a = device(root.path(), "a", &sqld).await;
    let b = device(root.path(), "b", &sqld).await;
    // The device with the timer has written too: its replica has frames of its own.
    b.store.create(note("B was here", "first")).await.unwrap();
    let worker = b
        .app
        .spawn_sync_worker(Schedule::new(Duration::from_millis(200)))
        .expect("replica mode has a sync worker");

    let (m, _) = a
        .store
        .create(note("Timer sync", "arrives without asking"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while b.store.get(&m.id).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the timer never brought the memory over"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_made_while_the_primary_is_down_are_queued_then_delivered_once() {
    let root = tempfile::tempdir().unwrap();
    let Some(mut sqld) = support::sqld(root.path()) else {
        return;
    };
    let a = device(root.path(), "a", &sqld).await;
    let (before, _) = a
        .store
        .create(note("Before the outage", "online"))
        .await
        .unwrap();

    let (doomed, _) = a
        .store
        .create(note("Deleted offline", "linked before the outage"))
        .await
        .unwrap();
    a.store
        .link(NewRelationship {
            source_id: doomed.id.clone(),
            target_id: before.id.clone(),
            rel_type: "RELATED_TO".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    sqld.stop();
    let mut queued = Vec::new();
    for i in 0..5 {
        let (m, _) = a
            .store
            .create(note(&format!("Offline {i}"), "queued while down"))
            .await
            .expect("an offline write is accepted");
        queued.push(m.id);
    }
    let updated = a
        .store
        .update(
            &before.id,
            MemoryPatch {
                content: Some("edited offline".into()),
                ..Default::default()
            },
            None,
            Some(1),
        )
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    a.store
        .link(NewRelationship {
            source_id: queued[0].clone(),
            target_id: before.id.clone(),
            rel_type: "RELATED_TO".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    a.store.delete(&queued[4]).await.unwrap();
    // A delete answers with what it removed on this device: the replica's relationship and
    // the one queued offline.
    let offline_link = a
        .store
        .link(NewRelationship {
            source_id: queued[0].clone(),
            target_id: doomed.id.clone(),
            rel_type: "USES".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .0;
    let deleted = a.store.delete(&doomed.id).await.unwrap();
    let mut removed: Vec<&str> = deleted
        .relationships
        .iter()
        .map(|r| r.source_id.as_str())
        .collect();
    removed.sort();
    let mut expected = [doomed.id.as_str(), offline_link.source_id.as_str()];
    expected.sort();
    assert_eq!(removed, expected);
    // A memory with its links is one queued write.
    let linked = a
        .store
        .create_with_links(
            note("Offline fix", "made with its links"),
            vec![
                NewLink {
                    target_id: before.id.clone(),
                    rel_type: "SOLVES".into(),
                    ..Default::default()
                },
                NewLink {
                    target_id: queued[1].clone(),
                    direction: LinkDirection::Incoming,
                    rel_type: "CAUSES".into(),
                    ..Default::default()
                },
            ],
        )
        .await
        .expect("an offline create with links is accepted");
    let fix = linked.memory.id.clone();

    // Visible on this device at once, and reported as pending.
    assert_eq!(a.store.get(&queued[2]).await.unwrap().title, "Offline 2");
    assert_eq!(
        a.store.get(&before.id).await.unwrap().content,
        "edited offline"
    );
    assert!(a.store.get(&queued[4]).await.is_err());
    let listed = a.store.list(&Filter::default(), None, 50).await.unwrap();
    assert_eq!(listed.memories.len(), 6, "before + 5 kept offline writes");
    assert_eq!(a.store.relationships(&before.id).await.unwrap().len(), 2);
    assert_eq!(a.store.relationships(&fix).await.unwrap().len(), 2);
    let status = a.app.sync_status();
    assert_eq!(status.pending_writes, 11, "{status:?}");
    assert!(!status.online);
    assert!(a.app.sync_now().await.is_err(), "the primary is still down");

    sqld.restart();
    a.app.sync_now().await.expect("sync after the outage");
    assert_eq!(a.app.sync_status().pending_writes, 0);
    // A second replay finds nothing to do (and duplicates nothing).
    a.app.sync_now().await.unwrap();

    let b = device(root.path(), "b", &sqld).await;
    let all = b.store.list(&Filter::default(), None, 50).await.unwrap();
    let mut titles: Vec<_> = all.memories.iter().map(|m| m.title.clone()).collect();
    titles.sort();
    assert_eq!(
        titles,
        [
            "Before the outage",
            "Offline 0",
            "Offline 1",
            "Offline 2",
            "Offline 3",
            "Offline fix"
        ]
    );
    let edited = b.store.get(&before.id).await.unwrap();
    assert_eq!(
        (edited.content.as_str(), edited.version),
        ("edited offline", 2)
    );
    assert_eq!(b.store.relationships(&before.id).await.unwrap().len(), 2);
    assert_eq!(b.store.relationships(&fix).await.unwrap().len(), 2);
}

/// A write queued offline carries the version it was made on: when another device changed
/// the memory meanwhile, the replay refuses it with both versions named instead of
/// overwriting (an update without an expected version) or deleting the other device's work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_writes_that_lost_to_another_device_are_reported_not_applied() {
    let root = tempfile::tempdir().unwrap();
    let Some(mut sqld) = support::sqld(root.path()) else {
        return;
    };
    let a = device(root.path(), "a", &sqld).await;
    let b = device(root.path(), "b", &sqld).await;
    let (edited, _) = a.store.create(note("Shared", "v1")).await.unwrap();
    let (deleted, _) = a.store.create(note("Doomed", "v1")).await.unwrap();
    let (unchanged, _) = a.store.create(note("Stale", "v1")).await.unwrap();
    b.app.sync_now().await.unwrap();

    sqld.stop();
    let edit = |content: &str| MemoryPatch {
        content: Some(content.into()),
        ..Default::default()
    };
    a.store
        .update(&edited.id, edit("a's offline edit"), None, None)
        .await
        .unwrap();
    a.store.delete(&deleted.id).await.unwrap();
    a.store.delete(&unchanged.id).await.unwrap();
    sqld.restart();
    for id in [&edited.id, &deleted.id] {
        b.store
            .update(id, edit("b's edit"), None, None)
            .await
            .unwrap();
    }

    a.app.sync_now().await.unwrap();
    let status = a.app.sync_status();
    assert_eq!(
        (status.pending_writes, status.conflicts),
        (0, 2),
        "{status:?}"
    );
    let refused = a.app.sync_refusals().await.unwrap();
    assert_eq!(refused.len(), 2, "{refused:?}");
    for (id, ours) in [
        (&edited.id, "content \"a's offline edit\""),
        (&deleted.id, "delete it"),
    ] {
        let refusal = refused
            .iter()
            .find(|r| r.write.contains(id.as_str()))
            .unwrap_or_else(|| panic!("no refusal for {id}: {refused:?}"));
        for part in ["conflict", "the primary has v2", "made on v1", ours] {
            assert!(refusal.reason.contains(part), "{part}: {}", refusal.reason);
        }
    }
    // The other device's work stands everywhere; the loser was reported, not applied.
    for store in [&a.store, &b.store] {
        assert_eq!(store.get(&edited.id).await.unwrap().content, "b's edit");
        assert_eq!(store.get(&deleted.id).await.unwrap().content, "b's edit");
    }
    // A queued delete of a memory nobody touched went through.
    b.app.sync_now().await.unwrap();
    assert!(b.store.get(&unchanged.id).await.is_err());
}

/// A sync that finds another process of the device sending the queued writes waits for it
/// and reports the queue as that replay left it, rather than "synced" with writes still out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_waits_for_a_replay_in_progress_elsewhere() {
    let root = tempfile::tempdir().unwrap();
    let Some(mut sqld) = support::sqld(root.path()) else {
        return;
    };
    let config = sqld.device_config(root.path(), "a", "default", Mode::Replica);
    let a = open_device(&config).await;
    sqld.stop();
    a.store.create(note("Queued", "one")).await.unwrap();
    a.store.create(note("Queued", "two")).await.unwrap();
    assert_eq!(a.app.sync_status().pending_writes, 2);
    sqld.restart();

    // Another process of this device holds the replay lock for a while.
    let lock_path = config.sync.replica_dir.join("outbox.lock");
    let held = mnemograph::sync::slot::FileLock::try_acquire(&lock_path)
        .unwrap()
        .expect("nobody replays yet");
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        drop(held);
    });
    let status = a.app.sync_now().await.unwrap();
    release.join().unwrap();
    assert_eq!(status.pending_writes, 0, "{status:?}");
    assert!(!status.replaying_elsewhere, "{status:?}");
    let b = device(root.path(), "b", &sqld).await;
    assert_eq!(b.store.stats().await.unwrap().memories, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_migrate_a_new_namespace_at_once() {
    let root = tempfile::tempdir().unwrap();
    let Some(sqld) = support::sqld(root.path()) else {
        return;
    };
    sqld.create_namespace("fresh");
    // Two tasks, as two devices would be two processes.
    let start = |name: &'static str| {
        let config = sqld.device_config(root.path(), name, "fresh", Mode::Replica);
        tokio::spawn(async move { open_device(&config).await })
    };
    let (a, b) = tokio::join!(start("a"), start("b"));
    let (a, b) = (a.unwrap(), b.unwrap());
    let (meta_a, meta_b) = (a.store.meta().await.unwrap(), b.store.meta().await.unwrap());
    assert_eq!(meta_a.store_id, meta_b.store_id, "one store, migrated once");
    assert_eq!(
        meta_a.schema_version,
        mnemograph::backend::libsql::SCHEMA_VERSION
    );
    let (m, _) = a
        .store
        .create(note("After migration", "works"))
        .await
        .unwrap();
    b.app.sync_now().await.unwrap();
    assert!(b.store.get(&m.id).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_are_separate_databases_on_the_primary() {
    let root = tempfile::tempdir().unwrap();
    let Some(sqld) = support::sqld(root.path()) else {
        return;
    };
    sqld.create_namespace("alpha");
    sqld.create_namespace("beta");
    let alpha = device_in(root.path(), "a", &sqld, "alpha").await;
    let beta = device_in(root.path(), "a", &sqld, "beta").await;
    let (m, _) = alpha
        .store
        .create(note("Alpha only", "secret to alpha"))
        .await
        .unwrap();
    beta.app.sync_now().await.unwrap();
    assert!(beta.store.get(&m.id).await.is_err());
    assert_eq!(beta.store.stats().await.unwrap().memories, 0);
    assert_eq!(alpha.store.stats().await.unwrap().memories, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_mode_reads_and_writes_the_primary_directly() {
    let root = tempfile::tempdir().unwrap();
    let Some(sqld) = support::sqld(root.path()) else {
        return;
    };
    let remote =
        open_device(&sqld.device_config(root.path(), "ephemeral", "default", Mode::Remote)).await;
    let (m, _) = remote
        .store
        .create(note("Remote write", "no local file"))
        .await
        .unwrap();
    assert!(
        !root.path().join("ephemeral").exists(),
        "remote mode keeps nothing on disk"
    );
    let replica = device(root.path(), "b", &sqld).await;
    assert_eq!(
        replica.store.get(&m.id).await.unwrap().title,
        "Remote write"
    );
    let status = remote.app.sync_now().await.unwrap();
    assert_eq!((status.mode, status.online), (Mode::Remote, true));
}

/// Several processes on one device in replica mode: a server over MCP and memctl at once,
/// each on its own replica file of the same namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_and_memctl_share_a_device() {
    let root = tempfile::tempdir().unwrap();
    let Some(sqld) = support::sqld(root.path()) else {
        return;
    };
    let mut cmd = support::command(root.path());
    cmd.env("MNEMOGRAPH_PRIMARY_URL", sqld.url())
        .env("MNEMOGRAPH_SYNC_INTERVAL", "0.2");
    let client = client::connect(cmd).await;
    let stored = client::ok(
        &client,
        "store_memory",
        json!({"kind": "decision", "title": "Use sqld", "content": "one primary for all devices"}),
    )
    .await;
    let id = stored["id"].as_str().unwrap().to_owned();

    let memctl = |args: &[&str]| {
        let out = memctl_on(root.path(), &sqld.url(), None, args);
        assert!(
            out.status.success(),
            "memctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let shown = memctl(&["--json", "show", &id]);
    assert_eq!(shown["memories"][0]["title"], "Use sqld", "{shown}");
    let added = memctl(&[
        "--json",
        "add",
        "--title",
        "From memctl",
        "--content",
        "same device",
    ]);
    let other = added["id"].as_str().unwrap().to_owned();

    // The server's own timer brings memctl's write into its replica.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = client::ok(&client, "list_memories", json!({})).await;
        if got["memories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == other.as_str())
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never saw memctl's write"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let replicas: Vec<_> = std::fs::read_dir(root.path().join("data").join("default.replica"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".db") && n.starts_with("slot-"))
        .collect();
    assert_eq!(
        replicas.len(),
        2,
        "one replica file per process: {replicas:?}"
    );
    let stats = client::ok(&client, "memory_stats", json!({})).await;
    assert_eq!(stats["sync"]["mode"], "replica");
    assert_eq!(stats["sync"]["online"], true);
    client.cancel().await.unwrap();
}

/// Over MCP, a write made while the primary is down says it is queued, `memory_stats` counts
/// it, and the server's own timer delivers it when the primary is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_reports_queued_writes_and_delivers_them() {
    let root = tempfile::tempdir().unwrap();
    let Some(mut sqld) = support::sqld(root.path()) else {
        return;
    };
    let mut cmd = support::command(root.path());
    cmd.env("MNEMOGRAPH_PRIMARY_URL", sqld.url())
        .env("MNEMOGRAPH_SYNC_INTERVAL", "0.2");
    let client = client::connect(cmd).await;

    sqld.stop();
    let result = client::call(
        &client,
        "store_memory",
        json!({"kind": "fix", "title": "Written offline", "content": "on a plane"}),
    )
    .await;
    assert_ne!(result.is_error, Some(true), "{}", client::text(&result));
    assert!(
        client::text(&result).contains("queued"),
        "{}",
        client::text(&result)
    );
    let id = result.structured_content.as_ref().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = client::ok(&client, "get_memory", json!({"ids": [id]})).await;
    assert_eq!(got["memories"][0]["title"], "Written offline");
    let stats = client::ok(&client, "memory_stats", json!({})).await;
    assert_eq!(stats["sync"]["pending_writes"], 1);
    assert_eq!(stats["sync"]["online"], false);

    sqld.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let synced = client::ok(&client, "sync", json!({})).await;
        if synced["pending_writes"] == 0 && synced["online"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the queued write was never delivered: {synced}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.cancel().await.unwrap();
    let other = device(root.path(), "other", &sqld).await;
    assert_eq!(other.store.get(&id).await.unwrap().title, "Written offline");
}

/// A damaged replica file is set aside and downloaded again on the next open: the primary has
/// every memory, and queued writes live in the outbox, so nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_replica_is_replaced_from_the_primary() {
    let root = tempfile::tempdir().unwrap();
    let Some(sqld) = support::sqld(root.path()) else {
        return;
    };
    let id = {
        let a = device(root.path(), "a", &sqld).await;
        a.store
            .create(note("Survives", "a damaged replica"))
            .await
            .unwrap()
            .0
            .id
    };
    let slot = root
        .path()
        .join("a")
        .join("data")
        .join("default.replica")
        .join("slot-0.db");
    // Two processes syncing one replica file left it "malformed" here; a zeroed header
    // is damage SQLite reports at once.
    let mut bytes = std::fs::read(&slot).unwrap();
    bytes[..100].fill(0);
    std::fs::write(&slot, bytes).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", slot.display()));
    }

    let a = device(root.path(), "a", &sqld).await;
    assert_eq!(a.store.get(&id).await.unwrap().title, "Survives");
    assert!(
        slot.with_extension("db.damaged").exists(),
        "the damaged copy is kept aside"
    );
}

/// A replica file damaged under a running store is found by the next read, set aside and
/// downloaded again there and then: the read answers from the new copy, and later reads and
/// writes go on as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_damaged_while_open_is_replaced_at_the_next_read() {
    let root = tempfile::tempdir().unwrap();
    let Some(sqld) = support::sqld(root.path()) else {
        return;
    };
    let a = device(root.path(), "a", &sqld).await;
    let mut ids = Vec::new();
    for i in 0..40 {
        let new = note(&format!("Kept {i}"), "through a damaged replica");
        ids.push(a.store.create(new).await.unwrap().0.id);
    }
    let slot = root.path().join("a/data/default.replica/slot-0.db");
    damage_table(&slot, "memories").await;

    let got = a
        .store
        .get(&ids[7])
        .await
        .expect("the read after the damage");
    assert_eq!(got.title, "Kept 7");
    assert!(
        slot.with_extension("db.damaged").exists(),
        "the damaged copy is kept aside"
    );
    let all = a.store.list(&Filter::default(), None, 100).await.unwrap();
    assert_eq!(all.memories.len(), 40, "every memory is in the new copy");
    let later = a.store.create(note("After", "the repair")).await.unwrap().0;
    let b = device(root.path(), "b", &sqld).await;
    assert_eq!(b.store.get(&later.id).await.unwrap().title, "After");
}

/// A replica found damaged while the primary is away cannot be downloaded again yet: reads
/// say so (the file, where it was set aside, why) instead of "malformed", nothing is lost, and
/// the first read after the primary returns gets a new copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_replica_waits_for_the_primary_to_be_replaced() {
    let root = tempfile::tempdir().unwrap();
    let Some(mut sqld) = support::sqld(root.path()) else {
        return;
    };
    let a = device(root.path(), "a", &sqld).await;
    let id = a
        .store
        .create(note("Waits", "for the primary"))
        .await
        .unwrap()
        .0
        .id;
    let slot = root.path().join("a/data/default.replica/slot-0.db");
    sqld.stop();
    damage_table(&slot, "memories").await;

    let err = a.store.get(&id).await.unwrap_err().to_string();
    assert!(err.contains("is damaged and was set aside"), "{err}");
    assert!(
        err.contains(&format!("{}.damaged", slot.display())),
        "{err}"
    );
    assert!(slot.with_extension("db.damaged").exists());

    sqld.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    let got = loop {
        match a.store.get(&id).await {
            Ok(got) => break got,
            Err(err) => assert!(Instant::now() < deadline, "never replaced: {err}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(got.title, "Waits");
    let kept = std::fs::read(slot.with_extension("db.damaged")).unwrap();
    assert!(
        kept.len() >= 2 * 4096,
        "the damaged copy was not overwritten by a retry"
    );
}

/// Makes the root page of `table` in the SQLite file at `path` unreadable (after moving the
/// WAL's pages into the file, so the damage is what the next read sees), as a torn write or a
/// bad disk would.
async fn damage_table(path: &Path, table: &str) {
    let db = libsql::Builder::new_local(path).build().await.unwrap();
    let conn = db.connect().unwrap();
    let one = |sql: &'static str| {
        let conn = conn.clone();
        async move {
            let mut rows = conn.query(sql, ()).await.unwrap();
            let row = rows.next().await.unwrap().unwrap();
            row.get::<i64>(0).unwrap()
        }
    };
    one("PRAGMA wal_checkpoint(TRUNCATE)").await;
    let page_size = one("PRAGMA page_size").await as u64;
    let mut rows = conn
        .query(
            "SELECT rootpage FROM sqlite_master WHERE name = ?1",
            [table],
        )
        .await
        .unwrap();
    let root_page = rows.next().await.unwrap().unwrap().get::<i64>(0).unwrap() as u64;
    drop((rows, conn, db));
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(&vec![0xA5; page_size as usize], (root_page - 1) * page_size)
        .unwrap();
}

/// `memctl init` and `memctl doctor` on a replica device talk about the replica and its
/// primary: init creates this process's replica file and says so (it used to print "created
/// …/default.db" and create nothing); doctor checks that file and reports the sync state (it
/// used to fail looking for default.db and always said "local mode, sync not configured").
#[test]
fn init_and_doctor_describe_a_replica_device() {
    let root = tempfile::tempdir().unwrap();
    let Some(mut sqld) = support::sqld(root.path()) else {
        return;
    };
    let url = sqld.url();
    let memctl = |args: &[&str]| memctl_on(root.path(), &url, None, args);
    let out = memctl(&["--json", "init"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let init: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let replica = root.path().join("data/default.replica/slot-0.db");
    assert_eq!(init["mode"], "replica", "{init}");
    assert_eq!(init["path"], replica.display().to_string(), "{init}");
    assert_eq!(init["primary"], sqld.url(), "{init}");
    assert_eq!(init["created"], true, "{init}");
    assert!(replica.exists(), "init made the replica file");
    assert!(
        !root.path().join("data/default.db").exists(),
        "no local store file in replica mode"
    );
    let again: serde_json::Value =
        serde_json::from_slice(&memctl(&["--json", "init"]).stdout).unwrap();
    assert_eq!(again["created"], false, "{again}");

    let text = String::from_utf8(memctl(&["init"]).stdout).unwrap();
    assert!(
        text.contains("replica exists at")
            && text.contains(&format!("a replica of {}", sqld.url())),
        "{text}"
    );

    let out = memctl(&["--json", "doctor"]);
    let doctor: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{doctor}");
    let check = |name: &str| {
        doctor["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} check in {doctor}"))
            .clone()
    };
    assert_eq!(check("store")["detail"], replica.display().to_string());
    assert_eq!(check("store file mode")["ok"], true);
    let sync = check("sync");
    let detail = sync["detail"].as_str().unwrap();
    assert!(
        sync["ok"] == true
            && detail.starts_with(&format!("replica mode, primary {}", sqld.url()))
            && detail.contains("last sync"),
        "{sync}"
    );

    // With the primary gone, doctor still checks the replica and fails the sync check.
    sqld.stop();
    let out = memctl(&["--json", "doctor"]);
    let doctor: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(!out.status.success(), "{doctor}");
    let sync = doctor["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "sync")
        .unwrap()
        .clone();
    assert_eq!(sync["ok"], false, "{sync}");
    assert!(
        sync["detail"]
            .as_str()
            .unwrap()
            .contains("the last sync failed"),
        "{sync}"
    );
}

/// Against a primary that checks tokens: a good token writes; a read-only token's write is
/// refused at once rather than queued as if the primary were away, memctl exits non-zero
/// with one line that says so (never the token), and nothing waits in the outbox.
#[test]
fn a_read_only_token_is_refused_not_queued() {
    let root = tempfile::tempdir().unwrap();
    let signer = support::jwt::Signer::from_seed(7);
    let Some(sqld) = support::sqld_with_auth(root.path(), &signer) else {
        return;
    };
    let memctl =
        |token: &str, args: &[&str]| memctl_on(root.path(), &sqld.url(), Some(token), args);
    let (rw, ro) = (signer.token("rw"), signer.token("ro"));
    let good = memctl(
        &rw,
        &[
            "--json",
            "add",
            "--title",
            "Good token",
            "--content",
            "on the primary",
        ],
    );
    assert!(
        good.status.success(),
        "a read-write token writes: {}",
        support::memctl::stderr(&good)
    );

    let refused = memctl(
        &ro,
        &[
            "add",
            "--title",
            "Read-only token",
            "--content",
            "must not queue",
        ],
    );
    let err = support::memctl::stderr(&refused);
    assert!(!refused.status.success(), "a refused write fails: {err}");
    let line = err.lines().last().unwrap_or_default();
    assert!(
        line.starts_with("memctl: ") && line.contains("refused the token"),
        "{err}"
    );
    assert!(line.contains("MNEMOGRAPH_AUTH_TOKEN"), "{line}");
    assert!(!err.contains(&ro), "the token is never shown: {err}");
    assert!(
        line.len() < 400 && !line.contains("metadata"),
        "no header dump: {line}"
    );

    let status = memctl(&rw, &["--json", "sync", "status"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", support::memctl::stderr(&status)));
    assert_eq!(status["pending_writes"], 0, "nothing queued: {status}");
    let listed = memctl(&rw, &["--json", "list"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("Good token"), "{listed}");
    assert!(!listed.contains("Read-only token"), "{listed}");
}

/// A token the primary does not accept (signed by another key, or expired), on a device that
/// synced before: the sync says the primary refused the token, not that a handshake timed
/// out, and a write fails at once instead of waiting in the outbox.
#[test]
fn a_wrong_token_is_reported_as_refused() {
    let root = tempfile::tempdir().unwrap();
    let signer = support::jwt::Signer::from_seed(7);
    let Some(sqld) = support::sqld_with_auth(root.path(), &signer) else {
        return;
    };
    synced_before_the_token_changed(root.path(), &sqld, &signer);
    let memctl =
        |token: &str, args: &[&str]| memctl_on(root.path(), &sqld.url(), Some(token), args);

    for wrong in [
        support::jwt::Signer::from_seed(8).token("rw"),
        signer.expired_token(),
    ] {
        let status = memctl(&wrong, &["--json", "sync", "status"]);
        let status: serde_json::Value = serde_json::from_slice(&status.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", support::memctl::stderr(&status)));
        let last_error = status["last_error"].as_str().unwrap_or_default();
        assert!(last_error.contains("refused the token"), "{status}");
        assert!(!last_error.contains("handshake"), "{status}");
        assert!(
            !last_error.contains(&wrong),
            "the token is never shown: {status}"
        );

        let refused = memctl(
            &wrong,
            &["add", "--title", "Refused", "--content", "not queued"],
        );
        let err = support::memctl::stderr(&refused);
        assert!(!refused.status.success(), "{err}");
        assert!(err.contains("refused the token"), "{err}");
        let status = memctl(&signer.token("rw"), &["--json", "sync", "status"]);
        let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(status["pending_writes"], 0, "nothing queued: {status}");
    }
}

/// A namespace the primary does not have: memctl says so and how to create it, in one line
/// without the response's headers, in replica and in remote mode.
#[test]
fn an_unknown_namespace_is_named_as_missing() {
    let root = tempfile::tempdir().unwrap();
    let Some(sqld) = support::sqld(root.path()) else {
        return;
    };
    for mode in ["remote", "replica"] {
        let out = support::memctl::command(root.path())
            .env("MNEMOGRAPH_PRIMARY_URL", sqld.url())
            .env("MNEMOGRAPH_MODE", mode)
            .env("MNEMOGRAPH_NAMESPACE", "nowhere")
            .args(["add", "--title", "Lost", "--content", "no such namespace"])
            .output()
            .unwrap();
        let err = support::memctl::stderr(&out);
        assert!(!out.status.success(), "{mode}: {err}");
        let line = err.lines().last().unwrap_or_default();
        assert!(
            line.contains("namespace nowhere does not exist"),
            "{mode}: {err}"
        );
        assert!(
            line.contains("/v1/namespaces/nowhere/create"),
            "{mode}: {err}"
        );
        assert!(!line.contains("x-proxy-authorization"), "{mode}: {err}");
        assert!(!line.contains("has no schema"), "{mode}: {err}");
        assert!(!line.contains("metadata"), "{mode}: {err}");
    }
}

/// Every file of a replica device (the replica, libSQL's index beside it, SQLite's WAL and
/// shared memory, the outbox, the locks) is owner-only once the replica opened, took a write
/// and synced: they hold memory text.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicas_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;

    let root = tempfile::tempdir().unwrap();
    let Some(sqld) = support::sqld(root.path()) else {
        return;
    };
    let device = device(root.path(), "a", &sqld).await;
    device
        .store
        .create(note("Private", "owner-only files"))
        .await
        .unwrap();
    device.app.sync_now().await.unwrap();

    let dir = root.path().join("a").join("data");
    let mut files = Vec::new();
    let mut dirs = vec![dir];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    let names: Vec<_> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with("-client_wal_index")),
        "libSQL's index is among them: {names:?}"
    );
    for file in &files {
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", file.display());
    }
}

/// memctl's writes while the primary is down succeed and say they are queued on this device
/// (stdout stays the document `--json` promises), and `memctl stats` counts them; with the
/// primary up they say nothing more.
#[test]
fn memctl_says_when_a_write_is_queued() {
    let root = tempfile::tempdir().unwrap();
    let Some(mut sqld) = support::sqld(root.path()) else {
        return;
    };
    let url = sqld.url();
    let memctl = |args: &[&str]| memctl_on(root.path(), &url, None, args);
    let online = memctl(&["--json", "add", "--title", "Online", "--content", "applied"]);
    assert!(online.status.success());
    let id = serde_json::from_slice::<serde_json::Value>(&online.stdout).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!support::memctl::stderr(&online).contains("queued"));

    sqld.stop();
    let offline = memctl(&["--json", "add", "--title", "Offline", "--content", "queued"]);
    let err = support::memctl::stderr(&offline);
    assert!(offline.status.success(), "{err}");
    assert!(err.contains("queued on this device"), "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&offline.stdout).unwrap();
    let other = doc["id"].as_str().unwrap().to_owned();
    let stats = |memories: u64, relationships: u64| {
        let out = memctl(&["--json", "stats"]);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", support::memctl::stderr(&out)));
        assert_eq!(
            (doc["memories"].as_u64(), doc["relationships"].as_u64()),
            (Some(memories), Some(relationships)),
            "queued writes are counted: {doc}"
        );
        doc
    };
    let doc = stats(2, 0);
    assert_eq!(doc["by_kind"]["note"], 2, "{doc}");
    for (args, counts) in [
        (
            vec!["edit", id.as_str(), "--title", "Online, edited offline"],
            (2, 0),
        ),
        (
            vec!["link", other.as_str(), "RELATED_TO", id.as_str()],
            (2, 1),
        ),
        (vec!["--yes", "rm", other.as_str()], (1, 0)),
    ] {
        let out = memctl(&args);
        let err = support::memctl::stderr(&out);
        assert!(out.status.success(), "{args:?}: {err}");
        assert!(err.contains("queued on this device"), "{args:?}: {err}");
        stats(counts.0, counts.1);
    }
}

/// A new device whose token the primary refuses: the server starts anyway (an exit would
/// show the client only "connection closed"), and `memory_stats` and every other tool say
/// the primary refused the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_a_refused_token_starts_and_says_why() {
    let root = tempfile::tempdir().unwrap();
    let signer = support::jwt::Signer::from_seed(7);
    let Some(sqld) = support::sqld_with_auth(root.path(), &signer) else {
        return;
    };
    let wrong = support::jwt::Signer::from_seed(8).token("rw");
    let mut cmd = support::command(root.path());
    cmd.env("MNEMOGRAPH_PRIMARY_URL", sqld.url())
        .env("MNEMOGRAPH_AUTH_TOKEN", &wrong);
    let client = client::connect(cmd).await;
    let stats = client::err(&client, "memory_stats", json!({})).await;
    assert!(stats.contains("refused the token"), "{stats}");
    assert!(stats.contains("MNEMOGRAPH_AUTH_TOKEN"), "{stats}");
    assert!(!stats.contains(&wrong), "the token is never shown: {stats}");
    let stored = client::err(
        &client,
        "store_memory",
        json!({"kind": "note", "title": "Refused", "content": "bad token"}),
    )
    .await;
    assert!(stored.contains("refused the token"), "{stored}");
    let recent = client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            "memory://recent",
        ))
        .await
        .expect_err("no empty stand-in passes for the memory");
    assert!(recent.to_string().contains("refused the token"), "{recent}");
    client.cancel().await.unwrap();
}

/// A server on a device that synced before, started with a token the primary now refuses:
/// it serves the replica, and every later sync round says the token is refused (each asks the
/// primary once over HTTP rather than spending a round of handshake retries to learn it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_keeps_saying_its_token_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let signer = support::jwt::Signer::from_seed(7);
    let Some(sqld) = support::sqld_with_auth(root.path(), &signer) else {
        return;
    };
    synced_before_the_token_changed(root.path(), &sqld, &signer);

    let mut cmd = support::command(root.path());
    cmd.env("MNEMOGRAPH_PRIMARY_URL", sqld.url())
        .env("MNEMOGRAPH_AUTH_TOKEN", signer.expired_token())
        .env("MNEMOGRAPH_SYNC_INTERVAL", "0.2");
    let client = client::connect(cmd).await;
    let found = client::ok(&client, "search_memories", json!({"query": "synced"})).await;
    assert_eq!(found["hits"].as_array().unwrap().len(), 1, "{found}");
    for _ in 0..3 {
        let synced = client::call(&client, "sync", json!({})).await;
        let text = client::text(&synced);
        assert!(text.contains("refused the token"), "{text}");
    }
    let stats = client::ok(&client, "memory_stats", json!({})).await;
    let last_error = stats["sync"]["last_error"].as_str().unwrap_or_default();
    assert!(last_error.contains("refused the token"), "{stats}");
    client.cancel().await.unwrap();
}
