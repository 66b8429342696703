//! A real `sqld` (the libSQL server), started on 127.0.0.1 with free ports and its data in a
//! given directory, stopped when dropped. Which binary to run is the caller's: the tests take
//! it from `MNEMOGRAPH_TEST_SQLD` (see `support::sqld`), the sync benchmark from `--sqld`.
//!
//! This file stands alone (nothing from `super`): the sync benchmark includes it with
//! `#[path]`.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mnemograph::config::{Config, ConfigArgs, PlatformDirs};
use mnemograph::sync::Mode;

/// A running (or stopped, restartable) sqld with namespaces enabled.
pub struct Sqld {
    binary: PathBuf,
    dir: PathBuf,
    http: u16,
    admin: u16,
    /// The Ed25519 public key file clients' tokens are checked against, when auth is on.
    jwt_key: Option<PathBuf>,
    child: Option<Child>,
}

impl Sqld {
    /// Starts the sqld `binary` with its data in `dir`, and waits until it answers.
    pub fn start(binary: &Path, dir: &Path) -> Sqld {
        Self::start_with(binary, dir, None)
    }

    /// [`Sqld::start`] with token auth: clients need a JWT signed by the Ed25519 key whose
    /// public half is in `jwt_key` (in a format sqld reads: PEM, or URL-safe base64).
    pub fn start_with_jwt_key(binary: &Path, dir: &Path, jwt_key: &Path) -> Sqld {
        Self::start_with(binary, dir, Some(jwt_key.to_owned()))
    }

    fn start_with(binary: &Path, dir: &Path, jwt_key: Option<PathBuf>) -> Sqld {
        let mut sqld = Sqld {
            binary: binary.to_owned(),
            dir: dir.to_owned(),
            http: 0,
            admin: 0,
            jwt_key,
            child: None,
        };
        // A free port is released before sqld binds it, and a test running beside this one
        // may take it meanwhile: then sqld exits at once, and starts again on other ports.
        for attempt in 1.. {
            sqld.http = free_port();
            sqld.admin = free_port();
            if sqld.admin != sqld.http && sqld.launch() {
                break;
            }
            assert!(
                attempt < START_ATTEMPTS,
                "sqld did not start in {START_ATTEMPTS} attempts: see {}",
                sqld.dir.join("sqld.log").display()
            );
        }
        sqld.create_default_namespace();
        sqld
    }

    /// The configuration of a device of this primary in `root/<device>` (its own data and
    /// config directories, so its own replica files and outbox), as its environment would
    /// give it: keyword search only, and a sync interval long enough that only the test syncs.
    pub fn device_config(&self, root: &Path, device: &str, namespace: &str, mode: Mode) -> Config {
        let env: HashMap<&str, String> = HashMap::from([
            ("MNEMOGRAPH_PRIMARY_URL", self.url()),
            ("MNEMOGRAPH_MODE", mode.as_str().to_owned()),
            ("MNEMOGRAPH_NAMESPACE", namespace.to_owned()),
            ("MNEMOGRAPH_SYNC_INTERVAL", "3600".to_owned()),
            ("MNEMOGRAPH_EMBEDDER", "none".to_owned()),
        ]);
        let dirs = PlatformDirs {
            config_dir: Some(root.join(device).join("config")),
            data_dir: Some(root.join(device).join("data")),
        };
        Config::resolve(
            &ConfigArgs::default(),
            &|name| env.get(name).cloned(),
            &dirs,
        )
        .expect("a device's configuration")
    }

    /// The URL devices use.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    /// How a device reaches `namespace` on this server (no token: it runs without auth).
    pub fn primary(&self, namespace: &str) -> mnemograph::backend::libsql::Primary {
        mnemograph::backend::libsql::Primary {
            url: self.url(),
            auth_token: None,
            namespace: Some(namespace.to_owned()),
        }
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
        assert!(
            self.launch(),
            "sqld exited as it started again: see {}",
            self.dir.join("sqld.log").display()
        );
        self.create_default_namespace();
    }

    /// Starts the server on its ports and waits until it answers: `false` when it exited
    /// first (a port taken, say).
    fn launch(&mut self) -> bool {
        let log = std::fs::File::create(self.dir.join("sqld.log")).expect("sqld log");
        let mut command = Command::new(&self.binary);
        if let Some(key) = &self.jwt_key {
            command.arg("--auth-jwt-key-file").arg(key);
        }
        let child = command
            .arg("--db-path")
            .arg(self.dir.join("primary"))
            .args(["--http-listen-addr", &format!("127.0.0.1:{}", self.http)])
            .args(["--admin-listen-addr", &format!("127.0.0.1:{}", self.admin)])
            .arg("--enable-namespaces")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sqld");
        let health = format!("{}/health", self.url());
        let child = self.child.insert(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // Whether it exited comes first: another server on a taken port could answer.
            if child.try_wait().expect("sqld's status").is_some() {
                self.child = None;
                return false;
            }
            if ureq::get(&health).call().is_ok() {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "sqld did not come up: see {}",
                self.dir.join("sqld.log").display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Makes the default namespace: it exists after the first start, and later starts find
    /// it there.
    fn create_default_namespace(&self) {
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

/// Times [`Sqld::start`] tries free ports before it gives up.
const START_ATTEMPTS: usize = 5;

/// A loopback port nobody listens on right now (bound, then released for a server to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
