//! Recovery from a damaged replica file found at a read, not only at open.
//!
//! The replica is a copy: the primary holds every memory and the outbox keeps queued writes in
//! a file of its own. So when SQLite reports the replica's file damaged, the file is set aside
//! (kept as `<name>.damaged` for inspection), a new copy is downloaded, every holder of the
//! backend moves to it ([`LibsqlBackend::reopen_replica`]) and the read runs again. When the
//! primary cannot be reached for the download, reads fail with [`Error::ReplicaDamaged`] until
//! it can, retried at most every [`RETRY_AFTER`].

use std::future::Future;
use std::time::{Duration, Instant};

use super::ReplicaBackend;
use crate::backend::libsql::LibsqlBackend;
use crate::error::{Error, Result};

/// Least time between two attempts to download a new replica after one failed, so a read
/// loop against an unreachable primary does not dial it on every read.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Where the recovery stands.
#[derive(Default)]
pub(super) struct Repair {
    /// Replicas downloaded by this process: a read that failed on an older one just retries.
    generation: u64,
    /// The damaged file is set aside and no new copy is open yet: what is at the path now is
    /// a partial download, not the damaged copy to keep.
    awaiting_download: bool,
    /// When the last download failed, and why.
    last_failure: Option<(Instant, String)>,
}

impl ReplicaBackend {
    /// Runs `read` on the replica; when it finds the file damaged, replaces the replica from
    /// the primary and runs it once more.
    pub(super) async fn on_replica<T, F, Fut>(&self, read: F) -> Result<T>
    where
        F: Fn(LibsqlBackend) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let generation = self.generation().await;
        match read(self.inner.clone()).await {
            Err(err) if err.is_corruption() => {
                self.replace_damaged(generation, &err).await?;
                read(self.inner.clone()).await
            }
            other => other,
        }
    }

    /// Sets the damaged replica aside and downloads a new one, unless another caller already
    /// did since `seen` (the generation the failed read ran on).
    pub(super) async fn replace_damaged(&self, seen: u64, found: &Error) -> Result<()> {
        let mut repair = self.repair.lock().await;
        if repair.generation != seen {
            return Ok(());
        }
        let path = self.inner.path().to_owned();
        let damaged = |reason: String| Error::ReplicaDamaged {
            path: path.display().to_string(),
            reason,
        };
        if let Some((at, reason)) = &repair.last_failure
            && at.elapsed() < RETRY_AFTER
        {
            return Err(damaged(reason.clone()));
        }
        // Writes wait: one forwarded now would sync its result into the file being replaced.
        let order = self.writes.lock().await;
        if !repair.awaiting_download {
            tracing::warn!(replica = %path.display(), error = %found,
                "the replica file is damaged; setting it aside and downloading a new copy");
            LibsqlBackend::set_aside_replica(&path)?;
            repair.awaiting_download = true;
        }
        match self.inner.reopen_replica(&self.link).await {
            Ok(()) => {
                *repair = Repair {
                    generation: repair.generation + 1,
                    ..Repair::default()
                };
                drop(order);
                // Queued writes are shown over the new copy as they were over the old one.
                self.rebuild_overlay().await
            }
            Err(err) => {
                let reason = err.to_string();
                repair.last_failure = Some((Instant::now(), reason.clone()));
                Err(damaged(reason))
            }
        }
    }

    /// The generation of the replica open now, for a caller that may find it damaged.
    pub(super) async fn generation(&self) -> u64 {
        self.repair.lock().await.generation
    }
}
