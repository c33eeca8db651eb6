//! `/api/v1/access-mode`: whether the vendor's customers see everything
//! (`open`) or only what their entitlements grant (`entitled`). Vendor
//! admins only. Creating the first entitlement switches a vendor to
//! `entitled`; only a `PUT` here (or the admin command) opens it again, and
//! every change is recorded (who, when) and logged on the `distr::audit`
//! target.

use distr_core::access::{AccessMode, AccessModeRecord};
use http::Response;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::json;
use super::Ctx;
use crate::body::ResponseBody;

type Reply = Result<Response<ResponseBody>, ApiError>;

/// `PUT /access-mode` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessModeBody {
    access_mode: String,
}

/// The access mode as the API shows it.
#[derive(Serialize)]
struct AccessModeView {
    access_mode: AccessMode,
    /// When it last changed (ms since the epoch), `null` if never.
    changed_at: Option<i64>,
    /// Who changed it last (`user:<id>`, `cli`, `entitlement:<id>`,
    /// `migration`), `null` if never.
    changed_by: Option<String>,
}

fn view(r: AccessModeRecord) -> AccessModeView {
    AccessModeView {
        access_mode: r.mode,
        changed_at: r.changed_at_ms,
        changed_by: r.changed_by,
    }
}

/// `GET /access-mode`.
pub(super) async fn get(ctx: &Ctx<'_>) -> Reply {
    ctx.caller.require_vendor_admin()?;
    json::ok(&view(ctx.api.access.access_mode(ctx.caller.org.id).await?))
}

/// `PUT /access-mode`: sets the mode, recorded as the calling user.
pub(super) async fn set(ctx: &Ctx<'_>) -> Reply {
    ctx.caller.require_vendor_admin()?;
    let body: AccessModeBody = json::parse(&ctx.body)?;
    let mode: AccessMode = body
        .access_mode
        .parse()
        .map_err(|e| ApiError::bad_request(format!("access_mode: {e}")))?;
    let org = ctx.caller.org.id;
    let before = ctx.api.access.access_mode(org).await?.mode;
    let by = format!("user:{}", ctx.caller.user.id);
    if !ctx
        .api
        .access
        .set_access_mode(org, mode, &by, ctx.now)
        .await?
    {
        return Err(ApiError::not_found("organisation"));
    }
    tracing::info!(
        target: "distr::audit",
        org = %ctx.caller.org.slug,
        user = %ctx.caller.user.id,
        from = %before,
        to = %mode,
        "access mode set"
    );
    json::ok(&view(ctx.api.access.access_mode(org).await?))
}
