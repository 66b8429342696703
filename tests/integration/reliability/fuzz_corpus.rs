//! Replays the fuzz corpus on stable, so `cargo test` keeps every property the fuzz targets
//! check true for every input they kept, without nightly or cargo-fuzz.
//!
//! Inputs are `fuzz/corpus/<target>/*` (the minimized corpus) and `fuzz/regressions/<target>/*`
//! (crashes found while fuzzing, fixed, and kept so they stay fixed). The checks are the fuzz
//! crate's own, compiled here from the same file (see fuzz/checks.rs for why it lives there).

#[path = "../../../fuzz/checks.rs"]
mod checks;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use checks::{ImportCheck, SearchCheck, ToolCheck};

/// The files under `fuzz/<dir>/<target>`, sorted by name.
fn files(dir: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(dir)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("read the corpus directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `check` on every kept input of `target`, reporting every failing file at once.
/// Returns the inputs, for tests that also look at what the corpus covers.
fn replay(target: &str, check: impl Fn(&[u8])) -> Vec<Vec<u8>> {
    let corpus = files("corpus", target);
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target} is empty: the replay would prove nothing"
    );
    let mut inputs = Vec::new();
    let mut failed = Vec::new();
    for path in corpus.iter().chain(&files("regressions", target)) {
        let data = std::fs::read(path).expect("read a corpus file");
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failed.push(path.display().to_string());
        }
        inputs.push(data);
    }
    assert!(failed.is_empty(), "failing inputs: {failed:#?}");
    inputs
}

#[test]
fn search_query_corpus_holds() {
    let check = SearchCheck::new();
    replay("search_query", |data| check.check(data));
}

#[test]
fn import_parsers_corpus_holds() {
    let check = ImportCheck::new();
    let inputs = replay("import_parsers", |data| check.check(data));
    // Every format is exercised (the first byte chooses it; 3 asks for detection).
    for format in 0..4u8 {
        assert!(
            inputs
                .iter()
                .any(|i| i.first().is_some_and(|b| b % 4 == format)),
            "no input for format selector {format}"
        );
    }
}

#[test]
fn tool_arguments_corpus_holds_and_covers_every_tool() {
    let check = ToolCheck::new();
    let inputs = replay("tool_arguments", |data| check.check(data));
    let called: Vec<&(_, String)> = inputs
        .iter()
        .filter_map(|input| check.select(input).map(|(tool, _)| tool))
        .collect();
    for tool in check.tools() {
        assert!(
            called.contains(&tool),
            "no corpus input calls {} ({:?})",
            tool.1,
            tool.0
        );
    }
}
