//! The web viewer: pages to search, read, edit and draw the memory graph, served from the
//! binary with a JSON API under `/api/`.
//!
//! The pages are hand-written HTML, CSS and JavaScript (no framework, no build step, nothing
//! fetched from elsewhere), compiled in with `include_str!`. Every response forbids loading
//! anything from another origin (`Content-Security-Policy: default-src 'self'`), so a page can
//! reach only this server. The page follows other processes' writes by polling
//! `/api/changes` (see [`crate::app::App::changes`]) about once a second.
//!
//! The server that mounts [`router`] (`mnemograph serve`) guards it: Host and Origin checks
//! and, off loopback, a token.

mod api;
mod error;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::App;

/// Where everything on a page may come from: this server only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The viewer's pages and API over `app`.
pub fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .route("/search", get(api::search))
        .route(
            "/memories/{id}",
            get(api::memory)
                .patch(api::update_memory)
                .delete(api::delete_memory),
        )
        .route("/relationships", axum::routing::post(api::link))
        .route(
            "/relationships/{id}",
            axum::routing::patch(api::update_relationship).delete(api::unlink),
        )
        .route("/graph", get(api::graph))
        .route("/status", get(api::status))
        .route("/changes", get(api::changes))
        .with_state(app);
    Router::new()
        .route(
            "/",
            get(|| asset("text/html", include_str!("assets/index.html"))),
        )
        .route(
            "/assets/app.js",
            get(|| asset("text/javascript", include_str!("assets/app.js"))),
        )
        .route(
            "/assets/graph.js",
            get(|| asset("text/javascript", include_str!("assets/graph.js"))),
        )
        .route(
            "/assets/style.css",
            get(|| asset("text/css", include_str!("assets/style.css"))),
        )
        .nest("/api", api)
        .layer(axum::middleware::map_response(secure))
}

/// A compiled-in file. Revalidated on each load, so a new binary's pages are never mixed
/// with an old one's.
async fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Headers on every response: this origin only, no sniffing, no referrer, no framing.
async fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
