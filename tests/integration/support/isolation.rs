//! Keeping the user's own configuration away from the binaries that tests and benchmarks run.
//!
//! This file stands alone (nothing from `super`): `benches/support/server.rs` includes it with
//! `#[path]`.

use std::path::Path;
use std::process::Command;

/// Variables of the user's environment that would point a process at another store,
/// profile, model, embedding server or primary.
const USER_SETTINGS: [&str; 15] = [
    "MNEMOGRAPH_DB",
    "MNEMOGRAPH_NAMESPACE",
    "MNEMOGRAPH_CONFIG",
    "MNEMOGRAPH_LOG_FILE",
    "MNEMOGRAPH_PROFILE",
    "MNEMOGRAPH_OUTPUT_SCHEMAS",
    "MNEMOGRAPH_MODEL_DIR",
    "MNEMOGRAPH_EMBED_URL",
    "MNEMOGRAPH_MODE",
    "MNEMOGRAPH_PRIMARY_URL",
    "MNEMOGRAPH_AUTH_TOKEN",
    "TURSO_DATABASE_URL",
    "TURSO_AUTH_TOKEN",
    "VISUAL",
    "EDITOR",
];

/// Runs `cmd` (an `mnemograph` or `memctl` command) without the user's configuration: a
/// config directory `config_home` with no file in it, none of the user's settings, and no
/// embedder (keyword search only) unless the caller gives it one (for a tokio command, pass
/// `cmd.as_std_mut()`).
pub fn isolate<'c>(cmd: &'c mut Command, config_home: &Path) -> &'c mut Command {
    cmd.env("XDG_CONFIG_HOME", config_home)
        .env("MNEMOGRAPH_EMBEDDER", "none");
    for var in USER_SETTINGS {
        cmd.env_remove(var);
    }
    cmd
}
