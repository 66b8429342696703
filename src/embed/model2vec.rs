//! The built-in offline embedder: a Model2Vec static model, compiled into the binary (see
//! `model/README.md`) or read from a directory that configuration names.
//!
//! A static model embeds a text by looking up one vector per token and averaging them: no
//! neural network runs, so it embeds tens of thousands of short texts a second on one core
//! and can embed on every write. Quality is below a transformer's, which hybrid ranking makes
//! up for (see `store/fusion.rs`). Models are never downloaded.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use model2vec_rs::model::StaticModel;

use super::{EmbedError, Embedder};

/// The model compiled into the binary: all-MiniLM-L6-v2 distilled to 256 dimensions with
/// model2vec, its weights quantized to int8 (`model/quantize.py`).
const BUILTIN_NAME: &str = "m2v-minilm-int8";
const BUILTIN_CONFIG: &[u8] = include_bytes!("../../model/m2v-minilm-int8/config.json");
const BUILTIN_TOKENIZER: &[u8] = include_bytes!("../../model/m2v-minilm-int8/tokenizer.json");
const BUILTIN_WEIGHTS: &[u8] = include_bytes!("../../model/m2v-minilm-int8/model.safetensors");

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
    /// Loads the model in `dir`, named after the directory. Blocking (it reads megabytes):
    /// call it off the async workers.
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
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        Self::from_bytes(&name, &config, &tokenizer, &weights).map_err(fail)
    }

    /// The model compiled into the binary: semantic search with no download and no
    /// configuration. Blocking (it decodes megabytes): call it off the async workers.
    pub fn builtin() -> Result<Self, EmbedError> {
        Self::from_bytes(
            BUILTIN_NAME,
            BUILTIN_CONFIG,
            BUILTIN_TOKENIZER,
            BUILTIN_WEIGHTS,
        )
        .map_err(|reason| EmbedError::Failed {
            model: format!("built-in {BUILTIN_NAME}"),
            reason,
        })
    }

    /// The model in the directory configuration names, else the built-in one.
    pub fn load_configured(dir: Option<&PathBuf>) -> Result<Self, EmbedError> {
        match dir {
            Some(dir) => Self::load(dir),
            None => Self::builtin(),
        }
    }

    /// A model from the bytes of its three files. The model id is `name` and a fingerprint
    /// of the weights, so a store notices a different model even under the same name, and
    /// the same model moved or copied to another machine is still recognised.
    fn from_bytes(
        name: &str,
        config: &[u8],
        tokenizer: &[u8],
        weights: &[u8],
    ) -> Result<Self, String> {
        let model = catch_unwind(AssertUnwindSafe(|| {
            StaticModel::from_bytes(tokenizer, weights, config, None)
        }))
        .map_err(|_| "the model files are corrupt (loading them panicked)".to_owned())?
        .map_err(|e| format!("{e:#}"))?;
        Ok(Model2VecEmbedder {
            id: format!("model2vec/{name}@{:016x}", fingerprint(weights)),
            dim: model.dim(),
            model,
        })
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
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn the_builtin_model_loads_and_embeds_by_meaning() {
        let model = Model2VecEmbedder::builtin().unwrap();
        assert_eq!(model.dim, 256);
        assert!(
            model.id.starts_with("model2vec/m2v-minilm-int8@"),
            "{}",
            model.id
        );
        let texts = [
            "the sqlite database is locked",
            "SQLITE_BUSY: lock contention between two writers",
            "a recipe for lemon cake",
        ]
        .map(String::from);
        let v = model.encode(&texts).unwrap();
        let norm = cosine(&v[0], &v[0]);
        assert!((norm - 1.0).abs() < 1e-4, "normalised output: {norm}");
        assert!(
            cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]) + 0.2,
            "related texts are closer: {} vs {}",
            cosine(&v[0], &v[1]),
            cosine(&v[0], &v[2])
        );
    }

    #[test]
    fn a_model_directory_overrides_the_builtin_one() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("model/m2v-minilm-int8");
        let from_dir = Model2VecEmbedder::load_configured(Some(&dir)).unwrap();
        let builtin = Model2VecEmbedder::load_configured(None).unwrap();
        // Same weights, so the same fingerprint: only the name tells them apart.
        assert_eq!(from_dir.id, builtin.id);
        let missing = Model2VecEmbedder::load(&dir.join("nope")).unwrap_err();
        assert!(
            missing.to_string().contains("no such directory"),
            "{missing}"
        );
    }

    #[test]
    fn fingerprints_differ_for_different_bytes() {
        assert_ne!(fingerprint(b"abcdefghi"), fingerprint(b"abcdefghj"));
        assert_ne!(fingerprint(b""), fingerprint(b"\0"));
        assert_eq!(fingerprint(b"same"), fingerprint(b"same"));
    }
}
