//! The sync worker: one task per process that syncs on start, then on the [`Schedule`], and
//! whenever someone asks ([`SyncState::wake`]: `memctl sync`, the `sync` tool, a write that
//! found the primary unreachable).

use std::sync::Arc;

use async_trait::async_trait;
use tokio::task::JoinHandle;

use super::replica::{Refusal, ReplicaBackend};
use super::{Schedule, SyncState, SyncStatus};
use crate::backend::GraphBackend;
use crate::backend::libsql::{LibsqlBackend, Primary};
use crate::error::Result;

/// Something that syncs with a primary and reports how it went.
#[async_trait]
pub trait Syncer: Send + Sync + 'static {
    /// The live status.
    fn state(&self) -> &SyncState;

    /// One round of sync; the outcome is also recorded in [`Syncer::state`].
    async fn sync_once(&self) -> Result<()>;

    /// Queued writes the primary refused, newest first.
    async fn refusals(&self) -> Result<Vec<Refusal>> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl Syncer for ReplicaBackend {
    fn state(&self) -> &SyncState {
        ReplicaBackend::state(self)
    }

    async fn sync_once(&self) -> Result<()> {
        ReplicaBackend::sync_once(self).await
    }

    async fn refusals(&self) -> Result<Vec<Refusal>> {
        ReplicaBackend::refusals(self).await
    }
}

/// Remote mode has nothing to pull: a round checks that the primary answers, so the status
/// says whether it does.
pub struct RemoteLink {
    backend: LibsqlBackend,
    state: SyncState,
}

impl RemoteLink {
    pub fn new(backend: LibsqlBackend, primary: &Primary) -> Self {
        RemoteLink {
            backend,
            state: SyncState::new(SyncStatus {
                mode: super::Mode::Remote,
                primary: Some(primary.display_url()),
                ..SyncStatus::default()
            }),
        }
    }
}

#[async_trait]
impl Syncer for RemoteLink {
    fn state(&self) -> &SyncState {
        &self.state
    }

    async fn sync_once(&self) -> Result<()> {
        let outcome = self.backend.meta().await.map(drop);
        self.state.update(|s| {
            s.record(
                chrono::Utc::now(),
                outcome.as_ref().map(drop).map_err(|e| e.to_string()),
            )
        });
        outcome
    }
}

/// Starts the worker: a round now, then one per scheduled delay or wake-up, until the
/// returned task is aborted (or the runtime ends).
pub fn spawn(syncer: Arc<dyn Syncer>, schedule: Schedule) -> JoinHandle<()> {
    syncer
        .state()
        .update(|s| s.interval_secs = Some(schedule.interval.as_secs_f64()));
    tokio::spawn(async move {
        loop {
            if let Err(err) = syncer.sync_once().await {
                tracing::debug!(error = %err, "sync round failed");
            }
            let failures = syncer.state().snapshot().consecutive_failures;
            let delay = schedule.delay(failures, fastrand::f64());
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = syncer.state().woken() => {}
            }
        }
    })
}
