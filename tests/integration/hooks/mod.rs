//! The hooks front end through the real `memctl` binary: installing into a client's
//! settings in a temporary HOME, and the registered hook commands fed real hook JSON and
//! fixture transcripts (`fixtures/hooks/`).

mod capture;
mod gemini;
mod install;
mod mcp;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support;

/// A temporary world: a HOME, a git project with a remote, and memctl's data directory.
struct World {
    dir: tempfile::TempDir,
}

/// The project's name as memctl derives it from the fixture's remote.
const PROJECT: &str = "github.com/acme/parser";

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("home")).unwrap();
        std::fs::create_dir_all(root.join("proj/.git")).unwrap();
        std::fs::create_dir_all(root.join("proj/src")).unwrap();
        std::fs::write(
            root.join("proj/.git/config"),
            "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = git@github.com:acme/parser.git\n",
        )
        .unwrap();
        World { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    fn project(&self) -> PathBuf {
        std::fs::canonicalize(self.path().join("proj")).unwrap()
    }

    /// A memctl command isolated in this world, run in the project, with HOME here.
    fn memctl(&self) -> Command {
        let mut cmd = support::memctl::command(self.path());
        cmd.env("HOME", self.home()).current_dir(self.project());
        cmd
    }

    /// Runs memctl with `args`, which must succeed; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.memctl().args(args).output().unwrap();
        assert!(
            o.status.success(),
            "memctl {args:?}: {}",
            support::memctl::stderr(&o)
        );
        support::memctl::stdout(&o)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Runs `command` (a hook command line from a client's settings) through the shell as the
    /// client does, with `input` on stdin, in this world's environment.
    fn run_hook(&self, command: &str, input: impl std::fmt::Display) -> Output {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(command);
        support::isolate(&mut cmd, &self.path().join("config"))
            .env("MNEMOGRAPH_DATA_DIR", self.path().join("data"))
            .env("HOME", self.home())
            .env("PATH", path_with_memctl())
            .current_dir(self.project())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.to_string().as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// A fixture transcript with this world's project root and `session` filled in, written
    /// here; returns its path.
    fn transcript(&self, fixture: &str, session: &str) -> PathBuf {
        let text = std::fs::read_to_string(support::fixture(&format!("hooks/{fixture}"))).unwrap();
        let text = text
            .replace("{{ROOT}}", &self.project().display().to_string())
            .replace("{{SESSION}}", session);
        let path = self.path().join(format!("{session}.jsonl"));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Every memory in the store, newest first.
    fn memories(&self) -> Vec<Value> {
        let list = self.json(&["list", "--limit", "500"]);
        list["memories"].as_array().unwrap().clone()
    }
}

/// PATH with the memctl under test first, so a hook command line can name it plainly.
fn path_with_memctl() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_memctl"))
        .parent()
        .unwrap()
        .to_owned();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The command registered for `event` in the settings file at `path`.
fn registered(path: &Path, event: &str) -> String {
    let settings: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    settings["hooks"][event]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["hooks"].as_array().unwrap())
        .map(|h| h["command"].as_str().unwrap().to_owned())
        .find(|c| c.contains(" hook "))
        .unwrap_or_else(|| panic!("no memctl hook for {event}"))
}

/// The memories of `kind` among `memories`.
fn of_kind<'a>(memories: &'a [Value], kind: &str) -> Vec<&'a Value> {
    memories.iter().filter(|m| m["kind"] == kind).collect()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "a hook must exit 0: {}",
        support::memctl::stderr(o)
    );
    support::memctl::stdout(o)
}
