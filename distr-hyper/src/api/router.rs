//! Path matching for `/api/v1`: one table of (method, path template,
//! endpoint). The OpenAPI document lists the same templates, and a test
//! checks that it lists every one.

use std::str::FromStr;

use super::error::ApiError;

/// The API's path prefix.
pub(crate) const PREFIX: &str = "/api/v1";

/// One operation of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    OpenApi,
    ListOrgs,
    CreateOrg,
    Me,
    GetAccessMode,
    SetAccessMode,
    ListArtifacts,
    CreateArtifact,
    GetArtifact,
    DeleteArtifact,
    ArtifactTags,
    SetArtifactUpstream,
    SyncArtifact,
    ListCustomers,
    CreateCustomer,
    GetCustomer,
    UpdateCustomer,
    DeleteCustomer,
    ListCustomerUsers,
    CreateCustomerUser,
    DeleteCustomerUser,
    ListTokens,
    CreateToken,
    RevokeToken,
    RotateToken,
    ListUserTokens,
    CreateUserToken,
    ListEntitlements,
    CreateEntitlement,
    GetEntitlement,
    ReplaceEntitlement,
    DeleteEntitlement,
    PullSecret,
    ListPulls,
    ExportPulls,
    ArtifactAnalytics,
    CustomerAnalytics,
    UnpulledCustomers,
}

impl Endpoint {
    /// True for the operator's endpoints (the operator token, no user).
    pub(crate) fn is_operator(self) -> bool {
        matches!(self, Endpoint::ListOrgs | Endpoint::CreateOrg)
    }

    /// True when the endpoint reads a JSON request body.
    pub(crate) fn has_body(self) -> bool {
        use Endpoint as E;
        matches!(
            self,
            E::CreateArtifact
                | E::CreateOrg
                | E::SetAccessMode
                | E::SetArtifactUpstream
                | E::CreateCustomer
                | E::UpdateCustomer
                | E::CreateCustomerUser
                | E::CreateToken
                | E::CreateUserToken
                | E::CreateEntitlement
                | E::ReplaceEntitlement
                | E::PullSecret
        )
    }
}

/// A route: method, path template (`{name}` matches one non-empty segment)
/// and the endpoint serving it.
pub(crate) struct RouteDef {
    pub(crate) method: &'static str,
    pub(crate) path: &'static str,
    pub(crate) endpoint: Endpoint,
}

const fn r(method: &'static str, path: &'static str, endpoint: Endpoint) -> RouteDef {
    RouteDef {
        method,
        path,
        endpoint,
    }
}

/// Every route of the API.
pub(crate) const ROUTES: &[RouteDef] = {
    use Endpoint as E;
    &[
        r("GET", "/api/v1/openapi.json", E::OpenApi),
        r("GET", "/api/v1/orgs", E::ListOrgs),
        r("POST", "/api/v1/orgs", E::CreateOrg),
        r("GET", "/api/v1/me", E::Me),
        r("GET", "/api/v1/access-mode", E::GetAccessMode),
        r("PUT", "/api/v1/access-mode", E::SetAccessMode),
        r("GET", "/api/v1/artifacts", E::ListArtifacts),
        r("POST", "/api/v1/artifacts", E::CreateArtifact),
        r("GET", "/api/v1/artifacts/{artifact_id}", E::GetArtifact),
        r(
            "DELETE",
            "/api/v1/artifacts/{artifact_id}",
            E::DeleteArtifact,
        ),
        r(
            "GET",
            "/api/v1/artifacts/{artifact_id}/tags",
            E::ArtifactTags,
        ),
        r(
            "PUT",
            "/api/v1/artifacts/{artifact_id}/upstream",
            E::SetArtifactUpstream,
        ),
        r(
            "POST",
            "/api/v1/artifacts/{artifact_id}/sync",
            E::SyncArtifact,
        ),
        r("GET", "/api/v1/customers", E::ListCustomers),
        r("POST", "/api/v1/customers", E::CreateCustomer),
        r("GET", "/api/v1/customers/{customer_id}", E::GetCustomer),
        r(
            "PATCH",
            "/api/v1/customers/{customer_id}",
            E::UpdateCustomer,
        ),
        r(
            "DELETE",
            "/api/v1/customers/{customer_id}",
            E::DeleteCustomer,
        ),
        r(
            "GET",
            "/api/v1/customers/{customer_id}/users",
            E::ListCustomerUsers,
        ),
        r(
            "POST",
            "/api/v1/customers/{customer_id}/users",
            E::CreateCustomerUser,
        ),
        r(
            "DELETE",
            "/api/v1/customers/{customer_id}/users/{user_id}",
            E::DeleteCustomerUser,
        ),
        r("GET", "/api/v1/tokens", E::ListTokens),
        r("POST", "/api/v1/tokens", E::CreateToken),
        r("DELETE", "/api/v1/tokens/{token_id}", E::RevokeToken),
        r("POST", "/api/v1/tokens/{token_id}/rotate", E::RotateToken),
        r("GET", "/api/v1/users/{user_id}/tokens", E::ListUserTokens),
        r("POST", "/api/v1/users/{user_id}/tokens", E::CreateUserToken),
        r(
            "GET",
            "/api/v1/customers/{customer_id}/entitlements",
            E::ListEntitlements,
        ),
        r(
            "POST",
            "/api/v1/customers/{customer_id}/entitlements",
            E::CreateEntitlement,
        ),
        r(
            "GET",
            "/api/v1/customers/{customer_id}/entitlements/{entitlement_id}",
            E::GetEntitlement,
        ),
        r(
            "PUT",
            "/api/v1/customers/{customer_id}/entitlements/{entitlement_id}",
            E::ReplaceEntitlement,
        ),
        r(
            "DELETE",
            "/api/v1/customers/{customer_id}/entitlements/{entitlement_id}",
            E::DeleteEntitlement,
        ),
        r(
            "POST",
            "/api/v1/customers/{customer_id}/pull-secret",
            E::PullSecret,
        ),
        r("GET", "/api/v1/analytics/pulls", E::ListPulls),
        r("GET", "/api/v1/analytics/pulls.csv", E::ExportPulls),
        r("GET", "/api/v1/analytics/unpulled", E::UnpulledCustomers),
        r(
            "GET",
            "/api/v1/artifacts/{artifact_id}/analytics",
            E::ArtifactAnalytics,
        ),
        r(
            "GET",
            "/api/v1/customers/{customer_id}/analytics",
            E::CustomerAnalytics,
        ),
    ]
};

/// True when `path` belongs to the API.
pub(crate) fn is_api_path(path: &str) -> bool {
    path.strip_prefix(PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The path parameters of a matched route.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(&'static str, String)>);

impl Params {
    /// The parameter `name` parsed as an id; 400 when it is not a UUID.
    pub(crate) fn id<T: FromStr>(&self, name: &str) -> Result<T, ApiError> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| ApiError::bad_request(format!("{name} must be a UUID")))
    }
}

/// The outcome of matching a request.
pub(crate) enum Match {
    /// A route serves the method and path.
    Found(Endpoint, Params),
    /// Routes exist for the path, with these methods only.
    MethodNotAllowed(Vec<&'static str>),
    /// No route has this path.
    NotFound,
}

/// Matches `path` against a template, collecting its parameters.
fn matches(template: &'static str, path: &str) -> Option<Params> {
    let mut params = Vec::new();
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(Params(params)),
            (Some(ts), Some(ps)) => match ts.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(_) if ps.is_empty() => return None,
                Some(name) => params.push((name, ps.to_owned())),
                None if ts != ps => return None,
                None => {}
            },
            _ => return None,
        }
    }
}

/// The route serving `method` on `path`.
pub(crate) fn find(method: &str, path: &str) -> Match {
    let mut allowed = Vec::new();
    for route in ROUTES {
        if let Some(params) = matches(route.path, path) {
            if route.method == method {
                return Match::Found(route.endpoint, params);
            }
            allowed.push(route.method);
        }
    }
    if allowed.is_empty() {
        Match::NotFound
    } else {
        Match::MethodNotAllowed(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_segments() {
        let id = "0b6f2b8e-8a9c-4a39-9c1e-9b0f6d0b7a11";
        match find("GET", &format!("/api/v1/customers/{id}/entitlements/x")) {
            Match::Found(Endpoint::GetEntitlement, p) => {
                assert!(p
                    .id::<distr_core::access::CustomerId>("customer_id")
                    .is_ok());
                assert!(p
                    .id::<distr_core::access::EntitlementId>("entitlement_id")
                    .is_err());
            }
            _ => panic!("no match"),
        }
        assert!(matches!(
            find("PATCH", "/api/v1/tokens"),
            Match::MethodNotAllowed(m) if m == ["GET", "POST"]
        ));
        for missing in [
            "/api/v1/customers/",
            "/api/v1/customers//users",
            "/api/v1/nope",
            "/api/v1",
            "/api/v1/me/",
        ] {
            assert!(matches!(find("GET", missing), Match::NotFound), "{missing}");
        }
        assert!(is_api_path("/api/v1") && is_api_path("/api/v1/me"));
        assert!(!is_api_path("/api/v10") && !is_api_path("/v2/") && !is_api_path("/api"));
    }

    #[test]
    fn every_route_is_unique_and_under_the_prefix() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert!(is_api_path(a.path), "{}", a.path);
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {}",
                    a.method,
                    a.path
                );
            }
        }
    }
}
