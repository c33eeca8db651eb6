//! [`RecorderConfig`]: queue size, batching and retries of a
//! [`Recorder`](super::Recorder).

use std::time::Duration;

/// How a [`Recorder`](super::Recorder) queues, batches and retries.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecorderConfig {
    /// Items (pull events and byte counts) the queue holds; beyond that new
    /// items are dropped and counted. Default 10 000.
    pub capacity: usize,
    /// Most items written in one batch. Default 500.
    pub max_batch: usize,
    /// How long the writer lets a batch fill once it holds an item; it then
    /// writes what is queued (up to [`max_batch`](Self::max_batch)), or
    /// sooner when a full batch is queued. So a batch is written at most
    /// this long after the writer took its first item. Default 100 ms.
    pub max_delay: Duration,
    /// Attempts at writing one batch before its items are counted as lost.
    /// Default 5.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled before each further one, up to
    /// [`max_backoff`](Self::max_backoff). Default 100 ms.
    pub backoff: Duration,
    /// Longest wait between two attempts. Default 2 s.
    pub max_backoff: Duration,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            max_batch: 500,
            max_delay: Duration::from_millis(100),
            max_attempts: 5,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RecorderConfig {
    /// Sets [`capacity`](Self::capacity) (at least 1).
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Sets [`max_batch`](Self::max_batch) (at least 1).
    pub fn with_max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }

    /// Sets [`max_delay`](Self::max_delay).
    pub fn with_max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// Sets [`max_attempts`](Self::max_attempts) (at least 1).
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// Sets [`backoff`](Self::backoff) and [`max_backoff`](Self::max_backoff).
    pub fn with_backoff(mut self, backoff: Duration, max_backoff: Duration) -> Self {
        self.backoff = backoff;
        self.max_backoff = max_backoff.max(backoff);
        self
    }
}
