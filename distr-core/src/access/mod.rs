//! Tenancy and entitlements: the model ([`model`]), token secrets
//! ([`token`]), tag patterns ([`pattern`]), the [`AccessStore`] trait with an
//! in-memory implementation, and the entitlement evaluation ([`grants`]).

pub mod grants;
mod memory;
pub mod model;
pub mod pattern;
mod store;
pub mod token;

pub use grants::Grants;
pub use memory::MemoryAccessStore;
pub use model::*;
pub use pattern::TagPattern;
pub use store::{AccessStore, DynAccessStore};
pub use token::{PlainToken, TOKEN_PREFIX};
