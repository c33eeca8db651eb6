//! `/healthz` and `/readyz` of a real `distr-server`: served without a
//! token; readiness flips to `503` when the blob directory disappears (and
//! back when it returns) and when the PostgreSQL schema is dropped, while
//! liveness stays `200`.

mod common;

use std::time::Duration;

use common::fleet::{PgSchema, FLEET_SECRET_KEY};
use common::*;
use serde_json::{json, Value};

async fn probe(base: &str, path: &str) -> (u16, Value) {
    let resp = reqwest::get(format!("{base}{path}")).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Polls `/readyz` until it answers `status` (at most 10 s).
async fn readiness_becomes(base: &str, status: u16) -> Value {
    let mut last = (0, Value::Null);
    for _ in 0..100 {
        last = probe(base, "/readyz").await;
        if last.0 == status {
            return last.1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz never answered {status}; last {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_blob_directory() {
    let server = Server::start();
    let base = server.base_url();
    assert_eq!(
        probe(&base, "/healthz").await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(
        probe(&base, "/readyz").await,
        (200, json!({"status": "ready"}))
    );
    // Registry endpoints still want a token.
    assert_eq!(
        reqwest::get(format!("{base}/v2/")).await.unwrap().status(),
        401
    );

    let data = server.data_dir().to_path_buf();
    let moved = data.with_extension("moved");
    std::fs::rename(&data, &moved).unwrap();
    let body = readiness_becomes(&base, 503).await;
    assert_eq!(body["status"], "unavailable");
    // (SQLite may lose its file too, should the pool open a connection.)
    assert!(
        body["failed"]
            .as_array()
            .unwrap()
            .contains(&json!("blob_store")),
        "{body}"
    );
    assert_eq!(probe(&base, "/healthz").await.0, 200);
    assert!(
        server.log().contains("not ready: the blob store fails"),
        "{}",
        server.log_tail()
    );
    std::fs::rename(&moved, &data).unwrap();
    readiness_becomes(&base, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database() {
    let schema = PgSchema::create();
    let url = schema.database_url();
    let server = Server::start_with_env(&[
        ("DATABASE_URL", url.as_str()),
        ("DISTR_SECRET_KEY", FLEET_SECRET_KEY),
    ]);
    let base = server.base_url();
    assert_eq!(
        probe(&base, "/readyz").await,
        (200, json!({"status": "ready"}))
    );

    schema.drop_now();
    let body = readiness_becomes(&base, 503).await;
    assert_eq!(
        body,
        json!({"status": "unavailable", "failed": ["database"]})
    );
    assert_eq!(probe(&base, "/healthz").await.0, 200);
    // The cause is logged, never answered.
    assert!(
        server
            .log()
            .contains("not ready: the metadata database fails"),
        "{}",
        server.log_tail()
    );
}
