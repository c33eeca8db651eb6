//! The writer task of a [`Recorder`](super::Recorder): batches items off the
//! queue and writes them, retrying failures with backoff.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::{mpsc, watch};

use super::wake::FullBatch;
use super::{Item, RecorderConfig, Stats};
use crate::analytics::event::sum_bytes;
use crate::analytics::store::DynAnalyticsStore;

/// Everything the writer task owns.
pub(super) struct Writer {
    pub(super) store: Arc<DynAnalyticsStore>,
    pub(super) config: RecorderConfig,
    pub(super) rx: mpsc::Receiver<Item>,
    pub(super) shutdown: watch::Receiver<bool>,
    /// Fired by the handles when the queue holds a full batch.
    pub(super) full: Arc<FullBatch>,
    pub(super) stats: Arc<Stats>,
    pub(super) done: watch::Sender<bool>,
}

/// Writes batches until the queue is closed (by a shutdown, or by every
/// handle going away) and drained, then reports being done.
///
/// The writer waits on the queue only while it is empty; with an item in
/// hand it sleeps until [`RecorderConfig::max_delay`] is up, the queue holds
/// a full batch or the recorder shuts down, then drains up to a batch
/// without waiting. So handles wake it once per batch, not once per item.
pub(super) async fn run(mut w: Writer) {
    // Once closing, the queue refuses new items and `recv` returns what is
    // left, then `None`: no more waiting for batches to fill.
    let mut closing = false;
    loop {
        let first = tokio::select! {
            item = w.rx.recv() => item,
            _ = w.shutdown.changed(), if !closing => {
                w.rx.close();
                closing = true;
                continue;
            }
        };
        let Some(first) = first else { break };
        // The shutdown sender is dropped with the last handle: `changed`
        // then fails at once, which also means closing.
        let max_batch = w.config.max_batch;
        if !closing && w.rx.len() + 1 < max_batch {
            let rx = &w.rx;
            closing = tokio::select! {
                () = tokio::time::sleep(w.config.max_delay) => false,
                () = w.full.wait(|| rx.len() + 1 >= max_batch) => false,
                _ = w.shutdown.changed() => true,
            };
            if closing {
                w.rx.close();
            }
        }
        let take = w.config.max_batch.min(w.rx.len() + 1);
        let mut batch = Vec::with_capacity(take);
        batch.push(first);
        while batch.len() < take {
            match w.rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        write(&w, batch).await;
    }
    w.done.send_replace(true);
}

/// Writes one batch, retrying with backoff; counts its items as written or,
/// after the last failed attempt, as lost. A panicking store counts as a
/// failed attempt.
async fn write(w: &Writer, batch: Vec<Item>) {
    let items = batch.len() as u64;
    let mut pulls = Vec::new();
    let mut bytes = Vec::new();
    for item in batch {
        match item {
            Item::Pull(p) => pulls.push(p),
            Item::Bytes(b) => bytes.push(b),
        }
    }
    let bytes = sum_bytes(&bytes);
    let mut delay = w.config.backoff;
    for attempt in 1..=w.config.max_attempts {
        let outcome = AssertUnwindSafe(w.store.record(&pulls, &bytes))
            .catch_unwind()
            .await;
        let error = match outcome {
            Ok(Ok(())) => {
                w.stats.written.fetch_add(items, Ordering::Relaxed);
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => "the analytics store panicked".to_owned(),
        };
        if attempt == w.config.max_attempts {
            tracing::error!(
                %error,
                attempts = attempt,
                items,
                "analytics: giving up on a batch; its pulls and bytes are lost"
            );
            w.stats.lost.fetch_add(items, Ordering::Relaxed);
            return;
        }
        tracing::warn!(%error, attempt, items, retry_in = ?delay, "analytics: writing a batch failed");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(w.config.max_backoff);
    }
}
