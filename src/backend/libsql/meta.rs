//! Facts about the store rather than its records: the `meta` table (store id, embedding
//! space).

use libsql::Connection;

use super::SCHEMA_VERSION;
use super::pool::write_tx;
use crate::error::{Error, Result};
use crate::model::StoreMeta;

pub(super) async fn meta(conn: &Connection) -> Result<StoreMeta> {
    let mut rows = conn.query("SELECT key, value FROM meta", ()).await?;
    let mut meta = StoreMeta {
        schema_version: SCHEMA_VERSION,
        ..StoreMeta::default()
    };
    while let Some(row) = rows.next().await? {
        let value: String = row.get(1)?;
        match row.get_str(0)? {
            "store_id" => meta.store_id = value,
            "embedding_model" => meta.embedding_model = Some(value),
            "embedding_dim" => meta.embedding_dim = value.parse().ok(),
            _ => {}
        }
    }
    Ok(meta)
}

/// See [`crate::backend::GraphBackend::claim_embedding_space`].
pub(super) async fn claim_embedding_space(
    conn: &Connection,
    model: &str,
    dim: usize,
) -> Result<(String, usize)> {
    write_tx(conn, || async {
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('embedding_model', ?), ('embedding_dim', ?)",
            (model, dim.to_string()),
        )
        .await?;
        let mut rows = conn
            .query(
                "SELECT (SELECT value FROM meta WHERE key = 'embedding_model'), \
                 (SELECT value FROM meta WHERE key = 'embedding_dim')",
                (),
            )
            .await?;
        let row = rows.next().await?.ok_or_else(|| Error::Corrupt {
            what: "meta",
            reason: "embedding space missing after recording it".into(),
        })?;
        let dim: String = row.get(1)?;
        let dim = dim.parse().map_err(|_| Error::Corrupt {
            what: "meta",
            reason: format!("embedding_dim {dim:?} is not a number"),
        })?;
        Ok((row.get(0)?, dim))
    })
    .await
}

/// See [`crate::backend::GraphBackend::replace_embedding_space`].
pub(super) async fn replace_embedding_space(
    conn: &Connection,
    model: &str,
    dim: usize,
) -> Result<Option<(String, usize)>> {
    write_tx(conn, || async {
        let mut rows = conn
            .query(
                "SELECT (SELECT value FROM meta WHERE key = 'embedding_model'), \
                 (SELECT value FROM meta WHERE key = 'embedding_dim')",
                (),
            )
            .await?;
        let previous = match rows.next().await? {
            Some(row) => {
                let model: Option<String> = row.get(0)?;
                let dim: Option<String> = row.get(1)?;
                model.zip(dim.and_then(|d| d.parse().ok()))
            }
            None => None,
        };
        drop(rows);
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('embedding_model', ?), ('embedding_dim', ?)",
            (model, dim.to_string()),
        )
        .await?;
        Ok(previous)
    })
    .await
}

pub(super) async fn count(conn: &Connection, sql: &str) -> Result<u64> {
    let mut rows = conn.query(sql, ()).await?;
    Ok(match rows.next().await? {
        Some(row) => row.get::<i64>(0)?.max(0) as u64,
        None => 0,
    })
}
