//! The built-in embedder on the shared Model2Vec model, the store's write path with an
//! embedder (embed on write, re-embed on update, background catch-up), and the failure modes:
//! missing or corrupt model directories, wrong dimensions, a failing provider, a store of
//! another model. Keyword search keeps working and no memory is lost in every one of them.

mod openai;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use mnemograph::Error;
use mnemograph::embed::model2vec::Model2VecEmbedder;
use mnemograph::embed::{EmbedError, Embedder, EmbedderHandle, EmbedderSpec, embed_checked};
use mnemograph::model::{Filter, MemoryPatch};
use mnemograph::store::{MemoryStore, ReembedOptions, SearchMode};

use crate::support::model_dir;
use crate::support::store::{Truncated, model, note, open_with, written_by_the_old_model};

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The store in `dir`, with `embedder`.
async fn libsql_store(dir: &Path, embedder: EmbedderHandle) -> Result<MemoryStore, Error> {
    open_with(&dir.join("store.db"), embedder).await
}

#[tokio::test]
async fn model2vec_embeds_normalised_deterministic_256d_vectors() {
    let m = model();
    assert_eq!(m.dimension(), 256);
    assert!(
        m.model_id().starts_with("model2vec/m2v-minilm-int8@"),
        "{}",
        m.model_id()
    );
    let input = texts(&[
        "the database is locked by another writer",
        "sqlite busy timeout when two processes write",
        "my cat likes to sleep in the sun",
    ]);
    let batch = m.embed(&input).await.unwrap();
    assert_eq!(batch.len(), 3);
    for v in &batch {
        assert_eq!(v.len(), 256);
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
    // Deterministic, and the same alone as in a batch.
    assert_eq!(m.embed(&input).await.unwrap(), batch);
    assert_eq!(m.embed(&input[..1]).await.unwrap()[0], batch[0]);
    // Meaning: the two database texts are closer to each other than to the cat.
    assert!(cos(&batch[0], &batch[1]) > cos(&batch[0], &batch[2]));
    // A large batch takes the blocking-thread path and agrees.
    let many: Vec<String> = (0..40).map(|i| format!("text number {i}")).collect();
    let vectors = m.embed(&many).await.unwrap();
    assert_eq!(vectors[7], m.embed(&many[7..8]).await.unwrap()[0]);
    // Loading twice gives the same model id.
    assert_eq!(model().model_id(), m.model_id());
}

#[test]
fn missing_and_corrupt_model_directories_fail_clearly() {
    // No directory configured: the built-in model.
    let builtin = Model2VecEmbedder::load_configured(None).unwrap();
    assert!(builtin.model_id().starts_with("model2vec/m2v-minilm-int8@"));

    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("absent");
    let err = Model2VecEmbedder::load(&absent).unwrap_err().to_string();
    assert!(
        err.contains("no such directory")
            && err.contains("absent")
            && err.contains("unset it to use the built-in model"),
        "{err}"
    );

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = Model2VecEmbedder::load(&empty).unwrap_err().to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("missing"),
        "{err}"
    );

    let corrupt = dir.path().join("corrupt");
    std::fs::create_dir(&corrupt).unwrap();
    for file in ["config.json", "tokenizer.json"] {
        std::fs::copy(model_dir().join(file), corrupt.join(file)).unwrap();
    }
    std::fs::write(corrupt.join("model.safetensors"), b"not a safetensors file").unwrap();
    let err = Model2VecEmbedder::load(&corrupt).unwrap_err().to_string();
    assert!(err.contains("cannot load the Model2Vec model"), "{err}");

    std::fs::copy(
        model_dir().join("model.safetensors"),
        corrupt.join("model.safetensors"),
    )
    .unwrap();
    std::fs::write(corrupt.join("tokenizer.json"), b"{ broken").unwrap();
    assert!(Model2VecEmbedder::load(&corrupt).is_err());
}

/// An embedder that can be told to fail, or to return vectors of the wrong length.
struct Flaky {
    inner: Arc<Model2VecEmbedder>,
    failing: AtomicBool,
    short: AtomicBool,
}

#[async_trait]
impl Embedder for Flaky {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn dimension(&self) -> usize {
        self.inner.dimension()
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(EmbedError::Failed {
                model: "flaky".into(),
                reason: "told to fail".into(),
            });
        }
        let mut vectors = self.inner.embed(texts).await?;
        if self.short.load(Ordering::SeqCst) {
            vectors.iter_mut().for_each(|v| v.truncate(10));
        }
        Ok(vectors)
    }
}

#[tokio::test]
async fn memories_are_embedded_on_write_and_re_embedded_when_their_text_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = libsql_store(dir.path(), EmbedderHandle::ready(model()))
        .await
        .unwrap();
    let (lock, _) = store
        .create(note(
            "Database locked errors",
            "Two processes writing at once made sqlite fail with SQLITE_BUSY; a busy timeout fixed it.",
        ))
        .await
        .unwrap();
    store
        .create_many(vec![
            note("Cat pictures", "The team shares photos of pets on Fridays."),
            note(
                "Release checklist",
                "Tag, build, publish the crate, announce.",
            ),
        ])
        .await
        .unwrap();
    let report = store.embedding_report().await.unwrap();
    assert_eq!((report.embedded, report.pending), (3, 0));
    assert_eq!(report.embedder.state, "ready");
    assert_eq!(report.embedder.dimension, Some(256));

    // Meaning finds it without a shared word; the default mode is hybrid.
    let hits = store
        .semantic_search("concurrent writers conflict", &Filter::default(), 1)
        .await
        .unwrap();
    assert_eq!(hits[0].memory.id, lock.id);
    let page = store
        .search("sqlite writer conflict", None, &Filter::default(), 3, None)
        .await
        .unwrap();
    assert_eq!(page.mode, SearchMode::Hybrid);
    let top = &page.hits[0];
    assert_eq!(top.memory.id, lock.id);
    assert!(top.parts.keyword.is_some() && top.parts.semantic.is_some());
    assert_eq!(top.matched_terms, ["sqlite"]);

    // New text, new vector; the version counts the update only.
    let before = store
        .backend()
        .embeddings(std::slice::from_ref(&lock.id))
        .await
        .unwrap();
    let updated = store
        .update(
            &lock.id,
            MemoryPatch {
                content: Some("Rust borrow checker error E0502 in the parser".into()),
                ..Default::default()
            },
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    let after = store
        .backend()
        .embeddings(std::slice::from_ref(&lock.id))
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
    assert_ne!(before[0].1.vector, after[0].1.vector);
    assert_eq!(store.get(&lock.id).await.unwrap().version, 2);
}

#[tokio::test]
async fn a_failing_embedder_loses_no_memory_and_catches_up_later() {
    let dir = tempfile::tempdir().unwrap();
    let flaky = Arc::new(Flaky {
        inner: model(),
        failing: AtomicBool::new(true),
        short: AtomicBool::new(false),
    });
    let store = libsql_store(dir.path(), EmbedderHandle::ready(flaky.clone()))
        .await
        .unwrap();
    let (kept, _) = store
        .create(note("Flaky provider", "stored while embeddings fail"))
        .await
        .unwrap();
    store
        .create_many(vec![
            note("Second", "also stored"),
            note("Third", "as well"),
        ])
        .await
        .unwrap();
    let report = store.embedding_report().await.unwrap();
    assert_eq!((report.embedded, report.pending), (0, 3));
    // Keyword search works; semantic reports the provider's error.
    let hits = store
        .keyword_search("flaky", &Filter::default(), 5)
        .await
        .unwrap();
    assert_eq!(hits[0].memory.id, kept.id);
    let err = store
        .semantic_search("flaky", &Filter::default(), 5)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("told to fail"), "{err}");
    assert!(store.embed_pending(10).await.is_err());

    // Wrong dimensions are refused, not stored.
    flaky.failing.store(false, Ordering::SeqCst);
    flaky.short.store(true, Ordering::SeqCst);
    let err = store.embed_pending(10).await.unwrap_err();
    assert!(
        err.to_string().contains("10-dimensional") && err.to_string().contains("256"),
        "{err}"
    );
    assert_eq!(store.embedding_report().await.unwrap().embedded, 0);

    // The provider recovers: the pending memories are embedded, the memories unchanged.
    flaky.short.store(false, Ordering::SeqCst);
    assert_eq!(store.embed_pending(2).await.unwrap(), 2);
    assert_eq!(store.embed_pending(10).await.unwrap(), 1);
    assert_eq!(store.embed_pending(10).await.unwrap(), 0);
    assert_eq!(store.get(&kept.id).await.unwrap().version, 1);
    let hits = store
        .semantic_search("flaky provider", &Filter::default(), 1)
        .await
        .unwrap();
    assert_eq!(hits[0].memory.id, kept.id);
}

#[tokio::test]
async fn embed_checked_guards_against_wrong_answers() {
    let flaky = Flaky {
        inner: model(),
        failing: AtomicBool::new(false),
        short: AtomicBool::new(true),
    };
    let err = embed_checked(&flaky, &texts(&["x"])).await.unwrap_err();
    assert!(matches!(
        err,
        EmbedError::Dimension {
            expected: 256,
            got: 10,
            ..
        }
    ));
    assert!(embed_checked(&flaky, &[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_store_never_mixes_the_vectors_of_two_models() {
    let dir = tempfile::tempdir().unwrap();
    let store = libsql_store(dir.path(), EmbedderHandle::ready(model()))
        .await
        .unwrap();
    store.create(note("First", "embedded")).await.unwrap();
    drop(store);

    /// The shared model under another name.
    struct Renamed(Arc<Model2VecEmbedder>);
    #[async_trait]
    impl Embedder for Renamed {
        fn model_id(&self) -> &str {
            "model2vec/other"
        }
        fn dimension(&self) -> usize {
            self.0.dimension()
        }
        async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
            self.0.embed(texts).await
        }
    }
    let other = EmbedderHandle::ready(Arc::new(Renamed(model())));
    let Err(err) = libsql_store(dir.path(), other).await else {
        panic!("a store of another model opened");
    };
    assert!(matches!(err, Error::ModelMismatch { .. }), "{err}");
    assert!(err.to_string().contains("re-embed"), "{err}");

    // Started in the background, a mismatch is reported and keyword search goes on.
    let other_dir = tempfile::tempdir().unwrap();
    let renamed = EmbedderHandle::ready(Arc::new(Renamed(model())));
    let store = libsql_store(other_dir.path(), renamed).await.unwrap();
    store.create(note("First", "embedded")).await.unwrap();
    let store = libsql_store(other_dir.path(), EmbedderHandle::off())
        .await
        .unwrap();
    store
        .start_embedder(EmbedderSpec::Model2Vec {
            model_dir: Some(model_dir()),
        })
        .await
        .unwrap();
    let status = store.embedder().status();
    assert_eq!(status.state, "failed");
    assert!(status.detail.unwrap().contains("re-embed"));
    let page = store
        .search("first", None, &Filter::default(), 5, None)
        .await
        .unwrap();
    assert_eq!(page.mode, SearchMode::Keyword);
    assert_eq!(page.hits.len(), 1);
}

#[tokio::test]
async fn with_a_broken_model_directory_search_is_keyword_only_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let store = libsql_store(dir.path(), EmbedderHandle::off())
        .await
        .unwrap();
    assert_eq!(
        store.embedding_report().await.unwrap().embedder.state,
        "none"
    );
    store.create(note("First", "kept")).await.unwrap();
    store
        .start_embedder(EmbedderSpec::Model2Vec {
            model_dir: Some(dir.path().join("absent")),
        })
        .await
        .unwrap();
    let status = store.embedder().status();
    assert_eq!(status.state, "failed");
    assert!(status.detail.unwrap().contains("MNEMOGRAPH_MODEL_DIR"));
    let page = store
        .search("first", None, &Filter::default(), 5, None)
        .await
        .unwrap();
    assert_eq!(page.mode, SearchMode::Keyword);
    assert_eq!(page.hits.len(), 1);
    let err = store
        .search(
            "first",
            Some(SearchMode::Hybrid),
            &Filter::default(),
            5,
            None,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("MNEMOGRAPH_MODEL_DIR") && err.contains("keyword"),
        "{err}"
    );
}

#[tokio::test]
async fn the_background_embedder_loads_then_embeds_what_was_written_before() {
    let dir = tempfile::tempdir().unwrap();
    let store = libsql_store(dir.path(), EmbedderHandle::off())
        .await
        .unwrap();
    for i in 0..5 {
        store
            .create(note(&format!("Before {i}"), "written keyword-only"))
            .await
            .unwrap();
    }
    let worker = store.start_embedder(EmbedderSpec::Model2Vec {
        model_dir: Some(model_dir()),
    });
    let mut report = store.embedding_report().await.unwrap();
    for _ in 0..200 {
        if report.embedder.state == "ready" && report.pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        report = store.embedding_report().await.unwrap();
    }
    assert_eq!(report.embedder.state, "ready", "{report:?}");
    assert_eq!((report.embedded, report.pending), (5, 0));
    worker.abort();
}

#[tokio::test]
async fn reembed_switches_the_model_and_embeds_what_lacks_a_vector() {
    let dir = tempfile::tempdir().unwrap();
    let lock = written_by_the_old_model(&dir.path().join("store.db")).await;

    // Without a ready embedder, reembed refuses and says how to configure one.
    let store = libsql_store(dir.path(), EmbedderHandle::off())
        .await
        .unwrap();
    let err = store
        .reembed(ReembedOptions::default(), |_, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("MNEMOGRAPH_EMBEDDER") && err.contains("MNEMOGRAPH_MODEL_DIR"),
        "{err}"
    );

    // The switch: recorded at once, then every memory embedded, two at a time.
    let new = model();
    store.embedder().set_ready(new.clone());
    let mut calls = Vec::new();
    let options = ReembedOptions {
        force: false,
        batch: 2,
    };
    let report = store
        .reembed(options, |done, total| calls.push((done, total)))
        .await
        .unwrap();
    assert_eq!(
        report.previous_model.as_deref(),
        Some("test/m2v-minilm-64d")
    );
    assert_eq!(report.previous_dimension, Some(64));
    assert!(report.switched());
    assert_eq!(
        (report.model.as_str(), report.dimension),
        (new.model_id(), 256)
    );
    assert_eq!(
        (report.total, report.embedded, report.failed, report.skipped),
        (3, 3, 0, 0)
    );
    assert_eq!(calls, [(0, 3), (2, 3), (3, 3)]);
    let meta = store.meta().await.unwrap();
    assert_eq!(meta.embedding_model.as_deref(), Some(new.model_id()));
    assert_eq!(meta.embedding_dim, Some(256));
    let report_now = store.embedding_report().await.unwrap();
    assert_eq!((report_now.embedded, report_now.pending), (3, 0));
    let hits = store
        .semantic_search("concurrent writers conflict", &Filter::default(), 1)
        .await
        .unwrap();
    assert_eq!(hits[0].memory.id, lock);
    let stored = store
        .backend()
        .embeddings(std::slice::from_ref(&lock))
        .await
        .unwrap();
    assert_eq!(stored[0].1.model, new.model_id());
    assert_eq!(stored[0].1.vector.len(), 256);
    assert_eq!(store.get(&lock).await.unwrap().version, 1);

    // Again: nothing to do. With force: everything again.
    let again = store
        .reembed(ReembedOptions::default(), |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (again.total, again.embedded, again.skipped, again.switched()),
        (0, 0, 3, false)
    );
    let forced = store
        .reembed(
            ReembedOptions {
                force: true,
                batch: 2,
            },
            |_, _| {},
        )
        .await
        .unwrap();
    assert_eq!(
        (
            forced.total,
            forced.embedded,
            forced.skipped,
            forced.switched()
        ),
        (3, 3, 0, false)
    );
    drop(store);

    // The store now belongs to the new model: it opens with it and refuses the old one.
    assert!(
        libsql_store(dir.path(), EmbedderHandle::ready(model()))
            .await
            .is_ok()
    );
    let old = EmbedderHandle::ready(Arc::new(Truncated(model())));
    let Err(err) = libsql_store(dir.path(), old).await else {
        panic!("the old model still fits");
    };
    assert!(err.to_string().contains("memctl reembed"), "{err}");
}
