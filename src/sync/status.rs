//! What the sync worker reports: shown by `memory_stats`, the `sync` tool and
//! `memctl sync status`.

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Mode;

/// A snapshot of a store's sync state.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncStatus {
    pub mode: Mode,
    /// The primary's URL, without credentials; `None` in local mode.
    pub primary: Option<String>,
    /// The replica file this process uses (replica mode).
    pub replica: Option<String>,
    /// Whether the last contact with the primary succeeded.
    pub online: bool,
    /// Seconds between two syncs while the primary answers.
    pub interval_secs: Option<f64>,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    /// The last failure's message; cleared by the next success.
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    /// The replica's replication index (the primary's frame number it has applied).
    pub frame_no: Option<u64>,
    /// Frames applied by syncs of this process.
    pub frames_synced: u64,
    /// Writes stored in the outbox, waiting for the primary.
    pub pending_writes: u64,
    /// Queued writes the primary refused on replay (e.g. a version conflict with another
    /// device); kept in the outbox file, listed by `memctl sync status`.
    pub conflicts: u64,
    /// Another process of this device was still sending the queued writes when the last
    /// sync gave up waiting for it; `pending_writes` counts them until it is done.
    pub replaying_elsewhere: bool,
}

impl SyncStatus {
    /// The status of a local store.
    pub fn local() -> Self {
        SyncStatus {
            online: true,
            ..SyncStatus::default()
        }
    }

    /// Seconds since the last successful sync, at `now`.
    pub fn lag_secs(&self, now: DateTime<Utc>) -> Option<f64> {
        self.last_success
            .map(|at| (now - at).num_milliseconds().max(0) as f64 / 1000.0)
    }

    /// Records the result of one contact with the primary.
    pub fn record(&mut self, at: DateTime<Utc>, outcome: Result<(), String>) {
        self.last_attempt = Some(at);
        match outcome {
            Ok(()) => {
                self.online = true;
                self.last_success = Some(at);
                self.last_error = None;
                self.consecutive_failures = 0;
            }
            Err(message) => {
                self.online = false;
                self.last_error = Some(message);
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            }
        }
    }
}

/// A few lines for people: mode, primary, freshness, queue.
impl std::fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mode: {}", self.mode)?;
        let Some(primary) = &self.primary else {
            return f.write_str(" (a file on this machine; nothing to sync)");
        };
        write!(f, "\nprimary: {primary}")?;
        if let Some(replica) = &self.replica {
            write!(f, "\nreplica: {replica}")?;
        }
        write!(
            f,
            "\nprimary reachable: {}",
            if self.online { "yes" } else { "no" }
        )?;
        match self.last_success {
            Some(at) => write!(
                f,
                "\nlast sync: {} ({:.1} s ago)",
                at.format("%Y-%m-%d %H:%M:%S UTC"),
                self.lag_secs(Utc::now()).unwrap_or_default()
            )?,
            None => f.write_str("\nlast sync: never")?,
        }
        if let Some(error) = &self.last_error {
            write!(
                f,
                "\nlast error: {error} ({} in a row)",
                self.consecutive_failures
            )?;
        }
        if let Some(frame) = self.frame_no {
            write!(f, "\nframe: {frame}")?;
        }
        write!(
            f,
            "\nwrites waiting for the primary: {}",
            self.pending_writes
        )?;
        if self.replaying_elsewhere {
            f.write_str(" (another process of this device is sending them now)")?;
        }
        write!(f, "\nwrites the primary refused: {}", self.conflicts)
    }
}

/// The live status, shared by the worker, the backend and the front ends.
#[derive(Debug, Clone)]
pub struct SyncState {
    status: Arc<Mutex<SyncStatus>>,
    wake: Arc<tokio::sync::Notify>,
}

impl SyncState {
    pub fn new(initial: SyncStatus) -> Self {
        SyncState {
            status: Arc::new(Mutex::new(initial)),
            wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// A copy of the current status.
    pub fn snapshot(&self) -> SyncStatus {
        self.lock().clone()
    }

    /// Changes the status under its lock.
    pub fn update<T>(&self, change: impl FnOnce(&mut SyncStatus) -> T) -> T {
        change(&mut self.lock())
    }

    /// Asks the worker to run now rather than at its next tick.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Waits until [`SyncState::wake`] is called (a call made before the wait counts).
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    fn lock(&self) -> MutexGuard<'_, SyncStatus> {
        // The status is plain data; a panic while it was held cannot leave it half-updated
        // in a way that matters more than losing it.
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_up_and_a_success_clears_them() {
        let t0 = Utc::now();
        let mut s = SyncStatus::default();
        s.record(t0, Err("connection refused".into()));
        s.record(t0, Err("connection refused".into()));
        assert!(!s.online);
        assert_eq!(s.consecutive_failures, 2);
        assert_eq!(s.last_error.as_deref(), Some("connection refused"));
        assert_eq!(s.last_success, None);

        let t1 = t0 + chrono::Duration::seconds(5);
        s.record(t1, Ok(()));
        assert!(s.online);
        assert_eq!(s.consecutive_failures, 0);
        assert_eq!(s.last_error, None);
        assert_eq!(s.last_success, Some(t1));
        assert_eq!(
            s.lag_secs(t1 + chrono::Duration::milliseconds(1500)),
            Some(1.5)
        );
    }

    #[tokio::test]
    async fn a_wake_before_the_wait_is_not_lost() {
        let state = SyncState::new(SyncStatus::local());
        state.wake();
        tokio::time::timeout(std::time::Duration::from_secs(5), state.woken())
            .await
            .expect("the earlier wake is remembered");
    }
}
