//! An OpenAI-compatible `/v1/embeddings` endpoint: OpenAI itself, Ollama, LM Studio, vLLM,
//! text-embeddings-inference and other local servers.
//!
//! Requests go through `ureq` on a blocking thread: one small synchronous client is all an
//! embedder needs, and it keeps an async HTTP stack out of the build. Transient failures
//! (connection errors, timeouts, HTTP 429 and 5xx) are retried with exponential backoff; any
//! other answer fails at once with the server's own message. Every answer is checked: one
//! vector per input, of the expected dimension.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::{EmbedError, Embedder};
use crate::secret::Secret;

/// Where and how to reach the server.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiConfig {
    /// Base URL such as `https://api.openai.com/v1` or `http://localhost:11434`; the
    /// `/v1/embeddings` path is completed as needed.
    pub url: String,
    pub model: String,
    pub api_key: Option<Secret>,
    /// Expected dimension; when `None` it is learnt from the first answer.
    pub dimension: Option<usize>,
    /// Most texts per request.
    pub batch_size: usize,
    /// Longest one request may take.
    pub timeout: Duration,
    /// Retries of a transient failure, after the first try.
    pub retries: u32,
}

impl OpenAiConfig {
    pub const DEFAULT_URL: &'static str = "https://api.openai.com/v1";
    pub const DEFAULT_MODEL: &'static str = "text-embedding-3-small";

    /// Defaults for `url` and `model`: a 30 s timeout, 3 retries, 64 texts per request.
    pub fn new(url: impl Into<String>, model: impl Into<String>) -> Self {
        OpenAiConfig {
            url: url.into(),
            model: model.into(),
            api_key: None,
            dimension: None,
            batch_size: 64,
            timeout: Duration::from_secs(30),
            retries: 3,
        }
    }
}

/// The full endpoint URL for a configured base URL.
fn endpoint(url: &str) -> String {
    let base = url.trim_end_matches('/');
    if base.ends_with("/embeddings") {
        base.to_owned()
    } else if base.ends_with("/v1") {
        format!("{base}/embeddings")
    } else {
        format!("{base}/v1/embeddings")
    }
}

/// First pause between retries; doubled each time.
const BACKOFF: Duration = Duration::from_millis(250);
/// Longest time to connect: an absent server should fail fast, not after the full timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read (a batch of 64 vectors of 3072 floats as JSON is about 4 MB).
const MAX_ANSWER_BYTES: u64 = 64 << 20;
/// Characters of an error body quoted in a message.
const QUOTED_CHARS: usize = 300;

/// An embedder talking to an OpenAI-compatible server.
#[derive(Clone)]
pub struct OpenAiEmbedder {
    agent: ureq::Agent,
    endpoint: String,
    config: OpenAiConfig,
    id: String,
    dim: usize,
}

impl std::fmt::Debug for OpenAiEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiEmbedder")
            .field("endpoint", &self.endpoint)
            .field("id", &self.id)
            .field("dim", &self.dim)
            .finish()
    }
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    embedding: Vec<f32>,
    #[serde(default)]
    index: Option<usize>,
}

/// Why one attempt failed, and whether another may succeed.
enum Attempt {
    Retry(EmbedError),
    Fatal(EmbedError),
}

impl OpenAiEmbedder {
    /// Connects: embeds one probe text to learn (or check) the dimension, so a wrong URL,
    /// model or key is reported when the embedder starts, not at the first write.
    pub async fn connect(config: OpenAiConfig) -> Result<Self, EmbedError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        let mut embedder = OpenAiEmbedder {
            agent,
            endpoint: endpoint(&config.url),
            id: format!("openai/{}", config.model),
            dim: config.dimension.unwrap_or(0),
            config,
        };
        let probe = embedder.request(vec!["dimension probe".to_owned()]).await?;
        let got = probe.first().map_or(0, Vec::len);
        match embedder.config.dimension {
            Some(expected) if expected != got => {
                return Err(EmbedError::Dimension {
                    model: embedder.id,
                    expected,
                    got,
                });
            }
            _ => embedder.dim = got,
        }
        Ok(embedder)
    }

    /// One request with retries, on a blocking thread.
    async fn request(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.request_blocking(&texts))
            .await
            .map_err(|e| EmbedError::Failed {
                model: self.id.clone(),
                reason: e.to_string(),
            })?
    }

    fn request_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut pause = BACKOFF;
        let mut tries = 0;
        loop {
            match self.attempt(texts) {
                Ok(vectors) => return Ok(vectors),
                Err(Attempt::Retry(err)) if tries < self.config.retries => {
                    tracing::debug!(%err, tries, "retrying embedding request");
                    std::thread::sleep(pause);
                    pause *= 2;
                    tries += 1;
                }
                Err(Attempt::Retry(err) | Attempt::Fatal(err)) => return Err(err),
            }
        }
    }

    fn attempt(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, Attempt> {
        let url = &self.endpoint;
        let mut request = self.agent.post(url).header("Accept", "application/json");
        if let Some(key) = &self.config.api_key {
            request = request.header("Authorization", format!("Bearer {}", key.expose()));
        }
        let body = json!({
            "model": self.config.model,
            "input": texts,
            "encoding_format": "float",
        });
        let mut response = request.send_json(&body).map_err(|e| {
            Attempt::Retry(EmbedError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            })
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map_err(|e| {
                Attempt::Retry(EmbedError::Unreachable {
                    url: url.clone(),
                    reason: format!("reading the answer failed: {e}"),
                })
            })?;
        if !(200..300).contains(&status) {
            let err = EmbedError::Status {
                url: url.clone(),
                status,
                detail: quote(&text),
            };
            return Err(if status == 429 || status >= 500 {
                Attempt::Retry(err)
            } else {
                Attempt::Fatal(err)
            });
        }
        self.parse(&text, texts.len()).map_err(Attempt::Fatal)
    }

    /// The vectors of an answer, in input order, checked.
    fn parse(&self, text: &str, expected: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        let bad = |reason: String| EmbedError::BadResponse {
            url: self.endpoint.clone(),
            reason,
        };
        let answer: Answer = serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "not an embeddings answer ({e}); it starts {}",
                quote(text)
            ))
        })?;
        if answer.data.len() != expected {
            return Err(bad(format!(
                "{} vectors for {expected} inputs",
                answer.data.len()
            )));
        }
        let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
        for (position, item) in answer.data.into_iter().enumerate() {
            let index = item.index.unwrap_or(position);
            let slot = slots
                .get_mut(index)
                .ok_or_else(|| bad(format!("vector index {index} out of range")))?;
            if slot.replace(item.embedding).is_some() {
                return Err(bad(format!("vector index {index} repeated")));
            }
        }
        let vectors: Vec<Vec<f32>> = slots.into_iter().flatten().collect();
        let dim = vectors.first().map_or(0, Vec::len);
        if dim == 0 {
            return Err(bad("empty vectors".into()));
        }
        if let Some(v) = vectors.iter().find(|v| v.len() != dim) {
            return Err(bad(format!(
                "vectors of different lengths ({dim} and {})",
                v.len()
            )));
        }
        if self.dim != 0 && dim != self.dim {
            return Err(EmbedError::Dimension {
                model: self.id.clone(),
                expected: self.dim,
                got: dim,
            });
        }
        Ok(vectors)
    }
}

/// The start of a body, on one line, for an error message.
fn quote(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(QUOTED_CHARS) {
        Some((cut, _)) => format!("{:?}…", &flat[..cut]),
        None => format!("{flat:?}"),
    }
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model_id(&self) -> &str {
        &self.id
    }

    fn dimension(&self) -> usize {
        self.dim
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.config.batch_size.max(1)) {
            out.extend(self.request(batch.to_vec()).await?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_completed() {
        assert_eq!(
            endpoint("https://api.openai.com/v1"),
            "https://api.openai.com/v1/embeddings"
        );
        assert_eq!(
            endpoint("http://localhost:11434/"),
            "http://localhost:11434/v1/embeddings"
        );
        assert_eq!(endpoint("http://h/v1/embeddings"), "http://h/v1/embeddings");
    }

    #[test]
    fn quotes_are_short_and_flat() {
        assert_eq!(quote("a\n b"), "\"a b\"");
        assert!(quote(&"x".repeat(1000)).chars().count() < QUOTED_CHARS + 5);
    }
}
