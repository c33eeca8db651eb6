//! [`FullBatch`]: how request handles wake the writer early, when the
//! queue holds a full batch, without waking it for every item.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// A wake-up the writer arms while it lets a batch fill; handles that
/// find a full batch queued fire it (once per arming).
#[derive(Debug, Default)]
pub(crate) struct FullBatch {
    /// True while the writer sleeps on a filling batch.
    armed: AtomicBool,
    notify: Notify,
}

impl FullBatch {
    /// Called by a handle that found a full batch queued: a single atomic
    /// load unless the writer is asleep, which it then wakes.
    pub(crate) fn wake(&self) {
        if self.armed.load(Ordering::Relaxed) && self.armed.swap(false, Ordering::AcqRel) {
            self.notify.notify_one();
        }
    }

    /// Waits until [`wake`](Self::wake) is called, or `full` says at once
    /// that a full batch is already queued. `full` is checked after arming,
    /// so no wake-up is missed between the check and the wait.
    /// Disarmed when the wait ends or is given up (dropped).
    pub(crate) async fn wait(&self, full: impl FnOnce() -> bool) {
        self.armed.store(true, Ordering::Release);
        let _disarm = Disarm(&self.armed);
        if !full() {
            self.notify.notified().await;
        }
    }
}

/// Disarms a [`FullBatch`] when dropped.
struct Disarm<'a>(&'a AtomicBool);

impl Drop for Disarm<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}
