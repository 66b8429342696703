//! Opening a store in the configured mode: the one place that turns [`SyncSettings`] into a
//! backend (and, for replica and remote mode, the [`Syncer`] that reports on the primary).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::Mode;
use super::replica::ReplicaBackend;
use super::slot::Slot;
use super::worker::{RemoteLink, Syncer};
use crate::backend::GraphBackend;
use crate::backend::libsql::{LibsqlBackend, Primary};
use crate::error::{Error, Result};

/// How to reach the store, as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncSettings {
    pub mode: Mode,
    /// Required in replica and remote mode.
    pub primary: Option<Primary>,
    /// Time between two syncs of a replica.
    pub interval: Duration,
    /// Where the replica files and the outbox of this namespace live (replica mode).
    pub replica_dir: PathBuf,
}

/// An open store.
pub struct Connected {
    pub backend: Arc<dyn GraphBackend>,
    /// The plain libSQL backend underneath, for maintenance (backup, vacuum, exact search).
    pub libsql: LibsqlBackend,
    /// Reports on (and syncs with) the primary; `None` in local mode.
    pub syncer: Option<Arc<dyn Syncer>>,
    /// Whether this process's replica file was made (downloaded) by this open.
    pub created_replica: bool,
}

impl Connected {
    /// The file (or URL, in remote mode) the store lives in.
    pub fn location(&self) -> &Path {
        self.libsql.path()
    }
}

/// Opens the store: the local file `db_path` in local mode, else a replica or a remote
/// connection to the configured primary.
pub async fn connect(settings: &SyncSettings, db_path: &Path) -> Result<Connected> {
    let primary = || {
        settings.primary.as_ref().ok_or_else(|| {
            Error::invalid(
                "primary_url",
                format!(
                    "{} mode needs the primary's URL: set MNEMOGRAPH_PRIMARY_URL (or \
                     TURSO_DATABASE_URL) or primary_url in the config file",
                    settings.mode
                ),
            )
        })
    };
    match settings.mode {
        Mode::Local => {
            let libsql = LibsqlBackend::open_local(db_path).await?;
            Ok(Connected {
                backend: Arc::new(libsql.clone()),
                libsql,
                syncer: None,
                created_replica: false,
            })
        }
        Mode::Replica => {
            let primary = primary()?;
            let slot = Slot::acquire(&settings.replica_dir)?;
            let created_replica = !slot.db.exists();
            let libsql = match LibsqlBackend::open_replica(&slot.db, primary).await {
                // The primary holds every memory and the outbox is a file of its own: a
                // damaged replica is set aside and downloaded again, losing nothing.
                Err(err) if err.is_corruption() => {
                    tracing::warn!(replica = %slot.db.display(), error = %err,
                        "the replica file is damaged; setting it aside and syncing a new one");
                    LibsqlBackend::set_aside_replica(&slot.db)?;
                    LibsqlBackend::open_replica(&slot.db, primary).await?
                }
                other => other?,
            };
            let replica = Arc::new(
                ReplicaBackend::new(libsql.clone(), slot, &settings.replica_dir, primary).await?,
            );
            Ok(Connected {
                backend: replica.clone(),
                libsql,
                syncer: Some(replica),
                created_replica,
            })
        }
        Mode::Remote => {
            let primary = primary()?;
            let libsql = LibsqlBackend::open_remote(primary).await?;
            Ok(Connected {
                backend: Arc::new(libsql.clone()),
                syncer: Some(Arc::new(RemoteLink::new(libsql.clone(), primary))),
                libsql,
                created_replica: false,
            })
        }
    }
}
