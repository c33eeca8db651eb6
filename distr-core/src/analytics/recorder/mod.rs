//! [`Recorder`]: records pulls and bytes served without ever slowing or
//! failing the request that caused them.

mod config;
#[cfg(test)]
mod tests;
mod wake;
mod writer;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

pub use config::RecorderConfig;

use super::event::{cap_user_agent, BytesServed, PullEvent};
use super::store::DynAnalyticsStore;

/// An item on the queue.
pub(crate) enum Item {
    Pull(PullEvent),
    Bytes(BytesServed),
}

/// Counters shared by the handles and the writer.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) dropped: AtomicU64,
    pub(crate) written: AtomicU64,
    pub(crate) lost: AtomicU64,
}

/// State shared by every clone of a [`Recorder`].
struct Shared {
    stats: Arc<Stats>,
    /// Queue depth at which the writer is woken before its delay is up.
    max_batch: usize,
    /// Wakes the writer early when the queue holds a full batch.
    full: Arc<wake::FullBatch>,
    /// Set to `true` to ask the writer to drain the queue and stop.
    shutdown: watch::Sender<bool>,
    /// Becomes `true` when the writer has written its last batch.
    done: watch::Receiver<bool>,
}

/// A point-in-time copy of a [`Recorder`]'s counters, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecorderStats {
    /// Items waiting in the queue.
    pub queued: u64,
    /// Items refused because the queue was full or the recorder shut down.
    pub dropped: u64,
    /// Items written to the store.
    pub written: u64,
    /// Items given up on after every attempt at writing them failed.
    pub lost: u64,
}

/// A cheap-to-clone handle on the analytics queue and its writer task.
///
/// Handles put items on a bounded queue with `try_send`: a full queue drops
/// the item and counts it ([`Recorder::dropped`]), it never waits. One writer
/// task takes items off the queue in batches and writes each batch with one
/// [`AnalyticsStore::record`](super::AnalyticsStore::record) call: once it
/// has an item, it sleeps for [`RecorderConfig::max_delay`] (or until the
/// queue holds [`RecorderConfig::max_batch`] items), then takes up to
/// `max_batch` items at once. So a request never wakes the writer, except
/// the first after an idle spell and one filling a batch: recording costs a
/// request a few atomic operations, and the writer wakes once per batch,
/// not once per item. A failed
/// write is retried with exponential backoff, then its items are logged and
/// counted as lost ([`Recorder::lost`]). [`Recorder::shutdown`] stops
/// accepting items, writes everything accepted before, and waits for the
/// writer: nothing accepted is lost on a graceful shutdown (short of the
/// store failing every attempt).
///
/// The writer stops after [`shutdown`](Self::shutdown), or once every handle
/// is dropped (having written what was queued).
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Item>,
    shared: Arc<Shared>,
}

impl Recorder {
    /// Starts the writer task on the current Tokio runtime (so this must be
    /// called within one) and returns the first handle.
    pub fn start(store: Arc<DynAnalyticsStore>, config: RecorderConfig) -> Recorder {
        let config = config
            .clone()
            .with_capacity(config.capacity)
            .with_max_batch(config.max_batch)
            .with_max_attempts(config.max_attempts);
        let (tx, rx) = mpsc::channel(config.capacity);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (done_tx, done) = watch::channel(false);
        let stats = Arc::new(Stats::default());
        let full = Arc::new(wake::FullBatch::default());
        let max_batch = config.max_batch;
        tokio::spawn(writer::run(writer::Writer {
            store,
            config,
            rx,
            shutdown: shutdown_rx,
            full: full.clone(),
            stats: stats.clone(),
            done: done_tx,
        }));
        Recorder {
            tx,
            shared: Arc::new(Shared {
                stats,
                max_batch,
                full,
                shutdown,
                done,
            }),
        }
    }

    /// Queues a pull event (its user agent cut to
    /// [`USER_AGENT_MAX_CHARS`](super::USER_AGENT_MAX_CHARS)). Never waits;
    /// returns false, counting the event as dropped, when the queue is full
    /// or the recorder shut down.
    pub fn record_pull(&self, mut event: PullEvent) -> bool {
        if let Some(ua) = &mut event.user_agent {
            let capped = cap_user_agent(ua).len();
            ua.truncate(capped);
        }
        self.send(Item::Pull(event))
    }

    /// Queues bytes served. Never waits; returns false, counting the item as
    /// dropped, when the queue is full or the recorder shut down.
    pub fn record_bytes(&self, bytes: BytesServed) -> bool {
        self.send(Item::Bytes(bytes))
    }

    fn send(&self, item: Item) -> bool {
        if self.tx.try_send(item).is_err() {
            self.shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        if self.tx.max_capacity() - self.tx.capacity() >= self.shared.max_batch {
            self.shared.full.wake();
        }
        true
    }

    /// Items waiting in the queue.
    pub fn queue_depth(&self) -> u64 {
        (self.tx.max_capacity() - self.tx.capacity()) as u64
    }

    /// Items refused so far because the queue was full or the recorder shut
    /// down.
    pub fn dropped(&self) -> u64 {
        self.shared.stats.dropped.load(Ordering::Relaxed)
    }

    /// Items written to the store so far.
    pub fn written(&self) -> u64 {
        self.shared.stats.written.load(Ordering::Relaxed)
    }

    /// Items given up on so far, after every attempt at writing them failed.
    pub fn lost(&self) -> u64 {
        self.shared.stats.lost.load(Ordering::Relaxed)
    }

    /// All counters at once.
    pub fn stats(&self) -> RecorderStats {
        RecorderStats {
            queued: self.queue_depth(),
            dropped: self.dropped(),
            written: self.written(),
            lost: self.lost(),
        }
    }

    /// Stops accepting items (from every handle: later ones count as
    /// dropped), writes everything accepted before, and returns when the
    /// writer has finished. Calling it from several handles is fine: each
    /// call returns once the writer has finished.
    pub async fn shutdown(self) {
        self.shared.shutdown.send_replace(true);
        let mut done = self.shared.done.clone();
        // An error means the writer is gone, which is what we wait for.
        let _ = done.wait_for(|finished| *finished).await;
    }
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("stats", &self.stats())
            .finish()
    }
}
