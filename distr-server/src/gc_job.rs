//! The garbage-collection job of `distr-server`: scheduled on a cron,
//! claimed by one replica per run, and runnable on demand with
//! `distr-server gc`.
//!
//! Settings come from the environment:
//!
//! - `DISTR_GC_CRON`: when to collect (default `0 3 * * *`, daily at 03:00
//!   UTC; empty disables the schedule).
//! - `DISTR_GC_GRACE`: how long a blob must stay unreferenced before it is
//!   deleted (default `24h`; `s`, `m`, `h` and `d` suffixes, plain numbers
//!   are seconds).
//! - `DISTR_GC_UPLOAD_TTL`: age after which upload sessions are abandoned
//!   (default `24h`).
//! - `DISTR_CACHE_MAX_BYTES`: high watermark of the pull-through cache
//!   (default none: no eviction; `k`, `m`, `g`, `t` binary suffixes).
//! - `DISTR_CACHE_LOW_BYTES`: low watermark (default 90 % of the maximum).
//!
//! See `distr_core::gc` for what is deleted when, and why it is safe while
//! replicas serve.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use croner::Cron;
use distr_core::gc::{
    EvictionConfig, EvictionReport, GarbageCollector, GcConfig, GcReport, InFlightCheck,
    MirroredRepos,
};

use crate::config::Stores;
use crate::schedule::{parse_cron, run_on_schedule};

/// The run-claim name of the scheduled collection.
pub const GC_JOB: &str = "gc";
/// The default schedule: daily at 03:00 UTC.
pub const DEFAULT_GC_CRON: &str = "0 3 * * *";

/// Garbage-collection settings (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct GcSettings {
    /// When to collect; `None` disables the schedule.
    pub cron: Option<Cron>,
    /// Grace period and upload TTL.
    pub config: GcConfig,
    /// Watermarks of the pull-through cache; `None` disables eviction.
    pub eviction: Option<EvictionConfig>,
}

impl GcSettings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the settings through `var` (an environment lookup).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let cron = parse_cron(&var("DISTR_GC_CRON").unwrap_or_else(|| DEFAULT_GC_CRON.into()))
            .context("DISTR_GC_CRON")?;
        let mut config = GcConfig::default();
        if let Some(v) = var("DISTR_GC_GRACE") {
            config = config.with_grace(parse_duration(&v).context("DISTR_GC_GRACE")?);
        }
        if let Some(v) = var("DISTR_GC_UPLOAD_TTL") {
            config = config.with_upload_ttl(parse_duration(&v).context("DISTR_GC_UPLOAD_TTL")?);
        }
        let max = var("DISTR_CACHE_MAX_BYTES")
            .filter(|v| !v.trim().is_empty())
            .map(|v| parse_bytes(&v).context("DISTR_CACHE_MAX_BYTES"))
            .transpose()?;
        let eviction = match max {
            None => None,
            Some(high) => {
                let low = match var("DISTR_CACHE_LOW_BYTES").filter(|v| !v.trim().is_empty()) {
                    Some(v) => parse_bytes(&v).context("DISTR_CACHE_LOW_BYTES")?,
                    None => high / 10 * 9,
                };
                anyhow::ensure!(
                    low <= high,
                    "DISTR_CACHE_LOW_BYTES ({low}) exceeds DISTR_CACHE_MAX_BYTES ({high})"
                );
                Some(EvictionConfig::new(high, low))
            }
        };
        Ok(Self {
            cron,
            config,
            eviction,
        })
    }
}

/// Parses `90`, `90s`, `15m`, `24h` or `7d`.
pub fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number
        .parse()
        .with_context(|| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => anyhow::bail!("invalid duration unit in {s:?} (use s, m, h or d)"),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

/// Parses `1048576`, `512k`, `100m`, `20g` or `1t` (binary multiples).
pub fn parse_bytes(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number
        .parse()
        .with_context(|| format!("invalid size {s:?}"))?;
    let shift = match unit
        .to_ascii_lowercase()
        .trim_end_matches("ib")
        .trim_end_matches('b')
    {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => anyhow::bail!("invalid size unit in {s:?} (use k, m, g or t)"),
    };
    n.checked_mul(1 << shift)
        .with_context(|| format!("size {s:?} is too large"))
}

/// One collection (and eviction, when configured) at `now_ms`.
/// `in_flight` protects blobs being filled from eviction.
pub async fn run_once(
    stores: &Stores,
    settings: &GcSettings,
    in_flight: Option<InFlightCheck>,
    now_ms: i64,
) -> anyhow::Result<(GcReport, Option<EvictionReport>)> {
    let mut gc = GarbageCollector::new(
        stores.meta.clone(),
        stores.registry.blobs().clone(),
        settings.config.clone(),
    );
    if let Some(check) = in_flight {
        gc = gc.with_in_flight(check);
    }
    let report = gc.run(now_ms).await.context("garbage collection")?;
    let evicted = match &settings.eviction {
        None => None,
        Some(policy) => {
            let mirrored = MirroredRepos::from_access(stores.access.as_ref())
                .await
                .context("listing mirrored repositories")?;
            Some(
                gc.evict(&mirrored, policy, now_ms)
                    .await
                    .context("pull-through cache eviction")?,
            )
        }
    };
    Ok((report, evicted))
}

/// Schedules the collection on `settings.cron`, each run claimed through
/// `stores.claims` by `holder` so that one replica runs it. `None` when
/// the schedule is disabled.
pub fn spawn(
    stores: &Stores,
    settings: GcSettings,
    in_flight: Option<InFlightCheck>,
    holder: String,
) -> Option<tokio::task::JoinHandle<()>> {
    let cron = settings.cron.clone()?;
    tracing::info!(schedule = %cron, grace = ?settings.config.grace, eviction = ?settings.eviction, "garbage collection scheduled");
    let stores = stores.clone();
    let settings = Arc::new(settings);
    Some(tokio::spawn(run_on_schedule(
        cron,
        move |at| {
            let (stores, settings) = (stores.clone(), settings.clone());
            let (in_flight, holder) = (in_flight.clone(), holder.clone());
            async move { scheduled(&stores, &settings, in_flight, &holder, at).await }
        },
        std::future::pending(),
    )))
}

/// One scheduled run, if this replica claims it.
async fn scheduled(
    stores: &Stores,
    settings: &GcSettings,
    in_flight: Option<InFlightCheck>,
    holder: &str,
    at: SystemTime,
) {
    let at_ms = at
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    match stores.claims.claim_run(GC_JOB, at_ms, holder).await {
        Ok(true) => {
            if let Err(e) = run_once(stores, settings, in_flight, crate::now_ms()).await {
                tracing::warn!(error = %format!("{e:#}"), "scheduled garbage collection failed");
            }
        }
        Ok(false) => tracing::debug!("scheduled garbage collection claimed by another replica"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot claim the scheduled garbage collection; skipped")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_and_parse() {
        let none = GcSettings::from_lookup(|_| None).unwrap();
        assert!(none.cron.is_some());
        assert_eq!(none.config, GcConfig::default());
        assert!(none.eviction.is_none());

        let set = GcSettings::from_lookup(|k| {
            match k {
                "DISTR_GC_CRON" => Some(""),
                "DISTR_GC_GRACE" => Some("90s"),
                "DISTR_CACHE_MAX_BYTES" => Some("10g"),
                _ => None,
            }
            .map(str::to_owned)
        })
        .unwrap();
        assert!(set.cron.is_none());
        assert_eq!(set.config.grace, Duration::from_secs(90));
        let eviction = set.eviction.unwrap();
        assert_eq!(eviction.high_bytes, 10 << 30);
        assert_eq!(eviction.low_bytes, (10u64 << 30) / 10 * 9);

        assert!(
            GcSettings::from_lookup(|k| (k == "DISTR_GC_GRACE").then(|| "soon".into())).is_err()
        );
        assert!(GcSettings::from_lookup(|k| match k {
            "DISTR_CACHE_MAX_BYTES" => Some("1m".into()),
            "DISTR_CACHE_LOW_BYTES" => Some("2m".into()),
            _ => None,
        })
        .is_err());
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert!(parse_duration("1w").is_err());
        assert_eq!(parse_bytes("512k").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("100MiB").unwrap(), 100 << 20);
        assert_eq!(parse_bytes("42").unwrap(), 42);
        assert!(parse_bytes("1x").is_err());
    }
}
