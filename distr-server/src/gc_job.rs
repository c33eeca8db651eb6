//! The garbage-collection job of `distr-server`: scheduled on a cron,
//! claimed by one replica per run, and runnable on demand with
//! `distr-server gc`.
//!
//! Settings: the `[gc]` section of the configuration (`DISTR_GC_CRON`,
//! `DISTR_GC_GRACE`, `DISTR_GC_UPLOAD_TTL`, `DISTR_CACHE_MAX_BYTES`,
//! `DISTR_CACHE_LOW_BYTES` and their flags, see [`crate::config`]).
//!
//! See `distr_core::gc` for what is deleted when, and why it is safe while
//! replicas serve.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use distr_core::gc::{EvictionReport, GarbageCollector, GcReport, InFlightCheck, MirroredRepos};

use crate::config::model::GcSettings;
use crate::config::Stores;
use crate::schedule::run_on_schedule;

/// The run-claim name of the scheduled collection.
pub const GC_JOB: &str = "gc";
/// The default schedule: daily at 03:00 UTC.
pub const DEFAULT_GC_CRON: &str = "0 3 * * *";

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
        settings.collector_config(),
    );
    if let Some(check) = in_flight {
        gc = gc.with_in_flight(check);
    }
    let report = gc.run(now_ms).await.context("garbage collection")?;
    let evicted = match &settings.eviction() {
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
    let cron = settings.cron.cron()?.clone();
    tracing::info!(schedule = %cron, grace = %settings.grace, eviction = ?settings.eviction(), "garbage collection scheduled");
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
            if let Err(e) = run_once(stores, settings, in_flight, distr_core::now_ms()).await {
                tracing::warn!(error = %format!("{e:#}"), "scheduled garbage collection failed");
            }
        }
        Ok(false) => tracing::debug!("scheduled garbage collection claimed by another replica"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot claim the scheduled garbage collection; skipped")
        }
    }
}
