//! Replica mode's backend: an embedded replica of the primary (a [`LibsqlBackend`]) that
//! keeps accepting writes when the primary is unreachable.
//!
//! A write goes to the primary through the replica (libSQL forwards it and, with
//! read-your-writes, syncs the replica before answering). When that fails because the primary
//! cannot be reached, the write is checked against this device's view, stored in the
//! [`outbox`], acknowledged as pending, and made visible through the [`overlay`]. While
//! anything is queued, later writes queue behind it, so the primary receives them in the
//! order they were made. The sync worker replays the queue when the primary is back
//! ([`op::Op::replay`] makes that idempotent) and reports writes the primary refused.

mod op;
mod outbox;
mod overlay;
mod repair;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, RwLock};

use self::op::{Applied, Op, Replayed, VectorChange};
use self::outbox::Outbox;
pub use self::outbox::Refusal;
use self::overlay::Overlay;
use self::repair::Repair;
use super::slot::{FileLock, Slot};
use super::{Mode, SyncState, SyncStatus};
use crate::backend::libsql::{LibsqlBackend, Primary};
use crate::backend::{
    Cursor, EmbeddingChange, GraphBackend, IdKind, ImportBatch, ImportOutcome, IntegrityCheck,
    NewRecord, nearest_in_time,
};
use crate::error::{Error, Result};
use crate::model::{
    Access, Created, Direction, Embedding, Filter, KeywordHit, LinkedMemory, Memory, MemoryPatch,
    MemorySummary, Page, Relationship, RelationshipPatch, Stats, StoreMeta, VectorHit,
};

/// File names inside the namespace's replica directory.
const OUTBOX_FILE: &str = "outbox.db";
const REPLAY_LOCK_FILE: &str = "outbox.lock";
/// Refused writes listed in a status report.
const REFUSALS_SHOWN: usize = 20;
/// How long a sync waits for another process of this device to finish sending the queued
/// writes, so that `sync` reports the queue as that replay left it.
const REPLAY_WAIT: Duration = Duration::from_secs(15);
/// How often the wait looks at the lock again.
const REPLAY_POLL: Duration = Duration::from_millis(50);

/// A replica that queues writes while its primary is away.
pub struct ReplicaBackend {
    inner: LibsqlBackend,
    primary: String,
    /// How to reach the primary, to find out why a sync failed.
    link: Primary,
    outbox: Outbox,
    replay_lock: PathBuf,
    overlay: RwLock<Overlay>,
    /// Serialises writes with each other and with replay, so the primary sees them in order.
    writes: Mutex<()>,
    /// Recovery from a replica file found damaged at a read (see [`repair`]).
    repair: Mutex<Repair>,
    /// The primary refused the token at the last sync (see [`ReplicaBackend::still_refused`]).
    token_refused: AtomicBool,
    state: SyncState,
    /// This process's claim on the replica file, held as long as the backend lives.
    _slot: Slot,
}

impl ReplicaBackend {
    /// Wraps the replica `inner` (the file of `slot`, in `dir`), with the namespace's outbox
    /// in `dir`, and rebuilds the view of writes still queued there.
    pub async fn new(
        inner: LibsqlBackend,
        slot: Slot,
        dir: &Path,
        primary: &Primary,
    ) -> Result<Self> {
        let backend = ReplicaBackend {
            state: SyncState::new(SyncStatus {
                mode: Mode::Replica,
                primary: Some(primary.display_url()),
                replica: Some(inner.path().display().to_string()),
                ..SyncStatus::default()
            }),
            inner,
            primary: primary.display_url(),
            link: primary.clone(),
            outbox: Outbox::open(&dir.join(OUTBOX_FILE)).await?,
            replay_lock: dir.join(REPLAY_LOCK_FILE),
            overlay: RwLock::new(Overlay::default()),
            writes: Mutex::new(()),
            repair: Mutex::new(Repair::default()),
            token_refused: AtomicBool::new(false),
            _slot: slot,
        };
        backend.rebuild_overlay().await?;
        Ok(backend)
    }

    /// The live sync status (shared with the worker).
    pub fn state(&self) -> &SyncState {
        &self.state
    }

    /// The replica underneath.
    pub fn replica(&self) -> &LibsqlBackend {
        &self.inner
    }

    /// Queued writes the primary refused, newest first.
    pub async fn refusals(&self) -> Result<Vec<Refusal>> {
        self.outbox.refusals(REFUSALS_SHOWN).await
    }

    /// One round of sync: pull the primary's changes, replay queued writes, refresh the
    /// status. Returns the error of the round, also recorded in the status.
    pub async fn sync_once(&self) -> Result<()> {
        // Writes other processes of this device queued count too.
        self.refresh_queue().await?;
        let outcome = self.pull_and_replay().await;
        let refreshed = self.refresh_queue().await;
        self.state.update(|s| {
            s.record(
                Utc::now(),
                outcome.as_ref().map(drop).map_err(|e| e.to_string()),
            )
        });
        outcome.and(refreshed)
    }

    async fn pull_and_replay(&self) -> Result<()> {
        if let Some(refused) = self.still_refused().await {
            return Err(refused);
        }
        let generation = self.generation().await;
        let replicated = match self.inner.sync().await {
            Ok(replicated) => replicated,
            Err(err) if err.is_corruption() => {
                // The new copy is the primary's state: the pull is done.
                return self.replace_damaged(generation, &err).await;
            }
            Err(err) => {
                let err = self.unreachable(self.diagnose(err).await);
                let refused = matches!(err, Error::PrimaryRefused { .. });
                self.token_refused.store(refused, Ordering::Relaxed);
                return Err(err);
            }
        };
        self.token_refused.store(false, Ordering::Relaxed);
        self.state.update(|s| {
            s.frame_no = replicated.frame_no;
            s.frames_synced += replicated.frames_synced;
        });
        if self.queued() > 0 {
            self.replay().await?;
            self.inner.sync().await.map_err(|e| self.unreachable(e))?;
        }
        Ok(())
    }

    /// Replays the outbox in order. When another process of this device is replaying it,
    /// waits for that replay (up to [`REPLAY_WAIT`]) and then sends what it left; past the
    /// wait, the status says that the other process is still at it.
    async fn replay(&self) -> Result<()> {
        let Some(_replaying) = self.replay_lock().await? else {
            self.state.update(|s| s.replaying_elsewhere = true);
            return Ok(());
        };
        self.state.update(|s| s.replaying_elsewhere = false);
        let _order = self.writes.lock().await;
        for (seq, op) in self.outbox.pending().await? {
            match op
                .replay(&self.inner)
                .await
                .map_err(|e| self.unreachable(e))?
            {
                Replayed::Done => self.outbox.ack(seq).await?,
                Replayed::Refused(reason) => {
                    tracing::warn!(write = %op.describe(), %reason,
                        "the primary refused a write queued while offline; see `memctl sync status`");
                    self.outbox.refuse(seq, &reason).await?;
                }
            }
        }
        Ok(())
    }

    /// The replay lock, once no other process of this device holds it; `None` when it is
    /// still held after [`REPLAY_WAIT`].
    async fn replay_lock(&self) -> Result<Option<FileLock>> {
        let deadline = tokio::time::Instant::now() + REPLAY_WAIT;
        loop {
            if let Some(lock) = FileLock::try_acquire(&self.replay_lock)? {
                return Ok(Some(lock));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(REPLAY_POLL).await;
        }
    }

    /// Re-reads the outbox's counts, and rebuilds the overlay when the queue changed (a
    /// replay, or writes queued by another process).
    async fn refresh_queue(&self) -> Result<()> {
        let (pending, refused) = self.outbox.counts().await?;
        let applied = self.overlay.read().await.len as u64;
        self.state.update(|s| s.conflicts = refused);
        if pending != applied {
            self.rebuild_overlay().await?;
        }
        Ok(())
    }

    async fn rebuild_overlay(&self) -> Result<()> {
        let ops = self.outbox.pending().await?;
        let mut fresh = Overlay::default();
        for (seq, op) in &ops {
            if let Err(err) = fresh.apply(op, &self.inner).await {
                // The replica moved on (another device changed the row); the replay will
                // settle it against the primary and report a refusal if it must.
                tracing::debug!(seq, write = %op.describe(), error = %err,
                    "a queued write does not apply over the replica");
            }
        }
        *self.overlay.write().await = fresh;
        self.state.update(|s| s.pending_writes = ops.len() as u64);
        Ok(())
    }

    /// Sends `op` to the primary, or queues it when the primary cannot be reached (or
    /// earlier writes are still queued).
    async fn submit(&self, op: Op) -> Result<Applied> {
        let _order = self.writes.lock().await;
        if self.queued() == 0 {
            match op.apply(&self.inner).await {
                Err(err) if err.is_transient() => {
                    tracing::warn!(primary = %self.primary, error = %err,
                        "the primary is unreachable; queueing the write");
                    self.state
                        .update(|s| s.record(Utc::now(), Err(self.unreachable(err).to_string())));
                    self.state.wake();
                }
                Err(err) => return Err(self.refused(err)),
                ok => return ok,
            }
        }
        self.queue(op).await
    }

    /// Runs `write`, a whole batch, on the primary when no write is queued; `None` when some
    /// are, or the primary cannot be reached, for the caller to queue the batch's writes one
    /// by one. The queue is checked under the write order, so the batch never overtakes a
    /// write queued meanwhile.
    async fn whole_batch<T, Fut>(&self, write: impl FnOnce() -> Fut) -> Result<Option<T>>
    where
        T: Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        let _order = self.writes.lock().await;
        if self.queued() > 0 {
            return Ok(None);
        }
        match write().await {
            Err(err) if err.is_transient() => Ok(None),
            Err(err) => Err(self.refused(err)),
            Ok(done) => Ok(Some(done)),
        }
    }

    async fn queue(&self, op: Op) -> Result<Applied> {
        let mut overlay = self.overlay.write().await;
        let applied = overlay.apply(&op, &self.inner).await?;
        if let Err(err) = self.outbox.push(&op).await {
            drop(overlay);
            self.rebuild_overlay().await?;
            return Err(err);
        }
        self.state.update(|s| s.pending_writes += 1);
        Ok(applied)
    }

    /// Writes waiting in the outbox, as last counted (read on every write and recall, so
    /// without copying the whole status).
    fn queued(&self) -> u64 {
        self.state.update(|s| s.pending_writes)
    }

    /// The version this device sees for memory `id`.
    async fn memory_version(&self, id: &str) -> Result<i64> {
        self.get_memories(&[id.to_owned()])
            .await?
            .pop()
            .map(|m| m.version)
            .ok_or_else(|| Error::MemoryNotFound { id: id.to_owned() })
    }

    /// The primary's refusal, when it refused the token at the last sync and still does.
    /// One query over HTTP finds out, where a sync would spend libSQL's handshake retries
    /// (about 3 s) before reporting only a timeout.
    async fn still_refused(&self) -> Option<Error> {
        if !self.token_refused.load(Ordering::Relaxed) {
            return None;
        }
        match self.link.probe().await {
            Err(err) if err.token_refusal().is_some() => Some(self.unreachable(err)),
            _ => None,
        }
    }

    /// A failed sync's error, or the primary's own answer when the sync could not say: a
    /// handshake timeout may hide a refused token, which a query over HTTP reveals.
    async fn diagnose(&self, err: Error) -> Error {
        if !err.is_handshake_timeout() {
            return err;
        }
        match self.link.probe().await {
            Err(refused) if refused.token_refusal().is_some() => refused,
            _ => err,
        }
    }

    /// A write's error as the caller sees it: a refused token becomes
    /// [`Error::PrimaryRefused`] and the sync status's last error, so `memctl sync status`
    /// says why writes fail; any other error as it is.
    fn refused(&self, err: Error) -> Error {
        if err.token_refusal().is_none() {
            return err;
        }
        let err = self.unreachable(err);
        self.state
            .update(|s| s.record(Utc::now(), Err(err.to_string())));
        err
    }

    fn unreachable(&self, err: Error) -> Error {
        self.link
            .explain(err, "reads still work from the local replica")
    }

    /// An operation that needs the primary (imports, model switches) while it is away.
    fn needs_primary(&self, err: Error) -> Error {
        self.link.explain(
            err,
            "this operation needs the primary and was not done; retry when it is back",
        )
    }

    /// The replica's nearest memories `hits` with the overlay's own merged in: the overlay's
    /// search is exact, and cosine similarities are comparable across the two (an index's
    /// within its error), so the merge is by score.
    async fn with_pending_vectors(
        &self,
        hits: Vec<VectorHit>,
        model: &str,
        vector: &[f32],
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<VectorHit>> {
        let overlay = self.overlay.read().await;
        if overlay.is_empty() {
            return Ok(hits);
        }
        let mut hits = Self::without_owned(&overlay, hits, |h| &h.memory.id);
        hits.extend(
            overlay
                .pending()
                .vector_search(model, vector, filter, limit)
                .await?,
        );
        hits.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        hits.truncate(limit);
        Ok(hits)
    }

    /// Drops hits on rows the overlay owns (changed or deleted while offline).
    fn without_owned<T>(overlay: &Overlay, hits: Vec<T>, id: impl Fn(&T) -> &str) -> Vec<T> {
        hits.into_iter()
            .filter(|h| !overlay.owns_memory(id(h)))
            .collect()
    }
}

/// Adds `step` to the count of `name` in `counts`, dropping a count that reaches zero.
fn tally(counts: &mut Vec<(String, u64)>, name: &str, step: i64) {
    match counts.iter_mut().position(|(n, _)| n == name) {
        Some(i) => {
            counts[i].1 = counts[i].1.saturating_add_signed(step);
            if counts[i].1 == 0 {
                counts.remove(i);
            }
        }
        None if step > 0 => counts.push((name.to_owned(), step as u64)),
        None => {}
    }
}

/// An op answered with another kind of result than its kind makes: a bug, reported as such.
fn unexpected(expected: &str, got: Applied) -> Error {
    Error::Task(format!("expected {expected}, got {got:?}"))
}

fn expect_memory(applied: Applied) -> Result<Memory> {
    match applied {
        Applied::Memory(m) => Ok(m),
        other => Err(unexpected("a memory", other)),
    }
}

fn expect_relationship(applied: Applied) -> Result<(Relationship, Created)> {
    match applied {
        Applied::Relationship(r, c) => Ok((r, c)),
        other => Err(unexpected("a relationship", other)),
    }
}

#[async_trait]
impl GraphBackend for ReplicaBackend {
    async fn meta(&self) -> Result<StoreMeta> {
        self.on_replica(|r| async move { r.meta().await }).await
    }

    async fn claim_embedding_space(&self, model: &str, dim: usize) -> Result<(String, usize)> {
        // Read first: a replica that already knows the space needs no trip to the primary.
        let meta = self.meta().await?;
        if let (Some(m), Some(d)) = (meta.embedding_model, meta.embedding_dim) {
            return Ok((m, d));
        }
        self.inner
            .claim_embedding_space(model, dim)
            .await
            .map_err(|e| self.needs_primary(e))
    }

    async fn replace_embedding_space(
        &self,
        model: &str,
        dim: usize,
    ) -> Result<Option<(String, usize)>> {
        self.inner
            .replace_embedding_space(model, dim)
            .await
            .map_err(|e| self.needs_primary(e))
    }

    async fn create_linked_memory(
        &self,
        memory: &Memory,
        embedding: Option<&Embedding>,
        relationships: &[Relationship],
    ) -> Result<LinkedMemory> {
        let op = Op::CreateMemory {
            memory: memory.clone(),
            embedding: embedding.cloned(),
            relationships: relationships.to_vec(),
        };
        match self.submit(op).await? {
            Applied::Created(linked) => Ok(linked),
            other => Err(unexpected("a created memory", other)),
        }
    }

    async fn create_memories(&self, batch: &[(Memory, Option<Embedding>)]) -> Result<Vec<Created>> {
        // A batch is one transaction on the primary, or (offline) one queued write each.
        if let Some(created) = self
            .whole_batch(|| self.inner.create_memories(batch))
            .await?
        {
            return Ok(created);
        }
        let mut created = Vec::with_capacity(batch.len());
        for (memory, embedding) in batch {
            created.push(self.create_memory(memory, embedding.as_ref()).await?.1);
        }
        Ok(created)
    }

    async fn create_linked_memories(&self, batch: &[NewRecord]) -> Result<Vec<LinkedMemory>> {
        // One transaction on the primary (a capture's memories in one go), or, offline, one
        // queued write each: a batch cut off mid-way replays record by record, by id.
        let whole = self.whole_batch(|| self.inner.create_linked_memories(batch));
        if let Some(written) = whole.await? {
            return Ok(written);
        }
        crate::backend::create_one_by_one(self, batch).await
    }

    async fn get_memories(&self, ids: &[String]) -> Result<Vec<Memory>> {
        let found = self
            .on_replica(|r| async move { r.get_memories(ids).await })
            .await?;
        let overlay = self.overlay.read().await;
        if overlay.is_empty() {
            return Ok(found);
        }
        let owned: Vec<String> = ids
            .iter()
            .filter(|id| overlay.owns_memory(id))
            .cloned()
            .collect();
        let mut by_id: HashMap<String, Memory> = Self::without_owned(&overlay, found, |m| &m.id)
            .into_iter()
            .map(|m| (m.id.clone(), m))
            .collect();
        for m in overlay.pending().get_memories(&owned).await? {
            by_id.insert(m.id.clone(), m);
        }
        Ok(ids.iter().filter_map(|id| by_id.get(id).cloned()).collect())
    }

    async fn update_memory(
        &self,
        id: &str,
        patch: &MemoryPatch,
        embedding: EmbeddingChange<'_>,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Memory> {
        let op = Op::UpdateMemory {
            id: id.to_owned(),
            patch: patch.clone(),
            vector: VectorChange::from_change(&embedding),
            expected_version,
            base_version: self.memory_version(id).await?,
            now,
        };
        expect_memory(self.submit(op).await?)
    }

    async fn delete_memory(&self, id: &str) -> Result<Vec<Relationship>> {
        let op = Op::DeleteMemory {
            id: id.to_owned(),
            // A memory this device does not see deletes as "not found", as before.
            base_version: self.memory_version(id).await.ok(),
        };
        match self.submit(op).await? {
            Applied::DeletedMemory(removed) => Ok(removed),
            other => Err(unexpected("a deleted memory", other)),
        }
    }

    async fn touch(&self, accesses: &[Access]) -> Result<()> {
        // Access statistics are bookkeeping, not memories: not worth queueing offline.
        if self.queued() > 0 {
            return Ok(());
        }
        self.inner
            .touch(accesses)
            .await
            .map_err(|e| self.unreachable(e))
    }

    async fn list_memories(
        &self,
        filter: &Filter,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page> {
        let page = self
            .on_replica(|r| async move { r.list_memories(filter, after, limit).await })
            .await?;
        let overlay = self.overlay.read().await;
        if overlay.is_empty() {
            return Ok(page);
        }
        let mut memories = Self::without_owned(&overlay, page.memories, |m| &m.id);
        // Queued memories are newest: they join the first page.
        if after.is_none() {
            memories.extend(
                overlay
                    .pending()
                    .list_memories(filter, None, limit)
                    .await?
                    .memories,
            );
            memories.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
            memories.truncate(limit);
        }
        let next_cursor = match (&page.next_cursor, memories.last()) {
            (Some(_), Some(last)) => Some(Cursor::after(last).encode()),
            _ => None,
        };
        Ok(Page {
            memories,
            next_cursor,
        })
    }

    async fn neighbours_in_time(
        &self,
        anchors: &[Memory],
        steps: usize,
        filter: &Filter,
    ) -> Result<Vec<(String, Memory)>> {
        let found = self
            .on_replica(|r| async move { r.neighbours_in_time(anchors, steps, filter).await })
            .await?;
        let overlay = self.overlay.read().await;
        if overlay.is_empty() {
            return Ok(found);
        }
        let mut found = Self::without_owned(&overlay, found, |(_, m)| &m.id);
        found.extend(
            overlay
                .pending()
                .neighbours_in_time(anchors, steps, filter)
                .await?,
        );
        Ok(nearest_in_time(anchors, steps, found))
    }

    async fn keyword_search(
        &self,
        terms: &[String],
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<KeywordHit>> {
        let hits = self
            .on_replica(|r| async move { r.keyword_search(terms, filter, limit).await })
            .await?;
        let overlay = self.overlay.read().await;
        if overlay.is_empty() {
            return Ok(hits);
        }
        let mut hits = Self::without_owned(&overlay, hits, |h| &h.memory.id);
        hits.extend(
            overlay
                .pending()
                .keyword_search(terms, filter, limit)
                .await?,
        );
        hits.truncate(limit);
        Ok(hits)
    }

    async fn vector_search(
        &self,
        model: &str,
        vector: &[f32],
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<VectorHit>> {
        let hits = self
            .on_replica(|r| async move { r.vector_search(model, vector, filter, limit).await })
            .await?;
        self.with_pending_vectors(hits, model, vector, filter, limit)
            .await
    }

    async fn vector_candidates(
        &self,
        model: &str,
        vector: &[f32],
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<VectorHit>> {
        let hits = self
            .on_replica(|r| async move { r.vector_candidates(model, vector, filter, limit).await })
            .await?;
        self.with_pending_vectors(hits, model, vector, filter, limit)
            .await
    }

    async fn indexed_vectors(
        &self,
        model: &str,
        dim: usize,
        ids: &[String],
    ) -> Result<Vec<(String, Vec<f32>)>> {
        // Like `embeddings`, the replica's alone: the overlay's memories are not in its index.
        self.on_replica(|r| async move { r.indexed_vectors(model, dim, ids).await })
            .await
    }

    async fn create_relationship(&self, rel: &Relationship) -> Result<(Relationship, Created)> {
        expect_relationship(
            self.submit(Op::CreateRelationship {
                relationship: rel.clone(),
            })
            .await?,
        )
    }

    async fn get_relationship(&self, id: &str) -> Result<Relationship> {
        {
            let overlay = self.overlay.read().await;
            if overlay.owns_relationship(id) {
                return overlay.pending().get_relationship(id).await;
            }
        }
        self.on_replica(|r| async move { r.get_relationship(id).await })
            .await
    }

    async fn update_relationship(
        &self,
        id: &str,
        patch: &RelationshipPatch,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Relationship> {
        let op = Op::UpdateRelationship {
            id: id.to_owned(),
            patch: patch.clone(),
            expected_version,
            base_version: self.get_relationship(id).await?.version,
            now,
        };
        expect_relationship(self.submit(op).await?).map(|(r, _)| r)
    }

    async fn delete_relationship(&self, id: &str) -> Result<()> {
        let op = Op::DeleteRelationship {
            id: id.to_owned(),
            base_version: self.get_relationship(id).await.ok().map(|r| r.version),
        };
        self.submit(op).await.map(drop)
    }

    async fn relationships_of(
        &self,
        ids: &[String],
        direction: Direction,
        rel_types: &[String],
        valid_at: Option<DateTime<Utc>>,
    ) -> Result<Vec<Relationship>> {
        let rels = self
            .on_replica(|r| async move {
                r.relationships_of(ids, direction, rel_types, valid_at)
                    .await
            })
            .await?;
        let overlay = self.overlay.read().await;
        if overlay.is_empty() {
            return Ok(rels);
        }
        let mut rels: Vec<Relationship> = rels
            .into_iter()
            .filter(|r| {
                !overlay.owns_relationship(&r.id)
                    && !overlay.deleted_memories.contains(&r.source_id)
                    && !overlay.deleted_memories.contains(&r.target_id)
            })
            .collect();
        rels.extend(
            overlay
                .pending()
                .relationships_of(ids, direction, rel_types, valid_at)
                .await?
                .into_iter()
                .filter(|r| overlay.owns_relationship(&r.id)),
        );
        Ok(rels)
    }

    async fn summaries(&self, ids: &[String], filter: &Filter) -> Result<Vec<MemorySummary>> {
        let found = self
            .on_replica(|r| async move { r.summaries(ids, filter).await })
            .await?;
        let overlay = self.overlay.read().await;
        if overlay.is_empty() {
            return Ok(found);
        }
        let owned: Vec<String> = ids
            .iter()
            .filter(|id| overlay.owns_memory(id))
            .cloned()
            .collect();
        let mut found = Self::without_owned(&overlay, found, |s| &s.id);
        found.extend(overlay.pending().summaries(&owned, filter).await?);
        Ok(found)
    }

    async fn ids_with_prefix(
        &self,
        kind: IdKind,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        let found = self
            .on_replica(|r| async move { r.ids_with_prefix(kind, prefix, limit).await })
            .await?;
        let overlay = self.overlay.read().await;
        if overlay.is_empty() {
            return Ok(found);
        }
        // Ids the overlay owns are as it has them: created, or deleted, offline.
        let owns = |id: &str| match kind {
            IdKind::Memory => overlay.owns_memory(id),
            IdKind::Relationship => overlay.owns_relationship(id),
        };
        let mut ids: Vec<String> = found.into_iter().filter(|id| !owns(id)).collect();
        ids.extend(
            overlay
                .pending()
                .ids_with_prefix(kind, prefix, limit)
                .await?,
        );
        ids.sort_unstable();
        ids.truncate(limit);
        Ok(ids)
    }

    async fn warm_up_keywords(&self) -> Result<()> {
        self.on_replica(|r| async move { r.warm_up_keywords().await })
            .await
    }

    async fn warm_up_vectors(&self, model: &str, dim: usize) -> Result<()> {
        self.on_replica(|r| async move { r.warm_up_vectors(model, dim).await })
            .await
    }

    async fn expand(
        &self,
        ids: &[String],
        direction: Direction,
        rel_types: &[String],
        valid_at: Option<DateTime<Utc>>,
        filter: &Filter,
    ) -> Result<(Vec<Relationship>, Vec<MemorySummary>)> {
        if self.overlay.read().await.is_empty() {
            return self
                .on_replica(|r| async move {
                    r.expand(ids, direction, rel_types, valid_at, filter).await
                })
                .await;
        }
        crate::backend::expand_in_two_calls(self, ids, direction, rel_types, valid_at, filter).await
    }

    /// The replica's counts with the queued writes applied, so a memory stored offline is
    /// counted as it is listed.
    async fn stats(&self) -> Result<Stats> {
        let mut stats = self.on_replica(|r| async move { r.stats().await }).await?;
        let overlay = self.overlay.read().await;
        if overlay.is_empty() {
            return Ok(stats);
        }
        let ids = overlay.memory_ids();
        for m in self.inner.get_memories(&ids).await? {
            stats.memories = stats.memories.saturating_sub(1);
            tally(&mut stats.by_kind, &m.kind, -1);
        }
        for m in overlay.pending().get_memories(&ids).await? {
            stats.memories += 1;
            tally(&mut stats.by_kind, &m.kind, 1);
        }
        for id in overlay.relationship_ids() {
            let before = self.inner.get_relationship(id).await;
            let after = if overlay.deleted_relationships.contains(id) {
                Err(Error::RelationshipNotFound { id: id.clone() })
            } else {
                overlay.pending().get_relationship(id).await
            };
            for (found, step) in [(before, -1), (after, 1)] {
                match found {
                    Ok(r) => {
                        stats.relationships = stats.relationships.saturating_add_signed(step);
                        tally(&mut stats.by_rel_type, &r.rel_type, step);
                    }
                    Err(Error::RelationshipNotFound { .. }) => {}
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(stats)
    }

    async fn import_batch(&self, batch: Arc<ImportBatch>, dry_run: bool) -> Result<ImportOutcome> {
        self.inner
            .import_batch(batch, dry_run)
            .await
            .map_err(|e| self.needs_primary(e))
    }

    async fn embeddings(&self, ids: &[String]) -> Result<Vec<(String, Embedding)>> {
        self.on_replica(|r| async move { r.embeddings(ids).await })
            .await
    }

    async fn check_integrity(&self) -> Result<Vec<IntegrityCheck>> {
        self.inner.check_integrity().await
    }

    async fn memories_without_embedding(&self, model: &str, limit: usize) -> Result<Vec<Memory>> {
        self.on_replica(|r| async move { r.memories_without_embedding(model, limit).await })
            .await
    }

    async fn set_embeddings(&self, batch: &[(String, i64, Embedding)]) -> Result<usize> {
        // The embedding worker retries what is not stored, so nothing is queued here.
        self.inner
            .set_embeddings(batch)
            .await
            .map_err(|e| self.unreachable(e))
    }
}
