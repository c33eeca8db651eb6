//! Header names and small builders shared by the handlers.

use http::{HeaderName, HeaderValue, Response, StatusCode};

use crate::body::{empty, ResponseBody};

pub(crate) const DOCKER_CONTENT_DIGEST: HeaderName =
    HeaderName::from_static("docker-content-digest");
pub(crate) const DOCKER_UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");
pub(crate) const API_VERSION: HeaderName =
    HeaderName::from_static("docker-distribution-api-version");
pub(crate) const OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");
/// One per tag a manifest push by digest set from its `?tag=` parameters.
pub(crate) const OCI_TAG: HeaderName = HeaderName::from_static("oci-tag");
pub(crate) const OCI_FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");

/// A response with `status`, an empty body and the given headers. Header
/// values that are not valid (they are always built from validated names and
/// digests) are skipped rather than panicking.
pub(crate) fn respond(
    status: StatusCode,
    headers: &[(HeaderName, String)],
) -> Response<ResponseBody> {
    with_headers(Response::new(empty()), status, headers)
}

/// Sets `status` and adds `headers` to a response.
pub(crate) fn with_headers(
    mut resp: Response<ResponseBody>,
    status: StatusCode,
    headers: &[(HeaderName, String)],
) -> Response<ResponseBody> {
    *resp.status_mut() = status;
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            resp.headers_mut().append(name.clone(), v);
        }
    }
    resp
}
