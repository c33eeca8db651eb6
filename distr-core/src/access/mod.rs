//! Tenancy and entitlements: the model ([`model`]), token secrets
//! ([`token`]), tag patterns ([`pattern`]), the [`AccessStore`] trait with an
//! in-memory implementation, the entitlement evaluation ([`grants`]) and its
//! enforcement on repositories, tags, manifests and blobs ([`policy`]).

pub mod authn;
pub mod grants;
mod memory;
pub mod mode;
pub mod model;
pub mod names;
pub mod pattern;
pub mod policy;
pub mod secrets;
pub mod session;
mod store;
pub mod token;
mod version_cache;

pub use authn::TokenAuthenticator;
pub use grants::Grants;
pub use memory::MemoryAccessStore;
pub use mode::{AccessMode, AccessModeRecord, UnknownAccessMode};
pub use model::*;
pub use names::{is_valid_slug, normalize_email};
pub use pattern::TagPattern;
pub use policy::{Policy, Principal, RepoAccess};
pub use secrets::{KeyRing, SealingAccessStore, SecretKey};
pub use session::{Action, GrantedScope, SessionClaims, SessionKey, TooManyScopes, SESSION_TTL_MS};
pub use store::{AccessStore, DynAccessStore};
pub use token::{PlainToken, TOKEN_PREFIX};
pub use version_cache::VersionCachedAccessStore;
