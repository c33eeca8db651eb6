//! Personal access tokens: generation and hashing. The secret is shown once;
//! only its SHA-256 is stored.

use std::fmt;

use crate::digest::Digest;

/// Prefix of every distr token, so leaked tokens are recognisable by scanners.
pub const TOKEN_PREFIX: &str = "distr_";

/// A token secret in clear. Never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainToken(String);

impl PlainToken {
    /// A fresh token: the prefix and 32 random bytes in hex.
    pub fn generate() -> Result<PlainToken, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(PlainToken(format!("{TOKEN_PREFIX}{}", hex::encode(bytes))))
    }

    /// Wraps a secret presented by a client (or configured for bootstrap).
    pub fn from_secret(secret: impl Into<String>) -> PlainToken {
        PlainToken(secret.into())
    }

    /// The secret, to show once or to send.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash stored in place of the secret.
    pub fn hash(&self) -> String {
        Digest::sha256(self.0.as_bytes()).hex().to_owned()
    }
}

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hidden() {
        let a = PlainToken::generate().unwrap();
        let b = PlainToken::generate().unwrap();
        assert_ne!(a, b);
        assert!(a.expose().starts_with(TOKEN_PREFIX));
        assert_eq!(a.expose().len(), TOKEN_PREFIX.len() + 64);
        assert_eq!(a.hash(), PlainToken::from_secret(a.expose()).hash());
        assert_ne!(a.hash(), b.hash());
        assert!(!format!("{a:?}").contains(a.expose()));
        assert!(!a.hash().contains(a.expose()));
    }
}
