//! The release `mnemograph` binary and how the examples run it, isolated from the user's own
//! configuration. Shared by `mcp_bench` and `soak`.

use std::path::{Path, PathBuf};

/// `target/release/<name>`, or exits with the command that builds it: the examples measure
/// the release server, and `cargo run --example` does not build other binaries.
pub fn release_binary(example: &str, name: &str) -> PathBuf {
    let exe = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/release/{name}"));
    if !exe.is_file() {
        eprintln!(
            "{example}: no binary at {}\n\
             build it first: cargo build --release --bin {name}",
            exe.display()
        );
        std::process::exit(2);
    }
    exe
}

/// A `mnemograph` command on the store at `db`, isolated from the user's configuration.
pub fn server_command(exe: &Path, db: &Path, config_home: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("--db")
        .arg(db)
        .env("MNEMOGRAPH_LOG", "warn")
        // The targets are for a server without an embedder, whatever the user configured.
        .env("MNEMOGRAPH_EMBEDDER", "none")
        .env("XDG_CONFIG_HOME", config_home);
    for var in [
        "MNEMOGRAPH_DB",
        "MNEMOGRAPH_NAMESPACE",
        "MNEMOGRAPH_CONFIG",
        "MNEMOGRAPH_LOG_FILE",
        "MNEMOGRAPH_PROFILE",
    ] {
        cmd.env_remove(var);
    }
    cmd
}
