//! Probes for orchestrators, answered before authentication and limits:
//!
//! - `GET /healthz`: the process serves requests (`200 {"status":"ok"}`);
//! - `GET /readyz`: it can serve them well — the metadata database answers a
//!   query and the blob store a lookup, each within [`CHECK_TIMEOUT`]
//!   (`200 {"status":"ready"}`, else `503 {"status":"unavailable","failed":[…]}`
//!   naming `database` and/or `blob_store`; the causes go to the log only).

use std::time::Duration;

use distr_core::Registry;
use http::{header, HeaderValue, Method, Response, StatusCode};
use serde_json::json;

use crate::body::{full, ResponseBody};

/// Liveness: the process is up.
pub const HEALTHZ: &str = "/healthz";
/// Readiness: the database and the blob store answer.
pub const READYZ: &str = "/readyz";
/// Longest wait for each readiness check.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The answer to a probe, or `None` when the request is none.
pub(crate) async fn answer(
    method: &Method,
    path: &str,
    registry: &Registry,
) -> Option<Response<ResponseBody>> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    match path {
        HEALTHZ => Some(reply(StatusCode::OK, json!({ "status": "ok" }))),
        READYZ => Some(readiness(registry).await),
        _ => None,
    }
}

async fn readiness(registry: &Registry) -> Response<ResponseBody> {
    let (database, blobs) = tokio::join!(
        tokio::time::timeout(CHECK_TIMEOUT, registry.store().ping()),
        tokio::time::timeout(CHECK_TIMEOUT, registry.blobs().check()),
    );
    let failed: Vec<&str> = [
        failure("database", "the metadata database", database),
        failure("blob_store", "the blob store", blobs),
    ]
    .into_iter()
    .flatten()
    .collect();
    if failed.is_empty() {
        reply(StatusCode::OK, json!({ "status": "ready" }))
    } else {
        reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "unavailable", "failed": failed }),
        )
    }
}

/// `None` when a check passed in time; else its `name`, the cause logged.
fn failure<E: std::fmt::Display>(
    name: &'static str,
    what: &str,
    outcome: Result<Result<(), E>, tokio::time::error::Elapsed>,
) -> Option<&'static str> {
    match outcome {
        Ok(Ok(())) => return None,
        Ok(Err(error)) => tracing::warn!(%error, "not ready: {what} fails"),
        Err(_) => tracing::warn!(timeout = ?CHECK_TIMEOUT, "not ready: {what} does not answer"),
    }
    Some(name)
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response<ResponseBody> {
    let mut resp = Response::new(full(body.to_string()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn probe(method: Method, path: &str) -> Option<(StatusCode, String)> {
        let registry = Registry::in_memory();
        let resp = answer(&method, path, &registry).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Some((status, String::from_utf8(body.to_vec()).unwrap()))
    }

    #[tokio::test]
    async fn probes_answer_and_nothing_else_is_one() {
        assert_eq!(
            probe(Method::GET, HEALTHZ).await,
            Some((StatusCode::OK, r#"{"status":"ok"}"#.into()))
        );
        assert_eq!(
            probe(Method::GET, READYZ).await,
            Some((StatusCode::OK, r#"{"status":"ready"}"#.into()))
        );
        assert_eq!(probe(Method::HEAD, READYZ).await.unwrap().0, StatusCode::OK);
        assert_eq!(probe(Method::POST, READYZ).await, None);
        assert_eq!(probe(Method::GET, "/readyz/").await, None);
        assert_eq!(probe(Method::GET, "/v2/").await, None);
    }
}
