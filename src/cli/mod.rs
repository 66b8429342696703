//! `memctl`, the companion CLI: the same store and configuration as the MCP server, for
//! people. It looks into what assistants remember, fixes it, moves it between machines and
//! tools, and diagnoses problems, also while servers are running on the same store.
//!
//! Layout: this module holds the command line ([`Cli`]) and dispatch; [`output`] renders
//! human and JSON output; [`args`] the flags several commands share; [`editor`] the text form
//! of a memory edited in `$EDITOR`; [`render`] the graph file formats; [`commands`] one
//! module per group of commands. Like the MCP server, every command only translates: the
//! rules live in [`crate::store::MemoryStore`].
//!
//! Conventions: quiet by default (a command prints its answer and nothing else); `--json`
//! prints one JSON document on stdout whose shape is listed in each command's help; a
//! failure prints one line, `memctl: <what went wrong>`, on stderr and exits with status 1
//! (2 for a command line clap rejects); destructive commands ask for confirmation on a
//! terminal and need `--yes` elsewhere.

mod args;
mod commands;
mod editor;
mod output;
mod render;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tokio::sync::OnceCell;

use crate::app::App;
use crate::backend::IdKind;
use crate::config::{Config, ConfigArgs, ConfigError, Source};
use crate::store::MemoryStore;
use crate::sync::Mode;

pub use output::Output;

/// Manage the mnemograph memory store: look, fix, move, diagnose.
///
/// memctl works on the same store and configuration as the `mnemograph` MCP server (flags >
/// MNEMOGRAPH_* environment > config file > defaults), also while servers run on it.
/// Global flags go before the command, e.g. `memctl -n work --json list`.
///
/// Examples:
///   memctl init
///   memctl add -k fix -t "Retry SQLITE_BUSY" -c "Use BEGIN IMMEDIATE and a busy timeout"
///   memctl search "sqlite locked" --explain
///   memctl link <fix-id> SOLVES <error-id>
///   memctl export backup.jsonl && memctl -n other --create import backup.jsonl
#[derive(Debug, Parser)]
#[command(name = "memctl", version, about, long_about, verbatim_doc_comment)]
pub struct Cli {
    #[command(flatten)]
    config: ConfigArgs,

    /// Print machine-readable JSON on stdout (the shape of each command is in its help)
    #[arg(long, global = true)]
    json: bool,

    /// Answer yes to confirmations (needed for destructive commands when stdin is not a
    /// terminal)
    #[arg(long, short = 'y', global = true)]
    yes: bool,

    /// Let a write create the store of a namespace that does not exist yet (the default
    /// namespace is created on first use without it), so a misspelt -n makes nothing
    #[arg(long, global = true)]
    create: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the store of the namespace if needed and show where it is.
    ///
    /// In replica mode this makes the device's replica file; in remote mode it checks the
    /// primary.
    ///
    /// JSON: {"path", "mode", "primary", "namespace", "created", "store_id", "schema_version"}
    Init,
    /// Store a memory from flags, stdin (`--content -`) or $EDITOR (when no content is given
    /// on a terminal).
    ///
    /// Example: memctl add -k decision -t "Use libSQL" -c "Embedded replicas sync" --tags db
    ///
    /// JSON: {"id", "version", "created": "new"|"existing", "redacted": secrets taken out}
    Add(commands::memory::AddArgs),
    /// Show memories in full, with their relationships.
    ///
    /// JSON: {"memories": [Memory + "relationships": [Relationship]]}
    Show(commands::memory::ShowArgs),
    /// Change fields of a memory from flags, or in $EDITOR when no field is given.
    ///
    /// JSON: the updated Memory
    Edit(commands::memory::EditArgs),
    /// Delete memories and their relationships (asks first; --yes to skip).
    ///
    /// JSON: {"deleted": [ids], "relationships_removed": n}
    Rm(commands::memory::RmArgs),
    /// List memories, newest first, with filters and paging.
    ///
    /// JSON: {"memories": [Memory], "next_cursor": string|null}
    List(commands::memory::ListArgs),
    /// Search memories by keywords and meaning (hybrid when the embedder is ready).
    ///
    /// JSON: {"mode", "hits": [{"memory", "score", "snippet", "matched_terms",
    /// "matched_fields"}], "next_cursor"}
    Search(commands::find::SearchArgs),
    /// What do I know that helps with X: matches expanded through relationships, as a
    /// briefing.
    ///
    /// JSON: {"items": [{"memory", "score", "reason"}], "omitted": [ids], "briefing"}
    Recall(commands::find::RecallArgs),
    /// Create a relationship: SOURCE TYPE TARGET, e.g. `memctl link <fix> SOLVES <error>`.
    ///
    /// JSON: {"relationship": Relationship, "created": "new"|"existing"}
    Link(commands::graph::LinkArgs),
    /// Delete a relationship by id (the memories stay).
    ///
    /// JSON: {"deleted": id}
    Unlink(commands::graph::UnlinkArgs),
    /// Memories linked to one memory, up to a depth, nearest first.
    ///
    /// JSON: {"id", "neighbours": [{"memory": MemorySummary, "depth", "via": Relationship}]}
    Related(commands::graph::RelatedArgs),
    /// The shortest (or strongest) chain of relationships between two memories.
    ///
    /// JSON: {"found", "hops", "memories": [MemorySummary], "relationships": [Relationship]}
    Path(commands::graph::PathArgs),
    /// The subgraph around memories or a query: central memories and clusters.
    ///
    /// JSON: {"subgraph": {"nodes", "edges", "truncated"}, "central": [[id, score]],
    /// "clusters": [[ids]]}
    Explore(commands::graph::ExploreArgs),
    /// Write a subgraph as Graphviz DOT, Mermaid or GraphML.
    Graph(commands::graph::GraphArgs),
    /// Counts and size of the store.
    ///
    /// JSON: {"path", "namespace", "store_id", "schema_version", "memories", "relationships",
    /// "embedded", "by_kind": {kind: n}, "by_rel_type": {type: n}, "size_bytes",
    /// "embedding_model"}
    Stats,
    /// List, create or remove namespaces (one store each).
    Namespaces(commands::namespaces::NamespacesArgs),
    /// Export the store (native JSON Lines, lossless, streamed).
    ///
    /// JSON: {"path", "memories", "relationships", "embeddings"}
    Export(commands::transfer::ExportArgs),
    /// Import native, memory.jsonl (reference memory server) or MemoryGraph JSON.
    ///
    /// JSON: {"dry_run", "memories": {"created", "updated", "skipped", "skipped_by_reason"},
    /// "relationships": {…}, "errors": [{"at", "message"}], "stopped_at", "redacted"}
    Import(commands::transfer::ImportArgs),
    /// Write a consistent copy of the store (VACUUM INTO), safe while servers run.
    ///
    /// JSON: {"path", "size_bytes"}
    Backup(commands::maintenance::BackupArgs),
    /// Rebuild the full-text index and compact the store file.
    ///
    /// JSON: {"before_bytes", "after_bytes"}
    Vacuum,
    /// Multi-device sync: `now` syncs and fails if the primary cannot be reached; `status`
    /// (the default) syncs once and reports.
    ///
    /// JSON: {"mode", "primary", "replica", "online", "interval_secs", "last_attempt",
    /// "last_success", "last_error", "consecutive_failures", "frame_no", "frames_synced",
    /// "pending_writes", "conflicts", "lag_secs", "refused": [{"seq", "write", "refused_at",
    /// "reason"}]}
    Sync(commands::admin::SyncArgs),
    /// Embed every memory with the configured embedder, switching the store to its model
    /// when the store's vectors come from another one (with a progress bar on a terminal).
    /// Resumable; a no-op when every memory has a vector of the model.
    ///
    /// Example: MNEMOGRAPH_MODEL_DIR=~/models/potion-base-8M memctl reembed (or plain `memctl
    /// reembed` for the built-in model)
    ///
    /// JSON: {"model", "dimension", "previous_model", "previous_dimension", "total",
    /// "embedded", "failed", "skipped"}
    Reembed(commands::reembed::ReembedArgs),
    /// Check configuration, store integrity, permissions and disk space.
    ///
    /// JSON: {"ok", "checks": [{"name", "ok", "detail"}]}
    Doctor,
    /// The effective configuration, each value with where it came from.
    ///
    /// JSON: {"settings": [{"key", "value", "source"}]}
    Config,
    /// Automatic memory: add memctl's hooks to Claude Code, Codex or Gemini CLI, take them
    /// out, or see where they are.
    ///
    /// Example: memctl hooks install --client claude-code
    Hooks(commands::hooks::HooksArgs),
    /// What a coding assistant's hook runs: reads the hook's JSON on stdin, prints the
    /// client's answer (a briefing, relevant memories, or nothing after a capture), exits 0
    /// even when something fails (said on stderr).
    Hook(commands::hooks::HookArgs),
    /// Shell completions on stdout, e.g. `memctl completions bash > ~/.bash_completion.d/memctl`.
    Completions(commands::admin::CompletionsArgs),
}

/// Why a command failed. Each message is one line that says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] crate::Error),
    #[error(
        "no store at {path} (namespace {namespace}); create it with `memctl init`, or check \
         --namespace, --data-dir and --db"
    )]
    NoStore { path: PathBuf, namespace: String },
    #[error(
        "namespace {namespace} has no store yet ({path}); pass --create to make it (or run \
         `memctl init -n {namespace}`), or check the namespace's spelling: `memctl namespaces` \
         lists those that exist"
    )]
    NewNamespace { path: PathBuf, namespace: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
    #[error("{path} exists; pass --force to overwrite it")]
    Exists { path: PathBuf },
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
        let context = context.into();
        move |source| CliError::Io { context, source }
    }

    /// Whether the command failed because whoever read its output stopped reading
    /// (`memctl export - | head`): not a failure to report.
    pub fn is_closed_pipe(&self) -> bool {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(err) = cause {
            if let Some(io) = err.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                return true;
            }
            cause = err.source();
        }
        false
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

/// What every command works with: the configuration and how to print.
pub struct Ctx {
    pub config: Config,
    pub out: Output,
    /// `--yes` was given.
    pub yes: bool,
    /// `--create` was given.
    pub create: bool,
    /// The store, once a command opened it: one open per command, so a replica takes one
    /// replica file and syncs once.
    app: OnceCell<App>,
}

impl Ctx {
    /// The configured store, which must exist (a local file must be there already; a
    /// primary is asked).
    pub async fn app(&self) -> CliResult<&App> {
        if !App::exists(&self.config) {
            return Err(CliError::NoStore {
                path: self.config.db_path.value.clone(),
                namespace: self.config.namespace.value.clone(),
            });
        }
        self.app_or_create().await
    }

    /// The configured store for a write: created when missing if it is the default
    /// namespace's (first use) or `--create` was given; a missing store of a namespace named
    /// on purpose is more likely a typo, and is refused with what to do.
    pub async fn app_for_write(&self) -> CliResult<&App> {
        let c = &self.config;
        let named = c.namespace.source != Source::Default || c.db_path.source != Source::Default;
        if !App::exists(c) && named && !self.create {
            return Err(CliError::NewNamespace {
                path: c.db_path.value.clone(),
                namespace: c.namespace.value.clone(),
            });
        }
        self.app_or_create().await
    }

    /// The configured store, created when missing, in the configured mode (`memctl init`).
    pub async fn app_or_create(&self) -> CliResult<&App> {
        self.app
            .get_or_try_init(|| async {
                let app = App::open(&self.config).await?;
                // One command, one sync: a replica answers with what the primary has now or,
                // when the primary is away, with what it had, saying so.
                if let Err(err) = app.sync_now().await {
                    eprintln!("memctl: warning: {err}");
                }
                Ok(app)
            })
            .await
    }

    /// The store of [`Ctx::app`].
    pub async fn store(&self) -> CliResult<MemoryStore> {
        Ok(self.app().await?.store().clone())
    }

    /// After a write: says on stderr when it was queued on this device rather than applied
    /// on the primary (while anything is queued, later writes queue behind it, so a non-empty
    /// queue means this one waits too), as the MCP tools say it to a model.
    pub fn note_queued(&self) {
        let pending = self
            .app
            .get()
            .map_or(0, |app| app.sync_status().pending_writes);
        if pending > 0 {
            eprintln!(
                "memctl: queued on this device: the primary is unreachable, so this write waits \
                 with {pending} in all and is sent when the primary is back (`memctl sync \
                 status` shows the sync state)"
            );
        }
    }

    /// Says on stderr that a write's text lost secrets on the way in.
    pub fn note_redacted(&self, count: usize) {
        if count > 0 {
            eprintln!(
                "memctl: {count} secret(s) replaced by [REDACTED:…] markers before storing \
                 (patterns: the [redaction] table of the config file)"
            );
        }
    }

    /// The store of [`Ctx::app_for_write`].
    pub async fn store_for_write(&self) -> CliResult<MemoryStore> {
        Ok(self.app_for_write().await?.store().clone())
    }

    /// Refuses a file-level `command` (backup, vacuum) outside local mode, where the primary,
    /// not a file here, holds the memories.
    pub fn local_only(&self, command: &str) -> CliResult<()> {
        match self.config.sync.mode {
            Mode::Local => Ok(()),
            mode => Err(CliError::Usage(format!(
                "`memctl {command}` works on a local store, and this one is in {mode} mode: the \
                 primary holds the memories. Use the primary's own backups and maintenance (sqld \
                 or Turso), or `memctl export` for a portable copy"
            ))),
        }
    }

    /// Asks `question` on the terminal; `--yes` answers for it. Off a terminal without `--yes`
    /// the answer is no, with an error that says how to proceed.
    pub fn confirm(&self, question: &str) -> CliResult<()> {
        if self.yes {
            return Ok(());
        }
        if !std::io::stdin().is_terminal() {
            return Err(CliError::Usage(format!(
                "{question} needs confirmation and stdin is not a terminal; pass --yes"
            )));
        }
        eprint!("{question} [y/N] ");
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(CliError::io("cannot read the answer"))?;
        if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            Ok(())
        } else {
            Err(CliError::Failed("cancelled; nothing was changed".into()))
        }
    }
}

/// The memory id a person typed: whole, or a unique prefix (see
/// [`MemoryStore::resolve_id`]).
pub async fn memory_id(store: &MemoryStore, text: &str) -> CliResult<String> {
    Ok(store.resolve_id(IdKind::Memory, text).await?)
}

/// The memory ids a person typed, each whole or a unique prefix.
pub async fn memory_ids(store: &MemoryStore, texts: &[String]) -> CliResult<Vec<String>> {
    let mut ids = Vec::with_capacity(texts.len());
    for text in texts {
        ids.push(memory_id(store, text).await?);
    }
    Ok(ids)
}

/// The relationship id a person typed: whole, or a unique prefix.
pub async fn relationship_id(store: &MemoryStore, text: &str) -> CliResult<String> {
    Ok(store.resolve_id(IdKind::Relationship, text).await?)
}

/// Runs a parsed command line. A reader that closed the output early ends the command
/// quietly, as for any Unix filter.
pub async fn run(cli: Cli) -> CliResult {
    match dispatch(cli).await {
        Err(err) if err.is_closed_pipe() => Ok(()),
        other => other,
    }
}

async fn dispatch(cli: Cli) -> CliResult {
    // Completions need no configuration, so a broken config file cannot block them.
    if let Command::Completions(a) = cli.command {
        commands::admin::completions(a);
        return Ok(());
    }
    // A hook answers even when the configuration is broken: it says so on stderr, exits 0.
    if let Command::Hook(a) = cli.command {
        return commands::hooks::hook(&cli.config, a).await;
    }
    let config = Config::load(&cli.config)?;
    let ctx = Ctx {
        config,
        out: Output::detect(cli.json),
        yes: cli.yes,
        create: cli.create,
        app: OnceCell::new(),
    };
    use commands::*;
    match cli.command {
        Command::Init => admin::init(&ctx).await,
        Command::Add(a) => memory::add(&ctx, a).await,
        Command::Show(a) => memory::show(&ctx, a).await,
        Command::Edit(a) => memory::edit(&ctx, a).await,
        Command::Rm(a) => memory::rm(&ctx, a).await,
        Command::List(a) => memory::list(&ctx, a).await,
        Command::Search(a) => find::search(&ctx, a).await,
        Command::Recall(a) => find::recall(&ctx, a).await,
        Command::Link(a) => graph::link(&ctx, a).await,
        Command::Unlink(a) => graph::unlink(&ctx, a).await,
        Command::Related(a) => graph::related(&ctx, a).await,
        Command::Path(a) => graph::path(&ctx, a).await,
        Command::Explore(a) => graph::explore(&ctx, a).await,
        Command::Graph(a) => graph::graph(&ctx, a).await,
        Command::Stats => admin::stats(&ctx).await,
        Command::Namespaces(a) => namespaces::namespaces(&ctx, a).await,
        Command::Export(a) => transfer::export(&ctx, a).await,
        Command::Import(a) => transfer::import(&ctx, a).await,
        Command::Backup(a) => maintenance::backup(&ctx, a).await,
        Command::Vacuum => maintenance::vacuum(&ctx).await,
        Command::Sync(a) => admin::sync(&ctx, a).await,
        Command::Reembed(a) => reembed::reembed(&ctx, a).await,
        Command::Doctor => doctor::doctor(&ctx).await,
        Command::Config => admin::config(&ctx),
        Command::Hooks(a) => hooks::hooks(&ctx, &cli.config, a).await,
        Command::Hook(_) => unreachable!("handled before the configuration"),
        Command::Completions(_) => unreachable!("handled before the configuration"),
    }
}
