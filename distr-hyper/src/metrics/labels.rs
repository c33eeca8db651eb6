//! Label values with a fixed, small set of values: a series is never
//! labelled by anything a client chooses (paths, repository names, tags).

use std::fmt::Write as _;

use http::{Method, StatusCode};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

use crate::api::ManagementApi;
use crate::route::Route;

/// The kind of endpoint a request is for: the `route` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags,
    /// `/v2/<name>/manifests/<reference>`
    Manifest,
    /// `/v2/<name>/blobs/<digest>`
    Blob,
    /// `/v2/<name>/blobs/uploads/…`
    Upload,
    /// `/v2/<name>/referrers/<digest>`
    Referrers,
    /// `/v2/token`
    Token,
    /// The management API (`/api/v1/…`).
    Api,
    /// Anything else.
    Other,
}

impl RouteKind {
    /// The kind of `path`. A registry path with a malformed repository name
    /// is classified by its shape (`…/manifests/…` is still a manifest).
    pub fn of(path: &str) -> Self {
        if ManagementApi::handles(path) {
            return RouteKind::Api;
        }
        match Route::parse(path) {
            Ok(Some(route)) => Self::of_route(&route),
            Ok(None) => RouteKind::Other,
            Err(_) => Self::of_shape(path),
        }
    }

    /// The kind of a parsed route.
    pub fn of_route(route: &Route) -> Self {
        match route {
            Route::Base => RouteKind::Base,
            Route::Catalog => RouteKind::Catalog,
            Route::Token => RouteKind::Token,
            Route::Tags(_) => RouteKind::Tags,
            Route::Manifest(..) => RouteKind::Manifest,
            Route::Blob(..) => RouteKind::Blob,
            Route::UploadStart(_) | Route::Upload(..) => RouteKind::Upload,
            Route::Referrers(..) => RouteKind::Referrers,
        }
    }

    /// The kind of a `/v2/…` path whose name did not parse.
    fn of_shape(path: &str) -> Self {
        if path.contains("/blobs/uploads") {
            RouteKind::Upload
        } else if path.contains("/blobs/") {
            RouteKind::Blob
        } else if path.contains("/manifests/") {
            RouteKind::Manifest
        } else if path.ends_with("/tags/list") {
            RouteKind::Tags
        } else if path.contains("/referrers/") {
            RouteKind::Referrers
        } else {
            RouteKind::Other
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::Base => "base",
            RouteKind::Catalog => "catalog",
            RouteKind::Tags => "tags",
            RouteKind::Manifest => "manifest",
            RouteKind::Blob => "blob",
            RouteKind::Upload => "upload",
            RouteKind::Referrers => "referrers",
            RouteKind::Token => "token",
            RouteKind::Api => "api",
            RouteKind::Other => "other",
        }
    }
}

/// An HTTP method, with every non-standard one folded into `OTHER`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct MethodLabel(&'static str);

impl MethodLabel {
    pub(crate) fn of(method: &Method) -> Self {
        Self(match *method {
            Method::GET => "GET",
            Method::HEAD => "HEAD",
            Method::PUT => "PUT",
            Method::POST => "POST",
            Method::PATCH => "PATCH",
            Method::DELETE => "DELETE",
            Method::OPTIONS => "OPTIONS",
            _ => "OTHER",
        })
    }
}

/// Why a request counted as an authentication failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum AuthFailure {
    /// 401 to a request without credentials (the usual first step of the
    /// Docker token flow, or an anonymous client).
    MissingCredentials,
    /// 401 to a request with credentials (unknown, revoked or wrong token).
    InvalidCredentials,
    /// 429: the address used up its failed authentications.
    RateLimited,
}

impl AuthFailure {
    /// The failure a response with `status` shows, if any.
    pub(crate) fn of(status: StatusCode, had_credentials: bool) -> Option<Self> {
        match status {
            StatusCode::UNAUTHORIZED if had_credentials => Some(AuthFailure::InvalidCredentials),
            StatusCode::UNAUTHORIZED => Some(AuthFailure::MissingCredentials),
            StatusCode::TOO_MANY_REQUESTS => Some(AuthFailure::RateLimited),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            AuthFailure::MissingCredentials => "missing_credentials",
            AuthFailure::InvalidCredentials => "invalid_credentials",
            AuthFailure::RateLimited => "rate_limited",
        }
    }
}

impl EncodeLabelValue for RouteKind {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

impl EncodeLabelValue for MethodLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.0)
    }
}

impl EncodeLabelValue for AuthFailure {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// `route`, `method`, `status`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) route: RouteKind,
    pub(crate) method: MethodLabel,
    pub(crate) status: u16,
}

/// `route`, `method`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct RouteMethodLabels {
    pub(crate) route: RouteKind,
    pub(crate) method: MethodLabel,
}

/// `route`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub(crate) route: RouteKind,
}

/// `route`, `reason`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct AuthFailureLabels {
    pub(crate) route: RouteKind,
    pub(crate) reason: AuthFailure,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_kinds() {
        let cases = [
            ("/v2/", RouteKind::Base),
            ("/v2", RouteKind::Base),
            ("/v2/_catalog", RouteKind::Catalog),
            ("/v2/token", RouteKind::Token),
            ("/v2/acme/app/tags/list", RouteKind::Tags),
            ("/v2/acme/app/manifests/1.0", RouteKind::Manifest),
            ("/v2/acme/a/b/c/manifests/sha256:abc", RouteKind::Manifest),
            ("/v2/acme/app/blobs/sha256:abc", RouteKind::Blob),
            ("/v2/acme/app/blobs/uploads/", RouteKind::Upload),
            ("/v2/acme/app/blobs/uploads/some-id", RouteKind::Upload),
            ("/v2/acme/app/referrers/sha256:abc", RouteKind::Referrers),
            ("/api/v1/artifacts", RouteKind::Api),
            ("/api/v1", RouteKind::Api),
            ("/metrics", RouteKind::Other),
            ("/", RouteKind::Other),
            ("/v3/x", RouteKind::Other),
            // Malformed names: classified by shape.
            ("/v2/ACME/App/manifests/1.0", RouteKind::Manifest),
            ("/v2/a//b/blobs/sha256:x", RouteKind::Blob),
            ("/v2/BAD/blobs/uploads/", RouteKind::Upload),
        ];
        for (path, want) in cases {
            assert_eq!(RouteKind::of(path), want, "{path}");
        }
    }

    #[test]
    fn methods_are_bounded() {
        assert_eq!(MethodLabel::of(&Method::GET).0, "GET");
        assert_eq!(MethodLabel::of(&Method::PATCH).0, "PATCH");
        let odd = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(MethodLabel::of(&odd).0, "OTHER");
    }

    #[test]
    fn auth_failures() {
        use StatusCode as S;
        assert_eq!(
            AuthFailure::of(S::UNAUTHORIZED, false),
            Some(AuthFailure::MissingCredentials)
        );
        assert_eq!(
            AuthFailure::of(S::UNAUTHORIZED, true),
            Some(AuthFailure::InvalidCredentials)
        );
        assert_eq!(
            AuthFailure::of(S::TOO_MANY_REQUESTS, true),
            Some(AuthFailure::RateLimited)
        );
        assert_eq!(AuthFailure::of(S::FORBIDDEN, true), None);
        assert_eq!(AuthFailure::of(S::OK, false), None);
    }
}
