//! `/api/v1/customers/{customer_id}/entitlements`: what a customer may pull.
//! Vendor admins only. Changes apply to registry access on the next request.

use std::collections::HashSet;

use distr_core::access::{
    ArtifactId, CustomerId, Entitlement, EntitlementId, EntitlementItem, TagPattern, TagSelection,
};
use http::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::customers;
use super::error::ApiError;
use super::instant;
use super::json;
use super::Ctx;
use crate::body::ResponseBody;

type Reply = Result<Response<ResponseBody>, ApiError>;

/// Longest entitlement name, in characters.
const NAME_MAX: usize = 200;
/// Most items per entitlement.
const ITEMS_MAX: usize = 1000;
/// Most tag patterns per item.
const PATTERNS_MAX: usize = 100;

/// `POST` and `PUT` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntitlementBody {
    name: String,
    /// Expiry (ms since the Unix epoch or RFC 3339), or `null` for none.
    #[serde(default, deserialize_with = "instant::deserialize_optional")]
    expires_at: Option<i64>,
    items: Vec<ItemBody>,
}

/// One item: an artifact and `"all"` or a list of tag names / patterns.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemBody {
    artifact_id: ArtifactId,
    tags: Value,
}

/// An entitlement as the API shows it.
#[derive(Serialize)]
struct EntitlementView {
    id: EntitlementId,
    customer_id: CustomerId,
    name: String,
    expires_at: Option<i64>,
    /// False once expired.
    active: bool,
    items: Vec<ItemView>,
    created_at: i64,
}

#[derive(Serialize)]
struct ItemView {
    artifact_id: ArtifactId,
    /// `"all"` or the list of patterns.
    tags: Value,
}

fn view(e: Entitlement, now: i64) -> EntitlementView {
    EntitlementView {
        active: e.is_active(now),
        id: e.id,
        customer_id: e.customer_id,
        name: e.name,
        expires_at: e.expires_at_ms,
        items: e
            .items
            .into_iter()
            .map(|i| ItemView {
                artifact_id: i.artifact_id,
                tags: match i.tags {
                    TagSelection::All => Value::from("all"),
                    TagSelection::Only(ps) => {
                        Value::from(ps.iter().map(|p| p.as_str()).collect::<Vec<_>>())
                    }
                },
            })
            .collect(),
        created_at: e.created_at_ms,
    }
}

/// `"all"` or a non-empty list of valid tag patterns.
fn selection(tags: &Value) -> Result<TagSelection, ApiError> {
    let shape =
        || ApiError::bad_request("tags must be \"all\" or a non-empty list of tag patterns");
    match tags {
        Value::String(s) if s == "all" => Ok(TagSelection::All),
        Value::Array(list) if !list.is_empty() && list.len() <= PATTERNS_MAX => {
            let mut patterns = Vec::with_capacity(list.len());
            for p in list {
                let text = p.as_str().ok_or_else(shape)?;
                let pattern: TagPattern = text
                    .parse()
                    .map_err(|e: distr_core::Error| ApiError::bad_request(e.to_string()))?;
                if !patterns.contains(&pattern) {
                    patterns.push(pattern);
                }
            }
            Ok(TagSelection::Only(patterns))
        }
        _ => Err(shape()),
    }
}

/// Validates a body: the name, the expiry, artifacts of the caller's vendor
/// (each at most once) and the tag patterns.
async fn validate(
    ctx: &Ctx<'_>,
    body: EntitlementBody,
) -> Result<(String, Option<i64>, Vec<EntitlementItem>), ApiError> {
    let name = json::text("name", &body.name, NAME_MAX)?;
    if body.expires_at.is_some_and(|e| e < 0) {
        return Err(ApiError::bad_request(
            "expires_at must not lie before 1970: give ms since the Unix epoch, an RFC 3339 \
             date-time, or null",
        ));
    }
    if body.items.len() > ITEMS_MAX {
        return Err(ApiError::bad_request(format!(
            "at most {ITEMS_MAX} items per entitlement"
        )));
    }
    let mut seen = HashSet::new();
    let mut items = Vec::with_capacity(body.items.len());
    for item in body.items {
        if !seen.insert(item.artifact_id) {
            return Err(ApiError::bad_request(format!(
                "artifact {} appears twice",
                item.artifact_id
            )));
        }
        let tags = selection(&item.tags)?;
        let known = ctx
            .api
            .access
            .get_artifact(item.artifact_id)
            .await?
            .is_some_and(|a| a.org_id == ctx.caller.org.id);
        if !known {
            return Err(ApiError::bad_request(format!(
                "artifact {} does not exist",
                item.artifact_id
            )));
        }
        items.push(EntitlementItem {
            artifact_id: item.artifact_id,
            tags,
        });
    }
    Ok((name, body.expires_at, items))
}

/// The entitlement named by the path, of the customer named by the path.
async fn load(ctx: &Ctx<'_>) -> Result<Entitlement, ApiError> {
    let customer = customers::load_for_vendor(ctx).await?;
    let id: EntitlementId = ctx.params.id("entitlement_id")?;
    ctx.api
        .access
        .get_entitlement(id)
        .await?
        .filter(|e| e.customer_id == customer.id && e.org_id == ctx.caller.org.id)
        .ok_or_else(|| ApiError::not_found("entitlement"))
}

/// `GET /customers/{customer_id}/entitlements`: expired ones included.
pub(super) async fn list(ctx: &Ctx<'_>) -> Reply {
    let customer = customers::load_for_vendor(ctx).await?;
    let all = ctx.api.access.list_entitlements(customer.id).await?;
    json::ok(
        &all.into_iter()
            .map(|e| view(e, ctx.now))
            .collect::<Vec<_>>(),
    )
}

/// `POST /customers/{customer_id}/entitlements`: 409 when the customer has
/// an entitlement of that name.
pub(super) async fn create(ctx: &Ctx<'_>) -> Reply {
    let customer = customers::load_for_vendor(ctx).await?;
    let body: EntitlementBody = json::parse(&ctx.body)?;
    let (name, expires_at_ms, items) = validate(ctx, body).await?;
    let e = Entitlement {
        id: EntitlementId::new(),
        org_id: customer.org_id,
        customer_id: customer.id,
        name,
        expires_at_ms,
        items,
        created_at_ms: ctx.now,
    };
    ctx.api.access.create_entitlement(&e).await?;
    json::created(&view(e, ctx.now))
}

/// `GET /customers/{customer_id}/entitlements/{entitlement_id}`.
pub(super) async fn get(ctx: &Ctx<'_>) -> Reply {
    json::ok(&view(load(ctx).await?, ctx.now))
}

/// `PUT /customers/{customer_id}/entitlements/{entitlement_id}`: replaces
/// name, expiry and items.
pub(super) async fn replace(ctx: &Ctx<'_>) -> Reply {
    let mut e = load(ctx).await?;
    let body: EntitlementBody = json::parse(&ctx.body)?;
    let (name, expires_at_ms, items) = validate(ctx, body).await?;
    e.name = name;
    e.expires_at_ms = expires_at_ms;
    e.items = items;
    if !ctx.api.access.update_entitlement(&e).await? {
        return Err(ApiError::not_found("entitlement"));
    }
    json::ok(&view(e, ctx.now))
}

/// `DELETE /customers/{customer_id}/entitlements/{entitlement_id}`.
pub(super) async fn delete(ctx: &Ctx<'_>) -> Reply {
    let e = load(ctx).await?;
    if !ctx.api.access.delete_entitlement(e.id).await? {
        return Err(ApiError::not_found("entitlement"));
    }
    json::no_content()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selections() {
        assert_eq!(selection(&json!("all")).unwrap(), TagSelection::All);
        assert_eq!(
            selection(&json!(["1.2.*", "latest", "1.2.*"])).unwrap(),
            TagSelection::Only(vec!["1.2.*".parse().unwrap(), "latest".parse().unwrap()])
        );
        for bad in [
            json!("ALL"),
            json!([]),
            json!(["a b"]),
            json!([1]),
            json!(null),
            json!({}),
        ] {
            assert!(selection(&bad).is_err(), "{bad}");
        }
    }
}
