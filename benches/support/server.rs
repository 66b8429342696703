//! How the benchmarks run the `mnemograph` binary that `cargo bench` builds beside them (in
//! the bench profile, optimised), isolated from the user's own configuration. Shared by
//! `mcp_bench` and `soak`.

use std::path::Path;

#[path = "../../tests/integration/support/isolation.rs"]
mod isolation;

/// A `mnemograph` command (or a `memctl` one: it takes the same flags and environment) at
/// `exe` on the store at `db`, with a config directory `config_home` that holds no file, and
/// no embedder unless the caller gives it one.
pub fn server_command(exe: &Path, db: &Path, config_home: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(exe);
    isolation::isolate(cmd.as_std_mut(), config_home)
        .arg("--db")
        .arg(db)
        .env("MNEMOGRAPH_LOG", "warn");
    cmd
}
