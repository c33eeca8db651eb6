//! `/orgs`: vendor organisations, for the operator of the server (the
//! operator token, never a user's). Creating one creates its first vendor
//! admin and a token for them, shown once, so the vendor can take it from
//! there with its own token.

use distr_core::access::{is_valid_slug, normalize_email, Org, OrgId, Role, TokenId, User, UserId};
use distr_core::StoreError;
use http::Response;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::{json, tokens, ManagementApi};
use crate::body::ResponseBody;

type Reply = Result<Response<ResponseBody>, ApiError>;

/// Longest organisation display name, in characters.
const NAME_MAX: usize = 200;
/// The name of the first vendor admin's token.
const FIRST_TOKEN_NAME: &str = "first";

/// `POST /orgs` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateOrg {
    slug: String,
    #[serde(default)]
    name: Option<String>,
    /// The first vendor admin's address; default `admin@<slug>`.
    #[serde(default)]
    admin_email: Option<String>,
}

/// An organisation as the API shows it.
#[derive(Serialize)]
struct OrgView {
    id: OrgId,
    slug: String,
    name: String,
    created_at: i64,
}

fn view(o: Org) -> OrgView {
    OrgView {
        id: o.id,
        slug: o.slug,
        name: o.name,
        created_at: o.created_at_ms,
    }
}

/// A new organisation with its first admin and their token.
#[derive(Serialize)]
struct CreatedOrg {
    org: OrgView,
    admin_user_id: UserId,
    admin_email: String,
    /// The admin's token: shown in this response only.
    token: String,
    token_id: TokenId,
}

/// `GET /orgs`: every organisation, oldest first.
pub(super) async fn list(api: &ManagementApi) -> Reply {
    let orgs = api.access.list_orgs().await?;
    json::ok(&orgs.into_iter().map(view).collect::<Vec<_>>())
}

/// `POST /orgs`: 409 when the slug is taken.
pub(super) async fn create(api: &ManagementApi, body: &[u8], now: i64) -> Reply {
    let body: CreateOrg = json::parse(body)?;
    let slug = body.slug.trim();
    if !is_valid_slug(slug) {
        return Err(ApiError::bad_request(
            "slug must be lower-case letters and digits, separated by '.', '_', '__' or '-' \
             (it becomes the first segment of repository names)",
        ));
    }
    let name = match &body.name {
        Some(n) => json::text("name", n, NAME_MAX)?,
        None => slug.to_owned(),
    };
    let default_email = format!("admin@{slug}");
    let email = normalize_email(body.admin_email.as_deref().unwrap_or(&default_email))
        .ok_or_else(|| ApiError::bad_request("admin_email must be an e-mail address"))?;
    let org = Org {
        id: OrgId::new(),
        slug: slug.to_owned(),
        name,
        created_at_ms: now,
    };
    match api.access.create_org(&org).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(format!("organisation {slug} exists")))
        }
        Err(e) => return Err(e.into()),
    }
    let admin = User {
        id: UserId::new(),
        org_id: org.id,
        customer_id: None,
        email,
        role: Role::VendorAdmin,
        created_at_ms: now,
    };
    api.access.create_user(&admin).await?;
    let (token_id, token) =
        tokens::mint_first(api.access.as_ref(), admin.id, FIRST_TOKEN_NAME, now).await?;
    tracing::info!(target: "distr::audit", org = %org.slug, admin = %admin.email, "operator created an organisation");
    json::created_secret(&CreatedOrg {
        org: view(org),
        admin_user_id: admin.id,
        admin_email: admin.email,
        token,
        token_id,
    })
}
