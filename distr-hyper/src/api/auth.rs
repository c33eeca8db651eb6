//! Who calls, and what they may touch.
//!
//! Visibility before permission: records of another vendor, and for
//! customer users records of another customer, are "not found"; a record the
//! caller can see but not change is "forbidden".

use distr_core::access::{Customer, Org, Principal, Role, User};

use super::error::ApiError;
use super::ManagementApi;
use crate::authn::Authentication;
use crate::ratelimit::ClientAddr;

/// The authenticated caller.
#[derive(Debug)]
pub(crate) struct Caller {
    /// The user the token belongs to.
    pub(crate) user: User,
    /// The user's vendor organisation.
    pub(crate) org: Org,
}

/// The [`Authentication`] the service left in the request's extensions, or,
/// for an API served on its own, done here (counting failures per client
/// address just the same).
async fn authentication(
    api: &ManagementApi,
    head: &http::request::Parts,
    now: i64,
) -> Authentication {
    match head.extensions.get::<Authentication>() {
        Some(a) => a.clone(),
        None => {
            let peer = head.extensions.get::<ClientAddr>().map(|a| a.0.ip());
            api.authenticator
                .authenticate(&head.headers, peer, now)
                .await
        }
    }
}

/// The caller of a request: from the [`Authentication`] the service left
/// in its extensions, or, for an API served on its own, authenticated here
/// (counting failures per client address just the same).
pub(crate) async fn caller(
    api: &ManagementApi,
    head: &http::request::Parts,
    now: i64,
) -> Result<Caller, ApiError> {
    let authentication = authentication(api, head, now).await;
    let authenticated = authentication.into_result()?;
    // Writes (tokens, entitlements, users, …) are authorized by the store,
    // not the one-second cache: a token revoked a moment ago cannot mint a
    // new one or change anything on any replica.
    if !matches!(head.method, http::Method::GET | http::Method::HEAD) {
        let active = match authenticated.token_id {
            Some(id) => {
                api.authenticator
                    .tokens()
                    .is_active_in_store(id, now)
                    .await?
            }
            None => false,
        };
        if !active {
            return Err(ApiError::unauthorized());
        }
    }
    let user_id = match authenticated.principal {
        // Sessions are scoped to registry actions: never the API.
        _ if authenticated.session.is_some() => return Err(ApiError::unauthorized()),
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

/// Succeeds when the request presents the operator token; 403 for any
/// other valid credential, 401 (429 when blocked) otherwise.
pub(crate) async fn operator(
    api: &ManagementApi,
    head: &http::request::Parts,
    now: i64,
) -> Result<(), ApiError> {
    let authentication = authentication(api, head, now).await;
    match authentication {
        Authentication::Operator => Ok(()),
        Authentication::Authenticated(_) => Err(ApiError::forbidden(
            "this needs the operator token (DISTR_OPERATOR_TOKEN), not a user's",
        )),
        other => match other.into_result() {
            Ok(_) => Err(ApiError::unauthorized()),
            Err(e) => Err(e.into()),
        },
    }
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
