//! Token buckets keyed by client (an access token, an address), with a
//! bounded number of keys. Time is passed in, so tests drive the clock.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

use super::Rate;

/// Slack for floating-point refills: a bucket this close to a whole token
/// has it.
const EPSILON: f64 = 1e-9;

/// One key's bucket: `tokens` requests available at `at`.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket per key: each key may make `rate.burst` requests at once
/// and `rate.per_second` a second on average.
///
/// At most `max_keys` keys are tracked: when a new key would exceed that,
/// keys whose bucket is full again (they are as good as new) are dropped,
/// and when every key is still draining, all are (memory stays bounded
/// under a spray of keys; the limit restarts for everyone).
#[derive(Debug)]
pub(crate) struct KeyedBuckets<K> {
    rate: Rate,
    max_keys: usize,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> KeyedBuckets<K> {
    /// Buckets of `rate`, for at most `max_keys` keys (at least 1).
    pub(crate) fn new(rate: Rate, max_keys: usize) -> Self {
        Self {
            rate,
            max_keys: max_keys.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `bucket` refilled up to `now`.
    fn refilled(&self, bucket: Bucket, now: Instant) -> Bucket {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        Bucket {
            tokens: (bucket.tokens + elapsed * self.rate.per_second).min(self.rate.burst()),
            at: now.max(bucket.at),
        }
    }

    /// Takes one request from `key`'s bucket at `now`. `Err(seconds)` when
    /// the bucket is empty: the whole seconds (at least 1) until a request
    /// is available again, for `Retry-After`.
    pub(crate) fn try_take(&self, key: &K, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let full = Bucket {
            tokens: self.rate.burst(),
            at: now,
        };
        let bucket = match buckets.get(key) {
            Some(b) => self.refilled(*b, now),
            None => {
                if buckets.len() >= self.max_keys {
                    buckets
                        .retain(|_, b| self.refilled(*b, now).tokens < self.rate.burst() - EPSILON);
                    if buckets.len() >= self.max_keys {
                        tracing::warn!(
                            keys = buckets.len(),
                            "rate limiter tracks too many clients; starting over"
                        );
                        buckets.clear();
                    }
                }
                full
            }
        };
        if bucket.tokens >= 1.0 - EPSILON {
            buckets.insert(
                key.clone(),
                Bucket {
                    tokens: (bucket.tokens - 1.0).max(0.0),
                    ..bucket
                },
            );
            Ok(())
        } else {
            buckets.insert(key.clone(), bucket);
            let wait = (1.0 - bucket.tokens) / self.rate.per_second;
            Err((wait.ceil() as u64).max(1))
        }
    }

    /// Keys tracked now.
    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn a_burst_then_the_rate() {
        let b = KeyedBuckets::new(Rate::new(2.0, 3).unwrap(), 10);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(b.try_take(&"a", t0), Ok(()));
        }
        // Empty: one request comes back every 500 ms.
        assert_eq!(b.try_take(&"a", t0), Err(1));
        assert_eq!(b.try_take(&"a", at(t0, 499)), Err(1));
        assert_eq!(b.try_take(&"a", at(t0, 500)), Ok(()));
        assert_eq!(b.try_take(&"a", at(t0, 600)), Err(1));
        assert_eq!(b.try_take(&"a", at(t0, 1000)), Ok(()));
        // Other keys have their own bucket.
        assert_eq!(b.try_take(&"b", at(t0, 1000)), Ok(()));
        // A long pause refills up to the burst, no more.
        let later = at(t0, 60_000);
        for _ in 0..3 {
            assert_eq!(b.try_take(&"a", later), Ok(()));
        }
        assert!(b.try_take(&"a", later).is_err());
    }

    #[test]
    fn retry_after_is_the_wait_for_one_request_rounded_up() {
        let b = KeyedBuckets::new(Rate::new(0.1, 1).unwrap(), 10);
        let t0 = Instant::now();
        assert_eq!(b.try_take(&1, t0), Ok(()));
        assert_eq!(b.try_take(&1, t0), Err(10));
        assert_eq!(b.try_take(&1, at(t0, 2_500)), Err(8));
        assert_eq!(b.try_take(&1, at(t0, 9_999)), Err(1));
        assert_eq!(b.try_take(&1, at(t0, 10_000)), Ok(()));
        // A clock that goes backwards never adds tokens nor panics.
        assert!(b.try_take(&1, t0).is_err());
    }

    #[test]
    fn keys_are_bounded_and_draining_keys_survive_eviction_of_idle_ones() {
        let b = KeyedBuckets::new(Rate::new(1.0, 2).unwrap(), 3);
        let t0 = Instant::now();
        // "hot" is drained; "idle1" and "idle2" took one token each.
        assert!(b.try_take(&"hot", t0).is_ok());
        assert!(b.try_take(&"hot", t0).is_ok());
        assert!(b.try_take(&"idle1", t0).is_ok());
        assert!(b.try_take(&"idle2", t0).is_ok());
        assert_eq!(b.tracked(), 3);
        // 1.5 s later the idle ones are full again, "hot" is not (it took
        // another token at 1 s).
        assert!(b.try_take(&"hot", at(t0, 1_000)).is_ok());
        assert!(b.try_take(&"new", at(t0, 1_500)).is_ok());
        assert_eq!(b.tracked(), 2, "idle keys dropped, hot and new kept");
        assert!(
            b.try_take(&"hot", at(t0, 1_500)).is_err(),
            "hot still limited"
        );
        // When every key is draining, the table starts over.
        assert!(b.try_take(&"x", at(t0, 1_500)).is_ok());
        assert!(b.try_take(&"y", at(t0, 1_500)).is_ok());
        assert!(b.tracked() <= 3);
    }
}
