//! `distr-bench sync-tags`: triggers the sync of a distr artifact with its
//! upstream (`POST /api/v1/artifacts/{id}/sync`) and polls the artifact
//! until the sync ended; reports the wall time, the outcome and the number
//! of tags the artifact then has.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use clap::Args;
use http::header::AUTHORIZATION;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::Value;

use crate::client::{self as bhttp, HttpClient, Registry};
use crate::load;

/// How often the sync status is polled.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// Arguments of `sync-tags`.
#[derive(Debug, Args)]
pub struct SyncTagsArgs {
    /// A vendor admin's personal access token.
    #[arg(long, env = "DISTR_BENCH_TOKEN", hide_env_values = true)]
    pub token: String,
    /// distr base URL; must resolve to a loopback address.
    #[arg(long)]
    pub registry: String,
    /// The artifact's id.
    #[arg(long)]
    pub artifact_id: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
}

/// Sends an API request and returns its status and JSON body.
async fn api(
    client: &HttpClient,
    registry: &Registry,
    token: &str,
    method: Method,
    path: &str,
) -> anyhow::Result<(StatusCode, Value)> {
    let req = Request::builder()
        .method(method)
        .uri(registry.uri(path)?)
        .header(AUTHORIZATION, format!("AccessToken {token}"))
        .body(bhttp::empty())?;
    let resp = bhttp::send(client, req).await.map_err(anyhow::Error::msg)?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .context("reading an API response")?
        .to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Ok((status, json))
}

/// Runs `sync-tags`.
pub async fn run(args: SyncTagsArgs) -> anyhow::Result<()> {
    let registry = Registry::resolve(&args.registry).await?;
    let client = bhttp::client(1, Default::default());
    let artifact = format!("/api/v1/artifacts/{}", args.artifact_id);
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    };
    let asked_at = now_ms();
    let started = Instant::now();
    let (status, body) = api(
        &client,
        &registry,
        &args.token,
        Method::POST,
        &format!("{artifact}/sync"),
    )
    .await?;
    ensure!(
        status == StatusCode::ACCEPTED,
        "POST {artifact}/sync: {status}: {body}"
    );
    let deadline = started + Duration::from_secs(args.timeout);
    let sync = loop {
        let (status, body) = api(&client, &registry, &args.token, Method::GET, &artifact).await?;
        ensure!(status == StatusCode::OK, "GET {artifact}: {status}: {body}");
        let sync = body.get("sync").cloned().unwrap_or(Value::Null);
        let running = sync.get("running").and_then(Value::as_bool).unwrap_or(true);
        let attempt = sync
            .get("last_sync_attempt_at")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        // Our trigger started (or joined) a run that began at most now.
        if !running && attempt + 1000 >= asked_at {
            break sync;
        }
        if Instant::now() > deadline {
            bail!("the sync did not end within {} s", args.timeout);
        }
        tokio::time::sleep(POLL_EVERY).await;
    };
    let elapsed = started.elapsed();
    let error = sync
        .get("last_sync_error")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (status, tags) = api(
        &client,
        &registry,
        &args.token,
        Method::GET,
        &format!("{artifact}/tags"),
    )
    .await?;
    ensure!(status == StatusCode::OK, "GET {artifact}/tags: {status}");
    let tag_count = tags.as_array().map_or(0, Vec::len);
    println!(
        "sync            {} ({tag_count} tags now){}",
        load::human(elapsed),
        error
            .as_deref()
            .map_or_else(String::new, |e| format!(", error: {e}"))
    );
    println!(
        "RESULT scenario=sync seconds={:.3} tags={tag_count} ok={}",
        elapsed.as_secs_f64(),
        error.is_none()
    );
    if let Some(e) = error {
        bail!("the sync failed: {e}");
    }
    Ok(())
}
