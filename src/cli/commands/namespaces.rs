//! namespaces: list, create and remove the stores of the data directory (one per namespace).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::json;

use crate::app::App;
use crate::cli::output::{bytes, table};
use crate::cli::{CliError, CliResult, Ctx};
use crate::config::is_valid_namespace;

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
    Create {
        /// The namespace: 1 to 64 letters, digits, '-' or '_'
        name: String,
    },
    /// Delete a namespace's store file for good (asks first; --yes to skip).
    Remove {
        /// The namespace whose store file is deleted
        name: String,
    },
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
            App::open_local(&ctx.config, &path).await?;
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
