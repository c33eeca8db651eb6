//! Prometheus metrics of the real `distr-server`, end to end: push and pull
//! over plain HTTP, scrape `/metrics`, parse the text exposition and check
//! that the counters moved — on the registry listener with a scrape token
//! (`DISTR_METRICS_TOKEN`), on a separate listener with
//! `DISTR_METRICS_LISTEN` (then `/metrics` is 404 on the registry
//! listener), never in public by default, and for the pull-through cache in
//! front of a real upstream (CNCF Distribution, `/usr/bin/docker-registry`).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::upstream::{free_port, DistrProcess, UpstreamRegistry, UPSTREAM_REPO};
use common::*;
use serde_json::json;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One sample of a text exposition.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the sample lines of a Prometheus/OpenMetrics text exposition
/// (comments skipped; label values hold no `,` or `"` here).
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("sample line without a value: {line:?}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|e| panic!("bad value in {line:?}: {e}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let inner = rest
                        .strip_suffix('}')
                        .unwrap_or_else(|| panic!("unclosed labels: {line:?}"));
                    let labels = inner
                        .split(',')
                        .filter(|kv| !kv.is_empty())
                        .map(|kv| {
                            let (k, v) = kv
                                .split_once('=')
                                .unwrap_or_else(|| panic!("bad label {kv:?} in {line:?}"));
                            (k.to_owned(), v.trim_matches('"').to_owned())
                        })
                        .collect();
                    (name, labels)
                }
                None => (series, BTreeMap::new()),
            };
            Sample {
                name: name.to_owned(),
                labels,
                value,
            }
        })
        .collect()
}

/// The parsed samples of one scrape.
struct Scrape {
    text: String,
    samples: Vec<Sample>,
}

impl Scrape {
    /// Sum of the samples named `name` whose labels include `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }

    /// True when some sample is named `name`.
    fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The scrape token of the servers that serve `/metrics` on the registry
/// listener.
const METRICS_TOKEN: &str = "scrape-secret-7f3a";

/// A server serving `/metrics` on its registry listener to [`METRICS_TOKEN`].
fn metered_server() -> Server {
    Server::start_with_env(&[("DISTR_METRICS_TOKEN", METRICS_TOKEN)])
}

/// `GET <base>/metrics` with [`METRICS_TOKEN`] (ignored where no token is
/// asked for); must be 200 OpenMetrics text.
async fn scrape(base: &str) -> Scrape {
    let resp = client()
        .get(format!("{base}/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {base}/metrics: {e}"));
    assert_eq!(resp.status().as_u16(), 200, "GET {base}/metrics");
    assert_eq!(
        header(&resp, "content-type").as_deref(),
        Some(OPENMETRICS),
        "GET {base}/metrics: content type"
    );
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "no # EOF at the end:\n{text}");
    let samples = parse(&text);
    Scrape { text, samples }
}

async fn status_of(url: &str) -> u16 {
    client()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .status()
        .as_u16()
}

/// Nothing secret or client-chosen in any label or value.
fn assert_no_leaks(scrape: &Scrape, extra: &[&str]) {
    for leaked in [TEST_TOKEN, "acme/app", "team/app"].iter().chain(extra) {
        assert!(
            !scrape.text.contains(leaked),
            "{leaked:?} in the metrics:\n{}",
            scrape.text
        );
    }
}

#[tokio::test]
async fn metrics_on_the_registry_listener_count_requests_bytes_and_auth_failures() {
    let server = metered_server();
    let reg = server.registry();
    let image = reg.push_image("acme/app", "1.0", 41).await;
    const PULLS: usize = 3;
    for _ in 0..PULLS {
        let resp = reg.get_manifest("acme/app", "1.0").await;
        assert_eq!(resp.status().as_u16(), 200);
        resp.bytes().await.unwrap();
    }
    let layer = reg.get_blob("acme/app", &image.layer_digest).await;
    assert_eq!(layer, image.layer);
    reg.get_blob("acme/app", &image.config_digest).await;
    // An anonymous ping (the token flow's first step) and a wrong token.
    let anon = server.registry_as(None);
    assert_eq!(anon.get("/v2/").await.status().as_u16(), 401);
    let wrong = server.registry_as(Some("distr_not-a-real-token"));
    assert_eq!(wrong.get("/v2/_catalog").await.status().as_u16(), 401);
    assert_eq!(
        wrong
            .get_manifest("acme/app", "1.0")
            .await
            .status()
            .as_u16(),
        401
    );

    let m = scrape(&server.base_url()).await;
    let requests = |route, method, status| {
        m.sum(
            "distr_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert!(
        requests("manifest", "GET", "200") >= PULLS as f64,
        "manifest GET 200 < {PULLS}:\n{}",
        m.text
    );
    assert!(requests("manifest", "PUT", "201") >= 1.0, "{}", m.text);
    assert!(requests("blob", "GET", "200") >= 2.0, "{}", m.text);
    assert!(requests("upload", "POST", "202") >= 2.0, "{}", m.text);
    assert!(requests("base", "GET", "401") >= 1.0, "{}", m.text);

    let blob_bytes = m.sum("distr_http_response_body_bytes_total", &[("route", "blob")]);
    let want = (image.layer.len() + image.config_size) as f64;
    assert!(
        blob_bytes >= want,
        "blob bytes served {blob_bytes} < {want}:\n{}",
        m.text
    );
    let manifest_bytes = m.sum(
        "distr_http_response_body_bytes_total",
        &[("route", "manifest")],
    );
    assert!(
        manifest_bytes >= (PULLS * image.manifest.len()) as f64,
        "{}",
        m.text
    );

    let failures = |route, reason| {
        m.sum(
            "distr_http_auth_failures_total",
            &[("route", route), ("reason", reason)],
        )
    };
    assert!(failures("base", "missing_credentials") >= 1.0, "{}", m.text);
    assert!(
        failures("catalog", "invalid_credentials") >= 1.0,
        "{}",
        m.text
    );
    assert!(
        failures("manifest", "invalid_credentials") >= 1.0,
        "{}",
        m.text
    );

    let latency = m.sum(
        "distr_http_request_duration_seconds_count",
        &[("route", "manifest"), ("method", "GET")],
    );
    assert!(latency >= PULLS as f64, "{}", m.text);

    // The pull-through cache is always there: a pushed artifact is served
    // from storage (a hit); nothing went upstream.
    let cache = |object, result| {
        m.sum(
            "distr_pullthrough_cache_requests_total",
            &[("object", object), ("result", result)],
        )
    };
    assert!(cache("manifest", "hit") >= PULLS as f64, "{}", m.text);
    assert_eq!(cache("manifest", "miss"), 0.0, "{}", m.text);
    assert!(m.has("distr_pullthrough_fills_in_flight"), "{}", m.text);
    assert!(m.has("distr_pullthrough_syncs_started_total"), "{}", m.text);
    assert!(!m.has("distr_upstream_requests_total"), "{}", m.text);

    assert_no_leaks(&m, &["distr_not-a-real-token", &image.layer_digest]);

    // Scrapes are not registry requests, and counters only grow.
    let again = scrape(&server.base_url()).await;
    assert!(!again.text.contains("route=\"other\""), "{}", again.text);
    assert!(
        again.sum(
            "distr_http_requests_total",
            &[("route", "manifest"), ("method", "GET"), ("status", "200")]
        ) >= requests("manifest", "GET", "200")
    );
}

#[tokio::test]
async fn metrics_on_a_separate_listener_only() {
    let port = free_port();
    let metrics_base = format!("http://127.0.0.1:{port}");
    let server = DistrProcess::start(&[("DISTR_METRICS_LISTEN", &format!("127.0.0.1:{port}"))]);
    let reg = server.registry();
    reg.push_image("acme/app", "1.0", 42).await;
    let resp = reg.get_manifest("acme/app", "1.0").await;
    assert_eq!(resp.status().as_u16(), 200);

    // Not on the registry listener, with or without credentials.
    assert_eq!(
        status_of(&format!("{}/metrics", server.base_url())).await,
        404
    );
    assert_eq!(reg.get("/metrics").await.status().as_u16(), 404);
    // Nothing but /metrics on the metrics listener.
    assert_eq!(status_of(&format!("{metrics_base}/v2/")).await, 404);

    let m = scrape(&metrics_base).await;
    let manifest_gets = m.sum(
        "distr_http_requests_total",
        &[("route", "manifest"), ("method", "GET"), ("status", "200")],
    );
    assert!(manifest_gets >= 1.0, "{}", m.text);
    // The 404s for /metrics on the registry listener count as "other".
    let other = m.sum(
        "distr_http_requests_total",
        &[("route", "other"), ("status", "404")],
    );
    assert!(other >= 2.0, "{}", m.text);
    assert_no_leaks(&m, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_through_metrics_count_upstream_calls_hits_and_misses() {
    let upstream = UpstreamRegistry::start().await;
    let up = Registry::new(&upstream.url());
    let image = up.push_image(UPSTREAM_REPO, "1.0", 43).await;

    let server = metered_server();
    let resp = client()
        .post(format!("{}/api/v1/artifacts", server.base_url()))
        .header("authorization", format!("AccessToken {TEST_TOKEN}"))
        .json(&json!({
            "name": "app",
            "upstream": {
                "reference": upstream.reference(UPSTREAM_REPO),
                "insecure": true,
                "auth": {"kind": "none"}
            },
            // On demand only: the first pull is the miss counted below.
            "sync_now": false
        }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    let artifact = body["id"].as_str().expect("the artifact's id").to_owned();

    let reg = server.registry();
    // First pull: misses, filled from the upstream; then hits.
    for _ in 0..2 {
        let resp = reg.get_manifest("acme/app", "1.0").await;
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(resp.bytes().await.unwrap().to_vec(), image.manifest);
    }
    let layer = reg.get_blob("acme/app", &image.layer_digest).await;
    assert_eq!(layer, image.layer);
    // The fill links the blob to the repository once it is committed.
    let mut hit = false;
    for _ in 0..100 {
        reg.get_blob("acme/app", &image.layer_digest).await;
        let m = scrape(&server.base_url()).await;
        if m.sum(
            "distr_pullthrough_cache_requests_total",
            &[("object", "blob"), ("result", "hit")],
        ) >= 1.0
        {
            hit = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(hit, "the second blob read was never a cache hit");
    // A tag the upstream does not have: an upstream error of kind not_found.
    let resp = reg.get_manifest("acme/app", "no-such-tag").await;
    assert_eq!(resp.status().as_u16(), 404);

    let m = scrape(&server.base_url()).await;
    let host = upstream.host_port();
    assert!(
        !m.text.contains(&host),
        "the upstream's host is not a label:\n{}",
        m.text
    );
    let cache = |object, result| {
        m.sum(
            "distr_pullthrough_cache_requests_total",
            &[("object", object), ("result", result)],
        )
    };
    assert!(cache("manifest", "miss") >= 1.0, "{}", m.text);
    assert!(cache("manifest", "hit") >= 1.0, "{}", m.text);
    assert!(cache("blob", "miss") >= 1.0, "{}", m.text);
    let calls = |operation| {
        m.sum(
            "distr_upstream_requests_total",
            &[("artifact", artifact.as_str()), ("operation", operation)],
        )
    };
    assert!(calls("get_manifest") >= 1.0, "{}", m.text);
    assert_eq!(calls("get_blob"), 1.0, "one fill:\n{}", m.text);
    let not_found = m.sum(
        "distr_upstream_errors_total",
        &[
            ("artifact", artifact.as_str()),
            ("operation", "get_manifest"),
            ("kind", "not_found"),
        ],
    );
    assert!(not_found >= 1.0, "{}", m.text);
    let latency = m.sum(
        "distr_upstream_request_duration_seconds_count",
        &[
            ("artifact", artifact.as_str()),
            ("operation", "get_manifest"),
        ],
    );
    assert!(latency >= 1.0, "{}", m.text);
    let received = m.sum(
        "distr_upstream_received_bytes_total",
        &[("artifact", artifact.as_str())],
    );
    assert!(received >= image.layer.len() as f64, "{}", m.text);
    assert_eq!(
        m.sum("distr_pullthrough_fills_in_flight", &[]),
        0.0,
        "{}",
        m.text
    );
    assert_no_leaks(&m, &[]);
}

/// `/metrics` names artifacts and routes: by default it is served nowhere; with a
/// scrape token, only to requests presenting it.
#[tokio::test]
async fn metrics_are_not_public() {
    let server = Server::start();
    let url = format!("{}/metrics", server.base_url());
    assert_eq!(status_of(&url).await, 404, "no metrics by default");

    let server = metered_server();
    let url = format!("{}/metrics", server.base_url());
    assert_eq!(status_of(&url).await, 401, "no token");
    let wrong = client()
        .get(&url)
        .bearer_auth("scrape-secret-guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401, "a wrong token");
    let m = scrape(&server.base_url()).await;
    assert!(!m.text.contains(METRICS_TOKEN));
    assert!(
        !server.log().contains(METRICS_TOKEN),
        "the token is not logged"
    );
}
