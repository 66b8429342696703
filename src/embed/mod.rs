//! Embedders: turning memory text into vectors for semantic and hybrid search.
//!
//! An [`Embedder`] names its model, knows its dimension and embeds texts in batches. The
//! providers are the built-in offline [`model2vec`] (static embeddings: a table lookup and a
//! mean per text, fast enough to embed on every write without a GPU or a runtime), an
//! [`openai`]-compatible HTTP endpoint (OpenAI, Ollama, LM Studio, vLLM, local servers), and
//! none (keyword search only).
//!
//! Nothing here is on the startup path: [`EmbedderSpec::build`] may take seconds (reading a
//! model, probing a server), so front ends run it in the background and publish the result
//! through an [`EmbedderHandle`]; until then the store searches by keyword. The store, not the
//! embedder, decides what to embed and when (see `store/embedding.rs`).

mod handle;
pub mod model2vec;
pub mod openai;
mod spec;

use std::path::PathBuf;

use async_trait::async_trait;

pub use handle::{EmbedderHandle, EmbedderStatus};
pub use spec::EmbedderSpec;

/// Turns texts into vectors of one model.
#[async_trait]
pub trait Embedder: Send + Sync + 'static {
    /// Identifies the model that made the vectors. The store records it with the dimension
    /// and never compares vectors of two ids.
    fn model_id(&self) -> &str;

    /// Length of every vector this embedder returns.
    fn dimension(&self) -> usize;

    /// One vector per text, in order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Why texts could not be embedded. Messages say what to change, since `memory_stats` and the
/// logs show them as they are.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(
        "cannot load the Model2Vec model in {dir}: {reason}; fix MNEMOGRAPH_MODEL_DIR (or \
         model_dir in the config file), or unset it to use the built-in model"
    )]
    Model { dir: PathBuf, reason: String },

    #[error(
        "the embedding server {url} cannot be reached: {reason}; check MNEMOGRAPH_EMBED_URL \
         and that the server is running"
    )]
    Unreachable { url: String, reason: String },

    #[error("the embedding server {url} answered HTTP {status}: {detail}")]
    Status {
        url: String,
        status: u16,
        detail: String,
    },

    #[error("the embedding server {url} sent an unusable answer: {reason}")]
    BadResponse { url: String, reason: String },

    #[error(
        "embedder {model} returned {got}-dimensional vectors where {expected} were expected; \
         fix MNEMOGRAPH_EMBED_DIM or the model name"
    )]
    Dimension {
        model: String,
        expected: usize,
        got: usize,
    },

    #[error("embedder {model} failed: {reason}")]
    Failed { model: String, reason: String },
}

/// The text a memory is embedded from: what it is about (title), what it says (content) and
/// how it was filed (tags). Everything that changes this text makes the vector stale.
pub fn memory_text(title: &str, content: &str, tags: &[String]) -> String {
    let mut text = format!("{title}\n{content}");
    if !tags.is_empty() {
        text.push_str("\ntags: ");
        text.push_str(&tags.join(", "));
    }
    text
}

/// Embeds `texts` and checks the answer: one finite vector of the embedder's dimension per
/// text. Providers check their own wire format; this guards the store against any of them.
pub async fn embed_checked(
    embedder: &dyn Embedder,
    texts: &[String],
) -> Result<Vec<Vec<f32>>, EmbedError> {
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let vectors = embedder.embed(texts).await?;
    let model = embedder.model_id();
    if vectors.len() != texts.len() {
        return Err(EmbedError::Failed {
            model: model.to_owned(),
            reason: format!("{} vectors for {} texts", vectors.len(), texts.len()),
        });
    }
    for v in &vectors {
        if v.len() != embedder.dimension() {
            return Err(EmbedError::Dimension {
                model: model.to_owned(),
                expected: embedder.dimension(),
                got: v.len(),
            });
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(EmbedError::Failed {
                model: model.to_owned(),
                reason: "a vector holds NaN or infinite values".into(),
            });
        }
    }
    Ok(vectors)
}
