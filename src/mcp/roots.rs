//! The project a session works in, so a memory stored without one is filed where the hooks
//! look for it.
//!
//! The server's working directory names it when the client started the server in its
//! project. A client that declares the `roots` capability names it itself: the project of
//! its first root that is a directory here. The roots are asked (`roots/list`) when a tool
//! first needs the project, inside that tool call (servers may only ask a client while one of
//! its requests is in flight), kept, and asked again after the client sends
//! `notifications/roots/list_changed`. A client without roots, with none that is a directory
//! here, or that does not answer within [`ROOTS_TIMEOUT`], gets the working directory's.

use std::sync::Arc;
use std::time::Duration;

use rmcp::RoleServer;
use rmcp::service::Peer;
use tokio::sync::Mutex;

use crate::project::Project;

/// Longest a tool call waits for the client's roots: clients answer `roots/list` on their
/// own, so a silent one is not going to answer.
pub const ROOTS_TIMEOUT: Duration = Duration::from_secs(3);

/// One session's project. Every tool call of the session shares it.
#[derive(Debug)]
pub(super) struct SessionProject {
    /// The project of the server's working directory.
    cwd: Option<Arc<str>>,
    /// What the client's roots gave, once asked (the working directory's when they gave
    /// nothing); `None` until asked, and again once they change. Calls that need it while
    /// it is being asked wait for that one answer.
    from_roots: Mutex<Option<Option<Arc<str>>>>,
}

impl SessionProject {
    pub(super) fn new(cwd: Option<Arc<str>>) -> Self {
        SessionProject {
            cwd,
            from_roots: Mutex::new(None),
        }
    }

    /// The same working directory's project for a new session, whose roots are not known.
    pub(super) fn for_new_session(&self) -> Self {
        Self::new(self.cwd.clone())
    }

    /// The session's project, asking `peer` for its roots when it has some and they are not
    /// known yet.
    // Roots are deprecated by SEP-2577 for the protocol after 2025-11-25, which drops
    // server-to-client requests; the clients of today's versions declare and answer them, and
    // one on the new protocol answers the request with an error: the working directory's then.
    #[allow(deprecated)]
    pub(super) async fn get(&self, peer: &Peer<RoleServer>) -> Option<Arc<str>> {
        let declares_roots = peer
            .peer_info()
            .is_some_and(|info| info.capabilities.roots.is_some());
        if !declares_roots {
            return self.cwd.clone();
        }
        let mut known = self.from_roots.lock().await;
        if let Some(project) = &*known {
            return project.clone();
        }
        let project = match tokio::time::timeout(ROOTS_TIMEOUT, peer.list_roots()).await {
            Ok(Ok(list)) => Project::of_roots(list.roots.iter().map(|r| r.uri.as_str()))
                .map(|p| Arc::from(p.name))
                .or_else(|| self.cwd.clone()),
            Ok(Err(err)) => {
                tracing::warn!(%err, "the client did not list its roots; using the working directory's project");
                self.cwd.clone()
            }
            Err(_) => {
                tracing::warn!(
                    "the client did not list its roots within {ROOTS_TIMEOUT:?}; using the working directory's project"
                );
                self.cwd.clone()
            }
        };
        *known = Some(project.clone());
        project
    }

    /// Forgets the roots, so the next call that needs the project asks again.
    pub(super) async fn roots_changed(&self) {
        *self.from_roots.lock().await = None;
    }
}
