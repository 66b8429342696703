//! A headless Chromium driven over the DevTools protocol, with what the viewer's tests need
//! and nothing more: navigate, evaluate, click with the real mouse, take screenshots, and
//! record every request the page makes and every error it throws.
//!
//! Written here over a WebSocket (tokio-tungstenite) rather than taken from a DevTools crate:
//! the tests use seven commands, and the crates that generate the whole protocol
//! (chromiumoxide, headless_chrome) take minutes to compile for them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// Where Debian's `chromium` package puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";

/// One browser with one page, stopped on drop.
pub struct Browser {
    _child: tokio::process::Child,
    _profile: tempfile::TempDir,
    out: mpsc::UnboundedSender<Message>,
    pending: Pending,
    next: AtomicU64,
    session: String,
    /// Every URL the page requested, in order.
    pub requests: Arc<Mutex<Vec<String>>>,
    /// Uncaught exceptions and `console.error` lines of the page.
    pub errors: Arc<Mutex<Vec<String>>>,
}

/// The Chromium binary, or `None` when it is not installed.
pub fn chromium() -> Option<PathBuf> {
    let path = PathBuf::from(CHROMIUM);
    path.is_file()
        .then_some(path)
        .or_else(|| crate::support::on_path("chromium"))
}

impl Browser {
    /// Starts a headless Chromium with a fresh profile and a page of `width`×`height`.
    pub async fn start(binary: &Path, width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new(binary)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--remote-debugging-port=0",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromium");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("chromium exited without a DevTools address");
        })
        .await
        .expect("chromium prints its DevTools address");
        // Keep draining its stderr so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("connect to chromium");
        let (mut sink, mut stream) = ws.split();
        let (out, mut outgoing) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(msg) = outgoing.recv().await {
                if sink.send(msg).await.is_err() {
                    break;
                }
            }
        });
        let pending: Pending = Arc::default();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let (p, r, e) = (pending.clone(), requests.clone(), errors.clone());
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let Ok(text) = msg.to_text() else { continue };
                let Ok(value) = serde_json::from_str::<Value>(text) else {
                    continue;
                };
                if let Some(id) = value["id"].as_u64() {
                    if let Some(tx) = p.lock().unwrap().remove(&id) {
                        let _ = tx.send(value);
                    }
                    continue;
                }
                let params = &value["params"];
                match value["method"].as_str() {
                    Some("Network.requestWillBeSent") => {
                        let url = params["request"]["url"].as_str().unwrap_or_default();
                        r.lock().unwrap().push(url.to_owned());
                    }
                    Some("Runtime.exceptionThrown") => {
                        e.lock()
                            .unwrap()
                            .push(params["exceptionDetails"].to_string());
                    }
                    Some("Runtime.consoleAPICalled") if params["type"] == "error" => {
                        e.lock().unwrap().push(params["args"].to_string());
                    }
                    _ => {}
                }
            }
        });
        let mut browser = Browser {
            _child: child,
            _profile: profile,
            out,
            pending,
            next: AtomicU64::new(1),
            session: String::new(),
            requests,
            errors,
        };
        let targets = browser.send("Target.getTargets", json!({})).await;
        let page = targets["targetInfos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .expect("a page target")["targetId"]
            .clone();
        let attached = browser
            .send(
                "Target.attachToTarget",
                json!({ "targetId": page, "flatten": true }),
            )
            .await;
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        for domain in ["Page.enable", "Runtime.enable", "Network.enable"] {
            browser.call(domain, json!({})).await;
        }
        browser
    }

    async fn send_to(&self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            msg["sessionId"] = json!(session);
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        self.out
            .send(Message::Text(msg.to_string().into()))
            .expect("chromium connection open");
        let answer = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .unwrap_or_else(|_| panic!("chromium did not answer {method}"))
            .expect("chromium answers");
        assert!(
            answer.get("error").is_none(),
            "{method} failed: {}",
            answer["error"]
        );
        answer["result"].clone()
    }

    /// A browser-level command.
    async fn send(&self, method: &str, params: Value) -> Value {
        self.send_to(None, method, params).await
    }

    /// A command to the page.
    pub async fn call(&self, method: &str, params: Value) -> Value {
        self.send_to(Some(&self.session.clone()), method, params)
            .await
    }

    /// Loads `url` and waits for the document to be complete.
    pub async fn goto(&self, url: &str) {
        self.call("Page.navigate", json!({ "url": url })).await;
        self.wait_for("document.readyState === 'complete'", "the page to load")
            .await;
    }

    /// The value of a JavaScript expression (promises awaited); a thrown error fails the test.
    pub async fn eval(&self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        if let Some(details) = result.get("exceptionDetails") {
            panic!("`{expression}` threw: {details}");
        }
        result["result"]["value"].clone()
    }

    /// Waits up to ten seconds for `expression` to be truthy and returns its value; `what`
    /// says what was awaited when it never is.
    pub async fn wait_for(&self, expression: &str, what: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let value = self.eval(expression).await;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            if Instant::now() >= deadline {
                let text = self.eval("document.body.innerText").await;
                let errors = self.errors.lock().unwrap().clone();
                panic!(
                    "timed out waiting for {what} (`{expression}`); page errors: {errors:?}; text: {text}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks the centre of the first element matching `selector` with the mouse, as a person
    /// would (pointer events, hit testing and all).
    pub async fn click(&self, selector: &str) {
        let selector_js = serde_json::to_string(selector).unwrap();
        let centre = self
            .wait_for(
                &format!(
                    "(() => {{ const e = document.querySelector({selector_js}); if (!e) return null; \
                     e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
                     const [x, y] = [r.left + r.width / 2, r.top + r.height / 2]; \
                     return r.width && e.contains(document.elementFromPoint(x, y)) ? [x, y] : null; }})()"
                ),
                &format!("{selector} to be visible"),
            )
            .await;
        let (x, y) = (centre[0].as_f64().unwrap(), centre[1].as_f64().unwrap());
        self.call(
            "Input.dispatchMouseEvent",
            json!({ "type": "mouseMoved", "x": x, "y": y }),
        )
        .await;
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            )
            .await;
        }
    }

    /// Replaces the value of the form field `selector` as typing would.
    pub async fn fill(&self, selector: &str, text: &str) {
        let (selector, text) = (
            serde_json::to_string(selector).unwrap(),
            serde_json::to_string(text).unwrap(),
        );
        self.eval(&format!(
            "(() => {{ const e = document.querySelector({selector}); e.focus(); e.value = {text}; \
             e.dispatchEvent(new Event('input', {{bubbles: true}})); }})()"
        ))
        .await;
    }

    /// Writes a PNG of the page's viewport to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let shot = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(path, png).unwrap();
    }
}
