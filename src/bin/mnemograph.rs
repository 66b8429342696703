//! `mnemograph`: the MCP server an AI coding assistant launches over stdio.
//!
//! stdout carries JSON-RPC and nothing else; logs go to stderr (and optionally a file).

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mnemograph::app::App;
use mnemograph::config::{Config, ConfigArgs, Profile};
use mnemograph::mcp::{self, MnemographServer};
use mnemograph::secret::Secret;
use mnemograph::{http, logging, shutdown};

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
///
/// `mnemograph serve` serves the same tools over HTTP instead, to many clients at once, with
/// the web viewer beside them (see `mnemograph serve --help`).
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

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    Serve(ServeArgs),
}

/// Serve MCP over streamable HTTP at /mcp, for many clients at once, and the web viewer at /.
///
/// One process, one store: every client and the viewer see the same memories. Settings
/// (store, namespace, profile, log) are the flags before `serve`, e.g.
/// `mnemograph --namespace work serve`.
///
/// On loopback (the default) no token is needed; Host and Origin are checked on every
/// request, so web pages cannot reach the server through DNS rebinding or from another site.
/// Listening on any other address requires a token: set MNEMOGRAPH_SERVE_TOKEN, or one is
/// made up and printed at start. MCP clients send it as `Authorization: Bearer <token>`; a
/// browser opens the viewer link printed at start once, which keeps it in a cookie.
///
/// Stops on SIGINT/SIGTERM after answering the requests in flight.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
struct ServeArgs {
    /// Address and port to listen on (port 0 takes a free port)
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8431")]
    listen: SocketAddr,

    /// Also answer to this host name (or address), as clients on other machines name the
    /// server; repeatable. localhost, 127.0.0.1, [::1] and the listen address always work
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_hosts: Vec<String>,
}

/// The variable holding the token clients must send (never a flag: flags show in `ps`).
const TOKEN_VAR: &str = "MNEMOGRAPH_SERVE_TOKEN";

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
    #[error(transparent)]
    Http(#[from] http::ServeError),
}

/// jemalloc rather than the system's allocator: a search allocates and frees thousands of
/// small strings and vectors, which glibc's malloc made 15% of a hybrid search's CPU at 100k
/// memories; with jemalloc hybrid search and `recall` take 7–9% less, for 6–9 MiB more at
/// the peak (BENCHMARKS.md, session 16).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    if let Some(Command::Serve(serve)) = cli.command {
        return run_http(&config, serve, cli.output_schemas).await;
    }
    if std::io::stdin().is_terminal() {
        eprintln!(
            "mnemograph: waiting for an MCP client on stdin (JSON-RPC); an assistant starts \
             this for you, see `mnemograph --help`. Ctrl-C quits."
        );
    }
    start_logging(&config)?;
    // Installed before the store opens: from here on a signal stops the server cleanly.
    let shutdown = shutdown::signal();
    let mut server = MnemographServer::open(&config)
        .await
        .map_err(|source| StartError::Store {
            path: config.db_path.value.display().to_string(),
            source,
        })?;
    if cli.output_schemas {
        server = server.with_output_schemas();
    }
    mcp::serve(server, mcp::stdio(), shutdown).await?;
    Ok(())
}

fn start_logging(config: &Config) -> Result<(), StartError> {
    logging::init(config)?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), store = %config.db_path.value.display(),
        namespace = %config.namespace.value, profile = config.profile.value.as_str(), "starting");
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    Ok(())
}

/// `mnemograph serve`. Unlike the stdio server, a store that cannot be opened stops it: a
/// person started it and reads why on the terminal.
async fn run_http(
    config: &Config,
    args: ServeArgs,
    output_schemas: bool,
) -> Result<(), StartError> {
    start_logging(config)?;
    let token = std::env::var(TOKEN_VAR)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .map(|t| Secret::new(t.trim()));
    let bound = http::bind(http::Options {
        listen: args.listen,
        allow_hosts: args.allow_hosts,
        token,
    })
    .await?;
    let shutdown = shutdown::signal();
    let app = App::open(config)
        .await
        .map_err(|source| StartError::Store {
            path: config.db_path.value.display().to_string(),
            source,
        })?;
    app.start_background();
    let url = bound.url();
    eprintln!("mnemograph: serving on {url}");
    eprintln!("  MCP (streamable HTTP): {url}/mcp");
    match (bound.requires_token(), bound.made_up_token()) {
        (false, _) => eprintln!("  viewer: {url}/"),
        (true, Some(token)) => {
            let token = token.expose();
            eprintln!("  token (send `Authorization: Bearer <token>`): {token}");
            eprintln!("  viewer (open once; the browser keeps the token): {url}/?token={token}");
        }
        (true, None) => {
            eprintln!("  token: the value of {TOKEN_VAR} (send `Authorization: Bearer <token>`)");
            eprintln!("  viewer (open once): {url}/?token=<the value of {TOKEN_VAR}>");
        }
    }
    let mut server = MnemographServer::new(app.clone(), config.profile.value);
    if output_schemas {
        server = server.with_output_schemas();
    }
    bound.run(app, server, shutdown).await?;
    Ok(())
}
