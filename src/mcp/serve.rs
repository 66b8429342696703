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

#[cfg(test)]
mod tests {
    use rmcp::ServiceExt;
    use rmcp::model::CallToolRequestParams;
    use tokio::sync::oneshot;

    use super::*;
    use crate::config::Profile;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_session_runs_in_process_until_shutdown_resolves() {
        let dir = tempfile::tempdir().unwrap();
        let server = MnemographServer::new(
            crate::app::tests::open_in(dir.path()).await,
            Profile::Memory,
        );
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(serve(server, server_io, async move {
            let _ = stopped.await;
            "test"
        }));
        let client = ().serve(client_io).await.unwrap();
        let stats = client
            .call_tool(CallToolRequestParams::new("memory_stats"))
            .await
            .unwrap();
        assert_eq!(stats.is_error, Some(false));
        stop.send(()).unwrap();
        serving
            .await
            .unwrap()
            .expect("a shutdown ends the session cleanly");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_leaves_before_initializing_ends_the_session_normally() {
        let dir = tempfile::tempdir().unwrap();
        let server = MnemographServer::new(
            crate::app::tests::open_in(dir.path()).await,
            Profile::Memory,
        );
        let (server_io, client_io) = tokio::io::duplex(1024);
        drop(client_io);
        serve(server, server_io, std::future::pending())
            .await
            .expect("nothing to serve is not a failure");
    }
}
