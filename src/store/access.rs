//! Access records: which memories a recall brought back, how often and when last (the
//! session briefing's "used most", `memctl show`'s "recalled N times").
//!
//! Recording them is a write, and a write per recall was a quarter of the recall's cost on
//! a store of 100k memories: the commit with its WAL append, and every other connection of
//! the process dropping its page cache at its next read, as SQLite does once the file has
//! changed. `recall` over MCP took 5.5 ms with it and 4.2 ms without (BENCHMARKS.md). So a
//! long-lived front end (the MCP and HTTP servers) has its store record them in batches: a
//! recall notes its memories here, in memory, and a task of its own
//! ([`MemoryStore::start_access_recorder`]) writes what has gathered once a second, in one
//! transaction, and once more when it is stopped. The price: counts and times reach the
//! store up to a second late, and a process killed outright loses at most the last second's
//! records, which are bookkeeping, never memories. A one-shot command (`memctl recall`, a
//! hook) has no recorder, and each recall writes its own.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{MemoryStore, now};
use crate::error::Result;
use crate::model::Access;

/// How often the recorder writes what recalls noted.
const RECORD_EVERY: Duration = Duration::from_secs(1);

/// Recalls noted and not yet written, shared by a store's clones.
#[derive(Default)]
pub(super) struct AccessLog {
    state: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    /// Whether a recorder writes the notes; else each recall writes its own.
    deferred: bool,
    by_id: HashMap<String, Access>,
}

impl AccessLog {
    fn state(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notes one recall of each distinct id of `ids` at `at`, when a recorder will write it;
    /// `false` (nothing noted) when there is none.
    fn note(&self, ids: &[String], at: DateTime<Utc>) -> bool {
        let mut pending = self.state();
        if !pending.deferred {
            return false;
        }
        for id in distinct(ids) {
            pending.add(Access::one(id, at));
        }
        true
    }

    /// Takes every note out, to be written; `deferred` says whether later recalls are noted
    /// still (`false` as the recorder stops).
    fn take(&self, deferred: bool) -> Vec<Access> {
        let mut pending = self.state();
        pending.deferred = deferred;
        std::mem::take(&mut pending.by_id).into_values().collect()
    }

    /// Puts back notes whose write failed, merged with those noted meanwhile, to be tried
    /// again at the next write.
    fn put_back(&self, accesses: Vec<Access>) {
        let mut pending = self.state();
        for access in accesses {
            pending.add(access);
        }
    }
}

impl Pending {
    /// Adds `access` to the note of its memory: the counts add up, the later time stays.
    fn add(&mut self, access: Access) {
        match self.by_id.get_mut(&access.id) {
            Some(noted) => {
                noted.count += access.count;
                noted.at = noted.at.max(access.at);
            }
            None => {
                self.by_id.insert(access.id.clone(), access);
            }
        }
    }
}

/// `ids` without repeats, in order: a memory named twice in one recall counts once.
fn distinct(ids: &[String]) -> impl Iterator<Item = &String> {
    let mut seen = HashSet::new();
    ids.iter().filter(move |id| seen.insert(*id))
}

impl MemoryStore {
    /// Records that the memories `ids` were recalled, now: noted for the recorder when one
    /// runs, else written at once. A memory named twice counts once.
    pub async fn touch(&self, ids: &[String]) -> Result<()> {
        let at = now();
        if self.accesses.note(ids, at) {
            return Ok(());
        }
        let accesses: Vec<Access> = distinct(ids).map(|id| Access::one(id, at)).collect();
        self.backend.touch(&accesses).await
    }

    /// Starts writing noted recalls once a second (see the module doc) until `stop` is
    /// cancelled; the task then writes what is left and recalls write their own again.
    pub fn start_access_recorder(&self, stop: CancellationToken) -> JoinHandle<()> {
        self.accesses.state().deferred = true;
        let store = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(RECORD_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = ticks.tick() => store.record_accesses(true).await,
                }
            }
            store.record_accesses(false).await;
        })
    }

    /// Writes the noted recalls; `deferred` as [`AccessLog::take`]. A failed write keeps
    /// them for the next (the last one, as the recorder stops, says how many are lost).
    async fn record_accesses(&self, deferred: bool) {
        let accesses = self.accesses.take(deferred);
        if accesses.is_empty() {
            return;
        }
        if let Err(err) = self.backend.touch(&accesses).await {
            if deferred {
                tracing::warn!(%err, "could not record recalls yet; trying again");
                self.accesses.put_back(accesses);
            } else {
                let lost = accesses.len();
                tracing::warn!(%err, lost, "could not record the last recalls");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{add, store};

    async fn recalled(store: &MemoryStore, id: &str) -> u64 {
        store.get(id).await.unwrap().access_count
    }

    #[tokio::test]
    async fn without_a_recorder_each_recall_is_written_at_once() {
        let s = store().await;
        let a = add(&s, "note", "a", "a").await;
        s.touch(&[a.clone(), a.clone()]).await.unwrap();
        assert_eq!(recalled(&s, &a).await, 1, "named twice, counted once");
        s.touch(std::slice::from_ref(&a)).await.unwrap();
        assert_eq!(recalled(&s, &a).await, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_recorder_writes_recalls_in_batches_and_what_is_left_as_it_stops() {
        let s = store().await;
        let (a, b) = (
            add(&s, "note", "a", "a").await,
            add(&s, "note", "b", "b").await,
        );
        let stop = CancellationToken::new();
        let recorder = s.start_access_recorder(stop.clone());
        // Two recalls within one period: noted, not yet written.
        s.touch(&[a.clone(), b.clone()]).await.unwrap();
        s.touch(&[a.clone(), a.clone()]).await.unwrap();
        assert_eq!((recalled(&s, &a).await, recalled(&s, &b).await), (0, 0));
        // The next tick writes both, in one batch.
        tokio::time::sleep(RECORD_EVERY + Duration::from_millis(10)).await;
        assert_eq!((recalled(&s, &a).await, recalled(&s, &b).await), (2, 1));
        let written = s.get(&a).await.unwrap().accessed_at;
        assert!(written.is_some());

        // Noted just before the recorder stops: its last run writes it.
        s.touch(std::slice::from_ref(&b)).await.unwrap();
        assert_eq!(recalled(&s, &b).await, 1);
        stop.cancel();
        recorder.await.unwrap();
        assert_eq!(recalled(&s, &b).await, 2);
        // Once it has stopped, a recall is written at once again.
        s.touch(std::slice::from_ref(&a)).await.unwrap();
        assert_eq!(recalled(&s, &a).await, 3);
        assert!(s.get(&a).await.unwrap().accessed_at >= written);
    }

    #[test]
    fn notes_put_back_after_a_failed_write_add_to_newer_ones() {
        let log = AccessLog::default();
        log.state().deferred = true;
        let at = now();
        assert!(log.note(&["a".into(), "b".into(), "a".into()], at));
        let taken = log.take(true);
        assert_eq!(taken.len(), 2);
        let later = at + chrono::Duration::seconds(1);
        assert!(log.note(&["a".into()], later));
        log.put_back(taken);
        let mut left = log.take(false);
        left.sort_by(|x, y| x.id.cmp(&y.id));
        let counts: Vec<(&str, u64)> = left.iter().map(|x| (x.id.as_str(), x.count)).collect();
        assert_eq!(counts, [("a", 2), ("b", 1)]);
        assert_eq!(left[0].at, later);
        // Stopped: nothing more is noted.
        assert!(!log.note(&["a".into()], later));
    }
}
