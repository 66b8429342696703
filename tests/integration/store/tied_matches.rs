//! Keyword search orders matches tied on score by id, wherever their rows are and however
//! many tie (more than the ranked matches SQLite hands back at first).

use std::path::Path;

use mnemograph::backend::libsql::SCHEMA_VERSION;
use mnemograph::model::Filter;

use crate::support::store::{open, schema_at, sql};

/// Memories whose full text is the same, so every search finds them tied on score: more than
/// `keyword.rs` reads back best first (400), fewer than it ranks (1,000).
const TIED: usize = 450;

/// The id of the memory at row `seq` (1-based): ids follow a permutation of the rows, so the
/// smallest ids are neither all among the newest rows nor all among the oldest (the second
/// smallest is at row 7).
fn id_at(seq: usize) -> String {
    format!("0190a5a0-0000-7000-8000-{:012}", (seq * 193) % TIED)
}

/// A store holding [`TIED`] memories with the same text, written in raw SQL.
async fn tied_store(path: &Path) {
    schema_at(path, SCHEMA_VERSION).await;
    let rows: Vec<String> = (1..=TIED)
        .map(|seq| {
            format!(
                "({seq}, '{}', 'note', 'Tied note', 'the same words', '[]', '{{}}', 0.5, 1.0, \
                 1700000000000000, 1700000000000000, 1)",
                id_at(seq)
            )
        })
        .collect();
    sql(
        path,
        &format!(
            "INSERT INTO memories (seq, id, kind, title, content, tags, context, importance, \
             confidence, created_at, updated_at, version) VALUES {};",
            rows.join(", ")
        ),
    )
    .await;
}

#[tokio::test]
async fn matches_tied_on_score_are_ordered_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tied.db");
    tied_store(&path).await;
    let store = open(&path).await;

    let mut smallest: Vec<String> = (1..=TIED).map(id_at).collect();
    smallest.sort();
    smallest.truncate(5);
    for query in ["tied", "tied words"] {
        let hits = store
            .keyword_search(query, &Filter::default(), 5)
            .await
            .unwrap();
        let scores: Vec<f64> = hits.iter().map(|h| h.score).collect();
        assert!(
            scores.iter().all(|s| *s == scores[0]),
            "{query}: {scores:?}"
        );
        let ids: Vec<&str> = hits.iter().map(|h| h.memory.id.as_str()).collect();
        assert_eq!(ids, smallest, "{query}: the smallest ids, in order");
    }

    // A memory written later by another connection takes its place by id.
    let first = "0190a5a0-0000-7000-8000-000000000000";
    sql(&path, &format!("DELETE FROM memories WHERE id = '{first}'")).await;
    sql(
        &path,
        "INSERT INTO memories (id, kind, title, content, tags, context, importance, confidence, \
         created_at, updated_at, version) VALUES ('0000', 'note', 'Tied note', 'the same words', \
         '[]', '{}', 0.5, 1.0, 1700000000000000, 1700000000000000, 1)",
    )
    .await;
    let hits = store
        .keyword_search("tied", &Filter::default(), 2)
        .await
        .unwrap();
    let ids: Vec<&str> = hits.iter().map(|h| h.memory.id.as_str()).collect();
    assert_eq!(ids, ["0000", smallest[1].as_str()]);
}
