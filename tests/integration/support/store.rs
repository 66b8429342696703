//! The library used directly: a store on a libSQL file, memories to put in it, and embedders.

use std::path::Path;
use std::sync::Arc;

use mnemograph::backend::libsql::{LibsqlBackend, migrate_to};
use mnemograph::embed::EmbedderHandle;
use mnemograph::embed::model2vec::Model2VecEmbedder;
use mnemograph::store::{Limits, MemoryStore, NewMemory};

/// The store in the libSQL file `path` (created if absent), with the default limits and no
/// embedder.
pub async fn open(path: &Path) -> MemoryStore {
    open_with(path, EmbedderHandle::off())
        .await
        .expect("open the store")
}

/// [`open`] with `embedder`, which may be refused (a store keeps one embedding space).
pub async fn open_with(path: &Path, embedder: EmbedderHandle) -> mnemograph::Result<MemoryStore> {
    let backend = LibsqlBackend::open_local(path).await?;
    MemoryStore::open_with_embedder(Arc::new(backend), Limits::default(), embedder).await
}

/// A store file at `path` with the schema of `version` and nothing in it, made by the
/// migrations up to it: what an older build left, for a test to write into in raw SQL the way
/// that version did ([`sql`]) and open with current code.
pub async fn schema_at(path: &Path, version: u32) {
    let db = libsql::Builder::new_local(path).build().await.unwrap();
    let conn = db.connect().unwrap();
    migrate_to(&conn, &path.display().to_string(), version)
        .await
        .unwrap();
}

/// Runs `sql` on the file at `path` with a connection of its own.
pub async fn sql(path: &Path, sql: &str) {
    let db = libsql::Builder::new_local(path).build().await.unwrap();
    let conn = db.connect().unwrap();
    conn.execute_batch(sql).await.unwrap();
}

/// One integer the query `sql` answers on the file at `path`.
pub async fn integer(path: &Path, sql: &str) -> i64 {
    let db = libsql::Builder::new_local(path).build().await.unwrap();
    let conn = db.connect().unwrap();
    let mut rows = conn.query(sql, ()).await.unwrap();
    rows.next().await.unwrap().unwrap().get(0).unwrap()
}

/// Every integrity check of the store passes.
pub async fn assert_intact(store: &MemoryStore) {
    for check in store.backend().check_integrity().await.unwrap() {
        assert!(check.ok, "{check:?}");
    }
}

/// A note: the kind most tests do not care about.
pub fn note(title: &str, content: &str) -> NewMemory {
    NewMemory {
        kind: "note".into(),
        title: title.into(),
        content: content.into(),
        ..NewMemory::default()
    }
}

/// A store in `path` written by "the old model" ([`Truncated`]: every memory embedded on
/// write), with three memories; returns the id of the one about a locked SQLite database.
pub async fn written_by_the_old_model(path: &Path) -> String {
    let old = EmbedderHandle::ready(Arc::new(Truncated(model())));
    let store = open_with(path, old).await.expect("open the store");
    let (lock, _) = store
        .create(note(
            "SQLite database is locked",
            "two processes write at once; use a busy timeout",
        ))
        .await
        .expect("create");
    store
        .create_many(vec![
            note("Borrow checker", "E0502 in the parser"),
            note("Cats", "my cat sleeps in the sun"),
        ])
        .await
        .expect("create");
    lock.id
}

/// The built-in embedder.
pub fn model() -> Arc<Model2VecEmbedder> {
    Arc::new(Model2VecEmbedder::builtin().expect("the built-in model loads"))
}

/// An embedder cut to the first 64 dimensions of another and renormalised: a real embedding
/// space of its own (another model id and dimension), standing in for "the old model".
pub struct Truncated(pub std::sync::Arc<dyn mnemograph::embed::Embedder>);

#[async_trait::async_trait]
impl mnemograph::embed::Embedder for Truncated {
    fn model_id(&self) -> &str {
        "test/m2v-minilm-64d"
    }

    fn dimension(&self) -> usize {
        64
    }

    async fn embed(
        &self,
        texts: &[String],
    ) -> Result<Vec<Vec<f32>>, mnemograph::embed::EmbedError> {
        let vectors = self.0.embed(texts).await?;
        Ok(vectors
            .into_iter()
            .map(|v| {
                let mut v = v[..64].to_vec();
                let norm = v
                    .iter()
                    .map(|x| x * x)
                    .sum::<f32>()
                    .sqrt()
                    .max(f32::EPSILON);
                v.iter_mut().for_each(|x| *x /= norm);
                v
            })
            .collect())
    }
}
