//! What a person feels of recall quality in a coding session, on a real libSQL store with the
//! built-in embedder: the fix of the error asked about comes first, storing the same memory
//! twice keeps one, near-duplicate hints name only near-duplicates, and explanations show the
//! words that matched; the turn stored right after a matching one comes with it.

use mnemograph::model::{Created, Filter};
use mnemograph::store::{HybridParams, MemoryStore, NewMemory, RecallQuery, SearchMode};
use tempfile::TempDir;

use super::recall_hybrid::link;
use crate::support::store::{model, open_with};
use mnemograph::embed::EmbedderHandle;

async fn store() -> (TempDir, MemoryStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_with(&dir.path().join("store.db"), EmbedderHandle::ready(model()))
        .await
        .unwrap();
    (dir, store)
}

fn memory(kind: &str, title: &str, content: &str) -> NewMemory {
    NewMemory {
        kind: kind.into(),
        title: title.into(),
        content: content.into(),
        ..Default::default()
    }
}

async fn add(store: &MemoryStore, kind: &str, title: &str, content: &str) -> String {
    store
        .create(memory(kind, title, content))
        .await
        .unwrap()
        .0
        .id
}

/// The first memory of kind `fix` a recall for `question` shows.
async fn first_fix(store: &MemoryStore, question: &str) -> String {
    let recall = store
        .recall(&RecallQuery {
            query: question.into(),
            filter: Filter::default(),
            limit: 10,
            max_chars: None,
            hints: Default::default(),
        })
        .await
        .unwrap();
    recall
        .items
        .iter()
        .find(|r| r.memory.kind == "fix")
        .map(|r| r.memory.id.clone())
        .unwrap_or_else(|| panic!("no fix recalled for {question:?}: {recall:#?}"))
}

#[tokio::test]
async fn the_fix_of_the_error_asked_about_comes_first() {
    let (_dir, s) = store().await;
    // A coding session: errors, the fixes that solved them, decisions, and fixes of other
    // things whose words overlap the questions.
    let locked = add(
        &s,
        "error",
        "SQLITE_BUSY: database is locked",
        "The importer and the web server write to app.db at the same time; inserts fail with \
         'database is locked' under load.",
    )
    .await;
    let wal = add(
        &s,
        "fix",
        "Enable WAL and a busy timeout",
        "PRAGMA journal_mode=WAL plus busy_timeout=5000 on every connection; readers no longer \
         block the writer.",
    )
    .await;
    let borrow = add(
        &s,
        "error",
        "E0502 in the tokenizer",
        "cannot borrow `self.tokens` as mutable because it is also borrowed as immutable in \
         Lexer::next",
    )
    .await;
    let indices = add(
        &s,
        "fix",
        "Collect indices before mutating tokens",
        "Gather the positions in a Vec first, then mutate self.tokens in a second loop.",
    )
    .await;
    let flaky = add(
        &s,
        "error",
        "Flaky test: user_list_is_sorted",
        "The integration test fails one run in five: users come back in insertion order.",
    )
    .await;
    let order = add(
        &s,
        "fix",
        "Fixed order of the user list",
        "Sort users by name in the query (ORDER BY name) so the list is stable.",
    )
    .await;
    let oom = add(
        &s,
        "error",
        "Out of memory exporting reports",
        "The CSV export loads every row into a Vec and the worker is killed at 2 GiB.",
    )
    .await;
    let stream = add(
        &s,
        "fix",
        "Stream the CSV export",
        "Write rows to the response as they are read from the cursor instead of collecting.",
    )
    .await;
    let cors = add(
        &s,
        "fix",
        "Fixed CORS for the dashboard",
        "Allow the dashboard origin in the API's CORS layer; preflight requests now pass.",
    )
    .await;
    let decision = add(
        &s,
        "decision",
        "SQLite over Postgres for the desktop app",
        "One file, no server to install; concurrency is low.",
    )
    .await;
    add(
        &s,
        "pattern",
        "Retry with backoff for network calls",
        "Retry idempotent HTTP calls three times with exponential backoff and jitter.",
    )
    .await;
    add(
        &s,
        "note",
        "Release checklist",
        "Bump the version, update the changelog, tag, and publish the crate.",
    )
    .await;
    add(
        &s,
        "fix",
        "Fixed the date format in emails",
        "Use RFC 2822 dates in the Date header; some clients showed 1970.",
    )
    .await;
    add(
        &s,
        "preference",
        "Small commits",
        "Keep each commit building and formatted, one change each.",
    )
    .await;
    link(&s, &wal, &locked, "SOLVES").await;
    link(&s, &indices, &borrow, "FIXES").await;
    link(&s, &order, &flaky, "FIXES").await;
    link(&s, &stream, &oom, "SOLVES").await;
    link(&s, &decision, &locked, "RELATES_TO").await;
    let _ = cors;

    for (question, fix) in [
        ("how did we fix the database locked error", &wal),
        ("SQLITE_BUSY when importing", &wal),
        ("borrow error in the tokenizer", &indices),
        ("cannot borrow as mutable", &indices),
        ("why is the user list test flaky", &order),
        ("export runs out of memory", &stream),
    ] {
        assert_eq!(&first_fix(&s, question).await, fix, "{question}");
    }
}

#[tokio::test]
async fn storing_the_same_memory_twice_keeps_one() {
    same_memory_twice_keeps_one().await;
}

/// As the server runs it: the probe and the store's writes then run on a multi-threaded
/// runtime, the writes in place on a worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storing_the_same_memory_twice_keeps_one_on_the_servers_runtime() {
    same_memory_twice_keeps_one().await;
}

/// Stores a fix, its copy in other spacing and case (answered by the fix, nothing written),
/// and two memories that differ from it in kind or content (stored).
async fn same_memory_twice_keeps_one() {
    let (_dir, s) = store().await;
    let (first, created) = s
        .create(memory(
            "fix",
            "Enable WAL",
            "PRAGMA journal_mode=WAL on open.",
        ))
        .await
        .unwrap();
    assert_eq!(created, Created::New);
    // The same memory, with other spacing and case: the existing one answers.
    let (again, created) = s
        .create(memory(
            "fix",
            "enable  WAL",
            "pragma journal_mode=WAL on open. ",
        ))
        .await
        .unwrap();
    assert_eq!(created, Created::Existing);
    assert_eq!(again.id, first.id);
    // Another kind, or other content, is another memory.
    let (note, created) = s
        .create(memory(
            "note",
            "Enable WAL",
            "PRAGMA journal_mode=WAL on open.",
        ))
        .await
        .unwrap();
    assert_eq!(created, Created::New);
    assert_ne!(note.id, first.id);
    let (other, created) = s
        .create(memory(
            "fix",
            "Enable WAL",
            "PRAGMA journal_mode=WAL on every open.",
        ))
        .await
        .unwrap();
    assert_eq!(created, Created::New);
    assert_ne!(other.id, first.id);
    let hits = s
        .search("journal_mode WAL", None, &Filter::default(), 10, None)
        .await
        .unwrap()
        .hits;
    assert_eq!(hits.len(), 3, "one copy of each distinct memory: {hits:#?}");
    // Nothing of the copy is counted or indexed.
    let stats = s.stats().await.unwrap();
    assert_eq!((stats.memories, stats.embedded), (3, 3));
}

/// The same text stored as a note and a decision besides the fix: their vectors are the
/// fix's (a memory's kind is not embedded), so the nearest vector may be one of theirs; the
/// copy of the fix is answered by the fix all the same.
#[tokio::test]
async fn a_copy_is_answered_by_its_memory_when_other_kinds_hold_the_same_text() {
    let (_dir, s) = store().await;
    let (title, content) = ("Enable WAL", "PRAGMA journal_mode=WAL on open.");
    add(&s, "note", title, content).await;
    add(&s, "decision", title, content).await;
    let fix = add(&s, "fix", title, content).await;
    for hints in [0, 1] {
        let (again, _) = s
            .create_with_hints(memory("fix", title, content), Vec::new(), hints)
            .await
            .unwrap();
        assert_eq!(again.record.created, Created::Existing, "{hints} hints");
        assert_eq!(again.record.memory.id, fix, "{hints} hints");
    }
    assert_eq!(s.stats().await.unwrap().memories, 3);
}

/// More memories than the probe compares hold every word of a fix's title, and all are
/// newer: the copy of the fix is answered by the fix all the same, with vectors and without.
#[tokio::test]
async fn a_copy_of_a_memory_older_than_all_holding_its_title_is_answered_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let keyword_only = crate::support::store::open(&dir.path().join("keyword.db")).await;
    let (_vectors_dir, with_vectors) = store().await;
    for s in [&keyword_only, &with_vectors] {
        let (title, content) = ("Enable WAL", "PRAGMA journal_mode=WAL on open.");
        let first = add(s, "fix", title, content).await;
        for i in 0..20 {
            add(
                s,
                "fix",
                title,
                &format!("{content} Seen on build server number {i}."),
            )
            .await;
        }
        let (again, hints) = s
            .create_with_hints(memory("fix", title, content), Vec::new(), 3)
            .await
            .unwrap();
        assert_eq!(again.record.created, Created::Existing);
        assert_eq!(again.record.memory.id, first);
        assert!(hints.is_empty(), "{hints:#?}");
        assert_eq!(s.stats().await.unwrap().memories, 21);
    }
}

/// Stores the WAL fix and `other`, then a near-duplicate of the fix (a stopword and a unit
/// changed): the hint names the fix alone. Returns the fix's id.
async fn near_duplicate_of_the_wal_fix_is_hinted(s: &MemoryStore, other: [&str; 3]) -> String {
    let wal = add(
        s,
        "fix",
        "Enable WAL mode for SQLite",
        "Set PRAGMA journal_mode=WAL and a busy_timeout of 5 seconds so readers never block \
         the writer.",
    )
    .await;
    add(s, other[0], other[1], other[2]).await;
    let (_, hints) = s
        .create_with_hints(
            memory(
                "fix",
                "Enable WAL mode in SQLite",
                "Set PRAGMA journal_mode=WAL and a busy_timeout of 5 s so readers never block \
                 the writer.",
            ),
            Vec::new(),
            3,
        )
        .await
        .unwrap();
    assert_eq!(
        hints
            .iter()
            .map(|h| h.memory.id.as_str())
            .collect::<Vec<_>>(),
        [wal.as_str()],
        "{hints:#?}"
    );
    wal
}

#[tokio::test]
async fn near_duplicate_hints_name_only_near_duplicates() {
    let (_dir, s) = store().await;
    near_duplicate_of_the_wal_fix_is_hinted(
        &s,
        [
            "note",
            "Lunch",
            "The team lunch moved to Thursdays at noon.",
        ],
    )
    .await;
    let (_, hints) = s
        .create_with_hints(
            memory(
                "decision",
                "Use clap for the command line",
                "Derive the argument parser with clap; completions come for free.",
            ),
            Vec::new(),
            3,
        )
        .await
        .unwrap();
    assert!(hints.is_empty(), "{hints:#?}");
}

/// Without vectors the probe is the memories holding every word of the new title but
/// stopwords, judged by word overlap: a near-duplicate that kept those words is named, an
/// exact duplicate answered, a memory holding those words in a different text ignored.
#[tokio::test]
async fn keyword_only_probe_finds_duplicates_by_their_title_words() {
    let dir = tempfile::tempdir().unwrap();
    let s = crate::support::store::open(&dir.path().join("store.db")).await;
    // The other memory holds the new title's words, in a different text.
    let wal = near_duplicate_of_the_wal_fix_is_hinted(
        &s,
        [
            "note",
            "SQLite mode of the test suite",
            "The test suite opens SQLite in memory, without WAL; enable nothing else.",
        ],
    )
    .await;

    let (again, hints) = s
        .create_with_hints(
            memory(
                "fix",
                "enable  WAL mode for sqlite",
                "set pragma journal_mode=WAL and a busy_timeout of 5 seconds so readers never \
                 block the writer.",
            ),
            Vec::new(),
            3,
        )
        .await
        .unwrap();
    assert_eq!(again.record.memory.id, wal);
    assert_eq!(again.record.created, Created::Existing);
    assert!(
        hints.is_empty(),
        "a duplicate is answered, not hinted: {hints:#?}"
    );

    let (_, hints) = s
        .create_with_hints(
            memory(
                "decision",
                "SQLite for the cache",
                "Keep the cache in SQLite: one file, WAL mode, no server to run.",
            ),
            Vec::new(),
            3,
        )
        .await
        .unwrap();
    assert!(hints.is_empty(), "{hints:#?}");
}

#[tokio::test]
async fn explanations_show_stemmed_matches_and_coverage_ranks_first() {
    let (_dir, s) = store().await;
    let tokenizer = add(
        &s,
        "note",
        "Lexer",
        "The tokenizer splits identifiers at underscores.",
    )
    .await;
    let both = add(
        &s,
        "fix",
        "Transaction handling",
        "On a deadlock the worker waits and tries a retry of the whole transaction.",
    )
    .await;
    let title_only = add(
        &s,
        "pattern",
        "Retry",
        "Retry network calls so that transient failures are attempted again.",
    )
    .await;
    // "deadlock" is the commoner word here, so plain BM25 can put the memory saying "retry"
    // twice (title and content) first.
    for (title, content) in [
        (
            "Deadlock detector",
            "Postgres logs each deadlock it breaks.",
        ),
        (
            "Lock ordering",
            "Take locks in id order; a deadlock needs a cycle.",
        ),
        ("Release checklist", "Bump the version and tag."),
        ("Lunch", "Thursdays at noon."),
        ("Code review", "Two approvals before merging."),
        ("Formatting", "cargo fmt on save."),
    ] {
        add(&s, "note", title, content).await;
    }
    for mode in [Some(SearchMode::Keyword), None] {
        let hits = s
            .search("token", mode, &Filter::default(), 5, None)
            .await
            .unwrap()
            .hits;
        assert_eq!(hits[0].memory.id, tokenizer);
        assert_eq!(hits[0].matched_terms, ["token→tokenizer"]);
        assert_eq!(hits[0].matched_fields, ["content"]);

        // The memory holding both words ranks above the one with one of them in its title.
        let hits = s
            .search("deadlock retry", mode, &Filter::default(), 5, None)
            .await
            .unwrap()
            .hits;
        let ids: Vec<&str> = hits.iter().map(|h| h.memory.id.as_str()).collect();
        assert_eq!(ids[..2], [both.as_str(), title_only.as_str()], "{hits:#?}");
        assert_eq!(hits[0].matched_terms, ["deadlock", "retry"]);
        assert!(hits.iter().all(|h| h.score > 0.0));
    }
}

/// A chat between two people; the fourth turn answers the third.
const TURNS: [(&str, &str); 10] = [
    ("Sam", "Did the build pass on the new runner?"),
    ("Ana", "It did, after I bumped the cache key."),
    ("Sam", "Great. Did you ever find a new apartment?"),
    ("Ana", "Yes! Two bedrooms by the river, we move in March."),
    ("Sam", "Lunch on Friday at the usual place?"),
    ("Ana", "Sure, noon works for me."),
    ("Sam", "The release notes still mention the old flag."),
    ("Ana", "I will drop that line before tagging."),
    ("Sam", "Who reviews the parser change?"),
    ("Ana", "Priya said she would take it tomorrow."),
];

/// Stores each turn as a note titled with its speaker, one create each; their ids in order.
async fn store_turns(s: &MemoryStore, turns: &[(&str, &str)]) -> Vec<String> {
    let mut ids = Vec::new();
    for (speaker, text) in turns {
        ids.push(add(s, "note", speaker, text).await);
    }
    ids
}

#[tokio::test]
async fn the_answer_stored_after_a_matching_question_comes_with_it() {
    let (_dir, s) = store().await;
    let ids = store_turns(&s, &TURNS).await;
    let answer = &ids[3];
    let find = |hits: Vec<mnemograph::store::FusedHit>| {
        hits.iter()
            .enumerate()
            .find(|(_, h)| &h.memory.id == answer)
            .map(|(rank, h)| (rank, h.score))
    };
    let question = "Where is Ana's new apartment?";
    let with = s
        .hybrid_search(question, &Filter::default(), 10, &HybridParams::default())
        .await
        .unwrap();
    let without = s
        .hybrid_search(
            question,
            &Filter::default(),
            10,
            &HybridParams {
                neighbours: 0.0,
                ..HybridParams::default()
            },
        )
        .await
        .unwrap();
    // The answer shares no word with the question; the turn before it does, and lends it
    // part of its score.
    let (rank, score) = find(with).expect("the answer is found");
    assert!(rank < 3, "answer at {rank}");
    assert!(
        find(without.clone()).is_none_or(|(r, s)| r >= rank && s < score),
        "{:?} without neighbours vs {rank} {score} with",
        find(without)
    );
    // The default search (hybrid with an embedder) brings it too.
    let page = s
        .search(question, None, &Filter::default(), 3, None)
        .await
        .unwrap();
    assert!(page.hits.iter().any(|h| &h.memory.id == answer));
}

#[tokio::test]
async fn an_answer_two_turns_after_the_matching_question_comes_with_it() {
    let (_dir, s) = store().await;
    // The same chat with an aside between the question and its answer.
    let mut turns = TURNS.to_vec();
    turns.insert(3, ("Ana", "Hold on, the kettle is boiling."));
    let ids = store_turns(&s, &turns).await;
    let answer = &ids[4];
    let question = "Where is Ana's new apartment?";
    let ranked = |second_neighbours: f64| {
        let s = &s;
        async move {
            let params = HybridParams {
                second_neighbours,
                ..HybridParams::default()
            };
            let hits = s
                .hybrid_search(question, &Filter::default(), 10, &params)
                .await
                .unwrap();
            hits.iter()
                .position(|h| &h.memory.id == answer)
                .map(|rank| (rank, hits[rank].score))
        }
    };
    // The answer is two turns after the question that shares the query's words: the step
    // beyond the nearest neighbour lends it part of the question's score.
    let (rank, score) = ranked(HybridParams::default().second_neighbours)
        .await
        .expect("the answer is found");
    assert!(rank < 3, "answer at {rank}");
    let without = ranked(0.0).await;
    assert!(
        without.is_none_or(|(r, s)| r >= rank && s < score),
        "{without:?} without the second step vs {rank} {score} with"
    );
}
