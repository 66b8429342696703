//! A running `mnemograph serve` and clients for it: MCP over streamable HTTP with rmcp's
//! client, and plain HTTP requests written byte for byte (so a test controls every header,
//! Host included).
//!
//! This file stands alone (nothing from `super`): `benches/http_bench.rs` includes it with
//! `#[path]`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};

/// How long a server may take to say where it listens, or to exit after a signal.
const PATIENCE: Duration = Duration::from_secs(60);

/// A `mnemograph serve` process; killed when dropped if still running.
pub struct Served {
    child: Child,
    /// What the server printed to stderr before it listened.
    pub banner: String,
    pub addr: SocketAddr,
    stderr: BufReader<ChildStderr>,
}

impl Served {
    /// Starts `cmd` (a `mnemograph` command with its settings; `serve --listen 127.0.0.1:0`
    /// and `serve_args` are added) and waits until it says where it listens.
    pub fn start(mut cmd: Command, serve_args: &[&str]) -> Served {
        let mut child = cmd
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(serve_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mnemograph serve");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut banner = String::new();
        let addr = loop {
            let mut line = String::new();
            let n = stderr
                .read_line(&mut line)
                .expect("read the server's stderr");
            assert!(n > 0, "the server exited before listening:\n{banner}");
            banner.push_str(&line);
            if let Some(url) = line.trim().strip_prefix("mnemograph: serving on http://") {
                break url.parse().expect("the address the server listens on");
            }
        };
        // The rest of the banner (endpoints, token) follows at once.
        for _ in 0..3 {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            banner.push_str(&line);
            if line.contains("viewer") {
                break;
            }
        }
        Served {
            child,
            banner,
            addr,
            stderr,
        }
    }

    /// The MCP endpoint.
    pub fn mcp_url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// Sends the process `signal` (e.g. `-TERM`).
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill {signal} failed");
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("poll the server").is_none()
    }

    /// Waits for the process to exit; returns how it exited and everything else it printed
    /// to stderr.
    pub fn wait(&mut self) -> (ExitStatus, String) {
        let started = Instant::now();
        while self.running() {
            assert!(started.elapsed() < PATIENCE, "the server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = self.child.wait().expect("wait for the server");
        let mut rest = String::new();
        let _ = self.stderr.read_to_string(&mut rest);
        (status, rest)
    }

    /// Sends `signal` and waits for the process to exit (see [`Served::wait`]).
    pub fn stop_with(&mut self, signal: &str) -> (ExitStatus, String) {
        self.signal(signal);
        self.wait()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub type Client = RunningService<RoleClient, ()>;

/// An MCP session over streamable HTTP with `url`, sending `token` as a bearer when given.
pub async fn connect(url: &str, token: Option<&str>) -> Client {
    try_connect(url, token).await.expect("initialize over HTTP")
}

/// [`connect`], returning the handshake's failure.
pub async fn try_connect(url: &str, token: Option<&str>) -> Result<Client, String> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
    config.auth_header = token.map(str::to_owned);
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .map_err(|e| e.to_string())
}

/// An HTTP answer: status, headers (names in lower case) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `head` (the request line and headers, one per line, without the blank line that
/// ends them) and `body` to `addr` on a connection of its own, exactly as written plus
/// `Connection: close` and the body's length, and reads the answer.
pub fn request(addr: SocketAddr, head: &str, body: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).expect("connect to the server");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut text = head.trim_end().replace('\n', "\r\n");
    text.push_str("\r\nConnection: close\r\n");
    if !body.is_empty() {
        text.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    text.push_str("\r\n");
    text.push_str(body);
    stream.write_all(text.as_bytes()).expect("send the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the answer");
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {raw}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}
