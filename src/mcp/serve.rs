//! One MCP session over any transport, until the client leaves or `shutdown` resolves; then
//! the calls in flight finish before it returns. The stdio binary passes stdin/stdout and the
//! signals; a test or another transport passes its own.

use std::future::Future;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::service::{QuitReason, RoleServer, ServerInitializeError};
use rmcp::transport::IntoTransport;

use super::MnemographServer;

/// Longest a shutdown waits for tool calls in flight (a write waits at most the store's
/// busy timeout for its lock, then commits quickly).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a session ended in failure.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("MCP session failed: {0}")]
    Session(String),
}

/// Serves `server` on `transport` until the client closes it or `shutdown` resolves (with a
/// name for the log, e.g. the signal's). A client that leaves before initializing (a probe,
/// or one that gave up) ends the session normally.
pub async fn serve<T, E, A, S>(
    server: MnemographServer,
    transport: T,
    shutdown: S,
) -> Result<(), ServeError>
where
    T: IntoTransport<RoleServer, E, A>,
    E: std::error::Error + Send + Sync + 'static,
    S: Future<Output = &'static str> + Send + 'static,
{
    let service = match server.clone().serve(transport).await {
        Ok(service) => service,
        Err(ServerInitializeError::ConnectionClosed(_)) => {
            tracing::info!("the client closed the connection before initializing; stopped");
            return Ok(());
        }
        Err(e) => return Err(ServeError::Session(e.to_string())),
    };
    let cancel = service.cancellation_token();
    let on_shutdown = tokio::spawn(async move {
        let reason = shutdown.await;
        tracing::info!(reason, "shutting down");
        cancel.cancel();
    });
    let reason = service.waiting().await;
    on_shutdown.abort();
    let reason = reason.map_err(|e| ServeError::Session(e.to_string()))?;
    if tokio::time::timeout(DRAIN_TIMEOUT, server.drain())
        .await
        .is_err()
    {
        tracing::warn!("tool calls still running after {DRAIN_TIMEOUT:?}; exiting anyway");
    }
    match reason {
        QuitReason::Cancelled => tracing::info!("stopped on shutdown"),
        other => tracing::info!(reason = ?other, "stopped"),
    }
    Ok(())
}
