//! [`Registry`]: the OCI Distribution v1.1 operations, independent of HTTP.
//!
//! Each operation takes parsed domain values and returns domain results or an
//! [`crate::Error`] kind; the transport does the HTTP parsing and rendering.

mod blobs;
mod listing;
mod manifests;
mod mirror;
mod size_limit;
mod uploads;

use std::sync::Arc;

pub use blobs::BlobRead;
pub use listing::Listing;
pub use manifests::PushedManifest;

use crate::blob::BlobStore;
use crate::store::MetadataStore;

/// The default of [`RegistryConfig::max_blob_size`]: 10 GiB.
pub const DEFAULT_MAX_BLOB_SIZE: u64 = 10 * 1024 * 1024 * 1024;

/// Limits and defaults of a [`Registry`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistryConfig {
    /// Largest manifest accepted, in bytes (default 4 MiB).
    pub max_manifest_size: u64,
    /// Largest page a tag or catalog listing returns (default 1000).
    pub max_page_size: usize,
    /// Largest blob an upload may create, in bytes (default 10 GiB); `None`
    /// means no limit. Checked against declared sizes before any byte is
    /// read and enforced while the bytes stream (see [`crate::Error::BlobTooLarge`]).
    pub max_blob_size: Option<u64>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            max_manifest_size: 4 * 1024 * 1024,
            max_page_size: 1000,
            max_blob_size: Some(DEFAULT_MAX_BLOB_SIZE),
        }
    }
}

impl RegistryConfig {
    /// Sets the manifest size limit.
    pub fn with_max_manifest_size(mut self, bytes: u64) -> Self {
        self.max_manifest_size = bytes;
        self
    }

    /// Sets the blob size limit of uploads (`None`: no limit).
    pub fn with_max_blob_size(mut self, bytes: Option<u64>) -> Self {
        self.max_blob_size = bytes;
        self
    }

    /// Sets the largest listing page.
    pub fn with_max_page_size(mut self, n: usize) -> Self {
        self.max_page_size = n;
        self
    }
}

/// An OCI registry over a metadata store and a blob store.
#[derive(Clone, Debug)]
pub struct Registry {
    store: Arc<dyn MetadataStore>,
    blobs: BlobStore,
    config: RegistryConfig,
}

impl Registry {
    /// Assembles a registry.
    pub fn new(store: Arc<dyn MetadataStore>, blobs: BlobStore, config: RegistryConfig) -> Self {
        Self {
            store,
            blobs,
            config,
        }
    }

    /// A registry entirely in memory (tests, demos).
    pub fn in_memory() -> Self {
        Self::new(
            Arc::new(crate::store::MemoryStore::new()),
            BlobStore::in_memory(),
            RegistryConfig::default(),
        )
    }

    /// The metadata store.
    pub fn store(&self) -> &Arc<dyn MetadataStore> {
        &self.store
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The limits in force.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }
}

pub(crate) use crate::time::now_ms;

#[cfg(test)]
mod tests;
