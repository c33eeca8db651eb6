//! JSON bodies: reading requests (at most [`BODY_LIMIT`] bytes), writing
//! responses, and validating text fields.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ApiError;
use crate::body::{empty, full, BoxError, ResponseBody};

/// Largest accepted request body: 1 MiB.
pub(crate) const BODY_LIMIT: usize = 1024 * 1024;

/// Reads a whole request body; 413 when it exceeds [`BODY_LIMIT`].
pub(crate) async fn read_body<B>(body: B) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    match Limited::new(body, BODY_LIMIT).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(ApiError::payload_too_large(BODY_LIMIT)),
        Err(e) => {
            tracing::debug!(error = %e, "management API: request body unreadable");
            Err(ApiError::bad_request("the request body could not be read"))
        }
    }
}

/// Parses a JSON request body; 400 with serde's explanation when it does not fit.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// A JSON response.
pub(crate) fn respond<T: Serialize>(
    status: StatusCode,
    value: &T,
) -> Result<Response<ResponseBody>, ApiError> {
    let bytes = serde_json::to_vec(value).map_err(ApiError::internal)?;
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// 200 with a JSON body.
pub(crate) fn ok<T: Serialize>(value: &T) -> Result<Response<ResponseBody>, ApiError> {
    respond(StatusCode::OK, value)
}

/// 201 with a JSON body.
pub(crate) fn created<T: Serialize>(value: &T) -> Result<Response<ResponseBody>, ApiError> {
    respond(StatusCode::CREATED, value)
}

/// 201 with a JSON body holding a secret: not to be cached anywhere.
pub(crate) fn created_secret<T: Serialize>(value: &T) -> Result<Response<ResponseBody>, ApiError> {
    let mut resp = created(value)?;
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// 204 without a body.
pub(crate) fn no_content() -> Result<Response<ResponseBody>, ApiError> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    Ok(resp)
}

/// A trimmed display text of 1 to `max` characters without control
/// characters; 400 naming `field` otherwise.
pub(crate) fn text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let v = value.trim();
    let len = v.chars().count();
    if len == 0 || len > max || v.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{field} must be 1 to {max} characters without control characters"
        )));
    }
    Ok(v.to_owned())
}
