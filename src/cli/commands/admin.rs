//! init, stats, namespaces, config, completions, sync, doctor, backup and vacuum.

use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory, Subcommand};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::transfer::OutputFile;
use crate::backend::IntegrityCheck;
use crate::backend::libsql::SCHEMA_VERSION;
use crate::cli::output::{Style, bytes, table};
use crate::cli::{Cli, CliError, CliResult, Ctx, Output};
use crate::config::{Setting, Source, is_valid_namespace};

pub async fn init(ctx: &Ctx) -> CliResult {
    let path = &ctx.config.db_path.value;
    let created = !path.exists();
    let store = ctx.store_or_create().await?;
    let meta = store.meta().await?;
    ctx.out.print(
        &json!({"path": path, "namespace": ctx.config.namespace.value, "created": created,
                "store_id": meta.store_id, "schema_version": meta.schema_version}),
        |out| {
            format!(
                "{} {} (namespace {})",
                if created {
                    out.paint(Style::Green, "created")
                } else {
                    "store exists at".to_owned()
                },
                path.display(),
                ctx.config.namespace.value
            )
        },
    )
}

pub async fn stats(ctx: &Ctx) -> CliResult {
    let store = ctx.store().await?;
    let stats = store.stats().await?;
    let meta = store.meta().await?;
    let counts = |pairs: &[(String, u64)]| -> Map<String, Value> {
        pairs.iter().map(|(k, n)| (k.clone(), json!(n))).collect()
    };
    let sync = store.sync_status();
    // A replica's file, the primary in remote mode, else the local file.
    let location = sync
        .replica
        .clone()
        .or(sync.primary.clone())
        .unwrap_or_else(|| ctx.config.db_path.value.display().to_string());
    let data = json!({
        "path": location,
        "mode": sync.mode,
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
            "{}  {} (namespace {})\n{} memories, {} relationships, {} with vectors{}, {}\n",
            out.paint(Style::Bold, "store"),
            location,
            ctx.config.namespace.value,
            stats.memories,
            stats.relationships,
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

#[derive(Debug, Args)]
pub struct NamespacesArgs {
    #[command(subcommand)]
    action: Option<NamespaceAction>,
}

#[derive(Debug, Subcommand)]
enum NamespaceAction {
    /// List the namespaces in the data directory (the default action).
    ///
    /// JSON: {"data_dir", "current", "namespaces": [{"name", "path", "size_bytes"}]}
    List,
    /// Create the store of a namespace.
    Create { name: String },
    /// Delete a namespace's store file for good (asks first; --yes to skip).
    Remove { name: String },
}

#[derive(Serialize)]
struct NamespaceInfo {
    name: String,
    path: PathBuf,
    size_bytes: u64,
}

fn namespace_path(ctx: &Ctx, name: &str) -> CliResult<PathBuf> {
    if !is_valid_namespace(name) {
        return Err(CliError::Usage(format!(
            "invalid namespace {name:?}: use 1 to 64 letters, digits, '-' or '_'"
        )));
    }
    Ok(ctx.config.data_dir.value.join(format!("{name}.db")))
}

pub async fn namespaces(ctx: &Ctx, a: NamespacesArgs) -> CliResult {
    match a.action.unwrap_or(NamespaceAction::List) {
        NamespaceAction::List => {
            let dir = &ctx.config.data_dir.value;
            let mut found = Vec::new();
            let entries = match std::fs::read_dir(dir) {
                Ok(entries) => entries.collect::<Result<Vec<_>, _>>(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(e),
            }
            .map_err(CliError::io(format!("cannot list {}", dir.display())))?;
            for entry in entries {
                let path = entry.path();
                let name = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default();
                if path.extension().is_some_and(|e| e == "db") && is_valid_namespace(name) {
                    found.push(NamespaceInfo {
                        name: name.to_owned(),
                        size_bytes: entry.metadata().map(|m| m.len()).unwrap_or(0),
                        path,
                    });
                }
            }
            found.sort_by(|a, b| a.name.cmp(&b.name));
            let current = &ctx.config.namespace.value;
            ctx.out.print(
                &json!({"data_dir": dir, "current": current, "namespaces": found}),
                |out| {
                    if found.is_empty() {
                        return format!("no namespaces in {}", dir.display());
                    }
                    let rows: Vec<Vec<String>> = found
                        .iter()
                        .map(|n| {
                            let mark = if &n.name == current { "*" } else { " " };
                            vec![format!("{mark} {}", n.name), bytes(n.size_bytes)]
                        })
                        .collect();
                    table(out, &["  NAMESPACE", "SIZE"], &rows)
                },
            )
        }
        NamespaceAction::Create { name } => {
            let path = namespace_path(ctx, &name)?;
            let created = !path.exists();
            ctx.open_at(&path).await?;
            ctx.out.print(
                &json!({"name": name, "path": path, "created": created}),
                |_| {
                    if created {
                        format!("created namespace {name} at {}", path.display())
                    } else {
                        format!("namespace {name} exists at {}", path.display())
                    }
                },
            )
        }
        NamespaceAction::Remove { name } => {
            let path = namespace_path(ctx, &name)?;
            if !path.exists() {
                return Err(CliError::Usage(format!(
                    "no namespace {name} in {}",
                    ctx.config.data_dir.value.display()
                )));
            }
            ctx.confirm(&format!(
                "delete namespace {name} ({}) and every memory in it?",
                path.display()
            ))?;
            for suffix in ["", "-wal", "-shm"] {
                let file = PathBuf::from(format!("{}{suffix}", path.display()));
                match std::fs::remove_file(&file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(CliError::Io {
                            context: format!("cannot remove {}", file.display()),
                            source: e,
                        });
                    }
                }
            }
            ctx.out.print(&json!({"removed": name, "path": path}), |_| {
                format!("removed namespace {name}")
            })
        }
    }
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
    action: SyncAction,
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
    // Opening the store syncs it once (see `Ctx::store_or_create`).
    let store = ctx.store_or_create().await?;
    let status = store.sync_status();
    let refused = store.sync_refusals().await?;
    if let (SyncAction::Now, Some(err)) = (&a.action, &status.last_error) {
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

/// Free space below which `doctor` warns: a write, a vacuum or a backup may not fit.
const LOW_DISK_BYTES: u64 = 512 << 20;

fn check(name: &str, ok: bool, detail: String) -> IntegrityCheck {
    IntegrityCheck {
        name: name.to_owned(),
        ok,
        detail,
    }
}

/// Owner-only permissions on the store, its -wal and -shm files (when present) and its
/// directory: memories are private.
#[cfg(unix)]
fn permission_checks(path: &Path) -> Vec<IntegrityCheck> {
    use std::os::unix::fs::PermissionsExt;
    let mut checks = Vec::new();
    let beside = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    let (wal, shm) = (beside("-wal"), beside("-shm"));
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // The -wal and -shm files exist only while the store is in use.
    for (name, target, optional) in [
        ("store file mode", path, false),
        ("store -wal file mode", wal.as_path(), true),
        ("store -shm file mode", shm.as_path(), true),
        ("store directory mode", dir, false),
    ] {
        if optional && !target.exists() {
            continue;
        }
        match std::fs::metadata(target) {
            Ok(meta) => {
                let mode = meta.permissions().mode() & 0o777;
                checks.push(check(
                    name,
                    mode & 0o077 == 0,
                    if mode & 0o077 == 0 {
                        format!("{mode:o}, private to its owner")
                    } else {
                        format!(
                            "{mode:o}: group or others have access; chmod go-rwx {}",
                            target.display()
                        )
                    },
                ));
            }
            Err(e) => checks.push(check(name, false, format!("{}: {e}", target.display()))),
        }
    }
    checks
}

#[cfg(not(unix))]
fn permission_checks(_path: &Path) -> Vec<IntegrityCheck> {
    Vec::new()
}

fn disk_check(path: &Path) -> IntegrityCheck {
    let dir = path.parent().unwrap_or(path);
    match rustix::fs::statvfs(dir) {
        Ok(fs) => {
            let free = fs.f_bavail.saturating_mul(fs.f_frsize);
            check(
                "disk space",
                free >= LOW_DISK_BYTES,
                format!("{} free in {}", bytes(free), dir.display()),
            )
        }
        Err(e) => check(
            "disk space",
            false,
            format!("cannot tell for {}: {e}", dir.display()),
        ),
    }
}

pub async fn doctor(ctx: &Ctx) -> CliResult {
    let c = &ctx.config;
    let mut checks = vec![check(
        "configuration",
        true,
        format!(
            "store {} ({}), namespace {} ({}), config file {}",
            c.db_path.value.display(),
            c.db_path.source,
            c.namespace.value,
            c.namespace.source,
            c.config_file
                .as_ref()
                .map(|f| format!("{} ({})", f.value.display(), f.source))
                .unwrap_or_else(|| "none".into())
        ),
    )];
    let path = &c.db_path.value;
    if path.exists() {
        checks.push(check("store", true, path.display().to_string()));
        checks.extend(permission_checks(path));
        let store = ctx.store().await?;
        let meta = store.meta().await?;
        checks.push(check(
            "schema",
            meta.schema_version <= SCHEMA_VERSION,
            format!(
                "version {} (this build knows up to {SCHEMA_VERSION})",
                meta.schema_version
            ),
        ));
        checks.extend(store.backend().check_integrity().await?);
        let stats = store.stats().await?;
        super::reembed::doctor_checks(ctx, &meta, &stats, &mut checks).await;
    } else {
        checks.push(check(
            "store",
            false,
            format!(
                "{} does not exist; create it with memctl init",
                path.display()
            ),
        ));
    }
    checks.push(disk_check(path));
    checks.push(check(
        "sync",
        true,
        "local mode, sync not configured".into(),
    ));
    let ok = checks.iter().all(|c| c.ok);
    ctx.out.print(&json!({"ok": ok, "checks": checks}), |out| {
        report(out, &checks)
    })?;
    if ok {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "{} of {} checks failed",
            checks.iter().filter(|c| !c.ok).count(),
            checks.len()
        )))
    }
}

fn report(out: &Output, checks: &[IntegrityCheck]) -> String {
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            vec![
                if c.ok {
                    out.paint(Style::Green, "ok")
                } else {
                    out.paint(Style::Red, "FAIL")
                },
                c.name.clone(),
                c.detail.clone(),
            ]
        })
        .collect();
    table(out, &["", "CHECK", "DETAIL"], &rows)
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// File to write the copy to
    output: PathBuf,
    /// Replace the file if it exists (a symlink there is replaced, not followed)
    #[arg(long)]
    force: bool,
}

pub async fn backup(ctx: &Ctx, a: BackupArgs) -> CliResult {
    ctx.local_only("backup")?;
    let path = &ctx.config.db_path.value;
    if !path.exists() {
        ctx.store().await?;
    }
    // SQLite writes the copy into the empty owner-only file made for it (VACUUM INTO
    // accepts an empty file), so the backup is private and appears only when complete.
    let (output, file) = OutputFile::create(&a.output, a.force, path)?;
    drop(file);
    let (backend, _) = ctx.open_at(path).await?;
    backend.backup_to(output.temp_path()).await?;
    output.commit()?;
    let size = std::fs::metadata(&a.output).map(|m| m.len()).unwrap_or(0);
    ctx.out
        .print(&json!({"path": a.output, "size_bytes": size}), |_| {
            format!(
                "backed up {} to {} ({})",
                path.display(),
                a.output.display(),
                bytes(size)
            )
        })
}

pub async fn vacuum(ctx: &Ctx) -> CliResult {
    ctx.local_only("vacuum")?;
    ctx.store().await?;
    let (backend, _) = ctx.open_at(&ctx.config.db_path.value).await?;
    let (before, after) = backend.vacuum().await?;
    ctx.out.print(
        &json!({"before_bytes": before, "after_bytes": after}),
        |_| format!("vacuumed: {} → {}", bytes(before), bytes(after)),
    )
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
