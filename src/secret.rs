//! [`Secret`]: an API key or auth token that must never be printed or logged.
//!
//! Its own module because both the embedders (an API key) and the libSQL backend (the
//! primary's token) hold one, and neither should depend on the other to get it.

use std::fmt;

/// A secret string. `Debug` shows a placeholder; only [`Secret::expose`] gives the value, for
/// the one place that sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("sk-secret");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(secret.expose(), "sk-secret");
    }
}
