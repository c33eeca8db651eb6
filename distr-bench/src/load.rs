//! A load runner: N workers, each with its own keep-alive client, issue
//! requests until a time or request budget runs out; per-request latencies
//! are collected per worker and merged at the end.
//!
//! [`run`] is closed-loop: each worker sends its next request as soon as the
//! previous one is answered, which measures the highest rate the server
//! sustains. [`run_paced`] is open-loop: the workers share a fixed offered
//! rate, each sending on its own schedule whatever the server does, which
//! measures latency at a given load (below saturation) instead.
//!
//! With a time budget the run ends at the deadline: requests still in flight
//! then are abandoned ("cut"), their bytes received so far still count, so
//! throughput is measured over exactly the requested window and the run
//! never overshoots it by a whole (possibly long) request.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::task::JoinSet;

use super::client::{self as http, HttpClient};

/// Distinct error messages kept per worker (the rest are only counted).
const MAX_ERROR_KINDS: usize = 16;

/// When a run stops.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Stop after this much time, abandoning requests still in flight.
    pub duration: Option<Duration>,
    /// Start no more than this many requests in total.
    pub requests: Option<u64>,
    /// Stop early once this many requests have failed.
    pub max_errors: u64,
    /// Give up on (and count as failed) a request taking longer than this.
    pub request_timeout: Duration,
}

/// State shared by the workers of one run.
struct Shared {
    deadline: Option<Instant>,
    remaining: Option<AtomicU64>,
    errors: AtomicU64,
    max_errors: u64,
}

impl Shared {
    /// Claims the right to start one more request.
    fn take(&self) -> bool {
        if self.errors.load(Ordering::Relaxed) >= self.max_errors {
            return false;
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        match &self.remaining {
            Some(r) => r
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
            None => true,
        }
    }
}

/// What one worker saw.
#[derive(Debug, Default)]
struct WorkerStats {
    ok: u64,
    cut: u64,
    late: u64,
    latencies_ns: Vec<u64>,
    errors: BTreeMap<String, u64>,
    other_errors: u64,
}

impl WorkerStats {
    fn fail(&mut self, message: String, shared: &Shared) {
        shared.errors.fetch_add(1, Ordering::Relaxed);
        if self.errors.len() < MAX_ERROR_KINDS || self.errors.contains_key(&message) {
            *self.errors.entry(message).or_default() += 1;
        } else {
            self.other_errors += 1;
        }
    }
}

/// The merged result of a run.
#[derive(Debug)]
pub struct Outcome {
    /// Wall time from the start until the last worker finished.
    pub elapsed: Duration,
    /// Requests that succeeded.
    pub ok: u64,
    /// Requests that failed (bad status, transport error, bad body, timeout).
    pub errors: u64,
    /// Requests abandoned because the time budget ran out.
    pub cut: u64,
    /// Paced runs: requests sent more than [`LATE`] after they were due.
    pub late: u64,
    /// Body bytes received, including those of failed and cut requests.
    pub bytes: u64,
    /// Latencies of the successful requests in nanoseconds, sorted.
    pub latencies_ns: Vec<u64>,
    /// Failure messages with their counts (`"(other)"` for the overflow).
    pub error_kinds: BTreeMap<String, u64>,
    /// TCP connections the clients opened.
    pub connections: u64,
    /// True when the run stopped early because of `max_errors`.
    pub aborted: bool,
}

impl Outcome {
    /// The `p`-th percentile latency (nearest rank), if any request succeeded.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        let n = self.latencies_ns.len();
        if n == 0 {
            return None;
        }
        // Nearest rank: the smallest value with at least p% of samples <= it.
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        let idx = rank.clamp(1, n) - 1;
        Some(Duration::from_nanos(self.latencies_ns[idx]))
    }

    /// The mean latency of the successful requests.
    pub fn mean(&self) -> Option<Duration> {
        let n = self.latencies_ns.len() as u128;
        let sum: u128 = self.latencies_ns.iter().map(|&x| u128::from(x)).sum();
        (n > 0).then(|| Duration::from_nanos((sum / n) as u64))
    }

    /// Successful requests per second.
    pub fn requests_per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// Body bytes per second.
    pub fn bytes_per_sec(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64()
    }

    /// Prints the failures (if any) to stderr.
    pub fn report_errors(&self) {
        if self.errors == 0 {
            return;
        }
        eprintln!("{} request(s) failed:", self.errors);
        for (msg, n) in &self.error_kinds {
            eprintln!("  {n:>8} x {msg}");
        }
        if self.aborted {
            eprintln!("  (stopped early: too many errors)");
        }
    }
}

/// Counts the body bytes a worker receives, as they arrive.
pub type Progress = Arc<AtomicU64>;

/// Runs `workers` closed-loop workers, each with its own keep-alive client
/// (see [`http::client`]); `op` performs one request, adding body bytes to
/// the [`Progress`] counter as they arrive, and fails with a description of
/// what went wrong.
pub async fn run<F, Fut>(workers: usize, budget: Budget, op: F) -> anyhow::Result<Outcome>
where
    F: Fn(HttpClient, Progress) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    run_with(workers, budget, None, op).await
}

/// Like [`run`], but open-loop at `rate` requests per second in all:
/// worker `i` of `n` sends at `start + (i/n + k) * n/rate` for `k = 0, 1,
/// …`, sleeping until each time, or sending at once when behind (a request
/// answered later than the next one was due). Latencies are measured from
/// when each request was actually sent (a timer's lateness is not the
/// server's); [`Outcome::late`] counts requests sent more than
/// [`LATE`] after their time, which shows whether the rate was sustained.
pub async fn run_paced<F, Fut>(
    workers: usize,
    budget: Budget,
    rate: f64,
    op: F,
) -> anyhow::Result<Outcome>
where
    F: Fn(HttpClient, Progress) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    anyhow::ensure!(
        rate.is_finite() && rate > 0.0,
        "the rate must be a positive number of requests per second"
    );
    run_with(workers, budget, Some(rate), op).await
}

/// How late a paced request may start before it counts as late: more than
/// the timer's granularity and scheduling noise.
pub const LATE: Duration = Duration::from_millis(5);

/// When worker `index` of `workers` sends its requests at `rate` in all.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    next: Instant,
    interval: Duration,
}

impl Schedule {
    fn new(start: Instant, index: usize, workers: usize, rate: f64) -> Self {
        let interval = Duration::from_secs_f64(workers as f64 / rate);
        Self {
            next: start + interval.mul_f64(index as f64 / workers as f64),
            interval,
        }
    }

    /// The time the next request is due, advancing the schedule.
    fn advance(&mut self) -> Instant {
        let due = self.next;
        self.next += self.interval;
        due
    }
}

async fn run_with<F, Fut>(
    workers: usize,
    budget: Budget,
    rate: Option<f64>,
    op: F,
) -> anyhow::Result<Outcome>
where
    F: Fn(HttpClient, Progress) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let opened = Arc::new(AtomicU64::new(0));
    let op = Arc::new(op);
    let start = Instant::now();
    let shared = Arc::new(Shared {
        deadline: budget.duration.map(|d| start + d),
        remaining: budget.requests.map(AtomicU64::new),
        errors: AtomicU64::new(0),
        max_errors: budget.max_errors.max(1),
    });
    let mut set = JoinSet::new();
    for index in 0..workers {
        let mut schedule = rate.map(|r| Schedule::new(start, index, workers, r));
        let client = http::client(1, opened.clone());
        let op = op.clone();
        let shared = shared.clone();
        let timeout = budget.request_timeout;
        set.spawn(async move {
            let mut stats = WorkerStats {
                latencies_ns: Vec::with_capacity(4096),
                ..WorkerStats::default()
            };
            let progress = Progress::default();
            loop {
                if let Some(s) = &mut schedule {
                    let due = s.advance();
                    if shared.deadline.is_some_and(|d| due >= d) {
                        break;
                    }
                    tokio::time::sleep_until(due.into()).await;
                    if due.elapsed() > LATE {
                        stats.late += 1;
                    }
                }
                if !shared.take() {
                    break;
                }
                let t0 = Instant::now();
                let request = tokio::time::timeout(timeout, op(client.clone(), progress.clone()));
                let res = match shared.deadline {
                    Some(deadline) => tokio::select! {
                        res = request => Some(res),
                        () = tokio::time::sleep_until(deadline.into()) => None,
                    },
                    None => Some(request.await),
                };
                let dt = t0.elapsed();
                match res {
                    None => {
                        stats.cut += 1;
                        break;
                    }
                    Some(Ok(Ok(()))) => {
                        stats.ok += 1;
                        stats
                            .latencies_ns
                            .push(u64::try_from(dt.as_nanos()).unwrap_or(u64::MAX));
                    }
                    Some(Ok(Err(e))) => stats.fail(e, &shared),
                    Some(Err(_)) => stats.fail(format!("timed out after {timeout:?}"), &shared),
                }
            }
            (stats, progress.load(Ordering::Relaxed))
        });
    }
    let mut out = Outcome {
        elapsed: Duration::ZERO,
        ok: 0,
        errors: 0,
        cut: 0,
        late: 0,
        bytes: 0,
        latencies_ns: Vec::new(),
        error_kinds: BTreeMap::new(),
        connections: 0,
        aborted: false,
    };
    while let Some(joined) = set.join_next().await {
        let (stats, bytes) = joined.context("a load worker panicked")?;
        out.ok += stats.ok;
        out.cut += stats.cut;
        out.late += stats.late;
        out.bytes += bytes;
        out.latencies_ns.extend_from_slice(&stats.latencies_ns);
        for (msg, n) in stats.errors {
            out.errors += n;
            *out.error_kinds.entry(msg).or_default() += n;
        }
        if stats.other_errors > 0 {
            out.errors += stats.other_errors;
            *out.error_kinds.entry("(other)".to_owned()).or_default() += stats.other_errors;
        }
    }
    out.elapsed = start.elapsed();
    out.latencies_ns.sort_unstable();
    out.connections = opened.load(Ordering::Relaxed);
    out.aborted = out.errors >= shared.max_errors;
    Ok(out)
}

/// A duration for humans: `850 µs`, `12.34 ms`, `1.234 s`.
pub fn human(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 1_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else {
        format!("{:.3} s", ns as f64 / 1e9)
    }
}

/// A duration in milliseconds with three decimals (for `RESULT` lines).
pub fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "nan".to_owned(),
        |d| format!("{:.3}", d.as_secs_f64() * 1e3),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(lat: Vec<u64>) -> Outcome {
        Outcome {
            elapsed: Duration::from_secs(1),
            ok: lat.len() as u64,
            errors: 0,
            cut: 0,
            late: 0,
            bytes: 0,
            latencies_ns: lat,
            error_kinds: BTreeMap::new(),
            connections: 0,
            aborted: false,
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let o = outcome((1..=100).collect());
        assert_eq!(o.percentile(50.0), Some(Duration::from_nanos(50)));
        assert_eq!(o.percentile(99.0), Some(Duration::from_nanos(99)));
        assert_eq!(o.percentile(100.0), Some(Duration::from_nanos(100)));
        assert_eq!(o.percentile(0.0), Some(Duration::from_nanos(1)));
        assert_eq!(outcome(vec![]).percentile(50.0), None);
        assert_eq!(
            outcome(vec![7]).percentile(99.9),
            Some(Duration::from_nanos(7))
        );
    }

    #[test]
    fn paced_workers_interleave_at_the_rate() {
        let start = Instant::now();
        // 4 workers at 400/s: each every 10 ms, offset by 2.5 ms.
        let mut due: Vec<Duration> = (0..4)
            .flat_map(|i| {
                let mut s = Schedule::new(start, i, 4, 400.0);
                (0..3).map(move |_| s.advance() - start)
            })
            .collect();
        due.sort();
        let expected: Vec<Duration> = (0..12).map(|k| Duration::from_micros(2_500 * k)).collect();
        assert_eq!(due, expected);
    }
}
