//! `distr-bench pull`: `--clients` clients GET the same blob at the same
//! time, each over its own connection; reports the wall time until the last
//! byte arrived. With one client and an uncached blob this is a first pull;
//! with many, concurrent first pulls of one blob through a cache.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use clap::Args;
use http::{Request, StatusCode};
use sha2::{Digest as _, Sha256};

use crate::client::{self as bhttp, Registry};
use crate::load;

/// Arguments of `pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Personal access token (HTTP Basic), if the registry needs one.
    #[arg(long, env = "DISTR_BENCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Registry base URL; must resolve to a loopback address.
    #[arg(long)]
    pub registry: String,
    /// Repository name.
    #[arg(long)]
    pub repo: String,
    /// Blob digest (`sha256:<hex>`).
    #[arg(long)]
    pub digest: String,
    /// Clients pulling the blob at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub clients: u16,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout: u64,
}

/// What one client saw.
struct ClientPull {
    first_byte: Duration,
    total: Duration,
    bytes: u64,
}

/// GETs the blob once; the first client (`verify`) checks its sha256, the
/// others only that all clients got the same length.
async fn one(
    registry: Registry,
    repo: String,
    digest: String,
    verify: bool,
    start: Instant,
) -> anyhow::Result<ClientPull> {
    let client = bhttp::client(1, Default::default());
    let req =
        Request::get(registry.uri(&format!("/v2/{repo}/blobs/{digest}"))?).body(bhttp::empty())?;
    let resp = bhttp::send(&client, req)
        .await
        .map_err(anyhow::Error::msg)?;
    let resp = bhttp::expect_status("GET blob", resp, StatusCode::OK).await?;
    let mut hasher = verify.then(Sha256::new);
    let mut first_byte = None;
    let bytes = bhttp::drain(resp.into_body(), |chunk| {
        first_byte.get_or_insert_with(|| start.elapsed());
        if let Some(h) = hasher.as_mut() {
            h.update(chunk);
        }
    })
    .await
    .map_err(anyhow::Error::msg)?;
    let total = start.elapsed();
    if let Some(h) = hasher {
        let got = format!("sha256:{}", hex::encode(h.finalize()));
        ensure!(
            got == digest,
            "GET {digest} returned content with digest {got}"
        );
    }
    Ok(ClientPull {
        first_byte: first_byte.unwrap_or(total),
        total,
        bytes,
    })
}

/// Runs `pull` and prints its report, ending with a `RESULT` line.
pub async fn run(args: PullArgs) -> anyhow::Result<()> {
    let registry = Registry::resolve(&args.registry).await?;
    let timeout = Duration::from_secs(args.request_timeout);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..args.clients {
        let (registry, repo, digest) = (registry.clone(), args.repo.clone(), args.digest.clone());
        tasks.push(tokio::spawn(tokio::time::timeout(
            timeout,
            one(registry, repo, digest, i == 0, start),
        )));
    }
    let mut pulls = Vec::new();
    for task in tasks {
        let pull = task
            .await
            .context("a pull task failed")?
            .context("a pull timed out")??;
        pulls.push(pull);
    }
    let wall = start.elapsed();
    let bytes = pulls[0].bytes;
    ensure!(
        pulls.iter().all(|p| p.bytes == bytes),
        "clients received different lengths"
    );
    let min_ttfb = pulls.iter().map(|p| p.first_byte).min().unwrap_or_default();
    let slowest = pulls.iter().map(|p| p.total).max().unwrap_or_default();
    let fastest = pulls.iter().map(|p| p.total).min().unwrap_or_default();
    let total_bytes = bytes * pulls.len() as u64;
    println!(
        "scenario        {} client(s) GET {}@{} ({bytes} bytes each) at once",
        args.clients, args.repo, args.digest
    );
    println!(
        "wall time       {} (fastest client {}, first byte after {})",
        load::human(wall),
        load::human(fastest),
        load::human(min_ttfb)
    );
    println!(
        "throughput      {:.3} GB/s in all",
        total_bytes as f64 / wall.as_secs_f64() / 1e9
    );
    println!(
        "RESULT scenario=pull clients={} bytes={bytes} wall_s={:.3} fastest_s={:.3} slowest_s={:.3} ttfb_ms={:.1} gb_per_s={:.3}",
        args.clients,
        wall.as_secs_f64(),
        fastest.as_secs_f64(),
        slowest.as_secs_f64(),
        min_ttfb.as_secs_f64() * 1e3,
        total_bytes as f64 / wall.as_secs_f64() / 1e9,
    );
    Ok(())
}
