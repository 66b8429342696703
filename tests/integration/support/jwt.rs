//! Tokens for an sqld started with `--auth-jwt-key-file`: an Ed25519 key pair made in the
//! test, its public half in the file sqld reads (URL-safe base64 of the raw key, one of the
//! two formats sqld accepts), and JWTs (EdDSA) signed with it.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{Ed25519KeyPair, KeyPair};

/// An Ed25519 key that signs tokens.
pub struct Signer {
    pair: Ed25519KeyPair,
}

impl Signer {
    /// A key from a fixed `seed` (tests need no randomness: another seed is another key).
    pub fn from_seed(seed: u8) -> Signer {
        Signer {
            pair: Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).expect("an Ed25519 seed"),
        }
    }

    /// Writes the public key to `path` as sqld's `--auth-jwt-key-file` wants it.
    pub fn write_public_key(&self, path: &Path) {
        let key = URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref());
        std::fs::write(path, key).expect("write the JWT key file");
    }

    /// A token with access `access` (sqld's `a` claim: "rw" or "ro"), valid for an hour.
    pub fn token(&self, access: &str) -> String {
        self.token_expiring(access, 3600)
    }

    /// A read-write token that expired an hour ago.
    pub fn expired_token(&self) -> String {
        self.token_expiring("rw", -3600)
    }

    fn token_expiring(&self, access: &str, in_secs: i64) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","typ":"JWT"}"#);
        let claims = serde_json::json!({"a": access, "iat": now - 7200, "exp": now + in_secs});
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{claims}");
        let signature = URL_SAFE_NO_PAD.encode(self.pair.sign(signed.as_bytes()).as_ref());
        format!("{signed}.{signature}")
    }
}
