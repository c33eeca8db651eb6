//! [`SETTINGS`]: for every leaf of [`Settings`](super::Settings), its
//! environment variable, its flag and what it means — the one table that
//! the environment and flag layers, `--help`, `config print` and the
//! README's configuration table are made from.

/// One setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// Dotted path in the TOML file and in [`Settings`](super::Settings)
    /// (`limits.max_header_bytes`).
    pub path: &'static str,
    /// Environment variable.
    pub env: &'static str,
    /// Long flag, without the dashes.
    pub flag: &'static str,
    /// The flat top-level TOML key earlier versions read, still accepted.
    pub legacy_key: Option<&'static str>,
    /// Placeholder of the value in `--help`.
    pub value_name: &'static str,
    /// A key, token or password: printed `<redacted>`, hidden in `--help`.
    pub secret: bool,
    /// False for the one setting a config file may not set (turning
    /// authentication off takes a deliberate flag or variable).
    pub in_file: bool,
    /// What it does (for `--help` and the README).
    pub help: &'static str,
}

const fn setting(path: &'static str, env: &'static str, flag: &'static str) -> Setting {
    Setting {
        path,
        env,
        flag,
        legacy_key: None,
        value_name: "VALUE",
        secret: false,
        in_file: true,
        help: "",
    }
}

impl Setting {
    const fn legacy(mut self, key: &'static str) -> Self {
        self.legacy_key = Some(key);
        self
    }
    const fn value(mut self, name: &'static str) -> Self {
        self.value_name = name;
        self
    }
    const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
    const fn not_in_file(mut self) -> Self {
        self.in_file = false;
        self
    }
    const fn help(mut self, text: &'static str) -> Self {
        self.help = text;
        self
    }

    /// The setting at `path`.
    pub fn find(path: &str) -> Option<&'static Setting> {
        SETTINGS.iter().find(|s| s.path == path)
    }
}

/// The environment variable and flag naming the config file (not itself a
/// setting of the file).
pub const CONFIG_ENV: &str = "DISTR_CONFIG";
/// See [`CONFIG_ENV`].
pub const CONFIG_FLAG: &str = "config";

/// Every setting, in the order of `--help` and the README.
pub const SETTINGS: &[Setting] = &[
    setting("server.listen", "DISTR_LISTEN", "listen")
        .legacy("listen")
        .value("ADDR")
        .help("address to serve HTTP/1.1 and h2c on; port `0` picks a free one"),
    setting("storage.data_dir", "DISTR_DATA_DIR", "data-dir")
        .legacy("data_dir")
        .value("DIR")
        .help("holds `distr.db` (SQLite, WAL), `analytics.db` (download analytics, SQLite), `blobs/` (local blob files), `uploads/` (chunks of uploads in progress) and the generated `master.key`"),
    setting("storage.blob_store", "DISTR_BLOB_STORE", "blob-store")
        .legacy("blob_store")
        .value("KIND")
        .help("where blob bytes go: `local` (files under the data dir), `memory` (lost on exit), `s3`, `gcs` or `azure`"),
    setting("storage.blob_bucket", "DISTR_BLOB_BUCKET", "blob-bucket")
        .legacy("blob_bucket")
        .value("NAME")
        .help("bucket (S3, GCS) or container (Azure) of a cloud blob store"),
    setting("storage.blob_prefix", "DISTR_BLOB_PREFIX", "blob-prefix")
        .legacy("blob_prefix")
        .value("PREFIX")
        .help("key prefix of every object distr writes in the bucket"),
    setting("storage.s3_endpoint", "DISTR_S3_ENDPOINT", "s3-endpoint")
        .legacy("s3_endpoint")
        .value("URL")
        .help("S3-compatible endpoint (MinIO, Ceph, moto): path-style requests, `http://` allowed; empty: AWS"),
    setting("storage.s3_region", "DISTR_S3_REGION", "s3-region")
        .value("REGION")
        .help("S3 region; empty: from the AWS environment (`AWS_REGION`, …)"),
    setting("storage.s3_access_key_id", "DISTR_S3_ACCESS_KEY_ID", "s3-access-key-id")
        .value("ID")
        .help("S3 access key id; empty: from the AWS environment (`AWS_ACCESS_KEY_ID`, instance role, …)"),
    setting("storage.s3_secret_access_key", "DISTR_S3_SECRET_ACCESS_KEY", "s3-secret-access-key")
        .value("KEY")
        .secret()
        .help("S3 secret access key; empty: from the AWS environment (`AWS_SECRET_ACCESS_KEY`, …)"),
    setting("database.url", "DATABASE_URL", "database-url")
        .legacy("database_url")
        .value("URL")
        .secret()
        .help("PostgreSQL metadata database (`postgres://user@host/db`), shared by replicas; empty: SQLite in the data dir (printed without its password)"),
    setting("registry.max_manifest_size", "DISTR_MAX_MANIFEST_SIZE", "max-manifest-size")
        .legacy("max_manifest_size")
        .value("BYTES")
        .help("larger manifest pushes get `413` / `MANIFEST_INVALID`"),
    setting("registry.max_blob_size", "DISTR_MAX_BLOB_SIZE", "max-blob-size")
        .legacy("max_blob_size")
        .value("BYTES")
        .help("largest blob an upload may create; a monolithic `POST`, chunk `PATCH` or final `PUT` that would exceed it gets `413` / `SIZE_INVALID` (checked from `Content-Length`/`Content-Range` before reading, and while streaming); `0`: no limit"),
    setting("registry.max_page_size", "DISTR_MAX_PAGE_SIZE", "max-page-size")
        .legacy("max_page_size")
        .value("N")
        .help("most tags or repositories one `tags/list` / `_catalog` page returns (at least 1)"),
    setting("limits.max_header_bytes", "DISTR_MAX_HEADER_BYTES", "max-header-bytes")
        .legacy("max_header_bytes")
        .value("N")
        .help("largest request header block (8192–16777216); larger gets `431` and the connection is closed"),
    setting("limits.header_read_timeout_secs", "DISTR_HEADER_READ_TIMEOUT_SECS", "header-read-timeout-secs")
        .legacy("header_read_timeout_secs")
        .value("N")
        .help("seconds (1–3600) a client may take to send a request's headers (slow-header clients and idle keep-alive connections are disconnected)"),
    setting("limits.body_idle_timeout_secs", "DISTR_BODY_IDLE_TIMEOUT_SECS", "body-idle-timeout-secs")
        .legacy("body_idle_timeout_secs")
        .value("N")
        .help("seconds (1–3600) a request body may send nothing; then the request is aborted (`400` / `BLOB_UPLOAD_INVALID` for uploads; the chunk is not stored, the session resumes)"),
    setting("limits.max_uploads_per_token", "DISTR_MAX_UPLOADS_PER_TOKEN", "max-uploads-per-token")
        .legacy("max_uploads_per_token")
        .value("N")
        .help("upload requests (`POST`/`PATCH`/`PUT` under `blobs/uploads/`) one token may have in flight (without a token: one client address); more get `429` / `TOOMANYREQUESTS`, `Retry-After: 1`; `0`: no limit"),
    setting("limits.rate_limit_per_token", "DISTR_RATE_LIMIT_PER_TOKEN", "rate-limit-per-token")
        .legacy("rate_limit_per_token")
        .value("R")
        .help("requests per second (fractions allowed) each access token may make on average; more get `429` with `Retry-After` (`TOOMANYREQUESTS`; `rate_limited` under `/api/v1`); `0`: no limit"),
    setting("limits.rate_limit_per_token_burst", "DISTR_RATE_LIMIT_PER_TOKEN_BURST", "rate-limit-per-token-burst")
        .legacy("rate_limit_per_token_burst")
        .value("N")
        .help("requests a token may make at once; `0`: twice the rate (at least 1)"),
    setting("limits.rate_limit_per_ip", "DISTR_RATE_LIMIT_PER_IP", "rate-limit-per-ip")
        .legacy("rate_limit_per_ip")
        .value("R")
        .help("the same per client address (the forwarded header only from the trusted proxies); `0`: no limit"),
    setting("limits.rate_limit_per_ip_burst", "DISTR_RATE_LIMIT_PER_IP_BURST", "rate-limit-per-ip-burst")
        .legacy("rate_limit_per_ip_burst")
        .value("N")
        .help("requests an address may make at once; `0`: twice the rate (at least 1)"),
    setting("server.trusted_proxies", "DISTR_TRUSTED_PROXIES", "trusted-proxies")
        .legacy("trusted_proxies")
        .value("LIST")
        .help("comma-separated IPs/CIDRs (`10.0.0.0/8,192.168.1.7`) whose forwarded header gives the client address (rate limits, the failed-authentication lockout, recorded pulls); empty: the peer is the client"),
    setting("server.forwarded_header", "DISTR_FORWARDED_HEADER", "forwarded-header")
        .value("NAME")
        .help("the header the trusted proxies write the client address to: `x-forwarded-for`, or `forwarded` (RFC 7239, its `for=`); only that one is read, since a proxy passes the other through from the client unchecked"),
    setting("server.public_url", "DISTR_PUBLIC_URL", "public-url")
        .value("URL")
        .help("the URL clients reach the registry at (`https://registry.example.com`, the TLS proxy's); the Bearer challenge's token realm is `<URL>/v2/token`. Empty: `http://<listen address>` when that is a specific address; on `0.0.0.0`/`[::]`, the request's `Host` when it is a plain host name"),
    setting("server.operator_token", "DISTR_OPERATOR_TOKEN", "operator-token")
        .value("TOKEN")
        .secret()
        .help("the server operator's token (at least 32 printable characters, not a user's token): it alone lists and creates vendor organisations, each with its first vendor admin, at `/api/v1/orgs`; never logged. Empty: that API is off"),
    setting("server.insecure_no_auth", "DISTR_INSECURE_NO_AUTH", "insecure-no-auth")
        .not_in_file()
        .help("serve the registry with **no authentication** and no management API (benchmarks, throwaway local use only); never read from a config file"),
    setting("upstream.sync_cron", "DISTR_UPSTREAM_SYNC_CRON", "upstream-sync-cron")
        .legacy("upstream_sync_cron")
        .value("EXPR")
        .help("when to sync artifacts from their upstreams (cron, UTC; a sixth leading field gives seconds); empty disables"),
    setting("upstream.timeout_secs", "DISTR_UPSTREAM_TIMEOUT_SECS", "upstream-timeout-secs")
        .legacy("upstream_timeout_secs")
        .value("N")
        .help("longest wait (1–600 s) for an upstream's response headers, per attempt; idempotent upstream requests are tried up to 3 times (connect errors, 5xx, 429 with a short `Retry-After`, timeouts), with backoff"),
    setting("upstream.max_connections", "DISTR_UPSTREAM_MAX_CONNECTIONS", "upstream-max-connections")
        .legacy("upstream_max_connections")
        .value("N")
        .help("requests in flight to one upstream registry host (a blob keeps its place while it streams); more wait up to the upstream timeout, then `503`; `0`: no limit"),
    setting("upstream.ecr_endpoint", "DISTR_ECR_ENDPOINT", "ecr-endpoint")
        .legacy("ecr_endpoint")
        .value("URL")
        .help("Amazon ECR API endpoint for `GetAuthorizationToken` (tests use `moto_server`); empty: the region's AWS endpoint"),
    setting("upstream.allow", "DISTR_UPSTREAM_ALLOW", "upstream-allow")
        .value("LIST")
        .help("hosts, `host:port`, addresses and networks (`127.0.0.1,registry.internal:5000,10.0.0.0/8`) that upstreams and their token realms may reach although they are not public, and over plain HTTP (`insecure`); empty: public addresses over HTTPS only. Set by the operator, never by a vendor"),
    setting("gc.cron", "DISTR_GC_CRON", "gc-cron")
        .value("EXPR")
        .help("when to collect garbage (cron, UTC); empty disables the schedule (`distr-server gc` still runs it)"),
    setting("gc.grace", "DISTR_GC_GRACE", "gc-grace")
        .value("DURATION")
        .help("how long a blob stays unreferenced before it is deleted (`90s`, `15m`, `24h`, `7d`; plain numbers are seconds)"),
    setting("gc.upload_ttl", "DISTR_GC_UPLOAD_TTL", "gc-upload-ttl")
        .value("DURATION")
        .help("age after which upload sessions are abandoned and deleted"),
    setting("gc.cache_max_bytes", "DISTR_CACHE_MAX_BYTES", "cache-max-bytes")
        .value("SIZE")
        .help("high watermark of the pull-through cache (`50GiB`, `512m`; binary multiples); empty: no eviction"),
    setting("gc.cache_low_bytes", "DISTR_CACHE_LOW_BYTES", "cache-low-bytes")
        .value("SIZE")
        .help("what eviction frees down to; empty: 90 % of the maximum"),
    setting("metrics.listen", "DISTR_METRICS_LISTEN", "metrics-listen")
        .value("ADDR")
        .help("serve `/metrics` on this separate address (unauthenticated unless `metrics.token` is set: bind a private interface); empty: not served separately"),
    setting("metrics.token", "DISTR_METRICS_TOKEN", "metrics-token")
        .value("TOKEN")
        .secret()
        .help("bearer token scrapers present (`Authorization: Bearer …`); with it `/metrics` is also served on the registry listener. With neither this nor `metrics.listen`, `/metrics` is not served at all (it names artifacts, by id, and routes)"),
    setting("analytics.enabled", "DISTR_ANALYTICS", "analytics")
        .legacy("analytics")
        .value("on|off")
        .help("record download analytics"),
    setting("analytics.writer_priority", "DISTR_ANALYTICS_WRITER_PRIORITY", "analytics-writer-priority")
        .legacy("analytics_writer_priority")
        .value("P")
        .help("CPU priority of the threads writing analytics: `idle` (Linux `SCHED_IDLE`; never delays a request, falls behind on a fully busy machine) or a nice value `0`–`19` (a share of busy cores; a request may wait a scheduler slice)"),
    setting("bootstrap.org", "DISTR_BOOTSTRAP_ORG", "bootstrap-org")
        .legacy("bootstrap_org")
        .value("SLUG")
        .help("slug of the vendor organisation created (with vendor admin `admin@<slug>` and a token) when the database has no organisation"),
    setting("bootstrap.token", "DISTR_BOOTSTRAP_TOKEN", "bootstrap-token")
        .value("TOKEN")
        .secret()
        .help("the bootstrap vendor admin's token: starts with `distr_`, at least 32 characters, never logged; later starts add it for the organisation's first vendor admin if it is unknown; empty: generated and printed once on stderr"),
    setting("secrets.key", "DISTR_SECRET_KEY", "secret-key")
        .value("KEY")
        .secret()
        .help("master key sealing upstream credentials: 32 bytes, base64 or hex; required with a database URL; empty: the key file, else `<data-dir>/master.key` (generated)"),
    setting("secrets.key_file", "DISTR_SECRET_KEY_FILE", "secret-key-file")
        .legacy("secret_key_file")
        .value("FILE")
        .help("file holding the master key"),
    setting("secrets.previous_keys", "DISTR_PREVIOUS_SECRET_KEYS", "previous-secret-keys")
        .value("KEYS")
        .secret()
        .help("older master keys (comma-separated) still accepted during a rotation; values under them are re-sealed at start-up"),
    setting("log.filter", "DISTR_LOG", "log")
        .value("FILTER")
        .help("log filter (`tracing` syntax, e.g. `distr_hyper=debug,info`); logs go to stderr; empty: `info` (`warn` for `admin`)"),
];
