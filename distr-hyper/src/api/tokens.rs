//! `/api/v1/tokens` and `/api/v1/users/{user_id}/tokens`: personal access
//! tokens. Everyone creates tokens for themselves; revoking, rotating and
//! listing another user's tokens follow [`super::auth::Caller::manages_user`].
//! A secret is shown once, when created or rotated; listings never show a
//! secret or its hash.

use distr_core::access::{AccessStore, PlainToken, TokenId, TokenRecord, UserId};
use http::Response;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::instant;
use super::json;
use super::Ctx;
use crate::body::ResponseBody;

type Reply = Result<Response<ResponseBody>, ApiError>;

/// Longest token name, in characters.
const NAME_MAX: usize = 100;

/// `POST /tokens` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    name: String,
    /// Expiry (ms since the Unix epoch or RFC 3339); must lie in the future.
    #[serde(default, deserialize_with = "instant::deserialize_optional")]
    expires_at: Option<i64>,
}

/// A token as listed.
#[derive(Serialize)]
struct TokenView {
    id: TokenId,
    user_id: UserId,
    name: String,
    expires_at: Option<i64>,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    /// True when the token authenticates now.
    active: bool,
}

/// A freshly issued token, with its secret.
#[derive(Serialize)]
struct IssuedToken {
    id: TokenId,
    user_id: UserId,
    name: String,
    /// The secret: shown this once, stored only as a hash.
    token: String,
    expires_at: Option<i64>,
    created_at: i64,
}

fn view(t: TokenRecord, now: i64) -> TokenView {
    TokenView {
        active: t.is_active(now),
        id: t.id,
        user_id: t.user_id,
        name: t.name,
        expires_at: t.expires_at_ms,
        created_at: t.created_at_ms,
        last_used_at: t.last_used_at_ms,
        revoked_at: t.revoked_at_ms,
    }
}

/// Generates and stores a token for `user`.
async fn issue(
    ctx: &Ctx<'_>,
    user: UserId,
    name: String,
    expires_at: Option<i64>,
) -> Result<IssuedToken, ApiError> {
    mint(ctx.api.access.as_ref(), user, name, expires_at, ctx.now).await
}

/// Generates a token for `user` at `now` and stores it in `access`; the
/// one place the API makes tokens.
async fn mint(
    access: &dyn AccessStore,
    user: UserId,
    name: String,
    expires_at: Option<i64>,
    now: i64,
) -> Result<IssuedToken, ApiError> {
    let secret = PlainToken::generate().map_err(ApiError::internal)?;
    let record = TokenRecord {
        id: TokenId::new(),
        user_id: user,
        name,
        hash: secret.hash(),
        expires_at_ms: expires_at,
        last_used_at_ms: None,
        revoked_at_ms: None,
        created_at_ms: now,
    };
    access.create_token(&record).await?;
    Ok(IssuedToken {
        id: record.id,
        user_id: record.user_id,
        name: record.name,
        token: secret.expose().to_owned(),
        expires_at: record.expires_at_ms,
        created_at: record.created_at_ms,
    })
}

/// The token named by the path, when the caller may manage its owner.
async fn load_managed(ctx: &Ctx<'_>) -> Result<TokenRecord, ApiError> {
    let id: TokenId = ctx.params.id("token_id")?;
    let token = ctx
        .api
        .access
        .get_token(id)
        .await?
        .ok_or_else(|| ApiError::not_found("token"))?;
    let owner = ctx
        .api
        .access
        .get_user(token.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("token"))?;
    ctx.caller.manages_user(&owner).map_err(|e| {
        if e.is_not_found() {
            ApiError::not_found("token")
        } else {
            e
        }
    })?;
    Ok(token)
}

async fn list_of(ctx: &Ctx<'_>, user: UserId) -> Reply {
    let tokens = ctx.api.access.list_tokens(user).await?;
    json::ok(
        &tokens
            .into_iter()
            .map(|t| view(t, ctx.now))
            .collect::<Vec<_>>(),
    )
}

/// `GET /tokens`: the caller's own tokens, revoked ones included.
pub(super) async fn list(ctx: &Ctx<'_>) -> Reply {
    list_of(ctx, ctx.caller.user.id).await
}

/// Validates a `POST` body and issues a token for `user`.
async fn create_for(ctx: &Ctx<'_>, user: UserId) -> Reply {
    let body: CreateToken = json::parse(&ctx.body)?;
    let issued = issue_checked(ctx, user, &body.name, body.expires_at).await?;
    json::created_secret(&issued)
}

/// Checks a new token's name and expiry, then issues it for `user`
/// (whom the caller was checked to manage).
async fn issue_checked(
    ctx: &Ctx<'_>,
    user: UserId,
    name: &str,
    expires_at: Option<i64>,
) -> Result<IssuedToken, ApiError> {
    let name = json::text("name", name, NAME_MAX)?;
    if expires_at.is_some_and(|e| e <= ctx.now) {
        return Err(ApiError::bad_request(
            "expires_at must lie in the future (ms since the Unix epoch or RFC 3339)",
        ));
    }
    issue(ctx, user, name, expires_at).await
}

/// A new token for `user` (who was just created, so nothing is checked):
/// its id and secret.
pub(super) async fn mint_first(
    access: &dyn AccessStore,
    user: UserId,
    name: &str,
    now: i64,
) -> Result<(TokenId, String), ApiError> {
    let issued = mint(access, user, name.to_owned(), None, now).await?;
    Ok((issued.id, issued.token))
}

/// A new token for `user` (checked like `POST /tokens`): its id and secret.
pub(super) async fn issue_for(
    ctx: &Ctx<'_>,
    user: UserId,
    name: &str,
    expires_at: Option<i64>,
) -> Result<(TokenId, String), ApiError> {
    let issued = issue_checked(ctx, user, name, expires_at).await?;
    Ok((issued.id, issued.token))
}

/// `POST /tokens`: a new token for the caller.
pub(super) async fn create(ctx: &Ctx<'_>) -> Reply {
    create_for(ctx, ctx.caller.user.id).await
}

/// `DELETE /tokens/{token_id}`: revokes (idempotent). This server refuses
/// the token at once, every other within a second, and no server lets it
/// write anything again.
pub(super) async fn revoke(ctx: &Ctx<'_>) -> Reply {
    let token = load_managed(ctx).await?;
    if !ctx.api.access.revoke_token(token.id, ctx.now).await? {
        return Err(ApiError::not_found("token"));
    }
    ctx.api.authenticator().tokens().invalidate(token.id);
    json::no_content()
}

/// `POST /tokens/{token_id}/rotate`: a new token for the same owner with the
/// same name and expiry; the old one is revoked. 409 for a revoked or
/// expired token.
pub(super) async fn rotate(ctx: &Ctx<'_>) -> Reply {
    let old = load_managed(ctx).await?;
    if !old.is_active(ctx.now) {
        return Err(ApiError::conflict(
            "the token is revoked or expired; create a new one",
        ));
    }
    let issued = issue(ctx, old.user_id, old.name.clone(), old.expires_at_ms).await?;
    ctx.api.access.revoke_token(old.id, ctx.now).await?;
    ctx.api.authenticator().tokens().invalidate(old.id);
    json::created_secret(&issued)
}

/// The user named by the path, when the caller may manage their tokens.
async fn load_user(ctx: &Ctx<'_>) -> Result<UserId, ApiError> {
    let id: UserId = ctx.params.id("user_id")?;
    let user = ctx
        .api
        .access
        .get_user(id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    ctx.caller.manages_user(&user)?;
    Ok(user.id)
}

/// `GET /users/{user_id}/tokens`: for admins within their scope (and for
/// anyone, their own).
pub(super) async fn list_for_user(ctx: &Ctx<'_>) -> Reply {
    let user = load_user(ctx).await?;
    list_of(ctx, user).await
}

/// `POST /users/{user_id}/tokens`: a token for another user, so an admin can
/// hand a new customer user (who has no token yet) their first one. Same
/// scope as revoking; the secret is shown once, to the admin.
pub(super) async fn create_for_user(ctx: &Ctx<'_>) -> Reply {
    let user = load_user(ctx).await?;
    create_for(ctx, user).await
}
