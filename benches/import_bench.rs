//! Import and export throughput of the native format: 100k memories (no embeddings) and 50k
//! relationships imported into a new libSQL store, then exported again, with rates and the
//! process's peak resident memory after each phase.
//!
//! Then `memctl reembed` (the real binary, the built-in model) gives every imported memory a
//! vector, end to end: the embedder and the writes of the vectors.
//!
//! Run with `cargo bench --bench import_bench [-- MEMORIES]`. Targets: at least 20k memories/s
//! each way and for the re-embedding, and an export that does not raise the peak (it streams
//! page by page).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::sync::Arc;
use std::time::Instant;

use mnemograph::backend::libsql::LibsqlBackend;
use mnemograph::store::transfer::{Format, ImportOptions, native};
use mnemograph::store::{Limits, MemoryStore};
use serde_json::json;

#[path = "support/args.rs"]
mod args;
#[path = "../tests/integration/support/isolation.rs"]
mod isolation;

/// Peak resident set size in KiB (`VmHWM`), where /proc tells it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn id(prefix: u32, i: usize) -> String {
    format!("{prefix:08x}-0000-7000-8000-{i:012x}")
}

/// Writes a native export of `n` memories and `n / 2` relationships.
fn write_input(path: &std::path::Path, n: usize) -> std::io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    let header = json!({"type": "header", "format": "mnemograph", "version": 1,
        "exported_at": "2025-06-01T00:00:00Z", "store_id": id(1, 0), "schema_version": 1,
        "embedding_model": null, "embedding_dim": null});
    writeln!(out, "{header}")?;
    let kinds = ["fix", "error", "decision", "pattern", "note"];
    for i in 0..n {
        let line = json!({"type": "memory", "id": id(2, i), "kind": kinds[i % kinds.len()],
            "title": format!("Memory {i} about module {}", i % 97),
            "content": format!("Details of memory {i}: the parser in module {} fails on input {} and the fix is to clone before the loop.", i % 97, i % 1013),
            "tags": [format!("t{}", i % 13), "bench"], "context": {"project": format!("p{}", i % 5)},
            "importance": 0.5, "confidence": 1.0,
            "created_at": format!("2025-01-01T00:00:00.{:06}Z", i % 1_000_000),
            "updated_at": "2025-01-02T00:00:00Z", "access_count": 0, "version": 1});
        writeln!(out, "{line}")?;
    }
    for i in 0..n / 2 {
        let line = json!({"type": "relationship", "id": id(3, i), "source_id": id(2, i),
            "target_id": id(2, (i * 7 + 1) % n), "rel_type": "RELATED_TO", "strength": 0.5,
            "confidence": 1.0, "created_at": "2025-01-02T00:00:00Z",
            "updated_at": "2025-01-02T00:00:00Z", "version": 1});
        writeln!(out, "{line}")?;
    }
    out.flush()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = args::command_line()
        .get(1)
        .map_or(Ok(100_000), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("input.jsonl");
    write_input(&input, n)?;
    println!(
        "input: {n} memories, {} relationships, {:.1} MiB; peak RSS {} KiB",
        n / 2,
        std::fs::metadata(&input)?.len() as f64 / 1048576.0,
        peak_rss_kib().unwrap_or(0)
    );

    let backend = LibsqlBackend::open_local(&dir.path().join("store.db")).await?;
    let store = MemoryStore::open(Arc::new(backend), Limits::default()).await?;

    let started = Instant::now();
    let records = Format::Native.read(BufReader::new(File::open(&input)?));
    let report = store.import(records, ImportOptions::default()).await?;
    let secs = started.elapsed().as_secs_f64();
    assert!(report.errors.is_empty(), "{:?}", report.errors.first());
    assert_eq!(report.memories.created as usize, n);
    println!(
        "import: {:.2} s, {:.0} memories/s ({:.0} records/s); peak RSS {} KiB",
        secs,
        n as f64 / secs,
        (n + n / 2) as f64 / secs,
        peak_rss_kib().unwrap_or(0)
    );

    let output = dir.path().join("output.jsonl");
    let started = Instant::now();
    let mut out = BufWriter::new(File::create(&output)?);
    let exported = native::export(&store, &mut out, &mut |_| {}).await?;
    drop(out);
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(exported.memories as usize, n);
    println!(
        "export: {:.2} s, {:.0} memories/s ({:.0} records/s); peak RSS {} KiB",
        secs,
        n as f64 / secs,
        (exported.memories + exported.relationships) as f64 / secs,
        peak_rss_kib().unwrap_or(0)
    );
    drop(store);

    let mut reembed = std::process::Command::new(env!("CARGO_BIN_EXE_memctl"));
    isolation::isolate(&mut reembed, &dir.path().join("config"))
        .env("MNEMOGRAPH_EMBEDDER", "model2vec")
        .env("MNEMOGRAPH_LOG", "warn")
        .arg("--db")
        .arg(dir.path().join("store.db"))
        .args(["--json", "reembed"]);
    let started = Instant::now();
    let done = reembed.output()?;
    let secs = started.elapsed().as_secs_f64();
    assert!(
        done.status.success(),
        "memctl reembed: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&done.stdout)?;
    assert_eq!(report["embedded"], json!(n), "{report}");
    println!(
        "memctl reembed (built-in model, whole process): {secs:.2} s, {:.0} memories/s",
        n as f64 / secs
    );
    Ok(())
}
