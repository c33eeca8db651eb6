//! `distr-server` configuration: defaults < `--config` TOML file <
//! `DISTR_*` environment variables < command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use distr_core::analytics::RecorderConfig;
use distr_core::{Registry, RegistryConfig};
use distr_hyper::{Rate, RequestLimits, TrustedProxies};
use distr_store_sqlite::{BackgroundPriority, SqliteStore};
use serde::Deserialize;

use crate::schedule::{parse_cron, DEFAULT_SYNC_CRON};
use crate::serve::ConnectionLimits;
pub use crate::storage::Stores;

/// Command-line flags (each also readable from a `DISTR_*` variable).
#[derive(Debug, Default, clap::Args)]
pub struct Flags {
    /// Address to listen on [default: 127.0.0.1:5000].
    #[arg(long, env = "DISTR_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the SQLite metadata and the local blob files [default: ./distr-data].
    #[arg(long, env = "DISTR_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long, env = "DISTR_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Where blob bytes go: `local` (files under the data dir), `memory`,
    /// `s3`, `gcs` or `azure` [default: local].
    #[arg(long, env = "DISTR_BLOB_STORE")]
    pub blob_store: Option<BlobStoreKind>,
    /// Bucket (S3, GCS) or container (Azure) of the blob store.
    #[arg(long, env = "DISTR_BLOB_BUCKET")]
    pub blob_bucket: Option<String>,
    /// Key prefix of every object distr writes in the bucket [default: none].
    #[arg(long, env = "DISTR_BLOB_PREFIX")]
    pub blob_prefix: Option<String>,
    /// S3 endpoint for S3-compatible services (MinIO, Ceph, moto); requests
    /// use path-style addressing. Credentials and region come from the AWS
    /// environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_REGION`, …).
    #[arg(long, env = "DISTR_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// PostgreSQL URL of the metadata database (`postgres://user@host/db`);
    /// without it, metadata is in SQLite under the data directory. Several
    /// replicas share one database and one bucket.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,
    /// Master key sealing upstream credentials at rest: 32 bytes as base64
    /// or hex [default: `<data-dir>/master.key`, generated on the first
    /// start; required with DATABASE_URL]. Prefer the environment variable.
    #[arg(long, env = "DISTR_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<Secret>,
    /// File holding the master key (instead of `--secret-key`).
    #[arg(long, env = "DISTR_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// Previous master keys, comma-separated, still accepted for reading
    /// during a key rotation; values sealed with them are re-sealed with
    /// the current key at start-up.
    #[arg(long, env = "DISTR_PREVIOUS_SECRET_KEYS", hide_env_values = true)]
    pub previous_secret_keys: Option<Secret>,
    /// Largest accepted manifest in bytes [default: 4194304].
    #[arg(long, env = "DISTR_MAX_MANIFEST_SIZE")]
    pub max_manifest_size: Option<u64>,
    /// Slug of the vendor organisation created on the first start, when the
    /// database has none [default: default]. Its admin is `admin@<slug>`.
    #[arg(long, env = "DISTR_BOOTSTRAP_ORG")]
    pub bootstrap_org: Option<String>,
    /// Serve the registry with NO authentication and no management API:
    /// anyone who can reach it may push and pull. Only for benchmarks and
    /// throwaway local use; never set by a config file.
    #[arg(long, env = "DISTR_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// When to sync artifacts from their upstreams, a cron expression (UTC);
    /// empty disables the schedule [default: "15,45 * * * *"]. Also read
    /// from `DISTR_UPSTREAM_SYNC_CRON`, where an empty value disables it too.
    #[arg(long)]
    pub upstream_sync_cron: Option<String>,
    /// Endpoint of the Amazon ECR API (for ECR-compatible test services);
    /// by default the region's AWS endpoint.
    #[arg(long, env = "DISTR_ECR_ENDPOINT")]
    pub ecr_endpoint: Option<String>,
    /// Longest wait for an upstream registry's response headers, in
    /// seconds, per attempt (requests are tried up to 3 times) [default: 30].
    #[arg(long, env = "DISTR_UPSTREAM_TIMEOUT_SECS", value_parser = clap::value_parser!(u64).range(1..=600))]
    pub upstream_timeout_secs: Option<u64>,
    /// Download analytics: `on` records every manifest pull and the blob
    /// bytes served (queried through `/api/v1/analytics`), `off` records
    /// nothing [default: on].
    #[arg(long, env = "DISTR_ANALYTICS")]
    pub analytics: Option<Toggle>,
    /// CPU priority of the threads that write download analytics: `idle`
    /// (Linux SCHED_IDLE: they run only on otherwise idle cores, never
    /// delaying a request, and fall behind on a core that is never idle)
    /// or a nice value from 0 to 19 (a share of a busy core, but a woken
    /// request may wait a scheduler slice). PostgreSQL's own work happens
    /// in the database server and is not affected [default: idle].
    #[arg(long, env = "DISTR_ANALYTICS_WRITER_PRIORITY")]
    pub analytics_writer_priority: Option<BackgroundPriority>,
    /// Reverse proxies whose `X-Forwarded-For` gives the client address of
    /// recorded pulls: comma-separated IP addresses and CIDRs
    /// (`10.0.0.0/8,192.168.1.7`) [default: none, the peer address is the
    /// client].
    #[arg(long, env = "DISTR_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// Largest blob an upload may create, in bytes; larger uploads get
    /// 413 SIZE_INVALID; 0: no limit [default: 10737418240 (10 GiB)].
    #[arg(long, env = "DISTR_MAX_BLOB_SIZE")]
    pub max_blob_size: Option<u64>,
    /// Largest request header block, in bytes (at least 8192); a larger one
    /// gets 431 [default: 65536].
    #[arg(long, env = "DISTR_MAX_HEADER_BYTES", value_parser = clap::value_parser!(u64).range(8192..=16_777_216))]
    pub max_header_bytes: Option<u64>,
    /// Seconds a client may take to send a request's headers (and an idle
    /// keep-alive connection stays open) [default: 30].
    #[arg(long, env = "DISTR_HEADER_READ_TIMEOUT_SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds a request body may send nothing before the request is
    /// aborted (an upload chunk is then not stored) [default: 60].
    #[arg(long, env = "DISTR_BODY_IDLE_TIMEOUT_SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_idle_timeout_secs: Option<u64>,
    /// Most upload requests one token may have in flight at once; more get
    /// 429; 0: no limit [default: 64].
    #[arg(long, env = "DISTR_MAX_UPLOADS_PER_TOKEN")]
    pub max_uploads_per_token: Option<u32>,
    /// Requests per second each access token may make on average (e.g.
    /// `50`, `0.5`); more get 429 with Retry-After; 0: no limit [default: 0].
    #[arg(long, env = "DISTR_RATE_LIMIT_PER_TOKEN")]
    pub rate_limit_per_token: Option<f64>,
    /// Burst of the per-token rate limit [default: twice the rate, at least 1].
    #[arg(long, env = "DISTR_RATE_LIMIT_PER_TOKEN_BURST")]
    pub rate_limit_per_token_burst: Option<u32>,
    /// Requests per second each client address may make on average; 0: no
    /// limit [default: 0]. Behind a proxy, set `--trusted-proxies`.
    #[arg(long, env = "DISTR_RATE_LIMIT_PER_IP")]
    pub rate_limit_per_ip: Option<f64>,
    /// Burst of the per-address rate limit [default: twice the rate, at least 1].
    #[arg(long, env = "DISTR_RATE_LIMIT_PER_IP_BURST")]
    pub rate_limit_per_ip_burst: Option<u32>,
    /// Most requests in flight to one upstream registry host at once (more
    /// wait, up to the upstream timeout); 0: no limit [default: 32].
    #[arg(long, env = "DISTR_UPSTREAM_MAX_CONNECTIONS")]
    pub upstream_max_connections: Option<u32>,
}

/// A feature switch: `on` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Toggle {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// Where blob bytes are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BlobStoreKind {
    /// Files under `<data-dir>/blobs` and `<data-dir>/uploads` (the default).
    #[default]
    Local,
    /// Process memory (lost on exit; for demos and tests).
    Memory,
    /// Amazon S3 or an S3-compatible service.
    S3,
    /// Google Cloud Storage (credentials from `GOOGLE_*` variables).
    Gcs,
    /// Azure Blob Storage (credentials from `AZURE_*` variables).
    Azure,
}

/// The `--config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Same as `--listen`.
    pub listen: Option<SocketAddr>,
    /// Same as `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// Same as `--blob-store`.
    pub blob_store: Option<BlobStoreKind>,
    /// Same as `--blob-bucket`.
    pub blob_bucket: Option<String>,
    /// Same as `--blob-prefix`.
    pub blob_prefix: Option<String>,
    /// Same as `--s3-endpoint`.
    pub s3_endpoint: Option<String>,
    /// Same as `--database-url` (prefer the `DATABASE_URL` variable for
    /// URLs with passwords).
    pub database_url: Option<Secret>,
    /// Same as `--secret-key-file` (keys themselves are not read from the
    /// config file).
    pub secret_key_file: Option<PathBuf>,
    /// Same as `--max-manifest-size`.
    pub max_manifest_size: Option<u64>,
    /// Largest page of tags or repositories returned at once [default: 1000].
    pub max_page_size: Option<usize>,
    /// Same as `--bootstrap-org`.
    pub bootstrap_org: Option<String>,
    /// Same as `--upstream-sync-cron`.
    pub upstream_sync_cron: Option<String>,
    /// Same as `--ecr-endpoint`.
    pub ecr_endpoint: Option<String>,
    /// Same as `--upstream-timeout-secs`.
    pub upstream_timeout_secs: Option<u64>,
    /// Same as `--analytics`.
    pub analytics: Option<Toggle>,
    /// Same as `--analytics-writer-priority` (`"idle"` or `"0"`..`"19"`).
    pub analytics_writer_priority: Option<String>,
    /// Same as `--trusted-proxies`.
    pub trusted_proxies: Option<String>,
    /// Same as `--max-blob-size`.
    pub max_blob_size: Option<u64>,
    /// Same as `--max-header-bytes`.
    pub max_header_bytes: Option<u64>,
    /// Same as `--header-read-timeout-secs`.
    pub header_read_timeout_secs: Option<u64>,
    /// Same as `--body-idle-timeout-secs`.
    pub body_idle_timeout_secs: Option<u64>,
    /// Same as `--max-uploads-per-token`.
    pub max_uploads_per_token: Option<u32>,
    /// Same as `--rate-limit-per-token`.
    pub rate_limit_per_token: Option<f64>,
    /// Same as `--rate-limit-per-token-burst`.
    pub rate_limit_per_token_burst: Option<u32>,
    /// Same as `--rate-limit-per-ip`.
    pub rate_limit_per_ip: Option<f64>,
    /// Same as `--rate-limit-per-ip-burst`.
    pub rate_limit_per_ip_burst: Option<u32>,
    /// Same as `--upstream-max-connections`.
    pub upstream_max_connections: Option<u32>,
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Blob storage.
    pub blob_store: BlobStoreKind,
    /// Bucket or container of a cloud blob store.
    pub blob_bucket: Option<String>,
    /// Key prefix in the bucket.
    pub blob_prefix: Option<String>,
    /// S3-compatible endpoint.
    pub s3_endpoint: Option<String>,
    /// PostgreSQL metadata database; SQLite in the data directory when `None`.
    /// May hold a password: never printed ([`Secret`]).
    pub database_url: Option<Secret>,
    /// The master key, when given directly.
    pub secret_key: Option<Secret>,
    /// The master key's file, when given.
    pub secret_key_file: Option<PathBuf>,
    /// Previous master keys (comma-separated).
    pub previous_secret_keys: Option<Secret>,
    /// Registry limits.
    pub registry: RegistryConfig,
    /// Slug of the organisation created on the first start.
    pub bootstrap_org: String,
    /// No authentication at all (`--insecure-no-auth`).
    pub insecure_no_auth: bool,
    /// When to sync upstreams; `None` disables the schedule.
    pub upstream_sync_cron: Option<croner::Cron>,
    /// Override of the Amazon ECR API endpoint.
    pub ecr_endpoint: Option<String>,
    /// Upstream response-header timeout, per attempt.
    pub upstream_timeout: std::time::Duration,
    /// Record download analytics.
    pub analytics: bool,
    /// CPU priority of the analytics writer's threads.
    pub analytics_writer_priority: BackgroundPriority,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// Request, connection and upstream limits.
    pub limits: Limits,
}

/// A request rate limit: `per_second` on average, bursts of `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per second (positive and finite).
    pub per_second: f64,
    /// Largest burst (at least 1).
    pub burst: u32,
}

// `per_second` is never NaN (checked when resolved).
impl Eq for RateLimit {}

impl RateLimit {
    /// The limit of `per_second` (0: none) with `burst` (default: twice the
    /// rate, at least 1).
    fn resolve(
        what: &str,
        per_second: Option<f64>,
        burst: Option<u32>,
    ) -> anyhow::Result<Option<Self>> {
        let per_second = per_second.unwrap_or(0.0);
        anyhow::ensure!(
            per_second.is_finite() && per_second >= 0.0,
            "{what} must be a number of requests per second, 0 or more"
        );
        if per_second == 0.0 {
            return Ok(None);
        }
        let burst = burst.unwrap_or_else(|| ((per_second * 2.0).ceil() as u32).max(1));
        anyhow::ensure!(burst >= 1, "the burst of {what} must be at least 1");
        Ok(Some(Self { per_second, burst }))
    }

    /// As the service takes it.
    fn rate(self) -> Option<Rate> {
        Rate::new(self.per_second, self.burst)
    }
}

/// Limits that protect the server from clients and upstreams from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request header block, in bytes.
    pub max_header_bytes: usize,
    /// Time to send a request's headers.
    pub header_read_timeout: Duration,
    /// Longest silence of a request body.
    pub body_idle_timeout: Duration,
    /// Upload requests in flight per token; 0: no limit.
    pub max_uploads_per_token: u32,
    /// Request rate per access token.
    pub token_rate: Option<RateLimit>,
    /// Request rate per client address.
    pub ip_rate: Option<RateLimit>,
    /// Requests in flight per upstream host; 0: no limit.
    pub upstream_max_connections: usize,
}

impl Config {
    /// What the HTTP server holds each connection to.
    pub fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_header_bytes: self.limits.max_header_bytes,
            header_read_timeout: self.limits.header_read_timeout,
        }
    }

    /// What the registry service limits per request.
    pub fn request_limits(&self) -> RequestLimits {
        RequestLimits::default()
            .with_token_rate(self.limits.token_rate.and_then(RateLimit::rate))
            .with_ip_rate(self.limits.ip_rate.and_then(RateLimit::rate))
            .with_max_uploads_per_token(self.limits.max_uploads_per_token)
            .with_body_idle_timeout(Some(self.limits.body_idle_timeout))
            .with_trusted_proxies(self.trusted_proxies.clone())
    }
}

/// The limits of flags over the config file over defaults.
fn resolve_limits(flags: &Flags, file: &FileConfig) -> anyhow::Result<Limits> {
    let max_header_bytes = flags
        .max_header_bytes
        .or(file.max_header_bytes)
        .unwrap_or(64 * 1024);
    anyhow::ensure!(
        (ConnectionLimits::MIN_HEADER_BYTES as u64..=16 * 1024 * 1024).contains(&max_header_bytes),
        "max_header_bytes must be between 8192 and 16777216"
    );
    let secs = |flag: Option<u64>, key: Option<u64>, default: u64, name: &str| {
        let n = flag.or(key).unwrap_or(default);
        anyhow::ensure!((1..=3600).contains(&n), "{name} must be between 1 and 3600");
        Ok(Duration::from_secs(n))
    };
    Ok(Limits {
        max_header_bytes: max_header_bytes as usize,
        header_read_timeout: secs(
            flags.header_read_timeout_secs,
            file.header_read_timeout_secs,
            30,
            "header_read_timeout_secs",
        )?,
        body_idle_timeout: secs(
            flags.body_idle_timeout_secs,
            file.body_idle_timeout_secs,
            60,
            "body_idle_timeout_secs",
        )?,
        max_uploads_per_token: flags
            .max_uploads_per_token
            .or(file.max_uploads_per_token)
            .unwrap_or(64),
        token_rate: RateLimit::resolve(
            "rate_limit_per_token",
            flags.rate_limit_per_token.or(file.rate_limit_per_token),
            flags
                .rate_limit_per_token_burst
                .or(file.rate_limit_per_token_burst),
        )?,
        ip_rate: RateLimit::resolve(
            "rate_limit_per_ip",
            flags.rate_limit_per_ip.or(file.rate_limit_per_ip),
            flags
                .rate_limit_per_ip_burst
                .or(file.rate_limit_per_ip_burst),
        )?,
        upstream_max_connections: flags
            .upstream_max_connections
            .or(file.upstream_max_connections)
            .unwrap_or(32) as usize,
    })
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

/// A configuration value that must never be printed (a database URL with a
/// password): `Debug` shows `<redacted>`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Config {
    /// Merges flags over the environment over the config file over defaults.
    pub fn resolve(flags: &Flags) -> anyhow::Result<Config> {
        let cron_env = std::env::var("DISTR_UPSTREAM_SYNC_CRON").ok();
        Self::resolve_with(flags, cron_env)
    }

    /// [`resolve`](Self::resolve) with the value of `DISTR_UPSTREAM_SYNC_CRON`
    /// given (read apart from clap, which would take an empty value for an
    /// absent one).
    fn resolve_with(flags: &Flags, cron_env: Option<String>) -> anyhow::Result<Config> {
        let file = match &flags.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let mut registry = RegistryConfig::default();
        if let Some(n) = flags.max_manifest_size.or(file.max_manifest_size) {
            registry = registry.with_max_manifest_size(n);
        }
        if let Some(n) = file.max_page_size {
            anyhow::ensure!(n > 0, "max_page_size must be at least 1");
            registry = registry.with_max_page_size(n);
        }
        if let Some(n) = flags.max_blob_size.or(file.max_blob_size) {
            registry = registry.with_max_blob_size((n > 0).then_some(n));
        }
        let limits = resolve_limits(flags, &file)?;
        Ok(Config {
            listen: flags
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5000))),
            data_dir: flags
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("distr-data")),
            blob_store: flags.blob_store.or(file.blob_store).unwrap_or_default(),
            blob_bucket: flags.blob_bucket.clone().or(file.blob_bucket),
            blob_prefix: flags.blob_prefix.clone().or(file.blob_prefix),
            s3_endpoint: flags.s3_endpoint.clone().or(file.s3_endpoint),
            database_url: flags.database_url.clone().or(file.database_url),
            secret_key: flags.secret_key.clone(),
            secret_key_file: flags.secret_key_file.clone().or(file.secret_key_file),
            previous_secret_keys: flags.previous_secret_keys.clone(),
            registry,
            bootstrap_org: flags
                .bootstrap_org
                .clone()
                .or(file.bootstrap_org)
                .unwrap_or_else(|| "default".to_owned()),
            insecure_no_auth: flags.insecure_no_auth,
            upstream_sync_cron: parse_cron(
                flags
                    .upstream_sync_cron
                    .as_deref()
                    .or(cron_env.as_deref())
                    .or(file.upstream_sync_cron.as_deref())
                    .unwrap_or(DEFAULT_SYNC_CRON),
            )?,
            ecr_endpoint: flags.ecr_endpoint.clone().or(file.ecr_endpoint),
            upstream_timeout: std::time::Duration::from_secs(
                flags
                    .upstream_timeout_secs
                    .or(file.upstream_timeout_secs)
                    .unwrap_or(30)
                    .clamp(1, 600),
            ),
            analytics: flags.analytics.or(file.analytics).unwrap_or(Toggle::On) == Toggle::On,
            analytics_writer_priority: match flags.analytics_writer_priority {
                Some(p) => p,
                None => match file.analytics_writer_priority.as_deref() {
                    Some(p) => p.parse().context("analytics_writer_priority")?,
                    None => BackgroundPriority::default(),
                },
            },
            trusted_proxies: match flags
                .trusted_proxies
                .as_deref()
                .or(file.trusted_proxies.as_deref())
            {
                Some(list) => list
                    .parse()
                    .context("parsing the trusted proxies (DISTR_TRUSTED_PROXIES)")?,
                None => TrustedProxies::none(),
            },
            limits,
        })
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
        let path = database_path(&self.data_dir);
        SqliteStore::open(&path)
            .await
            .with_context(|| format!("opening the SQLite database {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_and_layer() {
        let d = Config::resolve_with(&Flags::default(), None).unwrap();
        assert_eq!(d.registry.max_blob_size, Some(10 * 1024 * 1024 * 1024));
        assert_eq!(
            d.limits,
            Limits {
                max_header_bytes: 65536,
                header_read_timeout: Duration::from_secs(30),
                body_idle_timeout: Duration::from_secs(60),
                max_uploads_per_token: 64,
                token_rate: None,
                ip_rate: None,
                upstream_max_connections: 32,
            }
        );
        assert_eq!(d.connection_limits(), ConnectionLimits::default());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("distr.toml");
        std::fs::write(
            &path,
            "max_blob_size = 1000\nmax_header_bytes = 16384\nheader_read_timeout_secs = 5\n\
             body_idle_timeout_secs = 7\nmax_uploads_per_token = 3\nrate_limit_per_token = 2.5\n\
             rate_limit_per_ip = 10\nrate_limit_per_ip_burst = 40\nupstream_max_connections = 4\n",
        )
        .unwrap();
        let flags = Flags {
            config: Some(path),
            max_uploads_per_token: Some(0),
            rate_limit_per_token_burst: Some(9),
            ..Flags::default()
        };
        let c = Config::resolve_with(&flags, None).unwrap();
        assert_eq!(c.registry.max_blob_size, Some(1000));
        assert_eq!(c.limits.max_header_bytes, 16384);
        assert_eq!(c.limits.header_read_timeout, Duration::from_secs(5));
        assert_eq!(c.limits.body_idle_timeout, Duration::from_secs(7));
        assert_eq!(c.limits.max_uploads_per_token, 0, "the flag wins");
        assert_eq!(
            c.limits.token_rate,
            Some(RateLimit {
                per_second: 2.5,
                burst: 9
            })
        );
        assert_eq!(
            c.limits.ip_rate,
            Some(RateLimit {
                per_second: 10.0,
                burst: 40
            })
        );
        assert_eq!(c.limits.upstream_max_connections, 4);
        // The default burst is twice the rate.
        let c = Config::resolve_with(
            &Flags {
                rate_limit_per_ip: Some(0.2),
                max_blob_size: Some(0),
                ..Flags::default()
            },
            None,
        )
        .unwrap();
        assert_eq!(
            c.limits.ip_rate,
            Some(RateLimit {
                per_second: 0.2,
                burst: 1
            })
        );
        assert_eq!(c.registry.max_blob_size, None, "0 is no limit");
    }

    #[test]
    fn defaults_file_and_flags_layer() {
        let d = Config::resolve_with(&Flags::default(), None).unwrap();
        assert_eq!(d.listen.to_string(), "127.0.0.1:5000");
        assert_eq!(d.data_dir, PathBuf::from("distr-data"));
        assert_eq!(d.blob_store, BlobStoreKind::Local);
        assert_eq!(d.registry.max_manifest_size, 4 * 1024 * 1024);
        assert_eq!(d.bootstrap_org, "default");
        assert!(d.analytics && d.trusted_proxies.is_empty());
        assert_eq!(d.analytics_writer_priority, BackgroundPriority::Idle);
        let off = Config::resolve_with(&Flags::default(), Some(String::new())).unwrap();
        assert!(
            off.upstream_sync_cron.is_none(),
            "empty env disables the schedule"
        );
        let def = Config::resolve_with(&Flags::default(), None).unwrap();
        assert_eq!(
            def.upstream_sync_cron.map(|c| c.to_string()),
            Some(DEFAULT_SYNC_CRON.to_owned())
        );
        assert!(Config::resolve_with(&Flags::default(), Some("nope".into())).is_err());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("distr.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:6000\"\ndata_dir = \"/srv/distr\"\nmax_page_size = 50\n\
             bootstrap_org = \"acme\"\n",
        )
        .unwrap();
        let flags = Flags {
            config: Some(path.clone()),
            listen: Some("127.0.0.1:7000".parse().unwrap()),
            ..Flags::default()
        };
        let c = Config::resolve(&flags).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(c.data_dir, PathBuf::from("/srv/distr"));
        assert_eq!(c.registry.max_page_size, 50);
        assert_eq!(c.bootstrap_org, "acme");

        let flags = Flags {
            analytics: Some(Toggle::Off),
            trusted_proxies: Some("10.0.0.0/8, 192.168.1.7".into()),
            ..Flags::default()
        };
        let c = Config::resolve_with(&flags, None).unwrap();
        assert!(!c.analytics);
        assert!(c.trusted_proxies.contains("10.9.8.7".parse().unwrap()));
        let flags = Flags {
            trusted_proxies: Some("10.0.0.0/40".into()),
            ..Flags::default()
        };
        assert!(Config::resolve_with(&flags, None).is_err());
        std::fs::write(
            &path,
            "analytics = \"off\"\ntrusted_proxies = \"::1\"\nanalytics_writer_priority = \"19\"\n",
        )
        .unwrap();
        let c = Config::resolve(&Flags {
            config: Some(path.clone()),
            ..Flags::default()
        })
        .unwrap();
        assert!(!c.analytics && c.trusted_proxies.contains("::1".parse().unwrap()));
        assert_eq!(c.analytics_writer_priority, BackgroundPriority::Nice(19));
        let c = Config::resolve(&Flags {
            config: Some(path.clone()),
            analytics_writer_priority: Some(BackgroundPriority::Nice(0)),
            ..Flags::default()
        })
        .unwrap();
        assert_eq!(
            c.analytics_writer_priority,
            BackgroundPriority::Nice(0),
            "the flag wins over the file"
        );

        std::fs::write(&path, "listen = 5\n").unwrap();
        assert!(Config::resolve(&Flags {
            config: Some(path.clone()),
            ..Flags::default()
        })
        .is_err());
        for bad in [
            "max_header_bytes = 100\n",
            "header_read_timeout_secs = 0\n",
            "body_idle_timeout_secs = 4000\n",
            "rate_limit_per_ip = -1.0\n",
            "rate_limit_per_token = 2.0\nrate_limit_per_token_burst = 0\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            assert!(
                Config::resolve(&Flags {
                    config: Some(path.clone()),
                    ..Flags::default()
                })
                .is_err(),
                "{bad}"
            );
        }
        std::fs::write(&path, "listen = 5\n").unwrap();
        assert!(Config::resolve(&Flags {
            config: Some(path.clone()),
            ..Flags::default()
        })
        .is_err());
        std::fs::write(&path, "unknown_key = 1\n").unwrap();
        assert!(Config::resolve(&Flags {
            config: Some(path),
            ..Flags::default()
        })
        .is_err());
    }
}
