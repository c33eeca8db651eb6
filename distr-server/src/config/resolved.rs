//! What the rest of the server takes from [`Settings`]: validation of
//! ranges, and the core and service types the settings stand for (registry
//! limits, connection and request limits, rate limits, GC policies, the
//! recorder's queue) and the stores they name.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use distr_core::analytics::RecorderConfig;
use distr_core::gc::{EvictionConfig, GcConfig};
use distr_core::{Registry, RegistryConfig};
use distr_hyper::{Rate, RequestLimits};
use distr_store_sqlite::SqliteStore;

use super::layers::describe;
use super::model::{GcSettings, LimitSettings, RegistrySettings, Settings};
use super::table::Setting;
use crate::serve::ConnectionLimits;
use crate::storage::Stores;

/// A request rate limit: `per_second` on average, bursts of `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per second (positive and finite).
    pub per_second: f64,
    /// Largest burst (at least 1).
    pub burst: u32,
}

impl RateLimit {
    /// The limit of `per_second` (0: none) with `burst` (0: twice the
    /// rate, at least 1).
    pub fn new(per_second: f64, burst: u32) -> Option<Self> {
        (per_second > 0.0).then(|| Self {
            per_second,
            burst: match burst {
                0 => ((per_second * 2.0).ceil() as u32).max(1),
                n => n,
            },
        })
    }

    /// As the service takes it.
    fn rate(self) -> Option<Rate> {
        Rate::new(self.per_second, self.burst)
    }
}

/// Fails naming the setting at `path` unless `ok`.
fn ensure(ok: bool, path: &str, what: &str) -> anyhow::Result<()> {
    if ok {
        return Ok(());
    }
    match Setting::find(path) {
        Some(setting) => anyhow::bail!("{} {what}", describe(setting)),
        None => anyhow::bail!("{path} {what}"),
    }
}

impl Settings {
    /// Checks the ranges the types do not.
    pub fn validate(&self) -> anyhow::Result<()> {
        let l = &self.limits;
        ensure(
            (ConnectionLimits::MIN_HEADER_BYTES as u64..=16 * 1024 * 1024)
                .contains(&l.max_header_bytes),
            "limits.max_header_bytes",
            "must be between 8192 and 16777216",
        )?;
        for (n, path) in [
            (
                l.header_read_timeout_secs,
                "limits.header_read_timeout_secs",
            ),
            (l.body_idle_timeout_secs, "limits.body_idle_timeout_secs"),
        ] {
            ensure((1..=3600).contains(&n), path, "must be between 1 and 3600")?;
        }
        for (rate, path) in [
            (l.rate_limit_per_token, "limits.rate_limit_per_token"),
            (l.rate_limit_per_ip, "limits.rate_limit_per_ip"),
        ] {
            ensure(
                rate.is_finite() && rate >= 0.0,
                path,
                "must be a number of requests per second, 0 or more",
            )?;
        }
        ensure(
            (1..=600).contains(&self.upstream.timeout_secs),
            "upstream.timeout_secs",
            "must be between 1 and 600",
        )?;
        ensure(
            self.registry.max_page_size > 0,
            "registry.max_page_size",
            "must be at least 1",
        )?;
        if let (Some(high), Some(low)) = (self.gc.cache_max_bytes.0, self.gc.cache_low_bytes.0) {
            ensure(
                low <= high,
                "gc.cache_low_bytes",
                &format!("({low}) exceeds the maximum ({high})"),
            )?;
        }
        Ok(())
    }

    /// What the HTTP server holds each connection to.
    pub fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_header_bytes: usize::try_from(self.limits.max_header_bytes).unwrap_or(usize::MAX),
            header_read_timeout: Duration::from_secs(self.limits.header_read_timeout_secs),
        }
    }

    /// What the registry service limits per request.
    pub fn request_limits(&self) -> RequestLimits {
        let l = &self.limits;
        RequestLimits::default()
            .with_token_rate(l.token_rate().and_then(RateLimit::rate))
            .with_ip_rate(l.ip_rate().and_then(RateLimit::rate))
            .with_max_uploads_per_token(l.max_uploads_per_token)
            .with_body_idle_timeout(Some(Duration::from_secs(l.body_idle_timeout_secs)))
            .with_trusted_proxies(self.server.trusted_proxies())
    }

    /// How the download analytics recorder queues and batches: room for
    /// 100 000 events (several seconds of peak load), written at least every
    /// 100 ms in batches of up to 10 000. Under load batches grow, and each
    /// index page a batch touches is written once per batch, so large
    /// batches keep the writer ahead of 20 000 pulls/s even when pulls come
    /// from many customers (see `distr-bench analytics-writer`).
    pub fn recorder_config(&self) -> RecorderConfig {
        RecorderConfig::default()
            .with_capacity(100_000)
            .with_max_batch(10_000)
    }

    /// Opens the stores and assembles the registry.
    pub async fn build_registry(&self) -> anyhow::Result<Arc<Registry>> {
        Ok(self.open_stores().await?.registry)
    }

    /// Opens the metadata database and the blob storage and assembles the
    /// registry (see [`Stores::open`]).
    pub async fn open_stores(&self) -> anyhow::Result<Stores> {
        Stores::open(self).await
    }

    /// Opens (creating if missing) the SQLite database of the data directory.
    pub async fn open_database(&self) -> anyhow::Result<SqliteStore> {
        let path = database_path(&self.storage.data_dir);
        SqliteStore::open(&path)
            .await
            .with_context(|| format!("opening the SQLite database {}", path.display()))
    }
}

impl RegistrySettings {
    /// The registry's limits.
    pub fn registry_config(&self) -> RegistryConfig {
        RegistryConfig::default()
            .with_max_manifest_size(self.max_manifest_size)
            .with_max_page_size(self.max_page_size)
            .with_max_blob_size((self.max_blob_size > 0).then_some(self.max_blob_size))
    }
}

impl LimitSettings {
    /// The request rate per access token, if limited.
    pub fn token_rate(&self) -> Option<RateLimit> {
        RateLimit::new(self.rate_limit_per_token, self.rate_limit_per_token_burst)
    }

    /// The request rate per client address, if limited.
    pub fn ip_rate(&self) -> Option<RateLimit> {
        RateLimit::new(self.rate_limit_per_ip, self.rate_limit_per_ip_burst)
    }
}

impl GcSettings {
    /// Grace period and upload TTL of the collector.
    pub fn collector_config(&self) -> GcConfig {
        GcConfig::default()
            .with_grace(self.grace.0)
            .with_upload_ttl(self.upload_ttl.0)
    }

    /// The cache's watermarks; `None` disables eviction.
    pub fn eviction(&self) -> Option<EvictionConfig> {
        let high = self.cache_max_bytes.0?;
        let low = self.cache_low_bytes.0.unwrap_or(high / 10 * 9);
        Some(EvictionConfig::new(high, low.min(high)))
    }
}

/// The SQLite database file in a data directory.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("distr.db")
}

/// The SQLite database file of download analytics in a data directory
/// (kept apart from the metadata so that recording never holds up a push).
pub fn analytics_database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("analytics.db")
}
