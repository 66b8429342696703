//! The ids of matches tied on score, kept between keyword searches.
//!
//! Ranking in the index (`keyword.rs`) orders matches with equal scores by memory id, and ids
//! live in `memories`: each tied match costs a lookup of its table row, a page read from the
//! OS when the row is not in the connection's page cache. Ties are many where memories are
//! of like length (a query's common word scores the same in every memory holding it once),
//! and the rows are spread over the whole table: at 100k memories these lookups were a sixth
//! of a keyword search, most of it in `pread`. A row's id never changes, but a row number is
//! given again to a new memory once the newest one is deleted; so ids are kept only for as
//! long as the full-text index is as it was when they were read (its averages and structure
//! records, rows 1 and 10 of `memories_fts_data`: every write to the index rewrites both, and
//! the structure's write counter only grows, as `rank.rs` relies on too). Deleting or adding
//! an indexed memory changes them; recording access times does not.

use std::collections::HashMap;
use std::sync::Mutex;

use super::pool::Reader;
use crate::error::Result;

/// Most ids kept (about 70 bytes each); past this they are dropped and read again.
const MAX_KEPT: usize = 1 << 15;

/// The index records and the ids read while the index had them.
#[derive(Default)]
pub(super) struct TieIds(Mutex<Known>);

#[derive(Default)]
struct Known {
    /// The records the ids were read under; empty before the first read.
    records: Vec<Vec<u8>>,
    /// Memory ids by row number.
    ids: HashMap<i64, String>,
}

impl TieIds {
    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.0.lock().expect("tie ids lock")
    }
}

/// The ids of the memories at rows `seqs`, by row, from `kept` where the index is as it was
/// when they were read; rows without a memory are left out. The index records and the rows
/// read are read in one transaction, so they describe one state of the store.
pub(super) async fn ids_of(
    conn: &Reader,
    kept: Option<&TieIds>,
    seqs: &[i64],
) -> Result<HashMap<i64, String>> {
    let Some(kept) = kept else {
        return read_ids(conn, seqs).await;
    };
    conn.execute("BEGIN", ()).await?;
    let read = kept_ids(conn, kept, seqs).await;
    let end = if read.is_ok() { "COMMIT" } else { "ROLLBACK" };
    conn.execute(end, ()).await?;
    read
}

/// [`ids_of`] inside its transaction.
async fn kept_ids(conn: &Reader, kept: &TieIds, seqs: &[i64]) -> Result<HashMap<i64, String>> {
    let records = conn
        .rows(
            "SELECT block FROM memories_fts_data WHERE id IN (1, 10) ORDER BY id",
            (),
            |row| Ok(row.get::<Vec<u8>>(0)?),
        )
        .await?;
    let mut found = HashMap::with_capacity(seqs.len());
    let mut missing = Vec::new();
    {
        let mut known = kept.known();
        if known.records != records {
            known.ids.clear();
            known.records.clone_from(&records);
        }
        for &seq in seqs {
            match known.ids.get(&seq) {
                Some(id) => {
                    found.insert(seq, id.clone());
                }
                None => missing.push(seq),
            }
        }
    }
    if missing.is_empty() {
        return Ok(found);
    }
    let read = read_ids(conn, &missing).await?;
    let mut known = kept.known();
    // Another search may have seen the index change meanwhile: keep only what matches.
    if known.records == records {
        if known.ids.len() + read.len() > MAX_KEPT {
            known.ids.clear();
        }
        known
            .ids
            .extend(read.iter().map(|(seq, id)| (*seq, id.clone())));
    }
    found.extend(read);
    Ok(found)
}

/// The ids of the memories at rows `seqs`, read from `memories`.
async fn read_ids(conn: &Reader, seqs: &[i64]) -> Result<HashMap<i64, String>> {
    let rows = conn
        .rows(
            "SELECT seq, id FROM memories WHERE seq IN (SELECT value FROM json_each(?))",
            [json_array(seqs.iter().copied())],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .await?;
    Ok(rows.into_iter().collect())
}

/// Row numbers as a JSON array, one parameter for `json_each`: a list of any length is then
/// the same statement, prepared once per connection (an `IN` list has one per length).
pub(super) fn json_array(seqs: impl Iterator<Item = i64>) -> String {
    let listed: Vec<String> = seqs.map(|seq| seq.to_string()).collect();
    format!("[{}]", listed.join(","))
}

#[cfg(test)]
mod tests {
    use super::super::tail::tests::memory;
    use crate::backend::GraphBackend;
    use crate::backend::libsql::LibsqlBackend;
    use crate::model::Filter;
    use crate::text;

    /// The ids of the best `limit` matches of "beacon".
    async fn best(backend: &LibsqlBackend, limit: usize) -> Vec<String> {
        let terms = text::query_terms("beacon");
        let hits = backend
            .keyword_search(&terms, &Filter::default(), limit)
            .await
            .unwrap();
        hits.into_iter().map(|h| h.memory.id).collect()
    }

    #[tokio::test]
    async fn a_row_given_to_another_memory_is_not_taken_for_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LibsqlBackend::open_local(&dir.path().join("store.db"))
            .await
            .unwrap();
        // Memories of one text score alike: the smallest ids come first.
        for i in 5..13 {
            let m = memory(i, "beacon", "the same words", &[]);
            backend.create_memory(&m, None).await.unwrap();
        }
        assert_eq!(best(&backend, 3).await, ["m005", "m006", "m007"]);
        // The newest row's memory goes and a new one takes its row, with a smaller id.
        backend.delete_memory("m012").await.unwrap();
        let m = memory(1, "beacon", "the same words", &[]);
        backend.create_memory(&m, None).await.unwrap();
        assert_eq!(best(&backend, 3).await, ["m001", "m005", "m006"]);
        // Writes that leave the index alone keep the ids, still right.
        let now = chrono::Utc::now();
        backend.touch(&["m001".to_owned()], now).await.unwrap();
        assert_eq!(best(&backend, 3).await, ["m001", "m005", "m006"]);
        assert_eq!(best(&backend, 1).await, ["m001"]);
    }
}
