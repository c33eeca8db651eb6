//! [`BackgroundWriter`]: one connection outside the pool for writes that can
//! wait (the download analytics batches), whose SQLite work runs at a lower
//! CPU priority so that it yields the cores to requests.
//!
//! SQLite does its work on the thread that calls it, and sqlx calls it from
//! one worker thread per connection, spawned when the connection is opened.
//! On Linux a thread's scheduling policy and nice value are its own and a
//! new thread inherits its creator's, so the connection is opened from a
//! short-lived thread that first lowers its own priority: the worker thread
//! it spawns, where every statement of the connection runs, inherits it.
//! Elsewhere (or if the priority cannot be changed) the connection may work
//! at normal priority.

use distr_core::{StoreError, StoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::Connection;
use tokio::sync::{oneshot, Mutex, MutexGuard};

use crate::priority::{lower_thread_priority, BackgroundPriority};

/// Name prefix of the worker thread of a background connection, as `top -H`
/// and `/proc/<pid>/task/*/comm` show it (Linux keeps 15 bytes of a thread
/// name, hence short).
const WORKER_THREAD_NAME: &str = "analytics-db";

/// A lazily opened connection whose statements run at a lower priority.
pub(crate) struct BackgroundWriter {
    options: SqliteConnectOptions,
    priority: BackgroundPriority,
    conn: Mutex<Option<SqliteConnection>>,
}

impl BackgroundWriter {
    /// A writer to the database `options` open, at `priority`.
    pub(crate) fn new(options: SqliteConnectOptions, priority: BackgroundPriority) -> Self {
        let options = options.thread_name(|id| format!("{WORKER_THREAD_NAME}-{id}"));
        Self {
            options,
            priority,
            conn: Mutex::new(None),
        }
    }

    /// The connection, opened first if needed; held until the guard is
    /// dropped (writes through it are serialized).
    pub(crate) async fn lock(&self) -> StoreResult<WriterGuard<'_>> {
        let mut slot = self.conn.lock().await;
        if slot.is_none() {
            *slot = Some(connect_lowered(self.options.clone(), self.priority).await?);
        }
        Ok(WriterGuard { slot })
    }

    /// Closes the connection, if open.
    pub(crate) async fn close(&self) {
        if let Some(conn) = self.conn.lock().await.take() {
            if let Err(e) = conn.close().await {
                tracing::debug!(error = %e, "closing the background SQLite connection");
            }
        }
    }
}

/// Exclusive use of the open connection of a [`BackgroundWriter`].
pub(crate) struct WriterGuard<'a> {
    slot: MutexGuard<'a, Option<SqliteConnection>>,
}

impl WriterGuard<'_> {
    /// The connection.
    pub(crate) fn conn(&mut self) -> &mut SqliteConnection {
        self.slot
            .as_mut()
            .expect("a WriterGuard always holds an open connection")
    }

    /// Drops the connection (after a failure), so that the next
    /// [`BackgroundWriter::lock`] opens a fresh one.
    pub(crate) fn discard(mut self) {
        self.slot.take();
    }
}

/// Opens a connection from a new thread at `priority`, so that the
/// connection's worker thread (spawned by the open) inherits it.
async fn connect_lowered(
    options: SqliteConnectOptions,
    priority: BackgroundPriority,
) -> StoreResult<SqliteConnection> {
    let runtime = tokio::runtime::Handle::current();
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("distr-sqlite-bg-open".to_owned())
        .spawn(move || {
            lower_thread_priority(priority);
            let opened = runtime.block_on(SqliteConnection::connect_with(&options));
            // The receiver is gone only if the caller was cancelled; the
            // connection then closes as it drops.
            let _ = tx.send(opened);
        })
        .map_err(StoreError::backend)?;
    rx.await
        .map_err(|_| {
            StoreError::backend(std::io::Error::other(
                "the thread opening the background connection ended without an answer",
            ))
        })?
        .map_err(StoreError::backend)
}
