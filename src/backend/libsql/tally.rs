//! The statistics: counted once, then kept exact by the changes of this process's own writes.
//!
//! Counting 100k memories by kind and relationships by type reads whole indexes (tens of
//! milliseconds), while each write knows what it changed: a memory of some kind stored, a
//! relationship of some type deleted. So the figures are counted once and then moved by the
//! [`Delta`] of every write this process makes, and counted again only when something else
//! committed: another process on the same file, a unit of this process that reports no delta
//! (imports, re-embedding, maintenance, the embedding space), or frames a replica pulled.
//!
//! Telling those apart is SQLite's `data_version`: on one connection, it changes exactly when
//! *another* connection committed. So the writes that report deltas all run on one connection,
//! the writer, one at a time (SQLite lets one writer in at a time anyway), and the figures
//! remember the writer's `data_version` they are exact for. A write or a count that reads it
//! unchanged knows that every commit since was the writer's own, each already applied; one that
//! reads it moved drops the figures, to be counted again. A foreign commit that lands while a
//! write is under way moves the version after the read, so the next read sees it: a race costs
//! a recount, never a wrong figure. Nothing is stored in the database for this (no trigger, no
//! counter row), so a write dirties and replicates the same pages as before.

use std::collections::BTreeMap;
use std::future::Future;

use libsql::Connection;

use super::meta::count;
use super::pool::{Conn, Link, Pool, off_workers};
use crate::error::Result;
use crate::model::Stats;

/// What one write changed in the figures, each entry a count to add (or, negative, remove).
#[derive(Debug, Default)]
pub(super) struct Delta {
    kinds: Vec<(String, i64)>,
    rel_types: Vec<(String, i64)>,
    /// Vectors by embedding model (only the store's recorded model counts as embedded).
    vectors: Vec<(String, i64)>,
}

impl Delta {
    /// `n` memories (negative: removed) with this footprint.
    pub(super) fn memory(&mut self, footprint: &Footprint, n: i64) {
        self.kinds.push((footprint.kind.clone(), n));
        if let Some(model) = &footprint.vector_model {
            self.vectors.push((model.clone(), n));
        }
    }

    /// `n` relationships (negative: removed) of this type.
    pub(super) fn relationship(&mut self, rel_type: &str, n: i64) {
        self.rel_types.push((rel_type.to_owned(), n));
    }
}

/// What a memory contributes to the figures: its kind and the model of its vector, if any.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Footprint {
    pub kind: String,
    pub vector_model: Option<String>,
}

/// The footprint of memory `id` as stored, `None` when there is no such memory.
pub(super) async fn footprint(conn: &Conn, id: &str) -> Result<Option<Footprint>> {
    conn.row(
        "SELECT m.kind, v.model FROM memories m \
         LEFT JOIN memory_vectors v ON v.memory_id = m.id WHERE m.id = ?",
        [id],
        |row| {
            Ok(Footprint {
                kind: row.get(0)?,
                vector_model: row.get(1)?,
            })
        },
    )
    .await
}

/// The type of relationship `id`, `None` when there is no such relationship.
pub(super) async fn rel_type(conn: &Conn, id: &str) -> Result<Option<String>> {
    conn.row(
        "SELECT rel_type FROM relationships WHERE id = ?",
        [id],
        |row| Ok(row.get::<String>(0)?),
    )
    .await
}

/// Counted figures and the writer's `data_version` they are exact for.
struct Figures {
    version: i64,
    /// The embedding model recorded at the count: only its vectors count as embedded.
    model: Option<String>,
    kinds: BTreeMap<String, i64>,
    rel_types: BTreeMap<String, i64>,
    embedded: i64,
}

impl Figures {
    /// Counts everything, for the writer's `version` read before. No transaction around the
    /// statements (an embedded replica would forward its `BEGIN` to the primary): a commit
    /// landing between them also moved the version, so the next call counts again.
    async fn count(conn: &Connection, version: i64) -> Result<Figures> {
        let model = {
            let mut rows = conn
                .query("SELECT value FROM meta WHERE key = 'embedding_model'", ())
                .await?;
            match rows.next().await? {
                Some(row) => Some(row.get::<String>(0)?),
                None => None,
            }
        };
        Ok(Figures {
            version,
            kinds: grouped(conn, "SELECT kind, count(*) FROM memories GROUP BY kind").await?,
            rel_types: grouped(
                conn,
                "SELECT rel_type, count(*) FROM relationships GROUP BY rel_type",
            )
            .await?,
            embedded: count(
                conn,
                "SELECT count(*) FROM memory_vectors WHERE model = coalesce(\
                 (SELECT value FROM meta WHERE key = 'embedding_model'), model)",
            )
            .await? as i64,
            model,
        })
    }

    fn apply(&mut self, delta: Delta) {
        for (map, changes) in [
            (&mut self.kinds, delta.kinds),
            (&mut self.rel_types, delta.rel_types),
        ] {
            for (key, n) in changes {
                *map.entry(key).or_default() += n;
            }
            // A group with no member is not a group: a count would not list it.
            map.retain(|_, n| *n != 0);
        }
        for (model, n) in delta.vectors {
            if self.model.as_ref().is_none_or(|m| *m == model) {
                self.embedded += n;
            }
        }
    }

    fn stats(&self, size_bytes: u64) -> Stats {
        let (by_kind, memories) = largest_first(&self.kinds);
        let (by_rel_type, relationships) = largest_first(&self.rel_types);
        Stats {
            memories,
            relationships,
            embedded: self.embedded.max(0) as u64,
            by_kind,
            by_rel_type,
            size_bytes,
        }
    }
}

/// Groups largest first (ties by name), as the statistics list them, and their total.
fn largest_first(groups: &BTreeMap<String, i64>) -> (Vec<(String, u64)>, u64) {
    let mut listed: Vec<(String, u64)> = groups
        .iter()
        .map(|(name, n)| (name.clone(), (*n).max(0) as u64))
        .collect();
    listed.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let total = listed.iter().map(|(_, n)| n).sum();
    (listed, total)
}

async fn grouped(conn: &Connection, sql: &str) -> Result<BTreeMap<String, i64>> {
    let mut rows = conn.query(sql, ()).await?;
    let mut out = BTreeMap::new();
    while let Some(row) = rows.next().await? {
        out.insert(row.get(0)?, row.get::<i64>(1)?);
    }
    Ok(out)
}

async fn data_version(conn: &Conn) -> Result<i64> {
    let version = conn
        .row(
            "SELECT data_version FROM pragma_data_version()",
            (),
            |row| Ok(row.get::<i64>(0)?),
        )
        .await?;
    Ok(version.unwrap_or_default())
}

/// Bytes used by the database file. A SELECT over the pragma functions, not `PRAGMA
/// page_count`: an embedded replica forwards that pragma to the primary, and this is a question
/// about this file.
async fn size_bytes(conn: &Connection) -> Result<u64> {
    count(
        conn,
        "SELECT p.page_count * s.page_size FROM pragma_page_count() p, pragma_page_size() s",
    )
    .await
}

/// The writer connection and the figures it keeps.
#[derive(Default)]
pub(super) struct Tally {
    slot: tokio::sync::Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    /// Opened on first use, with the statements it prepares kept; dropped when a unit left
    /// it inside a transaction.
    writer: Option<Conn>,
    figures: Option<Figures>,
}

impl Slot {
    /// The writer, taken out of the slot for a unit of work. A new connection counts its
    /// `data_version` afresh, so figures kept against the previous one are dropped.
    async fn writer(&mut self, pool: &Pool) -> Result<Conn> {
        if let Some(conn) = self.writer.take() {
            return Ok(conn);
        }
        self.figures = None;
        pool.connect_kept().await
    }
}

impl Tally {
    /// Runs a write on the writer connection, one at a time; `work` returns its result and
    /// what it changed. A write that fails commits nothing (each is one statement or one
    /// transaction), so it changes no figure either.
    ///
    /// A short write (one record and what hangs on it) runs in place when the write lock is
    /// free ([`Pool::begin_in_place`]), else off the workers, where it may wait for the lock;
    /// a bulk write (`in_place` false), which takes milliseconds, always runs off the workers.
    pub(super) async fn write<T, F, Fut>(&self, pool: &Pool, in_place: bool, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(T, Delta)>>,
    {
        let mut slot = self.slot.lock().await;
        let conn = slot.writer(pool).await?;
        let unit = move |conn: Conn| async move {
            let version = data_version(&conn).await?;
            Ok((version, work(conn).await))
        };
        let outcome = match in_place && pool.begin_in_place(&conn).await? {
            true => {
                let outcome = unit(conn.clone()).await;
                let commit = matches!(outcome, Ok((_, Ok(_))));
                pool.end_in_place(&conn, commit).await.and(outcome)
            }
            false => {
                let task_conn = conn.clone();
                off_workers(move || unit(task_conn)).await
            }
        };
        if conn.is_autocommit() {
            slot.writer = Some(conn);
        }
        let (version, done) = match outcome {
            Ok(outcome) => outcome,
            Err(err) => {
                slot.figures = None;
                return Err(err);
            }
        };
        // A replica's writes land on the primary and come back with the frames it pulls: they
        // are counted then, as anyone else's.
        let applies = pool.link() == Link::Local;
        let (value, delta) = match done {
            Ok((value, delta)) => (value, Some(delta)),
            Err(err) => {
                if slot.figures.as_ref().is_some_and(|f| f.version != version) {
                    slot.figures = None;
                }
                return Err(err);
            }
        };
        match (&mut slot.figures, delta) {
            (Some(figures), Some(delta)) if applies && figures.version == version => {
                figures.apply(delta);
            }
            _ => slot.figures = None,
        }
        Ok(value)
    }

    /// The statistics: the kept figures when every commit since their count was this
    /// writer's, else a new count.
    pub(super) async fn stats(&self, pool: &Pool) -> Result<Stats> {
        // A primary over HTTP gives a new stream per unit of work: no connection to keep.
        if !pool.keeps_connections() {
            return pool
                .run(|conn| async move {
                    let figures = Figures::count(&conn, 0).await?;
                    Ok(figures.stats(size_bytes(&conn).await?))
                })
                .await;
        }
        let mut slot = self.slot.lock().await;
        let conn = slot.writer(pool).await?;
        let kept = slot.figures.take();
        let task_conn = conn.clone();
        let outcome = off_workers(move || async move {
            let version = data_version(&task_conn).await?;
            let figures = match kept {
                Some(figures) if figures.version == version => figures,
                _ => Figures::count(&task_conn, version).await?,
            };
            let size = size_bytes(&task_conn).await?;
            Ok((figures, size))
        })
        .await;
        if conn.is_autocommit() {
            slot.writer = Some(conn);
        }
        let (figures, size) = outcome?;
        let stats = figures.stats(size);
        slot.figures = Some(figures);
        Ok(stats)
    }
}
