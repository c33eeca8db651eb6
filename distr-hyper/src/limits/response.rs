//! The responses of refused requests, rendered by the two error renderers:
//! the OCI one for the registry, the management API's for `/api/v1`.

use distr_core::Error;
use http::Response;

use super::Refusal;
use crate::api::ApiError;
use crate::body::ResponseBody;
use crate::error::error_response_saying;

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
    if api {
        ApiError::rate_limited(message, secs).into_response()
    } else {
        let kind = Error::TooManyRequests {
            retry_after_secs: secs,
        };
        error_response_saying(&kind, &message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{header, StatusCode};
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
