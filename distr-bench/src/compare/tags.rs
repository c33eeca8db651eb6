//! `distr-bench push-tags`: puts one existing manifest under many tags
//! (`<prefix>00000`, `<prefix>00001`, …), `--concurrency` PUTs at a time,
//! to build an upstream repository with thousands of tags quickly.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use bytes::Bytes;
use clap::Args;
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;

use crate::client::{self as bhttp, Registry};
use crate::load::{self, Budget};

/// Media types a manifest GET accepts.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// Arguments of `push-tags`.
#[derive(Debug, Args)]
pub struct PushTagsArgs {
    /// Personal access token (HTTP Basic), if the registry needs one.
    #[arg(long, env = "DISTR_BENCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Registry base URL; must resolve to a loopback address.
    #[arg(long)]
    pub registry: String,
    /// Repository name.
    #[arg(long)]
    pub repo: String,
    /// Tag of the manifest to copy (e.g. pushed by `setup`).
    #[arg(long)]
    pub from_tag: String,
    /// Tags to create.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub tags: u64,
    /// Prefix of the tag names (followed by a 5-digit number).
    #[arg(long, default_value = "t")]
    pub prefix: String,
    /// PUTs in flight at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
}

/// Runs `push-tags`.
pub async fn run(args: PushTagsArgs) -> anyhow::Result<()> {
    let registry = Registry::resolve(&args.registry).await?;
    let repo = args.repo.clone();
    let probe = bhttp::client(1, Default::default());
    let req = Request::get(registry.uri(&format!("/v2/{repo}/manifests/{}", args.from_tag))?)
        .header(ACCEPT, MANIFEST_TYPES)
        .body(bhttp::empty())?;
    let resp = bhttp::send(&probe, req).await.map_err(anyhow::Error::msg)?;
    let resp = bhttp::expect_status("GET the manifest to copy", resp, StatusCode::OK).await?;
    let media_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .context("the manifest has no Content-Type")?
        .to_owned();
    let content: Bytes = resp
        .into_body()
        .collect()
        .await
        .context("reading the manifest")?
        .to_bytes();
    drop(probe);

    let next = Arc::new(AtomicU64::new(0));
    let prefix = args.prefix.clone();
    let budget = Budget {
        duration: None,
        requests: Some(args.tags),
        max_errors: 1,
        request_timeout: Duration::from_secs(60),
    };
    let started = Instant::now();
    let out = load::run(usize::from(args.concurrency), budget, move |client, _| {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let uri = registry.uri(&format!("/v2/{repo}/manifests/{prefix}{i:05}"));
        let (media_type, content) = (media_type.clone(), content.clone());
        async move {
            let uri = uri.map_err(|e| e.to_string())?;
            let req = Request::put(uri)
                .header(CONTENT_TYPE, media_type)
                .header(CONTENT_LENGTH, content.len())
                .body(bhttp::full(content))
                .map_err(|e| e.to_string())?;
            let resp = bhttp::send(&client, req).await?;
            let status = resp.status();
            let body = bhttp::text(resp.into_body(), 200).await;
            if status != StatusCode::CREATED {
                return Err(format!("PUT manifest: status {status}: {body}"));
            }
            Ok(())
        }
    })
    .await?;
    out.report_errors();
    ensure!(out.errors == 0, "{} PUT(s) failed", out.errors);
    eprintln!(
        "push-tags: {} tags of {} in {}",
        out.ok,
        args.repo,
        load::human(started.elapsed())
    );
    println!(
        "RESULT scenario=push_tags tags={} seconds={:.3}",
        out.ok,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
