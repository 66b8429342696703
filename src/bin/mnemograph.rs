//! `mnemograph`: the MCP server an AI coding assistant launches over stdio.
//!
//! stdout carries JSON-RPC and nothing else; logs go to stderr (and optionally a file).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use mnemograph::config::{Config, ConfigArgs, Profile};
use mnemograph::mcp::{self, MnemographServer};
use mnemograph::{logging, shutdown};

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
/// Search by meaning (semantic and hybrid modes, hybrid by default) uses an embedder loaded in
/// the background after startup: by default the model compiled into this binary (offline, no
/// download); MNEMOGRAPH_MODEL_DIR names another Model2Vec model directory (config.json,
/// tokenizer.json, model.safetensors); MNEMOGRAPH_EMBEDDER=openai with MNEMOGRAPH_EMBED_URL,
/// MNEMOGRAPH_EMBED_MODEL and a key in MNEMOGRAPH_EMBED_API_KEY (or OPENAI_API_KEY) uses an
/// OpenAI-compatible server; MNEMOGRAPH_EMBEDDER=none keeps search keyword-only.
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

    /// List every memory tool's output schema in tools/list, for clients that validate
    /// structured results (it doubles the list a model reads; results are the same)
    #[arg(long, env = "MNEMOGRAPH_OUTPUT_SCHEMAS")]
    output_schemas: bool,
}

/// Why the server could not start or serve.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Config(#[from] mnemograph::config::ConfigError),
    #[error(transparent)]
    Logging(#[from] mnemograph::logging::LoggingError),
    #[error("cannot open the store {path}: {source}")]
    Store {
        path: String,
        #[source]
        source: mnemograph::Error,
    },
    #[error(transparent)]
    Serve(#[from] mnemograph::mcp::ServeError),
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
    // `serve` drained the calls in flight, so no write is cut short here. The runtime is not
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
    if std::io::stdin().is_terminal() {
        eprintln!(
            "mnemograph: waiting for an MCP client on stdin (JSON-RPC); an assistant starts \
             this for you, see `mnemograph --help`. Ctrl-C quits."
        );
    }
    logging::init(&config)?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), store = %config.db_path.value.display(),
        namespace = %config.namespace.value, profile = config.profile.value.as_str(), "starting");
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let mut server = MnemographServer::open(&config)
        .await
        .map_err(|source| StartError::Store {
            path: config.db_path.value.display().to_string(),
            source,
        })?;
    if cli.output_schemas {
        server = server.with_output_schemas();
    }
    mcp::serve(server, mcp::stdio(), shutdown::signal()).await?;
    Ok(())
}
