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
pub mod schedule;
pub mod slot;
pub mod status;
pub mod worker;

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::embed::ApiKey;

pub use connect::{Connected, SyncSettings, connect};
pub use schedule::Schedule;
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

/// Where the primary is and how to reach it, for the replica and remote modes.
#[derive(Debug, Clone, PartialEq)]
pub struct Primary {
    /// The primary's URL for this namespace (`{namespace}` already substituted).
    pub url: String,
    /// Sent as a bearer token; never printed.
    pub auth_token: Option<ApiKey>,
    /// The sqld namespace to address (its `x-namespace` header), when the URL does not
    /// name a per-namespace database itself.
    pub namespace: Option<String>,
}

impl Primary {
    /// The token to send (empty when none is configured), for the one place that sends it.
    pub fn token(&self) -> String {
        self.auth_token
            .as_ref()
            .map(|t| t.expose().to_owned())
            .unwrap_or_default()
    }

    /// The URL for display and logs: without any user-info part, which could hold a secret.
    pub fn display_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// `url` without a `user:password@` part.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
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

    #[test]
    fn urls_lose_their_credentials_for_display() {
        assert_eq!(
            redact_url("https://user:s3cret@db.example.com/x"),
            "https://db.example.com/x"
        );
        assert_eq!(redact_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(redact_url("libsql://a@b@host"), "libsql://host");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
