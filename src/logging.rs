//! Logging for long-lived front ends: `tracing` to stderr, and to a file when one is
//! configured. Never to stdout, which carries the MCP protocol on stdio.

use std::path::PathBuf;
use std::sync::Arc;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::Config;

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("invalid log filter {filter:?}: {reason}")]
    Filter { filter: String, reason: String },
    #[error("cannot open the log file {}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Logs to stderr with the configured filter, and appends to the configured log file too.
/// A second call in one process (tests) keeps the first set-up.
pub fn init(config: &Config) -> Result<(), LoggingError> {
    let spec = &config.log.value;
    let filter = || {
        EnvFilter::try_new(spec).map_err(|e| LoggingError::Filter {
            filter: spec.clone(),
            reason: e.to_string(),
        })
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(filter()?);
    let file = match &config.log_file {
        Some(setting) => {
            let path = &setting.value;
            // Logs may quote memory text: a new log file is private like the store.
            let file = crate::private_fs::open_options()
                .append(true)
                .open(path)
                .map_err(|source| LoggingError::File {
                    path: path.clone(),
                    source,
                })?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(Arc::new(file))
                    .with_ansi(false)
                    .with_filter(filter()?),
            )
        }
        None => None,
    };
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
    Ok(())
}
