//! The built-in offline embedder: a Model2Vec static model read from a local directory.
//!
//! A static model embeds a text by looking up one vector per token and averaging them: no
//! neural network runs, so it embeds tens of thousands of short texts a second on one core
//! and can embed on every write. Quality is below a transformer's, which hybrid ranking makes
//! up for (see `store/search.rs`). Models are never downloaded here: the directory is given by
//! configuration (see [`EmbedError::NoModelDir`] for where to get one).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use model2vec_rs::model::StaticModel;

use super::{EmbedError, Embedder};

/// Files a Model2Vec model directory holds.
const FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
/// Batches up to this size are embedded on the calling task: they take microseconds, less
/// than handing them to a blocking thread would.
const INLINE_BATCH: usize = 16;

/// A Model2Vec model loaded from a directory.
#[derive(Clone)]
pub struct Model2VecEmbedder {
    model: StaticModel,
    id: String,
    dim: usize,
}

impl std::fmt::Debug for Model2VecEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model2VecEmbedder")
            .field("id", &self.id)
            .field("dim", &self.dim)
            .finish()
    }
}

impl Model2VecEmbedder {
    /// Loads the model in `dir`. Blocking (it reads megabytes): call it off the async workers.
    ///
    /// The model id is the directory's name and a fingerprint of the weights, so a store
    /// notices a different model even under the same name, and the same model moved or
    /// copied to another machine is still recognised.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let fail = |reason: String| EmbedError::Model {
            dir: dir.to_owned(),
            reason,
        };
        if !dir.is_dir() {
            return Err(fail("no such directory".into()));
        }
        let missing: Vec<&str> = FILES
            .iter()
            .copied()
            .filter(|f| !dir.join(f).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(fail(format!(
                "{} missing; a Model2Vec model directory holds {}",
                missing.join(", "),
                FILES.join(", ")
            )));
        }
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| fail(format!("cannot read {name}: {e}")))
        };
        let (config, tokenizer, weights) = (
            read("config.json")?,
            read("tokenizer.json")?,
            read("model.safetensors")?,
        );
        let model = catch_unwind(AssertUnwindSafe(|| {
            StaticModel::from_bytes(&tokenizer, &weights, &config, None)
        }))
        .map_err(|_| fail("the model files are corrupt (loading them panicked)".into()))?
        .map_err(|e| fail(format!("{e:#}")))?;
        let dim = model.dim();
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        Ok(Model2VecEmbedder {
            id: format!("model2vec/{name}@{:016x}", fingerprint(&weights)),
            model,
            dim,
        })
    }

    /// The directory named by configuration, or the error saying one is needed.
    pub fn load_configured(dir: Option<&PathBuf>) -> Result<Self, EmbedError> {
        Self::load(dir.ok_or(EmbedError::NoModelDir)?)
    }

    /// Embeds on the current thread.
    fn encode(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        // One text after another on this thread: the model's own batch call spreads work
        // over every core, which an assistant's machine needs for other things.
        catch_unwind(AssertUnwindSafe(|| {
            texts.iter().map(|t| self.model.encode_single(t)).collect()
        }))
        .map_err(|_| EmbedError::Failed {
            model: self.id.clone(),
            reason: "the tokenizer panicked on this text".into(),
        })
    }
}

#[async_trait]
impl Embedder for Model2VecEmbedder {
    fn model_id(&self) -> &str {
        &self.id
    }

    fn dimension(&self) -> usize {
        self.dim
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.len() <= INLINE_BATCH {
            return self.encode(texts);
        }
        let (this, texts) = (self.clone(), texts.to_vec());
        tokio::task::spawn_blocking(move || this.encode(&texts))
            .await
            .map_err(|e| EmbedError::Failed {
                model: self.id.clone(),
                reason: e.to_string(),
            })?
    }
}

/// FNV-1a over the bytes, 8 at a time: a cheap fingerprint, not a security measure.
fn fingerprint(bytes: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let (chunks, rest) = bytes.as_chunks::<8>();
    for chunk in chunks {
        hash = (hash ^ u64::from_le_bytes(*chunk)).wrapping_mul(PRIME);
    }
    for &b in rest {
        hash = (hash ^ u64::from(b)).wrapping_mul(PRIME);
    }
    hash ^ bytes.len() as u64
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    #[test]
    fn fingerprints_differ_for_different_bytes() {
        assert_ne!(fingerprint(b"abcdefghi"), fingerprint(b"abcdefghj"));
        assert_ne!(fingerprint(b""), fingerprint(b"\0"));
        assert_eq!(fingerprint(b"same"), fingerprint(b"same"));
    }
}
