//! The pull-through cache: serving blobs that are not cached yet from an
//! upstream while storing them.
//!
//! [`BlobFiller`] runs at most one upstream fetch per digest. The fetch (a
//! *fill*) runs in its own task, is hashed as it flows and is committed to
//! the [`BlobStore`](crate::BlobStore) only when the digest matches; every
//! concurrent caller reads the same fill. See [`fill`] for the memory bound.

pub mod fill;

pub use fill::{BlobFiller, FillRead, DEFAULT_FILL_WINDOW};
