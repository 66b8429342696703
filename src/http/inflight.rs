//! The requests a shutdown waits for: every request that may write (any method but GET) is
//! counted from its arrival until its answer has been sent in full. For `/mcp` the answer to
//! a tool call is an event stream that closes after the result, so a shutdown that waits
//! here neither cuts a write short nor loses its answer. GETs (pages, reads, the standalone
//! event stream a session keeps open) are not waited for.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use tokio::sync::{OwnedRwLockReadGuard, RwLock};

/// Counts requests in flight. Cheap to clone; clones count together.
#[derive(Clone, Default)]
pub struct InFlight(Arc<RwLock<()>>);

impl InFlight {
    /// Waits until every counted request has been answered in full. A request that arrives
    /// meanwhile waits until after.
    pub async fn settled(&self) {
        let _all = self.0.write().await;
    }
}

/// The middleware: counts a request that is not a GET until its answer's body is done.
pub async fn count(State(in_flight): State<InFlight>, request: Request, next: Next) -> Response {
    if request.method() == Method::GET {
        return next.run(request).await;
    }
    let held = Arc::clone(&in_flight.0).read_owned().await;
    let (parts, body) = next.run(request).await.into_parts();
    Response::from_parts(parts, Body::new(Counted { body, _held: held }))
}

/// A body that holds its request's place in [`InFlight`] until hyper drops it, which it does
/// once the body has ended (or the client has gone).
struct Counted {
    body: Body,
    _held: OwnedRwLockReadGuard<()>,
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
