//! Which embedder to build, as configuration says, and building it.

use std::path::PathBuf;
use std::sync::Arc;

use super::model2vec::Model2VecEmbedder;
use super::openai::{OpenAiConfig, OpenAiEmbedder};
use super::{EmbedError, Embedder};

/// The configured embedder.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbedderSpec {
    /// Keyword search only.
    None,
    /// The built-in offline Model2Vec embedder, from a model directory.
    Model2Vec { model_dir: Option<PathBuf> },
    /// An OpenAI-compatible HTTP endpoint.
    OpenAi(OpenAiConfig),
}

impl EmbedderSpec {
    /// The provider's name as configuration spells it.
    pub fn provider(&self) -> &'static str {
        match self {
            EmbedderSpec::None => "none",
            EmbedderSpec::Model2Vec { .. } => "model2vec",
            EmbedderSpec::OpenAi(_) => "openai",
        }
    }

    /// Builds the embedder: loads the model or probes the server. Slow (up to seconds), so
    /// front ends call it in the background. `Ok(None)` for [`EmbedderSpec::None`].
    pub async fn build(&self) -> Result<Option<Arc<dyn Embedder>>, EmbedError> {
        Ok(match self {
            EmbedderSpec::None => None,
            EmbedderSpec::Model2Vec { model_dir } => {
                let dir = model_dir.clone();
                let embedder = tokio::task::spawn_blocking(move || {
                    Model2VecEmbedder::load_configured(dir.as_ref())
                })
                .await
                .map_err(|e| EmbedError::Failed {
                    model: "model2vec".into(),
                    reason: e.to_string(),
                })??;
                Some(Arc::new(embedder))
            }
            EmbedderSpec::OpenAi(config) => {
                Some(Arc::new(OpenAiEmbedder::connect(config.clone()).await?))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn api_keys_never_print() {
        let key = Secret::new("sk-secret");
        let mut config = OpenAiConfig::new("http://x", "m");
        config.api_key = Some(key.clone());
        let shown = format!("{:?}", EmbedderSpec::OpenAi(config));
        assert!(!shown.contains("sk-secret"), "{shown}");
        assert_eq!(key.expose(), "sk-secret");
    }
}
