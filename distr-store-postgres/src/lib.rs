//! `distr-store-postgres`: a [`distr_core::MetadataStore`] and a
//! [`distr_core::access::AccessStore`] kept in a PostgreSQL database.
//!
//! [`PostgresStore`] keeps repositories, blob links, manifests, tags and upload
//! sessions, and the tenancy model (organisations, customers, users, tokens,
//! artifacts and entitlements), in a handful of tables of one database,
//! shareable by any number of registry replicas. The schema lives in
//! `migrations/` and is applied automatically when a store is connected.
//!
//! ```no_run
//! # async fn demo() -> Result<(), distr_core::StoreError> {
//! let store =
//!     distr_store_postgres::PostgresStore::connect("postgres://distr@db.internal/distr").await?;
//! # drop(store);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod access;
mod analytics;
mod blobs;
mod claims;
mod codec;
mod gc;
mod manifests;
mod metadata;
mod refs;
mod repos;
mod store;
mod tags;
mod uploads;

pub use store::PostgresStore;
