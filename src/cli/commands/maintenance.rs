//! backup and vacuum: file-level maintenance of a local store.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::transfer::OutputFile;
use crate::cli::output::bytes;
use crate::cli::{CliError, CliResult, Ctx};

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
    let app = ctx.app().await?;
    let path = app.path();
    // SQLite writes the copy into the empty owner-only file made for it (VACUUM INTO
    // accepts an empty file), so the backup is private and appears only when complete.
    let (output, file) = OutputFile::create(&a.output, a.force, path)?;
    drop(file);
    app.libsql()
        .ok_or_else(|| local_store_needed("backup"))?
        .backup_to(output.temp_path())
        .await?;
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
    let (before, after) = ctx
        .app()
        .await?
        .libsql()
        .ok_or_else(|| local_store_needed("vacuum"))?
        .vacuum()
        .await?;
    ctx.out.print(
        &json!({"before_bytes": before, "after_bytes": after}),
        |_| format!("vacuumed: {} → {}", bytes(before), bytes(after)),
    )
}

/// A store that is not a libSQL file here (a front end opened it by other means).
fn local_store_needed(command: &str) -> CliError {
    CliError::Usage(format!(
        "`memctl {command}` needs a libSQL store file on this machine"
    ))
}
