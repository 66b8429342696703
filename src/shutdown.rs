//! The signals that stop a long-lived front end.

use std::future::Future;

/// Resolves on SIGINT or SIGTERM (Ctrl-C elsewhere) with the signal's name: pass it as the
/// `shutdown` of a serve loop. The handlers are installed when this is called, not when the
/// future is first polled: a serve loop polls it from a task of its own, which under load may
/// not have run yet when a client that got its answers already sends the signal, and the
/// signal's default action would then kill the process instead of stopping it cleanly.
pub fn signal() -> impl Future<Output = &'static str> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        /// The next delivery of `signal`; never, if its handler could not be installed.
        async fn next(signal: Option<Signal>) {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        let interrupt = signal(SignalKind::interrupt()).ok();
        let terminate = signal(SignalKind::terminate()).ok();
        async move {
            tokio::select! {
                _ = next(interrupt) => "SIGINT",
                _ = next(terminate) => "SIGTERM",
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
