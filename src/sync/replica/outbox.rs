//! The outbox: writes made while the primary was unreachable, kept in a local libSQL file
//! (beside the replica files, shared by every process of the namespace on this device) until
//! they are replayed in order.
//!
//! A write is acknowledged to the client only after its row is committed here, so a queued
//! write survives a crash like any other. Replay removes a row only after the primary has
//! it (see [`super::op::Op::replay`]); a crash in between replays it again, harmlessly.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use libsql::{Builder, Connection};
use serde::Serialize;
use tokio::sync::Mutex;

use super::op::Op;
use crate::error::{Error, Result};

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS outbox (
        seq       INTEGER PRIMARY KEY AUTOINCREMENT,
        op        TEXT NOT NULL,
        queued_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS refused (
        seq         INTEGER PRIMARY KEY,
        op          TEXT NOT NULL,
        reason      TEXT NOT NULL,
        queued_at   INTEGER NOT NULL,
        refused_at  INTEGER NOT NULL
    );";

/// A queued write the primary refused on replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    pub seq: i64,
    /// What the write was, e.g. "update memory 0192…".
    pub write: String,
    pub reason: String,
    pub queued_at: DateTime<Utc>,
    pub refused_at: DateTime<Utc>,
}

/// The durable queue.
pub struct Outbox {
    conn: Mutex<Connection>,
}

impl Outbox {
    /// Opens (creating, owner-only) the outbox file.
    pub async fn open(path: &Path) -> Result<Outbox> {
        crate::private_fs::create_file(path)?;
        let db = Builder::new_local(path).build().await?;
        let conn = db.connect()?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.query("PRAGMA journal_mode = WAL", ()).await?;
        conn.execute_batch(SCHEMA).await?;
        Ok(Outbox {
            conn: Mutex::new(conn),
        })
    }

    /// Appends `op`; returns its sequence number once it is durable.
    pub async fn push(&self, op: &Op) -> Result<i64> {
        let json = serde_json::to_string(op).map_err(|e| Error::Corrupt {
            what: "outbox entry",
            reason: e.to_string(),
        })?;
        let conn = self.conn.lock().await;
        let mut rows = conn
            .query(
                "INSERT INTO outbox (op, queued_at) VALUES (?, ?) RETURNING seq",
                (json, Utc::now().timestamp_micros()),
            )
            .await?;
        let row = rows.next().await?.ok_or_else(|| Error::Corrupt {
            what: "outbox",
            reason: "insert returned no sequence number".into(),
        })?;
        Ok(row.get(0)?)
    }

    /// Every queued write, oldest first.
    pub async fn pending(&self) -> Result<Vec<(i64, Op)>> {
        let conn = self.conn.lock().await;
        let mut rows = conn
            .query("SELECT seq, op FROM outbox ORDER BY seq", ())
            .await?;
        let mut ops = Vec::new();
        while let Some(row) = rows.next().await? {
            let seq: i64 = row.get(0)?;
            let json: String = row.get(1)?;
            let op = serde_json::from_str(&json).map_err(|e| Error::Corrupt {
                what: "outbox entry",
                reason: format!("entry {seq}: {e}"),
            })?;
            ops.push((seq, op));
        }
        Ok(ops)
    }

    /// Removes a write the primary now has.
    pub async fn ack(&self, seq: i64) -> Result<()> {
        let conn = self.conn.lock().await;
        conn.execute("DELETE FROM outbox WHERE seq = ?", [seq])
            .await?;
        Ok(())
    }

    /// Moves a write the primary refused to the list of refusals, in one transaction.
    pub async fn refuse(&self, seq: i64, reason: &str) -> Result<()> {
        let conn = self.conn.lock().await;
        conn.execute("BEGIN IMMEDIATE", ()).await?;
        let moved = conn
            .execute(
                "INSERT OR REPLACE INTO refused (seq, op, reason, queued_at, refused_at) \
                 SELECT seq, op, ?, queued_at, ? FROM outbox WHERE seq = ?",
                (reason, Utc::now().timestamp_micros(), seq),
            )
            .await;
        let result = match moved {
            Ok(_) => {
                conn.execute("DELETE FROM outbox WHERE seq = ?", [seq])
                    .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(_) => {
                conn.execute("COMMIT", ()).await?;
                Ok(())
            }
            Err(e) => {
                let _ = conn.execute("ROLLBACK", ()).await;
                Err(e.into())
            }
        }
    }

    /// (queued writes, refused writes).
    pub async fn counts(&self) -> Result<(u64, u64)> {
        let conn = self.conn.lock().await;
        let mut rows = conn
            .query(
                "SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM refused)",
                (),
            )
            .await?;
        let row = rows.next().await?.ok_or_else(|| Error::Corrupt {
            what: "outbox",
            reason: "count returned no row".into(),
        })?;
        Ok((row.get::<u64>(0)?, row.get::<u64>(1)?))
    }

    /// The refused writes, newest first.
    pub async fn refusals(&self, limit: usize) -> Result<Vec<Refusal>> {
        let conn = self.conn.lock().await;
        let mut rows = conn
            .query(
                "SELECT seq, op, reason, queued_at, refused_at FROM refused \
                 ORDER BY refused_at DESC LIMIT ?",
                [limit as i64],
            )
            .await?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await? {
            let json: String = row.get(1)?;
            let write = serde_json::from_str::<Op>(&json)
                .map(|op| op.describe())
                .unwrap_or(json);
            out.push(Refusal {
                seq: row.get(0)?,
                write,
                reason: row.get(2)?,
                queued_at: from_micros(row.get(3)?),
                refused_at: from_micros(row.get(4)?),
            });
        }
        Ok(out)
    }
}

fn from_micros(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delete(id: &str) -> Op {
        Op::DeleteMemory {
            id: id.to_owned(),
            base_version: None,
        }
    }

    #[tokio::test]
    async fn writes_come_back_in_order_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.db");
        {
            let outbox = Outbox::open(&path).await.unwrap();
            for id in ["a", "b", "c"] {
                outbox.push(&delete(id)).await.unwrap();
            }
        }
        let outbox = Outbox::open(&path).await.unwrap();
        let pending = outbox.pending().await.unwrap();
        let ops: Vec<Op> = pending.iter().map(|(_, op)| op.clone()).collect();
        assert_eq!(ops, [delete("a"), delete("b"), delete("c")]);
        assert!(pending.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[tokio::test]
    async fn ack_removes_and_refuse_moves_to_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&dir.path().join("outbox.db")).await.unwrap();
        let a = outbox.push(&delete("a")).await.unwrap();
        let b = outbox.push(&delete("b")).await.unwrap();
        let c = outbox.push(&delete("c")).await.unwrap();
        outbox.ack(a).await.unwrap();
        outbox.refuse(b, "version conflict").await.unwrap();
        assert_eq!(outbox.counts().await.unwrap(), (1, 1));
        assert_eq!(outbox.pending().await.unwrap()[0].0, c);
        let refused = outbox.refusals(10).await.unwrap();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].write, "delete memory b");
        assert_eq!(refused[0].reason, "version conflict");
        // Sequence numbers are never reused, so a replay can never confuse two writes.
        let d = outbox.push(&delete("d")).await.unwrap();
        assert!(d > c);
    }
}
