//! [`SqliteStore`]: opening the database and running migrations.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use distr_core::{StoreError, StoreResult};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::background::BackgroundWriter;
use crate::priority::BackgroundPriority;

/// How long a connection waits for SQLite's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections to a database file. SQLite serializes writers; in WAL mode
/// readers run alongside them.
const MAX_FILE_CONNECTIONS: u32 = 8;

/// Page cache of the analytics writer's connection (`PRAGMA cache_size`;
/// negative: KiB): 64 MiB, so that the pages its inserts touch in the
/// indexes stay cached instead of being read back from the file (SQLite's
/// default is 2 MiB).
const ANALYTICS_CACHE_SIZE: &str = "-65536";

/// The embedded schema migrations.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A [`distr_core::MetadataStore`] and [`distr_core::access::AccessStore`]
/// backed by SQLite, both in the same database.
///
/// Cheap to share behind an `Arc`; it holds a connection pool. Every trait
/// method is one atomic statement or one `BEGIN IMMEDIATE` transaction, so
/// concurrent writers queue on SQLite's write lock instead of failing.
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    /// The database file, or `None` for an in-memory store.
    path: Option<PathBuf>,
    /// The connection analytics batches are written through, when set by
    /// [`SqliteStore::with_background_analytics`]; else they use the pool.
    pub(crate) analytics_writer: Option<BackgroundWriter>,
}

impl SqliteStore {
    /// Opens (creating if missing, along with its parent directories) the
    /// database file at `path` and brings its schema up to date.
    ///
    /// The database uses WAL journaling, `synchronous = NORMAL`, enforced
    /// foreign keys and a busy timeout of a few seconds.
    pub async fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let path = path.as_ref().to_owned();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(StoreError::backend)?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_FILE_CONNECTIONS)
            .connect_with(file_options(&path))
            .await
            .map_err(StoreError::backend)?;
        migrate(&pool).await?;
        tracing::debug!(path = %path.display(), "opened SQLite metadata store");
        Ok(Self {
            pool,
            path: Some(path),
            analytics_writer: None,
        })
    }

    /// Writes download analytics batches ([`distr_core::analytics::
    /// AnalyticsStore::record`]) through a connection of their own, whose
    /// SQLite work runs at `priority` and keeps a larger page cache, so that
    /// recording yields the CPU to requests.
    /// Reads still use the pool. No effect on an in-memory store.
    ///
    /// Meant for a database that holds analytics only (`distr-server` keeps
    /// them in a file of their own): in a database shared with registry
    /// metadata, a batch held back by a busy CPU would hold SQLite's write
    /// lock, and every metadata write, longer.
    pub fn with_background_analytics(mut self, priority: BackgroundPriority) -> Self {
        if let Some(path) = &self.path {
            let options = file_options(path)
                .pragma("cache_size", ANALYTICS_CACHE_SIZE)
                .pragma("wal_autocheckpoint", "10000");
            self.analytics_writer = Some(BackgroundWriter::new(options, priority));
        }
        self
    }

    /// Opens a fresh, private in-memory database (for tests); everything is
    /// lost when the store is dropped.
    ///
    /// An in-memory database lives only as long as its connection, so the
    /// pool holds exactly one connection that never expires.
    pub async fn open_in_memory() -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(StoreError::backend)?;
        migrate(&pool).await?;
        Ok(Self {
            pool,
            path: None,
            analytics_writer: None,
        })
    }

    /// The database file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Closes every connection, waiting for operations in flight to finish.
    /// Later operations on this store fail.
    pub async fn close(&self) {
        if let Some(writer) = &self.analytics_writer {
            writer.close().await;
        }
        self.pool.close().await;
    }

    /// Starts a transaction that takes the write lock up front, so that a
    /// read-modify-write never fails on upgrading a read lock (waiting on the
    /// busy timeout instead).
    pub(crate) async fn write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::backend)
    }
}

/// How connections to the database file at `path` are opened: WAL, normal
/// synchronous mode (durable at checkpoints, consistent always), foreign
/// keys, a busy timeout.
fn file_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
}

async fn migrate(pool: &SqlitePool) -> StoreResult<()> {
    MIGRATOR.run(pool).await.map_err(StoreError::backend)
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("SqliteStore");
        match &self.path {
            Some(path) => s.field("path", path),
            None => s.field("path", &format_args!(":memory:")),
        };
        s.finish()
    }
}
