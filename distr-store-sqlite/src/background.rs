//! [`BackgroundWriter`]: one connection outside the pool for writes that can
//! wait (the download analytics batches), whose SQLite work runs at a lower
//! CPU priority so that it yields the cores to requests.
//!
//! SQLite does its work on the thread that calls it, and sqlx calls it from
//! one worker thread per connection, spawned when the connection is opened.
//! On Linux a thread's nice value is its own and a new thread inherits its
//! creator's, so the connection is opened from a short-lived thread that
//! first raises its own nice value: the worker thread it spawns, where every
//! statement of the connection runs, inherits it. Elsewhere (or if the nice
//! value cannot be changed) the connection works at normal priority.

use distr_core::{StoreError, StoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::Connection;
use tokio::sync::{oneshot, Mutex, MutexGuard};

/// Name prefix of the worker thread of a background connection, as `top -H`
/// and `/proc/<pid>/task/*/comm` show it (Linux keeps 15 bytes of a thread
/// name, hence short).
const WORKER_THREAD_NAME: &str = "analytics-db";

/// A lazily opened connection whose statements run at nice value `nice`.
pub(crate) struct BackgroundWriter {
    options: SqliteConnectOptions,
    nice: i32,
    conn: Mutex<Option<SqliteConnection>>,
}

impl BackgroundWriter {
    /// A writer to the database `options` open, at nice value `nice`
    /// (clamped to 0..=19: the priority is only ever lowered).
    pub(crate) fn new(options: SqliteConnectOptions, nice: i32) -> Self {
        let options = options.thread_name(|id| format!("{WORKER_THREAD_NAME}-{id}"));
        Self {
            options,
            nice: nice.clamp(0, 19),
            conn: Mutex::new(None),
        }
    }

    /// The connection, opened first if needed; held until the guard is
    /// dropped (writes through it are serialized).
    pub(crate) async fn lock(&self) -> StoreResult<WriterGuard<'_>> {
        let mut slot = self.conn.lock().await;
        if slot.is_none() {
            *slot = Some(connect_niced(self.options.clone(), self.nice).await?);
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

/// Opens a connection from a new thread at nice value `nice`, so that the
/// connection's worker thread (spawned by the open) inherits it.
async fn connect_niced(options: SqliteConnectOptions, nice: i32) -> StoreResult<SqliteConnection> {
    let runtime = tokio::runtime::Handle::current();
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("distr-sqlite-bg-open".to_owned())
        .spawn(move || {
            lower_thread_priority(nice);
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

/// Raises the calling thread's nice value to `nice` (0 to 19; never lowers
/// it: that needs privileges), for threads doing background work such as
/// writing download analytics. On Linux the nice value is the thread's own
/// and threads it starts inherit it; elsewhere on Unix it may apply to the
/// whole process. A failure is logged and the thread keeps its priority.
/// Does nothing on other systems.
#[cfg(unix)]
pub fn lower_thread_priority(nice: i32) {
    let nice = nice.clamp(0, 19);
    use rustix::process::{getpriority_process, setpriority_process};
    let current = getpriority_process(None).unwrap_or(0);
    if nice <= current {
        return;
    }
    if let Err(e) = setpriority_process(None, nice) {
        tracing::warn!(error = %e, nice, "cannot lower the priority of a background thread");
    }
}

/// Raises the calling thread's nice value (does nothing on this system).
#[cfg(not(unix))]
pub fn lower_thread_priority(_nice: i32) {}
