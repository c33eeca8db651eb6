//! `/api/v1/customers`: a vendor's customer organisations. Vendor admins only.

use distr_core::access::{Customer, CustomerId};
use http::Response;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::json;
use super::Ctx;
use crate::body::ResponseBody;

type Reply = Result<Response<ResponseBody>, ApiError>;

/// Longest customer name, in characters.
const NAME_MAX: usize = 200;

/// `POST /customers` and `PATCH /customers/{id}` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerBody {
    name: String,
}

/// A customer as the API shows it.
#[derive(Serialize)]
struct CustomerView {
    id: CustomerId,
    name: String,
    created_at: i64,
}

fn view(c: Customer) -> CustomerView {
    CustomerView {
        id: c.id,
        name: c.name,
        created_at: c.created_at_ms,
    }
}

/// The customer named by the path if it exists; `None` otherwise. Callers
/// decide visibility (see [`super::auth::Caller::administered`]).
pub(super) async fn find(ctx: &Ctx<'_>) -> Result<Option<Customer>, ApiError> {
    let id: CustomerId = ctx.params.id("customer_id")?;
    Ok(ctx.api.access.get_customer(id).await?)
}

/// The customer named by the path, for a vendor admin of its vendor: 403
/// for other roles, 404 for other vendors' customers.
pub(super) async fn load_for_vendor(ctx: &Ctx<'_>) -> Result<Customer, ApiError> {
    ctx.caller.require_vendor_admin()?;
    find(ctx)
        .await?
        .filter(|c| c.org_id == ctx.caller.org.id)
        .ok_or_else(|| ApiError::not_found("customer"))
}

/// `GET /customers`.
pub(super) async fn list(ctx: &Ctx<'_>) -> Reply {
    ctx.caller.require_vendor_admin()?;
    let all = ctx.api.access.list_customers(ctx.caller.org.id).await?;
    json::ok(&all.into_iter().map(view).collect::<Vec<_>>())
}

/// `POST /customers`.
pub(super) async fn create(ctx: &Ctx<'_>) -> Reply {
    ctx.caller.require_vendor_admin()?;
    let body: CustomerBody = json::parse(&ctx.body)?;
    let customer = Customer {
        id: CustomerId::new(),
        org_id: ctx.caller.org.id,
        name: json::text("name", &body.name, NAME_MAX)?,
        created_at_ms: ctx.now,
    };
    ctx.api.access.create_customer(&customer).await?;
    json::created(&view(customer))
}

/// `GET /customers/{customer_id}`.
pub(super) async fn get(ctx: &Ctx<'_>) -> Reply {
    json::ok(&view(load_for_vendor(ctx).await?))
}

/// `PATCH /customers/{customer_id}`: renames.
pub(super) async fn update(ctx: &Ctx<'_>) -> Reply {
    let mut customer = load_for_vendor(ctx).await?;
    let body: CustomerBody = json::parse(&ctx.body)?;
    customer.name = json::text("name", &body.name, NAME_MAX)?;
    if !ctx.api.access.update_customer(&customer).await? {
        return Err(ApiError::not_found("customer"));
    }
    json::ok(&view(customer))
}

/// `DELETE /customers/{customer_id}`: with its users, their tokens and its
/// entitlements.
pub(super) async fn delete(ctx: &Ctx<'_>) -> Reply {
    let customer = load_for_vendor(ctx).await?;
    if !ctx.api.access.delete_customer(customer.id).await? {
        return Err(ApiError::not_found("customer"));
    }
    json::no_content()
}
