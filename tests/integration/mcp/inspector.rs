//! MCP Inspector's strict check of the tool schemas (`--cli --strict --method tools/list`),
//! the portability problems it counts as errors making it exit 6. Run on the real binary in
//! both profiles, and with the output schemas listed.
//!
//! The Inspector comes from npm: `MNEMOGRAPH_TEST_INSPECTOR` names an installed
//! `mcp-inspector` (`.ci/run` installs and caches one), else `npx` fetches it; with neither,
//! or when npm cannot fetch it, the test is skipped and says so.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{self, skip};

const INSPECTOR: &str = "@modelcontextprotocol/inspector@2.12.0";

/// The Inspector's strict run against `mnemograph` with `args`, or `None` when there is no
/// Inspector to run (the skip is said).
fn strict_tools_list(dir: &Path, args: &[&str]) -> Option<Output> {
    let mut cmd = match std::env::var_os("MNEMOGRAPH_TEST_INSPECTOR") {
        Some(inspector) => Command::new(inspector),
        None => {
            let mut npx = Command::new("npx");
            npx.args(["-y", INSPECTOR]);
            npx
        }
    };
    let config = dir.join("config");
    cmd.args(["--cli", "--strict", "--method", "tools/list"]);
    // The server's environment, isolated as every test's server is.
    for (key, value) in [
        ("MNEMOGRAPH_EMBEDDER", "none"),
        ("MNEMOGRAPH_LOG", "warn"),
        ("XDG_CONFIG_HOME", config.to_str().unwrap()),
    ] {
        cmd.arg("-e").arg(format!("{key}={value}"));
    }
    cmd.arg(env!("CARGO_BIN_EXE_mnemograph"))
        .arg("--db")
        .arg(dir.join("store.db"))
        .args(args);
    support::isolate(&mut cmd, &config);
    match cmd.output() {
        Ok(output) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            if !output.status.success() && stderr.contains("npm error") {
                skip(&format!("npx could not fetch {INSPECTOR}"));
                return None;
            }
            Some(output)
        }
        Err(err) => {
            skip(&format!(
                "no npx ({err}) and MNEMOGRAPH_TEST_INSPECTOR unset: cannot run {INSPECTOR}"
            ));
            None
        }
    }
}

#[test]
fn inspector_strict_mode_finds_no_error_in_any_profile() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &[][..],
        &["--output-schemas"][..],
        &["--profile", "knowledge-graph"][..],
    ] {
        let Some(output) = strict_tools_list(dir.path(), args) else {
            return;
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "Inspector --strict failed ({}) for {args:?}:\n{stderr}",
            output.status
        );
        // Each problem is a block starting "Error: tool …" or "Warning: tool …"; a clean
        // list prints none (and no summary line).
        let count = |severity: &str| {
            stderr
                .lines()
                .filter(|l| l.starts_with(&format!("{severity}: tool")))
                .count()
        };
        println!(
            "{args:?}: {} errors, {} warnings",
            count("Error"),
            count("Warning")
        );
        assert_eq!(count("Error"), 0, "{args:?}:\n{stderr}");
        let listed = String::from_utf8_lossy(&output.stdout);
        assert!(
            listed.contains("\"tools\""),
            "{args:?}: no tool list:\n{listed}"
        );
    }
}
