//! [`Settings`]: every setting of `distr-server`, one nested serde tree
//! whose `Default` is the built-in defaults. What each setting means, and
//! its environment variable and flag, is in [`super::table::SETTINGS`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use distr_hyper::{ForwardedHeader, TrustedProxies};
use distr_store_sqlite::BackgroundPriority;
use serde::{Deserialize, Serialize};

use super::values::{
    lenient, lenient_bool, via_str, AllowList, BlobStoreKind, ByteSize, DatabaseUrl, HumanDuration,
    OptionalAddr, OptionalUrl, ProxyList, Schedule, Secret, Toggle,
};

/// The whole configuration (`config print` shows it as TOML).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The HTTP listener and who may use it.
    pub server: ServerSettings,
    /// Where state is kept: the data directory and the blob store.
    pub storage: StorageSettings,
    /// The metadata database.
    pub database: DatabaseSettings,
    /// What the registry accepts.
    pub registry: RegistrySettings,
    /// Request and connection limits.
    pub limits: LimitSettings,
    /// Upstream registries of the pull-through cache.
    pub upstream: UpstreamSettings,
    /// Garbage collection and cache eviction.
    pub gc: GcSettings,
    /// Prometheus metrics.
    pub metrics: MetricsSettings,
    /// Download analytics.
    pub analytics: AnalyticsSettings,
    /// The first start's vendor organisation.
    pub bootstrap: BootstrapSettings,
    /// The master keys sealing upstream credentials.
    pub secrets: SecretSettings,
    /// Logging.
    pub log: LogSettings,
}

/// `[server]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// No authentication and no management API.
    #[serde(deserialize_with = "lenient_bool")]
    pub insecure_no_auth: bool,
    /// Proxies whose `X-Forwarded-For` (or `Forwarded`) is believed.
    #[serde(with = "via_str")]
    pub trusted_proxies: ProxyList,
    /// The header those proxies write the client address to.
    #[serde(with = "via_str")]
    pub forwarded_header: ForwardedHeader,
    /// The URL clients reach the registry at (the token realm's base).
    #[serde(with = "via_str")]
    pub public_url: OptionalUrl,
    /// The operator's token for `/api/v1/orgs`; empty: none.
    pub operator_token: Secret,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            insecure_no_auth: false,
            trusted_proxies: ProxyList::default(),
            forwarded_header: ForwardedHeader::default(),
            public_url: OptionalUrl::default(),
            operator_token: Secret::default(),
        }
    }
}

impl ServerSettings {
    /// The trusted proxies, reading the configured header.
    pub fn trusted_proxies(&self) -> TrustedProxies {
        self.trusted_proxies
            .proxies()
            .clone()
            .with_header(self.forwarded_header)
    }
}

/// `[storage]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// SQLite databases, local blobs and the generated master key.
    pub data_dir: PathBuf,
    /// Where blob bytes go.
    pub blob_store: BlobStoreKind,
    /// Bucket or container of a cloud blob store.
    pub blob_bucket: String,
    /// Key prefix in the bucket.
    pub blob_prefix: String,
    /// S3-compatible endpoint.
    pub s3_endpoint: String,
    /// S3 region (else from the AWS environment).
    pub s3_region: String,
    /// S3 access key id (else from the AWS environment).
    pub s3_access_key_id: String,
    /// S3 secret access key (else from the AWS environment).
    pub s3_secret_access_key: Secret,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("distr-data"),
            blob_store: BlobStoreKind::Local,
            blob_bucket: String::new(),
            blob_prefix: String::new(),
            s3_endpoint: String::new(),
            s3_region: String::new(),
            s3_access_key_id: String::new(),
            s3_secret_access_key: Secret::default(),
        }
    }
}

/// `[database]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// PostgreSQL URL; empty: SQLite in the data directory.
    pub url: DatabaseUrl,
}

/// `[registry]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrySettings {
    /// Largest manifest in bytes.
    #[serde(deserialize_with = "lenient")]
    pub max_manifest_size: u64,
    /// Largest blob in bytes; 0: no limit.
    #[serde(deserialize_with = "lenient")]
    pub max_blob_size: u64,
    /// Largest page of tags or repositories.
    #[serde(deserialize_with = "lenient")]
    pub max_page_size: usize,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        let d = distr_core::RegistryConfig::default();
        Self {
            max_manifest_size: d.max_manifest_size,
            max_blob_size: d.max_blob_size.unwrap_or(0),
            max_page_size: d.max_page_size,
        }
    }
}

/// `[limits]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Largest request header block in bytes.
    #[serde(deserialize_with = "lenient")]
    pub max_header_bytes: u64,
    /// Seconds to send a request's headers.
    #[serde(deserialize_with = "lenient")]
    pub header_read_timeout_secs: u64,
    /// Seconds a request body may send nothing.
    #[serde(deserialize_with = "lenient")]
    pub body_idle_timeout_secs: u64,
    /// Upload requests in flight per token; 0: no limit.
    #[serde(deserialize_with = "lenient")]
    pub max_uploads_per_token: u32,
    /// Requests per second per token; 0: no limit.
    #[serde(deserialize_with = "lenient")]
    pub rate_limit_per_token: f64,
    /// Burst of the per-token limit; 0: twice the rate.
    #[serde(deserialize_with = "lenient")]
    pub rate_limit_per_token_burst: u32,
    /// Requests per second per client address; 0: no limit.
    #[serde(deserialize_with = "lenient")]
    pub rate_limit_per_ip: f64,
    /// Burst of the per-address limit; 0: twice the rate.
    #[serde(deserialize_with = "lenient")]
    pub rate_limit_per_ip_burst: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_header_bytes: 64 * 1024,
            header_read_timeout_secs: 30,
            body_idle_timeout_secs: 60,
            max_uploads_per_token: 64,
            rate_limit_per_token: 0.0,
            rate_limit_per_token_burst: 0,
            rate_limit_per_ip: 0.0,
            rate_limit_per_ip_burst: 0,
        }
    }
}

/// `[upstream]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamSettings {
    /// When to sync artifacts from their upstreams.
    #[serde(with = "via_str")]
    pub sync_cron: Schedule,
    /// Response-header timeout per attempt, in seconds.
    #[serde(deserialize_with = "lenient")]
    pub timeout_secs: u64,
    /// Requests in flight per upstream host; 0: no limit.
    #[serde(deserialize_with = "lenient")]
    pub max_connections: u32,
    /// Amazon ECR API endpoint; empty: the region's.
    pub ecr_endpoint: String,
    /// Non-public hosts and networks upstreams may reach (and plain HTTP).
    #[serde(with = "via_str")]
    pub allow: AllowList,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            sync_cron: Schedule::default_or_never(crate::schedule::DEFAULT_SYNC_CRON),
            timeout_secs: 30,
            max_connections: 32,
            ecr_endpoint: String::new(),
            allow: AllowList::default(),
        }
    }
}

impl UpstreamSettings {
    /// The response-header timeout per attempt.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

/// `[gc]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GcSettings {
    /// When to collect.
    #[serde(with = "via_str")]
    pub cron: Schedule,
    /// How long a blob stays unreferenced before it is deleted.
    #[serde(with = "via_str")]
    pub grace: HumanDuration,
    /// Age after which upload sessions are abandoned.
    #[serde(with = "via_str")]
    pub upload_ttl: HumanDuration,
    /// High watermark of the pull-through cache; empty: no eviction.
    #[serde(with = "via_str")]
    pub cache_max_bytes: ByteSize,
    /// Low watermark; empty: 90 % of the maximum.
    #[serde(with = "via_str")]
    pub cache_low_bytes: ByteSize,
}

impl Default for GcSettings {
    fn default() -> Self {
        let d = distr_core::gc::GcConfig::default();
        Self {
            cron: Schedule::default_or_never(crate::gc_job::DEFAULT_GC_CRON),
            grace: HumanDuration(d.grace),
            upload_ttl: HumanDuration(d.upload_ttl),
            cache_max_bytes: ByteSize(None),
            cache_low_bytes: ByteSize(None),
        }
    }
}

/// `[metrics]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Separate `/metrics` listener; empty: none.
    #[serde(with = "via_str")]
    pub listen: OptionalAddr,
    /// Bearer token of scrapers; set, `/metrics` is served on the registry
    /// listener too.
    pub token: Secret,
}

/// `[analytics]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsSettings {
    /// Record download analytics.
    pub enabled: Toggle,
    /// CPU priority of the analytics writer's threads.
    #[serde(with = "via_str")]
    pub writer_priority: BackgroundPriority,
}

impl Default for AnalyticsSettings {
    fn default() -> Self {
        Self {
            enabled: Toggle::On,
            writer_priority: BackgroundPriority::default(),
        }
    }
}

impl AnalyticsSettings {
    /// True when pulls are recorded.
    pub fn is_enabled(&self) -> bool {
        self.enabled == Toggle::On
    }
}

/// `[bootstrap]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BootstrapSettings {
    /// Slug of the organisation created on the first start.
    pub org: String,
    /// Token of its vendor admin; empty: generated and shown once.
    pub token: Secret,
}

impl Default for BootstrapSettings {
    fn default() -> Self {
        Self {
            org: "default".to_owned(),
            token: Secret::default(),
        }
    }
}

/// `[secrets]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretSettings {
    /// The master key, when given directly.
    pub key: Secret,
    /// The master key's file; empty: none.
    pub key_file: PathBuf,
    /// Previous master keys, comma-separated.
    pub previous_keys: Secret,
}

impl SecretSettings {
    /// The key file, when one is named.
    pub fn key_file(&self) -> Option<&std::path::Path> {
        (!self.key_file.as_os_str().is_empty()).then_some(self.key_file.as_path())
    }
}

/// `[log]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `tracing` filter; empty: `info` (`warn` for `admin`).
    pub filter: String,
}
