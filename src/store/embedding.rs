//! Embedding memories: on write when the embedder is ready, and later, by a background
//! worker, for every memory that has no vector of the current model.
//!
//! Embedding never runs inside a write transaction (a slow provider must not hold the
//! database's write lock) and never makes a write fail: a memory whose embedding failed is
//! stored without a vector and picked up by the worker. Vectors made outside a write are
//! stored only if the memory's version is still the one embedded, so a vector never describes
//! text the memory no longer has.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::MemoryStore;
use crate::embed::{
    EmbedError, Embedder, EmbedderHandle, EmbedderSpec, EmbedderStatus, embed_checked, memory_text,
};
use crate::error::Result;
use crate::model::{Embedding, Memory};

/// Memories the worker embeds per batch.
const WORKER_BATCH: usize = 64;
/// How often an idle worker looks for memories written without a vector (by this process
/// while the embedder failed, or by another process or device).
const IDLE_POLL: Duration = Duration::from_secs(30);
/// Longest pause after repeated failures.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The embedder's state and how much of the store it has embedded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmbeddingReport {
    pub embedder: EmbedderStatus,
    /// Memories with a vector.
    pub embedded: u64,
    /// Memories waiting for one.
    pub pending: u64,
}

pub(super) fn text_of(memory: &Memory) -> String {
    memory_text(&memory.title, &memory.content, &memory.tags)
}

impl MemoryStore {
    pub fn embedder(&self) -> &EmbedderHandle {
        &self.embedder
    }

    /// Vectors for `memories` from the ready embedder: all of them, or none when there is no
    /// embedder yet or it failed (logged; the worker retries later).
    pub(super) async fn embed_new(&self, memories: &[Memory]) -> Vec<Embedding> {
        let Some(embedder) = self.embedder.get() else {
            return Vec::new();
        };
        let texts: Vec<String> = memories.iter().map(text_of).collect();
        match embed_checked(embedder.as_ref(), &texts).await {
            Ok(vectors) => vectors
                .into_iter()
                .map(|vector| Embedding {
                    model: embedder.model_id().to_owned(),
                    vector,
                })
                .collect(),
            Err(err) => {
                tracing::warn!(%err, count = memories.len(), "embedding on write failed; the memories are stored and will be embedded later");
                Vec::new()
            }
        }
    }

    /// Fills in the vectors a batch of new records was given none for.
    pub(super) async fn embed_missing(&self, records: &mut [(Memory, Option<Embedding>)]) {
        let missing: Vec<usize> = (0..records.len())
            .filter(|&i| records[i].1.is_none())
            .collect();
        if missing.is_empty() || self.embedder.get().is_none() {
            return;
        }
        let memories: Vec<Memory> = missing.iter().map(|&i| records[i].0.clone()).collect();
        for (i, embedding) in missing.into_iter().zip(self.embed_new(&memories).await) {
            records[i].1 = Some(embedding);
        }
    }

    /// Re-embeds a memory whose text an update changed (its old vector is already gone).
    pub(super) async fn embed_after_update(&self, memory: &Memory) {
        if let Some(embedding) = self.embed_new(std::slice::from_ref(memory)).await.pop() {
            let batch = [(memory.id.clone(), memory.version, embedding)];
            if let Err(err) = self.backend.set_embeddings(&batch).await {
                tracing::warn!(%err, id = %memory.id, "storing the new vector failed; it will be embedded later");
            }
        }
    }

    /// The query's vector for semantic search, or an error saying why there is none.
    pub(super) async fn embed_query(&self, query: &str) -> Result<Embedding> {
        let embedder = self.embedder.get().ok_or_else(|| {
            crate::Error::invalid(
                "mode",
                format!(
                    "semantic and hybrid search need an embedder, and {}; use mode \"keyword\", \
                     which works now",
                    self.embedder
                        .unavailable_reason()
                        .unwrap_or_else(|| "it is not ready".into())
                ),
            )
        })?;
        let vector = embed_checked(embedder.as_ref(), &[query.to_owned()])
            .await?
            .pop()
            .unwrap_or_default();
        Ok(Embedding {
            model: embedder.model_id().to_owned(),
            vector,
        })
    }

    /// Embeds up to `limit` memories that have no vector of the current model; returns how
    /// many got one. Zero when there is no ready embedder or nothing is pending.
    pub async fn embed_pending(&self, limit: usize) -> Result<usize> {
        self.embed_pending_except(limit, &mut HashMap::new()).await
    }

    /// [`MemoryStore::embed_pending`] skipping memories that failed alone before (by id, at
    /// the version that failed), so one text a provider rejects cannot stall the queue. When a
    /// batch fails, its memories are embedded one by one to find the ones at fault; when every
    /// one fails, the provider is at fault and the error is returned.
    async fn embed_pending_except(
        &self,
        limit: usize,
        rejected: &mut HashMap<String, i64>,
    ) -> Result<usize> {
        let Some(embedder) = self.embedder.get() else {
            return Ok(0);
        };
        let model = embedder.model_id().to_owned();
        let memories: Vec<Memory> = self
            .backend
            .memories_without_embedding(&model, limit + rejected.len())
            .await?
            .into_iter()
            .filter(|m| rejected.get(&m.id) != Some(&m.version))
            .take(limit)
            .collect();
        if memories.is_empty() {
            return Ok(0);
        }
        let texts: Vec<String> = memories.iter().map(text_of).collect();
        let vectors = match embed_checked(embedder.as_ref(), &texts).await {
            Ok(vectors) => vectors.into_iter().map(Some).collect(),
            Err(err) if memories.len() == 1 => return Err(err.into()),
            Err(_) => one_by_one(embedder.as_ref(), &texts).await?,
        };
        let mut batch = Vec::with_capacity(memories.len());
        for (memory, vector) in memories.iter().zip(vectors) {
            match vector {
                Some(vector) => batch.push((
                    memory.id.clone(),
                    memory.version,
                    Embedding {
                        model: model.clone(),
                        vector,
                    },
                )),
                None => {
                    tracing::warn!(id = %memory.id, "the embedder rejects this memory; it stays keyword-only until its text changes");
                    rejected.insert(memory.id.clone(), memory.version);
                }
            }
        }
        self.backend.set_embeddings(&batch).await
    }

    /// The embedder's state and the store's embedding progress.
    pub async fn embedding_report(&self) -> Result<EmbeddingReport> {
        let stats = self.backend.stats().await?;
        Ok(EmbeddingReport {
            embedder: self.embedder.status(),
            embedded: stats.embedded,
            // One embedding space per store: every vector is of the current model.
            pending: if self.embedder.get().is_some() {
                stats.memories.saturating_sub(stats.embedded)
            } else {
                0
            },
        })
    }

    /// Builds the embedder of `spec` in the background, then keeps the store embedded: the
    /// store searches by keyword until the embedder is ready, and a failure (no model, a
    /// server that cannot be reached, a model other than the store's) is reported through
    /// [`MemoryStore::embedder`] rather than stopping anything.
    pub fn start_embedder(&self, spec: EmbedderSpec) -> tokio::task::JoinHandle<()> {
        self.mark_loading(&spec);
        let store = self.clone();
        tokio::spawn(async move {
            let Some((model, dim)) = store.activate_spec(&spec).await else {
                return;
            };
            // Load the vector index now rather than inside the first search.
            if let Err(err) = store.backend.warm_up_vectors(&model, dim).await {
                tracing::warn!(%err, "could not prepare vector search ahead of time");
            }
            store.run_embedding_worker().await;
        })
    }

    /// Builds the embedder of `spec` now and makes it the store's when it fits, for a
    /// one-shot command; like [`MemoryStore::start_embedder`], a failure is recorded in
    /// [`MemoryStore::embedder`] and search stays keyword-only.
    pub async fn load_embedder(&self, spec: &EmbedderSpec) {
        self.mark_loading(spec);
        self.activate_spec(spec).await;
    }

    fn mark_loading(&self, spec: &EmbedderSpec) {
        if *spec == EmbedderSpec::None {
            self.embedder.set_off();
        } else {
            self.embedder.set_loading(spec.provider());
        }
    }

    /// Builds and activates the embedder of `spec`: its model and dimension once ready.
    async fn activate_spec(&self, spec: &EmbedderSpec) -> Option<(String, usize)> {
        let provider = spec.provider();
        let embedder = match spec.build().await {
            Ok(Some(embedder)) => embedder,
            Ok(None) => return None,
            Err(err) => {
                tracing::warn!(%err, "the embedder is unavailable; search is keyword-only");
                self.embedder.set_failed(provider, err.to_string());
                return None;
            }
        };
        let space = (embedder.model_id().to_owned(), embedder.dimension());
        if let Err(err) = self.activate(provider, embedder).await {
            tracing::warn!(%err, "the embedder does not fit this store; search is keyword-only");
            return None;
        }
        Some(space)
    }

    /// Makes `embedder` the store's, if its vectors belong to the store's embedding space.
    async fn activate(&self, provider: &str, embedder: Arc<dyn Embedder>) -> Result<()> {
        match self
            .check_space(embedder.model_id(), embedder.dimension())
            .await
        {
            Ok(()) => {
                tracing::info!(
                    model = embedder.model_id(),
                    dim = embedder.dimension(),
                    "embedder ready"
                );
                self.embedder.set_ready(embedder);
                Ok(())
            }
            Err(err) => {
                self.embedder.set_failed(provider, err.to_string());
                Err(err)
            }
        }
    }

    /// Embeds pending memories for as long as the process runs.
    async fn run_embedding_worker(&self) {
        let mut rejected = HashMap::new();
        let mut backoff = Duration::from_secs(1);
        loop {
            match self.embed_pending_except(WORKER_BATCH, &mut rejected).await {
                Ok(0) => tokio::time::sleep(IDLE_POLL).await,
                Ok(n) => {
                    tracing::debug!(n, "embedded pending memories");
                    backoff = Duration::from_secs(1);
                }
                Err(err) => {
                    tracing::warn!(%err, retry_in = ?backoff, "embedding pending memories failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// Each text alone: `None` for the ones the embedder rejects; an error when it rejects all.
pub(super) async fn one_by_one(
    embedder: &dyn Embedder,
    texts: &[String],
) -> Result<Vec<Option<Vec<f32>>>, EmbedError> {
    let mut out = Vec::with_capacity(texts.len());
    let mut last_error = None;
    for text in texts {
        match embed_checked(embedder, std::slice::from_ref(text)).await {
            Ok(mut v) => out.push(v.pop()),
            Err(err) => {
                out.push(None);
                last_error = Some(err);
            }
        }
    }
    match last_error {
        Some(err) if out.iter().all(Option::is_none) => Err(err),
        _ => Ok(out),
    }
}
