//! Upstream credentials at rest: sealed with XChaCha20-Poly1305 under a
//! master key ([`KeyRing`]) by the [`SealingAccessStore`] decorator, so the
//! database never holds them in clear.

mod key;
mod store;

pub use key::{KeyRing, SealError, SecretKey, KEY_LEN};
pub use store::SealingAccessStore;
