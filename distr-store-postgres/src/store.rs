//! [`PostgresStore`]: connecting to the database and running migrations.

use std::fmt;

use distr_core::{StoreError, StoreResult};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

/// Connections a store opened by [`PostgresStore::connect`] may hold.
const MAX_CONNECTIONS: u32 = 16;

/// The embedded schema migrations.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A [`distr_core::MetadataStore`] and [`distr_core::access::AccessStore`]
/// backed by PostgreSQL.
///
/// Cheap to share behind an `Arc`; it holds a connection pool. Every trait
/// method is one atomic statement or one `READ COMMITTED` transaction, so any
/// number of stores (in one process or in many registry replicas) can share a
/// database: metadata writes are idempotent upserts, and a write to the
/// tenancy model that collides with a unique key or refers to a missing
/// record fails with [`distr_core::StoreError::Conflict`], changing nothing.
///
/// The tables live in the first schema of the connections' `search_path`
/// (normally `public`); set it with `options=-c search_path=<schema>` in the
/// URL to keep several registries, or tests, apart in one database.
pub struct PostgresStore {
    pub(crate) pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host/db`,
    /// with any of the usual connection parameters) with a pool of up to 16
    /// connections, and brings its schema up to date.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect(url)
            .await
            .map_err(StoreError::backend)?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool (for custom TLS, timeouts or pool sizes) and
    /// brings the database's schema up to date.
    ///
    /// Concurrent migrations from several replicas are serialized by an
    /// advisory lock, so every replica may call this on start-up.
    pub async fn from_pool(pool: PgPool) -> StoreResult<Self> {
        MIGRATOR.run(&pool).await.map_err(StoreError::backend)?;
        tracing::debug!("connected to Postgres metadata store");
        Ok(Self { pool })
    }

    /// Closes every connection, waiting for operations in flight to finish.
    /// Later operations on this store fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a write transaction. The isolation level is set explicitly:
    /// the upserts rely on `READ COMMITTED` seeing rows that concurrent
    /// transactions committed while this one waited on them, whatever the
    /// database's default is.
    pub(crate) async fn write(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await
            .map_err(StoreError::backend)
    }
}

impl fmt::Debug for PostgresStore {
    /// Just the type name: the pool's options hold the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PostgresStore")
    }
}
