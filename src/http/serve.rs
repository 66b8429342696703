//! Binding, running and stopping the server: [`bind`] takes the address and settles the
//! token, [`Bound::run`] answers until the shutdown future resolves, then drains.
//!
//! A shutdown stops accepting connections, waits for the requests that may write to be
//! answered in full (tool calls, the viewer's edits) and for tool calls whose client left,
//! ends the MCP sessions (closing their event streams), and gives connections a moment to
//! close before returning.

use std::future::{Future, IntoFuture};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::guard::{self, Guard, LOOPBACK_NAMES};
use super::inflight::InFlight;
use crate::app::App;
use crate::mcp::{DRAIN_TIMEOUT, MnemographServer};
use crate::secret::Secret;

/// How long connections get to close after the MCP sessions ended (their event streams
/// close at once; a browser's idle connection may not).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// How `mnemograph serve` listens.
#[derive(Debug, Clone)]
pub struct Options {
    /// The address to listen on; port 0 takes a free port.
    pub listen: SocketAddr,
    /// Host names the server answers to besides the loopback names and the listen address
    /// (how clients on other machines name it).
    pub allow_hosts: Vec<String>,
    /// The token clients must send. Without one, a server listening beyond loopback makes
    /// one up; a loopback server requires none.
    pub token: Option<Secret>,
}

/// Why the server could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot make a token: {0}")]
    Token(getrandom::Error),
    #[error(
        "the token (MNEMOGRAPH_SERVE_TOKEN) must be at least 16 characters, each a letter, a \
         digit or one of - . _ ~ (e.g. from `openssl rand -hex 32`)"
    )]
    UnusableToken,
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// A listening socket and the rules for who may use it, ready to [`Bound::run`].
pub struct Bound {
    listener: TcpListener,
    addr: SocketAddr,
    token: Option<Secret>,
    /// Whether [`bind`] made the token up (so it must be shown), rather than being given it.
    token_made_up: bool,
    guard: Guard,
}

/// Listens on `options.listen` and settles the token: the one given, else a new one when
/// the address is not loopback.
pub async fn bind(options: Options) -> Result<Bound, ServeError> {
    if let Some(token) = &options.token
        && !guard::token_is_usable(token.expose())
    {
        return Err(ServeError::UnusableToken);
    }
    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: options.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: options.listen,
        source,
    })?;
    let token_made_up = options.token.is_none() && !addr.ip().is_loopback();
    let token = match options.token {
        Some(token) => Some(token),
        None if token_made_up => Some(guard::new_token().map_err(ServeError::Token)?),
        None => None,
    };
    let listen_name = (!addr.ip().is_unspecified()).then(|| host_name(addr.ip()));
    let names = LOOPBACK_NAMES
        .iter()
        .map(|n| n.to_string())
        .chain(listen_name)
        .chain(options.allow_hosts);
    Ok(Bound {
        listener,
        addr,
        guard: Guard::new(names, token.clone()),
        token,
        token_made_up,
    })
}

/// An address as a Host header names it (IPv6 in brackets).
fn host_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

impl Bound {
    /// The address the server listens on (with the port taken, when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's base URL, naming the listen address (127.0.0.1 when it listens on every
    /// address).
    pub fn url(&self) -> String {
        let ip = if self.addr.ip().is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            self.addr.ip()
        };
        format!("http://{}:{}", host_name(ip), self.addr.port())
    }

    /// The token clients must send, when one is required and it was made up here (a token
    /// given by the user is theirs to know, and is not repeated in a log).
    pub fn made_up_token(&self) -> Option<&Secret> {
        self.token.as_ref().filter(|_| self.token_made_up)
    }

    /// Whether clients must send a token.
    pub fn requires_token(&self) -> bool {
        self.token.is_some()
    }

    /// Serves `server` (made over `app`) at `/mcp` and the viewer over `app` at `/` until
    /// `shutdown` resolves (with a name for the log, e.g. the signal's), then drains (see the
    /// module's doc).
    pub async fn run<S>(
        self,
        app: App,
        server: MnemographServer,
        shutdown: S,
    ) -> Result<(), ServeError>
    where
        S: Future<Output = &'static str> + Send + 'static,
    {
        let in_flight = InFlight::default();
        let stop_sessions = CancellationToken::new();
        let router = super::router(
            server.clone(),
            Arc::new(app),
            self.guard,
            in_flight.clone(),
            stop_sessions.clone(),
        );
        let (stop_accepting, stopped_accepting) = oneshot::channel::<()>();
        let mut serving = tokio::spawn(
            axum::serve(self.listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped_accepting.await;
                })
                .into_future(),
        );
        tracing::info!(addr = %self.addr, token = self.token.is_some(), "serving over HTTP");
        let reason = tokio::select! {
            reason = shutdown => reason,
            ended = &mut serving => return finished(ended),
        };
        tracing::info!(reason, "shutting down");
        let _ = stop_accepting.send(());
        let drained = async {
            in_flight.settled().await;
            server.drain().await;
        };
        if tokio::time::timeout(DRAIN_TIMEOUT, drained).await.is_err() {
            tracing::warn!("requests still running after {DRAIN_TIMEOUT:?}; exiting anyway");
        }
        stop_sessions.cancel();
        match tokio::time::timeout(CLOSE_TIMEOUT, &mut serving).await {
            Ok(ended) => finished(ended)?,
            Err(_) => {
                serving.abort();
                tracing::info!("closed the connections still open after {CLOSE_TIMEOUT:?}");
            }
        }
        tracing::info!("stopped on shutdown");
        Ok(())
    }
}

/// The outcome of the serving task.
fn finished(ended: Result<std::io::Result<()>, tokio::task::JoinError>) -> Result<(), ServeError> {
    match ended {
        Ok(result) => result.map_err(ServeError::Serve),
        Err(join) => Err(ServeError::Serve(std::io::Error::other(join))),
    }
}
