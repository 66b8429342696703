//! Helpers the layers share: the real binaries isolated from the user's configuration, an MCP
//! client, `memctl` runners, the library opened directly, a real sqld, and the mixed workload
//! of the reliability tests (which the soak benchmark includes too).

pub mod client;
mod isolation;
pub mod jwt;
pub mod memctl;
pub mod schema;
pub mod sqld;
pub mod store;
pub mod workload;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use serde_json::Value;
use tempfile::TempDir;

pub use isolation::isolate;
use sqld::Sqld;
pub use sqld::free_port;

/// A `mnemograph` command isolated in `dir`: its data dir, and a config dir with no file, so
/// the user's own configuration never leaks in; keyword search only (see [`with_model`]).
pub fn command(dir: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mnemograph"));
    isolate(cmd.as_std_mut(), &dir.join("config"))
        .env("MNEMOGRAPH_DATA_DIR", dir.join("data"))
        .env("MNEMOGRAPH_LOG", "warn");
    cmd
}

/// Gives a server or `memctl` command the built-in embedder (for a tokio command, pass
/// `cmd.as_std_mut()`).
pub fn with_model(cmd: &mut std::process::Command) -> &mut std::process::Command {
    cmd.env("MNEMOGRAPH_EMBEDDER", "model2vec")
}

/// The directory the built-in model is compiled from (in the repository), for tests that
/// need a model directory of their own.
pub fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("model/m2v-minilm-int8")
}

/// A file of `tests/integration/fixtures`.
pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/integration/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// Says that the running test passes without having run, and why, on one line that starts
/// with `SKIPPED` and names the test (the harness names each test's thread after it). The line
/// goes to the process's stderr itself: the harness captures `println!` and `eprintln!` of
/// passing tests, and a skip must be seen.
pub fn skip(reason: &str) {
    use std::io::Write;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    // One write, so that the line is not interleaved with the harness's own output.
    let line = format!("SKIPPED {test}: {reason}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// The sqld binary `MNEMOGRAPH_TEST_SQLD` names, or `None` after saying the test is skipped:
/// sqld is in no package registry (README "Sync" says where to get it).
fn sqld_binary() -> Option<PathBuf> {
    let binary = std::env::var_os("MNEMOGRAPH_TEST_SQLD").map(PathBuf::from);
    if binary.is_none() {
        skip("set MNEMOGRAPH_TEST_SQLD to an sqld binary to run it");
    }
    binary
}

/// A sqld of the test's own, with its data in `dir`, for tests that stop and restart the
/// primary; `None` when there is no sqld to run (the skip is said).
pub fn sqld(dir: &Path) -> Option<Sqld> {
    Some(Sqld::start(&sqld_binary()?, dir))
}

/// A sqld of the test's own that takes only tokens signed by `signer`.
pub fn sqld_with_auth(dir: &Path, signer: &jwt::Signer) -> Option<Sqld> {
    let binary = sqld_binary()?;
    let key = dir.join("jwt-key.pub");
    signer.write_public_key(&key);
    Some(Sqld::start_with_jwt_key(&binary, dir, &key))
}

/// A sqld that the tests running at the same time share, each in namespaces of its own
/// ([`SharedSqld::new_namespace`]); `None` when there is no sqld to run (the skip is said). The
/// first test to ask starts it and the last one to let go of it stops it, so no sqld outlives
/// the tests (a static would never be dropped).
pub fn shared_sqld() -> Option<Arc<SharedSqld>> {
    static SHARED: Mutex<Weak<SharedSqld>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(running) = shared.upgrade() {
        return Some(running);
    }
    let binary = sqld_binary()?;
    let dir = tempfile::tempdir().expect("a directory for sqld");
    let started = Arc::new(SharedSqld {
        sqld: Sqld::start(&binary, dir.path()),
        _dir: dir,
    });
    *shared = Arc::downgrade(&started);
    Some(started)
}

/// See [`shared_sqld`].
pub struct SharedSqld {
    sqld: Sqld,
    /// Removed after `sqld` is stopped (fields drop in order).
    _dir: TempDir,
}

impl SharedSqld {
    /// A new, empty namespace (a database of its own) and how to reach it.
    pub fn new_namespace(&self) -> mnemograph::backend::libsql::Primary {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("test-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.sqld.create_namespace(&name);
        self.sqld.primary(&name)
    }
}

/// The memory ids of a list of walk neighbours or `memctl --json` search hits, in order: both
/// are `[{"memory": {"id": …}, …}, …]`.
pub fn memory_ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| item["memory"]["id"].as_str().unwrap())
        .collect()
}

/// A program on `PATH`, e.g. util-linux's `script` for tests that need a terminal.
pub fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// `cmd` run on a pseudo-terminal through util-linux's `script` (stdin, stdout and stderr are
/// the terminal), as a person at a terminal runs it: its exit status and everything it
/// printed, with the terminal's `\r\n` turned into `\n`; `None` (after saying SKIPPED) when
/// `script` is not installed.
pub fn on_a_terminal(cmd: &std::process::Command) -> Option<(bool, String)> {
    let Some(script) = on_path("script") else {
        skip("needs a terminal: `script` (util-linux) is not installed");
        return None;
    };
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"));
    let line = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ");
    let mut run = std::process::Command::new(script);
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => run.env(key, value),
            None => run.env_remove(key),
        };
    }
    let out = run
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script");
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"),
    ))
}
