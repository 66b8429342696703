//! MCP over streamable HTTP at `/mcp`: rmcp's transport, with one [`MnemographServer`] per
//! session. Every session's server is made from one, so they share the store, the sync link
//! and the count of calls in flight that a shutdown drains; each has its client's project.

use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::mcp::MnemographServer;

/// The `/mcp` endpoint's service.
pub type McpService = StreamableHttpService<MnemographServer, LocalSessionManager>;

/// The service answering MCP for `server`'s tools, resources and instructions. Cancelling
/// `stop` ends every session and closes their event streams, so connections can drain.
pub fn service(server: MnemographServer, stop: CancellationToken) -> McpService {
    // Host and Origin are checked by `super::guard` in front of every route, the viewer's
    // included; rmcp's own loopback-only default would refuse the names `--allow-host` adds.
    let config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .disable_allowed_origins()
        .with_cancellation_token(stop);
    StreamableHttpService::new(
        move || Ok(server.for_session()),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}
