//! The LoCoMo retrieval benchmark (see `../shared/data/README.md`), run through the real store.
//!
//! One libSQL store per conversation, in a temporary directory; each dialogue turn is one
//! memory whose content is `[<session date>] <speaker>: <text>` (plus ` [shares <caption>]`
//! for a shared image) and whose title is the speaker; the id each create returns maps a hit
//! back to its dialogue id. Every
//! question with evidence is asked in keyword, semantic and hybrid mode; the evidence turns
//! are the relevant memories. Prints recall@5, recall@10, nDCG@10 and MRR overall
//! (categories 1–4) and per category (5, adversarial, apart), then the built-in embedder's
//! throughput on one core.
//!
//! ```text
//! cargo bench --bench locomo [-- [--sweep [--params=k=v,…]…] DATA_DIR [MODEL_DIR]]
//! cargo bench --bench locomo -- --mcp
//! ```
//! `--sweep` runs only the tuning sweep (see [`sweep`]); `--mcp` runs only the benchmark
//! over MCP (see [`over_mcp`]).
//! DATA_DIR defaults to `../shared/data` beside the crate; it must hold
//! `locomo/locomo10.json`. The embedder is the built-in model (the default configuration), or
//! the Model2Vec model in MODEL_DIR (e.g. `../shared/data/models/m2v-minilm`, the float16
//! model it was made from).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use mnemograph::backend::libsql::LibsqlBackend;
use mnemograph::embed::model2vec::Model2VecEmbedder;
use mnemograph::embed::{Embedder, EmbedderHandle};
use mnemograph::model::Filter;
use mnemograph::store::{
    HybridParams, Limits, MemoryStore, NEAR_DUPLICATE_COSINE, NEAR_DUPLICATE_WORDS, NewMemory,
    SearchMode, word_overlap,
};
use mnemograph::vector::cosine;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

#[path = "support/args.rs"]
mod args;
#[path = "support/server.rs"]
mod server;

/// Results scored per question.
const K: usize = 10;
/// Texts per call in the batch throughput measurement.
const BATCH: usize = 64;
const MODES: [&str; 3] = ["keyword", "semantic", "hybrid"];
/// Conversations the defaults are tuned on; the rest are held out.
const TUNING_CONVERSATIONS: usize = 5;

type Failure = Box<dyn std::error::Error>;

struct Turn {
    dia_id: String,
    speaker: String,
    text: String,
}

struct Question {
    text: String,
    category: u64,
    evidence: Vec<String>,
}

struct Conversation {
    turns: Vec<Turn>,
    questions: Vec<Question>,
}

/// Sums of the per-question metrics of one mode and category.
#[derive(Default, Clone, Copy)]
struct Metrics {
    questions: usize,
    recall5: f64,
    recall10: f64,
    ndcg10: f64,
    mrr: f64,
}

impl Metrics {
    /// Scores one ranking (dialogue ids, best first) against the relevant ids.
    fn add(&mut self, ranked: &[String], relevant: &[String]) {
        let hit = |id: &String| relevant.contains(id);
        let found = |k: usize| ranked.iter().take(k).filter(|id| hit(id)).count() as f64;
        let total = relevant.len() as f64;
        let gain = |rank: usize| 1.0 / (rank as f64 + 1.0).log2();
        let dcg: f64 = ranked
            .iter()
            .take(K)
            .enumerate()
            .filter(|(_, id)| hit(id))
            .map(|(i, _)| gain(i + 1))
            .sum();
        let ideal: f64 = (1..=relevant.len().min(K)).map(gain).sum();
        self.questions += 1;
        self.recall5 += found(5) / total;
        self.recall10 += found(K) / total;
        self.ndcg10 += dcg / ideal;
        self.mrr += ranked
            .iter()
            .take(K)
            .position(hit)
            .map_or(0.0, |i| 1.0 / (i as f64 + 1.0));
    }

    fn merge(&mut self, other: &Metrics) {
        self.questions += other.questions;
        self.recall5 += other.recall5;
        self.recall10 += other.recall10;
        self.ndcg10 += other.ndcg10;
        self.mrr += other.mrr;
    }

    fn row(&self, label: &str) -> String {
        let n = self.questions.max(1) as f64;
        format!(
            "| {label} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
            self.questions,
            self.recall5 / n,
            self.recall10 / n,
            self.ndcg10 / n,
            self.mrr / n
        )
    }
}

fn load(path: &Path) -> Result<Vec<Conversation>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let data: Vec<Value> = serde_json::from_str(&text)?;
    let mut out = Vec::new();
    for sample in &data {
        let conversation = &sample["conversation"];
        let mut sessions: Vec<(u64, &Vec<Value>, &str)> = Vec::new();
        for (key, value) in conversation
            .as_object()
            .ok_or("conversation is not an object")?
        {
            let Some(n) = key.strip_prefix("session_").and_then(|n| n.parse().ok()) else {
                continue;
            };
            let Some(turns) = value.as_array() else {
                continue;
            };
            let date = conversation[format!("{key}_date_time")]
                .as_str()
                .unwrap_or_default();
            sessions.push((n, turns, date));
        }
        sessions.sort_by_key(|s| s.0);
        let mut turns = Vec::new();
        for (_, session, date) in sessions {
            for turn in session {
                let field = |name: &str| turn[name].as_str().unwrap_or_default().to_owned();
                let mut text = format!("[{date}] {}: {}", field("speaker"), field("text"));
                if let Some(caption) = turn["blip_caption"].as_str() {
                    text.push_str(&format!(" [shares {caption}]"));
                }
                turns.push(Turn {
                    dia_id: field("dia_id"),
                    speaker: field("speaker"),
                    text,
                });
            }
        }
        let questions = sample["qa"]
            .as_array()
            .ok_or("qa is not a list")?
            .iter()
            .filter_map(|q| {
                let evidence: Vec<String> = q["evidence"]
                    .as_array()?
                    .iter()
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect();
                (!evidence.is_empty()).then(|| Question {
                    text: q["question"].as_str().unwrap_or_default().to_owned(),
                    category: q["category"].as_u64().unwrap_or(0),
                    evidence,
                })
            })
            .collect();
        out.push(Conversation { turns, questions });
    }
    Ok(out)
}

/// Loads one conversation into a fresh store; returns the store and each memory's dialogue id.
async fn ingest(
    dir: &Path,
    index: usize,
    conversation: &Conversation,
    embedder: &EmbedderHandle,
) -> Result<(MemoryStore, BTreeMap<String, String>), Failure> {
    let backend = LibsqlBackend::open_local(&dir.join(format!("conversation-{index}.db"))).await?;
    let store =
        MemoryStore::open_with_embedder(Arc::new(backend), Limits::default(), embedder.clone())
            .await?;
    // One create per turn, as `store_memory` stores them: each has its own time.
    let mut dia_ids = BTreeMap::new();
    for turn in &conversation.turns {
        let (memory, _) = store
            .create(NewMemory {
                kind: "note".into(),
                title: turn.speaker.clone(),
                content: turn.text.clone(),
                ..Default::default()
            })
            .await?;
        // A turn repeating an earlier one of the same day is stored once (see `duplicates.rs`).
        dia_ids
            .entry(memory.id)
            .or_insert_with(|| turn.dia_id.clone());
    }
    Ok((store, dia_ids))
}

/// The dialogue ids of the top results of `mode`, best first: keyword and semantic search
/// and the default search (hybrid) as `search_memories` runs them, or hybrid search with
/// other `params` (the tuning sweep).
async fn ask(
    store: &MemoryStore,
    dia_ids: &BTreeMap<String, String>,
    mode: &str,
    query: &str,
    params: Option<&HybridParams>,
) -> Result<Vec<String>, Failure> {
    let filter = Filter::default();
    let ids: Vec<String> = match (mode, params) {
        (_, Some(params)) => store
            .hybrid_search(query, &filter, K, params)
            .await?
            .into_iter()
            .map(|h| h.memory.id)
            .collect(),
        (mode, None) => {
            let mode = match mode {
                "keyword" => Some(SearchMode::Keyword),
                "semantic" => Some(SearchMode::Semantic),
                _ => None,
            };
            store
                .search(query, mode, &filter, K, None)
                .await?
                .hits
                .into_iter()
                .map(|h| h.memory.id)
                .collect()
        }
    };
    Ok(ids
        .iter()
        .filter_map(|id| dia_ids.get(id).cloned())
        .collect())
}

type Client = RunningService<RoleClient, ()>;

/// Calls `tool` on the server; its structured result.
async fn call(client: &Client, tool: &str, args: Value) -> Result<Value, Failure> {
    let Value::Object(args) = args else {
        return Err("tool arguments must be an object".into());
    };
    let result = client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
        .await?;
    if result.is_error != Some(false) {
        return Err(format!("{tool} failed: {:?}", result.content).into());
    }
    Ok(result.structured_content.unwrap_or_default())
}

/// The whole benchmark over MCP, as an assistant runs it: for each conversation a fresh
/// `mnemograph` server (the binary `cargo bench` built, the default configuration: built-in
/// embedder) on its own store, each turn stored with `store_memory`, each question asked with
/// `search_memories` (limit 10) in the default mode and in keyword mode.
async fn over_mcp(
    dir: &Path,
    conversations: &[Conversation],
) -> Result<Vec<BTreeMap<(&'static str, u64), Metrics>>, Failure> {
    let exe = Path::new(env!("CARGO_BIN_EXE_mnemograph"));
    let config_home = dir.join("config");
    std::fs::create_dir_all(&config_home)?;
    let mut results = Vec::new();
    for (index, conversation) in conversations.iter().enumerate() {
        let mut cmd =
            server::server_command(exe, &dir.join(format!("mcp-{index}.db")), &config_home);
        // The default configuration: no MNEMOGRAPH_EMBEDDER, so the built-in model.
        cmd.env_remove("MNEMOGRAPH_EMBEDDER");
        let client = ().serve(TokioChildProcess::new(cmd)?).await?;
        // Stored before the embedder is ready, a memory would wait for the background
        // worker; the benchmark stores once search can use every vector.
        let started = Instant::now();
        loop {
            let stats = call(&client, "memory_stats", json!({})).await?;
            match stats["embedder_state"].as_str() {
                Some("ready") => break,
                Some("loading") if started.elapsed().as_secs() < 60 => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                state => return Err(format!("embedder not ready: {state:?}").into()),
            }
        }
        let mut dia_ids = BTreeMap::new();
        for turn in &conversation.turns {
            let stored = call(
                &client,
                "store_memory",
                json!({"kind": "note", "title": turn.speaker, "content": turn.text}),
            )
            .await?;
            let id = stored["id"].as_str().ok_or("store_memory returned no id")?;
            dia_ids
                .entry(id.to_owned())
                .or_insert_with(|| turn.dia_id.clone());
        }
        let stats = call(&client, "memory_stats", json!({})).await?;
        if stats["embedded"] != stats["memories"] {
            return Err(format!("not every memory has a vector: {stats}").into());
        }
        let mut own: BTreeMap<(&str, u64), Metrics> = BTreeMap::new();
        for question in &conversation.questions {
            for (mode, args) in [
                ("hybrid", json!({"query": question.text, "limit": K})),
                (
                    "keyword",
                    json!({"query": question.text, "limit": K, "mode": "keyword"}),
                ),
            ] {
                let page = call(&client, "search_memories", args).await?;
                if mode == "hybrid" && page["mode"] != "hybrid" {
                    return Err(format!("the default search ran {}", page["mode"]).into());
                }
                let ranked: Vec<String> = page["hits"]
                    .as_array()
                    .ok_or("search_memories returned no hits")?
                    .iter()
                    .filter_map(|h| dia_ids.get(h["id"].as_str()?).cloned())
                    .collect();
                own.entry((mode, question.category))
                    .or_default()
                    .add(&ranked, &question.evidence);
            }
        }
        client.cancel().await?;
        results.push(own);
    }
    Ok(results)
}

/// Prints the tables of the tuning half, the held-out half and all conversations from each
/// conversation's results.
fn print_halves(results: &[BTreeMap<(&str, u64), Metrics>]) {
    let halves = [
        ("tuning half (conversations 1–5)", 0..TUNING_CONVERSATIONS),
        (
            "held-out half (conversations 6–10)",
            TUNING_CONVERSATIONS..results.len(),
        ),
        ("all conversations", 0..results.len()),
    ];
    for (label, range) in halves {
        let mut merged: BTreeMap<(&str, u64), Metrics> = BTreeMap::new();
        for own in &results[range] {
            for (key, m) in own {
                merged.entry(*key).or_default().merge(m);
            }
        }
        print_tables(label, &merged);
    }
}

/// Prints the overall and per-category tables of every mode.
fn print_tables(label: &str, results: &BTreeMap<(&str, u64), Metrics>) {
    println!("### {label}\n");
    println!("| mode / category | questions | recall@5 | recall@10 | nDCG@10 | MRR |");
    println!("|---|---|---|---|---|---|");
    let names = [
        "multi-hop",
        "temporal",
        "open-domain",
        "single-hop",
        "adversarial",
    ];
    for mode in MODES {
        if !results.keys().any(|(m, _)| *m == mode) {
            continue;
        }
        let mut overall = Metrics::default();
        for category in 1..=4 {
            if let Some(m) = results.get(&(mode, category)) {
                overall.merge(m);
            }
        }
        println!("{}", overall.row(&format!("**{mode}**, categories 1–4")));
        for (category, name) in (1..=5).zip(names) {
            if let Some(m) = results.get(&(mode, category)) {
                println!("{}", m.row(&format!("{mode}, {category} {name}")));
            }
        }
    }
    println!();
}

/// The hybrid parameters of one `--sweep` point: the defaults with `key=value` pairs
/// (comma-separated) changed, e.g. `kw=0.6,neighbours=0.75`.
fn parse_params(spec: &str) -> Result<HybridParams, Failure> {
    let mut p = HybridParams::default();
    for pair in spec.split(',').filter(|s| !s.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair}: expected key=value"))?;
        let number: f64 = value.parse().map_err(|_| format!("{pair}: not a number"))?;
        match key {
            "kw" => p.keyword_weight = number,
            "candidates" => p.candidates = number as usize,
            "coverage" => p.coverage = number,
            "feedback" => p.feedback = number as f32,
            "feedback_depth" => p.feedback_depth = number as usize,
            "neighbours" => p.neighbours = number,
            "depth" => p.neighbour_depth = number as usize,
            "before" => p.neighbour_before = number,
            "second" => p.second_neighbours = number,
            _ => return Err(format!("{key}: unknown parameter").into()),
        }
    }
    Ok(p)
}

/// One-at-a-time changes from the defaults, when `--sweep` is given no points.
const SWEEP: [&str; 17] = [
    "",
    "neighbours=0.4",
    "neighbours=0.6",
    "depth=3",
    "depth=8",
    "before=0.5",
    "before=1",
    "second=0",
    "second=0.5",
    "second=1",
    "kw=0.6",
    "kw=0.8",
    "candidates=30",
    "candidates=100",
    "coverage=1",
    "coverage=3",
    "feedback=0",
];

/// Hybrid search at each point of `points` (see [`parse_params`]; [`SWEEP`] when empty):
/// recall@10 of categories 1–4 and of each category on the tuning half, best first, with the
/// held-out half's beside it. Choose on the tuning half only; the held-out column shows
/// whether a choice carries over.
async fn sweep(
    conversations: &[Conversation],
    stores: &[(MemoryStore, BTreeMap<String, String>)],
    points: &[String],
) -> Result<(), Failure> {
    let points: Vec<String> = if points.is_empty() {
        SWEEP.iter().map(|s| (*s).to_owned()).collect()
    } else {
        points.to_vec()
    };
    let r10 = |m: &Metrics| m.recall10 / m.questions.max(1) as f64;
    let mut rows = Vec::new();
    for spec in &points {
        let params = parse_params(spec)?;
        let mut halves = [BTreeMap::<u64, Metrics>::new(), BTreeMap::new()];
        for (index, (conversation, (store, dia_ids))) in
            conversations.iter().zip(stores).enumerate()
        {
            let half = &mut halves[usize::from(index >= TUNING_CONVERSATIONS)];
            for q in &conversation.questions {
                let ranked = ask(store, dia_ids, "hybrid", &q.text, Some(&params)).await?;
                half.entry(q.category)
                    .or_default()
                    .add(&ranked, &q.evidence);
            }
        }
        let summary = |by_category: &BTreeMap<u64, Metrics>| {
            let mut overall = Metrics::default();
            for category in 1..=4 {
                overall.merge(&by_category[&category]);
            }
            let per: Vec<String> = (1..=4)
                .map(|c| format!("{:.3}", r10(&by_category[&c])))
                .collect();
            (
                r10(&overall),
                format!("{:.3} ({})", r10(&overall), per.join(" ")),
            )
        };
        let (tuning, tuning_row) = summary(&halves[0]);
        let (_, held_out_row) = summary(&halves[1]);
        let label = if spec.is_empty() { "defaults" } else { spec };
        println!("  {label}: tuning {tuning_row} | held-out {held_out_row}");
        rows.push((
            tuning,
            format!("{label}: tuning {tuning_row} | held-out {held_out_row}"),
        ));
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("\nsweep, recall@10 categories 1–4 (1 2 3 4), best on the tuning half first:");
    for (_, row) in rows {
        println!("  {row}");
    }
    println!();
    Ok(())
}

/// A labelled pair of texts: near-duplicates or distinct.
struct Pair {
    a: String,
    b: String,
    near_duplicate: bool,
}

/// A labelled set of near-duplicate and distinct pairs built from the dialogue turns of at
/// least eight words (every seventh, deterministically). Near-duplicates of a turn: the turn
/// with one word dropped, with its last quarter cut, with two words replaced by words of
/// another turn, and with a sentence of another turn appended. Distinct: the turn and the
/// other turn closest to it in meaning (a hard negative: same people, same topics), and the
/// turn and a turn far away in the conversation.
async fn labelled_pairs(
    conversations: &[Conversation],
    embedder: &dyn Embedder,
) -> Result<Vec<Pair>, Failure> {
    let mut pairs = Vec::new();
    for conversation in conversations {
        let texts: Vec<&str> = conversation.turns.iter().map(|t| t.text.as_str()).collect();
        let owned: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
        let vectors = embedder.embed(&owned).await?;
        for (i, text) in texts.iter().enumerate().step_by(7) {
            let words: Vec<&str> = text.split_whitespace().collect();
            if words.len() < 8 {
                continue;
            }
            let other = texts[(i + texts.len() / 2) % texts.len()];
            let other_words: Vec<&str> = other.split_whitespace().collect();
            let n = words.len();
            let mut dropped = words.clone();
            dropped.remove(n / 2);
            let mut replaced = words.clone();
            replaced[n / 3] = other_words[other_words.len() / 2];
            replaced[2 * n / 3] = other_words[other_words.len() - 1];
            let cut = words[..n - n / 4].join(" ");
            let appended = format!(
                "{text} {}",
                other_words[other_words.len().saturating_sub(6)..].join(" ")
            );
            for b in [dropped.join(" "), replaced.join(" "), cut, appended] {
                pairs.push(Pair {
                    a: (*text).to_owned(),
                    b,
                    near_duplicate: true,
                });
            }
            let nearest = (0..texts.len())
                .filter(|&j| j != i && texts[j] != *text)
                .max_by(|&x, &y| {
                    cosine(&vectors[i], &vectors[x]).total_cmp(&cosine(&vectors[i], &vectors[y]))
                });
            for j in nearest
                .into_iter()
                .chain([(i + texts.len() / 2) % texts.len()])
            {
                pairs.push(Pair {
                    a: (*text).to_owned(),
                    b: texts[j].to_owned(),
                    near_duplicate: false,
                });
            }
        }
    }
    Ok(pairs)
}

/// Precision and recall of the near-duplicate hint on the labelled pairs, by cosine of the
/// built-in embedder's vectors and by word overlap (the keyword-only fallback), at a range of
/// thresholds; the shipped thresholds are marked.
async fn calibrate_hints(
    conversations: &[Conversation],
    embedder: &dyn Embedder,
) -> Result<(), Failure> {
    let pairs = labelled_pairs(conversations, embedder).await?;
    let mut cosines = Vec::with_capacity(pairs.len());
    for pair in &pairs {
        let v = embedder.embed(&[pair.a.clone(), pair.b.clone()]).await?;
        cosines.push(f64::from(cosine(&v[0], &v[1])));
    }
    let overlaps: Vec<f64> = pairs.iter().map(|p| word_overlap(&p.a, &p.b)).collect();
    let positives = pairs.iter().filter(|p| p.near_duplicate).count();
    println!(
        "near-duplicate hint on {} labelled pairs ({positives} near-duplicates):\n",
        pairs.len()
    );
    println!("| similarity | threshold | precision | recall |");
    println!("|---|---|---|---|");
    let rows = |name: &str, scores: &[f64], thresholds: &[f64], shipped: f64| {
        for &t in thresholds {
            let shown: Vec<&Pair> = pairs
                .iter()
                .zip(scores)
                .filter(|(_, s)| **s >= t)
                .map(|(p, _)| p)
                .collect();
            let right = shown.iter().filter(|p| p.near_duplicate).count();
            let mark = if (t - shipped).abs() < 1e-6 {
                " (shipped)"
            } else {
                ""
            };
            println!(
                "| {name} | {t:.2}{mark} | {:.3} | {:.3} |",
                right as f64 / shown.len().max(1) as f64,
                right as f64 / positives.max(1) as f64
            );
        }
    };
    rows(
        "cosine",
        &cosines,
        &[0.75, 0.8, 0.85, 0.9, 0.95],
        f64::from(NEAR_DUPLICATE_COSINE),
    );
    rows(
        "word overlap",
        &overlaps,
        &[0.4, 0.5, 0.6, 0.7, 0.8],
        NEAR_DUPLICATE_WORDS,
    );
    println!();
    Ok(())
}

/// Embeddings per second, one text per call and [`BATCH`] per call.
async fn throughput(embedder: &dyn Embedder, texts: &[String]) -> Result<(f64, f64), Failure> {
    let start = Instant::now();
    for text in texts {
        embedder.embed(std::slice::from_ref(text)).await?;
    }
    let single = texts.len() as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    for chunk in texts.chunks(BATCH) {
        embedder.embed(chunk).await?;
    }
    let batch = texts.len() as f64 / start.elapsed().as_secs_f64();
    Ok((single, batch))
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let args = args::command_line();
    let positional: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let data = positional
        .get(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let conversations = load(&data.join("locomo/locomo10.json"))?;
    let started = Instant::now();
    let model = match positional.get(2) {
        Some(dir) => Model2VecEmbedder::load(Path::new(dir))?,
        None => Model2VecEmbedder::builtin()?,
    };
    println!(
        "model {} ({} dimensions) loaded in {:.2?}",
        model.model_id(),
        model.dimension(),
        started.elapsed()
    );
    let model: Arc<dyn Embedder> = Arc::new(model);
    let embedder = EmbedderHandle::ready(Arc::clone(&model));
    let dir = tempfile::tempdir()?;
    if args.iter().any(|a| a == "--mcp") {
        let start = Instant::now();
        let results = over_mcp(dir.path(), &conversations).await?;
        println!(
            "over MCP: {} conversations stored and asked in {:.1} s\n",
            conversations.len(),
            start.elapsed().as_secs_f64()
        );
        print_halves(&results);
        return Ok(());
    }

    let start = Instant::now();
    let mut stores = Vec::new();
    for (index, conversation) in conversations.iter().enumerate() {
        stores.push(ingest(dir.path(), index, conversation, &embedder).await?);
    }
    let turns: usize = conversations.iter().map(|c| c.turns.len()).sum();
    let questions: usize = conversations.iter().map(|c| c.questions.len()).sum();
    println!(
        "{} conversations, {turns} turns stored one by one and embedded in {:.1} s, \
         {questions} questions with evidence\n",
        conversations.len(),
        start.elapsed().as_secs_f64()
    );
    if args.iter().any(|a| a == "--sweep") {
        let points: Vec<String> = args
            .iter()
            .filter_map(|a| a.strip_prefix("--params="))
            .map(str::to_owned)
            .collect();
        return sweep(&conversations, &stores, &points).await;
    }
    calibrate_hints(&conversations, model.as_ref()).await?;

    let mut seconds: BTreeMap<&str, f64> = BTreeMap::new();
    let mut results: Vec<BTreeMap<(&str, u64), Metrics>> = Vec::new();
    for (index, conversation) in conversations.iter().enumerate() {
        let (store, dia_ids) = &stores[index];
        let mut own: BTreeMap<(&str, u64), Metrics> = BTreeMap::new();
        for question in &conversation.questions {
            for mode in MODES {
                let start = Instant::now();
                let ranked = ask(store, dia_ids, mode, &question.text, None).await?;
                *seconds.entry(mode).or_default() += start.elapsed().as_secs_f64();
                own.entry((mode, question.category))
                    .or_default()
                    .add(&ranked, &question.evidence);
            }
        }
        results.push(own);
    }
    print_halves(&results);
    for mode in MODES {
        let ms = seconds[mode] * 1000.0 / (questions.max(1) as f64);
        println!("{mode}: {ms:.2} ms per query");
    }

    let texts: Vec<String> = conversations
        .iter()
        .flat_map(|c| c.turns.iter().map(|t| t.text.clone()))
        .collect();
    let (single, batch) = throughput(model.as_ref(), &texts).await?;
    println!(
        "\nbuilt-in embedder on one core, {} turns: {single:.0} embeddings/s one at a time, \
         {batch:.0} embeddings/s in batches of {BATCH}",
        texts.len()
    );
    Ok(())
}
