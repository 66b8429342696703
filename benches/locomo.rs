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
//! cargo bench --bench locomo [-- DATA_DIR [MODEL_DIR]]
//! ```
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
use mnemograph::store::{HybridParams, Limits, MemoryStore, NewMemory};
use serde_json::Value;

#[path = "support/args.rs"]
mod args;

/// Results scored per question.
const K: usize = 10;
/// Texts per call in the batch throughput measurement.
const BATCH: usize = 64;
const MODES: [&str; 3] = ["keyword", "semantic", "hybrid"];

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
    let batch = conversation
        .turns
        .iter()
        .map(|t| NewMemory {
            kind: "note".into(),
            title: t.speaker.clone(),
            content: t.text.clone(),
            ..Default::default()
        })
        .collect();
    let ids = store.create_many(batch).await?;
    let dia_ids = ids
        .into_iter()
        .zip(&conversation.turns)
        .map(|((id, _), t)| (id, t.dia_id.clone()))
        .collect();
    Ok((store, dia_ids))
}

/// The dialogue ids of the top results of `mode`, best first.
async fn ask(
    store: &MemoryStore,
    dia_ids: &BTreeMap<String, String>,
    mode: &str,
    query: &str,
) -> Result<Vec<String>, Failure> {
    let filter = Filter::default();
    let ids: Vec<String> = match mode {
        "keyword" => store
            .keyword_search(query, &filter, K)
            .await?
            .into_iter()
            .map(|h| h.memory.id)
            .collect(),
        "semantic" => store
            .semantic_search(query, &filter, K)
            .await?
            .into_iter()
            .map(|h| h.memory.id)
            .collect(),
        _ => store
            .hybrid_search(query, &filter, K, &HybridParams::default())
            .await?
            .into_iter()
            .map(|h| h.memory.id)
            .collect(),
    };
    Ok(ids
        .iter()
        .filter_map(|id| dia_ids.get(id).cloned())
        .collect())
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
    let data = args
        .get(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let conversations = load(&data.join("locomo/locomo10.json"))?;
    let started = Instant::now();
    let model = match args.get(2) {
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

    // (mode, category) → metrics
    let mut results: BTreeMap<(&str, u64), Metrics> = BTreeMap::new();
    let mut seconds: BTreeMap<&str, f64> = BTreeMap::new();
    let mut ingest_seconds = 0.0;
    let (mut turns, mut questions) = (0, 0);
    for (index, conversation) in conversations.iter().enumerate() {
        let start = Instant::now();
        let (store, dia_ids) = ingest(dir.path(), index, conversation, &embedder).await?;
        ingest_seconds += start.elapsed().as_secs_f64();
        turns += conversation.turns.len();
        for question in &conversation.questions {
            questions += 1;
            for mode in MODES {
                let start = Instant::now();
                let ranked = ask(&store, &dia_ids, mode, &question.text).await?;
                *seconds.entry(mode).or_default() += start.elapsed().as_secs_f64();
                results
                    .entry((mode, question.category))
                    .or_default()
                    .add(&ranked, &question.evidence);
            }
        }
    }
    println!(
        "{} conversations, {turns} turns stored and embedded in {ingest_seconds:.1} s, \
         {questions} questions with evidence\n",
        conversations.len()
    );

    println!("| mode / category | questions | recall@5 | recall@10 | nDCG@10 | MRR |");
    println!("|---|---|---|---|---|---|");
    for mode in MODES {
        let mut overall = Metrics::default();
        for category in 1..=4 {
            if let Some(m) = results.get(&(mode, category)) {
                overall.merge(m);
            }
        }
        println!("{}", overall.row(&format!("**{mode}**, categories 1–4")));
        let names = [
            "multi-hop",
            "temporal",
            "open-domain",
            "single-hop",
            "adversarial",
        ];
        for (category, name) in (1..=5).zip(names) {
            if let Some(m) = results.get(&(mode, category)) {
                println!("{}", m.row(&format!("{mode}, {category} {name}")));
            }
        }
    }
    println!();
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
