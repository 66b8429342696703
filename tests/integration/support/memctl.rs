//! The real `memctl` binary, isolated like the server, and runners that check its exit.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// A `memctl` command isolated in `dir` like [`super::command`]: its data dir, no config file,
/// no colour, no embedder, stdin closed.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_memctl"));
    super::isolate(&mut cmd, &dir.join("config"))
        .env("MNEMOGRAPH_DATA_DIR", dir.join("data"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

/// Runs `memctl args` in `dir`, whatever the outcome.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    command(dir).args(args).output().expect("run memctl")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must succeed and returns its stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    assert!(o.status.success(), "memctl {args:?} failed: {}", stderr(&o));
    stdout(&o)
}

/// Runs a command with `--json` that must succeed and returns the document.
pub fn json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let text = ok(dir, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("memctl {args:?}: {e}\n{text}"))
}

/// Runs a command that must fail with one line on stderr, and returns that line.
pub fn fails(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    assert!(
        !o.status.success(),
        "memctl {args:?} should fail: {}",
        stdout(&o)
    );
    let err = stderr(&o);
    let last = err.lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("memctl: "), "{err}");
    last
}
