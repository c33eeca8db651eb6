//! `/api/v1/me` and `/api/v1/customers/{customer_id}/users`: the caller, and
//! the users of a customer. Vendor admins manage the users of every customer
//! of their vendor, customer admins those of their own customer.

use distr_core::access::{normalize_email, CustomerId, OrgId, Role, User, UserId};
use http::Response;
use serde::{Deserialize, Serialize};

use super::customers;
use super::error::ApiError;
use super::json;
use super::Ctx;
use crate::body::ResponseBody;

type Reply = Result<Response<ResponseBody>, ApiError>;

/// `GET /me` response.
#[derive(Serialize)]
struct Me<'a> {
    user_id: UserId,
    email: &'a str,
    org_id: OrgId,
    org_slug: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_id: Option<CustomerId>,
    role: &'static str,
}

/// `POST /customers/{id}/users` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    email: String,
    role: String,
}

/// A user as the API shows it.
#[derive(Serialize)]
struct UserView {
    id: UserId,
    email: String,
    role: &'static str,
    customer_id: Option<CustomerId>,
    created_at: i64,
}

fn view(u: User) -> UserView {
    UserView {
        id: u.id,
        email: u.email,
        role: u.role.as_str(),
        customer_id: u.customer_id,
        created_at: u.created_at_ms,
    }
}

/// A plausible address, lower-cased (see [`normalize_email`]).
fn email(value: &str) -> Result<String, ApiError> {
    normalize_email(value)
        .ok_or_else(|| ApiError::bad_request("email must be an address like user@example.com"))
}

/// `GET /me`.
pub(super) async fn me(ctx: &Ctx<'_>) -> Reply {
    let c = &ctx.caller;
    json::ok(&Me {
        user_id: c.user.id,
        email: &c.user.email,
        org_id: c.org.id,
        org_slug: &c.org.slug,
        customer_id: c.user.customer_id,
        role: c.user.role.as_str(),
    })
}

/// `GET /customers/{customer_id}/users`.
pub(super) async fn list(ctx: &Ctx<'_>) -> Reply {
    let customer = ctx.caller.administered(customers::find(ctx).await?)?;
    let users = ctx
        .api
        .access
        .list_users(ctx.caller.org.id, Some(customer.id))
        .await?;
    json::ok(&users.into_iter().map(view).collect::<Vec<_>>())
}

/// `POST /customers/{customer_id}/users`: role `customer_admin` or
/// `customer_member`; 409 when the email is taken within the customer
/// (another customer's users never conflict, so their addresses stay
/// private).
pub(super) async fn create(ctx: &Ctx<'_>) -> Reply {
    let customer = ctx.caller.administered(customers::find(ctx).await?)?;
    let body: CreateUser = json::parse(&ctx.body)?;
    let role = match Role::parse(&body.role) {
        Some(r @ (Role::CustomerAdmin | Role::CustomerMember)) => r,
        _ => {
            return Err(ApiError::bad_request(
                "role must be customer_admin or customer_member",
            ))
        }
    };
    let user = User {
        id: UserId::new(),
        org_id: customer.org_id,
        customer_id: Some(customer.id),
        email: email(&body.email)?,
        role,
        created_at_ms: ctx.now,
    };
    ctx.api.access.create_user(&user).await?;
    json::created(&view(user))
}

/// `DELETE /customers/{customer_id}/users/{user_id}`: with the user's tokens.
pub(super) async fn delete(ctx: &Ctx<'_>) -> Reply {
    let customer = ctx.caller.administered(customers::find(ctx).await?)?;
    let id: UserId = ctx.params.id("user_id")?;
    let user = ctx
        .api
        .access
        .get_user(id)
        .await?
        .filter(|u| u.customer_id == Some(customer.id))
        .ok_or_else(|| ApiError::not_found("user"))?;
    if !ctx.api.access.delete_user(user.id).await? {
        return Err(ApiError::not_found("user"));
    }
    json::no_content()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email(" A@Example.com ").unwrap(), "a@example.com");
        for bad in ["", "a", "@x", "a@", "a b@c", "a@b@c", "a:b@c", "a@\u{7}"] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
    }
}
