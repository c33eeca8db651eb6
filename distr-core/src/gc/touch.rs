//! [`PullTouches`]: cheap last-pull bookkeeping for the read path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::ms;
use crate::digest::Digest;
use crate::store::MetadataStore;

/// Default [`PullTouches`] interval: a pull is recorded at most once a
/// minute per digest (and replica).
pub const DEFAULT_TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// Digests remembered before entries older than the interval are dropped.
const MAX_REMEMBERED: usize = 65_536;

/// Records blob pulls in the metadata store
/// ([`MetadataStore::touch_blob`]), at most once per interval per digest,
/// for least-recently-pulled eviction.
///
/// Call [`touch`](Self::touch) (or [`touch_later`](Self::touch_later),
/// which does not wait) whenever a blob of a mirrored repository is
/// served. Cheap to clone; clones share their memory of recent touches.
#[derive(Clone)]
pub struct PullTouches {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn MetadataStore>,
    interval_ms: i64,
    recent: Mutex<HashMap<Digest, i64>>,
}

impl std::fmt::Debug for PullTouches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullTouches")
            .field("interval_ms", &self.inner.interval_ms)
            .finish_non_exhaustive()
    }
}

impl PullTouches {
    /// Touches recorded in `store` every [`DEFAULT_TOUCH_INTERVAL`] at most.
    pub fn new(store: Arc<dyn MetadataStore>) -> Self {
        Self::with_interval(store, DEFAULT_TOUCH_INTERVAL)
    }

    /// Touches recorded in `store` every `interval` at most per digest.
    pub fn with_interval(store: Arc<dyn MetadataStore>, interval: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                interval_ms: ms(interval),
                recent: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// True (and remembered) when `digest` was not touched within the
    /// interval before `now_ms`, so a touch is due.
    fn due(&self, digest: &Digest, now_ms: i64) -> bool {
        let interval = self.inner.interval_ms;
        let mut recent = self.inner.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent
            .get(digest)
            .is_some_and(|&at| now_ms.saturating_sub(at) < interval)
        {
            return false;
        }
        if recent.len() >= MAX_REMEMBERED {
            recent.retain(|_, at| now_ms.saturating_sub(*at) < interval);
        }
        recent.insert(digest.clone(), now_ms);
        true
    }

    /// Records a pull of `digest` at `now_ms` unless one was recorded by
    /// this process within the interval. A store failure is logged and
    /// forgotten (the next pull after the interval tries again).
    pub async fn touch(&self, digest: &Digest, now_ms: i64) {
        if !self.due(digest, now_ms) {
            return;
        }
        if let Err(e) = self.inner.store.touch_blob(digest, now_ms).await {
            tracing::warn!(%digest, error = %e, "recording a blob pull failed");
            let mut recent = self.inner.recent.lock().unwrap_or_else(|e| e.into_inner());
            recent.remove(digest);
        }
    }

    /// [`touch`](Self::touch) in a spawned task, so that the read path
    /// never waits on the store; does nothing outside a Tokio runtime or
    /// when no touch is due.
    pub fn touch_later(&self, digest: &Digest, now_ms: i64) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self
            .inner
            .recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(digest)
            .is_some_and(|&at| now_ms.saturating_sub(at) < self.inner.interval_ms)
        {
            return;
        }
        let (this, digest) = (self.clone(), digest.clone());
        runtime.spawn(async move { this.touch(&digest, now_ms).await });
    }
}
