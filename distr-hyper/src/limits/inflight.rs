//! Counting requests in flight per key (concurrent uploads per token).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

type Counts<K> = Arc<Mutex<HashMap<K, u32>>>;

/// At most `max` requests in flight per key. Only keys with a request in
/// flight are tracked, so memory is bounded by the requests being served.
#[derive(Debug)]
pub(crate) struct InFlight<K> {
    max: u32,
    counts: Counts<K>,
}

/// One admitted request; leaving (dropping it) frees its place.
#[derive(Debug)]
pub(crate) struct InFlightGuard<K: Hash + Eq> {
    counts: Counts<K>,
    key: K,
}

impl<K: Hash + Eq + Clone> InFlight<K> {
    /// At most `max` (at least 1) concurrent requests per key.
    pub(crate) fn new(max: u32) -> Self {
        Self {
            max: max.max(1),
            counts: Arc::default(),
        }
    }

    /// Admits a request of `key`, unless `max` of its requests are in
    /// flight already.
    pub(crate) fn try_enter(&self, key: K) -> Option<InFlightGuard<K>> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(key.clone()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(InFlightGuard {
            counts: self.counts.clone(),
            key,
        })
    }

    /// Requests of `key` in flight now.
    #[cfg(test)]
    pub(crate) fn current(&self, key: &K) -> u32 {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(key).copied().unwrap_or(0)
    }
}

impl<K: Hash + Eq> Drop for InFlightGuard<K> {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_per_key_and_leaving_frees_a_place() {
        let f = InFlight::new(2);
        let a1 = f.try_enter("a").unwrap();
        let a2 = f.try_enter("a").unwrap();
        assert!(f.try_enter("a").is_none());
        let b = f.try_enter("b").unwrap();
        assert_eq!((f.current(&"a"), f.current(&"b")), (2, 1));
        drop(a1);
        let a3 = f.try_enter("a").unwrap();
        drop((a2, a3, b));
        assert_eq!(f.current(&"a"), 0);
        assert!(f.counts.lock().unwrap().is_empty(), "no idle keys kept");
    }
}
