//! Running a job on a cron schedule (the upstream tag sync).
//!
//! Expressions have five fields (`minute hour day-of-month month
//! day-of-week`, UTC), parsed by the `croner` crate; an optional sixth,
//! leading field gives seconds.

use std::future::Future;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use chrono::{DateTime, Utc};
use croner::Cron;

/// The default upstream sync schedule: twice an hour.
pub const DEFAULT_SYNC_CRON: &str = "15,45 * * * *";

/// Parses a cron expression; an empty (or blank) one means "never" (`None`).
pub fn parse_cron(expr: &str) -> anyhow::Result<Option<Cron>> {
    let expr = expr.trim();
    if expr.is_empty() {
        return Ok(None);
    }
    Cron::from_str(expr)
        .map(Some)
        .with_context(|| format!("invalid cron expression {expr:?}"))
}

/// The schedule's next time after `now` and how long until then; `None`
/// when it has none.
pub fn next_time(cron: &Cron, now: SystemTime) -> Option<(SystemTime, Duration)> {
    let now_utc: DateTime<Utc> = now.into();
    let next = cron.find_next_occurrence(&now_utc, false).ok()?;
    let wait = (next - now_utc).to_std().unwrap_or(Duration::ZERO);
    Some((now + wait, wait))
}

/// How long from `now` until the schedule's next time; `None` when it has none.
pub fn until_next(cron: &Cron, now: SystemTime) -> Option<Duration> {
    next_time(cron, now).map(|(_, wait)| wait)
}

/// Runs `job` at every time `cron` names until `shutdown` resolves, passing
/// the scheduled time (the same on every replica, so replicas can agree on
/// who runs it, see `RunClaims`). Runs never overlap: a run that outlasts
/// the next time skips it. A job still running at shutdown is dropped (the
/// sync it started keeps its own task).
pub async fn run_on_schedule<F, Fut>(cron: Cron, mut job: F, shutdown: impl Future<Output = ()>)
where
    F: FnMut(SystemTime) -> Fut,
    Fut: Future<Output = ()>,
{
    tokio::pin!(shutdown);
    loop {
        let Some((at, wait)) = next_time(&cron, SystemTime::now()) else {
            tracing::warn!(schedule = %cron, "the schedule names no future time; stopping it");
            return;
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = &mut shutdown => return,
        }
        tokio::select! {
            () = job(at) => {}
            () = &mut shutdown => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_five_fields_and_empty() {
        assert!(parse_cron("").unwrap().is_none());
        assert!(parse_cron("   ").unwrap().is_none());
        assert!(parse_cron(DEFAULT_SYNC_CRON).unwrap().is_some());
        assert!(parse_cron("61 * * * *").is_err());
        assert!(parse_cron("every hour").is_err());
    }

    #[test]
    fn next_time_of_the_default_schedule() {
        let cron = parse_cron(DEFAULT_SYNC_CRON).unwrap().unwrap();
        // 2026-11-23 10:20:00 UTC → next run at 10:45:00.
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_429_200);
        let at: DateTime<Utc> = t.into();
        assert_eq!(at.to_rfc3339(), "2026-11-23T10:20:00+00:00");
        assert_eq!(until_next(&cron, t), Some(Duration::from_secs(25 * 60)));
        // Exactly on a run time, the next one is half an hour later.
        let on = t + Duration::from_secs(25 * 60);
        assert_eq!(until_next(&cron, on), Some(Duration::from_secs(30 * 60)));
    }

    #[tokio::test]
    async fn runs_on_schedule_until_shutdown() {
        let cron = parse_cron("* * * * * *").unwrap().unwrap();
        let runs = std::sync::atomic::AtomicUsize::new(0);
        let shutdown = tokio::time::sleep(Duration::from_millis(2500));
        run_on_schedule(
            cron,
            |at| {
                assert_eq!(
                    at.duration_since(SystemTime::UNIX_EPOCH)
                        .unwrap()
                        .subsec_nanos(),
                    0,
                    "scheduled times are whole seconds"
                );
                runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async {}
            },
            shutdown,
        )
        .await;
        // Every second for 2.5 s: one or two runs per elapsed second boundary.
        let n = runs.load(std::sync::atomic::Ordering::SeqCst);
        assert!((1..=3).contains(&n), "{n} runs");
    }
}
