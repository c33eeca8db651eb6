//! `distr-bench`: a load generator for a distr registry running on this
//! machine.
//!
//! ```text
//! distr-bench setup    --registry http://127.0.0.1:5000 --repo bench/app --blob-mib 256
//! distr-bench blob     --registry http://127.0.0.1:5000 --repo bench/app --digest sha256:… --concurrency 8 --duration 20s
//! distr-bench manifest --registry http://127.0.0.1:5000 --repo bench/app --tag bench --connections 64 --duration 20s
//! distr-bench first-pull --registry http://127.0.0.1:5000 --repo acme/mirror \
//!     --direct-registry http://127.0.0.1:5001 --direct-repo team/app --digests sha256:…,sha256:…
//! ```
//!
//! `setup` pushes a deterministic pseudo-random blob and a manifest tagged
//! `bench` that references it, and prints the blob digest. `blob` and
//! `manifest` drive closed-loop GET load over keep-alive HTTP/1.1
//! connections (one client, normally one connection, per worker) and print
//! a report ending with a machine-readable `RESULT key=value …` line.
//! Bytes are counted as they arrive. Any failed request makes the
//! exit status non-zero. Only loopback registries are accepted, and every
//! run is bounded in time and in request count.
#![forbid(unsafe_code)]

mod blobgen;
mod client;
mod compare;
mod cpu;
mod load;
mod recorder;
mod seed;

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};

use crate::client::{self as bhttp, HttpClient, Registry};
use crate::load::{Budget, Outcome};
use clap::{Args, Parser, Subcommand};
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use sha2::{Digest as _, Sha256};

/// OCI image manifest media type.
const MANIFEST_V1: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config media type.
const CONFIG_V1: &str = "application/vnd.oci.image.config.v1+json";
/// Media type given to the benchmark blob in the manifest.
const LAYER_V1: &str = "application/vnd.oci.image.layer.v1.tar";
/// Longest run accepted.
const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Run length when neither `--duration` nor `--requests` is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(20);
/// Bytes in a MiB.
const MIB: u64 = 1 << 20;

/// Benchmark load tool for a distr registry on this machine.
#[derive(Debug, Parser)]
#[command(name = "distr-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Push a pseudo-random blob, a config and a manifest tagged `bench`;
    /// print the blob digest on stdout.
    Setup(SetupArgs),
    /// Repeatedly GET one blob with C concurrent clients; report throughput.
    Blob(BlobArgs),
    /// GET one manifest over many keep-alive connections; report requests/s
    /// and latency percentiles.
    Manifest(ManifestArgs),
    /// Load many customers and entitlements into a distr SQLite database;
    /// print a token of a customer entitled to `--tag`.
    SeedAccess(SeedArgs),
    /// First pulls through the pull-through cache: one blob directly from
    /// the upstream and through distr (total time and time to first byte),
    /// then several uncached blobs at once through distr.
    FirstPull(FirstPullArgs),
    /// Forward HTTP to an upstream registry, counting requests by kind
    /// (served at `GET /-/counts`).
    CountProxy(crate::compare::count_proxy::CountProxyArgs),
    /// Several clients GET the same blob at once; report the wall time.
    Pull(crate::compare::pull::PullArgs),
    /// Put one existing manifest under many tags.
    PushTags(crate::compare::tags::PushTagsArgs),
    /// Trigger a distr artifact sync and wait for its end.
    SyncTags(crate::compare::tag_sync::SyncTagsArgs),
    /// Push pull events at a fixed rate through the analytics recorder into
    /// a SQLite (or Postgres) store, no HTTP; report the rate sustained.
    AnalyticsWriter(crate::recorder::AnalyticsWriterArgs),
}

#[derive(Debug, Args)]
struct SeedArgs {
    /// The distr-server data directory (its `distr.db` is written).
    #[arg(long)]
    data_dir: std::path::PathBuf,
    /// Vendor organisation slug (must exist).
    #[arg(long, default_value = "bench")]
    org: String,
    /// Artifact name (created when missing).
    #[arg(long, default_value = "app")]
    artifact: String,
    /// The tag the measured customer is entitled to.
    #[arg(long, default_value = "bench")]
    tag: String,
    /// Customers to create.
    #[arg(long, default_value_t = 10_000)]
    customers: usize,
    /// Entitlements per customer.
    #[arg(long, default_value_t = 10)]
    entitlements_per_customer: usize,
}

async fn seed_access(a: SeedArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let seeded = crate::seed::seed(
        &a.data_dir.join("distr.db"),
        &a.org,
        &a.artifact,
        &a.tag,
        a.customers,
        a.entitlements_per_customer,
    )
    .await?;
    eprintln!(
        "seeded {} customers and {} entitlements in {:.1} s",
        seeded.customers,
        seeded.entitlements,
        started.elapsed().as_secs_f64()
    );
    println!("{}", seeded.token);
    Ok(())
}

/// Where the registry and repository are.
#[derive(Debug, Args)]
struct TargetArgs {
    /// Personal access token to authenticate every request with (HTTP Basic).
    #[arg(long, env = "DISTR_BENCH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Registry base URL; must resolve to a loopback address.
    #[arg(long, default_value = "http://127.0.0.1:5000")]
    registry: String,
    /// Repository name (`<org>/<artifact>`).
    #[arg(long, default_value = "bench/app", value_parser = parse_repo)]
    repo: String,
}

/// How long a load run lasts.
#[derive(Debug, Args)]
struct BudgetArgs {
    /// Run for this long (`15s`, `500ms`, `2m`; at most 1h). Defaults to 20s
    /// unless `--requests` is given.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many requests in total (whichever of
    /// `--duration`/`--requests` comes first).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    requests: Option<u64>,
    /// Stop early after this many failed requests.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    max_errors: u64,
}

impl BudgetArgs {
    fn budget(&self, request_timeout: Duration) -> Budget {
        let duration = match (self.duration, self.requests) {
            (None, None) => Some(DEFAULT_DURATION),
            (d, _) => d,
        };
        Budget {
            duration,
            requests: self.requests,
            max_errors: self.max_errors,
            request_timeout,
        }
    }
}

#[derive(Debug, Args)]
struct SetupArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Blob size in MiB.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=16384))]
    blob_mib: u64,
    /// Seed of the pseudo-random blob content.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Tag of the pushed manifest.
    #[arg(long, default_value = "bench", value_parser = parse_tag)]
    tag: String,
    /// Number of distinct blobs (seeds `seed`, `seed+1`, …), all layers of
    /// the manifest; their digests are printed one per line.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    blobs: u64,
}

#[derive(Debug, Args)]
struct FirstPullArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// The upstream registry the mirrored repository reads from, for the
    /// direct comparison (no token is sent to it).
    #[arg(long)]
    direct_registry: String,
    /// The repository on the upstream.
    #[arg(long, value_parser = parse_repo)]
    direct_repo: String,
    /// Blob digests, none of them cached by distr yet: the first is pulled
    /// alone (directly, then through distr); the others all at once
    /// through distr.
    #[arg(long, value_delimiter = ',', value_parser = parse_digest, required = true)]
    digests: Vec<String>,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout: u64,
    /// distr-server's process id: its CPU time during the single pull is
    /// reported (a measure of its work that holds up on a busy machine).
    #[arg(long)]
    server_pid: Option<u32>,
    /// The upstream's process id, for the same report.
    #[arg(long)]
    upstream_pid: Option<u32>,
}

#[derive(Debug, Args)]
struct BlobArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Blob digest (as printed by `setup`).
    #[arg(long, value_parser = parse_digest)]
    digest: String,
    /// Concurrent clients, each with its own keep-alive connection.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    #[command(flatten)]
    budget: BudgetArgs,
    /// Skip the untimed first download that checks the blob's sha256.
    #[arg(long)]
    no_verify: bool,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout: u64,
}

#[derive(Debug, Args)]
struct ManifestArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Tag (or digest) of the manifest.
    #[arg(long, default_value = "bench", value_parser = parse_reference)]
    tag: String,
    /// Concurrent keep-alive connections, each doing sequential GETs.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1024))]
    connections: u16,
    #[command(flatten)]
    budget: BudgetArgs,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    request_timeout: u64,
    /// Open loop: offer this many requests per second in all, spread over
    /// the connections, instead of sending back to back (latency at a
    /// given load rather than the highest rate).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    rate: Option<u64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let command = Cli::parse().command;
    let token = match &command {
        Command::Setup(a) => a.target.token.clone(),
        Command::Blob(a) => a.target.token.clone(),
        Command::Manifest(a) => a.target.token.clone(),
        Command::FirstPull(a) => a.target.token.clone(),
        Command::SeedAccess(_) => None,
        Command::Pull(a) => a.token.clone(),
        Command::PushTags(a) => a.token.clone(),
        Command::CountProxy(_) | Command::SyncTags(_) => None,
        Command::AnalyticsWriter(_) => None,
    };
    if let Some(t) = token {
        if let Err(e) = bhttp::set_token(&t) {
            eprintln!("distr-bench: error: {e:#}");
            return ExitCode::FAILURE;
        }
    }
    let result = match command {
        Command::Setup(a) => setup(a).await,
        Command::Blob(a) => blob(a).await,
        Command::Manifest(a) => manifest(a).await,
        Command::SeedAccess(a) => seed_access(a).await,
        Command::FirstPull(a) => first_pull(a).await,
        Command::CountProxy(a) => crate::compare::count_proxy::run(a).await,
        Command::Pull(a) => crate::compare::pull::run(a).await,
        Command::PushTags(a) => crate::compare::tags::run(a).await,
        Command::SyncTags(a) => crate::compare::tag_sync::run(a).await,
        Command::AnalyticsWriter(a) => crate::recorder::run_cli(a).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("distr-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `setup`: pushes the blob, a config and a manifest.
async fn setup(args: SetupArgs) -> anyhow::Result<()> {
    let registry = Registry::resolve(&args.target.registry).await?;
    let repo = &args.target.repo;
    let client = bhttp::client(1, Default::default());
    ping(&client, &registry).await?;

    let len = args.blob_mib * MIB;
    let mut digests = Vec::new();
    for seed in args.seed..args.seed + args.blobs {
        let t0 = Instant::now();
        let digest = tokio::task::spawn_blocking(move || blobgen::digest(seed, len))
            .await
            .context("hashing the blob")?;
        eprintln!(
            "blob: {} MiB, {digest} (generated and hashed in {})",
            args.blob_mib,
            load::human(t0.elapsed())
        );
        if blob_exists(&client, &registry, repo, &digest).await? {
            eprintln!("blob: already in {repo}, not uploading it again");
        } else {
            let t0 = Instant::now();
            let body = blobgen::stream(seed, len);
            upload(&client, &registry, repo, &digest, len, body.boxed()).await?;
            let dt = t0.elapsed();
            eprintln!(
                "blob: uploaded in {} ({:.3} GB/s)",
                load::human(dt),
                len as f64 / dt.as_secs_f64() / 1e9
            );
        }
        digests.push(digest);
    }

    let config = image_config();
    let config_digest = sha256_digest(&config);
    let config_len = config.len() as u64;
    upload(
        &client,
        &registry,
        repo,
        &config_digest,
        config_len,
        bhttp::full(config),
    )
    .await?;

    let layers: Vec<String> = digests
        .iter()
        .map(|d| format!(r#"{{"mediaType":"{LAYER_V1}","digest":"{d}","size":{len}}}"#))
        .collect();
    let manifest = format!(
        concat!(
            r#"{{"schemaVersion":2,"mediaType":"{mt}","#,
            r#""config":{{"mediaType":"{ct}","digest":"{cd}","size":{cs}}},"#,
            r#""layers":[{layers}],"#,
            r#""annotations":{{"org.opencontainers.image.title":"distr-bench"}}}}"#
        ),
        mt = MANIFEST_V1,
        ct = CONFIG_V1,
        cd = config_digest,
        cs = config_len,
        layers = layers.join(","),
    );
    let req = Request::put(registry.uri(&format!("/v2/{repo}/manifests/{}", args.tag))?)
        .header(CONTENT_TYPE, MANIFEST_V1)
        .header(CONTENT_LENGTH, manifest.len())
        .body(bhttp::full(manifest))?;
    let resp = bhttp::send(&client, req)
        .await
        .map_err(anyhow::Error::msg)?;
    let resp = bhttp::expect_status("pushing the manifest", resp, StatusCode::CREATED).await?;
    let manifest_digest = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_owned();
    eprintln!("manifest: {repo}:{} = {manifest_digest}", args.tag);
    for d in digests {
        println!("{d}");
    }
    Ok(())
}

/// What one timed blob download took.
struct Timed {
    /// Until the response headers and the first body bytes arrived.
    first_byte: Duration,
    /// Until the last byte arrived.
    total: Duration,
    bytes: u64,
}

/// GETs a blob once, checks its sha256, and times it.
async fn timed_get(
    client: &HttpClient,
    registry: &Registry,
    repo: &str,
    digest: &str,
    timeout: Duration,
) -> anyhow::Result<Timed> {
    let req =
        Request::get(registry.uri(&format!("/v2/{repo}/blobs/{digest}"))?).body(bhttp::empty())?;
    let t0 = Instant::now();
    let fetch = async {
        let resp = bhttp::send(client, req).await.map_err(anyhow::Error::msg)?;
        let resp = bhttp::expect_status("GET blob", resp, StatusCode::OK).await?;
        let mut hasher = Sha256::new();
        let mut first_byte = None;
        let n = bhttp::drain(resp.into_body(), |c| {
            first_byte.get_or_insert_with(|| t0.elapsed());
            hasher.update(c);
        })
        .await
        .map_err(anyhow::Error::msg)?;
        let total = t0.elapsed();
        let got = format!("sha256:{}", hex::encode(hasher.finalize()));
        ensure!(
            got == digest,
            "GET {digest} returned content with digest {got}"
        );
        Ok(Timed {
            first_byte: first_byte.unwrap_or(total),
            total,
            bytes: n,
        })
    };
    tokio::time::timeout(timeout, fetch)
        .await
        .with_context(|| format!("GET {digest}: timed out"))?
}

/// `first-pull`: first pulls through the pull-through cache.
async fn first_pull(args: FirstPullArgs) -> anyhow::Result<()> {
    let distr = Registry::resolve(&args.target.registry).await?;
    let direct = Registry::resolve(&args.direct_registry).await?;
    let repo = &args.target.repo;
    let timeout = Duration::from_secs(args.request_timeout);
    let (first, rest) = args
        .digests
        .split_first()
        .context("--digests needs at least one digest")?;

    // The upstream serves from its page cache in both timed pulls. (The
    // token header also goes to the upstream, which has no authentication
    // and ignores it.)
    let plain = bhttp::client(1, Default::default());
    timed_get(&plain, &direct, &args.direct_repo, first, timeout).await?;
    let cpu = |pid| crate::cpu::cpu_time(Some(pid));
    let (up0, me0) = (args.upstream_pid.and_then(cpu), crate::cpu::cpu_time(None));
    let d = timed_get(&plain, &direct, &args.direct_repo, first, timeout).await?;
    let (up1, me1) = (args.upstream_pid.and_then(cpu), crate::cpu::cpu_time(None));
    let client = bhttp::client(1, Default::default());
    let distr0 = args.server_pid.and_then(cpu);
    let t = timed_get(&client, &distr, repo, first, timeout).await?;
    let (distr1, up2, me2) = (
        args.server_pid.and_then(cpu),
        args.upstream_pid.and_then(cpu),
        crate::cpu::cpu_time(None),
    );
    let secs = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |s| format!("{s:.2}"));
    println!(
        "cpu seconds     direct: upstream {} client {}; through distr: upstream {} distr {} client {}",
        secs(crate::cpu::spent(up0, up1)),
        secs(crate::cpu::spent(me0, me1)),
        secs(crate::cpu::spent(up1, up2)),
        secs(crate::cpu::spent(distr0, distr1)),
        secs(crate::cpu::spent(me1, me2)),
    );
    ensure!(
        t.bytes == d.bytes,
        "distr sent {} bytes, upstream {}",
        t.bytes,
        d.bytes
    );
    let ratio = t.total.as_secs_f64() / d.total.as_secs_f64();
    println!(
        "scenario        first pull of one uncached blob ({} bytes)",
        d.bytes
    );
    println!(
        "direct          {} (first byte after {})",
        load::human(d.total),
        load::human(d.first_byte)
    );
    println!(
        "through distr   {} (first byte after {}), {ratio:.3}x direct",
        load::human(t.total),
        load::human(t.first_byte)
    );

    let mut concurrent = Duration::ZERO;
    if !rest.is_empty() {
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for digest in rest {
            let (distr, repo, digest) = (distr.clone(), repo.clone(), digest.clone());
            tasks.push(tokio::spawn(async move {
                let c = bhttp::client(1, Default::default());
                timed_get(&c, &distr, &repo, &digest, timeout).await
            }));
        }
        for task in tasks {
            task.await.context("a download task failed")??;
        }
        concurrent = t0.elapsed();
        println!(
            "concurrent      {} uncached blobs at once through distr: {}",
            rest.len(),
            load::human(concurrent)
        );
    }
    println!(
        "RESULT scenario=first_pull bytes={} direct_s={:.3} distr_s={:.3} ratio={ratio:.3} direct_ttfb_ms={:.1} distr_ttfb_ms={:.1} concurrent={} concurrent_s={:.3}",
        d.bytes,
        d.total.as_secs_f64(),
        t.total.as_secs_f64(),
        d.first_byte.as_secs_f64() * 1e3,
        t.first_byte.as_secs_f64() * 1e3,
        rest.len(),
        concurrent.as_secs_f64(),
    );
    Ok(())
}

/// A minimal OCI image config.
fn image_config() -> Vec<u8> {
    br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#
        .to_vec()
}

/// `sha256:<hex>` of `bytes`.
fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Checks that `/v2/` answers 200.
async fn ping(client: &HttpClient, registry: &Registry) -> anyhow::Result<()> {
    let req = Request::get(registry.uri("/v2/")?).body(bhttp::empty())?;
    let resp = bhttp::send(client, req)
        .await
        .map_err(|e| anyhow::anyhow!("registry at {} is not reachable: {e}", registry.addr()))?;
    let resp = bhttp::expect_status("GET /v2/", resp, StatusCode::OK).await?;
    bhttp::drain(resp.into_body(), |_| {})
        .await
        .map_err(anyhow::Error::msg)?;
    Ok(())
}

/// True when the blob is already stored in `repo`.
async fn blob_exists(
    client: &HttpClient,
    registry: &Registry,
    repo: &str,
    digest: &str,
) -> anyhow::Result<bool> {
    Ok(blob_size(client, registry, repo, digest).await?.is_some())
}

/// The stored size of a blob (from `HEAD`), or `None` if it is unknown.
async fn blob_size(
    client: &HttpClient,
    registry: &Registry,
    repo: &str,
    digest: &str,
) -> anyhow::Result<Option<u64>> {
    let req = Request::builder()
        .method(Method::HEAD)
        .uri(registry.uri(&format!("/v2/{repo}/blobs/{digest}"))?)
        .body(bhttp::empty())?;
    let resp = bhttp::send(client, req).await.map_err(anyhow::Error::msg)?;
    match resp.status() {
        StatusCode::OK => {
            let len = resp
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .context("HEAD of the blob has no valid Content-Length")?;
            Ok(Some(len))
        }
        StatusCode::NOT_FOUND => Ok(None),
        s => bail!("HEAD /v2/{repo}/blobs/{digest}: unexpected status {s}"),
    }
}

/// Upload in two steps, as every registry supports: `POST
/// /v2/<repo>/blobs/uploads/` opens a session, `PUT <location>?digest=…` sends
/// the whole body and commits it.
async fn upload(
    client: &HttpClient,
    registry: &Registry,
    repo: &str,
    digest: &str,
    len: u64,
    body: bhttp::ReqBody,
) -> anyhow::Result<()> {
    let what = format!("uploading {digest}");
    let req = Request::post(registry.uri(&format!("/v2/{repo}/blobs/uploads/"))?)
        .header(CONTENT_LENGTH, 0)
        .body(bhttp::empty())?;
    let resp = bhttp::send(client, req).await.map_err(anyhow::Error::msg)?;
    let resp = bhttp::expect_status(&what, resp, StatusCode::ACCEPTED).await?;
    let location = resp
        .headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .context("the upload session has no Location")?
        .to_owned();
    bhttp::drain(resp.into_body(), |_| {})
        .await
        .map_err(anyhow::Error::msg)?;
    let sep = if location.contains('?') { '&' } else { '?' };
    let target = if location.starts_with('/') {
        registry.uri(&format!("{location}{sep}digest={digest}"))?
    } else {
        format!("{location}{sep}digest={digest}")
            .parse()
            .context("the upload Location is not a URI")?
    };
    let req = Request::put(target)
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, len)
        .body(body)?;
    let resp = tokio::time::timeout(Duration::from_secs(1800), bhttp::send(client, req))
        .await
        .with_context(|| format!("{what}: timed out"))?
        .map_err(anyhow::Error::msg)?;
    let resp = bhttp::expect_status(&what, resp, StatusCode::CREATED).await?;
    bhttp::drain(resp.into_body(), |_| {})
        .await
        .map_err(anyhow::Error::msg)?;
    Ok(())
}

/// `blob`: blob download throughput.
async fn blob(args: BlobArgs) -> anyhow::Result<()> {
    let registry = Registry::resolve(&args.target.registry).await?;
    let repo = args.target.repo.clone();
    let probe = bhttp::client(1, Default::default());
    let Some(size) = blob_size(&probe, &registry, &repo, &args.digest).await? else {
        bail!(
            "blob {} is not in {repo}; run `distr-bench setup` first",
            args.digest
        );
    };
    let uri = registry.uri(&format!("/v2/{repo}/blobs/{}", args.digest))?;

    if !args.no_verify {
        // Untimed: checks the content once and warms the server's page cache.
        let t0 = Instant::now();
        let mut hasher = Sha256::new();
        let req = Request::get(uri.clone()).body(bhttp::empty())?;
        let resp = bhttp::send(&probe, req).await.map_err(anyhow::Error::msg)?;
        let resp = bhttp::expect_status("GET blob", resp, StatusCode::OK).await?;
        let n = bhttp::drain(resp.into_body(), |c| hasher.update(c))
            .await
            .map_err(anyhow::Error::msg)?;
        ensure!(n == size, "GET blob returned {n} bytes, expected {size}");
        let got = format!("sha256:{}", hex::encode(hasher.finalize()));
        ensure!(
            got == args.digest,
            "GET blob returned content with digest {got}"
        );
        eprintln!(
            "verified {} ({size} bytes) in {}",
            args.digest,
            load::human(t0.elapsed())
        );
    }
    drop(probe);

    let concurrency = usize::from(args.concurrency);
    let budget = args
        .budget
        .budget(Duration::from_secs(args.request_timeout));
    let out = load::run(concurrency, budget, move |client, progress| {
        let uri = uri.clone();
        async move {
            let req = Request::get(uri)
                .body(bhttp::empty())
                .map_err(|e| e.to_string())?;
            let resp = bhttp::send(&client, req).await?;
            if resp.status() != StatusCode::OK {
                let status = resp.status();
                return Err(format!(
                    "GET blob: status {status}: {}",
                    bhttp::text(resp.into_body(), 200).await
                ));
            }
            let n = bhttp::drain(resp.into_body(), |chunk| {
                progress.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            })
            .await?;
            if n != size {
                return Err(format!("GET blob: {n} bytes instead of {size}"));
            }
            Ok(())
        }
    })
    .await?;

    let bps = out.bytes_per_sec();
    println!(
        "scenario        blob GET {repo}@{} ({size} bytes)",
        args.digest
    );
    println!(
        "concurrency     {concurrency} (TCP connections opened: {})",
        out.connections
    );
    print_common(&out);
    println!(
        "throughput      {:.3} GB/s ({:.3} GiB/s)",
        bps / 1e9,
        bps / f64::from(1u32 << 30)
    );
    println!(
        "RESULT scenario=blob concurrency={concurrency} seconds={:.3} requests={} errors={} cut={} bytes={} gb_per_s={:.3} gib_per_s={:.3} p50_ms={} max_ms={} connections={}",
        out.elapsed.as_secs_f64(),
        out.ok,
        out.errors,
        out.cut,
        out.bytes,
        bps / 1e9,
        bps / f64::from(1u32 << 30),
        load::ms(out.percentile(50.0)),
        load::ms(out.percentile(100.0)),
        out.connections,
    );
    finish(&out)
}

/// `manifest`: manifest GET rate and latency.
async fn manifest(args: ManifestArgs) -> anyhow::Result<()> {
    let registry = Registry::resolve(&args.target.registry).await?;
    let repo = args.target.repo.clone();
    let uri = registry.uri(&format!("/v2/{repo}/manifests/{}", args.tag))?;

    // Untimed probe: fail fast with the server's answer, and learn the size.
    let probe = bhttp::client(1, Default::default());
    let req = Request::get(uri.clone())
        .header(ACCEPT, MANIFEST_V1)
        .body(bhttp::empty())?;
    let resp = bhttp::send(&probe, req).await.map_err(anyhow::Error::msg)?;
    let resp = bhttp::expect_status("GET manifest", resp, StatusCode::OK).await?;
    let size = bhttp::drain(resp.into_body(), |_| {})
        .await
        .map_err(anyhow::Error::msg)?;
    drop(probe);

    let connections = usize::from(args.connections);
    let budget = args
        .budget
        .budget(Duration::from_secs(args.request_timeout));
    let get = move |client: HttpClient, progress: load::Progress| {
        let uri = uri.clone();
        async move {
            let req = Request::get(uri)
                .header(ACCEPT, MANIFEST_V1)
                .body(bhttp::empty())
                .map_err(|e| e.to_string())?;
            let resp = bhttp::send(&client, req).await?;
            if resp.status() != StatusCode::OK {
                let status = resp.status();
                return Err(format!(
                    "GET manifest: status {status}: {}",
                    bhttp::text(resp.into_body(), 200).await
                ));
            }
            let n = bhttp::drain(resp.into_body(), |_| {}).await?;
            progress.fetch_add(n, Ordering::Relaxed);
            if n != size {
                return Err(format!("GET manifest: {n} bytes instead of {size}"));
            }
            Ok(())
        }
    };
    let out = match args.rate {
        Some(rate) => load::run_paced(connections, budget, rate as f64, get).await?,
        None => load::run(connections, budget, get).await?,
    };

    println!(
        "scenario        manifest GET {repo}:{} ({size} bytes)",
        args.tag
    );
    println!(
        "connections     {connections} (TCP connections opened: {})",
        out.connections
    );
    print_common(&out);
    println!("throughput      {:.0} requests/s", out.requests_per_sec());
    if let Some(rate) = args.rate {
        println!(
            "offered         {rate} requests/s (open loop); {} sent more than {:?} late",
            out.late,
            load::LATE
        );
    }
    println!(
        "RESULT scenario=manifest connections={connections} rate={} late={} mean_ms={} seconds={:.3} requests={} errors={} cut={} req_per_s={:.0} p50_ms={} p90_ms={} p99_ms={} p999_ms={} max_ms={} opened={}",
        args.rate.map_or_else(|| "max".to_owned(), |r| r.to_string()),
        out.late,
        load::ms(out.mean()),
        out.elapsed.as_secs_f64(),
        out.ok,
        out.errors,
        out.cut,
        out.requests_per_sec(),
        load::ms(out.percentile(50.0)),
        load::ms(out.percentile(90.0)),
        load::ms(out.percentile(99.0)),
        load::ms(out.percentile(99.9)),
        load::ms(out.percentile(100.0)),
        out.connections,
    );
    finish(&out)
}

/// Prints the lines every scenario shares.
fn print_common(out: &Outcome) {
    println!("elapsed         {:.3} s", out.elapsed.as_secs_f64());
    println!(
        "requests        {} ok, {} failed, {} cut off at the deadline",
        out.ok, out.errors, out.cut
    );
    let show = |p: f64| {
        out.percentile(p)
            .map_or_else(|| "-".to_owned(), load::human)
    };
    println!(
        "latency         mean {}  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        out.mean().map_or_else(|| "-".to_owned(), load::human),
        show(50.0),
        show(90.0),
        show(99.0),
        show(99.9),
        show(100.0),
    );
}

/// Reports failures; an error (non-zero exit) if any request failed.
fn finish(out: &Outcome) -> anyhow::Result<()> {
    out.report_errors();
    ensure!(out.errors == 0, "{} request(s) failed", out.errors);
    ensure!(
        out.ok > 0 || out.bytes > 0,
        "no request completed and no byte arrived"
    );
    Ok(())
}

/// `15s`, `500ms`, `2m`, `1h`, or plain seconds; between 1 ms and 1 h.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1e3,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        u => return Err(format!("unknown duration unit {u:?} (use ms, s, m or h)")),
    };
    if !(0.001..=MAX_DURATION.as_secs_f64()).contains(&secs) {
        return Err(format!("duration {s:?} must be between 1ms and 1h"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A repository name: lowercase path components joined by `/`.
fn parse_repo(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 255
        && s.split('/').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        });
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "invalid repository name {s:?} (expected e.g. bench/app)"
        ))
    }
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn parse_tag(s: &str) -> Result<String, String> {
    let ok = (1..=128).contains(&s.len())
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("invalid tag {s:?}"))
    }
}

/// A `sha256:<64 lowercase hex>` digest.
fn parse_digest(s: &str) -> Result<String, String> {
    match s.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
            Ok(s.to_owned())
        }
        _ => Err(format!("invalid digest {s:?} (expected sha256:<64 hex>)")),
    }
}

/// A tag or a digest.
fn parse_reference(s: &str) -> Result<String, String> {
    parse_digest(s).or_else(|_| parse_tag(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn names() {
        assert!(parse_repo("bench/app").is_ok());
        assert!(parse_repo("Bench/app").is_err());
        assert!(parse_repo("bench//app").is_err());
        assert!(parse_repo("bench/../x").is_err());
        assert!(parse_repo("bench/app?x=1").is_err());
        assert!(parse_tag("bench").is_ok());
        assert!(parse_tag(".x").is_err());
        assert!(parse_digest(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(parse_digest("sha256:abc").is_err());
        assert!(parse_reference("v1.0").is_ok());
    }

    #[tokio::test]
    async fn only_loopback_registries() {
        assert!(Registry::resolve("http://127.0.0.1:5000").await.is_ok());
        assert!(Registry::resolve("http://[::1]:5000/").await.is_ok());
        assert!(Registry::resolve("http://10.1.2.3:5000").await.is_err());
        assert!(Registry::resolve("https://127.0.0.1:5000").await.is_err());
        assert!(Registry::resolve("http://127.0.0.1:5000/v2/")
            .await
            .is_err());
        assert!(Registry::resolve("http://u:p@127.0.0.1:5000")
            .await
            .is_err());
    }

    #[test]
    fn cli_parses() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
