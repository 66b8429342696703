//! Re-embedding: the explicit switch of embedding model (`memctl reembed`).
//!
//! A store records which model made its vectors, and a vector is only ever compared with
//! vectors of the same model. Changing the model is therefore a deliberate act: it records the
//! new model (the old vectors stay in place, unused by search, until each memory gets a new
//! one), then embeds every memory that has no vector of the new model. Interrupted, it resumes
//! where it stopped; run again when everything is embedded, it does nothing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use super::MemoryStore;
use super::embedding::{one_by_one, text_of};
use crate::backend::{Cursor, GraphBackend};
use crate::embed::{Embedder, embed_checked};
use crate::error::{Error, Result};
use crate::model::{Embedding, Filter, Memory};

/// Memories embedded per batch unless told otherwise. Each batch costs a page query, a
/// lookup of existing vectors and one write transaction besides the embedding itself, which
/// at 64 a batch made up most of a re-embedding with the built-in model; 256 texts are still a
/// small request for an HTTP provider (OpenAI's limit is 2,048 inputs).
pub const DEFAULT_REEMBED_BATCH: usize = 256;

/// How [`MemoryStore::reembed`] works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReembedOptions {
    /// Re-embed every memory, also those that have a vector of the current model already.
    pub force: bool,
    /// Memories per call to the embedder (at least 1).
    pub batch: usize,
}

impl Default for ReembedOptions {
    fn default() -> Self {
        ReembedOptions {
            force: false,
            batch: DEFAULT_REEMBED_BATCH,
        }
    }
}

/// What a re-embedding did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReembedReport {
    /// The store's embedding model and dimension now.
    pub model: String,
    pub dimension: usize,
    /// The model the store recorded before, when this run switched away from it.
    pub previous_model: Option<String>,
    pub previous_dimension: Option<usize>,
    /// Memories that were to be embedded.
    pub total: u64,
    /// Memories that got a vector of the model.
    pub embedded: u64,
    /// Memories the embedder rejected: they stay without a vector (keyword search only).
    pub failed: u64,
    /// Memories left alone: they had a vector of the model already (without `force`), or
    /// changed or disappeared while being embedded (a changed text is embedded on its write
    /// or by the background worker).
    pub skipped: u64,
}

impl ReembedReport {
    /// True when this run recorded a different model than the store had.
    pub fn switched(&self) -> bool {
        self.previous_model.is_some()
    }
}

/// Running counts.
struct Tally {
    /// Vectors the embedder made, written or not yet.
    made: u64,
    done: u64,
    total: u64,
    embedded: u64,
    failed: u64,
    skipped: u64,
}

impl MemoryStore {
    /// Makes the ready embedder's model the store's embedding model and embeds every memory
    /// that has no vector of it (every memory with `force`), `options.batch` at a time,
    /// calling `progress(done, total)` after each batch.
    ///
    /// Switching records the new model at once, so from then on searches use vectors of the
    /// new model only; memories not embedded yet are found by keyword until they are.
    /// Fails when no embedder is ready, or when the embedder fails for every memory it is
    /// given before any succeeded (a provider that is down, not a text it rejects).
    pub async fn reembed(
        &self,
        options: ReembedOptions,
        mut progress: impl FnMut(u64, u64) + Send,
    ) -> Result<ReembedReport> {
        let embedder = self.embedder.get().ok_or_else(|| {
            Error::invalid(
                "embedder",
                format!(
                    "re-embedding needs a ready embedder, and {}; configure one \
                     (MNEMOGRAPH_EMBEDDER=model2vec for the built-in model, with \
                     MNEMOGRAPH_MODEL_DIR for another Model2Vec model, or \
                     MNEMOGRAPH_EMBEDDER=openai with MNEMOGRAPH_EMBED_URL and \
                     MNEMOGRAPH_EMBED_MODEL)",
                    self.embedder
                        .unavailable_reason()
                        .unwrap_or_else(|| "it is not ready".into())
                ),
            )
        })?;
        let batch = options.batch.max(1);
        let model = embedder.model_id().to_owned();
        let dim = embedder.dimension();

        let meta = self.backend.meta().await?;
        let recorded = meta.embedding_model.zip(meta.embedding_dim);
        let previous = if recorded.as_ref() != Some(&(model.clone(), dim)) {
            let previous = self.backend.replace_embedding_space(&model, dim).await?;
            *self.space.write().expect("space lock") = Some((model.clone(), dim));
            if let Some((old, old_dim)) = &previous {
                tracing::info!(from = %old, from_dim = old_dim, to = %model, to_dim = dim, "switched the store's embedding model");
            }
            previous
        } else {
            None
        };

        let stats = self.backend.stats().await?;
        let mut tally = if options.force {
            Tally {
                made: 0,
                done: 0,
                total: stats.memories,
                embedded: 0,
                failed: 0,
                skipped: 0,
            }
        } else {
            // `embedded` counts vectors of the recorded model, which is now `model`.
            Tally {
                made: 0,
                done: 0,
                total: stats.memories.saturating_sub(stats.embedded),
                embedded: 0,
                failed: 0,
                skipped: stats.embedded,
            }
        };
        progress(0, tally.total);

        // One pass over the memories, page by page after a cursor: each is looked at once,
        // so every run ends, and the cost is linear in the store's size (asking for "the
        // first memories without a vector" each time rescanned the embedded ones: O(n²)).
        // A memory written meanwhile gets its vector from its write or the background worker.
        let mut after: Option<Cursor> = None;
        let mut writing: Option<Writing> = None;
        loop {
            let page = self
                .backend
                .list_memories(&Filter::default(), after.as_ref(), batch)
                .await?
                .memories;
            let Some(last) = page.last() else {
                break;
            };
            after = Some(Cursor::after(last));
            let last_page = page.len() < batch;
            let memories = match options.force {
                true => page,
                false => self.without_vector_of(&model, page).await?,
            };
            if !memories.is_empty() {
                let writes = embed_batch(embedder.as_ref(), &memories, &mut tally).await?;
                // The previous batch's vectors were written meanwhile: the embedder's work and
                // the store's overlap.
                if let Some(writing) = writing.take() {
                    settle(writing, &mut tally, &mut progress).await?;
                }
                let backend = Arc::clone(&self.backend);
                writing = Some(tokio::spawn(store_batch(backend, writes)));
            }
            if last_page {
                break;
            }
        }
        if let Some(writing) = writing.take() {
            settle(writing, &mut tally, &mut progress).await?;
        }
        Ok(ReembedReport {
            model,
            dimension: dim,
            previous_model: previous.as_ref().map(|p| p.0.clone()),
            previous_dimension: previous.map(|p| p.1),
            total: tally.total,
            embedded: tally.embedded,
            failed: tally.failed,
            skipped: tally.skipped,
        })
    }

    /// The memories of `page` that have no vector of `model`.
    async fn without_vector_of(&self, model: &str, page: Vec<Memory>) -> Result<Vec<Memory>> {
        let ids: Vec<String> = page.iter().map(|m| m.id.clone()).collect();
        let embedded: HashSet<String> = self
            .backend
            .embeddings(&ids)
            .await?
            .into_iter()
            .filter(|(_, e)| e.model == model)
            .map(|(id, _)| id)
            .collect();
        Ok(page
            .into_iter()
            .filter(|m| !embedded.contains(&m.id))
            .collect())
    }
}

/// A batch's vectors being written in a task of its own; it answers (written, skipped).
type Writing = tokio::task::JoinHandle<Result<(u64, u64)>>;

/// The vectors of one batch for [`store_batch`], counting the memories the embedder rejected.
async fn embed_batch(
    embedder: &dyn Embedder,
    memories: &[Memory],
    tally: &mut Tally,
) -> Result<Vec<(String, i64, Embedding)>> {
    let model = embedder.model_id();
    let texts: Vec<String> = memories.iter().map(text_of).collect();
    let vectors: Vec<Option<Vec<f32>>> = match embed_checked(embedder, &texts).await {
        Ok(vectors) => vectors.into_iter().map(Some).collect(),
        Err(err) => match one_by_one(embedder, &texts).await {
            Ok(vectors) => vectors,
            // Every text of a batch failed and nothing worked yet: the provider is at
            // fault, not these texts.
            Err(_) if tally.made == 0 && texts.len() > 1 => return Err(err.into()),
            Err(_) => vec![None; texts.len()],
        },
    };
    let mut writes = Vec::with_capacity(memories.len());
    for (memory, vector) in memories.iter().zip(vectors) {
        match vector {
            Some(vector) => writes.push((
                memory.id.clone(),
                memory.version,
                Embedding {
                    model: model.to_owned(),
                    vector,
                },
            )),
            None => {
                tracing::warn!(id = %memory.id, "the embedder rejects this memory; it stays keyword-only");
                tally.failed += 1;
                tally.done += 1;
            }
        }
    }
    tally.made += writes.len() as u64;
    Ok(writes)
}

/// Waits for a batch being written and counts what it did.
async fn settle(
    writing: Writing,
    tally: &mut Tally,
    progress: &mut (impl FnMut(u64, u64) + Send),
) -> Result<()> {
    let (written, skipped) = writing.await.map_err(|e| Error::Task(e.to_string()))??;
    tally.embedded += written;
    tally.skipped += skipped;
    tally.done += written + skipped;
    tally.total = tally.total.max(tally.done);
    progress(tally.done, tally.total);
    Ok(())
}

/// Stores one batch's vectors; answers how many were written and how many were skipped
/// because their memory changed or went away meanwhile.
async fn store_batch(
    backend: Arc<dyn GraphBackend>,
    writes: Vec<(String, i64, Embedding)>,
) -> Result<(u64, u64)> {
    let written = backend.set_embeddings(&writes).await?;
    let mut skipped = 0;
    if written < writes.len() {
        // Some memories changed or went away meanwhile: find which by what is stored now.
        let ids: Vec<String> = writes.iter().map(|w| w.0.clone()).collect();
        let current: HashMap<String, (i64, String)> = {
            let stored = backend.embeddings(&ids).await?;
            let versions: HashMap<String, i64> = backend
                .get_memories(&ids)
                .await?
                .into_iter()
                .map(|m| (m.id, m.version))
                .collect();
            stored
                .into_iter()
                .filter_map(|(id, e)| versions.get(&id).map(|&v| (id, (v, e.model))))
                .collect()
        };
        for (id, version, embedding) in &writes {
            let stored = current
                .get(id)
                .is_some_and(|(v, m)| v == version && *m == embedding.model);
            if !stored {
                skipped += 1;
            }
        }
    }
    Ok((written as u64, skipped))
}
