//! Known-item search: a person remembers one or two words of a memory's content and searches
//! for them. Does keyword search put that memory in the top 10?
//!
//! Stores of 1,000, 10,000 and 100,000 memories of the shared synthetic corpus
//! (`tests/integration/support/corpus.rs`, bulk `create_many`, no vectors) are searched
//! through the store exactly as `search_memories` in keyword mode searches them
//! (`MemoryStore::search`, mode keyword, `Limits::default()`, limit 10: the default
//! configuration without an embedder). Each query is one or two words drawn from one memory's
//! content (half of the queries each; now and then both draws are the same word, and the
//! query has one); the target is that memory.
//!
//! Two baselines are computed in the same run:
//! - plain single-field BM25: each memory's title, content and tags as one column of an FTS5
//!   table (same tokenizer as the store) in a scratch SQLite file, the query's words joined
//!   by OR, ranked by `bm25()` with ties by memory id as the store breaks them (so that a tie,
//!   common among memories of equal length, is not a coin toss between the two), every match
//!   ranked;
//! - a random order of the memories holding every query word: the expected share of targets
//!   in such a top 10, `min(1, 10 / holders)`.
//!
//! ```text
//! cargo bench --bench known_item [-- SIZES...]
//! ```
//! Seeded: every run draws the same queries. `MNEMOGRAPH_BENCH_DIR` keeps the stores.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libsql::Connection;
use mnemograph::backend::libsql::LibsqlBackend;
use mnemograph::model::Filter;
use mnemograph::store::{Limits, MemoryStore, SearchMode};

#[path = "support/args.rs"]
mod args;
// Shared with the MCP benchmarks; this one uses the bulk insert, the sizes and the figures.
#[allow(dead_code)]
#[path = "support/build.rs"]
mod build;
#[path = "../tests/integration/support/corpus.rs"]
mod corpus;

use build::{bench_dir, insert, ms, percentile, sizes};
use corpus::{Corpus, Rng};

/// Queries per store size: half draw one word, half two.
const QUERIES: usize = 1000;
/// Results that count.
const TOP: usize = 10;
const SEED: u64 = 20_261_129;

type Failure = Box<dyn std::error::Error>;

/// One query: its distinct words and the index of the memory they were drawn from.
struct Query {
    words: Vec<String>,
    target: usize,
}

/// `QUERIES` seeded queries over the first `n` memories.
fn queries(corpus: &Corpus, n: usize) -> Vec<Query> {
    let mut rng = Rng(SEED);
    (0..QUERIES)
        .map(|q| {
            let target = rng.below(n);
            let mut words: Vec<String> = Vec::new();
            for word in corpus.quote(&mut rng, target, 1 + q % 2).split(' ') {
                if !words.iter().any(|w| w == word) {
                    words.push(word.to_owned());
                }
            }
            Query { words, target }
        })
        .collect()
}

/// The single-field baseline: memory `i` of the corpus is row `i + 1`, with its store id.
async fn baseline(path: &Path, corpus: &Corpus, ids: &[String]) -> Result<Connection, Failure> {
    let db = libsql::Builder::new_local(path).build().await?;
    let conn = db.connect()?;
    conn.execute(
        "CREATE VIRTUAL TABLE doc USING fts5 (id UNINDEXED, body, \
         tokenize = 'porter unicode61 remove_diacritics 2')",
        (),
    )
    .await?;
    conn.execute("BEGIN", ()).await?;
    let insert = conn
        .prepare("INSERT INTO doc (rowid, id, body) VALUES (?, ?, ?)")
        .await?;
    for (i, id) in ids.iter().enumerate() {
        let (m, _) = corpus.memory(i);
        let body = format!("{} {} {}", m.title, m.content, m.tags.join(" "));
        insert.execute((i as i64 + 1, id.as_str(), body)).await?;
        insert.reset();
    }
    conn.execute("COMMIT", ()).await?;
    Ok(conn)
}

/// `words` as an FTS5 expression joined by `operator`.
fn expression(words: &[String], operator: &str) -> String {
    words
        .iter()
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(&format!(" {operator} "))
}

/// The baseline's top rows (memory index + 1).
async fn baseline_top(conn: &Connection, words: &[String]) -> Result<Vec<i64>, Failure> {
    let mut rows = conn
        .query(
            "SELECT rowid FROM doc WHERE doc MATCH ? ORDER BY bm25(doc), id LIMIT ?",
            (expression(words, "OR"), TOP as i64),
        )
        .await?;
    let mut top = Vec::with_capacity(TOP);
    while let Some(row) = rows.next().await? {
        top.push(row.get(0)?);
    }
    Ok(top)
}

/// Memories holding every one of `words`.
async fn holders(conn: &Connection, words: &[String]) -> Result<usize, Failure> {
    let mut rows = conn
        .query(
            "SELECT count(*) FROM doc WHERE doc MATCH ?",
            [expression(words, "AND")],
        )
        .await?;
    let row = rows.next().await?.ok_or("count without a row")?;
    Ok(row.get::<i64>(0)?.max(1) as usize)
}

/// Targets found and time taken, for one method and one query length.
#[derive(Default)]
struct Tally {
    queries: usize,
    found: f64,
    times: Vec<Duration>,
}

impl Tally {
    fn add(&mut self, found: f64, took: Option<Duration>) {
        self.queries += 1;
        self.found += found;
        self.times.extend(took);
    }

    fn share(&self) -> f64 {
        self.found / self.queries.max(1) as f64
    }

    fn p50(&self) -> String {
        let mut times = self.times.clone();
        if times.is_empty() {
            return String::new();
        }
        times.sort();
        format!("{:.2}", ms(percentile(&times, 0.5)))
    }
}

/// Ours, the BM25 baseline and the random order, by query length (index 0: all queries).
type Tallies = [[Tally; 3]; 3];

async fn measure(dir: &Path, n: usize, corpus: &Corpus) -> Result<Tallies, Failure> {
    let backend = LibsqlBackend::open_local(&dir.join(format!("known-item-{n}.db"))).await?;
    let store = MemoryStore::open(Arc::new(backend), Limits::default()).await?;
    let started = Instant::now();
    let ids = insert(&store, n, corpus).await;
    let reference = baseline(&dir.join(format!("baseline-{n}.db")), corpus, &ids).await?;
    println!(
        "{n} memories stored and indexed in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut tallies = Tallies::default();
    for query in queries(corpus, n) {
        let text = query.words.join(" ");
        let start = Instant::now();
        let page = store
            .search(
                &text,
                Some(SearchMode::Keyword),
                &Filter::default(),
                TOP,
                None,
            )
            .await?;
        let ours_took = start.elapsed();
        let ours = page.hits.iter().any(|h| h.memory.id == ids[query.target]);

        let start = Instant::now();
        let top = baseline_top(&reference, &query.words).await?;
        let baseline_took = start.elapsed();
        let theirs = top.contains(&(query.target as i64 + 1));
        let random = (TOP as f64 / holders(&reference, &query.words).await? as f64).min(1.0);

        for length in [0, query.words.len()] {
            let [ours_tally, baseline_tally, random_tally] = &mut tallies[length];
            ours_tally.add(f64::from(u8::from(ours)), Some(ours_took));
            baseline_tally.add(f64::from(u8::from(theirs)), Some(baseline_took));
            random_tally.add(random, None);
        }
    }
    Ok(tallies)
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let sizes = sizes(args::command_line(), &[1_000, 10_000, 100_000]);
    let temp = tempfile::tempdir()?;
    let dir = bench_dir(temp.path());
    let corpus = Corpus::new();
    let mut table = Vec::new();
    for n in sizes {
        let tallies = measure(&dir, n, &corpus).await?;
        for (label, [ours, baseline, random]) in ["1–2", "1", "2"].iter().zip(&tallies) {
            table.push(format!(
                "| {n} | {label} | {} | {:.3} | {:.3} | {:+.3} | {:.3} | {} | {} |",
                ours.queries,
                ours.share(),
                baseline.share(),
                ours.share() - baseline.share(),
                random.share(),
                ours.p50(),
                baseline.p50(),
            ));
        }
    }
    println!(
        "\ntarget in the top {TOP}: keyword search through the store (default configuration) \
         against plain single-field BM25\n"
    );
    println!(
        "| memories | words | queries | keyword search | single-field BM25 | difference | \
         random order of the memories holding every word | keyword p50 ms | BM25 p50 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for row in table {
        println!("{row}");
    }
    Ok(())
}
