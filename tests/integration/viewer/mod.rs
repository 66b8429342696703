//! The web viewer (`src/http/viewer/`) in a real headless Chromium: its router served
//! in-process over a real store file, driven as a person would, with `memctl` writing to the
//! same store from another process.

mod cdp;
mod end_to_end;
mod readme;

use std::path::Path;
use std::sync::Arc;

use mnemograph::app::App;
use mnemograph::config::{Config, ConfigArgs, PlatformDirs};
use mnemograph::store::{NewMemory, NewRelationship};
use tempfile::TempDir;

/// The viewer's router served on a loopback port over a store in a directory of its own,
/// where `memctl` (see `support::memctl::command`) finds the same store. Stopped on drop.
pub struct Served {
    pub app: Arc<App>,
    /// `http://127.0.0.1:PORT/`
    pub base: String,
    pub dir: TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Served {
    pub async fn start() -> Served {
        let dir = tempfile::tempdir().unwrap();
        let app = Arc::new(App::open(&config_in(dir.path())).await.unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let router = mnemograph::http::viewer::router(Arc::clone(&app));
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Served {
            app,
            base,
            dir,
            server,
        }
    }
}

/// A configuration with its data and config directories in `dir`, as `memctl` run by
/// `support::memctl::command(dir)` resolves it.
fn config_in(dir: &Path) -> Config {
    let dirs = PlatformDirs {
        config_dir: Some(dir.join("config")),
        data_dir: Some(dir.join("data")),
    };
    let args = ConfigArgs {
        data_dir: Some(dir.join("data")),
        ..ConfigArgs::default()
    };
    Config::resolve(&args, &|_| None, &dirs).unwrap()
}

/// The memories of a small project's debugging session.
pub struct Seeded {
    pub error: String,
    pub fix: String,
    pub decision: String,
    /// fix SOLVES error
    pub solves: String,
}

pub async fn seed(app: &App) -> Seeded {
    let store = app.store();
    let memory = |kind: &str, title: &str, content: &str, tags: &[&str]| NewMemory {
        kind: kind.into(),
        title: title.into(),
        content: content.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        context: mnemograph::model::Context {
            project: Some("mnemograph".into()),
            ..Default::default()
        },
        ..NewMemory::default()
    };
    let mut ids = Vec::new();
    for (kind, title, content, tags) in [
        (
            "error",
            "Build fails with an unresolved import of the store module",
            "cargo build stops with E0432 (unresolved import `crate::store`) after the store \
          moved into its own directory.",
            &["rust", "build"][..],
        ),
        (
            "fix",
            "Declare the moved module in lib.rs",
            "Add `pub mod store;` to lib.rs and re-export what the binaries use.",
            &["rust"],
        ),
        (
            "decision",
            "One integration test binary",
            "Tests live in tests/integration/main.rs with one module per layer, so a full run \
          links once.",
            &["tests"],
        ),
        (
            "pattern",
            "Front ends translate, the store holds the rules",
            "MCP, CLI and HTTP turn requests into MemoryStore calls and nothing more.",
            &["architecture"],
        ),
        (
            "convention",
            "Errors say what to do next",
            "Every error names the field or id at fault and what to change.",
            &["errors"],
        ),
        (
            "technology",
            "libSQL",
            "The store is a libSQL file in WAL mode.",
            &["db"],
        ),
        (
            "problem",
            "SQLite database is locked under two writers",
            "Two processes writing at once hit SQLITE_BUSY.",
            &["db", "concurrency"],
        ),
        (
            "solution",
            "BEGIN IMMEDIATE with a busy timeout",
            "Writers take the lock up front and wait their turn.",
            &["db", "concurrency"],
        ),
    ] {
        let (m, _) = store
            .create(memory(kind, title, content, tags))
            .await
            .unwrap();
        ids.push(m.id);
    }
    let link = |s: usize, t: usize, rel_type: &str| NewRelationship {
        source_id: ids[s].clone(),
        target_id: ids[t].clone(),
        rel_type: rel_type.into(),
        ..NewRelationship::default()
    };
    let mut rels = Vec::new();
    for (s, t, rel_type) in [
        (1, 0, "SOLVES"),
        (2, 3, "EXAMPLE_OF"),
        (1, 3, "RELATED_TO"),
        (4, 3, "PART_OF"),
        (6, 5, "DEPENDS_ON"),
        (7, 6, "SOLVES"),
        (0, 5, "RELATED_TO"),
    ] {
        let (r, _) = store.link(link(s, t, rel_type)).await.unwrap();
        rels.push(r.id);
    }
    Seeded {
        error: ids[0].clone(),
        fix: ids[1].clone(),
        decision: ids[2].clone(),
        solves: rels[0].clone(),
    }
}
