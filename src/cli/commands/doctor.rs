//! doctor: configuration, store integrity, permissions, disk space, embeddings and sync.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::app::App;
use crate::backend::IntegrityCheck;
use crate::backend::libsql::SCHEMA_VERSION;
use crate::cli::output::{Style, bytes, table};
use crate::cli::{CliError, CliResult, Ctx, Output};
use crate::sync::{Mode, SyncStatus};

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
            "{} mode{}, namespace {} ({}), config file {}",
            c.sync.mode,
            match (c.sync.mode, &c.sync.primary) {
                (Mode::Local, _) => format!(
                    ", store {} ({})",
                    c.db_path.value.display(),
                    c.db_path.source
                ),
                (_, Some(primary)) => format!(", primary {}", primary.display_url()),
                (_, None) => String::new(),
            },
            c.namespace.value,
            c.namespace.source,
            c.config_file
                .as_ref()
                .map(|f| format!("{} ({})", f.value.display(), f.source))
                .unwrap_or_else(|| "none".into())
        ),
    )];
    if App::exists(c) {
        let app = ctx.app().await?;
        store_checks(ctx, app, &mut checks).await?;
        checks.push(sync_check(
            &app.sync_status(),
            app.sync_refusals().await?.len(),
        ));
    } else {
        let path = &c.db_path.value;
        checks.push(check(
            "store",
            false,
            format!(
                "{} does not exist; create it with memctl init",
                path.display()
            ),
        ));
        checks.push(disk_check(path));
    }
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

/// The store's file (local file or this device's replica; none in remote mode), schema,
/// integrity and embeddings.
async fn store_checks(ctx: &Ctx, app: &App, checks: &mut Vec<IntegrityCheck>) -> CliResult {
    let location = app.location();
    if location.mode == Mode::Remote {
        checks.push(check(
            "store",
            true,
            format!("on the primary {}", location.path.display()),
        ));
    } else {
        let path = &location.path;
        checks.push(check("store", true, path.display().to_string()));
        checks.extend(permission_checks(path));
        checks.push(disk_check(path));
    }
    let store = app.store();
    let meta = store.meta().await?;
    checks.push(check(
        "schema",
        meta.schema_version <= SCHEMA_VERSION,
        format!(
            "version {} (this build knows up to {SCHEMA_VERSION})",
            meta.schema_version
        ),
    ));
    // A replica's integrity check runs on the primary (libSQL forwards it): offline, say so
    // and go on with the checks that can run here.
    match store.backend().check_integrity().await {
        Ok(found) => checks.extend(found),
        Err(err) => checks.push(check("integrity", false, format!("cannot check: {err}"))),
    }
    let stats = store.stats().await?;
    super::reembed::doctor_checks(ctx, &meta, &stats, checks).await;
    Ok(())
}

/// The link to the primary: fails when the last sync failed or queued writes were refused.
fn sync_check(status: &SyncStatus, refused: usize) -> IntegrityCheck {
    let Some(primary) = &status.primary else {
        return check("sync", true, "local mode, sync not configured".into());
    };
    let mut detail = format!("{} mode, primary {primary}", status.mode);
    if let Some(at) = status.last_success {
        detail.push_str(&format!(
            ", last sync {}",
            at.format("%Y-%m-%d %H:%M:%S UTC")
        ));
    }
    if status.pending_writes > 0 {
        detail.push_str(&format!(
            ", {} writes waiting for the primary",
            status.pending_writes
        ));
    }
    if let Some(err) = &status.last_error {
        detail.push_str(&format!("; the last sync failed: {err}"));
    }
    if refused > 0 {
        detail.push_str(&format!(
            "; {refused} queued writes were refused by the primary (see memctl sync status)"
        ));
    }
    check("sync", status.last_error.is_none() && refused == 0, detail)
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
