//! `distr-core`: the transport-agnostic heart of distr.
//!
//! It holds the domain types ([`RepoName`], [`Digest`], [`Reference`], …), the
//! [`MetadataStore`] trait with an in-memory implementation, the blob storage
//! on top of [`object_store`], and the OCI Distribution logic in [`Registry`].
//! Transports (see `distr-hyper`) parse HTTP and call into [`Registry`];
//! metadata backends (see `distr-store-sqlite`) implement [`MetadataStore`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod analytics;
pub mod blob;
pub mod digest;
pub mod error;
pub mod gc;
pub mod manifest;
pub mod name;
pub mod pullthrough;
pub mod range;
pub mod reference;
pub mod registry;
pub mod store;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod time;
pub mod upstream;

pub use blob::{BlobStore, ByteStream};
pub use digest::{Algorithm, Digest, Digester};
pub use error::{Error, Result, StoreError, StoreResult};
pub use name::RepoName;
pub use reference::{Reference, TagName};
pub use registry::{Registry, RegistryConfig};
pub use store::{DynMetadataStore, MetadataStore};
pub use time::now_ms;
