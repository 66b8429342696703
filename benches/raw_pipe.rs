//! Raw-pipe benchmark: the release `mnemograph` binary driven with plain JSON-RPC lines on its
//! stdin and stdout, no MCP client library, on synthetic stores of 1k, 10k and 100k memories.
//!
//! ```text
//! cargo bench --bench raw_pipe                   # 1k, 10k and 100k memories
//! cargo bench --bench raw_pipe -- 10000          # one size (or any list)
//! cargo bench --bench raw_pipe -- --vectors 100000  # with the built-in model's vectors
//! cargo bench --bench raw_pipe -- --only=get_memory,list_memories 100000  # some requests
//! MNEMOGRAPH_BENCH_DIR=/tmp/rp cargo bench --bench raw_pipe -- --reuse --calls=3000 100000
//! ```
//!
//! `mcp_bench` times calls through rmcp's client, which validates and decodes every answer;
//! this one writes a request line and times until its answer line is read, so what it shows is
//! the server's cost. A JSON-RPC `ping` (no tool, no store) is the floor every figure is read
//! against: the pipe, the line filter, rmcp's dispatch and the encoding of an answer. Each
//! tool's p50 and p95 are printed beside it, with the ratio to the ping and the issue's target
//! for 100k memories (server-side p50: `store_memory` ≤ 1.5 ms, `memory_stats` ≤ 3 ms, keyword
//! `search_memories` ≤ 2 ms and hybrid ≤ 3 ms, `recall` ≤ 4 ms, every other tool ≤ 2× a ping).
//! The store is built as `mcp_bench` builds it, keyword-only (the server runs with
//! `MNEMOGRAPH_EMBEDDER=none`); with `--vectors` the memories are made of English words (the
//! made-up words of the keyword-only store all embed alike, see [`english`]), every memory
//! also gets the built-in model's vector and the server runs with that model, so hybrid
//! search, `recall` (hybrid by default then) and `store_memory`'s vector duplicate probe are
//! measured. `MNEMOGRAPH_BENCH_DIR` keeps
//! the stores.
//!
//! Beside each request's p50 and p95: the CPU time the server's threads spent per call and
//! how many times per call one of them went to sleep (voluntary context switches: each is a
//! hand-off between threads, which on a loaded machine costs more than the work handed off),
//! both read from `/proc` between calls. Each server is measured once the work it starts in
//! the background at start is done (it waits until the server's threads are idle; see
//! [`Pipe::settle`]): at 100k memories the keyword postings take ~2 s to load, and searches
//! ranked by FTS5 meanwhile would otherwise be mixed into the first request's figures.
//!
//! For profiling one request and comparing before/after runs: `--only=NAME,…` measures only
//! the requests whose name or tool is listed (the ping always runs first: it is the figure
//! the others are read against), `--calls=N` times N calls per request instead of 300 (a
//! profiler then has seconds of one request to sample), and `--reuse` builds each store once
//! into `MNEMOGRAPH_BENCH_DIR` (`raw-pipe-N[-vectors-english]-built.db` and the ids beside it) and
//! serves a fresh copy of it in every later run, so writes of one run never reach the next.
//! `MNEMOGRAPH_BENCH_SERVER=PATH` serves with another build of `mnemograph` (a copy of the
//! binary before a change), and `MNEMOGRAPH_BENCH_COMPARE=PATH` adds a second server (rows
//! marked `[1]`) on a copy of the same store, called in turn with the first at every call:
//! before and after a change then meet the same moments of a noisy machine.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mnemograph::embed::EmbedderHandle;
use mnemograph::embed::model2vec::Model2VecEmbedder;
use serde_json::{Value, json};

#[path = "support/args.rs"]
mod args;
#[path = "support/build.rs"]
mod build;
#[path = "../tests/integration/support/corpus.rs"]
mod corpus;
#[path = "../tests/integration/support/isolation.rs"]
mod isolation;

use args::command_line;
use build::{bench_dir, build_with, ms, percentile, results, sizes, status_mib};
use corpus::{Corpus, Rng};

/// The embedder the store is built with.
type Embedder = Arc<dyn mnemograph::embed::Embedder>;

/// Timed calls per tool unless `--calls=N` says otherwise.
const CALLS: usize = 300;

/// What the command line's flags ask of a run.
struct Options {
    vectors: bool,
    /// Requests to measure besides the ping (by case name or tool); all when empty.
    only: Vec<String>,
    calls: usize,
    reuse: bool,
}

impl Options {
    fn parse(flags: &[String]) -> Options {
        let value = |name: &str| flags.iter().find_map(|f| f.strip_prefix(name));
        for flag in flags {
            let known = ["--vectors", "--reuse"].contains(&flag.as_str())
                || ["--only=", "--calls="].iter().any(|p| flag.starts_with(p));
            assert!(
                known,
                "unknown flag {flag}: --vectors, --reuse, --only=A,B, --calls=N"
            );
        }
        Options {
            vectors: flags.iter().any(|f| f == "--vectors"),
            only: value("--only=").map_or_else(Vec::new, |list| {
                list.split(',').map(str::to_owned).collect()
            }),
            calls: value("--calls=").map_or(CALLS, |n| n.parse().expect("--calls=N: a number")),
            reuse: flags.iter().any(|f| f == "--reuse"),
        }
    }

    /// Whether `case` is measured in this run.
    fn measures(&self, case: &Case) -> bool {
        case.tool == "ping"
            || self.only.is_empty()
            || self.only.iter().any(|o| o == case.name || o == case.tool)
    }
}

/// The server on a pipe: one request line out, one answer line back.
struct Pipe {
    child: Child,
    input: BufWriter<ChildStdin>,
    output: BufReader<ChildStdout>,
    next_id: u64,
    line: String,
    /// Relationships made (untimed) for update_relationship, then deleted one by one.
    made: Vec<String>,
}

impl Pipe {
    /// Starts the server on `db` with the built-in model when `vectors`, else keyword-only.
    fn spawn(exe: &Path, db: &Path, config_home: &Path, vectors: bool) -> Pipe {
        let mut cmd = Command::new(exe);
        isolation::isolate(&mut cmd, config_home)
            .env(
                "MNEMOGRAPH_EMBEDDER",
                if vectors { "model2vec" } else { "none" },
            )
            .arg("--db")
            .arg(db)
            .env("MNEMOGRAPH_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn mnemograph");
        let input = BufWriter::new(child.stdin.take().expect("stdin"));
        let output = BufReader::new(child.stdout.take().expect("stdout"));
        let mut pipe = Pipe {
            child,
            input,
            output,
            next_id: 0,
            line: String::new(),
            made: Vec::new(),
        };
        pipe.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "raw_pipe", "version": "1"}}),
        );
        pipe.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        if vectors {
            pipe.await_embedder();
        }
        pipe.settle();
        pipe
    }

    /// Waits until the server's start-up work in the background is done (the keyword
    /// postings, the vector index, the embedder's model: seconds at 100k memories), that is
    /// until its threads have used under 5 ms of CPU in 200 ms, so that the calls measured
    /// are those of a server in use, not of its first seconds.
    fn settle(&mut self) {
        let started = Instant::now();
        let mut before = usage(self.pid()).0;
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let now = usage(self.pid()).0;
            if now.saturating_sub(before) < 5_000_000 {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the server is still busy after two minutes"
            );
            before = now;
        }
    }

    /// Waits until the server's embedder has loaded: until then a hybrid search is refused.
    fn await_embedder(&mut self) {
        let started = Instant::now();
        loop {
            let (result, _) = self.request(
                "tools/call",
                json!({"name": "search_memories",
                       "arguments": {"query": "ready", "mode": "hybrid"}}),
            );
            if result["isError"] == json!(false) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the embedder did not load: {result}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn send(&mut self, message: &Value) {
        serde_json::to_writer(&mut self.input, message).expect("encode");
        self.input.write_all(b"\n").expect("write");
        self.input.flush().expect("flush");
    }

    /// Sends a request and returns its answer's `result` and the round trip.
    fn request(&mut self, method: &str, params: Value) -> (Value, Duration) {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let started = Instant::now();
        self.send(&message);
        loop {
            self.line.clear();
            let read = self.output.read_line(&mut self.line).expect("read");
            assert!(read > 0, "the server closed its stdout");
            // Only the answer to this request stops the clock; the parse comes after.
            if !self.line.contains(&format!("\"id\":{id}")) {
                continue;
            }
            let took = started.elapsed();
            let mut answer: Value = serde_json::from_str(&self.line).expect("JSON answer");
            if let Some(error) = answer.get("error") {
                panic!("{method}: {error}");
            }
            return (answer["result"].take(), took);
        }
    }

    /// Calls a tool that must succeed; returns its structured content and the round trip.
    fn call(&mut self, tool: &str, arguments: Value) -> (Value, Duration) {
        let (result, took) =
            self.request("tools/call", json!({"name": tool, "arguments": arguments}));
        assert_eq!(result["isError"], json!(false), "{tool} failed: {result}");
        (result["structuredContent"].clone(), took)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn close(mut self) {
        drop(self.input);
        self.child.wait().expect("server exit");
    }
}

/// What a tool's p50 is held to at 100k memories.
#[derive(Clone, Copy)]
enum Target {
    /// No more than this many milliseconds.
    Ms(f64),
    /// No more than this many pings.
    Pings(f64),
}

/// One request under test: its arguments for call `i` (made before the clock starts), the
/// result array counted to show the calls did real work, and its target.
struct Case<'a> {
    name: &'static str,
    tool: &'static str,
    target: Target,
    counted: Option<&'static str>,
    args: Args<'a>,
}

/// Makes the arguments of call `i`, free to make untimed calls of its own first.
type Args<'a> = Box<dyn FnMut(&mut Pipe, usize) -> Value + 'a>;

struct Figures {
    p50: f64,
    p95: f64,
    found: f64,
    /// Mean CPU time of the server's threads per call, µs.
    cpu_us: f64,
    /// Mean times per call that a thread of the server went to sleep (each a hand-off).
    sleeps: f64,
}

/// What the threads of process `pid` have used so far: CPU time in ns, and how many times
/// they went to sleep of their own accord (voluntary context switches), from `/proc`.
/// Read between calls, while the server waits for the next line, so it costs no timed call
/// anything; a thread that exits in between takes its figures along, hence the saturating
/// differences where it is read.
fn usage(pid: u32) -> (u64, u64) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return (0, 0);
    };
    let (mut cpu_ns, mut sleeps) = (0, 0);
    for task in tasks.flatten() {
        let read = |file: &str| std::fs::read_to_string(task.path().join(file)).unwrap_or_default();
        cpu_ns += read("schedstat")
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .unwrap_or(0);
        sleeps += read("status")
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    (cpu_ns, sleeps)
}

/// Times `calls` calls of `case` on each of `pipes`, one server after the other at each call,
/// so that every server meets the same moments of a noisy machine.
fn measure(pipes: &mut [Pipe], case: &mut Case, calls: usize) -> Vec<Figures> {
    let mut samples = vec![Vec::with_capacity(calls); pipes.len()];
    let mut found = vec![0; pipes.len()];
    let mut used = vec![(0, 0); pipes.len()];
    for i in 0..calls {
        for (k, pipe) in pipes.iter_mut().enumerate() {
            let args = (case.args)(pipe, i);
            let before = usage(pipe.pid());
            let (data, took) = match case.tool {
                "ping" => pipe.request("ping", json!({})),
                "tools/list" => pipe.request("tools/list", json!({})),
                tool => pipe.call(tool, args),
            };
            let after = usage(pipe.pid());
            used[k].0 += after.0.saturating_sub(before.0);
            used[k].1 += after.1.saturating_sub(before.1);
            samples[k].push(took);
            found[k] += results(&data, case.counted);
        }
    }
    samples
        .iter_mut()
        .zip(found)
        .zip(used)
        .map(|((samples, found), (cpu_ns, sleeps))| {
            samples.sort();
            Figures {
                p50: ms(percentile(samples, 0.5)),
                p95: ms(percentile(samples, 0.95)),
                found: found as f64 / calls as f64,
                cpu_us: cpu_ns as f64 / 1e3 / calls as f64,
                sleeps: sleeps as f64 / calls as f64,
            }
        })
        .collect()
}

/// The built store's memory ids, drawn at random.
struct Ids {
    built: Vec<String>,
    rng: Rng,
}

impl Ids {
    fn pick(&mut self) -> String {
        self.built[self.rng.below(self.built.len())].clone()
    }
}

fn cases<'a>(
    corpus: &'a Corpus,
    n: usize,
    ids: &'a RefCell<Ids>,
    vectors: bool,
    calls: usize,
) -> Vec<Case<'a>> {
    let pick = move || ids.borrow_mut().pick();
    let mut search_rng = Rng(2);
    let mut hybrid_rng = Rng(2);
    let mut recall_rng = Rng(3);
    let mut explore_rng = Rng(5);
    let new_memory = move |i: usize| {
        let m = corpus.memory(n + i).0;
        json!({"kind": m.kind, "title": m.title, "content": m.content, "tags": m.tags,
               "context": {"project": m.context.project}})
    };
    let hybrid = vectors.then(|| Case {
        name: "search_memories (hybrid)",
        tool: "search_memories",
        target: Target::Ms(3.0),
        counted: Some("/hits"),
        args: Box::new(
            move |_, _| json!({"query": corpus.query(&mut hybrid_rng, n, 2), "mode": "hybrid"}),
        ),
    });
    let mut cases = vec![
        Case {
            name: "ping",
            tool: "ping",
            target: Target::Pings(1.0),
            counted: None,
            args: Box::new(|_, _| Value::Null),
        },
        Case {
            name: "tools/list",
            tool: "tools/list",
            target: Target::Pings(2.0),
            counted: Some("/tools"),
            args: Box::new(|_, _| Value::Null),
        },
        Case {
            name: "get_memory",
            tool: "get_memory",
            target: Target::Pings(2.0),
            counted: Some("/memories"),
            args: Box::new(move |_, _| json!({"ids": [pick()]})),
        },
        Case {
            name: "list_memories",
            tool: "list_memories",
            target: Target::Pings(2.0),
            counted: Some("/memories"),
            args: Box::new(|_, _| json!({})),
        },
        Case {
            name: "get_related (depth 2)",
            tool: "get_related",
            target: Target::Pings(2.0),
            counted: Some("/neighbours"),
            args: Box::new(move |_, _| json!({"id": pick(), "depth": 2})),
        },
        Case {
            name: "find_path",
            tool: "find_path",
            target: Target::Pings(2.0),
            counted: Some("/memories"),
            args: Box::new(move |_, _| json!({"from_id": pick(), "to_id": pick()})),
        },
        Case {
            name: "explore (1 id)",
            tool: "explore",
            target: Target::Pings(2.0),
            counted: Some("/nodes"),
            args: Box::new(move |_, _| {
                let id = ids.borrow().built[explore_rng.below(n)].clone();
                json!({"ids": [id]})
            }),
        },
        Case {
            name: "search_memories (keyword)",
            tool: "search_memories",
            target: Target::Ms(2.0),
            counted: Some("/hits"),
            args: Box::new(
                move |_, _| json!({"query": corpus.query(&mut search_rng, n, 2), "mode": "keyword"}),
            ),
        },
        Case {
            name: "recall",
            tool: "recall",
            target: Target::Ms(4.0),
            counted: Some("/items"),
            args: Box::new(move |_, _| json!({"query": corpus.query(&mut recall_rng, n, 4)})),
        },
        Case {
            name: "memory_stats",
            tool: "memory_stats",
            target: Target::Ms(3.0),
            counted: None,
            args: Box::new(|_, _| json!({})),
        },
        Case {
            name: "sync (local store)",
            tool: "sync",
            target: Target::Pings(2.0),
            counted: None,
            args: Box::new(|_, _| json!({})),
        },
        // Writes last, so the reads above see exactly the built store.
        Case {
            name: "update_memory",
            tool: "update_memory",
            target: Target::Pings(2.0),
            counted: None,
            args: Box::new(move |_, i| json!({"id": pick(), "importance": (i % 10) as f64 / 10.0})),
        },
        Case {
            name: "memory_stats after a write",
            tool: "memory_stats",
            target: Target::Ms(3.0),
            counted: None,
            // The write is made before the clock starts: only the count after it is timed.
            args: Box::new(move |pipe, i| {
                pipe.call(
                    "update_memory",
                    json!({"id": pick(), "importance": (i % 7) as f64 / 7.0}),
                );
                json!({})
            }),
        },
        Case {
            name: "create_relationship",
            tool: "create_relationship",
            target: Target::Pings(2.0),
            counted: None,
            // Consecutive memories under a type the build never uses: no call collides with
            // a relationship already there.
            args: Box::new(move |_, i| {
                let built = &ids.borrow().built;
                json!({"source_id": built[i % n], "target_id": built[(i + 1) % n],
                       "rel_type": "TIMED_LINK"})
            }),
        },
        Case {
            name: "update_relationship",
            tool: "update_relationship",
            target: Target::Pings(2.0),
            counted: None,
            args: Box::new(move |pipe, i| {
                let (source, target) = {
                    let built = &ids.borrow().built;
                    (built[i % n].clone(), built[(i + 2) % n].clone())
                };
                let (rel, _) = pipe.call(
                    "create_relationship",
                    json!({"source_id": source, "target_id": target,
                           "rel_type": "UPDATED_LINK"}),
                );
                let id = rel["relationship"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                pipe.made.push(id.clone());
                json!({"id": id, "strength": 0.9})
            }),
        },
        Case {
            name: "delete_relationship",
            tool: "delete_relationship",
            target: Target::Pings(2.0),
            counted: None,
            args: Box::new(move |pipe, _| {
                let id = pipe
                    .made
                    .pop()
                    .expect("a relationship made by update_relationship (--only needs both)");
                json!({"id": id})
            }),
        },
        Case {
            name: "store_memory",
            tool: "store_memory",
            target: Target::Ms(1.5),
            counted: None,
            args: Box::new(move |_, i| new_memory(i)),
        },
        Case {
            name: "delete_memory",
            tool: "delete_memory",
            target: Target::Pings(2.0),
            counted: None,
            args: Box::new(move |pipe, i| {
                let (stored, _) = pipe.call("store_memory", {
                    let m = corpus.memory(n + calls + i).0;
                    json!({"kind": m.kind, "title": m.title, "content": m.content})
                });
                json!({"id": stored["id"]})
            }),
        },
    ];
    // Beside the keyword search it is compared with.
    let keyword = cases
        .iter()
        .position(|c| c.name == "search_memories (keyword)");
    if let (Some(hybrid), Some(keyword)) = (hybrid, keyword) {
        cases.insert(keyword + 1, hybrid);
    }
    cases
}

fn verdict(p50: f64, ping: f64, target: Target) -> String {
    let (limit, what) = match target {
        Target::Ms(ms) => (ms, format!("≤ {ms} ms")),
        Target::Pings(k) => (k * ping, format!("≤ {k}× ping")),
    };
    format!("{what}: {}", if p50 <= limit { "met" } else { "MISSED" })
}

/// The store of `n` memories at `db`, built for this run, or with `--reuse` a copy of the one
/// built by an earlier run; returns its memory ids in corpus order.
async fn store(
    db: &Path,
    n: usize,
    corpus: &Corpus,
    model: Option<&Embedder>,
    reuse: bool,
) -> Vec<String> {
    remove_store(db);
    let embedder = || model.map_or_else(EmbedderHandle::off, |m| EmbedderHandle::ready(m.clone()));
    if !reuse {
        return build_with(db, n, corpus, embedder()).await;
    }
    let vectors = if model.is_some() {
        "-vectors-english"
    } else {
        ""
    };
    let built = db.with_file_name(format!("raw-pipe-{n}{vectors}-built.db"));
    let ids_file = built.with_extension("ids");
    let ids = match std::fs::read_to_string(&ids_file) {
        Ok(ids) => {
            println!("  reusing the store built in {}", built.display());
            ids.lines().map(str::to_owned).collect()
        }
        Err(_) => {
            remove_store(&built);
            let ids = build_with(&built, n, corpus, embedder()).await;
            std::fs::write(&ids_file, ids.join("\n")).expect("write the ids");
            ids
        }
    };
    copy_store(&built, db);
    ids
}

async fn run(
    servers: &[PathBuf],
    dir: &Path,
    n: usize,
    corpus: &Corpus,
    model: Option<&Embedder>,
    options: &Options,
) {
    println!(
        "== {n} memories{} ({} cores, load average {})",
        if model.is_some() {
            ", with the built-in model's vectors"
        } else {
            ""
        },
        std::thread::available_parallelism().map_or(1, |p| p.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split(' ')
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let db = dir.join(format!("raw-pipe-{n}.db"));
    let built = store(&db, n, corpus, model, options.reuse).await;
    let ids = RefCell::new(Ids { built, rng: Rng(1) });
    // Each server writes to a store of its own, copied from the one built before any server
    // starts: a build that migrates its store at start must not hand the others its schema.
    let stores: Vec<PathBuf> = (0..servers.len())
        .map(|k| match k {
            0 => db.clone(),
            k => {
                let copy = dir.join(format!("raw-pipe-{n}-{k}.db"));
                copy_store(&db, &copy);
                copy
            }
        })
        .collect();
    let mut pipes: Vec<Pipe> = servers
        .iter()
        .zip(&stores)
        .map(|(exe, db)| Pipe::spawn(exe, db, &dir.join("config"), model.is_some()))
        .collect();
    let mut ping = vec![f64::NAN; pipes.len()];
    println!(
        "  {:<28} {:>9} {:>9} {:>7} {:>7} {:>7}  {:<12} target",
        "request", "p50 ms", "p95 ms", "× ping", "cpu µs", "sleeps", "results"
    );
    let all = cases(corpus, n, &ids, model.is_some(), options.calls);
    for mut case in all.into_iter().filter(|c| options.measures(c)) {
        let figures = measure(&mut pipes, &mut case, options.calls);
        for (k, figures) in figures.iter().enumerate() {
            if case.tool == "ping" {
                ping[k] = figures.p50;
            }
            let results = match case.counted {
                Some(_) => format!("avg {:.1}", figures.found),
                None => String::new(),
            };
            let name = match k {
                0 => case.name.to_owned(),
                k => format!("{} [{k}]", case.name),
            };
            println!(
                "  {name:<28} {:>9.3} {:>9.3} {:>7.1} {:>7.0} {:>7.1}  {results:<12} {}",
                figures.p50,
                figures.p95,
                figures.p50 / ping[k],
                figures.cpu_us,
                figures.sleeps,
                verdict(figures.p50, ping[k], case.target)
            );
        }
    }
    for (k, pipe) in pipes.into_iter().enumerate() {
        println!(
            "  server{} peak RSS {:.1} MiB",
            match k {
                0 => String::new(),
                k => format!(" [{k}]"),
            },
            status_mib(
                &std::fs::read_to_string(format!("/proc/{}/status", pipe.pid()))
                    .unwrap_or_default(),
                "VmHWM"
            )
        );
        pipe.close();
    }
}

/// Removes the store at `db` with its WAL and shared-memory files, if there is one.
fn remove_store(db: &Path) {
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
}

/// Copies the store at `from` (with its WAL) to `to`, replacing whatever was there.
fn copy_store(from: &Path, to: &Path) {
    remove_store(to);
    for ext in ["", "-wal"] {
        let file = format!("{}{ext}", from.display());
        if Path::new(&file).exists() {
            std::fs::copy(&file, format!("{}{ext}", to.display())).expect("copy the store");
        }
    }
}

/// One client thread: on a small machine the client then competes less for CPU with the
/// server it measures.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut servers = vec![
        std::env::var_os("MNEMOGRAPH_BENCH_SERVER")
            .map_or_else(|| env!("CARGO_BIN_EXE_mnemograph").into(), PathBuf::from),
    ];
    servers.extend(std::env::var_os("MNEMOGRAPH_BENCH_COMPARE").map(PathBuf::from));
    let (flags, args): (Vec<String>, Vec<String>) = command_line()
        .into_iter()
        .partition(|a| a.starts_with("--"));
    let options = Options::parse(&flags);
    let sizes = sizes(args, &[1_000, 10_000, 100_000]);
    let model: Option<Embedder> = options.vectors.then(|| {
        Arc::new(Model2VecEmbedder::builtin().expect("the built-in model loads")) as Embedder
    });
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = bench_dir(temp.path());
    for (k, exe) in servers.iter().enumerate() {
        match k {
            0 => println!("server: {}", exe.display()),
            k => println!("server [{k}]: {}", exe.display()),
        }
    }
    let corpus = match options.vectors {
        true => english(),
        false => Corpus::new(),
    };
    for n in sizes {
        run(&servers, &dir, n, &corpus, model.as_ref(), &options).await;
    }
}

/// Words of the built-in model's own vocabulary taken for a corpus with vectors.
const ENGLISH_WORDS: usize = 8000;

/// The corpus of a store with vectors: English words, the first [`ENGLISH_WORDS`] whole words
/// of the built-in model's WordPiece vocabulary, which lists them most frequent first. The
/// made-up words of [`Corpus::new`] suit keyword search, but the model embeds every text of
/// them near one direction (cosine 0.88–0.96 between random memories of a 100k store): every
/// memory is then a near-duplicate of most others, and the vector side's figures say nothing
/// of a real store.
fn english() -> Corpus {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("model/m2v-minilm-int8/tokenizer.json");
    let tokenizer: Value = serde_json::from_slice(&std::fs::read(&path).expect("the tokenizer"))
        .expect("the tokenizer is JSON");
    let vocab = tokenizer["model"]["vocab"]
        .as_object()
        .expect("a WordPiece vocabulary");
    let mut words: Vec<(&String, u64)> = vocab
        .iter()
        .filter(|(w, _)| w.len() >= 3 && w.bytes().all(|b| b.is_ascii_lowercase()))
        .map(|(w, id)| (w, id.as_u64().expect("token ids are numbers")))
        .collect();
    words.sort_by_key(|(_, id)| *id);
    Corpus::from_words(
        words
            .into_iter()
            .take(ENGLISH_WORDS)
            .map(|(w, _)| w.clone())
            .collect(),
    )
}
