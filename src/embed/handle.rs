//! [`EmbedderHandle`]: the embedder a store uses, which may still be loading or may have
//! failed. Front ends start with a loading handle and keep serving keyword search while the
//! embedder is built in the background; the store asks the handle on every call.

use std::sync::{Arc, RwLock};

use serde::Serialize;

use super::Embedder;

#[derive(Clone)]
enum State {
    /// No embedder configured: keyword search only.
    Off,
    Loading {
        provider: String,
    },
    Ready(Arc<dyn Embedder>),
    /// Configured but unusable; `reason` says why and what to do.
    Failed {
        provider: String,
        reason: String,
    },
}

/// A shared, changeable reference to the store's embedder. Clones share the state.
#[derive(Clone)]
pub struct EmbedderHandle {
    state: Arc<RwLock<State>>,
}

/// What `memory_stats` and `memctl` show about the embedder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmbedderStatus {
    /// `none`, `loading`, `ready` or `failed`.
    pub state: &'static str,
    /// `none`, `model2vec`, `openai`, or the model's provider when ready.
    pub provider: String,
    pub model: Option<String>,
    pub dimension: Option<usize>,
    /// Why it failed, with what to do about it.
    pub detail: Option<String>,
}

impl Default for EmbedderHandle {
    fn default() -> Self {
        Self::off()
    }
}

impl EmbedderHandle {
    fn with(state: State) -> Self {
        EmbedderHandle {
            state: Arc::new(RwLock::new(state)),
        }
    }

    /// No embedder: keyword search only.
    pub fn off() -> Self {
        Self::with(State::Off)
    }

    /// An embedder that is ready now (tests, benchmarks, batch tools).
    pub fn ready(embedder: Arc<dyn Embedder>) -> Self {
        Self::with(State::Ready(embedder))
    }

    fn set(&self, state: State) {
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = state;
    }

    fn read(&self) -> State {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_off(&self) {
        self.set(State::Off);
    }

    pub fn set_loading(&self, provider: &str) {
        self.set(State::Loading {
            provider: provider.to_owned(),
        });
    }

    pub fn set_ready(&self, embedder: Arc<dyn Embedder>) {
        self.set(State::Ready(embedder));
    }

    pub fn set_failed(&self, provider: &str, reason: impl Into<String>) {
        self.set(State::Failed {
            provider: provider.to_owned(),
            reason: reason.into(),
        });
    }

    /// The embedder, when it is ready.
    pub fn get(&self) -> Option<Arc<dyn Embedder>> {
        match self.read() {
            State::Ready(embedder) => Some(embedder),
            _ => None,
        }
    }

    pub fn status(&self) -> EmbedderStatus {
        let status = |state, provider: &str, detail| EmbedderStatus {
            state,
            provider: provider.to_owned(),
            model: None,
            dimension: None,
            detail,
        };
        match self.read() {
            State::Off => status("none", "none", None),
            State::Loading { provider } => status("loading", &provider, None),
            State::Failed { provider, reason } => status("failed", &provider, Some(reason)),
            State::Ready(e) => EmbedderStatus {
                state: "ready",
                provider: e
                    .model_id()
                    .split_once('/')
                    .map_or("custom", |(p, _)| p)
                    .to_owned(),
                model: Some(e.model_id().to_owned()),
                dimension: Some(e.dimension()),
                detail: None,
            },
        }
    }

    /// Why semantic search cannot run now, for error messages; `None` when it can.
    pub fn unavailable_reason(&self) -> Option<String> {
        match self.read() {
            State::Ready(_) => None,
            State::Off => Some("no embedder is configured (MNEMOGRAPH_EMBEDDER=none)".into()),
            State::Loading { provider } => {
                Some(format!("the {provider} embedder is still loading"))
            }
            State::Failed { provider, reason } => {
                Some(format!("the {provider} embedder failed: {reason}"))
            }
        }
    }
}
