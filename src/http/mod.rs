//! `mnemograph serve`: one process answering MCP over streamable HTTP at `/mcp` for many
//! clients at once, and the web viewer at `/`, both over one shared [`App`].
//!
//! Layout: [`guard`] decides who may talk to the server (Host, Origin, token) in front of
//! every route; [`mcp`] is rmcp's streamable HTTP transport around the same
//! [`MnemographServer`] the stdio binary serves; [`viewer`] is the viewer's pages and API;
//! [`inflight`] counts the requests a shutdown waits for; [`serve`] binds, runs and drains.
//!
//! This front end sits above `crate::mcp`: it serves that front end's tools over another
//! transport, and the two never disagree on a tool because there is one implementation.

mod guard;
mod inflight;
mod mcp;
mod serve;
pub mod viewer;

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::mcp::MnemographServer;
use guard::Guard;
use inflight::InFlight;

pub use serve::{Bound, Options, ServeError, bind};

/// Every route of the server behind the guard: `/mcp` answered by `server` (whose sessions
/// end when `stop` is cancelled) and the viewer over `app`; `in_flight` counts the requests
/// a shutdown waits for.
fn router(
    server: MnemographServer,
    app: Arc<App>,
    guard: Guard,
    in_flight: InFlight,
    stop: CancellationToken,
) -> Router {
    Router::new()
        .route_service("/mcp", mcp::service(server, stop))
        .merge(viewer::router(app))
        .layer(from_fn_with_state(in_flight, inflight::count))
        .layer(from_fn_with_state(guard, guard::check))
}
