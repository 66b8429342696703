//! Configuration shared by both binaries: where the store lives, logging and limits.
//!
//! Every setting is resolved with one precedence: command-line flag > environment variable
//! (`MNEMOGRAPH_*`) > config file (TOML, in the platform config directory unless
//! `--config`/`MNEMOGRAPH_CONFIG` names one) > built-in default. Each effective value keeps its
//! [`Source`], so `memctl config` can show not only what is in force but why.
//!
//! Resolution is a pure function of its inputs ([`Config::resolve`] takes the environment and
//! the platform directories as arguments), which is what makes precedence testable.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::backend::libsql::Primary;
use crate::embed::EmbedderSpec;
use crate::embed::openai::OpenAiConfig;
use crate::secret::Secret;
use crate::store::{Limits, RedactionConfig, RedactionError, Redactor};
use crate::sync::{DEFAULT_INTERVAL, Mode, SyncSettings};

/// Prefix of every environment variable mnemograph reads.
pub const ENV_PREFIX: &str = "MNEMOGRAPH_";
/// Namespace used when none is configured.
pub const DEFAULT_NAMESPACE: &str = "default";
/// Log filter used when none is configured.
pub const DEFAULT_LOG: &str = "warn,mnemograph=info";
/// Name of the config file inside the platform config directory.
pub const CONFIG_FILE_NAME: &str = "config.toml";

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag, e.g. `--namespace`.
    Flag(&'static str),
    /// An environment variable, e.g. `MNEMOGRAPH_NAMESPACE`.
    Env(String),
    /// The config file at this path.
    File(PathBuf),
    /// The built-in default (or a value derived from other settings).
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "flag {flag}"),
            Source::Env(var) => write!(f, "environment {var}"),
            Source::File(path) => write!(f, "config file {}", path.display()),
            Source::Default => f.write_str("default"),
        }
    }
}

/// An effective value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    pub value: T,
    pub source: Source,
}

impl<T> Setting<T> {
    fn new(value: T, source: Source) -> Self {
        Setting { value, source }
    }
}

/// Why configuration could not be resolved. Each message names the setting and its source.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("invalid namespace {name:?} (from {origin}): use 1 to 64 letters, digits, '-' or '_'")]
    Namespace { name: String, origin: Source },
    #[error("unknown limit {key:?} (from {origin}); known limits: {known}")]
    UnknownLimit {
        key: String,
        origin: Source,
        known: String,
    },
    #[error("invalid value {value:?} for limit {key} (from {origin}): expected a whole number")]
    LimitValue {
        key: String,
        value: String,
        origin: Source,
    },
    #[error("unknown profile {name:?} (from {origin}): use memory or knowledge-graph")]
    Profile { name: String, origin: Source },
    #[error("invalid --limit {0:?}: expected KEY=VALUE, e.g. max_content_bytes=131072")]
    LimitSyntax(String),
    #[error("no home directory to place the store in; set MNEMOGRAPH_DATA_DIR or pass --data-dir")]
    NoDataDir,
    #[error("unknown embedder {name:?} (from {origin}): use model2vec, openai or none")]
    Embedder { name: String, origin: Source },
    #[error("invalid embedding dimension {value:?} (from {origin}): expected a whole number")]
    EmbedDim { value: String, origin: Source },
    #[error("unknown mode {name:?} (from {origin}): use local, replica or remote")]
    Mode { name: String, origin: Source },
    #[error(
        "invalid sync interval {value:?} (from {origin}): expected seconds, e.g. 30 or 0.5 (at least 0.1)"
    )]
    SyncInterval { value: String, origin: Source },
    #[error(
        "invalid briefing size {value:?} (from {origin}): expected tokens, a whole number from \
         {MIN_BRIEFING_TOKENS} to {MAX_BRIEFING_TOKENS}"
    )]
    BriefingTokens { value: String, origin: Source },
    #[error("unknown project mode {name:?} (from {origin}): use field or namespace")]
    ProjectMode { name: String, origin: Source },
    #[error("in the [redaction] table of {path}: {source}")]
    Redaction {
        path: String,
        #[source]
        source: RedactionError,
    },
}

/// Where the hooks and the MCP server file a project's memories.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ProjectMode {
    /// One store; each memory names its project in `context.project`.
    #[default]
    Field,
    /// One namespace (store) per project, named after it; the configured namespace holds the
    /// global layer (preferences).
    Namespace,
}

impl ProjectMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectMode::Field => "field",
            ProjectMode::Namespace => "namespace",
        }
    }
}

/// Tokens of a session briefing by default (about 6,000 characters).
pub const DEFAULT_BRIEFING_TOKENS: usize = 1500;
/// Bounds of the briefing size: under 50 tokens holds no memory, over 20,000 would crowd the
/// session it is meant to help.
pub const MIN_BRIEFING_TOKENS: usize = 50;
pub const MAX_BRIEFING_TOKENS: usize = 20_000;

/// Which tool set the MCP server offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// The full memory tool set (store_memory, recall, get_related, ...).
    #[default]
    Memory,
    /// The nine tools of the reference MCP memory server (create_entities, read_graph, ...),
    /// backed by this store, for a drop-in swap without changing prompts.
    KnowledgeGraph,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Memory => "memory",
            Profile::KnowledgeGraph => "knowledge-graph",
        }
    }
}

/// The command-line flags both binaries accept (flattened into each one's clap parser).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// Directory holding the stores, one `<namespace>.db` file per namespace
    /// [env: MNEMOGRAPH_DATA_DIR] [default: the platform data directory, e.g.
    /// ~/.local/share/mnemograph]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Namespace: one separate store per namespace, so unrelated projects never mix
    /// (letters, digits, '-', '_') [env: MNEMOGRAPH_NAMESPACE] [default: default]
    #[arg(long, short = 'n', value_name = "NAME")]
    pub namespace: Option<String>,

    /// Store file to open, overriding data dir and namespace [env: MNEMOGRAPH_DB]
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,

    /// Config file (TOML) [env: MNEMOGRAPH_CONFIG] [default: config.toml in the platform
    /// config directory, e.g. ~/.config/mnemograph/config.toml; a missing default file is fine]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log filter for stderr and the log file, e.g. `debug` or `mnemograph=debug,warn`
    /// [env: MNEMOGRAPH_LOG] [default: warn,mnemograph=info]
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,

    /// Also append logs to this file [env: MNEMOGRAPH_LOG_FILE]
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// Override a store limit, e.g. `--limit max_content_bytes=131072` (repeatable)
    /// [env: MNEMOGRAPH_<KEY> in upper case, e.g. MNEMOGRAPH_MAX_CONTENT_BYTES; config file:
    /// a [limits] table]
    #[arg(long = "limit", value_name = "KEY=VALUE")]
    pub limits: Vec<String>,

    /// The MCP server's tool set. Not a flag of every binary: `mnemograph` sets it from its own
    /// `--profile`, so `memctl --help` does not offer an option it has no use for.
    #[arg(skip)]
    pub profile: Option<Profile>,

    /// Where the store lives: local (a file here), replica (a local replica of a libSQL
    /// primary) or remote (the primary only) [env: MNEMOGRAPH_MODE] [default: replica when a
    /// primary URL is set, else local]
    #[arg(long, value_name = "MODE")]
    pub mode: Option<String>,

    /// The libSQL primary (sqld or Turso), e.g. http://127.0.0.1:8080 or
    /// libsql://{namespace}-me.turso.io; `{namespace}` is replaced by the namespace
    /// [env: MNEMOGRAPH_PRIMARY_URL or TURSO_DATABASE_URL]. The token is read from
    /// MNEMOGRAPH_AUTH_TOKEN / TURSO_AUTH_TOKEN or the config file, never from a flag.
    #[arg(long, value_name = "URL")]
    pub primary_url: Option<String>,

    /// Seconds between two syncs of a replica [env: MNEMOGRAPH_SYNC_INTERVAL] [default: 30]
    #[arg(long, value_name = "SECONDS")]
    pub sync_interval: Option<String>,
}

/// The config file's shape. Unknown keys are rejected so a typo does not silently do nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    namespace: Option<String>,
    db: Option<PathBuf>,
    log: Option<String>,
    log_file: Option<PathBuf>,
    profile: Option<Profile>,
    /// model2vec, openai or none.
    embedder: Option<String>,
    model_dir: Option<PathBuf>,
    embed_url: Option<String>,
    embed_model: Option<String>,
    embed_dim: Option<usize>,
    mode: Option<String>,
    primary_url: Option<String>,
    /// The primary's token. Allowed here (the environment is the better place); a file
    /// that others can read draws a warning.
    auth_token: Option<String>,
    sync_interval: Option<toml::Value>,
    /// Tokens of a session briefing (hooks).
    briefing_tokens: Option<usize>,
    /// field or namespace.
    project_mode: Option<String>,
    #[serde(default)]
    limits: BTreeMap<String, toml::Value>,
    /// Patterns added to, and built-in rules taken from, secret redaction.
    #[serde(default)]
    redaction: RedactionConfig,
}

/// The platform directories used for defaults; `None` where the platform has none.
#[derive(Debug, Clone, Default)]
pub struct PlatformDirs {
    pub config_dir: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
}

impl PlatformDirs {
    /// The user's directories for mnemograph (`directories::ProjectDirs`).
    pub fn detect() -> Self {
        match directories::ProjectDirs::from("", "", "mnemograph") {
            Some(dirs) => PlatformDirs {
                config_dir: Some(dirs.config_dir().to_owned()),
                data_dir: Some(dirs.data_dir().to_owned()),
            },
            None => PlatformDirs::default(),
        }
    }
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file that was read, if any.
    pub config_file: Option<Setting<PathBuf>>,
    pub data_dir: Setting<PathBuf>,
    pub namespace: Setting<String>,
    /// The store file: `--db`/`MNEMOGRAPH_DB`/`db`, or `<data_dir>/<namespace>.db`.
    pub db_path: Setting<PathBuf>,
    pub log: Setting<String>,
    pub log_file: Option<Setting<PathBuf>>,
    /// The MCP server's tool set.
    pub profile: Setting<Profile>,
    pub limits: Limits,
    /// Where each limit that is not at its default came from, by key.
    pub limit_sources: BTreeMap<String, Source>,
    /// The embedder to build (in the background) for semantic and hybrid search.
    pub embedder: Setting<EmbedderSpec>,
    /// How the store is reached: mode, primary, interval, replica directory.
    pub sync: SyncSettings,
    /// Where the mode came from (it may be derived from a primary URL being set).
    pub mode_source: Source,
    /// Where the primary URL came from, when one is set.
    pub primary_source: Option<Source>,
    /// Where the token came from, when one is set (the token itself is never shown).
    pub token_source: Option<Source>,
    /// Tokens of the briefing a session-start hook prints.
    pub briefing_tokens: Setting<usize>,
    /// Where a project's memories go: a field in one store, or a namespace per project.
    pub project_mode: Setting<ProjectMode>,
    /// Things worth a warning at start-up, e.g. a readable config file holding a token.
    pub warnings: Vec<String>,
    /// The secret redaction every write goes through: the built-in rules as the config
    /// file's `[redaction]` table adjusts them.
    pub redactor: Redactor,
}

impl Config {
    /// Resolves the configuration of this process: its flags, environment and platform dirs.
    pub fn load(args: &ConfigArgs) -> Result<Self, ConfigError> {
        Self::resolve(
            args,
            &|name| std::env::var(name).ok(),
            &PlatformDirs::detect(),
        )
    }

    /// Resolves the configuration from explicit inputs: `env` looks a variable up by name.
    pub fn resolve(
        args: &ConfigArgs,
        env: &dyn Fn(&str) -> Option<String>,
        dirs: &PlatformDirs,
    ) -> Result<Self, ConfigError> {
        let var = |name: &str| {
            let full = format!("{ENV_PREFIX}{name}");
            env(&full)
                .filter(|v| !v.is_empty())
                .map(|v| (v, Source::Env(full)))
        };

        let config_file = match (&args.config, var("CONFIG")) {
            (Some(path), _) => Some(Setting::new(path.clone(), Source::Flag("--config"))),
            (None, Some((path, source))) => Some(Setting::new(PathBuf::from(path), source)),
            (None, None) => None,
        };
        let (file, file_path) = match &config_file {
            // An explicitly named file must exist.
            Some(setting) => (read_file(&setting.value)?, Some(setting.clone())),
            None => match dirs.config_dir.as_ref().map(|d| d.join(CONFIG_FILE_NAME)) {
                Some(path) if path.exists() => {
                    (read_file(&path)?, Some(Setting::new(path, Source::Default)))
                }
                _ => (FileConfig::default(), None),
            },
        };
        let from_file = || {
            Source::File(
                file_path
                    .as_ref()
                    .map(|s| s.value.clone())
                    .unwrap_or_default(),
            )
        };

        let pick = |flag: Option<String>,
                    flag_name: &'static str,
                    env_name: &str,
                    file: Option<String>| {
            flag.map(|v| Setting::new(v, Source::Flag(flag_name)))
                .or_else(|| var(env_name).map(|(v, s)| Setting::new(v, s)))
                .or_else(|| file.map(|v| Setting::new(v, from_file())))
        };
        let path_string =
            |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
        let to_path = |s: Setting<String>| Setting::new(PathBuf::from(s.value), s.source);

        let data_dir = match pick(
            path_string(&args.data_dir),
            "--data-dir",
            "DATA_DIR",
            path_string(&file.data_dir),
        ) {
            Some(s) => to_path(s),
            None => Setting::new(
                dirs.data_dir.clone().ok_or(ConfigError::NoDataDir)?,
                Source::Default,
            ),
        };

        let namespace = pick(
            args.namespace.clone(),
            "--namespace",
            "NAMESPACE",
            file.namespace.clone(),
        )
        .unwrap_or_else(|| Setting::new(DEFAULT_NAMESPACE.to_owned(), Source::Default));
        validate_namespace(&namespace)?;

        let db_path = match pick(path_string(&args.db), "--db", "DB", path_string(&file.db)) {
            Some(s) => to_path(s),
            None => Setting::new(
                data_dir.value.join(format!("{}.db", namespace.value)),
                Source::Default,
            ),
        };

        let log = pick(args.log.clone(), "--log", "LOG", file.log.clone())
            .unwrap_or_else(|| Setting::new(DEFAULT_LOG.to_owned(), Source::Default));
        let log_file = pick(
            path_string(&args.log_file),
            "--log-file",
            "LOG_FILE",
            path_string(&file.log_file),
        )
        .map(to_path);

        let profile = match (args.profile, var("PROFILE"), file.profile) {
            (Some(p), _, _) => Setting::new(p, Source::Flag("--profile")),
            (None, Some((raw, source)), _) => {
                let p = <Profile as clap::ValueEnum>::from_str(&raw, true).map_err(|_| {
                    ConfigError::Profile {
                        name: raw.clone(),
                        origin: source.clone(),
                    }
                })?;
                Setting::new(p, source)
            }
            (None, None, Some(p)) => Setting::new(p, from_file()),
            (None, None, None) => Setting::new(Profile::default(), Source::Default),
        };

        let (limits, limit_sources) = resolve_limits(args, &var, &file.limits, &from_file)?;
        let embedder = resolve_embedder(&var, env, &file, &from_file)?;
        let remote = resolve_remote(args, &var, env, &file, &from_file, &namespace.value)?;
        let mut warnings = Vec::new();
        if let (Some(Source::File(path)), Some(mode)) =
            (&remote.token_source, readable_by_others(file_path.as_ref()))
        {
            warnings.push(format!(
                "the config file {} holds the primary's auth token and is readable by others \
                 (mode {mode:o}); run `chmod 600 {}` or move the token to MNEMOGRAPH_AUTH_TOKEN",
                path.display(),
                path.display()
            ));
        }
        let briefing_tokens = match pick(
            None,
            "",
            "BRIEFING_TOKENS",
            file.briefing_tokens.map(|t| t.to_string()),
        ) {
            Some(s) => {
                let tokens = s
                    .value
                    .parse::<usize>()
                    .ok()
                    .filter(|t| (MIN_BRIEFING_TOKENS..=MAX_BRIEFING_TOKENS).contains(t))
                    .ok_or_else(|| ConfigError::BriefingTokens {
                        value: s.value.clone(),
                        origin: s.source.clone(),
                    })?;
                Setting::new(tokens, s.source)
            }
            None => Setting::new(DEFAULT_BRIEFING_TOKENS, Source::Default),
        };
        let project_mode = match pick(None, "", "PROJECT_MODE", file.project_mode.clone()) {
            Some(s) => {
                let mode =
                    <ProjectMode as clap::ValueEnum>::from_str(&s.value, true).map_err(|_| {
                        ConfigError::ProjectMode {
                            name: s.value.clone(),
                            origin: s.source.clone(),
                        }
                    })?;
                Setting::new(mode, s.source)
            }
            None => Setting::new(ProjectMode::default(), Source::Default),
        };
        let replica_dir = data_dir.value.join(format!("{}.replica", namespace.value));
        let redactor = Redactor::new(&file.redaction).map_err(|source| ConfigError::Redaction {
            path: file_path
                .as_ref()
                .map_or_else(String::new, |p| p.value.display().to_string()),
            source,
        })?;

        Ok(Config {
            config_file: file_path,
            data_dir,
            namespace,
            db_path,
            log,
            log_file,
            profile,
            limits,
            limit_sources,
            embedder,
            sync: SyncSettings {
                mode: remote.mode.value,
                primary: remote.primary,
                interval: remote.interval,
                replica_dir,
            },
            mode_source: remote.mode.source,
            primary_source: remote.primary_source,
            token_source: remote.token_source,
            briefing_tokens,
            project_mode,
            warnings,
            redactor,
        })
    }
}

/// The mode and the primary, resolved together.
struct RemoteSettings {
    mode: Setting<Mode>,
    primary: Option<Primary>,
    primary_source: Option<Source>,
    token_source: Option<Source>,
    interval: std::time::Duration,
}

/// The mode (`MNEMOGRAPH_MODE`; replica when a primary URL is set, else local), the primary
/// (`MNEMOGRAPH_PRIMARY_URL`, alias `TURSO_DATABASE_URL`), its token (`MNEMOGRAPH_AUTH_TOKEN`,
/// alias `TURSO_AUTH_TOKEN`, or the file's `auth_token`) and the sync interval.
///
/// A namespace maps to a database on the primary: `{namespace}` in the URL is replaced (one
/// Turso database per namespace); otherwise the namespace is sent as sqld's namespace header
/// (which sqld honours when started with `--enable-namespaces`).
fn resolve_remote(
    args: &ConfigArgs,
    var: &dyn Fn(&str) -> Option<(String, Source)>,
    env: &dyn Fn(&str) -> Option<String>,
    file: &FileConfig,
    from_file: &dyn Fn() -> Source,
    namespace: &str,
) -> Result<RemoteSettings, ConfigError> {
    let alias = |name: &str| {
        env(name)
            .filter(|v| !v.is_empty())
            .map(|v| (v, Source::Env(name.to_owned())))
    };
    let url = args
        .primary_url
        .clone()
        .map(|u| (u, Source::Flag("--primary-url")))
        .or_else(|| var("PRIMARY_URL"))
        .or_else(|| alias("TURSO_DATABASE_URL"))
        .or_else(|| file.primary_url.clone().map(|u| (u, from_file())));
    let token = var("AUTH_TOKEN")
        .or_else(|| alias("TURSO_AUTH_TOKEN"))
        .or_else(|| file.auth_token.clone().map(|t| (t, from_file())));

    let mode = match args
        .mode
        .clone()
        .map(|m| (m, Source::Flag("--mode")))
        .or_else(|| var("MODE"))
        .or_else(|| file.mode.clone().map(|m| (m, from_file())))
    {
        Some((name, origin)) => match Mode::parse(&name) {
            Some(mode) => Setting::new(mode, origin),
            None => return Err(ConfigError::Mode { name, origin }),
        },
        None if url.is_some() => Setting::new(Mode::Replica, Source::Default),
        None => Setting::new(Mode::Local, Source::Default),
    };

    let interval = match args
        .sync_interval
        .clone()
        .map(|v| (v, Source::Flag("--sync-interval")))
        .or_else(|| var("SYNC_INTERVAL"))
        .or_else(|| {
            file.sync_interval.as_ref().map(|v| {
                let raw = match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (raw, from_file())
            })
        }) {
        Some((raw, origin)) => match raw.trim().trim_end_matches('s').parse::<f64>() {
            Ok(secs) if secs.is_finite() && (0.1..=86_400.0).contains(&secs) => {
                std::time::Duration::from_secs_f64(secs)
            }
            _ => return Err(ConfigError::SyncInterval { value: raw, origin }),
        },
        None => DEFAULT_INTERVAL,
    };

    let primary_source = url.as_ref().map(|(_, s)| s.clone());
    let token_source = token.as_ref().map(|(_, s)| s.clone());
    let primary = url.map(|(url, _)| {
        let templated = url.contains("{namespace}");
        Primary {
            url: url.replace("{namespace}", namespace),
            auth_token: token.map(|(t, _)| Secret::new(t)),
            namespace: (!templated).then(|| namespace.to_owned()),
        }
    });
    Ok(RemoteSettings {
        mode,
        primary,
        primary_source,
        token_source,
        interval,
    })
}

/// The file's permission bits when group or others may read it (Unix); `None` otherwise.
fn readable_by_others(file: Option<&Setting<PathBuf>>) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file?.value).ok()?.permissions().mode() & 0o777;
        (mode & 0o044 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        None
    }
}

/// The embedder from `MNEMOGRAPH_EMBEDDER` (or the file's `embedder`): `model2vec` (the
/// default: the built-in embedder, reading `MNEMOGRAPH_MODEL_DIR`), `openai` (the default when
/// only `MNEMOGRAPH_EMBED_URL` is set: `MNEMOGRAPH_EMBED_URL`, `MNEMOGRAPH_EMBED_MODEL`,
/// `MNEMOGRAPH_EMBED_DIM`, and the key from `MNEMOGRAPH_EMBED_API_KEY` or `OPENAI_API_KEY`,
/// never from the file, which is more likely to be shared or committed) or `none`.
fn resolve_embedder(
    var: &dyn Fn(&str) -> Option<(String, Source)>,
    env: &dyn Fn(&str) -> Option<String>,
    file: &FileConfig,
    from_file: &dyn Fn() -> Source,
) -> Result<Setting<EmbedderSpec>, ConfigError> {
    let pick = |name: &str, file_value: Option<String>| {
        var(name).or_else(|| file_value.map(|v| (v, from_file())))
    };
    let url = pick("EMBED_URL", file.embed_url.clone());
    let (provider, source) = match pick("EMBEDDER", file.embedder.clone()) {
        Some((name, source)) => (name.trim().to_lowercase(), source),
        None if url.is_some() => ("openai".to_owned(), Source::Default),
        None => ("model2vec".to_owned(), Source::Default),
    };
    let spec = match provider.as_str() {
        "none" => EmbedderSpec::None,
        "model2vec" => EmbedderSpec::Model2Vec {
            model_dir: pick(
                "MODEL_DIR",
                file.model_dir
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned()),
            )
            .map(|(dir, _)| PathBuf::from(dir)),
        },
        "openai" => {
            let mut config = OpenAiConfig::new(
                url.map_or_else(|| OpenAiConfig::DEFAULT_URL.to_owned(), |(u, _)| u),
                pick("EMBED_MODEL", file.embed_model.clone())
                    .map_or_else(|| OpenAiConfig::DEFAULT_MODEL.to_owned(), |(m, _)| m),
            );
            config.api_key = var("EMBED_API_KEY")
                .map(|(key, _)| key)
                .or_else(|| env("OPENAI_API_KEY").filter(|k| !k.is_empty()))
                .map(Secret::new);
            config.dimension = match pick("EMBED_DIM", file.embed_dim.map(|d| d.to_string())) {
                Some((raw, origin)) => {
                    Some(raw.trim().parse().map_err(|_| ConfigError::EmbedDim {
                        value: raw.clone(),
                        origin,
                    })?)
                }
                None => None,
            };
            EmbedderSpec::OpenAi(config)
        }
        _ => {
            return Err(ConfigError::Embedder {
                name: provider,
                origin: source,
            });
        }
    };
    Ok(Setting::new(spec, source))
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::ParseFile {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// True for a usable namespace: it becomes a file name locally and a database name remotely.
pub fn is_valid_namespace(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn validate_namespace(namespace: &Setting<String>) -> Result<(), ConfigError> {
    if is_valid_namespace(&namespace.value) {
        Ok(())
    } else {
        Err(ConfigError::Namespace {
            name: namespace.value.clone(),
            origin: namespace.source.clone(),
        })
    }
}

/// Applies limit overrides over the defaults, lowest precedence first, so each key ends up
/// with the value (and source) of the strongest layer that sets it.
///
/// Limits are handled generically through their serde form: every field of [`Limits`] is a
/// key of the file's `[limits]` table, an `MNEMOGRAPH_<KEY>` variable and a `--limit KEY=…`
/// flag, without a list here to keep in step with the struct.
fn resolve_limits(
    args: &ConfigArgs,
    var: &dyn Fn(&str) -> Option<(String, Source)>,
    file: &BTreeMap<String, toml::Value>,
    from_file: &dyn Fn() -> Source,
) -> Result<(Limits, BTreeMap<String, Source>), ConfigError> {
    let Value::Object(mut values) =
        serde_json::to_value(Limits::default()).expect("limits serialise")
    else {
        unreachable!("Limits serialises to an object")
    };
    let known: Vec<String> = values.keys().cloned().collect();
    let mut sources = BTreeMap::new();

    let mut set = |values: &mut Map<String, Value>, key: &str, raw: String, source: Source| {
        if !known.iter().any(|k| k == key) {
            return Err(ConfigError::UnknownLimit {
                key: key.to_owned(),
                origin: source,
                known: known.join(", "),
            });
        }
        let number: u64 = raw.trim().parse().map_err(|_| ConfigError::LimitValue {
            key: key.to_owned(),
            value: raw.clone(),
            origin: source.clone(),
        })?;
        values.insert(key.to_owned(), Value::from(number));
        sources.insert(key.to_owned(), source);
        Ok(())
    };

    for (key, value) in file {
        let raw = match value {
            toml::Value::Integer(i) => i.to_string(),
            other => other.to_string(),
        };
        set(&mut values, key, raw, from_file())?;
    }
    for key in known.clone() {
        if let Some((raw, source)) = var(&key.to_uppercase()) {
            set(&mut values, &key, raw, source)?;
        }
    }
    for flag in &args.limits {
        let (key, raw) = flag
            .split_once('=')
            .ok_or_else(|| ConfigError::LimitSyntax(flag.clone()))?;
        set(
            &mut values,
            key.trim(),
            raw.to_owned(),
            Source::Flag("--limit"),
        )?;
    }

    let limits = serde_json::from_value(Value::Object(values)).map_err(|e| {
        // Only a number too large for its field gets here.
        ConfigError::LimitValue {
            key: "limits".to_owned(),
            value: e.to_string(),
            origin: Source::Default,
        }
    })?;
    Ok((limits, sources))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn dirs(root: &Path) -> PlatformDirs {
        PlatformDirs {
            config_dir: Some(root.join("config")),
            data_dir: Some(root.join("data")),
        }
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn write_config(root: &Path, text: &str) -> PathBuf {
        let dir = root.join("config");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(CONFIG_FILE_NAME);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn defaults_put_the_store_in_the_data_dir() {
        let root = tempfile::tempdir().unwrap();
        let config =
            Config::resolve(&ConfigArgs::default(), &env(&[]), &dirs(root.path())).unwrap();
        assert_eq!(config.namespace.value, "default");
        assert_eq!(config.namespace.source, Source::Default);
        assert_eq!(
            config.db_path.value,
            root.path().join("data").join("default.db")
        );
        assert_eq!(config.log.value, DEFAULT_LOG);
        assert!(config.config_file.is_none());
        assert!(config.log_file.is_none());
        assert_eq!(config.limits, Limits::default());
        assert!(config.limit_sources.is_empty());
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let root = tempfile::tempdir().unwrap();
        let file = write_config(
            root.path(),
            "namespace = \"from-file\"\nlog = \"warn\"\ndata_dir = \"/file/data\"\n\
             [limits]\nmax_tags = 3\nmax_results = 7\nmax_depth = 2\n",
        );
        let vars = env(&[
            ("MNEMOGRAPH_NAMESPACE", "from-env"),
            ("MNEMOGRAPH_LOG", "debug"),
            ("MNEMOGRAPH_MAX_RESULTS", "9"),
            ("MNEMOGRAPH_MAX_DEPTH", "4"),
        ]);
        let args = ConfigArgs {
            namespace: Some("from-flag".into()),
            limits: vec!["max_depth=5".into()],
            ..Default::default()
        };
        let config = Config::resolve(&args, &vars, &dirs(root.path())).unwrap();

        assert_eq!(config.namespace.value, "from-flag");
        assert_eq!(config.namespace.source, Source::Flag("--namespace"));
        assert_eq!(config.log.value, "debug");
        assert_eq!(config.log.source, Source::Env("MNEMOGRAPH_LOG".into()));
        assert_eq!(config.data_dir.value, PathBuf::from("/file/data"));
        assert_eq!(config.data_dir.source, Source::File(file.clone()));
        assert_eq!(
            config.db_path.value,
            PathBuf::from("/file/data/from-flag.db")
        );
        assert_eq!(config.config_file.unwrap().value, file);

        assert_eq!(config.limits.max_tags, 3);
        assert_eq!(config.limits.max_results, 9);
        assert_eq!(config.limits.max_depth, 5);
        assert_eq!(config.limit_sources["max_tags"], Source::File(file));
        assert_eq!(
            config.limit_sources["max_results"],
            Source::Env("MNEMOGRAPH_MAX_RESULTS".into())
        );
        assert_eq!(config.limit_sources["max_depth"], Source::Flag("--limit"));
        assert_eq!(
            config.limits.max_content_bytes,
            Limits::default().max_content_bytes
        );
    }

    #[test]
    fn explicit_db_path_overrides_namespace_file() {
        let root = tempfile::tempdir().unwrap();
        let vars = env(&[
            ("MNEMOGRAPH_DB", "/tmp/x/store.db"),
            ("MNEMOGRAPH_NAMESPACE", "work"),
        ]);
        let config = Config::resolve(&ConfigArgs::default(), &vars, &dirs(root.path())).unwrap();
        assert_eq!(config.db_path.value, PathBuf::from("/tmp/x/store.db"));
        assert_eq!(config.db_path.source, Source::Env("MNEMOGRAPH_DB".into()));
    }

    #[test]
    fn explicit_config_file_must_exist_and_parse() {
        let root = tempfile::tempdir().unwrap();
        let missing = ConfigArgs {
            config: Some(root.path().join("nope.toml")),
            ..Default::default()
        };
        let err = Config::resolve(&missing, &env(&[]), &dirs(root.path())).unwrap_err();
        assert!(matches!(err, ConfigError::ReadFile { .. }), "{err}");

        let path = root.path().join("bad.toml");
        std::fs::write(&path, "namespce = \"typo\"\n").unwrap();
        let vars = env(&[("MNEMOGRAPH_CONFIG", path.to_str().unwrap())]);
        let err = Config::resolve(&ConfigArgs::default(), &vars, &dirs(root.path())).unwrap_err();
        assert!(err.to_string().contains("namespce"), "{err}");
    }

    #[test]
    fn namespaces_are_validated() {
        let root = tempfile::tempdir().unwrap();
        let long = "x".repeat(65);
        for bad in ["", "../etc", "a b", "ns.db", long.as_str()] {
            let args = ConfigArgs {
                namespace: Some(bad.to_owned()),
                ..Default::default()
            };
            let result = Config::resolve(&args, &env(&[]), &dirs(root.path()));
            // An empty flag is a value like any other: only env vars treat empty as unset.
            assert!(
                matches!(result, Err(ConfigError::Namespace { .. })),
                "{bad:?}"
            );
        }
        assert!(is_valid_namespace("work_2-b"));
    }

    #[test]
    fn bad_limits_name_the_key_and_the_source() {
        let root = tempfile::tempdir().unwrap();
        let args = ConfigArgs {
            limits: vec!["max_bogus=1".into()],
            ..Default::default()
        };
        let err = Config::resolve(&args, &env(&[]), &dirs(root.path())).unwrap_err();
        assert!(err.to_string().contains("max_bogus"), "{err}");
        assert!(err.to_string().contains("max_content_bytes"), "{err}");

        let vars = env(&[("MNEMOGRAPH_MAX_TAGS", "many")]);
        let err = Config::resolve(&ConfigArgs::default(), &vars, &dirs(root.path())).unwrap_err();
        assert!(err.to_string().contains("MNEMOGRAPH_MAX_TAGS"), "{err}");

        let args = ConfigArgs {
            limits: vec!["max_tags".into()],
            ..Default::default()
        };
        assert!(matches!(
            Config::resolve(&args, &env(&[]), &dirs(root.path())),
            Err(ConfigError::LimitSyntax(_))
        ));
    }

    #[test]
    fn profile_comes_from_flag_env_or_file() {
        let root = tempfile::tempdir().unwrap();
        write_config(root.path(), "profile = \"knowledge-graph\"\n");
        let config =
            Config::resolve(&ConfigArgs::default(), &env(&[]), &dirs(root.path())).unwrap();
        assert_eq!(config.profile.value, Profile::KnowledgeGraph);
        let vars = env(&[("MNEMOGRAPH_PROFILE", "memory")]);
        let config = Config::resolve(&ConfigArgs::default(), &vars, &dirs(root.path())).unwrap();
        assert_eq!(config.profile.value, Profile::Memory);
        let args = ConfigArgs {
            profile: Some(Profile::KnowledgeGraph),
            ..Default::default()
        };
        let config = Config::resolve(&args, &vars, &dirs(root.path())).unwrap();
        assert_eq!(config.profile.source, Source::Flag("--profile"));
        let vars = env(&[("MNEMOGRAPH_PROFILE", "graph")]);
        let err = Config::resolve(&ConfigArgs::default(), &vars, &dirs(root.path())).unwrap_err();
        assert!(err.to_string().contains("MNEMOGRAPH_PROFILE"), "{err}");
    }

    #[test]
    fn embedder_comes_from_env_or_file_and_keys_only_from_env() {
        let root = tempfile::tempdir().unwrap();
        let config =
            Config::resolve(&ConfigArgs::default(), &env(&[]), &dirs(root.path())).unwrap();
        assert_eq!(
            config.embedder.value,
            EmbedderSpec::Model2Vec { model_dir: None }
        );

        write_config(
            root.path(),
            "embedder = \"model2vec\"\nmodel_dir = \"/models/m2v\"\n",
        );
        let config =
            Config::resolve(&ConfigArgs::default(), &env(&[]), &dirs(root.path())).unwrap();
        assert_eq!(
            config.embedder.value,
            EmbedderSpec::Model2Vec {
                model_dir: Some(PathBuf::from("/models/m2v"))
            }
        );

        // With no provider named, a URL means the HTTP provider.
        std::fs::remove_file(root.path().join("config").join(CONFIG_FILE_NAME)).unwrap();
        let vars = env(&[
            ("MNEMOGRAPH_EMBED_URL", "http://127.0.0.1:9/v1"),
            ("MNEMOGRAPH_EMBED_MODEL", "e5"),
            ("MNEMOGRAPH_EMBED_DIM", "384"),
            ("OPENAI_API_KEY", "sk-test"),
        ]);
        let config = Config::resolve(&ConfigArgs::default(), &vars, &dirs(root.path())).unwrap();
        let EmbedderSpec::OpenAi(openai) = &config.embedder.value else {
            panic!("{:?}", config.embedder.value);
        };
        assert_eq!(openai.url, "http://127.0.0.1:9/v1");
        assert_eq!(openai.model, "e5");
        assert_eq!(openai.dimension, Some(384));
        assert_eq!(openai.api_key.as_ref().unwrap().expose(), "sk-test");
        assert!(!format!("{config:?}").contains("sk-test"));

        let vars = env(&[("MNEMOGRAPH_EMBEDDER", "none")]);
        let config = Config::resolve(&ConfigArgs::default(), &vars, &dirs(root.path())).unwrap();
        assert_eq!(config.embedder.value, EmbedderSpec::None);

        let vars = env(&[("MNEMOGRAPH_EMBEDDER", "bert")]);
        let err = Config::resolve(&ConfigArgs::default(), &vars, &dirs(root.path())).unwrap_err();
        assert!(err.to_string().contains("MNEMOGRAPH_EMBEDDER"), "{err}");
        let vars = env(&[
            ("MNEMOGRAPH_EMBEDDER", "openai"),
            ("MNEMOGRAPH_EMBED_DIM", "wide"),
        ]);
        let err = Config::resolve(&ConfigArgs::default(), &vars, &dirs(root.path())).unwrap_err();
        assert!(matches!(err, ConfigError::EmbedDim { .. }), "{err}");
    }

    #[test]
    fn no_data_dir_is_a_clear_error() {
        let err = Config::resolve(&ConfigArgs::default(), &env(&[]), &PlatformDirs::default())
            .unwrap_err();
        assert!(matches!(err, ConfigError::NoDataDir));
        let vars = env(&[("MNEMOGRAPH_DATA_DIR", "/srv/mem")]);
        let config =
            Config::resolve(&ConfigArgs::default(), &vars, &PlatformDirs::default()).unwrap();
        assert_eq!(config.db_path.value, PathBuf::from("/srv/mem/default.db"));
    }

    #[test]
    fn a_primary_url_selects_replica_mode_and_aliases_work() {
        let root = tempfile::tempdir().unwrap();
        let resolve = |vars: &[(&str, &str)]| {
            Config::resolve(&ConfigArgs::default(), &env(vars), &dirs(root.path()))
        };

        let local = resolve(&[]).unwrap();
        assert_eq!(local.sync.mode, Mode::Local);
        assert_eq!(local.sync.primary, None);
        assert_eq!(local.sync.interval, DEFAULT_INTERVAL);

        let turso = resolve(&[
            ("TURSO_DATABASE_URL", "libsql://{namespace}-me.turso.io"),
            ("TURSO_AUTH_TOKEN", "tok-secret"),
            ("MNEMOGRAPH_NAMESPACE", "work"),
        ])
        .unwrap();
        assert_eq!(turso.sync.mode, Mode::Replica);
        assert_eq!(turso.mode_source, Source::Default);
        let primary = turso.sync.primary.as_ref().unwrap();
        assert_eq!(primary.url, "libsql://work-me.turso.io");
        assert_eq!(primary.namespace, None, "the URL names the database");
        assert_eq!(primary.auth_token.as_ref().unwrap().expose(), "tok-secret");
        assert_eq!(
            turso.token_source,
            Some(Source::Env("TURSO_AUTH_TOKEN".into()))
        );
        assert!(!format!("{turso:?}").contains("tok-secret"));
        assert_eq!(
            turso.sync.replica_dir,
            root.path().join("data").join("work.replica")
        );

        // Our own names win over the aliases; a plain URL addresses sqld's namespace.
        let sqld = resolve(&[
            ("TURSO_DATABASE_URL", "libsql://elsewhere"),
            ("MNEMOGRAPH_PRIMARY_URL", "http://127.0.0.1:8080"),
            ("MNEMOGRAPH_MODE", "Remote"),
            ("MNEMOGRAPH_SYNC_INTERVAL", "2.5"),
        ])
        .unwrap();
        assert_eq!(sqld.sync.mode, Mode::Remote);
        let primary = sqld.sync.primary.as_ref().unwrap();
        assert_eq!(primary.url, "http://127.0.0.1:8080");
        assert_eq!(primary.namespace.as_deref(), Some("default"));
        assert_eq!(sqld.sync.interval, std::time::Duration::from_millis(2500));
    }

    #[test]
    fn bad_modes_and_intervals_are_refused_with_their_source() {
        let root = tempfile::tempdir().unwrap();
        let resolve = |vars: &[(&str, &str)]| {
            Config::resolve(&ConfigArgs::default(), &env(vars), &dirs(root.path()))
        };
        let err = resolve(&[("MNEMOGRAPH_MODE", "cloud")]).unwrap_err();
        assert!(err.to_string().contains("MNEMOGRAPH_MODE"), "{err}");
        for bad in ["0", "-1", "soon", "NaN", "1e9"] {
            let err = resolve(&[("MNEMOGRAPH_SYNC_INTERVAL", bad)]).unwrap_err();
            assert!(
                matches!(err, ConfigError::SyncInterval { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_token_in_a_readable_config_file_draws_a_warning() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let path = write_config(
            root.path(),
            "primary_url = \"http://127.0.0.1:9\"\nauth_token = \"file-secret\"\nsync_interval = 10\n",
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let config =
            Config::resolve(&ConfigArgs::default(), &env(&[]), &dirs(root.path())).unwrap();
        assert_eq!(config.sync.interval, std::time::Duration::from_secs(10));
        assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
        assert!(config.warnings[0].contains("chmod 600"));
        assert!(!config.warnings[0].contains("file-secret"));

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let config =
            Config::resolve(&ConfigArgs::default(), &env(&[]), &dirs(root.path())).unwrap();
        assert!(config.warnings.is_empty());
    }
}
