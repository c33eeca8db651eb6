//! The `tokens` table: access tokens, by the hash of their secret.

use distr_core::access::{TokenId, TokenRecord, User, UserId};
use distr_core::{StoreError, StoreResult};
use sqlx::types::Uuid;

use super::errors::write_error;
use super::users;
use crate::PostgresStore;

/// The columns of a token row, in the order of [`TokenRow`].
macro_rules! token_columns {
    () => {
        "t.id, t.user_id, t.name, t.hash, t.expires_at_ms, t.last_used_at_ms, \
         t.revoked_at_ms, t.created_at_ms"
    };
}

/// A token as selected by [`token_columns!`].
type TokenRow = (
    Uuid,
    Uuid,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
);

/// A token as selected by [`token_columns!`] followed by its owner's
/// columns but the id, which is the token's `user_id`.
type TokenUserRow = (
    Uuid,
    Uuid,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
    Uuid,
    Option<Uuid>,
    String,
    String,
    i64,
);

fn decode(row: TokenRow) -> TokenRecord {
    let (id, user_id, name, hash, expires_at_ms, last_used_at_ms, revoked_at_ms, created_at_ms) =
        row;
    TokenRecord {
        id: TokenId(id),
        user_id: UserId(user_id),
        name,
        hash,
        expires_at_ms,
        last_used_at_ms,
        revoked_at_ms,
        created_at_ms,
    }
}

/// Stores `token`; [`StoreError::Conflict`] if its id or hash is taken or
/// its user does not exist.
pub(crate) async fn create(store: &PostgresStore, token: &TokenRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tokens (id, user_id, name, hash, expires_at_ms, last_used_at_ms, \
         revoked_at_ms, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(token.id.0)
    .bind(token.user_id.0)
    .bind(&token.name)
    .bind(&token.hash)
    .bind(token.expires_at_ms)
    .bind(token.last_used_at_ms)
    .bind(token.revoked_at_ms)
    .bind(token.created_at_ms)
    .execute(&store.pool)
    .await
    .map_err(write_error("token"))?;
    Ok(())
}

/// The token whose secret hashes to `hash`, with its owner, in one statement.
pub(crate) async fn find(
    store: &PostgresStore,
    hash: &str,
) -> StoreResult<Option<(TokenRecord, User)>> {
    let row: Option<TokenUserRow> = sqlx::query_as(concat!(
        "SELECT ",
        token_columns!(),
        ", u.org_id, u.customer_id, u.email, u.role, u.created_at_ms \
          FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = $1"
    ))
    .bind(hash)
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    let Some((
        id,
        user_id,
        name,
        hash,
        expires_at_ms,
        last_used_at_ms,
        revoked_at_ms,
        created_at_ms,
        org_id,
        customer_id,
        email,
        role,
        user_created_at_ms,
    )) = row
    else {
        return Ok(None);
    };
    let token = decode((
        id,
        user_id,
        name,
        hash,
        expires_at_ms,
        last_used_at_ms,
        revoked_at_ms,
        created_at_ms,
    ));
    let user = users::decode((
        user_id,
        org_id,
        customer_id,
        email,
        role,
        user_created_at_ms,
    ))?;
    Ok(Some((token, user)))
}

/// The token `id`.
pub(crate) async fn get(store: &PostgresStore, id: TokenId) -> StoreResult<Option<TokenRecord>> {
    let row: Option<TokenRow> = sqlx::query_as(concat!(
        "SELECT ",
        token_columns!(),
        " FROM tokens t WHERE t.id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(row.map(decode))
}

/// The tokens of `user`, revoked ones included.
pub(crate) async fn list(store: &PostgresStore, user: UserId) -> StoreResult<Vec<TokenRecord>> {
    let rows: Vec<TokenRow> = sqlx::query_as(concat!(
        "SELECT ",
        token_columns!(),
        " FROM tokens t WHERE t.user_id = $1",
        by_creation!("t")
    ))
    .bind(user.0)
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(rows.into_iter().map(decode).collect())
}

/// Marks the token revoked at `at_ms` unless it already is (the first
/// revocation time stays); true if the token exists.
pub(crate) async fn revoke(store: &PostgresStore, id: TokenId, at_ms: i64) -> StoreResult<bool> {
    let done =
        sqlx::query("UPDATE tokens SET revoked_at_ms = COALESCE(revoked_at_ms, $2) WHERE id = $1")
            .bind(id.0)
            .bind(at_ms)
            .execute(&store.pool)
            .await
            .map_err(StoreError::backend)?;
    Ok(done.rows_affected() > 0)
}

/// Records a use at `at_ms`, keeping the latest of all uses recorded
/// (`GREATEST` ignores the `NULL` of a token never used). A missing token is
/// not an error.
pub(crate) async fn touch(store: &PostgresStore, id: TokenId, at_ms: i64) -> StoreResult<()> {
    sqlx::query("UPDATE tokens SET last_used_at_ms = GREATEST(last_used_at_ms, $2) WHERE id = $1")
        .bind(id.0)
        .bind(at_ms)
        .execute(&store.pool)
        .await
        .map_err(StoreError::backend)?;
    Ok(())
}
