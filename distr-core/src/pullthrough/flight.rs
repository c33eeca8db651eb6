//! [`Flights`]: at most one run of a piece of work per key, in its own task.
//!
//! Callers asking for a key whose work is running join it; the work runs in
//! a spawned task, so no caller (an HTTP request going away) can cancel it,
//! and leaves the map when it ends, whether anyone awaits it or not.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::future::{BoxFuture, Shared};
use futures::FutureExt;
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::upstream::UpstreamError;

/// The outcome of a run, shared by every caller that joined it.
pub(super) type SharedOutcome<T> = Shared<BoxFuture<'static, Result<T, Arc<Error>>>>;

type Runs<K, T> = Mutex<HashMap<K, (u64, SharedOutcome<T>)>>;

/// Runs in flight, by key.
pub(super) struct Flights<K, T: Clone> {
    runs: Arc<Runs<K, T>>,
    next_id: AtomicU64,
}

impl<K, T> Flights<K, T>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    pub(super) fn new() -> Self {
        Self {
            runs: Arc::new(Mutex::new(HashMap::new())),
            next_id: AtomicU64::new(0),
        }
    }

    /// Number of runs in flight.
    pub(super) fn len(&self) -> usize {
        lock(&self.runs).len()
    }

    /// True when work for `key` is running.
    pub(super) fn contains(&self, key: &K) -> bool {
        lock(&self.runs).contains_key(key)
    }

    /// Joins the run for `key`, or spawns `start()` as a new one. Returns
    /// whether an existing run was joined, and the run's outcome.
    pub(super) fn run(
        &self,
        key: K,
        start: impl FnOnce() -> BoxFuture<'static, Result<T>>,
    ) -> (bool, SharedOutcome<T>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            let e = Error::Upstream(UpstreamError::Unavailable(
                "no async runtime to run the work on".into(),
            ));
            return (
                false,
                futures::future::ready(Err(Arc::new(e))).boxed().shared(),
            );
        };
        let mut runs = lock(&self.runs);
        if let Some((_, outcome)) = runs.get(&key) {
            return (true, outcome.clone());
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let outcome: SharedOutcome<T> = async move {
            rx.await.unwrap_or_else(|_| {
                Err(Arc::new(Error::Upstream(UpstreamError::Unavailable(
                    "the work ended without an outcome".into(),
                ))))
            })
        }
        .boxed()
        .shared();
        runs.insert(key.clone(), (id, outcome.clone()));
        drop(runs);
        let done = Done {
            runs: Arc::clone(&self.runs),
            key,
            id,
        };
        let work = start();
        runtime.spawn(async move {
            let result = work.await.map_err(Arc::new);
            // Leave the map before publishing, so a caller that sees the
            // outcome and asks again starts a new run.
            drop(done);
            let _ = tx.send(result);
        });
        (false, outcome)
    }
}

/// Removes a run from the map when its task ends (or unwinds).
struct Done<K: Eq + Hash, T: Clone> {
    runs: Arc<Runs<K, T>>,
    key: K,
    id: u64,
}

impl<K: Eq + Hash, T: Clone> Drop for Done<K, T> {
    fn drop(&mut self) {
        let mut runs = lock(&self.runs);
        if runs.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
            runs.remove(&self.key);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
