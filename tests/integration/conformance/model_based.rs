//! Model-based testing: random operation sequences applied to the in-memory reference and to
//! the libSQL backend side by side. Every operation must have the same outcome on both (equal
//! values, or errors of the same variant and message), and at the end every query must agree.
//! proptest shrinks a failing sequence to a short one.
//!
//! Ids come from small pools so replays, id conflicts, duplicate edges, stale versions and
//! operations on deleted records happen often. Text is made of words the Porter stemmer
//! leaves unchanged, so the reference's unstemmed keyword matching is exact; keyword results
//! are compared as sets with their scores (equal scores may come in any order), vector
//! results in order.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use mnemograph::Error;
use mnemograph::backend::{Cursor, EmbeddingChange, GraphBackend};
use mnemograph::model::{
    Access, Context, Direction, Embedding, Filter, Memory, MemoryPatch, Relationship,
    RelationshipPatch,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, json};

use super::{at, kind, libsql_harness, memory_harness};

/// Words Porter stemming leaves as they are (checked against FTS5's `porter` tokenizer).
const VOCAB: &[&str] = &[
    "alpha", "bravo", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo",
    "lima", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "victor", "zulu",
];
const MEMORY_SLOTS: usize = 6;
const REL_SLOTS: usize = 5;
const KINDS: &[&str] = &["note", "fix", "decision"];
const REL_TYPES: &[&str] = &["USES", "CAUSES", "FIXES"];
const MODELS: &[&str] = &["a", "b"];
/// The edges relationships are made along, as (source slot, target slot, type): few, so the
/// same edge under another id (`RelationshipExists`) and replays happen often.
const EDGES: &[(usize, usize, usize)] = &[
    (0, 1, 0),
    (1, 2, 0),
    (2, 3, 1),
    (3, 0, 2),
    (0, 2, 1),
    (1, 1, 0),
    (4, 0, 0),
    (0, 1, 1),
];
const DIM: usize = 8;

fn memory_id(slot: usize) -> String {
    format!("0190b000-0000-7000-8000-{slot:012}")
}

fn rel_id(slot: usize) -> String {
    format!("0190c000-0000-7000-8000-{slot:012}")
}

/// A small deterministic generator (SplitMix64) so records follow from a few small numbers
/// and proptest shrinks those numbers, not whole records.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn words(&mut self, min: usize, max: usize) -> Vec<String> {
        let n = min + self.below(max - min + 1);
        (0..n)
            .map(|_| VOCAB[self.below(VOCAB.len())].to_owned())
            .collect()
    }
    fn distinct_words(&mut self, max: usize) -> Vec<String> {
        let mut words = self.words(0, max);
        words.sort();
        words.dedup();
        words
    }
}

fn memory(slot: usize, variant: u8, created: u8) -> Memory {
    let mut rng = Rng::new(slot as u64 * 1000 + u64::from(variant));
    let created_at = at(i64::from(created), 0);
    Memory {
        id: memory_id(slot),
        kind: KINDS[rng.below(KINDS.len())].to_owned(),
        title: rng.words(1, 2).join(" "),
        content: rng.words(2, 6).join(" "),
        tags: rng.distinct_words(2),
        context: Context {
            project: [None, Some("p1".to_owned()), Some("p2".to_owned())][rng.below(3)].clone(),
            ..Context::default()
        },
        importance: [0.25, 0.5, 0.75, 1.0][rng.below(4)],
        confidence: 0.5,
        created_at,
        updated_at: created_at,
        accessed_at: None,
        access_count: 0,
        version: 1,
    }
}

fn vector(seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed + 77_777);
    (0..DIM)
        .map(|_| (rng.below(2001) as f32 - 1000.0) / 1000.0)
        .collect()
}

fn vector_embedding(model: usize, seed: u8, slot: usize) -> Embedding {
    Embedding {
        model: MODELS[model].to_owned(),
        vector: vector(slot as u64 * 100 + u64::from(seed)),
    }
}

fn patch(variant: u8, step: usize) -> MemoryPatch {
    let mut rng = Rng::new(500_000 + step as u64);
    match variant {
        0 => MemoryPatch {
            title: Some(rng.words(1, 3).join(" ")),
            content: Some(rng.words(1, 4).join(" ")),
            ..MemoryPatch::default()
        },
        1 => MemoryPatch {
            tags: Some(rng.distinct_words(3)),
            importance: Some([0.25, 0.5, 0.75, 1.0][rng.below(4)]),
            ..MemoryPatch::default()
        },
        2 => MemoryPatch {
            kind: Some(KINDS[rng.below(KINDS.len())].to_owned()),
            context: Some(Context {
                project: [None, Some("p1".to_owned())][rng.below(2)].clone(),
                ..Context::default()
            }),
            confidence: Some(0.75),
            ..MemoryPatch::default()
        },
        _ => MemoryPatch::default(),
    }
}

fn relationship(slot: usize, edge: usize, variant: u8) -> Relationship {
    let (source, target, ty) = EDGES[edge];
    let mut properties = Map::new();
    if variant == 1 {
        properties.insert("why".into(), json!("because"));
    }
    Relationship {
        id: rel_id(slot),
        source_id: memory_id(source),
        target_id: memory_id(target),
        rel_type: REL_TYPES[ty].to_owned(),
        strength: [0.2, 0.4, 0.6, 0.8][(slot + usize::from(variant)) % 4],
        confidence: 0.5,
        note: (variant == 1).then(|| "note".to_owned()),
        properties,
        valid_from: None,
        // Some edges stop being valid before the instant the final checks ask about.
        valid_to: (variant == 1).then(|| at(50, 0)),
        created_at: at(10, 0),
        updated_at: at(10, 0),
        version: 1,
    }
}

fn rel_patch(variant: u8) -> RelationshipPatch {
    match variant {
        0 => RelationshipPatch {
            strength: Some(0.9),
            ..RelationshipPatch::default()
        },
        1 => RelationshipPatch {
            note: Some(None),
            valid_to: Some(None),
            ..RelationshipPatch::default()
        },
        2 => RelationshipPatch {
            note: Some(Some("changed".into())),
            valid_from: Some(Some(at(200, 0))),
            ..RelationshipPatch::default()
        },
        _ => RelationshipPatch::default(),
    }
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    Any,
    Current,
    Stale,
}

#[derive(Debug, Clone, Copy)]
enum VectorChange {
    Keep,
    Clear,
    Set { model: usize, seed: u8 },
}

#[derive(Debug, Clone)]
enum Op {
    Create {
        slot: usize,
        variant: u8,
        created: u8,
        vector: Option<(usize, u8)>,
    },
    CreateBatch(Vec<(usize, u8, u8)>),
    Update {
        slot: usize,
        patch: u8,
        expect: Expect,
        vector: VectorChange,
    },
    Delete(usize),
    Touch(BTreeSet<usize>),
    Relate {
        slot: usize,
        edge: usize,
        variant: u8,
    },
    UpdateRel {
        slot: usize,
        patch: u8,
        expect: Expect,
    },
    Unrelate(usize),
}

fn expect() -> impl Strategy<Value = Expect> {
    prop_oneof![
        Just(Expect::Any),
        Just(Expect::Current),
        Just(Expect::Stale)
    ]
}

fn create() -> impl Strategy<Value = Op> {
    (
        0..MEMORY_SLOTS,
        0..2u8,
        0..4u8,
        prop::option::of((0..MODELS.len(), 0..4u8)),
    )
        .prop_map(|(slot, variant, created, vector)| Op::Create {
            slot,
            variant,
            created,
            vector,
        })
}

/// A sequence: every memory slot created first (so later operations mostly find what they
/// touch), then anything.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    let setup = (0..2u8, 0..4u8, prop::option::of((0..MODELS.len(), 0..4u8)));
    (
        prop::collection::vec(setup, MEMORY_SLOTS),
        prop::collection::vec(op(), 16..52),
    )
        .prop_map(|(setup, rest)| {
            let mut ops: Vec<Op> = setup
                .into_iter()
                .enumerate()
                .map(|(slot, (variant, created, vector))| Op::Create {
                    slot,
                    variant,
                    created,
                    vector,
                })
                .collect();
            ops.extend(rest);
            ops
        })
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0..MEMORY_SLOTS;
    let rel = 0..REL_SLOTS;
    let vector_change = prop_oneof![
        Just(VectorChange::Keep),
        Just(VectorChange::Clear),
        (0..MODELS.len(), 0..4u8).prop_map(|(model, seed)| VectorChange::Set { model, seed }),
    ];
    prop_oneof![
        4 => create(),
        1 => prop::collection::vec((slot.clone(), 0..2u8, 0..4u8), 1..4).prop_map(Op::CreateBatch),
        4 => (slot.clone(), 0..4u8, expect(), vector_change).prop_map(
            |(slot, patch, expect, vector)| Op::Update {
                slot,
                patch,
                expect,
                vector
            }
        ),
        1 => slot.clone().prop_map(Op::Delete),
        1 => prop::collection::btree_set(slot.clone(), 0..3).prop_map(Op::Touch),
        // Mostly along the slot's own edge (replays), sometimes along any (conflicts).
        5 => (rel.clone(), 0..EDGES.len(), any::<bool>(), 0..2u8).prop_map(
            |(slot, edge, own, variant)| Op::Relate {
                slot,
                edge: if own { slot % EDGES.len() } else { edge },
                variant,
            }
        ),
        3 => (rel.clone(), 0..4u8, expect()).prop_map(|(slot, patch, expect)| Op::UpdateRel {
            slot,
            patch,
            expect
        }),
        1 => rel.prop_map(Op::Unrelate),
    ]
}

/// An operation's outcome in comparable form: the value's `Debug` text (exact for every field,
/// floats included), or the error's variant and message.
type Outcome = Result<String, (&'static str, String)>;

fn outcome<T: Debug>(result: mnemograph::Result<T>) -> Outcome {
    result
        .map(|v| format!("{v:?}"))
        .map_err(|e: Error| (kind(&e), e.to_string()))
}

fn expected_version(expect: Expect, current: Option<i64>) -> Option<i64> {
    let current = current.unwrap_or(1);
    match expect {
        Expect::Any => None,
        Expect::Current => Some(current),
        Expect::Stale => Some(current + 1),
    }
}

async fn apply(
    b: &dyn GraphBackend,
    op: &Op,
    step: usize,
    memory_version: Option<i64>,
    rel_version: Option<i64>,
) -> Outcome {
    let now = at(1000 + step as i64, (step as u32 * 7919) % 1_000_000);
    match op {
        Op::Create {
            slot,
            variant,
            created,
            vector,
        } => {
            let e = vector.map(|(model, seed)| vector_embedding(model, seed, *slot));
            outcome(
                b.create_memory(&memory(*slot, *variant, *created), e.as_ref())
                    .await,
            )
        }
        Op::CreateBatch(items) => {
            let batch: Vec<(Memory, Option<Embedding>)> = items
                .iter()
                .map(|&(slot, variant, created)| {
                    let e = (variant == 0).then(|| vector_embedding(0, variant, slot));
                    (memory(slot, variant, created), e)
                })
                .collect();
            outcome(b.create_memories(&batch).await)
        }
        Op::Update {
            slot,
            patch: p,
            expect,
            vector,
        } => {
            let e;
            let change = match vector {
                VectorChange::Keep => EmbeddingChange::Keep,
                VectorChange::Clear => EmbeddingChange::Clear,
                VectorChange::Set { model, seed } => {
                    e = vector_embedding(*model, *seed, *slot);
                    EmbeddingChange::Set(&e)
                }
            };
            outcome(
                b.update_memory(
                    &memory_id(*slot),
                    &patch(*p, step),
                    change,
                    expected_version(*expect, memory_version),
                    now,
                )
                .await,
            )
        }
        Op::Delete(slot) => outcome(b.delete_memory(&memory_id(*slot)).await),
        Op::Touch(slots) => {
            let accesses: Vec<Access> = slots
                .iter()
                .map(|s| Access::one(memory_id(*s), now))
                .collect();
            outcome(b.touch(&accesses).await)
        }
        Op::Relate {
            slot,
            edge,
            variant,
        } => outcome(
            b.create_relationship(&relationship(*slot, *edge, *variant))
                .await,
        ),
        Op::UpdateRel {
            slot,
            patch,
            expect,
        } => outcome(
            b.update_relationship(
                &rel_id(*slot),
                &rel_patch(*patch),
                expected_version(*expect, rel_version),
                now,
            )
            .await,
        ),
        Op::Unrelate(slot) => outcome(b.delete_relationship(&rel_id(*slot)).await),
    }
}

fn all_memory_ids() -> Vec<String> {
    (0..MEMORY_SLOTS).map(memory_id).collect()
}

/// Every page of a listing, as the pages themselves (cursors included).
async fn pages(b: &dyn GraphBackend, filter: &Filter, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = b.list_memories(filter, cursor.as_ref(), limit).await;
        out.push(format!("{page:?}"));
        match page.ok().and_then(|p| p.next_cursor) {
            Some(text) if out.len() <= MEMORY_SLOTS + 1 => {
                cursor = Some(Cursor::decode(&text).expect("a cursor the backend made"));
            }
            _ => return out,
        }
    }
}

async fn sorted_relationships(
    b: &dyn GraphBackend,
    direction: Direction,
    valid_at: Option<chrono::DateTime<chrono::Utc>>,
) -> String {
    let rels = b
        .relationships_of(&all_memory_ids(), direction, &[], valid_at)
        .await
        .map(|mut rels| {
            rels.sort_by(|a, b| a.id.cmp(&b.id));
            rels
        });
    format!("{rels:?}")
}

async fn run_case(ops: &[Op]) -> Result<(), TestCaseError> {
    let reference = memory_harness().await;
    let real = libsql_harness().await;
    let (r, l) = (&*reference.backend, &*real.backend);

    for (step, op) in ops.iter().enumerate() {
        // Expected versions come from the reference, so both stores get the same request.
        let memory_version = match op {
            Op::Update { slot, .. } => r
                .get_memories(&[memory_id(*slot)])
                .await
                .ok()
                .and_then(|m| m.first().map(|m| m.version)),
            _ => None,
        };
        let rel_version = match op {
            Op::UpdateRel { slot, .. } => r
                .get_relationship(&rel_id(*slot))
                .await
                .ok()
                .map(|r| r.version),
            _ => None,
        };
        let want = apply(r, op, step, memory_version, rel_version).await;
        let got = apply(l, op, step, memory_version, rel_version).await;
        prop_assert_eq!(&got, &want, "step {}: {:?}", step, op);
        let ids = all_memory_ids();
        let want = format!("{:?}", r.get_memories(&ids).await);
        let got = format!("{:?}", l.get_memories(&ids).await);
        prop_assert_eq!(got, want, "memories after step {}: {:?}", step, op);
    }

    // Listings, whole and filtered, page by page.
    let filters = [
        Filter::default(),
        Filter {
            project: Some("p1".into()),
            min_importance: Some(0.5),
            ..Filter::default()
        },
        Filter {
            kinds: vec!["note".into(), "fix".into()],
            ..Filter::default()
        },
        Filter {
            tags: vec!["alpha".into()],
            since: Some(at(2, 0)),
            ..Filter::default()
        },
    ];
    for filter in &filters {
        for limit in [2, 4] {
            prop_assert_eq!(
                pages(l, filter, limit).await,
                pages(r, filter, limit).await,
                "pages of {} with {:?}",
                limit,
                filter
            );
        }
    }

    // Relationships around every memory.
    for direction in [Direction::Outgoing, Direction::Incoming, Direction::Both] {
        for valid_at in [None, Some(at(100, 0))] {
            prop_assert_eq!(
                sorted_relationships(l, direction, valid_at).await,
                sorted_relationships(r, direction, valid_at).await,
                "relationships_of {:?} valid at {:?}",
                direction,
                valid_at
            );
        }
    }
    for slot in 0..REL_SLOTS {
        prop_assert_eq!(
            outcome(l.get_relationship(&rel_id(slot)).await),
            outcome(r.get_relationship(&rel_id(slot)).await)
        );
    }

    // Keyword search, word by word: the same memories with the same BM25 scores (the
    // vocabulary is unstemmed, so FTS5 and the reference count the same tokens). Order is
    // not compared: hits with equal scores may come in any order.
    for word in VOCAB {
        for filter in [&filters[0], &filters[1]] {
            let terms = vec![(*word).to_owned()];
            let scores = async |b: &dyn GraphBackend| {
                b.keyword_search(&terms, filter, 100)
                    .await
                    .map(|hits| {
                        hits.into_iter()
                            .map(|h| (h.memory.id, h.score))
                            .collect::<BTreeMap<_, _>>()
                    })
                    .map_err(|e| kind(&e))
            };
            let (got, want) = (scores(l).await, scores(r).await);
            let keys = |s: &Result<BTreeMap<String, f64>, &'static str>| {
                s.as_ref()
                    .map(|m| m.keys().cloned().collect::<Vec<_>>())
                    .map_err(|e| *e)
            };
            prop_assert_eq!(
                keys(&got),
                keys(&want),
                "keyword {} with {:?}",
                word,
                filter
            );
            if let (Ok(got), Ok(want)) = (got, want) {
                for (id, score) in &got {
                    let expected = want[id];
                    prop_assert!(
                        (score - expected).abs() <= 1e-9 * expected.abs().max(1.0),
                        "keyword {}: score of {} is {} where the reference has {}",
                        word,
                        id,
                        score,
                        expected
                    );
                }
            }
        }
    }

    // Vector search, in order (a near-tie may swap places).
    for (model, name) in MODELS.iter().enumerate() {
        for seed in [3u64, 1234] {
            let query = vector(seed + model as u64);
            for filter in [&filters[0], &filters[2]] {
                let want = r.vector_search(name, &query, filter, 5).await;
                let got = l.vector_search(name, &query, filter, 5).await;
                let (want, got) = match (want, got) {
                    (Ok(w), Ok(g)) => (w, g),
                    (w, g) => {
                        prop_assert_eq!(
                            g.map(|_| ()).map_err(|e| kind(&e)),
                            w.map(|_| ()).map_err(|e| kind(&e))
                        );
                        continue;
                    }
                };
                prop_assert_eq!(got.len(), want.len(), "vector hits of {}", name);
                for (g, w) in got.iter().zip(&want) {
                    prop_assert!(
                        g.memory.id == w.memory.id || (g.similarity - w.similarity).abs() < 1e-5,
                        "vector search {}: got {} ({}) where {} ({}) was expected",
                        name,
                        g.memory.id,
                        g.similarity,
                        w.memory.id,
                        w.similarity
                    );
                    prop_assert!(
                        (g.similarity - w.similarity).abs() < 1e-5,
                        "similarity of {}: {} vs {}",
                        g.memory.id,
                        g.similarity,
                        w.similarity
                    );
                }
                if got
                    .iter()
                    .zip(&want)
                    .all(|(g, w)| g.memory.id == w.memory.id)
                {
                    prop_assert_eq!(
                        format!("{:?}", got.iter().map(|h| &h.memory).collect::<Vec<_>>()),
                        format!("{:?}", want.iter().map(|h| &h.memory).collect::<Vec<_>>())
                    );
                }
            }
        }
    }

    // Counts.
    let (mut sl, mut sr) = (l.stats().await, r.stats().await);
    if let (Ok(sl), Ok(sr)) = (&mut sl, &mut sr) {
        sl.size_bytes = 0;
        sr.size_bytes = 0;
    }
    prop_assert_eq!(format!("{sl:?}"), format!("{sr:?}"), "stats");
    Ok(())
}

/// Cases per run: a few seconds by default; `PROPTEST_CASES=2000` for a longer hunt.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    })]

    #[test]
    fn backends_agree(ops in ops()) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(run_case(&ops))?;
    }
}
