//! `mnemograph`: the MCP server an AI coding assistant launches over stdio.
//!
//! stdout carries JSON-RPC and nothing else; logs go to stderr (and optionally a file).

use std::fs::OpenOptions;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use mnemograph::config::{Config, ConfigArgs, Profile};
use mnemograph::mcp::{MnemographServer, StoreLocation};
use mnemograph::store::MemoryStore;
use mnemograph::sync;
use rmcp::ServiceExt;
use rmcp::service::ServerInitializeError;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// A graph memory for AI coding assistants, served over MCP on stdio.
///
/// Register it with your assistant as a stdio MCP server whose command is `mnemograph`, e.g.
/// `claude mcp add mnemograph -- mnemograph`. The assistant then stores what it learns
/// (fixes, decisions, patterns, errors and their causes), links memories with typed
/// relationships and recalls them in later sessions.
///
/// The store is a libSQL file, `<data dir>/<namespace>.db`, created on first launch. Settings
/// come from flags, then MNEMOGRAPH_* environment variables, then the config file, then
/// defaults. Config file example (TOML):
///
///     namespace = "work"
///     log = "info"
///     [limits]
///     max_content_bytes = 131072
///
/// Search by meaning (semantic and hybrid modes) needs an embedder, loaded in the background
/// after startup: the built-in one reads a Model2Vec model directory named by
/// MNEMOGRAPH_MODEL_DIR (config.json, tokenizer.json, model.safetensors: clone a
/// minishlab/potion-* model from the Hugging Face hub, or distil one with the model2vec Python
/// package); MNEMOGRAPH_EMBEDDER=openai with MNEMOGRAPH_EMBED_URL, MNEMOGRAPH_EMBED_MODEL and a
/// key in MNEMOGRAPH_EMBED_API_KEY (or OPENAI_API_KEY) uses an OpenAI-compatible server;
/// MNEMOGRAPH_EMBEDDER=none keeps search keyword-only.
///
/// stdout carries the MCP protocol only; logs go to stderr and, with --log-file, to a file.
/// The server stops when stdin closes or on SIGINT/SIGTERM, after finishing writes in flight.
#[derive(Debug, Parser)]
#[command(name = "mnemograph", version, about, long_about, verbatim_doc_comment)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,

    /// Tool set to serve: `memory` (the full memory tools) or `knowledge-graph` (the nine
    /// tools of the reference MCP memory server, create_entities ... open_nodes, for a drop-in
    /// swap) [env: MNEMOGRAPH_PROFILE] [config file: profile] [default: memory]
    #[arg(long, value_enum, value_name = "PROFILE")]
    profile: Option<Profile>,
}

/// Longest a shutdown waits for tool calls in flight (a write waits at most the store's
/// busy timeout for its lock, then commits quickly).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Config(#[from] mnemograph::config::ConfigError),
    #[error("invalid log filter {filter:?}: {reason}")]
    LogFilter { filter: String, reason: String },
    #[error("cannot open the log file {path}: {source}")]
    LogFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the store {path}: {source}")]
    Store {
        path: String,
        #[source]
        source: mnemograph::Error,
    },
    #[error("MCP session failed: {0}")]
    Serve(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("mnemograph: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli));
    // `run` drained the calls in flight, so no write is cut short here. The runtime is not
    // dropped normally because that would wait for tokio's stdin reader, which blocks until
    // the client closes stdin: after a signal it may never do so.
    runtime.shutdown_background();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(%err, "mnemograph stopped");
            eprintln!("mnemograph: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), StartError> {
    let args = ConfigArgs {
        profile: cli.profile,
        ..cli.config
    };
    let config = Config::load(&args)?;
    init_logging(&config)?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        store = %config.db_path.value.display(),
        namespace = %config.namespace.value,
        profile = config.profile.value.as_str(),
        "starting"
    );

    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }

    let path = &config.db_path.value;
    let store_error = |source| StartError::Store {
        path: path.display().to_string(),
        source,
    };
    let connected = sync::connect(&config.sync, path)
        .await
        .map_err(store_error)?;
    let path = &connected.location().to_owned();
    if let Some(syncer) = &connected.syncer {
        tracing::info!(mode = %config.sync.mode, store = %path.display(), "syncing with the primary");
        sync::worker::spawn(
            Arc::clone(syncer),
            sync::Schedule::new(config.sync.interval),
        );
    }
    let store = MemoryStore::open(connected.backend, config.limits.clone())
        .await
        .map_err(store_error)?
        .with_syncer(connected.syncer);
    // Loads the model (or probes the embedding server) in the background: the server answers
    // `initialize` at once and searches by keyword until the embedder is ready.
    store.start_embedder(config.embedder.value.clone());
    let server = MnemographServer::new(
        store,
        StoreLocation {
            path: path.clone(),
            namespace: config.namespace.value.clone(),
        },
        config.profile.value,
    );

    let service = match server.clone().serve(rmcp::transport::stdio()).await {
        Ok(service) => service,
        // A client that closes stdin before initializing (a probe, or one that gave up) ends
        // the session as a close after it would: normally, with nothing to drain.
        Err(ServerInitializeError::ConnectionClosed(_)) => {
            tracing::info!("stdin closed before the client initialized; stopped");
            return Ok(());
        }
        Err(e) => return Err(StartError::Serve(e.to_string())),
    };
    let cancel = service.cancellation_token();
    tokio::spawn(async move {
        let signal = shutdown_signal().await;
        tracing::info!(signal, "shutting down");
        cancel.cancel();
    });
    let reason = service
        .waiting()
        .await
        .map_err(|e| StartError::Serve(e.to_string()))?;
    if tokio::time::timeout(DRAIN_TIMEOUT, server.drain())
        .await
        .is_err()
    {
        tracing::warn!("tool calls still running after {DRAIN_TIMEOUT:?}; exiting anyway");
    }
    tracing::info!(?reason, "stopped");
    Ok(())
}

/// Logs to stderr, and to a file as well when one is configured.
fn init_logging(config: &Config) -> Result<(), StartError> {
    let filter = |spec: &str| {
        EnvFilter::try_new(spec).map_err(|e| StartError::LogFilter {
            filter: spec.to_owned(),
            reason: e.to_string(),
        })
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(filter(&config.log.value)?);
    let file = match &config.log_file {
        Some(setting) => {
            let mut options = OpenOptions::new();
            options.create(true).append(true);
            // Logs may quote memory text: a new log file is private like the store.
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let file = options
                .open(&setting.value)
                .map_err(|source| StartError::LogFile {
                    path: setting.value.display().to_string(),
                    source,
                })?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(Arc::new(file))
                    .with_ansi(false)
                    .with_filter(filter(&config.log.value)?),
            )
        }
        None => None,
    };
    // A second initialisation can only happen in tests that call this twice; ignore it.
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
    Ok(())
}

/// Resolves on SIGINT or SIGTERM (Ctrl-C elsewhere) with the signal's name.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
