//! Conformance suite: one set of scenarios, written once against `&dyn GraphBackend`, run
//! against every backend: the in-memory reference, libSQL on a real database file, and a
//! replica of a real sqld primary.
//!
//! `conformance!` instantiates each scenario in `mod memory`, `mod libsql` and `mod replica`,
//! so a failure names the backend and the scenario (`memory::delete_cascades`,
//! `replica::delete_cascades`). The replica scenarios run when `MNEMOGRAPH_TEST_SQLD` names an
//! sqld binary and say they are `SKIPPED` otherwise. `model_based` then drives the reference
//! and libSQL with random operation sequences and checks that they agree on every outcome.

mod model_based;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mnemograph::Error;
use mnemograph::backend::in_memory::InMemoryBackend;
use mnemograph::backend::libsql::LibsqlBackend;
use mnemograph::backend::{
    Cursor, EmbeddingChange, GraphBackend, IdKind, ImportBatch, Imported, NewRecord, SkipReason,
    neighbours, subgraph,
};
use mnemograph::model::{
    Access, Context, Created, Direction, Embedding, Filter, Memory, MemoryPatch, Relationship,
    RelationshipPatch, Traversal,
};
use mnemograph::sync::{self, Mode, SyncSettings};
use mnemograph::text::query_terms;
use serde_json::{Map, Value, json};
use tempfile::TempDir;

use crate::support::{self, SharedSqld};

// ---------------------------------------------------------------------------------------------
// Backends

/// A backend under test and whatever must outlive it (dropped after it, in field order).
pub struct Harness {
    pub backend: Arc<dyn GraphBackend>,
    _dir: Option<TempDir>,
    _primary: Option<Arc<SharedSqld>>,
}

pub async fn memory_harness() -> Harness {
    Harness {
        backend: Arc::new(InMemoryBackend::new()),
        _dir: None,
        _primary: None,
    }
}

pub async fn libsql_harness() -> Harness {
    let dir = tempfile::tempdir().expect("temporary directory");
    let backend = LibsqlBackend::open_local(&dir.path().join("store.db"))
        .await
        .expect("open a libSQL store");
    Harness {
        backend: Arc::new(backend),
        _dir: Some(dir),
        _primary: None,
    }
}

/// A replica-mode store, as `mnemograph` opens one, on a namespace of its own on the shared
/// sqld (so a fresh, empty database); `None` when no sqld is configured (the skip is said).
pub async fn replica_harness() -> Option<Harness> {
    let primary = support::shared_sqld()?;
    let dir = tempfile::tempdir().expect("temporary directory");
    let settings = SyncSettings {
        mode: Mode::Replica,
        primary: Some(primary.new_namespace()),
        // The scenarios sync through their own writes (read-your-writes), never on a timer.
        interval: Duration::from_secs(3600),
        replica_dir: dir.path().join("replica"),
    };
    let connected = sync::connect(&settings, &dir.path().join("unused.db"))
        .await
        .expect("open a replica");
    Some(Harness {
        backend: connected.backend,
        _dir: Some(dir),
        _primary: Some(primary),
    })
}

/// Instantiates every scenario once per backend.
macro_rules! conformance {
    ($($name:ident),+ $(,)?) => {
        mod memory {
            $(conformance!(@test $name, async { Some(super::memory_harness().await) });)+
        }
        mod libsql {
            $(conformance!(@test $name, async { Some(super::libsql_harness().await) });)+
        }
        mod replica {
            $(conformance!(@test $name, super::replica_harness());)+
        }
    };
    (@test $name:ident, $harness:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            if let Some(harness) = $harness.await {
                super::$name(&*harness.backend).await;
            }
        }
    };
}

conformance!(
    meta_and_embedding_space,
    create_and_get_round_trip,
    get_memories_order_duplicates_unknown,
    replay_is_idempotent_and_conflicts_detected,
    batch_create_is_all_or_nothing,
    linked_create_is_one_transaction,
    linked_batch_in_order_and_replayed,
    memories_holding_every_word,
    update_applies_patch_and_bumps_version,
    update_changes_embedding,
    stale_version_conflicts,
    unknown_ids_are_not_found,
    delete_cascades,
    ids_by_prefix,
    touch_records_access,
    list_filters,
    list_pagination_visits_each_once,
    keyword_search_survives_hostile_queries,
    keyword_search_fields_ranking_filters,
    keyword_search_follows_updates,
    keyword_search_across_index_batches,
    vector_search_order_filter_models,
    vector_search_many,
    vectors_within_a_threshold,
    vector_candidates_within_the_index_error,
    relationship_round_trip_and_replay,
    relationship_errors,
    relationship_update_and_delete,
    relationships_of_direction_types_validity,
    summaries_filter,
    walk_multi_hop,
    walk_filter_blocks_paths,
    walk_expired_and_truncation,
    subgraph_closes_last_level,
    stats_counts,
    large_id_lists,
    keyword_search_ties_by_id,
    neighbours_in_time_follow_creation_order,
    summaries_of_repeated_ids,
    touch_of_repeated_ids,
    import_batch_outcomes,
    pending_embeddings,
    replace_embedding_space_keeps_old_vectors,
);

// ---------------------------------------------------------------------------------------------
// Builders

/// A timestamp `secs` seconds and `micros` microseconds after a fixed origin (always whole
/// microseconds: the precision the stores keep).
pub fn at(secs: i64, micros: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, micros * 1000).expect("valid timestamp")
}

pub fn mem(id: &str, title: &str, content: &str) -> Memory {
    Memory {
        id: id.to_owned(),
        kind: "note".to_owned(),
        title: title.to_owned(),
        content: content.to_owned(),
        tags: Vec::new(),
        context: Context::default(),
        importance: 0.5,
        confidence: 0.75,
        created_at: at(0, 0),
        updated_at: at(0, 0),
        accessed_at: None,
        access_count: 0,
        version: 1,
    }
}

pub fn rel(id: &str, source: &str, target: &str, rel_type: &str) -> Relationship {
    Relationship {
        id: id.to_owned(),
        source_id: source.to_owned(),
        target_id: target.to_owned(),
        rel_type: rel_type.to_owned(),
        strength: 0.5,
        confidence: 0.75,
        note: None,
        properties: Map::new(),
        valid_from: None,
        valid_to: None,
        created_at: at(0, 0),
        updated_at: at(0, 0),
        version: 1,
    }
}

pub fn embedding(model: &str, vector: &[f32]) -> Embedding {
    Embedding {
        model: model.to_owned(),
        vector: vector.to_vec(),
    }
}

/// An 8-dimensional vector with `head` in front and zeros after.
fn v8(head: &[f32]) -> Vec<f32> {
    let mut v = head.to_vec();
    v.resize(8, 0.0);
    v
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

/// The name of an error's variant, to compare outcomes across backends.
pub fn kind(err: &Error) -> &'static str {
    match err {
        Error::MemoryNotFound { .. } => "MemoryNotFound",
        Error::RelationshipNotFound { .. } => "RelationshipNotFound",
        Error::UnknownEndpoint { .. } => "UnknownEndpoint",
        Error::VersionConflict { .. } => "VersionConflict",
        Error::IdConflict { .. } => "IdConflict",
        Error::RelationshipExists { .. } => "RelationshipExists",
        Error::Invalid { .. } => "Invalid",
        Error::ModelMismatch { .. } => "ModelMismatch",
        Error::SchemaTooNew { .. } => "SchemaTooNew",
        Error::Database(_) => "Database",
        Error::Corrupt { .. } => "Corrupt",
        Error::Io { .. } => "Io",
        Error::Task(_) => "Task",
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}

async fn create_all(b: &dyn GraphBackend, memories: &[Memory]) {
    for m in memories {
        let (_, created) = b.create_memory(m, None).await.expect("create memory");
        assert_eq!(created, Created::New, "{}", m.id);
    }
}

async fn relate_all(b: &dyn GraphBackend, rels: &[Relationship]) {
    for r in rels {
        let (_, created) = b.create_relationship(r).await.expect("create relationship");
        assert_eq!(created, Created::New, "{}", r.id);
    }
}

async fn get_one(b: &dyn GraphBackend, id: &str) -> Option<Memory> {
    b.get_memories(&[id.to_owned()]).await.expect("get").pop()
}

async fn list_ids(b: &dyn GraphBackend, filter: &Filter) -> Vec<String> {
    let page = b.list_memories(filter, None, 1000).await.expect("list");
    assert_eq!(page.next_cursor, None);
    page.memories.into_iter().map(|m| m.id).collect()
}

async fn keyword_ids(b: &dyn GraphBackend, query: &str, filter: &Filter) -> Vec<String> {
    b.keyword_search(&query_terms(query), filter, 100)
        .await
        .unwrap_or_else(|e| panic!("keyword search {query:?}: {e}"))
        .into_iter()
        .map(|h| h.memory.id)
        .collect()
}

fn set(ids: &[String]) -> BTreeSet<&str> {
    ids.iter().map(String::as_str).collect()
}

fn rel_ids(rels: &[Relationship]) -> BTreeSet<&str> {
    rels.iter().map(|r| r.id.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// Scenarios: memories

async fn meta_and_embedding_space(b: &dyn GraphBackend) {
    let meta = b.meta().await.unwrap();
    assert!(!meta.store_id.is_empty());
    assert_eq!(
        meta.schema_version,
        mnemograph::backend::libsql::SCHEMA_VERSION
    );
    assert_eq!(meta.embedding_model, None);
    assert_eq!(meta.embedding_dim, None);
    // The first claim wins; later ones learn what was recorded.
    assert_eq!(
        b.claim_embedding_space("model-a", 8).await.unwrap(),
        ("model-a".to_owned(), 8)
    );
    assert_eq!(
        b.claim_embedding_space("model-b", 16).await.unwrap(),
        ("model-a".to_owned(), 8)
    );
    let again = b.meta().await.unwrap();
    assert_eq!(again.store_id, meta.store_id);
    assert_eq!(again.embedding_model.as_deref(), Some("model-a"));
    assert_eq!(again.embedding_dim, Some(8));
}

async fn create_and_get_round_trip(b: &dyn GraphBackend) {
    let mut extra = Map::new();
    extra.insert("ticket".into(), json!("ENG-42"));
    extra.insert("attempts".into(), json!(3));
    extra.insert("flaky".into(), json!(true));
    extra.insert(
        "nested".into(),
        json!({"a": [1, 2.5, null], "b": {"c": "d"}}),
    );
    let m = Memory {
        id: "0190a000-0000-7000-8000-000000000001".into(),
        kind: "fix".into(),
        title: "Borrow checker: E0502 in the parser".into(),
        content: "Split the borrow: take `&mut self.buf` once.\nSecond line — ünïcödé ✓ 🚀".into(),
        tags: vec!["rust".into(), "borrowck".into(), "parser".into()],
        context: Context {
            project: Some("mnemograph".into()),
            repo: Some("github.com/example/mnemograph".into()),
            paths: vec!["src/parser.rs".into(), "src/lexer.rs".into()],
            language: Some("rust".into()),
            branch: Some("main".into()),
            commit: Some("a6c9b10".into()),
            extra,
        },
        importance: 0.7,
        confidence: 0.9,
        created_at: at(12, 345_678),
        updated_at: at(13, 1),
        accessed_at: Some(at(14, 999_999)),
        access_count: 3,
        version: 1,
    };
    let (stored, created) = b.create_memory(&m, None).await.unwrap();
    assert_eq!(created, Created::New);
    assert_eq!(stored, m);
    assert_eq!(get_one(b, &m.id).await.as_ref(), Some(&m));

    // A memory with nothing optional set round-trips too.
    let bare = mem("0190a000-0000-7000-8000-000000000002", "t", "c");
    b.create_memory(&bare, None).await.unwrap();
    assert_eq!(get_one(b, &bare.id).await, Some(bare.clone()));

    // Timestamps one microsecond apart stay apart and ordered.
    let mut earlier = mem("0190a000-0000-7000-8000-000000000003", "t", "c");
    earlier.created_at = at(12, 345_677);
    b.create_memory(&earlier, None).await.unwrap();
    let page = b.list_memories(&Filter::default(), None, 10).await.unwrap();
    let order: Vec<&str> = page.memories.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(order, [&m.id, &earlier.id, &bare.id]);
}

async fn get_memories_order_duplicates_unknown(b: &dyn GraphBackend) {
    create_all(
        b,
        &[
            mem("ga", "a", "a"),
            mem("gb", "b", "b"),
            mem("gc", "c", "c"),
        ],
    )
    .await;
    let got = b
        .get_memories(&ids(&["gc", "missing", "ga", "gc"]))
        .await
        .unwrap();
    let got: Vec<&str> = got.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(got, ["gc", "ga", "gc"]);
    assert!(b.get_memories(&[]).await.unwrap().is_empty());
}

async fn replay_is_idempotent_and_conflicts_detected(b: &dyn GraphBackend) {
    let mut m = mem("r1", "Replay me", "Same content twice");
    m.tags = vec!["sync".into()];
    m.created_at = at(100, 5);
    m.updated_at = at(100, 5);
    b.create_memory(&m, None).await.unwrap();

    // The same content with other bookkeeping is a replay: the stored record comes back.
    let mut replay = m.clone();
    replay.created_at = at(200, 0);
    replay.updated_at = at(200, 0);
    replay.access_count = 9;
    replay.version = 7;
    let (stored, created) = b.create_memory(&replay, None).await.unwrap();
    assert_eq!(created, Created::Existing);
    assert_eq!(stored, m);

    // Different content under the same id is a conflict and changes nothing.
    for change in [
        |m: &mut Memory| m.title = "Other".into(),
        |m: &mut Memory| m.content = "Other".into(),
        |m: &mut Memory| m.kind = "fix".into(),
        |m: &mut Memory| m.tags = vec!["other".into()],
        |m: &mut Memory| m.context.project = Some("other".into()),
        |m: &mut Memory| m.importance = 0.25,
        |m: &mut Memory| m.confidence = 0.25,
    ] {
        let mut other = m.clone();
        change(&mut other);
        let err = b.create_memory(&other, None).await.unwrap_err();
        assert!(
            matches!(&err, Error::IdConflict { what: "memory", id } if id == "r1"),
            "{err:?}"
        );
    }
    assert_eq!(get_one(b, "r1").await, Some(m));
    assert_eq!(b.stats().await.unwrap().memories, 1);
}

async fn batch_create_is_all_or_nothing(b: &dyn GraphBackend) {
    let a = mem("ba", "alpha", "first");
    let c = mem("bc", "charlie", "third");
    let e_model = embedding("m", &v8(&[1.0]));
    let created = b
        .create_memories(&[(a.clone(), None), (c.clone(), Some(e_model.clone()))])
        .await
        .unwrap();
    assert_eq!(created, [Created::New, Created::New]);

    // Replays inside a batch, of the store and of an earlier item, are fine.
    let d = mem("bd", "delta", "fourth");
    let created = b
        .create_memories(&[(d.clone(), None), (a.clone(), None), (d.clone(), None)])
        .await
        .unwrap();
    assert_eq!(
        created,
        [Created::New, Created::Existing, Created::Existing]
    );

    // A conflict with the store rejects the whole batch.
    let mut a2 = a.clone();
    a2.title = "changed".into();
    let x = mem("bx", "xray", "never stored");
    let err = b
        .create_memories(&[(x.clone(), Some(e_model.clone())), (a2, None)])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::IdConflict { what: "memory", id } if id == "ba"),
        "{err:?}"
    );
    // A conflict inside the batch too.
    let mut y2 = mem("by", "yankee", "one");
    let y = y2.clone();
    y2.content = "two".into();
    let err = b
        .create_memories(&[(x.clone(), None), (y, None), (y2, None)])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::IdConflict { what: "memory", id } if id == "by"),
        "{err:?}"
    );

    assert!(
        b.get_memories(&ids(&["bx", "by"]))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(get_one(b, "ba").await, Some(a));
    let stats = b.stats().await.unwrap();
    assert_eq!((stats.memories, stats.embedded), (3, 1));
    let hits = b
        .vector_search("m", &v8(&[1.0]), &Filter::default(), 10)
        .await
        .unwrap();
    let hits: Vec<&str> = hits.iter().map(|h| h.memory.id.as_str()).collect();
    assert_eq!(hits, ["bc"]);
}

/// The duplicate probe's lookup: only memories holding every word, in any field, are
/// answered; one word short is not enough, whatever else matches.
async fn memories_holding_every_word(b: &dyn GraphBackend) {
    let mut tagged = mem("hc", "backoff", "waits between attempts");
    tagged.tags = vec!["deadlock".into(), "retry".into()];
    create_all(
        b,
        &[
            mem(
                "ha",
                "deadlock retry",
                "the writer retries after a deadlock",
            ),
            mem("hb", "deadlock", "two writers wait on each other"),
            tagged,
            mem("hd", "retry", "again and again, deadlock free"),
            mem("he", "unrelated", "nothing to see"),
        ],
    )
    .await;
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let found = b
        .memories_holding(&words(&["deadlock", "retry"]), 16)
        .await
        .unwrap();
    let found: BTreeSet<&str> = found.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(found, BTreeSet::from(["ha", "hc", "hd"]));
    let none = b
        .memories_holding(&words(&["deadlock", "nowhere"]), 16)
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
}

/// A batch of linked memories (a capture's): each record may link to one earlier in the
/// batch, every record is answered in order, and the same batch again is a replay.
async fn linked_batch_in_order_and_replayed(b: &dyn GraphBackend) {
    create_all(b, &[mem("ba", "error", "E0382")]).await;
    let record = |m: Memory, rels: Vec<Relationship>| NewRecord {
        memory: m,
        embedding: None,
        relationships: rels,
    };
    let batch = vec![
        record(
            mem("bf", "fix", "borrow instead"),
            vec![rel("bf-solves", "bf", "ba", "SOLVES")],
        ),
        record(
            mem("bd", "digest", "session"),
            vec![rel("bd-about", "bd", "bf", "RELATES_TO")],
        ),
        record(mem("bn", "note", "alone"), Vec::new()),
    ];
    let written = b.create_linked_memories(&batch).await.unwrap();
    let got: Vec<(&str, Created, usize)> = written
        .iter()
        .map(|w| (w.memory.id.as_str(), w.created, w.relationships.len()))
        .collect();
    assert_eq!(
        got,
        [
            ("bf", Created::New, 1),
            ("bd", Created::New, 1),
            ("bn", Created::New, 0)
        ]
    );
    let around = b
        .relationships_of(&ids(&["bf"]), Direction::Both, &[], None)
        .await
        .unwrap();
    assert_eq!(rel_ids(&around), BTreeSet::from(["bf-solves", "bd-about"]));

    let again = b.create_linked_memories(&batch).await.unwrap();
    assert!(
        again.iter().all(|w| w.created == Created::Existing
            && w.relationships.iter().all(|(_, c)| *c == Created::Existing)),
        "{again:?}"
    );
    assert_eq!(b.stats().await.unwrap().memories, 4);
}

async fn linked_create_is_one_transaction(b: &dyn GraphBackend) {
    create_all(
        b,
        &[mem("la", "error", "E0502"), mem("lb", "cause", "a loan")],
    )
    .await;
    let fix = mem("lf", "fix", "clone first");
    let solves = rel("lf-solves", "lf", "la", "SOLVES");
    let causes = rel("lb-causes", "lb", "lf", "CAUSES");
    let e = embedding("m", &v8(&[1.0]));
    let linked = b
        .create_linked_memory(&fix, Some(&e), &[solves.clone(), causes.clone()])
        .await
        .unwrap();
    assert_eq!((&linked.memory, linked.created), (&fix, Created::New));
    assert_eq!(
        linked.relationships,
        [
            (solves.clone(), Created::New),
            (causes.clone(), Created::New)
        ]
    );
    let around = b
        .relationships_of(&ids(&["lf"]), Direction::Both, &[], None)
        .await
        .unwrap();
    assert_eq!(rel_ids(&around), BTreeSet::from(["lf-solves", "lb-causes"]));
    assert_eq!(b.embeddings(&ids(&["lf"])).await.unwrap().len(), 1);

    // The same create again (same ids, same content) is a replay of every record.
    let again = b
        .create_linked_memory(&fix, Some(&e), &[solves.clone(), causes.clone()])
        .await
        .unwrap();
    assert_eq!(again.created, Created::Existing);
    assert!(
        again
            .relationships
            .iter()
            .all(|(_, c)| *c == Created::Existing)
    );

    // A failure on a later part takes back the earlier parts: a second edge of one
    // (source, target, type) after a good one, an unknown endpoint, a memory id clash.
    let lost = mem("lx", "lost", "never stored");
    let ok = rel("lx-uses", "lx", "la", "USES");
    let twice = rel("lx-uses-2", "lx", "la", "USES");
    let err = b
        .create_linked_memory(&lost, Some(&e), &[ok.clone(), twice])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RelationshipExists { .. }), "{err:?}");
    let nowhere = rel("lx-nowhere", "lx", "l-missing", "USES");
    let err = b
        .create_linked_memory(&lost, None, &[ok.clone(), nowhere])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownEndpoint { .. }), "{err:?}");
    let mut clash = fix.clone();
    clash.title = "another fix".into();
    let err = b
        .create_linked_memory(&clash, None, &[rel("lf-uses", "lf", "lb", "USES")])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::IdConflict { .. }), "{err:?}");

    assert_eq!(get_one(b, "lx").await, None);
    assert!(b.embeddings(&ids(&["lx"])).await.unwrap().is_empty());
    for gone in ["lx-uses", "lf-uses"] {
        let err = b.get_relationship(gone).await.unwrap_err();
        assert!(matches!(err, Error::RelationshipNotFound { .. }), "{err:?}");
    }
    let stats = b.stats().await.unwrap();
    assert_eq!((stats.memories, stats.relationships), (3, 2));
}

async fn update_applies_patch_and_bumps_version(b: &dyn GraphBackend) {
    let mut m = mem("u1", "Old title", "Old content");
    m.tags = vec!["old".into()];
    m.context.project = Some("p".into());
    m.created_at = at(10, 10);
    m.updated_at = at(10, 10);
    b.create_memory(&m, None).await.unwrap();

    let patch = MemoryPatch {
        title: Some("New title".into()),
        tags: Some(vec!["new".into(), "tags".into()]),
        importance: Some(0.9),
        ..MemoryPatch::default()
    };
    let now = at(50, 123_456);
    let updated = b
        .update_memory("u1", &patch, EmbeddingChange::Keep, Some(1), now)
        .await
        .unwrap();
    let mut want = m.clone();
    want.title = "New title".into();
    want.tags = vec!["new".into(), "tags".into()];
    want.importance = 0.9;
    want.version = 2;
    want.updated_at = now;
    assert_eq!(updated, want);
    assert_eq!(get_one(b, "u1").await, Some(want.clone()));

    // Every field a patch can carry, without an expected version.
    let context = Context {
        project: Some("q".into()),
        language: Some("go".into()),
        ..Context::default()
    };
    let patch = MemoryPatch {
        kind: Some("decision".into()),
        title: None,
        content: Some("New content".into()),
        tags: Some(Vec::new()),
        context: Some(context.clone()),
        importance: Some(0.1),
        confidence: Some(0.2),
    };
    let updated = b
        .update_memory("u1", &patch, EmbeddingChange::Keep, None, at(60, 0))
        .await
        .unwrap();
    want.kind = "decision".into();
    want.content = "New content".into();
    want.tags = Vec::new();
    want.context = context;
    want.importance = 0.1;
    want.confidence = 0.2;
    want.version = 3;
    want.updated_at = at(60, 0);
    assert_eq!(updated, want);

    // An empty patch still counts as a write.
    let updated = b
        .update_memory(
            "u1",
            &MemoryPatch::default(),
            EmbeddingChange::Keep,
            Some(3),
            at(70, 0),
        )
        .await
        .unwrap();
    assert_eq!((updated.version, updated.updated_at), (4, at(70, 0)));
    assert_eq!(updated.created_at, m.created_at);

    // Filters see the new values.
    let by_project = Filter {
        project: Some("q".into()),
        ..Filter::default()
    };
    assert_eq!(list_ids(b, &by_project).await, ["u1"]);
    let old_project = Filter {
        project: Some("p".into()),
        ..Filter::default()
    };
    assert!(list_ids(b, &old_project).await.is_empty());
}

async fn update_changes_embedding(b: &dyn GraphBackend) {
    let q = v8(&[1.0, 0.0]);
    b.create_memory(&mem("e1", "one", "one"), Some(&embedding("m", &q)))
        .await
        .unwrap();
    b.create_memory(&mem("e2", "two", "two"), None)
        .await
        .unwrap();
    let found = |hits: Vec<mnemograph::model::VectorHit>| -> Vec<String> {
        hits.into_iter().map(|h| h.memory.id).collect()
    };
    let all = Filter::default();
    assert_eq!(
        found(b.vector_search("m", &q, &all, 10).await.unwrap()),
        ["e1"]
    );

    let patch = MemoryPatch::default();
    // Keep.
    b.update_memory("e1", &patch, EmbeddingChange::Keep, None, at(1, 0))
        .await
        .unwrap();
    assert_eq!(
        found(b.vector_search("m", &q, &all, 10).await.unwrap()),
        ["e1"]
    );
    // Set on a memory without a vector, and replace one.
    let e2v = embedding("m", &v8(&[0.0, 1.0]));
    b.update_memory("e2", &patch, EmbeddingChange::Set(&e2v), None, at(2, 0))
        .await
        .unwrap();
    let e1v = embedding("m", &v8(&[-1.0, 0.0]));
    b.update_memory("e1", &patch, EmbeddingChange::Set(&e1v), None, at(3, 0))
        .await
        .unwrap();
    assert_eq!(
        found(b.vector_search("m", &q, &all, 10).await.unwrap()),
        ["e2", "e1"]
    );
    assert_eq!(b.stats().await.unwrap().embedded, 2);
    // Clear.
    b.update_memory("e2", &patch, EmbeddingChange::Clear, None, at(4, 0))
        .await
        .unwrap();
    assert_eq!(
        found(b.vector_search("m", &q, &all, 10).await.unwrap()),
        ["e1"]
    );
    assert_eq!(b.stats().await.unwrap().embedded, 1);
    // A vector set under another model moves the memory to that model's space.
    let other = embedding("n", &q);
    b.update_memory("e1", &patch, EmbeddingChange::Set(&other), None, at(5, 0))
        .await
        .unwrap();
    assert!(b.vector_search("m", &q, &all, 10).await.unwrap().is_empty());
    assert_eq!(
        found(b.vector_search("n", &q, &all, 10).await.unwrap()),
        ["e1"]
    );
}

async fn stale_version_conflicts(b: &dyn GraphBackend) {
    b.create_memory(&mem("s1", "title", "content"), None)
        .await
        .unwrap();
    let patch = MemoryPatch {
        title: Some("second".into()),
        ..MemoryPatch::default()
    };
    let v2 = b
        .update_memory("s1", &patch, EmbeddingChange::Keep, Some(1), at(1, 0))
        .await
        .unwrap();
    assert_eq!(v2.version, 2);

    let stale = MemoryPatch {
        title: Some("lost update".into()),
        ..MemoryPatch::default()
    };
    for expected in [1, 3, 0, -1] {
        let err = b
            .update_memory(
                "s1",
                &stale,
                EmbeddingChange::Clear,
                Some(expected),
                at(2, 0),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::VersionConflict { what: "memory", id, expected: e, actual: 2 }
                if id == "s1" && *e == expected),
            "{err:?}"
        );
    }
    assert_eq!(get_one(b, "s1").await, Some(v2));

    // Relationships too.
    b.create_memory(&mem("s2", "t", "c"), None).await.unwrap();
    b.create_relationship(&rel("sr", "s1", "s2", "USES"))
        .await
        .unwrap();
    let rpatch = RelationshipPatch {
        strength: Some(0.9),
        ..RelationshipPatch::default()
    };
    let r2 = b
        .update_relationship("sr", &rpatch, Some(1), at(3, 0))
        .await
        .unwrap();
    assert_eq!(r2.version, 2);
    let err = b
        .update_relationship("sr", &RelationshipPatch::default(), Some(1), at(4, 0))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::VersionConflict { what: "relationship", id, expected: 1, actual: 2 }
            if id == "sr"),
        "{err:?}"
    );
    assert_eq!(b.get_relationship("sr").await.unwrap(), r2);
}

async fn unknown_ids_are_not_found(b: &dyn GraphBackend) {
    b.create_memory(&mem("k1", "t", "c"), None).await.unwrap();
    let err = b
        .update_memory(
            "nope",
            &MemoryPatch::default(),
            EmbeddingChange::Keep,
            None,
            at(1, 0),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::MemoryNotFound { id } if id == "nope"),
        "{err:?}"
    );
    let err = b
        .update_memory(
            "nope",
            &MemoryPatch::default(),
            EmbeddingChange::Keep,
            Some(1),
            at(1, 0),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::MemoryNotFound { id } if id == "nope"),
        "{err:?}"
    );
    let err = b.delete_memory("nope").await.unwrap_err();
    assert!(
        matches!(&err, Error::MemoryNotFound { id } if id == "nope"),
        "{err:?}"
    );

    let err = b.get_relationship("nope").await.unwrap_err();
    assert!(
        matches!(&err, Error::RelationshipNotFound { id } if id == "nope"),
        "{err:?}"
    );
    let err = b
        .update_relationship("nope", &RelationshipPatch::default(), None, at(1, 0))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::RelationshipNotFound { id } if id == "nope"),
        "{err:?}"
    );
    let err = b
        .update_relationship("nope", &RelationshipPatch::default(), Some(1), at(1, 0))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::RelationshipNotFound { id } if id == "nope"),
        "{err:?}"
    );
    let err = b.delete_relationship("nope").await.unwrap_err();
    assert!(
        matches!(&err, Error::RelationshipNotFound { id } if id == "nope"),
        "{err:?}"
    );

    // Reads and touches of unknown ids are not errors.
    b.touch(&recalls(&["nope"], at(1, 0))).await.unwrap();
    assert!(b.get_memories(&ids(&["nope"])).await.unwrap().is_empty());
    assert!(
        b.summaries(&ids(&["nope"]), &Filter::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        b.relationships_of(&ids(&["nope"]), Direction::Both, &[], None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(get_one(b, "k1").await.unwrap().version, 1);
}

async fn ids_by_prefix(b: &dyn GraphBackend) {
    for id in ["abd1", "abc2", "abc1", "xyz"] {
        b.create_memory(&mem(id, "prefix", "x"), None)
            .await
            .unwrap();
    }
    relate_all(
        b,
        &[
            rel("ab9", "abc1", "abd1", "USES"),
            rel("ab8", "abc2", "abd1", "USES"),
        ],
    )
    .await;
    let found = |kind, prefix: &'static str, limit| async move {
        b.ids_with_prefix(kind, prefix, limit).await.unwrap()
    };
    assert_eq!(
        found(IdKind::Memory, "ab", 10).await,
        ["abc1", "abc2", "abd1"]
    );
    assert_eq!(found(IdKind::Memory, "abc", 10).await, ["abc1", "abc2"]);
    assert_eq!(found(IdKind::Memory, "abc", 1).await, ["abc1"]);
    assert_eq!(found(IdKind::Memory, "abc1", 10).await, ["abc1"]);
    assert!(found(IdKind::Memory, "zz", 10).await.is_empty());
    // Kinds do not mix.
    assert_eq!(found(IdKind::Relationship, "ab", 10).await, ["ab8", "ab9"]);
    b.delete_memory("abc1").await.unwrap();
    assert_eq!(found(IdKind::Memory, "abc", 10).await, ["abc2"]);
    assert_eq!(found(IdKind::Relationship, "ab", 10).await, ["ab8"]);
}

async fn delete_cascades(b: &dyn GraphBackend) {
    let e = embedding("m", &v8(&[1.0]));
    b.create_memory(&mem("da", "tango one", "x"), None)
        .await
        .unwrap();
    b.create_memory(&mem("db", "tango two", "x"), Some(&e))
        .await
        .unwrap();
    b.create_memory(&mem("dc", "tango three", "x"), None)
        .await
        .unwrap();
    relate_all(
        b,
        &[
            rel("ab", "da", "db", "USES"),
            rel("bc", "db", "dc", "USES"),
            rel("ca", "dc", "da", "USES"),
            rel("bb", "db", "db", "RELATED_TO"),
        ],
    )
    .await;

    // The answer is what went, by id: each relationship once, a loop included.
    let removed = b.delete_memory("db").await.unwrap();
    let removed: Vec<&str> = removed.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(removed, ["ab", "bb", "bc"]);
    assert_eq!(get_one(b, "db").await, None);
    let left = b
        .relationships_of(&ids(&["da", "db", "dc"]), Direction::Both, &[], None)
        .await
        .unwrap();
    assert_eq!(rel_ids(&left), BTreeSet::from(["ca"]));
    for gone in ["ab", "bc", "bb"] {
        let err = b.get_relationship(gone).await.unwrap_err();
        assert!(matches!(err, Error::RelationshipNotFound { .. }), "{err:?}");
    }
    let all = Filter::default();
    assert!(
        b.vector_search("m", &v8(&[1.0]), &all, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        set(&keyword_ids(b, "tango", &all).await),
        BTreeSet::from(["da", "dc"])
    );
    let stats = b.stats().await.unwrap();
    assert_eq!(
        (stats.memories, stats.relationships, stats.embedded),
        (2, 1, 0)
    );

    // The id can be used again and nothing of the old memory comes back.
    let (_, created) = b
        .create_memory(&mem("db", "fresh", "x"), None)
        .await
        .unwrap();
    assert_eq!(created, Created::New);
    let rels = b
        .relationships_of(&ids(&["db"]), Direction::Both, &[], None)
        .await
        .unwrap();
    assert!(rels.is_empty());
    assert!(
        b.vector_search("m", &v8(&[1.0]), &all, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(keyword_ids(b, "two", &all).await.is_empty());
}

/// One recall of each of `names` at `when`.
fn recalls(names: &[impl AsRef<str>], when: DateTime<Utc>) -> Vec<Access> {
    names
        .iter()
        .map(|id| Access::one(id.as_ref(), when))
        .collect()
}

async fn touch_records_access(b: &dyn GraphBackend) {
    create_all(b, &[mem("ta", "a", "a"), mem("tb", "b", "b")]).await;
    b.touch(&recalls(&["ta", "unknown"], at(30, 7)))
        .await
        .unwrap();
    let a = get_one(b, "ta").await.unwrap();
    assert_eq!((a.accessed_at, a.access_count), (Some(at(30, 7)), 1));
    // Access is bookkeeping, not an edit.
    assert_eq!((a.version, a.updated_at), (1, at(0, 0)));
    let untouched = get_one(b, "tb").await.unwrap();
    assert_eq!((untouched.accessed_at, untouched.access_count), (None, 0));

    b.touch(&recalls(&["ta", "tb"], at(40, 0))).await.unwrap();
    let both = b.get_memories(&ids(&["ta", "tb"])).await.unwrap();
    assert_eq!(both[0].access_count, 2);
    assert_eq!(both[1].access_count, 1);
    assert!(both.iter().all(|m| m.accessed_at == Some(at(40, 0))));

    // A batch of recalls: counts add up, and a time earlier than the recorded one (another
    // process recorded a later recall first) leaves it as it is.
    let batch = [
        Access {
            id: "ta".into(),
            count: 5,
            at: at(35, 0),
        },
        Access {
            id: "tb".into(),
            count: 2,
            at: at(45, 9),
        },
    ];
    b.touch(&batch).await.unwrap();
    let both = b.get_memories(&ids(&["ta", "tb"])).await.unwrap();
    assert_eq!(
        (both[0].access_count, both[0].accessed_at),
        (7, Some(at(40, 0)))
    );
    assert_eq!(
        (both[1].access_count, both[1].accessed_at),
        (3, Some(at(45, 9)))
    );
    b.touch(&[]).await.unwrap();
}

async fn list_filters(b: &dyn GraphBackend) {
    let make = |id: &str, kind: &str, tags: &[&str], project: Option<&str>, secs, imp| {
        let mut m = mem(id, id, "content");
        m.kind = kind.into();
        m.tags = tags.iter().map(|t| (*t).to_owned()).collect();
        m.context.project = project.map(Into::into);
        m.created_at = at(secs, 0);
        m.updated_at = at(secs, 0);
        m.importance = imp;
        m
    };
    create_all(
        b,
        &[
            make("l1", "fix", &["rust", "async"], Some("alpha"), 1, 0.9),
            make("l2", "note", &["rust"], Some("alpha"), 2, 0.3),
            make("l3", "decision", &["async"], Some("bravo"), 3, 0.6),
            make("l4", "fix", &[], None, 4, 0.5),
            make(
                "l5",
                "note",
                &["rust", "async", "db"],
                Some("bravo"),
                5,
                0.7,
            ),
        ],
    )
    .await;
    let check = async |filter: Filter, want: &[&str]| {
        assert_eq!(list_ids(b, &filter).await, want, "{filter:?}");
    };
    check(Filter::default(), &["l5", "l4", "l3", "l2", "l1"]).await;
    let kinds = |k: &[&str]| Filter {
        kinds: ids(k),
        ..Filter::default()
    };
    check(kinds(&["fix"]), &["l4", "l1"]).await;
    check(kinds(&["fix", "decision"]), &["l4", "l3", "l1"]).await;
    check(kinds(&["unknown"]), &[]).await;
    let tags = |t: &[&str]| Filter {
        tags: ids(t),
        ..Filter::default()
    };
    check(tags(&["rust"]), &["l5", "l2", "l1"]).await;
    check(tags(&["rust", "async"]), &["l5", "l1"]).await;
    check(tags(&["async", "rust", "db"]), &["l5"]).await;
    check(tags(&["rust", "missing"]), &[]).await;
    let project = |p: &str| Filter {
        project: Some(p.into()),
        ..Filter::default()
    };
    check(project("alpha"), &["l2", "l1"]).await;
    check(project("nowhere"), &[]).await;
    let since = |s| Filter {
        since: Some(s),
        ..Filter::default()
    };
    check(since(at(3, 0)), &["l5", "l4", "l3"]).await;
    check(since(at(2, 1)), &["l5", "l4", "l3"]).await;
    check(since(at(6, 0)), &[]).await;
    let min = |i| Filter {
        min_importance: Some(i),
        ..Filter::default()
    };
    check(min(0.6), &["l5", "l3", "l1"]).await;
    check(min(0.0), &["l5", "l4", "l3", "l2", "l1"]).await;
    check(min(0.95), &[]).await;
    check(
        Filter {
            kinds: ids(&["fix", "note"]),
            tags: ids(&["rust"]),
            project: Some("alpha".into()),
            since: Some(at(1, 0)),
            min_importance: Some(0.5),
        },
        &["l1"],
    )
    .await;
    check(
        Filter {
            kinds: ids(&["note"]),
            tags: ids(&["async"]),
            ..Filter::default()
        },
        &["l5"],
    )
    .await;
}

async fn list_pagination_visits_each_once(b: &dyn GraphBackend) {
    // 25 memories, three per timestamp (ties broken by id, descending), plus two a
    // microsecond apart.
    let mut all = Vec::new();
    for i in 0..25 {
        let mut m = mem(&format!("p{i:02}"), "page", "page");
        m.created_at = at(i / 3, 0);
        m.tags = if i % 2 == 0 {
            ids(&["even"])
        } else {
            Vec::new()
        };
        all.push(m);
    }
    all[23].created_at = at(100, 1);
    all[24].created_at = at(100, 2);
    create_all(b, &all).await;
    let mut expected: Vec<&Memory> = all.iter().collect();
    expected.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let expected: Vec<String> = expected.iter().map(|m| m.id.clone()).collect();
    assert_eq!(&expected[..2], ["p24", "p23"]);

    for limit in [1, 4, 5, 24, 25, 26] {
        let mut seen = Vec::new();
        let mut cursor: Option<Cursor> = None;
        let mut pages = 0;
        loop {
            let page = b
                .list_memories(&Filter::default(), cursor.as_ref(), limit)
                .await
                .unwrap();
            pages += 1;
            assert!(page.memories.len() <= limit);
            seen.extend(page.memories.iter().map(|m| m.id.clone()));
            match page.next_cursor {
                Some(text) => {
                    assert_eq!(
                        page.memories.len(),
                        limit,
                        "a partial page has no next page"
                    );
                    let decoded = Cursor::decode(&text).unwrap();
                    assert_eq!(decoded, Cursor::after(page.memories.last().unwrap()));
                    cursor = Some(decoded);
                }
                None => break,
            }
            assert!(pages <= 30, "pagination does not end");
        }
        assert_eq!(seen, expected, "limit {limit}");
        assert_eq!(
            pages,
            25usize.div_ceil(limit),
            "limit {limit}: no empty last page"
        );
    }

    // Filtered pagination.
    let even = Filter {
        tags: ids(&["even"]),
        ..Filter::default()
    };
    let want: Vec<&String> = expected
        .iter()
        .filter(|id| id[1..].parse::<u32>().unwrap() % 2 == 0)
        .collect();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = b.list_memories(&even, cursor.as_ref(), 3).await.unwrap();
        seen.extend(page.memories.into_iter().map(|m| m.id));
        match page.next_cursor {
            Some(text) => cursor = Some(Cursor::decode(&text).unwrap()),
            None => break,
        }
    }
    assert_eq!(seen.iter().collect::<Vec<_>>(), want);

    // A cursor is a position: deleting the memory it names does not lose the rest.
    let first = b.list_memories(&Filter::default(), None, 4).await.unwrap();
    let cursor = Cursor::decode(first.next_cursor.as_deref().unwrap()).unwrap();
    b.delete_memory(&first.memories[3].id).await.unwrap();
    let second = b
        .list_memories(&Filter::default(), Some(&cursor), 4)
        .await
        .unwrap();
    let second: Vec<String> = second.memories.into_iter().map(|m| m.id).collect();
    assert_eq!(second, expected[4..8]);
    // A cursor past the end gives an empty last page.
    let end = Cursor {
        created_at_micros: at(-1000, 0).timestamp_micros(),
        id: "p".into(),
    };
    let page = b
        .list_memories(&Filter::default(), Some(&end), 4)
        .await
        .unwrap();
    assert!(page.memories.is_empty());
    assert_eq!(page.next_cursor, None);
}

async fn keyword_search_survives_hostile_queries(b: &dyn GraphBackend) {
    let mut target = mem("kw1", "alpha bravo", "stay near the exit: column title");
    target.tags = vec!["zulu".into()];
    create_all(b, &[target, mem("kw2", "other", "unrelated words")]).await;
    let hostile = [
        r#""alpha""#,
        "alpha*",
        "-alpha",
        "alpha NEAR bravo",
        "NEAR(alpha bravo, 3)",
        "NEAR/2",
        "alpha AND bravo",
        "alpha OR",
        "NOT alpha",
        "AND OR NOT",
        "(alpha",
        "alpha)",
        "((alpha)) OR (",
        "title:alpha",
        "content:",
        "{title content}: alpha",
        "^alpha",
        "alpha + bravo",
        "alpha:*",
        "🚀🔥 alpha 🎉",
        "'; DROP TABLE memories; --",
        "\"unterminated alpha",
        "a\"b\"c",
        "\\ alpha \\\\",
        "%_ alpha %",
        "*",
        "\"\"",
        "alpha\0bravo",
        "ü ñ é 中文 検索",
        "rowid:1",
        "memories_fts:alpha",
        "zulu*",
        "near",
    ];
    let all = Filter::default();
    for q in hostile {
        let terms = query_terms(q);
        let hits = b
            .keyword_search(&terms, &all, 10)
            .await
            .unwrap_or_else(|e| panic!("query {q:?} (terms {terms:?}) failed: {e}"));
        let found: Vec<&str> = hits.iter().map(|h| h.memory.id.as_str()).collect();
        if ["alpha", "bravo", "zulu", "near", "column", "title"]
            .iter()
            .any(|w| terms.iter().any(|t| t == w))
        {
            assert!(
                found.contains(&"kw1"),
                "query {q:?} (terms {terms:?}) missed kw1"
            );
        }
        assert!(!found.contains(&"kw2"), "query {q:?} found kw2");
    }
    // Terms that are not words at all are plain text too.
    for raw in [
        ids(&["\"", "*", "NEAR", "AND", ")", ":", "^"]),
        ids(&["alpha\"", "-"]),
    ] {
        b.keyword_search(&raw, &all, 10)
            .await
            .unwrap_or_else(|e| panic!("raw terms {raw:?} failed: {e}"));
    }
    assert!(b.keyword_search(&[], &all, 10).await.unwrap().is_empty());
}

async fn keyword_search_fields_ranking_filters(b: &dyn GraphBackend) {
    let mut by_title = mem("kt", "tango rollout", "deploy the service in stages");
    by_title.kind = "decision".into();
    let by_content = mem("kc", "rollout notes", "we chose tango after a long review");
    let mut by_tag = mem("kg", "rollout plan", "phased deployment");
    by_tag.tags = vec!["tango".into(), "ops".into()];
    by_tag.importance = 0.9;
    let mut other = mem("ko", "zulu", "nothing to see");
    other.tags = vec!["misc".into()];
    create_all(b, &[by_title, by_content, by_tag, other]).await;

    let all = Filter::default();
    let hits = b
        .keyword_search(&query_terms("Tango"), &all, 10)
        .await
        .unwrap();
    let found: Vec<&str> = hits.iter().map(|h| h.memory.id.as_str()).collect();
    assert_eq!(found.len(), 3, "{found:?}");
    // A tag match weighs twice; a title word counts 0.75 of a content word, so the memory
    // quoting it in its content comes before the one naming it in its title.
    assert_eq!(found, ["kg", "kc", "kt"]);
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(
        hits.iter().all(|h| h.score > 0.0),
        "higher is better and positive"
    );
    for hit in &hits {
        assert!(
            hit.snippet.to_lowercase().contains("[tango]"),
            "snippet {:?} of {}",
            hit.snippet,
            hit.memory.id
        );
    }
    assert_eq!(hits[2].memory.kind, "decision", "hits carry whole memories");
    // The matches without snippets are the same hits, in the same order.
    let matches = b
        .keyword_matches(&query_terms("Tango"), &all, 10)
        .await
        .unwrap();
    let matched: Vec<(&Memory, f64)> = matches.iter().map(|m| (&m.memory, m.score)).collect();
    let shown: Vec<(&Memory, f64)> = hits.iter().map(|h| (&h.memory, h.score)).collect();
    assert_eq!(matched, shown);

    // Any term matches.
    assert_eq!(
        set(&keyword_ids(b, "tango zulu", &all).await),
        BTreeSet::from(["kt", "kg", "kc", "ko"])
    );
    // Words inside content and tags are found on their own.
    assert_eq!(keyword_ids(b, "review", &all).await, ["kc"]);
    assert_eq!(keyword_ids(b, "ops", &all).await, ["kg"]);
    assert!(keyword_ids(b, "absent", &all).await.is_empty());

    // Filters apply before the limit.
    let notes = Filter {
        kinds: ids(&["note"]),
        ..Filter::default()
    };
    assert_eq!(keyword_ids(b, "tango", &notes).await, ["kg", "kc"]);
    let important = Filter {
        min_importance: Some(0.8),
        ..Filter::default()
    };
    let hits = b
        .keyword_search(&query_terms("tango"), &important, 1)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].memory.id, "kg");
    let tagged = Filter {
        tags: ids(&["misc"]),
        ..Filter::default()
    };
    assert!(keyword_ids(b, "tango", &tagged).await.is_empty());
    let limited = b
        .keyword_search(&query_terms("tango"), &all, 2)
        .await
        .unwrap();
    let limited: Vec<&str> = limited.iter().map(|h| h.memory.id.as_str()).collect();
    assert_eq!(limited, ["kg", "kc"]);
}

async fn keyword_search_follows_updates(b: &dyn GraphBackend) {
    create_all(b, &[mem("ku", "alpha title", "bravo content")]).await;
    let all = Filter::default();
    let patch = MemoryPatch {
        title: Some("delta title".into()),
        tags: Some(vec!["kilo".into()]),
        ..MemoryPatch::default()
    };
    b.update_memory("ku", &patch, EmbeddingChange::Clear, None, at(1, 0))
        .await
        .unwrap();
    assert!(keyword_ids(b, "alpha", &all).await.is_empty());
    assert_eq!(keyword_ids(b, "delta", &all).await, ["ku"]);
    assert_eq!(keyword_ids(b, "kilo", &all).await, ["ku"]);
    assert_eq!(keyword_ids(b, "bravo", &all).await, ["ku"]);
    // Changing what is not indexed keeps the index right too.
    let patch = MemoryPatch {
        importance: Some(0.9),
        ..MemoryPatch::default()
    };
    b.update_memory("ku", &patch, EmbeddingChange::Keep, None, at(2, 0))
        .await
        .unwrap();
    assert_eq!(keyword_ids(b, "delta", &all).await, ["ku"]);
    b.delete_memory("ku").await.unwrap();
    assert!(keyword_ids(b, "delta", &all).await.is_empty());
}

/// Enough memories to cross the full-text index's batches on a replicated store (its newest
/// memories wait in a tail, indexed 32 at a time): every memory is found the moment it is
/// written, changes and deletes are followed on both sides, filters apply to the tail, and
/// the index stays consistent.
async fn keyword_search_across_index_batches(b: &dyn GraphBackend) {
    let all = Filter::default();
    let memories: Vec<Memory> = (0..70)
        .map(|i| {
            let mut m = mem(&format!("xb{i:02}"), &format!("word{i}"), "shared item");
            m.kind = if i % 2 == 0 { "fix" } else { "note" }.into();
            m
        })
        .collect();
    create_all(b, &memories).await;
    for i in [0, 31, 32, 63, 64, 69] {
        assert_eq!(
            keyword_ids(b, &format!("word{i}"), &all).await,
            [format!("xb{i:02}")]
        );
    }
    for (id, word) in [("xb05", "renamed5"), ("xb66", "renamed66")] {
        let patch = MemoryPatch {
            title: Some(word.into()),
            ..MemoryPatch::default()
        };
        b.update_memory(id, &patch, EmbeddingChange::Keep, None, at(1, 0))
            .await
            .unwrap();
        assert_eq!(keyword_ids(b, word, &all).await, [id]);
    }
    for id in ["xb10", "xb69"] {
        b.delete_memory(id).await.unwrap();
    }
    for gone in ["word5", "word66", "word10", "word69"] {
        assert!(keyword_ids(b, gone, &all).await.is_empty(), "{gone}");
    }
    let terms = query_terms("shared");
    let shared = b.keyword_search(&terms, &all, 100).await.unwrap();
    assert_eq!(shared.len(), 68);
    let fixes = Filter {
        kinds: vec!["fix".into()],
        ..Filter::default()
    };
    let shared_fixes = b.keyword_search(&terms, &fixes, 100).await.unwrap();
    assert_eq!(shared_fixes.len(), 34);
    assert!(shared_fixes.iter().all(|h| h.memory.kind == "fix"));
    let words = vec!["shared".to_owned(), "renamed66".to_owned()];
    let holding = b.memories_holding(&words, 16).await.unwrap();
    let holding: Vec<&str> = holding.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(holding, ["xb66"]);
    let checks = b.check_integrity().await.unwrap();
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
}

async fn vector_search_order_filter_models(b: &dyn GraphBackend) {
    let q = v8(&[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    let vectors: [(&str, &str, Vec<f32>); 6] = [
        ("v1", "a", v8(&[0.9, 0.1, 0.0, 0.05])),
        ("v2", "a", v8(&[0.5, 0.5, 0.2])),
        ("v3", "a", v8(&[0.0, 1.0, 0.3])),
        ("v4", "a", v8(&[-1.0, 0.2])),
        ("vb", "b", q.clone()),
        ("vs", "a", vec![1.0, 0.0, 0.0, 0.0]),
    ];
    for (i, (id, model, v)) in vectors.iter().enumerate() {
        let mut m = mem(id, id, "vector");
        m.kind = if i == 0 { "fix".into() } else { "note".into() };
        b.create_memory(&m, Some(&embedding(model, v)))
            .await
            .unwrap();
    }
    b.create_memory(&mem("vn", "no vector", "none"), None)
        .await
        .unwrap();

    let all = Filter::default();
    let hits = b.vector_search("a", &q, &all, 10).await.unwrap();
    let found: Vec<&str> = hits.iter().map(|h| h.memory.id.as_str()).collect();
    assert_eq!(
        found,
        ["v1", "v2", "v3", "v4"],
        "stored vectors of another length are skipped"
    );
    let cos = |v: &[f32]| {
        let dot: f32 = v.iter().zip(&q).map(|(a, b)| a * b).sum();
        let n = |x: &[f32]| x.iter().map(|a| a * a).sum::<f32>().sqrt();
        dot / (n(v) * n(&q))
    };
    for (hit, (_, _, v)) in hits.iter().zip(&vectors) {
        assert!(
            (hit.similarity - cos(v)).abs() < 1e-3,
            "{}: similarity {} want {}",
            hit.memory.id,
            hit.similarity,
            cos(v)
        );
    }
    assert!(hits[3].similarity < 0.0);

    // Limit and filter.
    let top2 = b.vector_search("a", &q, &all, 2).await.unwrap();
    let top2: Vec<&str> = top2.iter().map(|h| h.memory.id.as_str()).collect();
    assert_eq!(top2, ["v1", "v2"]);
    let notes = Filter {
        kinds: ids(&["note"]),
        ..Filter::default()
    };
    let hits = b.vector_search("a", &q, &notes, 2).await.unwrap();
    let hits: Vec<&str> = hits.iter().map(|h| h.memory.id.as_str()).collect();
    assert_eq!(hits, ["v2", "v3"], "the filter applies before the limit");

    // Models never mix.
    let hits = b.vector_search("b", &q, &all, 10).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].memory.id, "vb");
    assert!((hits[0].similarity - 1.0).abs() < 1e-3);
    assert!(b.vector_search("c", &q, &all, 10).await.unwrap().is_empty());
    // A query of the short length only sees the short vector.
    let short = b
        .vector_search("a", &[1.0, 0.0, 0.0, 0.0], &all, 10)
        .await
        .unwrap();
    let short: Vec<&str> = short.iter().map(|h| h.memory.id.as_str()).collect();
    assert_eq!(short, ["vs"]);
}

// ---------------------------------------------------------------------------------------------
// Scenarios: relationships

fn full_rel(id: &str, source: &str, target: &str) -> Relationship {
    let mut properties = Map::new();
    properties.insert("evidence".into(), json!(["commit a6c9b10", "issue 7"]));
    properties.insert("weight".into(), json!(1.5));
    Relationship {
        note: Some("fixed by splitting the borrow — ✓".into()),
        properties,
        strength: 0.8,
        confidence: 0.6,
        valid_from: Some(at(-100, 42)),
        valid_to: Some(at(1_000_000, 999_999)),
        created_at: at(5, 500_001),
        updated_at: at(6, 7),
        ..rel(id, source, target, "SOLVES")
    }
}

async fn relationship_round_trip_and_replay(b: &dyn GraphBackend) {
    create_all(b, &[mem("fa", "a", "a"), mem("fb", "b", "b")]).await;
    let r = full_rel("fr", "fa", "fb");
    let (stored, created) = b.create_relationship(&r).await.unwrap();
    assert_eq!(created, Created::New);
    assert_eq!(stored, r);
    assert_eq!(b.get_relationship("fr").await.unwrap(), r);

    let mut replay = r.clone();
    replay.created_at = at(99, 0);
    replay.updated_at = at(99, 0);
    replay.version = 5;
    let (stored, created) = b.create_relationship(&replay).await.unwrap();
    assert_eq!(created, Created::Existing);
    assert_eq!(stored, r);

    for change in [
        |r: &mut Relationship| r.strength = 0.1,
        |r: &mut Relationship| r.confidence = 0.1,
        |r: &mut Relationship| r.note = None,
        |r: &mut Relationship| r.properties = Map::new(),
        |r: &mut Relationship| r.valid_from = None,
        |r: &mut Relationship| r.valid_to = Some(at(1, 0)),
        |r: &mut Relationship| r.rel_type = "CAUSES".into(),
        |r: &mut Relationship| std::mem::swap(&mut r.source_id, &mut r.target_id),
    ] {
        let mut other = r.clone();
        change(&mut other);
        let err = b.create_relationship(&other).await.unwrap_err();
        assert!(
            matches!(&err, Error::IdConflict { what: "relationship", id } if id == "fr"),
            "{other:?}: {err:?}"
        );
    }
    assert_eq!(b.get_relationship("fr").await.unwrap(), r);

    // A bare relationship round-trips too.
    let bare = rel("fs", "fb", "fa", "RELATED_TO");
    b.create_relationship(&bare).await.unwrap();
    assert_eq!(b.get_relationship("fs").await.unwrap(), bare);
}

async fn relationship_errors(b: &dyn GraphBackend) {
    create_all(b, &[mem("ea", "a", "a"), mem("eb", "b", "b")]).await;
    let err = b
        .create_relationship(&rel("x1", "ghost", "eb", "USES"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownEndpoint { id } if id == "ghost"),
        "{err:?}"
    );
    let err = b
        .create_relationship(&rel("x2", "ea", "phantom", "USES"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownEndpoint { id } if id == "phantom"),
        "{err:?}"
    );
    let err = b
        .create_relationship(&rel("x3", "ghost", "phantom", "USES"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownEndpoint { id } if id == "ghost"),
        "the source is checked first: {err:?}"
    );
    assert_eq!(b.stats().await.unwrap().relationships, 0);

    b.create_relationship(&rel("r1", "ea", "eb", "USES"))
        .await
        .unwrap();
    let err = b
        .create_relationship(&rel("r2", "ea", "eb", "USES"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::RelationshipExists { id, source_id, target_id, rel_type }
            if id == "r1" && source_id == "ea" && target_id == "eb" && rel_type == "USES"),
        "{err:?}"
    );
    // Another type, or the other direction, is another edge.
    b.create_relationship(&rel("r3", "ea", "eb", "CAUSES"))
        .await
        .unwrap();
    b.create_relationship(&rel("r4", "eb", "ea", "USES"))
        .await
        .unwrap();
    // A self-loop is an edge like any other.
    b.create_relationship(&rel("r5", "ea", "ea", "USES"))
        .await
        .unwrap();
    let all = b
        .relationships_of(&ids(&["ea", "eb"]), Direction::Both, &[], None)
        .await
        .unwrap();
    assert_eq!(rel_ids(&all), BTreeSet::from(["r1", "r3", "r4", "r5"]));
}

async fn relationship_update_and_delete(b: &dyn GraphBackend) {
    create_all(b, &[mem("ua", "a", "a"), mem("ub", "b", "b")]).await;
    let r = full_rel("ur", "ua", "ub");
    b.create_relationship(&r).await.unwrap();

    let mut props = Map::new();
    props.insert("k".into(), Value::from("v"));
    let patch = RelationshipPatch {
        strength: Some(0.25),
        confidence: Some(0.5),
        note: Some(Some("new note".into())),
        properties: Some(props.clone()),
        valid_from: Some(Some(at(10, 1))),
        valid_to: Some(None),
    };
    let now = at(20, 654_321);
    let updated = b
        .update_relationship("ur", &patch, Some(1), now)
        .await
        .unwrap();
    let mut want = r.clone();
    want.strength = 0.25;
    want.confidence = 0.5;
    want.note = Some("new note".into());
    want.properties = props;
    want.valid_from = Some(at(10, 1));
    want.valid_to = None;
    want.version = 2;
    want.updated_at = now;
    assert_eq!(updated, want);
    assert_eq!(b.get_relationship("ur").await.unwrap(), want);

    // Some(None) clears, None keeps.
    let patch = RelationshipPatch {
        note: Some(None),
        valid_from: Some(None),
        ..RelationshipPatch::default()
    };
    let updated = b
        .update_relationship("ur", &patch, None, at(21, 0))
        .await
        .unwrap();
    want.note = None;
    want.valid_from = None;
    want.version = 3;
    want.updated_at = at(21, 0);
    assert_eq!(updated, want);
    assert_eq!(b.get_relationship("ur").await.unwrap(), want);

    b.delete_relationship("ur").await.unwrap();
    let err = b.get_relationship("ur").await.unwrap_err();
    assert!(
        matches!(&err, Error::RelationshipNotFound { id } if id == "ur"),
        "{err:?}"
    );
    let err = b.delete_relationship("ur").await.unwrap_err();
    assert!(matches!(err, Error::RelationshipNotFound { .. }), "{err:?}");
    // Deleting an edge leaves its memories, and frees its (source, target, type).
    assert_eq!(b.get_memories(&ids(&["ua", "ub"])).await.unwrap().len(), 2);
    let (_, created) = b
        .create_relationship(&rel("ur2", "ua", "ub", "SOLVES"))
        .await
        .unwrap();
    assert_eq!(created, Created::New);
}

async fn relationships_of_direction_types_validity(b: &dyn GraphBackend) {
    create_all(
        b,
        &[
            mem("oa", "a", "a"),
            mem("ob", "b", "b"),
            mem("oc", "c", "c"),
            mem("od", "d", "d"),
        ],
    )
    .await;
    let mut expired = rel("cd", "oc", "od", "USES");
    expired.valid_to = Some(at(100, 0));
    let mut future = rel("da", "od", "oa", "CAUSES");
    future.valid_from = Some(at(500, 0));
    let mut window = rel("ac", "oa", "oc", "RELATED_TO");
    window.valid_from = Some(at(50, 0));
    window.valid_to = Some(at(150, 0));
    relate_all(
        b,
        &[
            rel("ab", "oa", "ob", "USES"),
            rel("bc", "ob", "oc", "CAUSES"),
            expired,
            future,
            window,
        ],
    )
    .await;

    let of = async |from: &[&str], dir, types: &[&str], valid_at| {
        let rels = b
            .relationships_of(&ids(from), dir, &ids(types), valid_at)
            .await
            .unwrap();
        let mut got: Vec<String> = rels.into_iter().map(|r| r.id).collect();
        got.sort();
        got
    };
    assert_eq!(
        of(&["oa"], Direction::Outgoing, &[], None).await,
        ["ab", "ac"]
    );
    assert_eq!(of(&["oa"], Direction::Incoming, &[], None).await, ["da"]);
    assert_eq!(
        of(&["oa"], Direction::Both, &[], None).await,
        ["ab", "ac", "da"]
    );
    assert_eq!(
        of(&["oa", "oc"], Direction::Outgoing, &[], None).await,
        ["ab", "ac", "cd"]
    );
    assert_eq!(
        of(&["oa", "ob"], Direction::Both, &[], None).await,
        ["ab", "ac", "bc", "da"],
        "an edge between two asked ids comes once"
    );
    assert_eq!(of(&["oa"], Direction::Both, &["USES"], None).await, ["ab"]);
    assert_eq!(
        of(&["oa"], Direction::Both, &["USES", "CAUSES"], None).await,
        ["ab", "da"]
    );
    assert!(
        of(&["oa"], Direction::Both, &["NONE"], None)
            .await
            .is_empty()
    );
    assert!(of(&[], Direction::Both, &[], None).await.is_empty());
    // Validity: from inclusive, to exclusive.
    let all = ["oa", "ob", "oc", "od"];
    assert_eq!(
        of(&all, Direction::Both, &[], Some(at(0, 0))).await,
        ["ab", "bc", "cd"]
    );
    assert_eq!(
        of(&all, Direction::Both, &[], Some(at(50, 0))).await,
        ["ab", "ac", "bc", "cd"]
    );
    assert_eq!(
        of(&all, Direction::Both, &[], Some(at(100, 0))).await,
        ["ab", "ac", "bc"]
    );
    assert_eq!(
        of(&all, Direction::Both, &[], Some(at(99, 999_999))).await,
        ["ab", "ac", "bc", "cd"]
    );
    assert_eq!(
        of(&all, Direction::Both, &[], Some(at(500, 0))).await,
        ["ab", "bc", "da"]
    );
    assert_eq!(
        of(&all, Direction::Incoming, &["CAUSES"], Some(at(600, 0))).await,
        ["bc", "da"]
    );
}

async fn summaries_filter(b: &dyn GraphBackend) {
    let mut a = mem("sa", "a", "a");
    a.kind = "fix".into();
    a.tags = ids(&["x"]);
    a.importance = 0.8;
    let bm = mem("sb", "b", "b");
    create_all(b, &[a.clone(), bm.clone()]).await;
    let mut got = b
        .summaries(&ids(&["sb", "sa", "missing"]), &Filter::default())
        .await
        .unwrap();
    got.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(got, [a.summary(), bm.summary()]);
    let fixes = Filter {
        kinds: ids(&["fix"]),
        ..Filter::default()
    };
    assert_eq!(
        b.summaries(&ids(&["sa", "sb"]), &fixes).await.unwrap(),
        [a.summary()]
    );
    assert!(
        b.summaries(&[], &Filter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// Scenarios: walks

/// a → b → c → d (DEPENDS_ON, strength 0.9) and a → e (USES, 0.5).
async fn chain(b: &dyn GraphBackend) {
    let mut memories: Vec<Memory> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|id| mem(id, id, id))
        .collect();
    memories[2].kind = "excluded".into();
    create_all(b, &memories).await;
    let strong = |id, s, t| Relationship {
        strength: 0.9,
        ..rel(id, s, t, "DEPENDS_ON")
    };
    relate_all(
        b,
        &[
            strong("ab", "a", "b"),
            strong("bc", "b", "c"),
            strong("cd", "c", "d"),
            rel("ae", "a", "e", "USES"),
        ],
    )
    .await;
}

fn reached(ns: &[mnemograph::model::Neighbour]) -> BTreeMap<String, (u32, String)> {
    ns.iter()
        .map(|n| (n.memory.id.clone(), (n.depth, n.via.id.clone())))
        .collect()
}

fn reach(pairs: &[(&str, u32, &str)]) -> BTreeMap<String, (u32, String)> {
    pairs
        .iter()
        .map(|(id, d, via)| ((*id).to_owned(), (*d, (*via).to_owned())))
        .collect()
}

async fn walk_multi_hop(b: &dyn GraphBackend) {
    chain(b).await;
    let walk = |direction, depth, rel_types: &[&str]| Traversal {
        direction,
        depth,
        rel_types: ids(rel_types),
        ..Traversal::default()
    };
    let ns = neighbours(b, "a", &walk(Direction::Outgoing, 2, &[]))
        .await
        .unwrap();
    assert_eq!(
        reached(&ns),
        reach(&[("b", 1, "ab"), ("e", 1, "ae"), ("c", 2, "bc")])
    );
    // Nearest first.
    assert!(ns.windows(2).all(|w| w[0].depth <= w[1].depth));
    let ns = neighbours(b, "a", &walk(Direction::Outgoing, 3, &[]))
        .await
        .unwrap();
    assert_eq!(
        reached(&ns),
        reach(&[
            ("b", 1, "ab"),
            ("e", 1, "ae"),
            ("c", 2, "bc"),
            ("d", 3, "cd")
        ])
    );
    let ns = neighbours(b, "a", &walk(Direction::Outgoing, 1, &[]))
        .await
        .unwrap();
    assert_eq!(reached(&ns), reach(&[("b", 1, "ab"), ("e", 1, "ae")]));
    // Direction.
    let ns = neighbours(b, "a", &walk(Direction::Incoming, 3, &[]))
        .await
        .unwrap();
    assert!(ns.is_empty());
    let ns = neighbours(b, "d", &walk(Direction::Incoming, 2, &[]))
        .await
        .unwrap();
    assert_eq!(reached(&ns), reach(&[("c", 1, "cd"), ("b", 2, "bc")]));
    let ns = neighbours(b, "c", &walk(Direction::Both, 1, &[]))
        .await
        .unwrap();
    assert_eq!(reached(&ns), reach(&[("b", 1, "bc"), ("d", 1, "cd")]));
    let ns = neighbours(b, "e", &walk(Direction::Both, 2, &[]))
        .await
        .unwrap();
    assert_eq!(reached(&ns), reach(&[("a", 1, "ae"), ("b", 2, "ab")]));
    // Relationship types.
    let ns = neighbours(b, "a", &walk(Direction::Outgoing, 3, &["DEPENDS_ON"]))
        .await
        .unwrap();
    assert_eq!(
        reached(&ns),
        reach(&[("b", 1, "ab"), ("c", 2, "bc"), ("d", 3, "cd")])
    );
    let ns = neighbours(b, "b", &walk(Direction::Both, 3, &["USES"]))
        .await
        .unwrap();
    assert!(ns.is_empty());
    // An unknown start reaches nothing.
    let ns = neighbours(b, "zz", &walk(Direction::Both, 3, &[]))
        .await
        .unwrap();
    assert!(ns.is_empty());
    // Subgraph of the whole chain.
    let sg = subgraph(b, &ids(&["a"]), &walk(Direction::Both, 5, &[]))
        .await
        .unwrap();
    let nodes: BTreeSet<&str> = sg.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(nodes, BTreeSet::from(["a", "b", "c", "d", "e"]));
    assert_eq!(rel_ids(&sg.edges), BTreeSet::from(["ab", "bc", "cd", "ae"]));
    assert!(!sg.truncated);
}

async fn walk_filter_blocks_paths(b: &dyn GraphBackend) {
    chain(b).await;
    // c fails the filter: neither c nor d behind it is reached.
    let t = Traversal {
        direction: Direction::Outgoing,
        depth: 3,
        filter: Filter {
            kinds: ids(&["note"]),
            ..Filter::default()
        },
        ..Traversal::default()
    };
    let ns = neighbours(b, "a", &t).await.unwrap();
    assert_eq!(reached(&ns), reach(&[("b", 1, "ab"), ("e", 1, "ae")]));
    let sg = subgraph(b, &ids(&["a"]), &t).await.unwrap();
    let nodes: BTreeSet<&str> = sg.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(nodes, BTreeSet::from(["a", "b", "e"]));
    assert_eq!(rel_ids(&sg.edges), BTreeSet::from(["ab", "ae"]));
    // With a way around c, d is reached through it.
    b.create_relationship(&rel("bd", "b", "d", "USES"))
        .await
        .unwrap();
    let ns = neighbours(b, "a", &t).await.unwrap();
    assert_eq!(
        reached(&ns),
        reach(&[("b", 1, "ab"), ("e", 1, "ae"), ("d", 2, "bd")])
    );
}

async fn walk_expired_and_truncation(b: &dyn GraphBackend) {
    chain(b).await;
    let mut expired = rel("da", "d", "a", "CAUSES");
    expired.valid_to = Some(at(0, 0));
    b.create_relationship(&expired).await.unwrap();
    let t = Traversal {
        direction: Direction::Both,
        depth: 1,
        ..Traversal::default()
    };
    let ns = neighbours(b, "a", &t).await.unwrap();
    assert_eq!(reached(&ns), reach(&[("b", 1, "ab"), ("e", 1, "ae")]));
    let t = Traversal {
        include_expired: true,
        ..t
    };
    let ns = neighbours(b, "a", &t).await.unwrap();
    assert_eq!(
        reached(&ns),
        reach(&[("b", 1, "ab"), ("e", 1, "ae"), ("d", 1, "da")])
    );

    // The node cap: seeds count, stronger edges are followed first.
    let t = Traversal {
        direction: Direction::Outgoing,
        depth: 3,
        max_nodes: 3,
        ..Traversal::default()
    };
    let sg = subgraph(b, &ids(&["a"]), &t).await.unwrap();
    assert!(sg.truncated);
    let nodes: Vec<&str> = sg.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(nodes, ["a", "b", "e"]);
    assert_eq!(rel_ids(&sg.edges), BTreeSet::from(["ab", "ae"]));
    let t = Traversal { max_nodes: 2, ..t };
    let sg = subgraph(b, &ids(&["a"]), &t).await.unwrap();
    assert!(sg.truncated);
    let nodes: Vec<&str> = sg.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(nodes, ["a", "b"]);
    let t = Traversal { max_nodes: 5, ..t };
    let sg = subgraph(b, &ids(&["a"]), &t).await.unwrap();
    assert!(!sg.truncated);
    assert_eq!(sg.nodes.len(), 5);
}

async fn subgraph_closes_last_level(b: &dyn GraphBackend) {
    create_all(
        b,
        &[
            mem("x", "x", "x"),
            mem("y", "y", "y"),
            mem("z", "z", "z"),
            mem("w", "w", "w"),
        ],
    )
    .await;
    relate_all(
        b,
        &[
            rel("xy", "x", "y", "USES"),
            rel("yz", "y", "z", "USES"),
            rel("xz", "x", "z", "USES"),
            rel("zw", "z", "w", "USES"),
        ],
    )
    .await;
    let t = Traversal {
        direction: Direction::Both,
        depth: 1,
        ..Traversal::default()
    };
    let sg = subgraph(b, &ids(&["y"]), &t).await.unwrap();
    let nodes: BTreeSet<&str> = sg.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(nodes, BTreeSet::from(["x", "y", "z"]));
    assert_eq!(
        rel_ids(&sg.edges),
        BTreeSet::from(["xy", "yz", "xz"]),
        "the edge between the two outer memories belongs to the subgraph"
    );
    // Several seeds.
    let sg = subgraph(b, &ids(&["x", "w"]), &Traversal { depth: 0, ..t })
        .await
        .unwrap();
    let nodes: BTreeSet<&str> = sg.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(nodes, BTreeSet::from(["x", "w"]));
    assert!(sg.edges.is_empty());
}

async fn stats_counts(b: &dyn GraphBackend) {
    let empty = b.stats().await.unwrap();
    assert_eq!(
        (empty.memories, empty.relationships, empty.embedded),
        (0, 0, 0)
    );
    assert!(empty.by_kind.is_empty() && empty.by_rel_type.is_empty());
    let kinds = [
        ("s1", "fix"),
        ("s2", "fix"),
        ("s3", "note"),
        ("s4", "decision"),
    ];
    for (i, (id, kind)) in kinds.iter().enumerate() {
        let mut m = mem(id, id, id);
        m.kind = (*kind).into();
        let e = (i < 2).then(|| embedding(if i == 0 { "a" } else { "b" }, &v8(&[1.0])));
        b.create_memory(&m, e.as_ref()).await.unwrap();
    }
    relate_all(
        b,
        &[
            rel("r1", "s1", "s2", "USES"),
            rel("r2", "s2", "s3", "USES"),
            rel("r3", "s3", "s4", "CAUSES"),
            rel("r4", "s4", "s1", "USES"),
            rel("r5", "s1", "s3", "SOLVES"),
            rel("r6", "s2", "s4", "SOLVES"),
        ],
    )
    .await;
    let s = b.stats().await.unwrap();
    assert_eq!((s.memories, s.relationships, s.embedded), (4, 6, 2));
    let pairs = |p: &[(&str, u64)]| -> Vec<(String, u64)> {
        p.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
    };
    assert_eq!(
        s.by_kind,
        pairs(&[("fix", 2), ("decision", 1), ("note", 1)])
    );
    assert_eq!(
        s.by_rel_type,
        pairs(&[("USES", 3), ("SOLVES", 2), ("CAUSES", 1)])
    );
    b.delete_memory("s1").await.unwrap();
    let s = b.stats().await.unwrap();
    assert_eq!((s.memories, s.relationships, s.embedded), (3, 3, 1));
    assert_eq!(
        s.by_kind,
        pairs(&[("decision", 1), ("fix", 1), ("note", 1)])
    );
    assert_eq!(
        s.by_rel_type,
        pairs(&[("CAUSES", 1), ("SOLVES", 1), ("USES", 1)])
    );
}

async fn keyword_search_ties_by_id(b: &dyn GraphBackend) {
    // Equal texts score equally: ties come in id order, so a limit inside a tie is stable.
    create_all(
        b,
        &[
            mem("tie-c", "sierra", "same body"),
            mem("tie-a", "sierra", "same body"),
            mem("tie-b", "sierra", "same body"),
        ],
    )
    .await;
    let all = Filter::default();
    let hits = b
        .keyword_search(&query_terms("sierra"), &all, 3)
        .await
        .unwrap();
    assert!(hits.windows(2).all(|w| w[0].score == w[1].score));
    let got: Vec<&str> = hits.iter().map(|h| h.memory.id.as_str()).collect();
    assert_eq!(got, ["tie-a", "tie-b", "tie-c"]);
    let first = b
        .keyword_search(&query_terms("sierra"), &all, 1)
        .await
        .unwrap();
    assert_eq!(first[0].memory.id, "tie-a");
}

async fn neighbours_in_time_follow_creation_order(b: &dyn GraphBackend) {
    let make = |id: &str, kind: &str, secs| {
        let mut m = mem(id, id, "turn");
        m.kind = kind.into();
        m.created_at = at(secs, 0);
        m.updated_at = at(secs, 0);
        m
    };
    // n3 and n3b were stored in the same microsecond: the id orders them, as listings do.
    let memories = [
        make("n1", "fix", 1),
        make("n2", "note", 2),
        make("n3", "note", 3),
        make("n3b", "note", 3),
        make("n4", "fix", 4),
        make("n5", "note", 5),
    ];
    create_all(b, &memories).await;
    let by_id = |id: &str| memories.iter().find(|m| m.id == id).unwrap().clone();
    let beside = |anchors: &[&str], steps: usize, filter: Filter| {
        let anchors: Vec<Memory> = anchors.iter().map(|id| by_id(id)).collect();
        async move {
            let mut found: Vec<(String, String)> = b
                .neighbours_in_time(&anchors, steps, &filter)
                .await
                .unwrap()
                .into_iter()
                .map(|(anchor, m)| (anchor, m.id))
                .collect();
            found.sort();
            found
        }
    };
    let pair = |a: &str, m: &str| (a.to_owned(), m.to_owned());
    assert_eq!(
        beside(&["n3", "n1", "n5"], 1, Filter::default()).await,
        [
            pair("n1", "n2"),
            pair("n3", "n2"),
            pair("n3", "n3b"),
            pair("n5", "n4")
        ]
    );
    // Two steps: the next ones out on each side, where there are any.
    assert_eq!(
        beside(&["n3", "n1"], 2, Filter::default()).await,
        [
            pair("n1", "n2"),
            pair("n1", "n3"),
            pair("n3", "n1"),
            pair("n3", "n2"),
            pair("n3", "n3b"),
            pair("n3", "n4")
        ]
    );
    // Nearest first on each side.
    let n3: Vec<String> = b
        .neighbours_in_time(&[by_id("n3")], 3, &Filter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|(_, m)| m.id)
        .collect();
    assert_eq!(n3, ["n2", "n1", "n3b", "n4", "n5"]);
    // The filter picks the neighbours, not the anchors.
    let fixes = Filter {
        kinds: vec!["fix".into()],
        ..Filter::default()
    };
    assert_eq!(
        beside(&["n3b"], 1, fixes.clone()).await,
        [pair("n3b", "n1"), pair("n3b", "n4")]
    );
    assert_eq!(
        beside(&["n5"], 2, fixes.clone()).await,
        [pair("n5", "n1"), pair("n5", "n4")]
    );
    assert!(beside(&[], 2, fixes).await.is_empty());
}

/// More ids than one SQL `IN (…)` list holds (the libSQL backend splits at 500).
async fn large_id_lists(b: &dyn GraphBackend) {
    const N: usize = 1100;
    let all: Vec<String> = (0..N).map(|i| format!("big{i:04}")).collect();
    let batch: Vec<(Memory, Option<Embedding>)> =
        all.iter().map(|id| (mem(id, "big", "big"), None)).collect();
    b.create_memories(&batch).await.unwrap();
    // Edges between ids far apart in the list, so their ends fall in different chunks.
    for i in 0..N {
        let r = rel(&format!("e{i:04}"), &all[i], &all[(i + 550) % N], "USES");
        b.create_relationship(&r).await.unwrap();
    }

    let mut asked: Vec<String> = all.iter().rev().cloned().collect();
    asked.insert(700, "unknown".into());
    asked.push(all[5].clone());
    let got = b.get_memories(&asked).await.unwrap();
    let got: Vec<&String> = got.iter().map(|m| &m.id).collect();
    let want: Vec<&String> = asked.iter().filter(|id| *id != "unknown").collect();
    assert_eq!(got, want);

    let rels = b
        .relationships_of(&all, Direction::Both, &[], None)
        .await
        .unwrap();
    assert_eq!(rels.len(), N, "each relationship once");
    assert_eq!(rel_ids(&rels).len(), N);
    let rels = b
        .relationships_of(&all[..600], Direction::Outgoing, &[], None)
        .await
        .unwrap();
    assert_eq!(rels.len(), 600);

    let summaries = b.summaries(&all, &Filter::default()).await.unwrap();
    assert_eq!(summaries.len(), N);
}

async fn repeated_ids_setup(b: &dyn GraphBackend) -> (Vec<String>, Vec<String>) {
    let all: Vec<String> = (0..600).map(|i| format!("rep{i:03}")).collect();
    let batch: Vec<(Memory, Option<Embedding>)> =
        all.iter().map(|id| (mem(id, "rep", "rep"), None)).collect();
    b.create_memories(&batch).await.unwrap();
    let near = ids(&["rep000", "rep000", "rep001"]);
    let far: Vec<String> = all.iter().chain([&all[0], &all[1]]).cloned().collect();
    (near, far)
}

/// A memory named twice in one call is summarised once.
async fn summaries_of_repeated_ids(b: &dyn GraphBackend) {
    let (near, far) = repeated_ids_setup(b).await;
    let s = b.summaries(&near, &Filter::default()).await.unwrap();
    assert_eq!(s.len(), 2, "repeated within a short list");
    let s = b.summaries(&far, &Filter::default()).await.unwrap();
    assert_eq!(s.len(), 600, "repeated far apart in a long list");
}

/// Accesses of a memory named twice in one call add up, near each other or far apart.
async fn touch_of_repeated_ids(b: &dyn GraphBackend) {
    let (near, far) = repeated_ids_setup(b).await;
    b.touch(&recalls(&near, at(1, 0))).await.unwrap();
    let got = b.get_memories(&ids(&["rep000", "rep001"])).await.unwrap();
    assert_eq!((got[0].access_count, got[1].access_count), (2, 1));
    b.touch(&recalls(&far, at(2, 0))).await.unwrap();
    let got = b
        .get_memories(&ids(&["rep000", "rep001", "rep002"]))
        .await
        .unwrap();
    let counts: Vec<u64> = got.iter().map(|m| m.access_count).collect();
    assert_eq!(counts, [4, 3, 1], "repeated far apart in a long list");
}

/// A fixed pseudo-random sequence in [-1, 1] (xorshift), so failures reproduce.
fn pseudo_random(mut state: u64) -> impl FnMut() -> f32 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 20_001) as f32 / 10_000.0 - 1.0
    }
}

/// Cosine similarity computed in f64: the reference the backends' similarities are held to.
fn exact_cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let norm = |x: &[f32]| x.iter().map(|a| f64::from(*a).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

/// Many vectors: the top hits are the exact nearest ones, in order.
async fn vector_search_many(b: &dyn GraphBackend) {
    const N: usize = 400;
    const DIM: usize = 32;
    let mut next = pseudo_random(0x2545_F491_4F6C_DD1D);
    let vectors: Vec<Vec<f32>> = (0..N).map(|_| (0..DIM).map(|_| next()).collect()).collect();
    let batch: Vec<(Memory, Option<Embedding>)> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut m = mem(&format!("vm{i:03}"), "v", "v");
            m.importance = if i % 2 == 0 { 0.9 } else { 0.1 };
            (m, Some(embedding("m", v)))
        })
        .collect();
    b.create_memories(&batch).await.unwrap();

    for q in 0..5 {
        let query: Vec<f32> = (0..DIM).map(|_| next()).collect();
        for (filter, keep) in [
            (Filter::default(), 0..N),
            (
                Filter {
                    min_importance: Some(0.5),
                    ..Filter::default()
                },
                0..N,
            ),
        ] {
            let mut exact: Vec<(f64, String)> = keep
                .filter(|i| filter.min_importance.is_none() || i % 2 == 0)
                .map(|i| (exact_cosine(&query, &vectors[i]), format!("vm{i:03}")))
                .collect();
            exact.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let hits = b.vector_search("m", &query, &filter, 10).await.unwrap();
            let got: Vec<&str> = hits.iter().map(|h| h.memory.id.as_str()).collect();
            let want: Vec<&str> = exact[..10].iter().map(|(_, id)| id.as_str()).collect();
            assert_eq!(got, want, "query {q} with {filter:?}");
            for (hit, (s, _)) in hits.iter().zip(&exact) {
                assert!((f64::from(hit.similarity) - s).abs() < 1e-4);
            }
        }
    }
}

/// The duplicate probe's search: every memory whose vector reaches the threshold by exact
/// cosine, closest first, at most the limit; one just below it is left out even though the
/// index's approximation could put it above (libSQL re-ranks what is near the threshold).
async fn vectors_within_a_threshold(b: &dyn GraphBackend) {
    // As long as the built-in model's vectors, so the index splits them into head and rest.
    const DIM: usize = 256;
    let mut next = pseudo_random(0x9E37_79B9_7F4A_7C15);
    // The query is the first axis; planted vectors sit at known cosines to it, each leaning
    // on an axis of its own; random vectors are far from it.
    let mut query = vec![0.0; DIM];
    query[0] = 1.0;
    let planted = [0.99f32, 0.95, 0.905, 0.895, 0.85];
    let mut batch: Vec<(Memory, Option<Embedding>)> = planted
        .iter()
        .enumerate()
        .map(|(k, &c)| {
            let mut v = vec![0.0; DIM];
            v[0] = c;
            v[k + 1] = (1.0 - c * c).sqrt();
            (mem(&format!("near{k}"), "v", "v"), Some(embedding("m", &v)))
        })
        .collect();
    for i in 0..300 {
        let v: Vec<f32> = (0..DIM).map(|_| next()).collect();
        batch.push((
            mem(&format!("far{i:03}"), "v", "v"),
            Some(embedding("m", &v)),
        ));
    }
    batch.push((mem("other", "v", "v"), Some(embedding("m2", &query))));
    b.create_memories(&batch).await.unwrap();

    let within = |min: f32, limit: usize| {
        let query = query.clone();
        async move {
            let hits = b.vectors_within("m", &query, min, limit).await.unwrap();
            for hit in &hits {
                let k: usize = hit.memory.id["near".len()..].parse().unwrap();
                assert!((hit.similarity - planted[k]).abs() < 1e-4, "{hit:?}");
            }
            hits.into_iter().map(|h| h.memory.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(within(0.9, 10).await, ["near0", "near1", "near2"]);
    assert_eq!(within(0.9, 2).await, ["near0", "near1"]);
    assert_eq!(
        within(0.8, 10).await,
        ["near0", "near1", "near2", "near3", "near4"]
    );
    assert!(within(0.995, 10).await.is_empty());
    assert!(within(0.9, 0).await.is_empty());
    assert!(
        b.vectors_within("m3", &query, 0.5, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The largest gap between the libSQL index's similarity and the exact cosine measured on the
/// 100k memories of the raw-pipe benchmark: what hybrid search may see of it.
const INDEX_ERROR: f64 = 0.0069;

/// Hybrid search's vector side: the nearest memories as the backend's index ranks them, each
/// similarity within the index's error of the exact cosine (the in-memory backend's are
/// exact), best first, the clear winners all present; and the index's copies of given
/// memories' vectors, of the asked model only, pointing where the stored ones do.
async fn vector_candidates_within_the_index_error(b: &dyn GraphBackend) {
    const N: usize = 400;
    const DIM: usize = 256;
    let mut next = pseudo_random(0x4F1B_BCDC_BFA5_3E0B);
    let vectors: Vec<Vec<f32>> = (0..N).map(|_| (0..DIM).map(|_| next()).collect()).collect();
    let mut batch: Vec<(Memory, Option<Embedding>)> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| (mem(&format!("vc{i:03}"), "v", "v"), Some(embedding("m", v))))
        .collect();
    batch.push((mem("other", "v", "v"), Some(embedding("m2", &vectors[0]))));
    batch.push((mem("bare", "v", "v"), None));
    b.create_memories(&batch).await.unwrap();

    let index_of = |id: &str| id["vc".len()..].parse::<usize>().unwrap();
    for q in 0..5 {
        // Some queries are near a stored vector, some anywhere.
        let query: Vec<f32> = match q % 2 {
            0 => vectors[q * 37].iter().map(|x| x + 0.5 * next()).collect(),
            _ => (0..DIM).map(|_| next()).collect(),
        };
        let mut exact: Vec<(f64, usize)> = (0..N)
            .map(|i| (exact_cosine(&query, &vectors[i]), i))
            .collect();
        exact.sort_by(|a, b| b.0.total_cmp(&a.0));
        let hits = b
            .vector_candidates("m", &query, &Filter::default(), 20)
            .await
            .unwrap();
        assert_eq!(hits.len(), 20, "query {q}");
        assert!(hits.windows(2).all(|w| w[0].similarity >= w[1].similarity));
        for hit in &hits {
            let stored = &vectors[index_of(&hit.memory.id)];
            let want = exact_cosine(&query, stored);
            let error = (f64::from(hit.similarity) - want).abs();
            assert!(
                error < INDEX_ERROR,
                "query {q}: {} off by {error}",
                hit.memory.id
            );
            assert!(
                exact_cosine(&hit.vector, stored) > 0.999,
                "query {q}: {}",
                hit.memory.id
            );
        }
        // Whatever is clearly among the best 20 is found.
        let bar = exact[19].0 + 2.0 * INDEX_ERROR;
        for &(_, i) in exact.iter().take_while(|(s, _)| *s > bar) {
            let id = format!("vc{i:03}");
            assert!(
                hits.iter().any(|h| h.memory.id == id),
                "query {q}: {id} missing"
            );
        }
    }

    let asked = ids(&["vc000", "vc123", "other", "bare", "ghost", "vc399"]);
    let mut found = b.indexed_vectors("m", DIM, &asked).await.unwrap();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let found_ids: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(found_ids, ["vc000", "vc123", "vc399"]);
    for (id, v) in &found {
        assert!(exact_cosine(v, &vectors[index_of(id)]) > 0.999, "{id}");
    }
    let other = b.indexed_vectors("m2", DIM, &asked).await.unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].0, "other");
    assert!(b.indexed_vectors("m", DIM, &[]).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Bulk import, vector export and self-checks

async fn import_batch_outcomes(b: &dyn GraphBackend) {
    let a = mem("imp-a", "alpha", "first");
    let mut c = mem("imp-c", "gamma", "third");
    c.access_count = 7;
    c.version = 4;
    c.updated_at = at(50, 123);
    let batch = Arc::new(ImportBatch {
        memories: vec![
            (a.clone(), Some(embedding("m", &[1.0, 0.0]))),
            (c.clone(), None),
        ],
        relationships: vec![
            rel("imp-r1", "imp-a", "imp-c", "USES"),
            rel("imp-r2", "imp-a", "imp-missing", "USES"),
        ],
    });
    let created = [Imported::Created, Imported::Created];

    // A dry run reports and keeps nothing.
    let dry = b.import_batch(Arc::clone(&batch), true).await.unwrap();
    assert_eq!(dry.memories, created);
    assert_eq!(
        dry.relationships,
        [
            Imported::Created,
            Imported::Skipped(SkipReason::MissingEndpoint)
        ]
    );
    assert!(
        b.get_memories(&ids(&["imp-a", "imp-c"]))
            .await
            .unwrap()
            .is_empty()
    );

    let done = b.import_batch(Arc::clone(&batch), false).await.unwrap();
    assert_eq!(done, dry);
    // Records are kept as given, bookkeeping included.
    assert_eq!(get_one(b, "imp-c").await.unwrap(), c);
    assert_eq!(
        b.get_relationship("imp-r1").await.unwrap(),
        batch.relationships[0]
    );
    let vectors = b
        .embeddings(&ids(&["imp-a", "imp-c", "nope"]))
        .await
        .unwrap();
    assert_eq!(vectors, [("imp-a".to_owned(), embedding("m", &[1.0, 0.0]))]);

    // The same batch again changes nothing.
    let again = b.import_batch(Arc::clone(&batch), false).await.unwrap();
    let unchanged = Imported::Skipped(SkipReason::Unchanged);
    assert_eq!(again.memories, [unchanged, unchanged]);
    assert_eq!(
        again.relationships,
        [unchanged, Imported::Skipped(SkipReason::MissingEndpoint)]
    );

    // Newer content replaces (and drops a vector not given with it); older content is skipped;
    // the same (source, target, type) under another id, or another triple under a stored id,
    // is a conflict.
    let mut newer = a.clone();
    newer.content = "first, revised".into();
    newer.version = 2;
    newer.updated_at = at(10, 0);
    let mut older = c.clone();
    older.content = "stale".into();
    older.updated_at = at(1, 0);
    let mut moved = rel("imp-r1", "imp-c", "imp-a", "USES");
    moved.strength = 0.9;
    let outcome = b
        .import_batch(
            Arc::new(ImportBatch {
                memories: vec![(newer.clone(), None), (older, None)],
                relationships: vec![rel("imp-r3", "imp-a", "imp-c", "USES"), moved],
            }),
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        outcome.memories,
        [Imported::Updated, Imported::Skipped(SkipReason::Older)]
    );
    assert_eq!(
        outcome.relationships,
        [
            Imported::Skipped(SkipReason::Conflict),
            Imported::Skipped(SkipReason::Conflict)
        ]
    );
    assert_eq!(get_one(b, "imp-a").await.unwrap(), newer);
    assert_eq!(get_one(b, "imp-c").await.unwrap().content, "third");
    assert!(b.embeddings(&ids(&["imp-a"])).await.unwrap().is_empty());

    // One id twice in a batch: the first is created (with its vector), the second is judged
    // against it, as if it came in a later batch (newer: it replaces and drops the vector).
    let twice = mem("imp-d", "delta", "fourth");
    let mut twice_newer = twice.clone();
    twice_newer.content = "fourth, revised".into();
    twice_newer.version = 2;
    twice_newer.updated_at = at(10, 0);
    let outcome = b
        .import_batch(
            Arc::new(ImportBatch {
                memories: vec![
                    (twice.clone(), Some(embedding("m", &[0.0, 1.0]))),
                    (twice_newer.clone(), None),
                    (twice, None),
                ],
                relationships: Vec::new(),
            }),
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        outcome.memories,
        [
            Imported::Created,
            Imported::Updated,
            Imported::Skipped(SkipReason::Older)
        ]
    );
    assert_eq!(get_one(b, "imp-d").await.unwrap(), twice_newer);
    assert!(b.embeddings(&ids(&["imp-d"])).await.unwrap().is_empty());

    let checks = b.check_integrity().await.unwrap();
    assert!(!checks.is_empty());
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
}

// ---------------------------------------------------------------------------------------------
// Background embedding

async fn pending_embeddings(b: &dyn GraphBackend) {
    let mut memories = Vec::new();
    for (i, id) in ["p1", "p2", "p3"].into_iter().enumerate() {
        let mut m = mem(id, id, "text");
        m.created_at = at(i as i64, 0);
        m.updated_at = m.created_at;
        memories.push(m);
    }
    b.create_memory(&memories[0], None).await.unwrap();
    b.create_memory(&memories[1], Some(&embedding("a", &v8(&[1.0]))))
        .await
        .unwrap();
    b.create_memory(&memories[2], Some(&embedding("b", &v8(&[1.0]))))
        .await
        .unwrap();
    let pending = |model: &'static str, limit: usize| async move {
        b.memories_without_embedding(model, limit)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect::<Vec<_>>()
    };
    // No vector, or a vector of another model: oldest first, limited.
    assert_eq!(pending("a", 10).await, ["p1", "p3"]);
    assert_eq!(pending("a", 1).await, ["p1"]);
    assert_eq!(pending("b", 10).await, ["p1", "p2"]);

    // Written only at the version embedded; unknown ids are skipped; the memory is untouched.
    let e = embedding("a", &v8(&[0.0, 1.0]));
    let written = b
        .set_embeddings(&[
            ("p1".into(), 1, e.clone()),
            ("p3".into(), 7, e.clone()),
            ("nope".into(), 1, e.clone()),
        ])
        .await
        .unwrap();
    assert_eq!(written, 1);
    assert_eq!(pending("a", 10).await, ["p3"]);
    assert_eq!(get_one(b, "p1").await.unwrap(), memories[0]);

    // A vector of text changed meanwhile is dropped.
    b.update_memory(
        "p3",
        &MemoryPatch {
            title: Some("new title".into()),
            ..Default::default()
        },
        EmbeddingChange::Clear,
        None,
        at(5, 0),
    )
    .await
    .unwrap();
    assert_eq!(
        b.set_embeddings(&[("p3".into(), 1, e.clone())])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        b.set_embeddings(&[("p3".into(), 2, e.clone())])
            .await
            .unwrap(),
        1
    );
    assert!(pending("a", 10).await.is_empty());
    let hits = b
        .vector_search("a", &v8(&[0.0, 1.0]), &Filter::default(), 10)
        .await
        .unwrap();
    let found: BTreeSet<String> = hits.into_iter().map(|h| h.memory.id).collect();
    assert_eq!(
        found,
        BTreeSet::from(["p1".into(), "p2".into(), "p3".into()])
    );
}

/// An explicit model switch: the new space is recorded at once, vectors of the old model stay
/// until each memory gets one of the new model, and the two are never compared.
async fn replace_embedding_space_keeps_old_vectors(b: &dyn GraphBackend) {
    assert_eq!(b.replace_embedding_space("old", 8).await.unwrap(), None);
    for (i, id) in ["r1", "r2", "r3"].into_iter().enumerate() {
        let mut m = mem(id, id, "text");
        m.created_at = at(i as i64, 0);
        m.updated_at = m.created_at;
        let vector = (id != "r3").then(|| embedding("old", &v8(&[1.0])));
        b.create_memory(&m, vector.as_ref()).await.unwrap();
    }
    assert_eq!(b.stats().await.unwrap().embedded, 2);

    assert_eq!(
        b.replace_embedding_space("new", 4).await.unwrap(),
        Some(("old".to_owned(), 8))
    );
    let meta = b.meta().await.unwrap();
    assert_eq!(
        (meta.embedding_model.as_deref(), meta.embedding_dim),
        (Some("new"), Some(4))
    );
    // The switch sticks: a later claim learns the new space.
    assert_eq!(
        b.claim_embedding_space("old", 8).await.unwrap(),
        ("new".to_owned(), 4)
    );
    // Old vectors are kept but count for nothing in the new space.
    assert_eq!(b.stats().await.unwrap().embedded, 0);
    assert_eq!(
        b.embeddings(&ids(&["r1", "r2", "r3"])).await.unwrap().len(),
        2
    );
    let pending = |model: &'static str| async move {
        b.memories_without_embedding(model, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(pending("new").await, ["r1", "r2", "r3"]);
    let q_new = [1.0, 0.0, 0.0, 0.0];
    let all = Filter::default();
    assert!(
        b.vector_search("new", &q_new, &all, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let checks = b.check_integrity().await.unwrap();
    let model_check = checks.iter().find(|c| c.name == "vector model").unwrap();
    assert!(!model_check.ok, "{model_check:?}");

    // Re-embedding one memory replaces its old vector.
    let written = b
        .set_embeddings(&[("r1".into(), 1, embedding("new", &q_new))])
        .await
        .unwrap();
    assert_eq!(written, 1);
    assert_eq!(b.stats().await.unwrap().embedded, 1);
    assert_eq!(pending("new").await, ["r2", "r3"]);
    let found = |hits: Vec<mnemograph::model::VectorHit>| {
        hits.into_iter().map(|h| h.memory.id).collect::<Vec<_>>()
    };
    assert_eq!(
        found(b.vector_search("new", &q_new, &all, 10).await.unwrap()),
        ["r1"]
    );
    assert_eq!(
        found(b.vector_search("old", &v8(&[1.0]), &all, 10).await.unwrap()),
        ["r2"]
    );
    let stored = b.embeddings(&ids(&["r1"])).await.unwrap();
    assert_eq!(stored, [("r1".to_owned(), embedding("new", &q_new))]);

    // The rest, and the store is consistent again.
    let rest: Vec<(String, i64, Embedding)> = ["r2", "r3"]
        .into_iter()
        .map(|id| (id.to_owned(), 1, embedding("new", &[0.0, 1.0, 0.0, 0.0])))
        .collect();
    assert_eq!(b.set_embeddings(&rest).await.unwrap(), 2);
    assert_eq!(b.stats().await.unwrap().embedded, 3);
    assert!(pending("new").await.is_empty());
    assert!(b.check_integrity().await.unwrap().iter().all(|c| c.ok));
    // Replacing with the recorded space changes nothing.
    assert_eq!(
        b.replace_embedding_space("new", 4).await.unwrap(),
        Some(("new".to_owned(), 4))
    );
}
