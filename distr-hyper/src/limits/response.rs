//! The responses of refused requests.

use distr_core::Error;
use http::{header, HeaderValue, Response, StatusCode};
use serde_json::json;

use super::Refusal;
use crate::body::{full, ResponseBody};
use crate::error::error_response;

/// `429` with `Retry-After`: for the management API (`api`) a JSON error
/// with the stable code `rate_limited`, otherwise an OCI error with the
/// code `TOOMANYREQUESTS`.
pub(crate) fn limited(refusal: Refusal, api: bool) -> Response<ResponseBody> {
    let secs = refusal.retry_after_secs();
    let message = match refusal {
        Refusal::Rate(_) => format!("too many requests; retry in {secs} s"),
        Refusal::Uploads(_) => {
            format!("too many concurrent uploads for this token; retry in {secs} s")
        }
    };
    if !api {
        let mut resp = error_response(&Error::TooManyRequests {
            retry_after_secs: secs,
        });
        let body = json!({ "errors": [{ "code": "TOOMANYREQUESTS", "message": message, "detail": null }] });
        *resp.body_mut() = full(body.to_string());
        return resp;
    }
    let body = json!({ "error": { "code": "rate_limited", "message": message } });
    let mut resp = Response::new(full(body.to_string()));
    *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn parts(resp: Response<ResponseBody>) -> (StatusCode, String, serde_json::Value) {
        let (p, b) = resp.into_parts();
        let retry = p.headers[header::RETRY_AFTER].to_str().unwrap().to_owned();
        let body = b.collect().await.unwrap().to_bytes();
        (p.status, retry, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn oci_and_management_shapes() {
        let (s, retry, v) = parts(limited(Refusal::Rate(7), false)).await;
        assert_eq!((s, retry.as_str()), (StatusCode::TOO_MANY_REQUESTS, "7"));
        assert_eq!(v["errors"][0]["code"], "TOOMANYREQUESTS");
        assert!(v["errors"][0]["message"].as_str().unwrap().contains("7 s"));
        let (s, retry, v) = parts(limited(Refusal::Uploads(1), true)).await;
        assert_eq!((s, retry.as_str()), (StatusCode::TOO_MANY_REQUESTS, "1"));
        assert_eq!(v["error"]["code"], "rate_limited");
        assert!(v["error"]["message"].as_str().unwrap().contains("uploads"));
    }
}
