//! Calibration of the prompt hook's relevance threshold on a labelled set of prompts.
//!
//! `benches/data/prompt_relevance.json` holds the memories of a realistic coding store (a web
//! shop in Rust: decisions, errors and their fixes, conventions, the user's global
//! preferences, and another project's memories, which must never show) and 60 prompts, each
//! labelled with the memories it should bring (none for 29 of them: small talk, or tasks the
//! store knows nothing about). Each threshold of a grid is run on every prompt through
//! [`MemoryStore::prompt_briefing_at`], the code the hook runs, and scored on two halves of
//! the prompts, each with every other prompt of either kind: the first half chooses the
//! threshold, the second is held out:
//!
//! - precision: the memories shown that were labelled relevant, over all memories shown;
//! - recall: the labelled memories shown, over all labelled (at most 3 are ever shown);
//! - silence: the prompts labelled with nothing that showed nothing.
//!
//! Run with `cargo bench --bench prompt_threshold`.

use std::collections::HashMap;
use std::sync::Arc;

use mnemograph::backend::libsql::LibsqlBackend;
use mnemograph::model::Context;
use mnemograph::store::{
    Limits, MemoryStore, NewMemory, PROMPT_BRIEFING_TOKENS, PROMPT_THRESHOLD, PromptThreshold,
};
use serde_json::Value;

/// A labelled prompt.
struct Case {
    prompt: String,
    relevant: Vec<String>,
}

#[derive(Default, Clone, Copy)]
struct Score {
    shown: usize,
    shown_relevant: usize,
    labelled: usize,
    quiet_prompts: usize,
    quiet_kept: usize,
}

impl Score {
    fn precision(&self) -> f64 {
        ratio(self.shown_relevant, self.shown)
    }
    fn recall(&self) -> f64 {
        ratio(self.shown_relevant, self.labelled)
    }
    fn silence(&self) -> f64 {
        ratio(self.quiet_kept, self.quiet_prompts)
    }
    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

fn describe(t: &PromptThreshold) -> String {
    format!(
        "≥{} word{}{}, short ≥{}/{}",
        t.min_words,
        if t.min_words == 1 { "" } else { "s" },
        if t.in_title {
            ", one in title/tags"
        } else {
            ""
        },
        t.short_share.0,
        t.short_share.1
    )
}

#[tokio::main]
async fn main() {
    let data: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("benches/data/prompt_relevance.json"),
        )
        .expect("read the labelled set"),
    )
    .expect("the labelled set is JSON");
    let project = data["project"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let backend = LibsqlBackend::open_local(&dir.path().join("store.db"))
        .await
        .expect("open the store");
    let store = MemoryStore::open(Arc::new(backend), Limits::default())
        .await
        .unwrap();
    let mut key_of: HashMap<String, String> = HashMap::new();
    for m in data["memories"].as_array().unwrap() {
        let text = |f: &str| m[f].as_str().unwrap_or_default().to_owned();
        let in_project = if m["global"].as_bool() == Some(true) {
            None
        } else {
            Some(m["project"].as_str().unwrap_or(&project).to_owned())
        };
        let new = NewMemory {
            kind: text("kind"),
            title: text("title"),
            content: text("content"),
            tags: m["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect(),
            context: Context {
                project: in_project,
                ..Context::default()
            },
            ..NewMemory::default()
        };
        let (memory, _) = store.create(new).await.expect("store a memory");
        key_of.insert(memory.id, text("key"));
    }
    let cases: Vec<Case> = data["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            prompt: c["prompt"].as_str().unwrap().to_owned(),
            relevant: c["relevant"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_owned())
                .collect(),
        })
        .collect();

    let mut grid = Vec::new();
    for min_words in 1..=3 {
        for in_title in [true, false] {
            for short_share in [(0, 1), (1, 4), (1, 3), (1, 2)] {
                grid.push(PromptThreshold {
                    min_words,
                    in_title,
                    short_prompt: PROMPT_THRESHOLD.short_prompt,
                    short_share,
                });
            }
        }
    }
    println!(
        "{} memories, {} prompts ({} with relevant memories); tuned on the first half, \
         held out the second",
        key_of.len(),
        cases.len(),
        cases.iter().filter(|c| !c.relevant.is_empty()).count()
    );
    println!(
        "{:<46} | {:>5} {:>5} {:>5} {:>5} | {:>5} {:>5} {:>5} {:>5}",
        "threshold", "P", "R", "F1", "quiet", "P", "R", "F1", "quiet"
    );
    let mut best: Option<(f64, PromptThreshold)> = None;
    for t in &grid {
        let mut halves = [Score::default(); 2];
        // Each kind of prompt (with relevant memories, without) alternates between the halves.
        let mut seen = [0usize; 2];
        for case in &cases {
            let class = usize::from(case.relevant.is_empty());
            let half = seen[class] % 2;
            seen[class] += 1;
            let shown = store
                .prompt_briefing_at(&case.prompt, Some(&project), PROMPT_BRIEFING_TOKENS, t)
                .await
                .expect("prompt briefing")
                .ids;
            let s = &mut halves[half];
            s.shown += shown.len();
            s.shown_relevant += shown
                .iter()
                .filter(|id| case.relevant.contains(&key_of[*id]))
                .count();
            s.labelled += case.relevant.len();
            if case.relevant.is_empty() {
                s.quiet_prompts += 1;
                s.quiet_kept += usize::from(shown.is_empty());
            }
        }
        let [tune, held] = halves;
        let marker = if *t == PROMPT_THRESHOLD { " (now)" } else { "" };
        println!(
            "{:<46} | {:>5.2} {:>5.2} {:>5.2} {:>5.2} | {:>5.2} {:>5.2} {:>5.2} {:>5.2}",
            format!("{}{marker}", describe(t)),
            tune.precision(),
            tune.recall(),
            tune.f1(),
            tune.silence(),
            held.precision(),
            held.recall(),
            held.f1(),
            held.silence()
        );
        // Chosen on the tuning half: best F1 among thresholds that keep silent on at least
        // nine in ten prompts with nothing relevant.
        if tune.silence() >= 0.9 && best.is_none_or(|(f1, _)| tune.f1() > f1) {
            best = Some((tune.f1(), *t));
        }
    }
    match best {
        Some((f1, t)) => println!("best on the tuning half: {} (F1 {f1:.2})", describe(&t)),
        None => println!("no threshold keeps silent on nine in ten unrelated prompts"),
    }
}
