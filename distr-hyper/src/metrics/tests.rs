//! Tests of the request layer, the endpoint, the scrape-time collector and
//! the rendered exposition.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use distr_core::analytics::{MemoryAnalyticsStore, Recorder, RecorderConfig};
use distr_core::pullthrough::UpstreamConnector;
use distr_core::upstream::Upstream;
use distr_core::RepoName;
use futures::StreamExt;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::{Layer, ServiceExt};

use super::testing::{pull_through, sample, FakeUpstream, SECRET};
use super::*;
use crate::body::{full, stream, ResponseBody};

/// Answers by path: `/v2/acme/app/blobs/…` streams 3 chunks (10 bytes),
/// `/v2/` is 401, `/v2/token` is 429, `/api/v1/…` 200, anything else 404.
async fn fake(req: Request<()>) -> Result<Response<ResponseBody>, Infallible> {
    let path = req.uri().path();
    let (status, body) = if path.starts_with("/v2/acme/app/blobs/") {
        let chunks = ["abc", "defg", "hij"]
            .map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c.as_bytes())));
        (
            StatusCode::OK,
            stream(futures::stream::iter(chunks).boxed()),
        )
    } else if path == "/v2/" {
        (StatusCode::UNAUTHORIZED, full("{}"))
    } else if path == "/v2/token" {
        (StatusCode::TOO_MANY_REQUESTS, full("{}"))
    } else if path.starts_with("/api/v1/") {
        (StatusCode::OK, full("[]"))
    } else {
        (StatusCode::NOT_FOUND, full("{}"))
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    Ok(resp)
}

fn get(path: &str) -> Request<()> {
    Request::get(path).body(()).unwrap()
}

async fn send<S, B>(svc: &S, req: Request<B>) -> (StatusCode, Bytes)
where
    S: tower_service::Service<Request<B>, Response = Response<ResponseBody>, Error = Infallible>
        + Clone,
{
    let resp = svc.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn counts_requests_by_route_kind_method_and_status() {
    let metrics = Metrics::new();
    let svc = metrics.layer().layer(tower::service_fn(fake));
    send(&svc, get("/v2/acme/app/manifests/v9.9.9-tag")).await;
    send(&svc, get("/v2/acme/app/manifests/2.0")).await;
    let head = Request::head("/v2/acme/app/manifests/v9.9.9-tag")
        .body(())
        .unwrap();
    send(&svc, head).await;
    send(&svc, get("/v2/acme/app/blobs/sha256:abc")).await;
    send(&svc, get("/api/v1/artifacts")).await;
    send(&svc, get("/no/such/thing")).await;
    let text = metrics.render();
    let requests = |route, method, status| {
        sample(
            &text,
            "distr_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert_eq!(requests("manifest", "GET", "404"), Some(2.0), "{text}");
    assert_eq!(requests("manifest", "HEAD", "404"), Some(1.0), "{text}");
    assert_eq!(requests("blob", "GET", "200"), Some(1.0), "{text}");
    assert_eq!(requests("api", "GET", "200"), Some(1.0), "{text}");
    assert_eq!(requests("other", "GET", "404"), Some(1.0), "{text}");
    // Never a path, a repository or a tag in a label.
    for leaked in ["acme/app", "v9.9.9-tag", "/no/such", "sha256:abc"] {
        assert!(!text.contains(leaked), "{leaked} in:\n{text}");
    }
    // Latency: one observation per request, by route kind and method.
    let count = sample(
        &text,
        "distr_http_request_duration_seconds_count",
        &[("route", "manifest"), ("method", "GET")],
    );
    assert_eq!(count, Some(2.0), "{text}");
}

#[tokio::test]
async fn counts_streamed_body_bytes_as_they_are_sent() {
    let metrics = Metrics::new();
    let svc = metrics.wrap(tower::service_fn(fake));
    let (status, body) = send(&svc, get("/v2/acme/app/blobs/sha256:abc")).await;
    assert_eq!((status, body.len()), (StatusCode::OK, 10));
    let bytes = |text: &str| {
        sample(
            text,
            "distr_http_response_body_bytes_total",
            &[("route", "blob")],
        )
    };
    assert_eq!(bytes(&metrics.render()), Some(10.0));

    // A client that reads one chunk and goes away: only that chunk counts.
    let resp = svc
        .clone()
        .oneshot(get("/v2/acme/app/blobs/sha256:abc"))
        .await
        .unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first.len(), 3);
    drop(body);
    assert_eq!(bytes(&metrics.render()), Some(13.0));

    // Headers alone send no body bytes: nothing counted before the body
    // is polled.
    let resp = svc
        .clone()
        .oneshot(get("/v2/acme/app/blobs/sha256:abc"))
        .await
        .unwrap();
    assert_eq!(bytes(&metrics.render()), Some(13.0));
    drop(resp);
}

#[tokio::test]
async fn auth_failures_by_reason() {
    let metrics = Metrics::new();
    let svc = metrics.wrap(tower::service_fn(fake));
    send(&svc, get("/v2/")).await;
    let with_token = Request::get("/v2/")
        .header("authorization", "Basic dXNlcjpkaXN0cl9zZWNyZXQ=")
        .body(())
        .unwrap();
    send(&svc, with_token).await;
    send(&svc, get("/v2/token")).await;
    let text = metrics.render();
    let failures = |route, reason| {
        sample(
            &text,
            "distr_http_auth_failures_total",
            &[("route", route), ("reason", reason)],
        )
    };
    assert_eq!(failures("base", "missing_credentials"), Some(1.0), "{text}");
    assert_eq!(failures("base", "invalid_credentials"), Some(1.0), "{text}");
    assert_eq!(failures("token", "rate_limited"), Some(1.0), "{text}");
    assert!(!text.contains("dXNlcjpkaXN0cl9zZWNyZXQ"), "{text}");
}

#[tokio::test]
async fn wraps_the_real_service() {
    let metrics = Metrics::new();
    let registry = Arc::new(distr_core::Registry::in_memory());
    let svc = metrics.wrap(crate::DistrService::new(registry));
    let get = |path| {
        Request::get(path)
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap()
    };
    let (status, _) = send(&svc, get("/v2/")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(&svc, get("/v2/acme/app/tags/list")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let text = metrics.render();
    let ok = [("route", "base"), ("method", "GET"), ("status", "200")];
    assert_eq!(sample(&text, "distr_http_requests_total", &ok), Some(1.0));
    let missing = [("route", "tags"), ("method", "GET"), ("status", "404")];
    assert_eq!(
        sample(&text, "distr_http_requests_total", &missing),
        Some(1.0)
    );
}

#[tokio::test]
async fn endpoint_serves_openmetrics_text() {
    let metrics = Metrics::new();
    let app = metrics
        .endpoint()
        .with_fallback(metrics.wrap(tower::service_fn(fake)));
    send(&app, get("/v2/acme/app/manifests/1.0")).await;

    let resp = app.clone().oneshot(get(METRICS_PATH)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        OPENMETRICS_CONTENT_TYPE
    );
    let text = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(
        text.contains("# TYPE distr_http_requests counter"),
        "{text}"
    );
    let labels = [("route", "manifest"), ("method", "GET"), ("status", "404")];
    assert_eq!(
        sample(&text, "distr_http_requests_total", &labels),
        Some(1.0)
    );
    // The scrape itself is not counted as a registry request.
    assert!(!text.contains("route=\"other\""), "{text}");

    let post = Request::post(METRICS_PATH).body(()).unwrap();
    let resp = app.clone().oneshot(post).await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);

    // Alone, the endpoint has nothing but /metrics.
    let alone = metrics.endpoint();
    let (status, _) = send(&alone, get("/v2/")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = send(&alone, get(METRICS_PATH)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.is_empty());
}

#[tokio::test]
async fn render_has_help_and_types_of_every_family() {
    let metrics = Metrics::new();
    assert_eq!(
        metrics.render(),
        "# EOF\n",
        "nothing recorded, nothing shown"
    );
    let svc = metrics.wrap(tower::service_fn(fake));
    send(&svc, get("/v2/")).await;
    let up = metrics
        .connector(Arc::new(testing::FakeConnector(Arc::new(
            FakeUpstream::new(),
        ))))
        .connect(&distr_core::access::ArtifactUpstream {
            reference: format!("{}/vendor/app", testing::HOST).parse().unwrap(),
            auth: distr_core::upstream::UpstreamAuth::None,
            insecure: true,
        })
        .unwrap();
    let digest = FakeUpstream::new().layer_digest();
    let blob = up.get_blob(&digest, None).await.unwrap();
    blob.body.for_each(|_| async {}).await;
    up.get_manifest(&distr_core::Reference::Tag("gone".parse().unwrap()))
        .await
        .unwrap_err();
    let text = metrics.render();
    for family in [
        "# TYPE distr_http_requests counter",
        "# TYPE distr_http_request_duration_seconds histogram",
        "# TYPE distr_http_response_body_bytes counter",
        "# TYPE distr_http_auth_failures counter",
        "# TYPE distr_upstream_requests counter",
        "# TYPE distr_upstream_errors counter",
        "# TYPE distr_upstream_request_duration_seconds histogram",
        "# TYPE distr_upstream_received_bytes counter",
    ] {
        assert!(text.contains(family), "{family} missing:\n{text}");
        let name = family.split(' ').nth(2).unwrap();
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "HELP of {name} missing:\n{text}"
        );
    }
    assert!(
        text.contains("# UNIT distr_http_request_duration_seconds seconds"),
        "{text}"
    );
    // Nothing observed yet: no cache or analytics series.
    assert!(!text.contains("distr_pullthrough_"), "{text}");
    assert!(!text.contains("distr_analytics_"), "{text}");
}

#[tokio::test]
async fn pull_through_hits_misses_and_fills_at_scrape_time() {
    let metrics = Metrics::new();
    let pt = pull_through(&metrics, FakeUpstream::new()).await;
    let repo: RepoName = "acme/app".parse().unwrap();
    let tag = distr_core::Reference::Tag("1.0".parse().unwrap());
    let cache = |text: &str, object, result| {
        sample(
            text,
            "distr_pullthrough_cache_requests_total",
            &[("object", object), ("result", result)],
        )
    };
    let text = metrics.render();
    assert_eq!(cache(&text, "manifest", "miss"), Some(0.0), "{text}");
    assert_eq!(
        sample(&text, "distr_pullthrough_fills_in_flight", &[]),
        Some(0.0)
    );

    pt.get_manifest(&repo, &tag, false).await.unwrap();
    pt.get_manifest(&repo, &tag, false).await.unwrap();
    let digest = FakeUpstream::new().layer_digest();
    let read = pt.read_blob(&repo, &digest, None).await.unwrap();
    read.body.for_each(|_| async {}).await;
    // The fill links the blob when its body ends; wait for that.
    for _ in 0..100 {
        if pt.filler().in_flight() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let read = pt.read_blob(&repo, &digest, None).await.unwrap();
    read.body.for_each(|_| async {}).await;

    let artifact = pt.upstream_for(&repo).await.unwrap().unwrap().artifact.id;
    let artifact = artifact.to_string();
    let text = metrics.render();
    assert_eq!(cache(&text, "manifest", "miss"), Some(1.0), "{text}");
    assert_eq!(cache(&text, "manifest", "hit"), Some(1.0), "{text}");
    assert_eq!(cache(&text, "blob", "miss"), Some(1.0), "{text}");
    assert_eq!(cache(&text, "blob", "hit"), Some(1.0), "{text}");
    let up = |op| {
        sample(
            &text,
            "distr_upstream_requests_total",
            &[("artifact", artifact.as_str()), ("operation", op)],
        )
    };
    assert_eq!(up("get_manifest"), Some(1.0), "{text}");
    assert_eq!(up("get_blob"), Some(1.0), "{text}");
    let received = [("artifact", artifact.as_str())];
    assert_eq!(
        sample(&text, "distr_upstream_received_bytes_total", &received),
        Some(40.0),
        "{text}"
    );
    assert!(
        !text.contains(SECRET) && !text.contains("vendor/app") && !text.contains(testing::HOST),
        "{text}"
    );
}

#[tokio::test]
async fn syncs_are_counted_by_result() {
    let metrics = Metrics::new();
    let pt = pull_through(&metrics, FakeUpstream::new()).await;
    let artifact = pt
        .upstream_for(&"acme/app".parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .artifact;
    let (_, handle) = pt.trigger_sync(artifact.id);
    handle.wait().await.unwrap();
    let text = metrics.render();
    assert_eq!(
        sample(&text, "distr_pullthrough_syncs_started_total", &[]),
        Some(1.0),
        "{text}"
    );
    let finished = |result| {
        sample(
            &text,
            "distr_pullthrough_syncs_finished_total",
            &[("result", result)],
        )
    };
    assert_eq!(finished("succeeded"), Some(1.0), "{text}");
    assert_eq!(finished("failed"), Some(0.0), "{text}");

    // A sync against a dead upstream fails.
    let metrics = Metrics::new();
    let down = FakeUpstream {
        down: true,
        ..FakeUpstream::new()
    };
    let pt = pull_through(&metrics, down).await;
    let artifact = pt
        .upstream_for(&"acme/app".parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .artifact;
    let (_, handle) = pt.trigger_sync(artifact.id);
    assert!(handle.wait().await.is_err());
    let text = metrics.render();
    let failed = [("result", "failed")];
    assert_eq!(
        sample(&text, "distr_pullthrough_syncs_finished_total", &failed),
        Some(1.0),
        "{text}"
    );
    let artifact = artifact.id.to_string();
    let errors = [
        ("artifact", artifact.as_str()),
        ("operation", "list_tags"),
        ("kind", "unavailable"),
    ];
    assert_eq!(
        sample(&text, "distr_upstream_errors_total", &errors),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test]
async fn recorder_queue_at_scrape_time() {
    let metrics = Metrics::new();
    let store = Arc::new(MemoryAnalyticsStore::new());
    let recorder = Recorder::start(store, RecorderConfig::default());
    metrics.observe_recorder(&recorder);
    let text = metrics.render();
    for (name, value) in [
        ("distr_analytics_queue_depth", 0.0),
        ("distr_analytics_dropped_total", 0.0),
        ("distr_analytics_written_total", 0.0),
        ("distr_analytics_lost_total", 0.0),
    ] {
        assert_eq!(sample(&text, name, &[]), Some(value), "{name}:\n{text}");
    }
    recorder.shutdown().await;
}

#[test]
fn layer_and_handles_are_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Metrics>();
    check::<MetricsLayer>();
    check::<MetricsEndpoint>();
    check::<Metered<crate::DistrService>>();
    check::<WithMetricsEndpoint<Metered<crate::DistrService>>>();
}
