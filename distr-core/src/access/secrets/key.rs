//! Master keys and the sealing of secrets with XChaCha20-Poly1305.

use std::fmt;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest as _, Sha256};

/// Prefix of every sealed value; values without it are legacy plaintext.
const PREFIX: &str = "distr-sealed:v1:";
/// Length of a key in bytes (256 bits).
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// Why a key or a sealed value is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    /// The key text is not 32 bytes in base64 or hex.
    #[error("a master key must be 32 bytes, written as base64 or 64 hex digits")]
    BadKey,
    /// No key of the key ring has this id.
    #[error("sealed with key {0}, which is not configured")]
    UnknownKey(String),
    /// The value is malformed, or was changed, or belongs to another record.
    #[error("sealed value is corrupt or was tampered with")]
    Corrupt,
    /// The random number generator failed.
    #[error("no randomness for a nonce")]
    Random,
}

/// A 256-bit master key. `Debug` shows its id only.
#[derive(Clone)]
pub struct SecretKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl SecretKey {
    /// The key with these bytes.
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        let digest = Sha256::digest(bytes);
        Self {
            // A public fingerprint naming the key in sealed values.
            id: hex::encode(&digest[..4]),
            cipher: XChaCha20Poly1305::new(bytes.into()),
        }
    }

    /// Parses a key written as standard base64 (44 characters) or 64 hex
    /// digits; surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let text = text.trim();
        let bytes = if text.len() == 2 * KEY_LEN {
            hex::decode(text).map_err(|_| SealError::BadKey)?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| SealError::BadKey)?
        };
        let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|_| SealError::BadKey)?;
        Ok(Self::from_bytes(&bytes))
    }

    /// A fresh random key and its base64 text (to store in a key file).
    pub fn generate() -> Result<(Self, String), SealError> {
        let mut bytes = [0u8; KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|_| SealError::Random)?;
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        Ok((Self::from_bytes(&bytes), text))
    }

    /// The key's public id (first bytes of its SHA-256, hex).
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.id)
    }
}

/// The current master key, which seals, and previous keys, which still
/// unseal (during a key rotation).
#[derive(Clone, Debug)]
pub struct KeyRing {
    current: SecretKey,
    previous: Vec<SecretKey>,
}

impl KeyRing {
    /// A ring sealing with `current` and also unsealing with `previous`.
    pub fn new(current: SecretKey, previous: Vec<SecretKey>) -> Self {
        Self { current, previous }
    }

    /// The sealing key.
    pub fn current(&self) -> &SecretKey {
        &self.current
    }

    /// Seals `plaintext` under the current key, bound to `context` (the
    /// record it belongs to: a sealed value copied to another record does
    /// not unseal).
    pub fn seal(&self, plaintext: &str, context: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| SealError::Random)?;
        let nonce_arr = XNonce::try_from(&nonce[..]).map_err(|_| SealError::Corrupt)?;
        let ct = self
            .current
            .cipher
            .encrypt(
                &nonce_arr,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context,
                },
            )
            .map_err(|_| SealError::Corrupt)?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        Ok(format!(
            "{PREFIX}{}:{}",
            self.current.id,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(blob)
        ))
    }

    /// True when `value` is sealed (by any key).
    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(PREFIX)
    }

    /// True when `value` is sealed by the current key.
    pub fn is_current(&self, value: &str) -> bool {
        value
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(id, _)| id == self.current.id)
    }

    /// The plaintext of a sealed `value`, checked against `context`. A value
    /// that is not sealed (stored before encryption was configured) is
    /// returned as it is.
    pub fn unseal(&self, value: &str, context: &[u8]) -> Result<String, SealError> {
        let Some(rest) = value.strip_prefix(PREFIX) else {
            return Ok(value.to_owned());
        };
        let (id, data) = rest.split_once(':').ok_or(SealError::Corrupt)?;
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or_else(|| SealError::UnknownKey(id.to_owned()))?;
        let blob = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| SealError::Corrupt)?;
        if blob.len() < NONCE_LEN {
            return Err(SealError::Corrupt);
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| SealError::Corrupt)?;
        let plain = key
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ct,
                    aad: context,
                },
            )
            .map_err(|_| SealError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| SealError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SecretKey {
        SecretKey::from_bytes(&[b; KEY_LEN])
    }

    #[test]
    fn seals_and_unseals_bound_to_context() {
        let ring = KeyRing::new(key(1), vec![]);
        let sealed = ring.seal("hunter2", b"artifact-a").unwrap();
        assert!(KeyRing::is_sealed(&sealed) && ring.is_current(&sealed));
        assert!(!sealed.contains("hunter2"));
        assert_ne!(
            sealed,
            ring.seal("hunter2", b"artifact-a").unwrap(),
            "fresh nonce"
        );
        assert_eq!(ring.unseal(&sealed, b"artifact-a").unwrap(), "hunter2");
        assert_eq!(ring.unseal(&sealed, b"artifact-b"), Err(SealError::Corrupt));
        let mut tampered = sealed.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(
            ring.unseal(&tampered, b"artifact-a"),
            Err(SealError::Corrupt)
        );
        assert_eq!(ring.unseal("legacy", b"x").unwrap(), "legacy");
    }

    #[test]
    fn rotation_unseals_with_previous_keys_only_when_configured() {
        let old = KeyRing::new(key(1), vec![]);
        let sealed = old.seal("s3cret", b"a").unwrap();
        let rotated = KeyRing::new(key(2), vec![key(1)]);
        assert!(!rotated.is_current(&sealed));
        assert_eq!(rotated.unseal(&sealed, b"a").unwrap(), "s3cret");
        let new_only = KeyRing::new(key(2), vec![]);
        assert!(matches!(
            new_only.unseal(&sealed, b"a"),
            Err(SealError::UnknownKey(_))
        ));
    }

    #[test]
    fn parses_keys_and_hides_them() {
        let (k, text) = SecretKey::generate().unwrap();
        assert_eq!(SecretKey::parse(&text).unwrap().id(), k.id());
        let hex_text = hex::encode([7u8; KEY_LEN]);
        assert_eq!(SecretKey::parse(&hex_text).unwrap().id(), key(7).id());
        assert_eq!(SecretKey::parse("short").unwrap_err(), SealError::BadKey);
        let dbg = format!("{:?}", key(9));
        assert!(dbg.starts_with("SecretKey(") && dbg.len() < 20, "{dbg}");
    }
}
