//! The composition root: [`App`] opens, from a [`Config`], everything a front end works with —
//! the store in its mode (local file, replica or remote), its embedder, its link to the
//! primary and the sync worker — so the MCP server, every `memctl` command and any future
//! front end (hooks, HTTP, a viewer) are wired the same way, in one place.
//!
//! Sync lives here rather than in the store: the store holds the rules about memories, and
//! knows nothing of where the primary is; the root holds the [`Syncer`] and answers for it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::backend::libsql::LibsqlBackend;
use crate::config::Config;
use crate::embed::EmbedderSpec;
use crate::error::Result;
use crate::store::MemoryStore;
use crate::sync::replica::Refusal;
use crate::sync::worker::Syncer;
use crate::sync::{self, Mode, Schedule, SyncSettings, SyncStatus};

/// How long [`App::stop_background`] waits for the access recorder's last write: a primary
/// that does not answer must not hold up a shutdown.
const RECORDER_GRACE: Duration = Duration::from_secs(5);

/// The access recorder's task, and what asks it to stop.
type Recorder = (CancellationToken, JoinHandle<()>);

/// Where the open store is, for status pages and messages.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreLocation {
    pub mode: Mode,
    /// The file the store lives in: the local file, this process's replica file, or the
    /// primary's URL (without credentials) in remote mode.
    pub path: PathBuf,
    pub namespace: String,
    /// The primary's URL without credentials, in replica and remote mode.
    pub primary: Option<String>,
    /// Whether opening created the file (local and replica mode).
    pub created: bool,
}

impl StoreLocation {
    /// A local store that lives in memory only (a preview, a harness): nothing on disk.
    pub fn in_memory(namespace: impl Into<String>) -> Self {
        StoreLocation {
            mode: Mode::Local,
            path: PathBuf::from(":memory:"),
            namespace: namespace.into(),
            primary: None,
            created: true,
        }
    }
}

/// A marker of the store's state that changes whenever the store may have changed: see
/// [`App::changes`]. Two equal markers mean nothing changed in between.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// The store file's data version, which every commit by any process changes (local and
    /// replica stores).
    pub data_version: Option<i64>,
    /// Memories and relationships counted, where there is no data version (a remote store, a
    /// store opened by other means): creates and deletes show there, edits do not.
    pub counts: Option<(u64, u64)>,
    /// Writes queued for the primary, and queued writes it refused (replica mode).
    pub queued: u64,
    pub refused: u64,
}

/// An open store with everything around it. Cheap to clone: clones share the store, the
/// connection pool and the link to the primary.
#[derive(Clone)]
pub struct App {
    store: MemoryStore,
    location: Arc<StoreLocation>,
    /// The libSQL backend under the store, for file-level maintenance (backup, vacuum);
    /// `None` for a store opened by other means ([`App::over`]).
    libsql: Option<LibsqlBackend>,
    /// Syncs with (and reports on) the primary; `None` for a local store.
    syncer: Option<Arc<dyn Syncer>>,
    /// Time between two syncs of the worker [`App::start_background`] starts.
    sync_interval: Duration,
    /// The embedder [`App::start_background`] and [`App::load_embedder`] load.
    embedder: Arc<EmbedderSpec>,
    /// The tasks [`App::start_background`] started (the sync worker in replica and remote
    /// mode, the embedder and its worker, the keyword postings' load), shared by the app's
    /// clones and stopped by [`App::stop_background`].
    background: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
    /// The access recorder [`App::start_background`] started, and what stops it: unlike the
    /// other tasks it is not cut short, since its last run writes what recalls noted.
    recorder: Arc<std::sync::Mutex<Option<Recorder>>>,
}

impl App {
    /// Opens the configured store, creating a local file or migrating a new primary as
    /// needed. Nothing runs in the background yet: a long-lived front end calls
    /// [`App::start_background`], a one-shot command [`App::sync_now`] and
    /// [`App::load_embedder`] when it needs them.
    pub async fn open(config: &Config) -> Result<App> {
        Self::open_with(config, &config.sync, &config.db_path.value).await
    }

    /// Opens (creating) the local store file at `path` with the configured limits and
    /// embedder: for commands that address a namespace other than the configured one.
    pub async fn open_local(config: &Config, path: &Path) -> Result<App> {
        let local = SyncSettings {
            mode: Mode::Local,
            primary: None,
            ..config.sync.clone()
        };
        Self::open_with(config, &local, path).await
    }

    async fn open_with(config: &Config, settings: &SyncSettings, db_path: &Path) -> Result<App> {
        let existed = settings.mode == Mode::Local && db_path.exists();
        let connected = sync::connect(settings, db_path).await?;
        let path = connected.location().to_owned();
        let created = match settings.mode {
            Mode::Local => !existed,
            Mode::Replica => connected.created_replica,
            Mode::Remote => false,
        };
        let store = MemoryStore::open(connected.backend, config.limits.clone())
            .await?
            .with_redactor(config.redactor.clone());
        Ok(App {
            store,
            location: Arc::new(StoreLocation {
                mode: settings.mode,
                path,
                namespace: config.namespace.value.clone(),
                primary: settings.primary.as_ref().map(|p| p.display_url()),
                created,
            }),
            libsql: Some(connected.libsql),
            syncer: connected.syncer,
            sync_interval: settings.interval,
            embedder: Arc::new(config.embedder.value.clone()),
            background: Arc::default(),
            recorder: Arc::default(),
        })
    }

    /// An app over a store opened by other means (a program embedding the library with a
    /// backend of its own, the fuzz harness's in-memory store): local, with nothing to sync
    /// and no file to maintain. Its embedder is the store's own.
    pub fn over(store: MemoryStore, location: StoreLocation) -> App {
        App {
            store,
            location: Arc::new(location),
            libsql: None,
            syncer: None,
            sync_interval: sync::DEFAULT_INTERVAL,
            embedder: Arc::new(EmbedderSpec::None),
            background: Arc::default(),
            recorder: Arc::default(),
        }
    }

    /// An empty store in memory with the configured limits, for previewing a write (an
    /// import's dry run) into a store that does not exist yet.
    pub async fn preview(config: &Config) -> Result<App> {
        let backend = Arc::new(crate::backend::in_memory::InMemoryBackend::new());
        let store = MemoryStore::open(backend, config.limits.clone())
            .await?
            .with_redactor(config.redactor.clone());
        Ok(App::over(
            store,
            StoreLocation::in_memory(config.namespace.value.clone()),
        ))
    }

    /// Whether the configured store exists without opening it: a local file must be there;
    /// a replica or remote store lives on the primary, which opening asks.
    pub fn exists(config: &Config) -> bool {
        config.sync.mode != Mode::Local || config.db_path.value.exists()
    }

    /// Starts what a long-lived front end runs beside its requests: the sync worker (on a
    /// timer, with backoff), the embedder, loaded in the background so the front end
    /// answers at once and searches by keyword until the model is ready, the keyword
    /// postings' load, and the recorder that writes recalls in batches (`store/access.rs`).
    /// They run until [`App::stop_background`].
    pub fn start_background(&self) {
        let sync = self.spawn_sync_worker(Schedule::new(self.sync_interval));
        let embedder = self.store.start_embedder((*self.embedder).clone());
        let keywords = self.store.start_keyword_index();
        self.tasks()
            .extend(sync.into_iter().chain([embedder, keywords]));
        let stop = CancellationToken::new();
        let recorder = self.store.start_access_recorder(stop.clone());
        *self.recorder_slot() = Some((stop, recorder));
    }

    /// Stops the tasks [`App::start_background`] started and waits until they have: a front
    /// end calls it as it shuts down, so that none of them is still running (inside a
    /// unit of work, say) when the runtime ends and wakes up to a runtime shutting down,
    /// where setting a timer panics. The access recorder is asked to stop and given
    /// [`RECORDER_GRACE`] to write what recalls noted; the others are cut short.
    pub async fn stop_background(&self) {
        let recorder = self.recorder_slot().take();
        if let Some((stop, recorder)) = recorder {
            stop.cancel();
            let abort = recorder.abort_handle();
            if tokio::time::timeout(RECORDER_GRACE, recorder)
                .await
                .is_err()
            {
                tracing::warn!("the last recalls were not recorded in time");
                abort.abort();
            }
        }
        let tasks = std::mem::take(&mut *self.tasks());
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            // Cancelled, or finished before: either way it no longer runs.
            let _ = task.await;
        }
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.background
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn recorder_slot(&self) -> std::sync::MutexGuard<'_, Option<Recorder>> {
        self.recorder
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts the sync worker on `schedule` (replica and remote mode; `None` for a local
    /// store). [`App::start_background`] starts it on the configured interval.
    pub fn spawn_sync_worker(&self, schedule: Schedule) -> Option<JoinHandle<()>> {
        let syncer = self.syncer.as_ref()?;
        tracing::info!(mode = %self.location.mode, store = %self.location.path.display(),
            "syncing with the primary");
        Some(sync::worker::spawn(Arc::clone(syncer), schedule))
    }

    /// Loads the configured embedder now, for a one-shot command that searches by meaning. A
    /// missing or failing embedder, or one of another model than the store's vectors, is
    /// recorded in the store's embedder state (search stays keyword-only), not returned.
    pub async fn load_embedder(&self) {
        self.store.load_embedder(&self.embedder).await;
    }

    pub fn store(&self) -> &MemoryStore {
        &self.store
    }

    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// The libSQL backend under the store, for file-level maintenance; `None` for an app
    /// made with [`App::over`].
    pub fn libsql(&self) -> Option<&LibsqlBackend> {
        self.libsql.as_ref()
    }

    /// The file the store lives in (or the primary's URL in remote mode).
    pub fn path(&self) -> &Path {
        &self.location.path
    }

    /// The sync status: mode, last sync, lag, writes waiting for the primary.
    pub fn sync_status(&self) -> SyncStatus {
        self.syncer
            .as_ref()
            .map_or_else(SyncStatus::local, |s| s.state().snapshot())
    }

    /// Syncs now (replica: pull and replay queued writes; remote: check the primary) and
    /// returns the status after. A local store has nothing to sync: its status as is.
    pub async fn sync_now(&self) -> Result<SyncStatus> {
        if let Some(syncer) = &self.syncer {
            syncer.sync_once().await?;
        }
        Ok(self.sync_status())
    }

    /// A marker that changes whenever the store may have changed — a commit by this process or
    /// another, a sync that brought the primary's writes, a write queued or refused offline —
    /// for front ends that follow other writers by polling. On a local or replica file it
    /// reads no table, so polling it costs the same at any size.
    pub async fn changes(&self) -> Result<Changes> {
        let data_version = match &self.libsql {
            Some(libsql) => libsql.data_version().await?,
            None => None,
        };
        let counts = match data_version {
            Some(_) => None,
            None => {
                let stats = self.store.stats().await?;
                Some((stats.memories, stats.relationships))
            }
        };
        let sync = self.sync_status();
        Ok(Changes {
            data_version,
            counts,
            queued: sync.pending_writes,
            refused: sync.conflicts,
        })
    }

    /// Writes queued offline that the primary refused on replay, newest first.
    pub async fn sync_refusals(&self) -> Result<Vec<Refusal>> {
        match &self.syncer {
            Some(syncer) => syncer.refusals().await,
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{ConfigArgs, PlatformDirs};

    /// An app on a fresh local store in `dir`, configured as a user with no settings would be.
    fn config_in(dir: &Path) -> Config {
        let dirs = PlatformDirs {
            config_dir: Some(dir.join("config")),
            data_dir: Some(dir.join("data")),
        };
        Config::resolve(&ConfigArgs::default(), &|_| None, &dirs).unwrap()
    }

    pub(crate) async fn open_in(dir: &Path) -> App {
        App::open(&config_in(dir)).await.unwrap()
    }

    #[tokio::test]
    async fn a_local_store_is_created_once_and_reports_where_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let app = open_in(dir.path()).await;
        let location = app.location().clone();
        assert_eq!(location.mode, Mode::Local);
        assert_eq!(location.path, dir.path().join("data/default.db"));
        assert_eq!(location.namespace, "default");
        assert!(location.created, "the first open creates the file");
        assert!(App::exists(&config_in(dir.path())));
        drop(app);
        let again = open_in(dir.path()).await;
        assert!(!again.location().created, "a second open finds it");
        assert_eq!(again.sync_status().mode, Mode::Local);
        assert!(again.sync_refusals().await.unwrap().is_empty());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_change_marker_follows_writes_of_this_and_another_handle() {
        use crate::store::NewMemory;
        let dir = tempfile::tempdir().unwrap();
        let app = open_in(dir.path()).await;
        let other = open_in(dir.path()).await;
        let first = app.changes().await.unwrap();
        assert!(first.data_version.is_some() && first.counts.is_none());
        assert_eq!(app.changes().await.unwrap(), first, "no write, no change");
        let new = |title: &str| NewMemory {
            kind: "note".into(),
            title: title.into(),
            content: "text".into(),
            ..Default::default()
        };
        let (memory, _) = app.store().create(new("mine")).await.unwrap();
        let after_own = app.changes().await.unwrap();
        assert_ne!(after_own, first, "this handle's own write shows");
        other
            .store()
            .update(
                &memory.id,
                crate::model::MemoryPatch {
                    title: Some("theirs".into()),
                    ..Default::default()
                },
                None,
                None,
            )
            .await
            .unwrap();
        assert_ne!(
            app.changes().await.unwrap(),
            after_own,
            "another handle's edit shows"
        );
    }
}
