//! `distr-store-sqlite`: a [`distr_core::MetadataStore`] and a
//! [`distr_core::access::AccessStore`] kept in an SQLite database.
//!
//! [`SqliteStore`] keeps repositories, blob links, manifests, tags and upload
//! sessions, and the tenancy model (organisations, customers, users, tokens,
//! artifacts, entitlements), in one database file (or in memory, for tests).
//! The schema lives in `migrations/` and is applied automatically when a store
//! is opened.
//!
//! ```no_run
//! # async fn demo() -> Result<(), distr_core::StoreError> {
//! let store = distr_store_sqlite::SqliteStore::open("/var/lib/distr/meta.db").await?;
//! # drop(store);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod access;
mod analytics;
mod background;
mod blobs;
mod claims;
mod codec;
mod gc;
mod manifests;
mod metadata;
mod priority;
mod refs;
mod repos;
mod store;
mod tags;
mod uploads;

pub use priority::{lower_thread_priority, BackgroundPriority, BadPriority};
pub use store::SqliteStore;
