//! A cheap answer to "has anything been committed to the store since I last asked?", for front
//! ends that follow other processes' writes (the viewer asks about once a second).
//!
//! SQLite's `data_version` answers exactly that, per connection: its value changes when
//! another connection committed. So one connection is kept for asking and never writes: every
//! commit — this process's pool, another process, a sync applying the primary's frames — is
//! another connection's. Reading it touches no table (it compares the WAL index header), so its
//! cost does not grow with the store. It is read through the pragma
//! function in a `SELECT`, which an embedded replica keeps local, where a `PRAGMA` statement
//! would be forwarded to the primary. Over HTTP to the primary each statement may run on
//! another connection of the server's, so there is no answer there.

use libsql::Connection;
use tokio::sync::Mutex;

use super::pool::{Link, Pool};
use crate::error::Result;

/// The connection that asks, opened on first use.
#[derive(Default)]
pub(super) struct ChangeWatch {
    conn: Mutex<Option<Connection>>,
}

impl ChangeWatch {
    /// The store's data version as this watch sees it; `None` for a remote store.
    pub(super) async fn data_version(&self, pool: &Pool) -> Result<Option<i64>> {
        if pool.link() == Link::Remote {
            return Ok(None);
        }
        let mut slot = self.conn.lock().await;
        let conn = match slot.as_ref() {
            Some(conn) => conn,
            None => slot.insert(pool.database().connect()?),
        };
        let mut rows = conn
            .query("SELECT data_version FROM pragma_data_version()", ())
            .await?;
        let row = rows.next().await?;
        Ok(row.map(|r| r.get::<i64>(0)).transpose()?)
    }
}
