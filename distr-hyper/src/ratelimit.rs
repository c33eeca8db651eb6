//! Limits failed authentications per client address, so tokens cannot be
//! guessed at speed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The peer address of a request's connection. Servers insert it into the
/// request extensions (the `distr-server` example does); without it no
/// per-address limit applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// Addresses tracked before the table is cleared (bounds memory under a
/// spray of addresses).
const MAX_TRACKED: usize = 100_000;

/// Allows at most `max_failures` failed authentications per address within
/// a window; further attempts are refused until the window ends.
#[derive(Debug)]
pub(crate) struct FailedAuthLimiter {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Default for FailedAuthLimiter {
    fn default() -> Self {
        Self::new(20, Duration::from_secs(60))
    }
}

impl FailedAuthLimiter {
    pub(crate) fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` when `ip` has used up its failures.
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match failures.get(&ip) {
            Some(&(n, since)) if n >= self.max_failures && since.elapsed() < self.window => {
                Err((self.window - since.elapsed()).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed authentication from `ip`.
    pub(crate) fn record_failure(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, (_, since)| since.elapsed() < self.window);
            if failures.len() >= MAX_TRACKED {
                failures.clear();
            }
        }
        let entry = failures.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_budget_and_per_address() {
        let l = FailedAuthLimiter::new(3, Duration::from_millis(200));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            assert!(l.check(a).is_ok());
            l.record_failure(a);
        }
        assert!(l.check(a).is_err());
        assert!(l.check(b).is_ok());
        std::thread::sleep(Duration::from_millis(250));
        assert!(l.check(a).is_ok(), "the window ended");
    }
}
