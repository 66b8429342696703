//! The library's error type. Every message says what went wrong and what to change, because
//! front ends show it as-is to a model or a person.

/// Errors of the store and its backends.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("memory {id} not found; check the id (search or list memories to find it)")]
    MemoryNotFound { id: String },

    #[error("memories {ids} not found; check the ids (search or list memories to find them)")]
    MemoriesNotFound {
        /// The ids, comma-separated, as they were asked for.
        ids: String,
    },

    #[error(
        "relationship {id} not found; check the id (get the memory's relationships to find it)"
    )]
    RelationshipNotFound { id: String },

    #[error("the id prefix {prefix} matches several {what}: {}; give more of the id", candidates.join(", "))]
    AmbiguousId {
        prefix: String,
        /// "memories" or "relationships".
        what: &'static str,
        candidates: Vec<String>,
    },

    #[error(
        "relationship endpoint {id} not found: both the source and the target must be existing memory ids"
    )]
    UnknownEndpoint { id: String },

    /// The knowledge-graph profile's answer, in the reference server's words.
    #[error("Entity with name {name} not found")]
    EntityNotFound { name: String },

    #[error(
        "memory {id} to link to not found; check the id (search or list memories to find it); \
         nothing was stored"
    )]
    LinkTargetNotFound { id: String },

    #[error(
        "version conflict on {what} {id}: expected version {expected}, but it is now {actual}; \
         read it again, reapply the change and retry with the new version"
    )]
    VersionConflict {
        what: &'static str,
        id: String,
        expected: i64,
        actual: i64,
    },

    #[error(
        "{what} {id} already exists with different content; use a new id, or update the existing one"
    )]
    IdConflict { what: &'static str, id: String },

    #[error(
        "a {rel_type} relationship from {source_id} to {target_id} already exists ({id}); \
         update that one instead of creating another"
    )]
    RelationshipExists {
        id: String,
        source_id: String,
        target_id: String,
        rel_type: String,
    },

    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },

    #[error(
        "the store's vectors come from model {stored} ({stored_dim} dimensions) but {given} \
         ({given_dim} dimensions) was given; re-embed the store with `memctl reembed` to switch models"
    )]
    ModelMismatch {
        stored: String,
        stored_dim: usize,
        given: String,
        given_dim: usize,
    },

    #[error(
        "the store at {path} was written by a newer mnemograph (schema {found}, this build knows up to {known}); upgrade mnemograph"
    )]
    SchemaTooNew {
        path: String,
        found: u32,
        known: u32,
    },

    #[error("database error: {0}")]
    Database(#[from] libsql::Error),

    #[error("corrupt {what} in the store: {reason}")]
    Corrupt { what: &'static str, reason: String },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("background task failed: {0}")]
    Task(String),

    #[error(transparent)]
    Embed(#[from] crate::embed::EmbedError),

    #[error(
        "the primary {primary} is unreachable ({reason}); {consequence}. \
         Check the URL, the token and the network; `memctl sync status` shows the last error"
    )]
    PrimaryUnreachable {
        primary: String,
        reason: String,
        /// What it means for this operation, e.g. that reads still work from the replica.
        consequence: &'static str,
    },

    /// The primary answered, and refused this device's token (HTTP 401/403, gRPC
    /// unauthenticated or permission denied). Never queued: retrying cannot succeed until the
    /// token changes, so the write fails now rather than waiting in the outbox for ever.
    #[error(
        "the primary {primary} refused the token: {reason}; check \
         MNEMOGRAPH_AUTH_TOKEN/TURSO_AUTH_TOKEN (a read-only token cannot write)"
    )]
    PrimaryRefused { primary: String, reason: String },

    /// The primary has no database under the configured namespace. sqld says so in words
    /// that point elsewhere ("x-proxy-authorization not set" to a forwarded write), so this
    /// names the namespace and how to create it. Never queued: it will not appear by waiting.
    #[error(
        "the namespace {namespace} does not exist on the primary {primary}; create it with \
         sqld's admin API (POST /v1/namespaces/{namespace}/create on its admin port) or \
         `turso db create`, or set MNEMOGRAPH_NAMESPACE to one that exists"
    )]
    NamespaceMissing { primary: String, namespace: String },

    /// A replica file found damaged was set aside, and a new copy could not be downloaded
    /// yet. Nothing is lost: the primary holds every memory and queued writes live in the
    /// outbox, a file of their own.
    #[error(
        "the replica file {path} is damaged and was set aside as {path}.damaged; a new copy \
         is downloaded from the primary as soon as it answers ({reason})"
    )]
    ReplicaDamaged { path: String, reason: String },
}

impl Error {
    /// Shorthand for a validation error on `field`.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// True for errors caused by the caller's input rather than by the store.
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self,
            Error::Database(_)
                | Error::Corrupt { .. }
                | Error::Io { .. }
                | Error::Task(_)
                | Error::Embed(_)
                | Error::PrimaryUnreachable { .. }
                | Error::PrimaryRefused { .. }
                | Error::NamespaceMissing { .. }
                | Error::ReplicaDamaged { .. }
        )
    }

    /// This error as [`Error::PrimaryUnreachable`] for `primary` when it is transient, saying
    /// what that means for the operation; any other error as it is.
    /// A refused token becomes [`Error::PrimaryRefused`], whatever the operation.
    pub fn via_primary(self, primary: &str, consequence: &'static str) -> Error {
        if let Some(reason) = self.token_refusal() {
            return Error::PrimaryRefused {
                primary: primary.to_owned(),
                reason,
            };
        }
        if self.is_transient() && !matches!(self, Error::PrimaryUnreachable { .. }) {
            Error::PrimaryUnreachable {
                primary: primary.to_owned(),
                reason: primary_reason(&self.to_string()),
                consequence,
            }
        } else {
            self
        }
    }

    /// The primary's words when it refused the token (or the token may not do this), trimmed
    /// to the status and message; `None` for any other error.
    ///
    /// libSQL reports these as text only: write forwarding and replication carry a gRPC status
    /// (`status: Unauthenticated, message: "…", …, metadata: …`), the HTTP API an HTTP status
    /// (`status=401 Unauthorized, body=…`), and sqld words a read-only token's write as
    /// "Not authorized to execute query".
    pub fn token_refusal(&self) -> Option<String> {
        let Error::Database(err) = self else {
            return match self {
                Error::PrimaryRefused { reason, .. } => Some(reason.clone()),
                _ => None,
            };
        };
        let text = err.to_string();
        let refused = ["status: Unauthenticated", "status: PermissionDenied"]
            .iter()
            .any(|code| text.contains(code))
            || ["status=401", "status=403"]
                .iter()
                .any(|s| text.contains(s))
            || AUTH_MESSAGES.iter().any(|m| text.contains(m));
        refused.then(|| primary_reason(&text))
    }

    /// True when the primary answered that the namespace asked for does not exist: the
    /// replication protocol's and the HTTP API's words for it, and what sqld answers a write
    /// forwarded to a missing namespace.
    pub fn is_missing_namespace(&self) -> bool {
        match self {
            Error::NamespaceMissing { .. } => true,
            Error::Database(err) => {
                let text = err.to_string();
                let lower = text.to_lowercase();
                text.contains("x-proxy-authorization not set")
                    || (lower.contains("namespace") && lower.contains("doesn't exist"))
            }
            _ => false,
        }
    }

    /// True when the primary answered and said no (a refused token, a missing namespace):
    /// waiting will not help, a setting must change.
    pub fn is_refused_by_primary(&self) -> bool {
        matches!(
            self,
            Error::PrimaryRefused { .. } | Error::NamespaceMissing { .. }
        )
    }

    /// True when a replica's sync gave up on its handshake with the primary: libSQL retries a
    /// refused or failed handshake and then reports only this, so the cause is unknown.
    pub fn is_handshake_timeout(&self) -> bool {
        matches!(self, Error::Database(libsql::Error::Replication(_)))
            && self.to_string().contains("Timeout performing handshake")
    }

    /// True when SQLite found a database file damaged (or not a database at all).
    pub fn is_corruption(&self) -> bool {
        let message = self.to_string();
        message.contains("malformed") || message.contains("not a database")
    }

    /// True when the primary could not be reached or did not answer: the operation may or
    /// may not have happened there, and can be retried (writes are idempotent).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::PrimaryUnreachable { .. } => true,
            _ if self.token_refusal().is_some() || self.is_missing_namespace() => false,
            // A replication error from applying frames to the local file (the injector) is
            // about this file, not the network.
            Error::Database(libsql::Error::Replication(e)) => !e.to_string().contains("Injector"),
            Error::Database(err) => matches!(
                err,
                libsql::Error::ConnectionFailed(_)
                    | libsql::Error::Hrana(_)
                    | libsql::Error::WriteDelegation(_)
                    | libsql::Error::Sync(_)
            ),
            _ => false,
        }
    }
}

/// sqld's words for a token it does not accept, or that may not do what was asked.
const AUTH_MESSAGES: &[&str] = &[
    "Not authorized to execute query",
    "Authorization forbidden",
    "Unauthorized",
    "authorization denied",
    "AUTH_JWT_",
];

/// An error from the primary in few words: a gRPC status (its code and message, without the
/// metadata: the response headers, hundreds of characters) or the text as it is.
fn primary_reason(text: &str) -> String {
    let Some(start) = text.find("status: ") else {
        return text.to_owned();
    };
    let status = &text[start + "status: ".len()..];
    let code = status.split(',').next().unwrap_or_default();
    let message = status
        .split_once("message: \"")
        .and_then(|(_, rest)| rest.split_once("\", details:"))
        .map(|(message, _)| message.replace("\\\"", "\""));
    match message {
        Some(message) if !message.is_empty() => format!("{code}: {message}"),
        _ => code.to_owned(),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grpc_status_loses_its_headers() {
        let text = "Write delegation: `status: PermissionDenied, message: \"Authorization \
                    forbidden: no write\", details: [], metadata: MetadataMap { headers: \
                    {\"content-type\": \"application/grpc\", \"date\": \"Sun\"} }`";
        assert_eq!(
            primary_reason(text),
            "PermissionDenied: Authorization forbidden: no write"
        );
        assert_eq!(primary_reason("connection refused"), "connection refused");
    }

    #[test]
    fn a_refused_token_is_never_transient() {
        let err = Error::Database(libsql::Error::WriteDelegation(
            "status: Unauthenticated, message: \"bad token\", details: [], metadata: {}".into(),
        ));
        assert_eq!(
            err.token_refusal().as_deref(),
            Some("Unauthenticated: bad token")
        );
        assert!(!err.is_transient());
        let refused = err.via_primary("http://p", "x");
        assert!(matches!(refused, Error::PrimaryRefused { .. }), "{refused}");
        assert!(refused.to_string().contains("MNEMOGRAPH_AUTH_TOKEN"));
    }
}
