//! init, stats, config, completions and sync.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Subcommand};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::cli::output::{Style, bytes, count, table};
use crate::cli::{Cli, CliError, CliResult, Ctx};
use crate::config::{Setting, Source};
use crate::embed::EmbedderSpec;
use crate::store::BUILTIN_NAMES;
use crate::sync::Mode;

/// Creates the store if needed and says where it is: the local file, this device's replica
/// file (and its primary), or the primary itself in remote mode.
pub async fn init(ctx: &Ctx) -> CliResult {
    let app = ctx.app_or_create().await?;
    let location = app.location();
    let meta = app.store().meta().await?;
    let namespace = &location.namespace;
    ctx.out.print(
        &json!({"path": location.path, "mode": location.mode, "primary": location.primary,
                "namespace": namespace, "created": location.created,
                "store_id": meta.store_id, "schema_version": meta.schema_version}),
        |out| {
            let path = location.path.display();
            let what = match (location.mode, location.created) {
                (Mode::Local, true) => format!("{} {path}", out.paint(Style::Green, "created")),
                (Mode::Local, false) => format!("store exists at {path}"),
                (Mode::Replica, true) => {
                    format!("{} replica {path}", out.paint(Style::Green, "created"))
                }
                (Mode::Replica, false) => format!("replica exists at {path}"),
                (Mode::Remote, _) => format!("remote store at {path}"),
            };
            match (&location.primary, location.mode) {
                (Some(primary), Mode::Replica) => {
                    format!("{what} (namespace {namespace}), a replica of {primary}")
                }
                _ => format!("{what} (namespace {namespace})"),
            }
        },
    )
}

pub async fn stats(ctx: &Ctx) -> CliResult {
    let app = ctx.app().await?;
    let store = app.store();
    let stats = store.stats().await?;
    let meta = store.meta().await?;
    let counts = |pairs: &[(String, u64)]| -> Map<String, Value> {
        pairs.iter().map(|(k, n)| (k.clone(), json!(n))).collect()
    };
    // A replica's file, the primary in remote mode, else the local file.
    let location = app.path().display().to_string();
    let data = json!({
        "path": location,
        "mode": app.location().mode,
        "namespace": ctx.config.namespace.value,
        "store_id": meta.store_id,
        "schema_version": meta.schema_version,
        "memories": stats.memories,
        "relationships": stats.relationships,
        "embedded": stats.embedded,
        "by_kind": counts(&stats.by_kind),
        "by_rel_type": counts(&stats.by_rel_type),
        "size_bytes": stats.size_bytes,
        "embedding_model": meta.embedding_model,
    });
    ctx.out.print(&data, |out| {
        let mut text = format!(
            "{}  {} (namespace {})\n{}, {}, {} with vectors{}, {}\n",
            out.paint(Style::Bold, "store"),
            location,
            ctx.config.namespace.value,
            count(stats.memories, "memory", "memories"),
            count(stats.relationships, "relationship", "relationships"),
            stats.embedded,
            meta.embedding_model
                .map(|m| format!(" ({m})"))
                .unwrap_or_default(),
            bytes(stats.size_bytes)
        );
        for (title, pairs) in [
            ("kinds", &stats.by_kind),
            ("relationship types", &stats.by_rel_type),
        ] {
            if !pairs.is_empty() {
                let rows: Vec<Vec<String>> = pairs
                    .iter()
                    .map(|(k, n)| vec![k.clone(), n.to_string()])
                    .collect();
                text.push('\n');
                text.push_str(&table(out, &[&title.to_uppercase(), "COUNT"], &rows));
            }
        }
        text
    })
}

/// A setting as `config` shows it.
#[derive(Serialize)]
struct Shown {
    key: String,
    value: String,
    source: String,
}

/// True for settings whose values must never be printed (tokens, passwords, keys).
fn is_secret(key: &str) -> bool {
    ["token", "secret", "password", "api_key"]
        .iter()
        .any(|s| key.contains(s))
}

fn shown(key: &str, value: String, source: &Source) -> Shown {
    Shown {
        key: key.to_owned(),
        value: if is_secret(key) {
            "<redacted>".to_owned()
        } else {
            value
        },
        source: source.to_string(),
    }
}

fn path_setting(key: &str, s: &Setting<PathBuf>) -> Shown {
    shown(key, s.value.display().to_string(), &s.source)
}

fn settings(ctx: &Ctx) -> Vec<Shown> {
    let c = &ctx.config;
    let mut out = Vec::new();
    if let Some(file) = &c.config_file {
        out.push(path_setting("config_file", file));
    }
    out.push(path_setting("data_dir", &c.data_dir));
    out.push(shown(
        "namespace",
        c.namespace.value.clone(),
        &c.namespace.source,
    ));
    out.push(path_setting("db", &c.db_path));
    out.push(shown("log", c.log.value.clone(), &c.log.source));
    if let Some(file) = &c.log_file {
        out.push(path_setting("log_file", file));
    }
    out.push(shown(
        "profile",
        c.profile.value.as_str().to_owned(),
        &c.profile.source,
    ));
    out.push(shown(
        "briefing_tokens",
        c.briefing_tokens.value.to_string(),
        &c.briefing_tokens.source,
    ));
    out.push(shown(
        "project_mode",
        c.project_mode.value.as_str().to_owned(),
        &c.project_mode.source,
    ));
    let embedder = &c.embedder;
    out.push(shown(
        "embedder",
        embedder.value.provider().to_owned(),
        &embedder.source,
    ));
    match &embedder.value {
        EmbedderSpec::None => {}
        EmbedderSpec::Model2Vec { model_dir } => out.push(shown(
            "model_dir",
            model_dir.as_ref().map_or_else(
                || "(built-in model)".to_owned(),
                |dir| dir.display().to_string(),
            ),
            &embedder.source,
        )),
        EmbedderSpec::OpenAi(openai) => {
            out.push(shown("embed_url", openai.url.clone(), &embedder.source));
            out.push(shown("embed_model", openai.model.clone(), &embedder.source));
            if let Some(dim) = openai.dimension {
                out.push(shown("embed_dim", dim.to_string(), &embedder.source));
            }
            if openai.api_key.is_some() {
                // The key itself is never shown, only that one is set.
                out.push(shown(
                    "embed_api_key",
                    "(set, hidden)".to_owned(),
                    &embedder.source,
                ));
            }
        }
    }
    let rules: Vec<&str> = c.redactor.rule_names().collect();
    let redaction_source = match (&c.config_file, rules == BUILTIN_NAMES) {
        (Some(file), false) => Source::File(file.value.clone()),
        _ => Source::Default,
    };
    out.push(shown("redaction", rules.join(", "), &redaction_source));
    out.push(shown("mode", c.sync.mode.to_string(), &c.mode_source));
    if let (Some(primary), Some(source)) = (&c.sync.primary, &c.primary_source) {
        out.push(shown("primary_url", primary.display_url(), source));
        out.push(shown(
            "sync_interval",
            format!("{} s", c.sync.interval.as_secs_f64()),
            &Source::Default,
        ));
        out.push(path_setting(
            "replica_dir",
            &Setting {
                value: c.sync.replica_dir.clone(),
                source: Source::Default,
            },
        ));
    }
    if let Some(source) = &c.token_source {
        // The token itself is never shown, only that one is set and where it came from.
        out.push(shown("auth_token", "(set, hidden)".to_owned(), source));
    }
    if let Ok(Value::Object(limits)) = serde_json::to_value(&c.limits) {
        for (key, value) in limits {
            let source = c
                .limit_sources
                .get(&key)
                .cloned()
                .unwrap_or(Source::Default);
            out.push(shown(&format!("limits.{key}"), value.to_string(), &source));
        }
    }
    out
}

pub fn config(ctx: &Ctx) -> CliResult {
    let settings = settings(ctx);
    ctx.out.print(&json!({ "settings": settings }), |out| {
        let rows: Vec<Vec<String>> = settings
            .iter()
            .map(|s| {
                vec![
                    s.key.clone(),
                    s.value.clone(),
                    out.paint(Style::Dim, &s.source),
                ]
            })
            .collect();
        table(out, &["SETTING", "VALUE", "SOURCE"], &rows)
    })
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell
    shell: clap_complete::Shell,
}

pub fn completions(a: CompletionsArgs) {
    let mut command = Cli::command();
    clap_complete::generate(a.shell, &mut command, "memctl", &mut std::io::stdout());
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(subcommand)]
    action: Option<SyncAction>,
}

#[derive(Debug, Subcommand)]
enum SyncAction {
    /// Sync with the primary now.
    Now,
    /// Show the sync mode, last success and lag.
    Status,
}

/// Syncs (a replica pulls and replays its queued writes; a remote store checks the primary)
/// and shows the status. `status` reports a failed sync; `now` fails with it.
pub async fn sync(ctx: &Ctx, a: SyncArgs) -> CliResult {
    // Opening the store syncs it once (see `Ctx::app_or_create`).
    let app = ctx.app_for_write().await?;
    let status = app.sync_status();
    let refused = app.sync_refusals().await?;
    if let (Some(SyncAction::Now), Some(err)) = (&a.action, &status.last_error) {
        return Err(CliError::Failed(format!("sync failed: {err}")));
    }
    let mut value = serde_json::to_value(&status).map_err(|e| CliError::Failed(e.to_string()))?;
    value["lag_secs"] = json!(status.lag_secs(chrono::Utc::now()));
    value["refused"] = json!(refused);
    ctx.out.print(&value, |_| {
        let mut text = status.to_string();
        for r in &refused {
            text.push_str(&format!(
                "\nrefused #{}: {} ({}): {}",
                r.seq,
                r.write,
                r.refused_at.format("%Y-%m-%d %H:%M:%S"),
                r.reason
            ));
        }
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_recognised_by_name() {
        assert!(is_secret("sync.auth_token"));
        assert!(is_secret("embedder.api_key"));
        assert!(!is_secret("namespace"));
        assert_eq!(
            shown("auth_token", "abc".into(), &Source::Default).value,
            "<redacted>"
        );
    }
}
