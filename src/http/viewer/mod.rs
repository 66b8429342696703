//! The web viewer's routes. This build carries no viewer: `/` says so.

use std::sync::Arc;

use axum::Router;
use axum::response::Html;
use axum::routing::get;

use crate::app::App;

/// The viewer's pages, assets and API, with their state inside.
pub fn router(_app: Arc<App>) -> Router {
    Router::new().route(
        "/",
        get(|| async {
            Html(
                "<!doctype html><title>mnemograph</title>\
                 <p>The web viewer is not built in this build; MCP is served at /mcp.</p>",
            )
        }),
    )
}
