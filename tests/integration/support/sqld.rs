//! A real `sqld` (the libSQL server) for sync tests, started on 127.0.0.1 with free ports and
//! a temporary directory, stopped when dropped.
//!
//! The binary is not in any package registry: tests run when `MNEMOGRAPH_TEST_SQLD` names it,
//! and print a skip line otherwise (see README "Sync" for building it).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped, restartable) sqld with namespaces enabled.
pub struct Sqld {
    binary: PathBuf,
    dir: PathBuf,
    http: u16,
    admin: u16,
    child: Option<Child>,
}

impl Sqld {
    /// Starts sqld in `dir`, or returns `None` (after printing why) when
    /// `MNEMOGRAPH_TEST_SQLD` is not set.
    pub fn start(test: &str, dir: &Path) -> Option<Sqld> {
        let Some(binary) = std::env::var_os("MNEMOGRAPH_TEST_SQLD") else {
            eprintln!(
                "skipping {test}: set MNEMOGRAPH_TEST_SQLD to an sqld binary to run the sync tests"
            );
            return None;
        };
        Some(Sqld::start_binary(Path::new(&binary), dir))
    }

    /// Starts `binary` in `dir` (for callers that name the binary themselves, like the sync
    /// benchmark's `--sqld`).
    pub fn start_binary(binary: &Path, dir: &Path) -> Sqld {
        let mut sqld = Sqld {
            binary: binary.to_owned(),
            dir: dir.to_owned(),
            http: free_port(),
            admin: free_port(),
            child: None,
        };
        sqld.restart();
        sqld
    }

    /// The URL devices use.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    /// Creates a namespace (a database of its own) through the admin API.
    pub fn create_namespace(&self, name: &str) {
        self.create_namespace_with(name, &serde_json::json!({}));
    }

    /// Creates a namespace with the admin API's options in `body` (e.g. `dump_url`, a
    /// database to start from).
    pub fn create_namespace_with(&self, name: &str, body: &serde_json::Value) {
        let url = format!(
            "http://127.0.0.1:{}/v1/namespaces/{name}/create",
            self.admin
        );
        ureq::post(&url)
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
    }

    /// Kills the server (SIGKILL: an outage, not a clean shutdown).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same ports and data, and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let log = std::fs::File::create(self.dir.join("sqld.log")).expect("sqld log");
        let child = Command::new(&self.binary)
            .arg("--db-path")
            .arg(self.dir.join("primary"))
            .args(["--http-listen-addr", &format!("127.0.0.1:{}", self.http)])
            .args(["--admin-listen-addr", &format!("127.0.0.1:{}", self.admin)])
            .arg("--enable-namespaces")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sqld");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        let health = format!("{}/health", self.url());
        while ureq::get(&health).call().is_err() {
            assert!(
                Instant::now() < deadline,
                "sqld did not come up: see {}",
                self.dir.join("sqld.log").display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // The default namespace exists after the first start; later starts find it there.
        let _ = ureq::post(&format!(
            "http://127.0.0.1:{}/v1/namespaces/default/create",
            self.admin
        ))
        .header("Content-Type", "application/json")
        .send("{}");
    }
}

impl Drop for Sqld {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
