//! Who calls, and what they may touch.
//!
//! Visibility before permission: records of another vendor, and for
//! customer users records of another customer, are "not found"; a record the
//! caller can see but not change is "forbidden".

use std::net::IpAddr;

use distr_core::access::{Customer, Org, Principal, Role, User};
use http::{header, HeaderMap};

use super::error::ApiError;
use super::ManagementApi;

/// The authenticated caller.
#[derive(Debug)]
pub(crate) struct Caller {
    /// The user the token belongs to.
    pub(crate) user: User,
    /// The user's vendor organisation.
    pub(crate) org: Org,
}

/// The token of `Authorization: AccessToken <token>` or `Bearer <token>`.
pub(crate) fn presented_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    let known = scheme.eq_ignore_ascii_case("accesstoken") || scheme.eq_ignore_ascii_case("bearer");
    (known && !rest.is_empty()).then_some(rest)
}

/// Authenticates a request, counting failures per client address.
pub(crate) async fn authenticate(
    api: &ManagementApi,
    headers: &HeaderMap,
    client: Option<IpAddr>,
    now: i64,
) -> Result<Caller, ApiError> {
    if let Some(ip) = client {
        api.limiter.check(ip).map_err(ApiError::too_many_requests)?;
    }
    let result = identify(api, headers, now).await;
    if let (Err(e), Some(ip)) = (&result, client) {
        if e.is_unauthorized() && headers.contains_key(header::AUTHORIZATION) {
            api.limiter.record_failure(ip);
        }
    }
    result
}

async fn identify(api: &ManagementApi, headers: &HeaderMap, now: i64) -> Result<Caller, ApiError> {
    let secret = presented_token(headers).ok_or_else(ApiError::unauthorized)?;
    let user_id = match api.authn.authenticate(secret, now).await? {
        Principal::VendorAdmin { user, .. } | Principal::Customer { user, .. } => user,
        Principal::System => return Err(ApiError::unauthorized()),
    };
    let user = api
        .access
        .get_user(user_id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let org = api
        .access
        .get_org(user.org_id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(Caller { user, org })
}

impl Caller {
    /// True for vendor admins.
    pub(crate) fn is_vendor_admin(&self) -> bool {
        self.user.role == Role::VendorAdmin
    }

    /// 403 unless the caller is a vendor admin.
    pub(crate) fn require_vendor_admin(&self) -> Result<(), ApiError> {
        if self.is_vendor_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this needs the vendor_admin role"))
        }
    }

    /// The customer, when the caller administers it (a vendor admin of its
    /// vendor, or an admin of that customer). 404 when the caller may not
    /// see it, 403 for a member of it.
    pub(crate) fn administered(&self, customer: Option<Customer>) -> Result<Customer, ApiError> {
        let c = customer
            .filter(|c| c.org_id == self.org.id)
            .ok_or_else(|| ApiError::not_found("customer"))?;
        match self.user.role {
            Role::VendorAdmin => Ok(c),
            _ if self.user.customer_id != Some(c.id) => Err(ApiError::not_found("customer")),
            Role::CustomerAdmin => Ok(c),
            Role::CustomerMember => Err(ApiError::forbidden(
                "this needs the customer_admin or vendor_admin role",
            )),
        }
    }

    /// Succeeds when the caller may manage `target`'s tokens: their own;
    /// a customer admin those of their customer's users; a vendor admin
    /// those of every user of the vendor. 404 when the caller may not see
    /// the user, 403 when they may see but not manage it.
    pub(crate) fn manages_user(&self, target: &User) -> Result<(), ApiError> {
        if target.org_id != self.org.id {
            return Err(ApiError::not_found("user"));
        }
        if target.id == self.user.id {
            return Ok(());
        }
        let same_customer =
            target.customer_id.is_some() && target.customer_id == self.user.customer_id;
        match self.user.role {
            Role::VendorAdmin => Ok(()),
            _ if !same_customer => Err(ApiError::not_found("user")),
            Role::CustomerAdmin => Ok(()),
            Role::CustomerMember => {
                Err(ApiError::forbidden("members manage only their own tokens"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, v.parse().unwrap());
        h
    }

    #[test]
    fn access_token_and_bearer_schemes() {
        assert_eq!(
            presented_token(&headers("AccessToken distr_a")),
            Some("distr_a")
        );
        assert_eq!(
            presented_token(&headers("accesstoken  distr_a ")),
            Some("distr_a")
        );
        assert_eq!(presented_token(&headers("Bearer distr_b")), Some("distr_b"));
        for bad in ["Basic eDp5", "AccessToken", "AccessToken  ", "Token x"] {
            assert_eq!(presented_token(&headers(bad)), None, "{bad}");
        }
        assert_eq!(presented_token(&HeaderMap::new()), None);
    }
}
