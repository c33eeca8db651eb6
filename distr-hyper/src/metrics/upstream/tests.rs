//! Tests of [`MeteredUpstream`] and [`MeteredConnector`].

use std::sync::Arc;
use std::time::Duration;

use distr_core::access::{ArtifactId, ArtifactUpstream};
use distr_core::pullthrough::UpstreamConnector;
use distr_core::upstream::{Upstream, UpstreamAuth, UpstreamError};
use distr_core::Reference;
use futures::StreamExt;

use super::{error_kind, MeteredConnector, UNSAVED};
use crate::metrics::testing::{sample, FakeConnector, FakeUpstream, HOST, SECRET};
use crate::metrics::Metrics;

fn config(reference: &str) -> ArtifactUpstream {
    ArtifactUpstream {
        reference: reference.parse().unwrap(),
        auth: UpstreamAuth::basic("robot", SECRET),
        insecure: true,
    }
}

/// The artifact every test client calls the upstream of.
const ARTIFACT: &str = "0b8f6f0e-3f0a-4a57-9c39-6d0c1c0e5a11";

fn connect(metrics: &Metrics, fake: FakeUpstream) -> Arc<distr_core::upstream::DynUpstream> {
    let connector: MeteredConnector = metrics.connector(Arc::new(FakeConnector(Arc::new(fake))));
    connector
        .connect_artifact(
            ARTIFACT.parse::<ArtifactId>().unwrap(),
            &config(&format!("{HOST}/vendor/app")),
        )
        .unwrap()
}

fn tag(t: &str) -> Reference {
    Reference::Tag(t.parse().unwrap())
}

#[tokio::test]
async fn counts_requests_and_errors_by_kind_per_operation() {
    let metrics = Metrics::new();
    let up = connect(&metrics, FakeUpstream::new());
    assert_eq!(up.target().registry(), HOST, "delegates target()");
    up.get_manifest(&tag("1.0")).await.unwrap();
    assert!(matches!(
        up.get_manifest(&tag("gone")).await,
        Err(UpstreamError::NotFound(_))
    ));
    assert!(matches!(
        up.get_manifest(&tag("denied")).await,
        Err(UpstreamError::Denied(_))
    ));
    assert!(up.head_manifest(&tag("gone")).await.unwrap().is_none());
    up.list_tags(None, None).await.unwrap();
    up.check_access().await.unwrap();

    let text = metrics.render();
    let requests = |op| {
        sample(
            &text,
            "distr_upstream_requests_total",
            &[("artifact", ARTIFACT), ("operation", op)],
        )
    };
    assert_eq!(requests("get_manifest"), Some(3.0), "{text}");
    assert_eq!(requests("head_manifest"), Some(1.0), "{text}");
    assert_eq!(requests("list_tags"), Some(1.0), "{text}");
    assert_eq!(requests("check_access"), Some(1.0), "{text}");
    let errors = |op, kind| {
        sample(
            &text,
            "distr_upstream_errors_total",
            &[("artifact", ARTIFACT), ("operation", op), ("kind", kind)],
        )
    };
    assert_eq!(errors("get_manifest", "not_found"), Some(1.0), "{text}");
    assert_eq!(errors("get_manifest", "denied"), Some(1.0), "{text}");
    // A HEAD answering "no such manifest" is an answer, not an error.
    assert!(!text.contains("operation=\"head_manifest\",kind"), "{text}");
    // The artifact id only: no host, no repository, no credentials.
    assert!(
        !text.contains(HOST) && !text.contains("vendor/app") && !text.contains(SECRET),
        "{text}"
    );
}

#[tokio::test]
async fn observes_latency() {
    let metrics = Metrics::new();
    let slow = FakeUpstream {
        delay: Duration::from_millis(30),
        ..FakeUpstream::new()
    };
    let up = connect(&metrics, slow);
    up.get_manifest(&tag("1.0")).await.unwrap();
    up.get_manifest(&tag("1.0")).await.unwrap();
    let text = metrics.render();
    let labels = [("artifact", ARTIFACT), ("operation", "get_manifest")];
    let count = sample(
        &text,
        "distr_upstream_request_duration_seconds_count",
        &labels,
    );
    assert_eq!(count, Some(2.0), "{text}");
    let sum = sample(
        &text,
        "distr_upstream_request_duration_seconds_sum",
        &labels,
    )
    .unwrap();
    assert!((0.06..5.0).contains(&sum), "sum {sum}:\n{text}");
    // Nothing lands in the buckets below the delay.
    let fast = [
        ("artifact", ARTIFACT),
        ("operation", "get_manifest"),
        ("le", "0.025"),
    ];
    assert_eq!(
        sample(
            &text,
            "distr_upstream_request_duration_seconds_bucket",
            &fast
        ),
        Some(0.0),
        "{text}"
    );
}

#[tokio::test]
async fn unavailable_and_stream_errors() {
    let metrics = Metrics::new();
    let down = FakeUpstream {
        down: true,
        ..FakeUpstream::new()
    };
    let up = connect(&metrics, down);
    let digest = FakeUpstream::new().layer_digest();
    assert!(up.get_blob(&digest, None).await.is_err());

    let corrupt = FakeUpstream {
        corrupt: true,
        ..FakeUpstream::new()
    };
    let up = connect(&metrics, corrupt);
    let blob = up.get_blob(&digest, None).await.unwrap();
    let chunks: Vec<_> = blob.body.collect().await;
    assert!(chunks[0].is_ok() && chunks[1].is_err());

    let text = metrics.render();
    let errors = |kind| {
        sample(
            &text,
            "distr_upstream_errors_total",
            &[
                ("artifact", ARTIFACT),
                ("operation", "get_blob"),
                ("kind", kind),
            ],
        )
    };
    assert_eq!(errors("unavailable"), Some(1.0), "{text}");
    assert_eq!(errors("stream"), Some(1.0), "{text}");
    let received = [("artifact", ARTIFACT)];
    assert_eq!(
        sample(&text, "distr_upstream_received_bytes_total", &received),
        Some(10.0),
        "only the chunk that arrived: {text}"
    );
}

#[tokio::test]
async fn connect_errors_are_counted_by_artifact_and_checks_as_unsaved() {
    let metrics = Metrics::new();
    let connector = metrics.connector(Arc::new(FakeConnector(Arc::new(FakeUpstream::new()))));
    let bad = config("other.example.com/x/y");
    assert!(connector
        .connect_artifact(ARTIFACT.parse().unwrap(), &bad)
        .is_err());
    // Checking the configuration of an artifact not created yet.
    assert!(connector.connect(&bad).is_err());
    let text = metrics.render();
    for artifact in [ARTIFACT, UNSAVED] {
        let labels = [
            ("artifact", artifact),
            ("operation", "connect"),
            ("kind", "invalid_reference"),
        ];
        assert_eq!(
            sample(&text, "distr_upstream_errors_total", &labels),
            Some(1.0),
            "{text}"
        );
    }
    assert!(!text.contains("other.example.com"), "{text}");
}

#[test]
fn every_error_has_a_kind() {
    let kinds = [
        error_kind(&UpstreamError::Unavailable("x".into())),
        error_kind(&UpstreamError::RateLimited {
            retry_after_secs: None,
        }),
        error_kind(&UpstreamError::Protocol("x".into())),
        error_kind(&UpstreamError::Unauthorized("x".into())),
    ];
    assert_eq!(
        kinds,
        ["unavailable", "rate_limited", "protocol", "unauthorized"]
    );
}

#[test]
fn debug_shows_no_secret() {
    let metrics = Metrics::new();
    let connector = metrics.connector(Arc::new(FakeConnector(Arc::new(FakeUpstream::new()))));
    let up = connector
        .connect(&config(&format!("{HOST}/vendor/app")))
        .unwrap();
    let shown = format!("{connector:?} {up:?} {metrics:?}");
    assert!(!shown.contains(SECRET), "{shown}");
}
