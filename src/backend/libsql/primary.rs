//! [`Primary`]: where a libSQL primary is and how to reach it, for the replica and remote
//! connections this backend opens. Configuration builds it; sync and the backend read it.

use crate::error::{Error, Result};
use crate::secret::Secret;

/// Where the primary is and how to reach it, for the replica and remote modes.
#[derive(Debug, Clone, PartialEq)]
pub struct Primary {
    /// The primary's URL for this namespace (`{namespace}` already substituted).
    pub url: String,
    /// Sent as a bearer token; never printed.
    pub auth_token: Option<Secret>,
    /// The sqld namespace to address (its `x-namespace` header), when the URL does not
    /// name a per-namespace database itself.
    pub namespace: Option<String>,
}

impl Primary {
    /// The token to send (empty when none is configured), for the one place that sends it.
    pub fn token(&self) -> String {
        self.auth_token
            .as_ref()
            .map(|t| t.expose().to_owned())
            .unwrap_or_default()
    }

    /// `err`, from an operation on this primary, as the caller should see it: a missing
    /// namespace named as such, a refused token or an outage said with `consequence` (see
    /// [`Error::via_primary`]), anything else as it is.
    pub fn explain(&self, err: Error, consequence: &'static str) -> Error {
        if err.is_missing_namespace() {
            return Error::NamespaceMissing {
                primary: self.display_url(),
                namespace: self
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".to_owned()),
            };
        }
        err.via_primary(&self.display_url(), consequence)
    }

    /// Asks the primary one trivial query over HTTP, with the token: the replication
    /// protocol retries a refused handshake until it reports only a timeout, so this is how
    /// a failed sync learns whether the primary is away or refuses the token.
    pub async fn probe(&self) -> Result<()> {
        let mut builder = libsql::Builder::new_remote(self.url.clone(), self.token());
        if let Some(namespace) = &self.namespace {
            builder = builder.namespace(namespace.clone());
        }
        let conn = builder.build().await?.connect()?;
        conn.query("SELECT 1", ()).await?;
        Ok(())
    }

    /// The URL for display and logs: without any user-info part, which could hold a secret.
    pub fn display_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// `url` without a `user:password@` part.
fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials_for_display() {
        assert_eq!(
            redact_url("https://user:s3cret@db.example.com/x"),
            "https://db.example.com/x"
        );
        assert_eq!(redact_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(redact_url("libsql://a@b@host"), "libsql://host");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
