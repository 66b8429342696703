//! Flags shared by several commands.

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};

use crate::model::{Direction, Filter};
use crate::store::parse_time;

/// Parses `--since` and validity times: RFC 3339 or a date, like the MCP tools accept.
pub fn time(text: &str) -> Result<DateTime<Utc>, String> {
    parse_time("time", text).map_err(|e| e.to_string())
}

/// Filters of list, search and recall. Every filter given must hold.
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Only this kind (repeatable: any of them)
    #[arg(long = "kind", short = 'k', value_name = "KIND")]
    pub kinds: Vec<String>,
    /// Only memories with this tag (repeatable or comma-separated: all of them)
    #[arg(long = "tag", value_name = "TAG", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Only memories of this project (context.project)
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
    /// Only memories created at or after this time (RFC 3339 or YYYY-MM-DD)
    #[arg(long, value_name = "TIME", value_parser = time)]
    pub since: Option<DateTime<Utc>>,
    /// Only memories at least this important (0..1)
    #[arg(long, value_name = "X")]
    pub min_importance: Option<f32>,
}

impl From<FilterArgs> for Filter {
    fn from(f: FilterArgs) -> Self {
        Filter {
            kinds: f.kinds,
            tags: f.tags,
            project: f.project,
            since: f.since,
            min_importance: f.min_importance,
        }
    }
}

/// Which way to follow relationships.
#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum DirectionArg {
    /// This memory → others
    Outgoing,
    /// Others → this memory
    Incoming,
    #[default]
    Both,
}

impl From<DirectionArg> for Direction {
    fn from(d: DirectionArg) -> Self {
        match d {
            DirectionArg::Outgoing => Direction::Outgoing,
            DirectionArg::Incoming => Direction::Incoming,
            DirectionArg::Both => Direction::Both,
        }
    }
}
