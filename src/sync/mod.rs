//! Multi-device sync: how a store reaches its libSQL primary, and the worker that keeps an
//! embedded replica up to date.
//!
//! Three modes (see README "Sync"): `local` (a file on this machine, no primary), `replica`
//! (a local replica file that syncs on connect, on a timer and on demand; reads are local,
//! writes go to the primary, and writes made while the primary is unreachable wait in a
//! durable outbox) and `remote` (every statement over HTTP, nothing on disk).
//!
//! [`schedule`] decides when the worker runs, [`status`] is what it reports, [`slot`] gives
//! each process a replica file of its own, and [`worker`] is the loop itself.

pub mod connect;
pub mod replica;
pub mod schedule;
pub mod slot;
pub mod status;
pub mod worker;

use std::fmt;
use std::time::Duration;

pub use connect::{Connected, SyncSettings, connect};
pub use schedule::Schedule;
use serde::Serialize;
pub use status::{SyncState, SyncStatus};

/// Default time between two syncs of a replica.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// How a store reaches its data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One libSQL file on this machine; no primary.
    #[default]
    Local,
    /// A local replica of the primary: local reads, writes through the primary.
    Replica,
    /// No local file: every statement goes to the primary.
    Remote,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Local => "local",
            Mode::Replica => "replica",
            Mode::Remote => "remote",
        }
    }

    /// Parses a configured mode name (case-insensitive).
    pub fn parse(name: &str) -> Option<Mode> {
        match name.trim().to_ascii_lowercase().as_str() {
            "local" => Some(Mode::Local),
            "replica" => Some(Mode::Replica),
            "remote" => Some(Mode::Remote),
            _ => None,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_case_insensitively() {
        assert_eq!(Mode::parse(" Replica "), Some(Mode::Replica));
        assert_eq!(Mode::parse("REMOTE"), Some(Mode::Remote));
        assert_eq!(Mode::parse("local"), Some(Mode::Local));
        assert_eq!(Mode::parse("cloud"), None);
    }
}
