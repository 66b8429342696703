//! A mixed write workload over the real binaries, with a ledger of every write acknowledged to
//! the client and a check of the store file against it. The reliability tests (`concurrency`,
//! `crash`) own it; `benches/soak.rs` includes it with `#[path]`, so it stands alone apart from
//! its sibling `corpus.rs`.
//!
//! A [`Worker`] drives one front end ([`Endpoint`]: an `mnemograph` server over stdio, or
//! `memctl` run once per operation) with random operations: creates, updates of its own
//! memories with their expected version, contested updates of memories every worker shares
//! (read, then update with the version read: someone else may get there first), stale updates
//! that must be refused, relationship churn, deletes and searches. Writes are acknowledged
//! when the front end answers success; each goes into the worker's [`Ledger`], and [`verify`]
//! compares the ledgers with what the library reads from the file afterwards. A process that
//! dies mid-call leaves one write whose fate nobody knows: the ledger keeps it aside and
//! `verify` accepts it applied or not, but never half-applied.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mnemograph::Error;
use mnemograph::model::Filter;
use mnemograph::store::MemoryStore;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

#[allow(dead_code)] // the workload uses the generator and the words, not the memories
#[path = "corpus.rs"]
mod corpus;

pub use corpus::Rng;
use corpus::{Corpus, REL_TYPES};

/// How long a server may take to exit after its connection closes (it drains calls in flight).
const EXIT_WAIT: Duration = Duration::from_secs(30);

/// The kinds of operation, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Create,
    Update,
    /// Read a shared memory's version (the first half of a contested update).
    Read,
    /// Update a shared memory with the version just read.
    Contend,
    /// Update a shared memory with a version known to be old: must be refused.
    Stale,
    Link,
    Unlink,
    Delete,
    Search,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Update => "update",
            Kind::Read => "read",
            Kind::Contend => "contended update",
            Kind::Stale => "stale update",
            Kind::Link => "link",
            Kind::Unlink => "unlink",
            Kind::Delete => "delete",
            Kind::Search => "search",
        }
    }
}

/// One request, as either front end takes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Create {
        title: String,
        content: String,
    },
    Get {
        id: String,
    },
    Update {
        id: String,
        content: String,
        expected: i64,
    },
    Link {
        source: String,
        target: String,
        rel_type: String,
    },
    Unlink {
        id: String,
    },
    Delete {
        id: String,
    },
    Search {
        query: String,
    },
}

impl Op {
    fn writes(&self) -> bool {
        !matches!(self, Op::Get { .. } | Op::Search { .. })
    }

    fn tool(&self) -> (&'static str, Value) {
        match self {
            Op::Create { title, content } => (
                "store_memory",
                json!({"kind": "note", "title": title, "content": content, "tags": ["soak"]}),
            ),
            Op::Get { id } => ("get_memory", json!({"ids": [id]})),
            Op::Update {
                id,
                content,
                expected,
            } => (
                "update_memory",
                json!({"id": id, "content": content, "expected_version": expected}),
            ),
            Op::Link {
                source,
                target,
                rel_type,
            } => (
                "create_relationship",
                json!({"source_id": source, "target_id": target, "rel_type": rel_type}),
            ),
            Op::Unlink { id } => ("delete_relationship", json!({"id": id})),
            Op::Delete { id } => ("delete_memory", json!({"id": id})),
            Op::Search { query } => ("search_memories", json!({"query": query})),
        }
    }

    fn argv(&self) -> Vec<String> {
        let args: Vec<&str> = match self {
            Op::Create { title, content } => {
                vec![
                    "add", "-k", "note", "-t", title, "-c", content, "--tag", "soak",
                ]
            }
            Op::Get { id } => vec!["show", id],
            Op::Update { id, content, .. } => vec!["edit", id, "-c", content],
            Op::Link {
                source,
                target,
                rel_type,
            } => vec!["link", source, rel_type, target],
            Op::Unlink { id } => vec!["unlink", id],
            Op::Delete { id } => vec!["--yes", "rm", id],
            Op::Search { query } => vec!["search", query],
        };
        let mut argv: Vec<String> = std::iter::once("--json")
            .chain(args)
            .map(str::to_owned)
            .collect();
        if let Op::Update { expected, .. } = self {
            argv.extend(["--expected-version".to_owned(), expected.to_string()]);
        }
        argv
    }
}

/// What a front end answered.
#[derive(Debug)]
pub enum Outcome {
    /// Success, with the structured result (the same shape from both front ends).
    Done(Value),
    /// Refused because the version was not the expected one.
    Conflict(String),
    /// Any other error.
    Failed(String),
}

impl Outcome {
    fn error(message: String) -> Self {
        if message.contains("version conflict") {
            Outcome::Conflict(message)
        } else {
            Outcome::Failed(message)
        }
    }
}

/// The front end went away mid-call (killed or crashed): whether its write happened is unknown.
#[derive(Debug)]
pub struct Gone(pub String);

/// A spawned `mnemograph` server and its MCP client.
pub struct Server {
    pub client: RunningService<RoleClient, ()>,
    /// Behind a lock so that one task can kill the server while another is calling it.
    child: Mutex<tokio::process::Child>,
    stderr: tokio::task::JoinHandle<String>,
}

impl Server {
    /// Spawns `cmd` (an `mnemograph` command with its store and environment set) with piped
    /// stdio and completes the MCP handshake. stderr is collected for [`Server::stop`].
    pub async fn spawn(mut cmd: tokio::process::Command) -> Server {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn mnemograph");
        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take().expect("piped stdin");
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = tokio::spawn(async move {
            let mut bytes = Vec::new();
            let _ = err.read_to_end(&mut bytes).await;
            String::from_utf8_lossy(&bytes).into_owned()
        });
        let client = ().serve((stdout, stdin)).await.expect("initialize");
        Server {
            client,
            child: Mutex::new(child),
            stderr,
        }
    }

    /// Calls a tool that must succeed and returns its structured result.
    pub async fn tool(&self, name: &str, args: Value) -> Value {
        let Value::Object(args) = args else {
            unreachable!("tool arguments are objects")
        };
        let result = self
            .client
            .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(args))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_ne!(result.is_error, Some(true), "{name} failed: {result:?}");
        result.structured_content.unwrap_or_default()
    }

    /// memory_stats once the embedder has left the loading state (at most `wait`).
    pub async fn settled_stats(&self, wait: Duration) -> Value {
        let started = Instant::now();
        loop {
            let stats = self.tool("memory_stats", json!({})).await;
            if stats["embedder_state"] != "loading" || started.elapsed() > wait {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL, now: no drain, no clean close of the store.
    pub fn kill(&self) {
        let mut child = self.child.lock().expect("child lock");
        child.start_kill().expect("kill mnemograph");
    }

    /// Closes the connection (the server finishes calls in flight and exits, unless it was
    /// killed already), waits for the process, and returns what it wrote on stderr.
    pub async fn stop(self) -> String {
        let _ = self.client.cancel().await;
        let mut child = self.child.into_inner().expect("child lock");
        let exited = tokio::time::timeout(EXIT_WAIT, child.wait()).await;
        assert!(
            exited.is_ok(),
            "mnemograph did not exit after its stdin closed"
        );
        self.stderr.await.unwrap_or_default()
    }
}

/// `memctl`, run once per operation.
pub struct Memctl {
    /// A `memctl` command on the store, with its environment set.
    command: Box<dyn Fn() -> tokio::process::Command + Send + Sync>,
    /// Everything the runs wrote on stderr.
    stderr: Mutex<String>,
}

impl Memctl {
    pub fn new(command: impl Fn() -> tokio::process::Command + Send + Sync + 'static) -> Self {
        Memctl {
            command: Box::new(command),
            stderr: Mutex::new(String::new()),
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }
}

/// A front end to drive.
pub enum Endpoint {
    Server(Box<Server>),
    Memctl(Memctl),
}

impl Endpoint {
    pub async fn run(&self, op: &Op) -> Result<Outcome, Gone> {
        match self {
            Endpoint::Server(server) => {
                let (tool, Value::Object(args)) = op.tool() else {
                    unreachable!("tool arguments are objects")
                };
                let result = server
                    .client
                    .call_tool(CallToolRequestParams::new(tool).with_arguments(args))
                    .await
                    .map_err(|e| Gone(e.to_string()))?;
                Ok(match result.is_error {
                    Some(true) => Outcome::error(text(&result)),
                    _ => Outcome::Done(result.structured_content.clone().unwrap_or_default()),
                })
            }
            Endpoint::Memctl(memctl) => {
                let output = (memctl.command)()
                    .args(op.argv())
                    .stdin(Stdio::null())
                    .output()
                    .await
                    .map_err(|e| Gone(e.to_string()))?;
                let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
                memctl.stderr.lock().expect("stderr lock").push_str(&stderr);
                if output.status.success() {
                    Ok(Outcome::Done(
                        serde_json::from_slice(&output.stdout).unwrap_or(Value::Null),
                    ))
                } else if output.status.code().is_none() {
                    Err(Gone(format!("memctl died: {}", output.status)))
                } else {
                    Ok(Outcome::error(stderr.trim().to_owned()))
                }
            }
        }
    }
}

/// A memory as last acknowledged.
#[derive(Debug, Clone, PartialEq)]
pub struct Acked {
    pub version: i64,
    pub content: String,
}

/// A relationship's endpoints and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triple {
    pub source: String,
    pub target: String,
    pub rel_type: String,
}

/// Every write acknowledged to one worker.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// The memories the worker created: the last acknowledged state, `None` once deleted.
    pub memories: BTreeMap<String, Option<Acked>>,
    /// The relationships the worker created: `None` once deleted, by unlink or with an
    /// endpoint.
    pub relationships: BTreeMap<String, Option<Triple>>,
    /// Acknowledged updates of shared memories: (id, version produced, content).
    pub contested: Vec<(String, i64, String)>,
    /// The write in flight when the front end went away.
    pub uncertain: Option<Op>,
}

impl Ledger {
    /// Records an acknowledged delete and the relationships it took with it.
    fn deleted(&mut self, id: &str) {
        self.memories.insert(id.to_owned(), None);
        for rel in self.relationships.values_mut() {
            if rel
                .as_ref()
                .is_some_and(|t| t.source == id || t.target == id)
            {
                *rel = None;
            }
        }
    }

    pub fn live_memories(&self) -> Vec<String> {
        let live = self.memories.iter().filter(|(_, m)| m.is_some());
        live.map(|(id, _)| id.clone()).collect()
    }

    fn live_relationships(&self) -> Vec<(String, Triple)> {
        let live = self.relationships.iter();
        live.filter_map(|(id, t)| Some((id.clone(), t.clone()?)))
            .collect()
    }
}

/// Operations per kind: how many succeeded, conflicted or failed, and the time they took.
#[derive(Debug, Clone, Copy, Default)]
pub struct Count {
    pub done: u64,
    pub conflicts: u64,
    pub failed: u64,
    pub time: Duration,
}

impl Count {
    pub fn total(&self) -> u64 {
        self.done + self.conflicts + self.failed
    }
}

/// What the workers saw.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub counts: BTreeMap<Kind, Count>,
    /// Errors other than version conflicts, as "kind: message".
    pub failures: Vec<String>,
    /// Answers that break a guarantee, e.g. a stale update accepted.
    pub violations: Vec<String>,
}

impl Tally {
    pub fn merge(&mut self, other: &Tally) {
        for (kind, c) in &other.counts {
            let mine = self.counts.entry(*kind).or_default();
            mine.done += c.done;
            mine.conflicts += c.conflicts;
            mine.failed += c.failed;
            mine.time += c.time;
        }
        self.failures.extend(other.failures.iter().cloned());
        self.violations.extend(other.violations.iter().cloned());
    }
}

/// Drives one front end with random operations; see the module documentation.
pub struct Worker {
    /// Goes into every text the worker writes, so texts are unique across workers and rounds.
    name: String,
    rng: Rng,
    corpus: Arc<Corpus>,
    /// The shared memories every worker updates.
    contested: Vec<String>,
    /// The highest version of each shared memory this worker has seen.
    seen: BTreeMap<String, i64>,
    made: u64,
    live: Vec<String>,
    live_rels: Vec<(String, Triple)>,
    pub ledger: Ledger,
    pub tally: Tally,
}

impl Worker {
    /// A worker named `name` (letters and digits) continuing `ledger`.
    pub fn new(name: &str, seed: u64, contested: &[String], ledger: Ledger) -> Self {
        Worker {
            name: name.to_owned(),
            rng: Rng(seed),
            corpus: shared_corpus(),
            contested: contested.to_vec(),
            seen: BTreeMap::new(),
            made: 0,
            live: ledger.live_memories(),
            live_rels: ledger.live_relationships(),
            ledger,
            tally: Tally::default(),
        }
    }

    /// Text no other write of any worker has: corpus words and a unique marker.
    fn text(&mut self, words: usize) -> String {
        self.made += 1;
        let words = self.corpus.sentence(&mut self.rng, words);
        format!("{words} {}x{}", self.name, self.made)
    }

    /// Runs one operation and counts it. When the front end goes away during a write, the
    /// write goes into `ledger.uncertain`.
    async fn run(&mut self, endpoint: &Endpoint, kind: Kind, op: Op) -> Result<Outcome, Gone> {
        let started = Instant::now();
        let result = endpoint.run(&op).await;
        let count = self.tally.counts.entry(kind).or_default();
        count.time += started.elapsed();
        match &result {
            Err(_) if op.writes() => self.ledger.uncertain = Some(op),
            Err(_) => {}
            Ok(Outcome::Done(_)) => count.done += 1,
            Ok(Outcome::Conflict(_)) => count.conflicts += 1,
            Ok(Outcome::Failed(message)) => {
                count.failed += 1;
                let message = message.lines().next().unwrap_or_default();
                self.tally
                    .failures
                    .push(format!("{}: {message}", kind.name()));
            }
        }
        result
    }

    /// One random operation; `Err` when the front end went away.
    pub async fn step(&mut self, endpoint: &Endpoint) -> Result<(), Gone> {
        let roll = self.rng.below(100);
        let has_rels = !self.live_rels.is_empty();
        match roll {
            _ if self.live.len() < 2 => self.create(endpoint).await,
            0..30 => self.create(endpoint).await,
            30..45 => self.update(endpoint).await,
            45..60 => self.contend(endpoint).await,
            60..65 => self.stale(endpoint).await,
            65..80 => self.link(endpoint).await,
            80..88 if has_rels => self.unlink(endpoint).await,
            88..95 => self.delete(endpoint).await,
            _ => self.search(endpoint).await,
        }
    }

    async fn create(&mut self, endpoint: &Endpoint) -> Result<(), Gone> {
        let (title, content) = (self.text(4), self.text(20));
        let op = Op::Create {
            title,
            content: content.clone(),
        };
        if let Outcome::Done(v) = self.run(endpoint, Kind::Create, op).await? {
            let id = v["id"].as_str().unwrap_or_default().to_owned();
            let version = v["version"].as_i64().unwrap_or_default();
            if version != 1 {
                let problem = format!("create of {id} answered version {version}, not 1");
                self.tally.violations.push(problem);
            }
            self.ledger
                .memories
                .insert(id.clone(), Some(Acked { version, content }));
            self.live.push(id);
        }
        Ok(())
    }

    async fn update(&mut self, endpoint: &Endpoint) -> Result<(), Gone> {
        let id = pick(&mut self.rng, &self.live);
        let expected = self.ledger.memories[&id].as_ref().map_or(0, |a| a.version);
        let content = self.text(20);
        let op = Op::Update {
            id: id.clone(),
            content: content.clone(),
            expected,
        };
        match self.run(endpoint, Kind::Update, op).await? {
            Outcome::Done(v) => {
                let version = v["version"].as_i64().unwrap_or_default();
                if version != expected + 1 {
                    let problem = format!("update of {id} from v{expected} answered v{version}");
                    self.tally.violations.push(problem);
                }
                self.ledger
                    .memories
                    .insert(id, Some(Acked { version, content }));
            }
            Outcome::Conflict(message) => {
                // Nobody else writes this worker's memories: its version must be current.
                let problem = format!("update of {id} at its current version refused: {message}");
                self.tally.violations.push(problem);
            }
            Outcome::Failed(_) => {}
        }
        Ok(())
    }

    /// Reads a shared memory's version, then updates it with that version.
    async fn contend(&mut self, endpoint: &Endpoint) -> Result<(), Gone> {
        let id = pick(&mut self.rng, &self.contested);
        let read = self
            .run(endpoint, Kind::Read, Op::Get { id: id.clone() })
            .await?;
        let Outcome::Done(v) = read else {
            return Ok(());
        };
        let expected = v["memories"][0]["version"].as_i64().unwrap_or_default();
        self.saw(&id, expected);
        let content = self.text(20);
        let op = Op::Update {
            id: id.clone(),
            content: content.clone(),
            expected,
        };
        if let Outcome::Done(v) = self.run(endpoint, Kind::Contend, op).await? {
            let version = v["version"].as_i64().unwrap_or_default();
            if version != expected + 1 {
                let problem = format!("update of {id} from v{expected} answered v{version}");
                self.tally.violations.push(problem);
            }
            self.saw(&id, version);
            self.ledger.contested.push((id, version, content));
        }
        Ok(())
    }

    fn saw(&mut self, id: &str, version: i64) {
        let seen = self.seen.entry(id.to_owned()).or_default();
        *seen = (*seen).max(version);
    }

    /// Updates a shared memory with version 1 after having seen a later one: must conflict.
    async fn stale(&mut self, endpoint: &Endpoint) -> Result<(), Gone> {
        let moved: Vec<String> = (self.seen.iter().filter(|(_, v)| **v > 1))
            .map(|(id, _)| id.clone())
            .collect();
        if moved.is_empty() {
            return self.contend(endpoint).await;
        }
        let id = pick(&mut self.rng, &moved);
        let content = self.text(20);
        let op = Op::Update {
            id: id.clone(),
            content: content.clone(),
            expected: 1,
        };
        if let Outcome::Done(v) = self.run(endpoint, Kind::Stale, op).await? {
            let version = v["version"].as_i64().unwrap_or_default();
            let problem = format!(
                "update of {id} expecting v1 was accepted (v{version}) after v{} was seen",
                self.seen[&id]
            );
            self.tally.violations.push(problem);
            self.ledger.contested.push((id, version, content));
        }
        Ok(())
    }

    /// Links two of the worker's memories, or one of them and a shared memory, either way.
    async fn link(&mut self, endpoint: &Endpoint) -> Result<(), Gone> {
        let a = pick(&mut self.rng, &self.live);
        let b = if self.rng.below(2) == 0 {
            pick(&mut self.rng, &self.contested)
        } else {
            pick(&mut self.rng, &self.live)
        };
        let (source, target) = if self.rng.below(2) == 0 {
            (a, b)
        } else {
            (b, a)
        };
        let triple = Triple {
            source,
            target,
            rel_type: REL_TYPES[self.rng.below(REL_TYPES.len())].to_owned(),
        };
        if triple.source == triple.target || self.live_rels.iter().any(|(_, t)| *t == triple) {
            return self.search(endpoint).await;
        }
        let op = Op::Link {
            source: triple.source.clone(),
            target: triple.target.clone(),
            rel_type: triple.rel_type.clone(),
        };
        if let Outcome::Done(v) = self.run(endpoint, Kind::Link, op).await? {
            let id = v["relationship"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            self.ledger
                .relationships
                .insert(id.clone(), Some(triple.clone()));
            self.live_rels.push((id, triple));
        }
        Ok(())
    }

    async fn unlink(&mut self, endpoint: &Endpoint) -> Result<(), Gone> {
        let at = self.rng.below(self.live_rels.len());
        let id = self.live_rels[at].0.clone();
        let op = Op::Unlink { id: id.clone() };
        if let Outcome::Done(_) = self.run(endpoint, Kind::Unlink, op).await? {
            self.ledger.relationships.insert(id, None);
            self.live_rels.swap_remove(at);
        }
        Ok(())
    }

    async fn delete(&mut self, endpoint: &Endpoint) -> Result<(), Gone> {
        let at = self.rng.below(self.live.len());
        let id = self.live[at].clone();
        let op = Op::Delete { id: id.clone() };
        if let Outcome::Done(_) = self.run(endpoint, Kind::Delete, op).await? {
            self.ledger.deleted(&id);
            self.live.swap_remove(at);
            self.live_rels
                .retain(|(_, t)| t.source != id && t.target != id);
        }
        Ok(())
    }

    async fn search(&mut self, endpoint: &Endpoint) -> Result<(), Gone> {
        let query = self.corpus.sentence(&mut self.rng, 2);
        self.run(endpoint, Kind::Search, Op::Search { query })
            .await
            .map(drop)
    }
}

fn pick<T: Clone>(rng: &mut Rng, from: &[T]) -> T {
    from[rng.below(from.len())].clone()
}

/// One corpus for every worker of the process (it takes a moment to build).
fn shared_corpus() -> Arc<Corpus> {
    static CORPUS: std::sync::OnceLock<Arc<Corpus>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(|| Arc::new(Corpus::new())).clone()
}

/// Memories every worker updates: created through the library, so acknowledged at version 1.
pub async fn create_contested(store: &MemoryStore, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let new = mnemograph::store::NewMemory {
            kind: "note".into(),
            title: format!("shared counter {i}"),
            content: format!("every worker updates shared counter {i}"),
            ..Default::default()
        };
        ids.push(
            store
                .create(new)
                .await
                .expect("create a shared memory")
                .0
                .id,
        );
    }
    ids
}

/// How the store compares with the ledgers.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Acknowledged writes missing or changed, deleted ones back, writes nobody acknowledged.
    pub problems: Vec<String>,
    pub memories: usize,
    pub relationships: usize,
    /// Acknowledged updates of the shared memories.
    pub contested_updates: usize,
    /// Writes in flight when a front end went away that turned out applied.
    pub uncertain_applied: usize,
}

/// Compares the store with every ledger: each acknowledged memory present with its last
/// acknowledged content and version, each acknowledged delete gone, each shared memory at
/// version 1 + its acknowledged updates with the last one's content, and nothing else in the
/// store. A write in flight when its front end went away may be applied or not: it is looked
/// up, and the ledger takes the state found.
pub async fn verify(store: &MemoryStore, contested: &[String], ledgers: &mut [Ledger]) -> Verdict {
    let mut verdict = Verdict::default();
    for ledger in ledgers.iter_mut() {
        if let Some(op) = ledger.uncertain.take()
            && settle(store, contested, ledger, op).await
        {
            verdict.uncertain_applied += 1;
        }
    }
    let problems = &mut verdict.problems;
    for ledger in ledgers.iter() {
        for (id, acked) in &ledger.memories {
            match (acked, store.get(id).await) {
                (Some(a), Ok(m)) => {
                    verdict.memories += 1;
                    if (m.version, &m.content) != (a.version, &a.content) {
                        problems.push(format!(
                            "memory {id}: acknowledged v{} {:?}, found v{} {:?}",
                            a.version, a.content, m.version, m.content
                        ));
                    }
                }
                (None, Err(Error::MemoryNotFound { .. })) => {}
                (Some(a), Err(Error::MemoryNotFound { .. })) => {
                    problems.push(format!(
                        "memory {id} (acknowledged v{}) is missing",
                        a.version
                    ));
                }
                (None, Ok(m)) => problems.push(format!(
                    "memory {id} is back (v{}) after its delete was acknowledged",
                    m.version
                )),
                (_, Err(e)) => problems.push(format!("reading memory {id}: {e}")),
            }
        }
        for (id, acked) in &ledger.relationships {
            match (acked, store.get_relationship(id).await) {
                (Some(t), Ok(r)) => {
                    verdict.relationships += 1;
                    if (&r.source_id, &r.target_id, &r.rel_type)
                        != (&t.source, &t.target, &t.rel_type)
                    {
                        problems.push(format!(
                            "relationship {id}: acknowledged {t:?}, found {r:?}"
                        ));
                    }
                }
                (None, Err(Error::RelationshipNotFound { .. })) => {}
                (Some(t), Err(Error::RelationshipNotFound { .. })) => {
                    problems.push(format!("relationship {id} {t:?} is missing"));
                }
                (None, Ok(_)) => problems.push(format!(
                    "relationship {id} is back after its delete was acknowledged"
                )),
                (_, Err(e)) => problems.push(format!("reading relationship {id}: {e}")),
            }
        }
    }
    for id in contested {
        let mut acked: Vec<(i64, &String)> = ledgers
            .iter()
            .flat_map(|l| &l.contested)
            .filter(|(c, _, _)| c == id)
            .map(|(_, v, content)| (*v, content))
            .collect();
        acked.sort();
        verdict.contested_updates += acked.len();
        let versions: BTreeSet<i64> = acked.iter().map(|(v, _)| *v).collect();
        if versions.len() != acked.len() {
            problems.push(format!(
                "shared memory {id}: two acknowledged updates produced the same version"
            ));
        }
        match store.get(id).await {
            Ok(m) => {
                if m.version != 1 + acked.len() as i64 {
                    problems.push(format!(
                        "shared memory {id} is at v{} after {} acknowledged updates: {} lost",
                        m.version,
                        acked.len(),
                        1 + acked.len() as i64 - m.version
                    ));
                }
                if let Some((v, content)) = acked.last()
                    && (m.version, &m.content) != (*v, *content)
                {
                    problems.push(format!(
                        "shared memory {id}: last acknowledged v{v} {content:?}, found v{} {:?}",
                        m.version, m.content
                    ));
                }
            }
            Err(e) => problems.push(format!("reading shared memory {id}: {e}")),
        }
    }
    // Every acknowledged item was found above; equal totals mean nothing else is there.
    match store.stats().await {
        Ok(stats) => {
            let memories = verdict.memories + contested.len();
            if stats.memories != memories as u64 {
                problems.push(format!(
                    "{} memories in the store, {memories} acknowledged",
                    stats.memories
                ));
            }
            if stats.relationships != verdict.relationships as u64 {
                problems.push(format!(
                    "{} relationships in the store, {} acknowledged",
                    stats.relationships, verdict.relationships
                ));
            }
        }
        Err(e) => problems.push(format!("reading the store's counts: {e}")),
    }
    verdict
}

/// Looks up a write whose acknowledgement never came and records it in `ledger` if it was
/// applied, whole. Returns whether it was.
async fn settle(store: &MemoryStore, contested: &[String], ledger: &mut Ledger, op: Op) -> bool {
    match op {
        Op::Create { content, .. } => {
            let newest = store.list(&Filter::default(), None, 20).await;
            let found = newest
                .ok()
                .and_then(|page| page.memories.into_iter().find(|m| m.content == content));
            found.is_some_and(|m| {
                let acked = Acked {
                    version: m.version,
                    content,
                };
                ledger.memories.insert(m.id, Some(acked));
                true
            })
        }
        Op::Update {
            id,
            content,
            expected,
        } => match store.get(&id).await {
            Ok(m) if m.version == expected + 1 && m.content == content => {
                if contested.contains(&id) {
                    ledger.contested.push((id, m.version, content));
                } else {
                    let acked = Acked {
                        version: m.version,
                        content,
                    };
                    ledger.memories.insert(id, Some(acked));
                }
                true
            }
            _ => false,
        },
        Op::Delete { id } => {
            let gone = matches!(store.get(&id).await, Err(Error::MemoryNotFound { .. }));
            if gone {
                ledger.deleted(&id);
            }
            gone
        }
        Op::Link {
            source,
            target,
            rel_type,
        } => {
            let rels = store.relationships(&source).await.unwrap_or_default();
            let found = rels
                .into_iter()
                .find(|r| r.source_id == source && r.target_id == target && r.rel_type == rel_type);
            found.is_some_and(|r| {
                let triple = Triple {
                    source,
                    target,
                    rel_type,
                };
                ledger.relationships.insert(r.id, Some(triple));
                true
            })
        }
        Op::Unlink { id } => {
            let gone = matches!(
                store.get_relationship(&id).await,
                Err(Error::RelationshipNotFound { .. })
            );
            if gone {
                ledger.relationships.insert(id, None);
            }
            gone
        }
        Op::Get { .. } | Op::Search { .. } => false,
    }
}

/// The text content of a tool result.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The lines of `text` that mention a locked or busy database.
pub fn lock_errors(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| {
            let l = l.to_lowercase();
            l.contains("locked") || l.contains("busy")
        })
        .map(str::to_owned)
        .collect()
}
