//! `/api/v1/analytics/...`, `/artifacts/{id}/analytics` and
//! `/customers/{id}/analytics`: who pulled what, when. Vendor admins only;
//! every query is scoped to the caller's vendor.

mod csv;
mod filter;
mod views;

use std::sync::Arc;

use distr_core::access::ArtifactId;
use distr_core::analytics::{entitled_customers_without_pulls, DynAnalyticsStore};
use http::Response;

use super::error::ApiError;
use super::{artifacts, customers, json, Ctx};
use crate::body::ResponseBody;
use views::*;

type Reply = Result<Response<ResponseBody>, ApiError>;

/// The analytics store, for a vendor admin; 403 for other roles, 404
/// `analytics_disabled` when the server has none.
fn store<'a>(ctx: &'a Ctx<'_>) -> Result<&'a Arc<DynAnalyticsStore>, ApiError> {
    ctx.caller.require_vendor_admin()?;
    ctx.api
        .analytics
        .as_ref()
        .ok_or_else(ApiError::analytics_disabled)
}

/// `GET /analytics/pulls`: newest first, `limit` (≤ 1000, default 100) per
/// page; `next_cursor` continues.
pub(super) async fn list(ctx: &Ctx<'_>) -> Reply {
    let store = store(ctx)?;
    let filter = filter::filter(
        &ctx.query,
        &ctx.raw_query,
        ctx.caller.org.id,
        &["cursor", "limit"],
    )?;
    let (cursor, limit) = filter::page(&ctx.query)?;
    let (events, next) = store.list_pulls(&filter, cursor.as_ref(), limit).await?;
    json::ok(&PullPage {
        items: events.into_iter().map(PullView::from).collect(),
        next_cursor: next.map(|c| c.to_string()),
    })
}

/// `GET /analytics/pulls.csv`: every matching event as CSV, streamed.
pub(super) async fn export_csv(ctx: &Ctx<'_>) -> Reply {
    let store = store(ctx)?;
    let filter = filter::filter(&ctx.query, &ctx.raw_query, ctx.caller.org.id, &[])?;
    let org = ctx.caller.org.id;
    let names = csv::Names {
        artifacts: ctx
            .api
            .access
            .list_artifacts(org)
            .await?
            .into_iter()
            .map(|a| (a.id, a.name))
            .collect(),
        customers: customer_names(ctx.api.access.list_customers(org).await?),
    };
    csv::response(store.clone(), filter, names).await
}

/// `GET /artifacts/{artifact_id}/analytics`.
pub(super) async fn artifact(ctx: &Ctx<'_>) -> Reply {
    let store = store(ctx)?;
    let a = artifacts::load(ctx).await?;
    let org = ctx.caller.org.id;
    let names = customer_names(ctx.api.access.list_customers(org).await?);
    let tags = store.pulls_per_tag(org, a.id).await?;
    let customers = store.artifact_customers(org, Some(a.id)).await?;
    let bytes = store.bytes_served(org, Some(a.id)).await?;
    json::ok(&ArtifactAnalytics {
        artifact_id: a.id,
        tags: tags
            .into_iter()
            .map(|t| TagRow {
                tag: t.tag.as_str().to_owned(),
                pulls: t.pulls,
                customers: t.customers,
            })
            .collect(),
        customers: customers
            .into_iter()
            .map(|c| CustomerRow {
                customer_id: c.customer,
                customer: names.get(&c.customer).cloned(),
                pulls: c.pulls,
                first_pull_at: c.first_ms,
                last_pull_at: c.last_ms,
            })
            .collect(),
        bytes_served: bytes.into_iter().map(bytes_row).collect(),
    })
}

/// `GET /customers/{customer_id}/analytics`.
pub(super) async fn customer(ctx: &Ctx<'_>) -> Reply {
    let store = store(ctx)?;
    let c = customers::load_for_vendor(ctx).await?;
    let org = ctx.caller.org.id;
    let names: std::collections::HashMap<ArtifactId, String> = ctx
        .api
        .access
        .list_artifacts(org)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    let pulls = store.customer_pulls(org, c.id).await?;
    let bytes = store.bytes_served(org, None).await?;
    json::ok(&CustomerAnalytics {
        customer_id: c.id,
        pulls: pulls
            .into_iter()
            .map(|r| ReferenceRow {
                artifact_id: r.artifact,
                artifact: names.get(&r.artifact).cloned(),
                reference: r.reference.to_string(),
                pulls: r.pulls,
                first_pull_at: r.first_ms,
                last_pull_at: r.last_ms,
            })
            .collect(),
        bytes_served: bytes
            .into_iter()
            .filter(|b| b.customer == Some(c.id))
            .map(bytes_row)
            .collect(),
    })
}

/// `GET /analytics/unpulled?artifact_id=`: entitled customers who never
/// pulled (the artifact, or anything of the vendor without `artifact_id`).
pub(super) async fn unpulled(ctx: &Ctx<'_>) -> Reply {
    let store = store(ctx)?;
    let org = ctx.caller.org.id;
    let artifact = match ctx.query.get_all("artifact_id")[..] {
        [] => None,
        [id] => {
            let id: ArtifactId = id.parse().map_err(|_| {
                ApiError::bad_request_code("invalid_filter", "artifact_id must be a UUID")
            })?;
            let a = ctx
                .api
                .access
                .get_artifact(id)
                .await?
                .filter(|a| a.org_id == org)
                .ok_or_else(|| ApiError::not_found("artifact"))?;
            Some(a.id)
        }
        _ => {
            return Err(ApiError::bad_request_code(
                "invalid_filter",
                "artifact_id is given more than once",
            ))
        }
    };
    let found =
        entitled_customers_without_pulls(&*ctx.api.access, &**store, org, artifact, ctx.now)
            .await?;
    json::ok(&Unpulled {
        artifact_id: artifact,
        customers: found.into_iter().map(UnpulledRow::from).collect(),
    })
}

fn bytes_row(b: distr_core::analytics::BytesTotal) -> BytesRow {
    BytesRow {
        artifact_id: b.artifact,
        customer_id: b.customer,
        bytes: b.bytes,
        last_download_at: b.last_ms,
    }
}
