//! The `tokens` table: access tokens, found by the hash of their secret.

use distr_core::access::{TokenId, TokenRecord, User, UserId};
use distr_core::{StoreError, StoreResult};

use super::errors::constraint;
use super::users::{self, user_columns, UserRow};
use crate::codec::parse;
use crate::SqliteStore;

/// The columns of a token row, in the order of [`TokenRow`].
macro_rules! token_columns {
    () => {
        "t.id, t.user_id, t.name, t.hash, t.expires_at_ms, t.last_used_at_ms, \
         t.revoked_at_ms, t.created_at_ms"
    };
}

/// A token as selected by [`token_columns!`].
type TokenRow = (
    String,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
);

/// A token selected with its owner: [`token_columns!`], then [`user_columns!`].
type TokenUserRow = (
    String,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
);

fn decode(row: TokenRow) -> StoreResult<TokenRecord> {
    let (id, user_id, name, hash, expires_at_ms, last_used_at_ms, revoked_at_ms, created_at_ms) =
        row;
    Ok(TokenRecord {
        id: parse("token id", &id)?,
        user_id: parse("token user id", &user_id)?,
        name,
        hash,
        expires_at_ms,
        last_used_at_ms,
        revoked_at_ms,
        created_at_ms,
    })
}

fn decode_with_user(row: TokenUserRow) -> StoreResult<(TokenRecord, User)> {
    let (t0, t1, t2, t3, t4, t5, t6, t7, u0, u1, u2, u3, u4, u5) = row;
    let user: UserRow = (u0, u1, u2, u3, u4, u5);
    Ok((
        decode((t0, t1, t2, t3, t4, t5, t6, t7))?,
        users::decode(user)?,
    ))
}

/// Stores `token` if its user exists; [`StoreError::Conflict`] if the user
/// does not exist or the token's id or hash is taken.
pub(crate) async fn create(store: &SqliteStore, token: &TokenRecord) -> StoreResult<()> {
    // One statement: the user check cannot race with the user's deletion.
    let done = sqlx::query(
        "INSERT INTO tokens (id, user_id, name, hash, expires_at_ms, last_used_at_ms, \
         revoked_at_ms, created_at_ms) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS (SELECT 1 FROM users WHERE id = ?2)",
    )
    .bind(token.id.to_string())
    .bind(token.user_id.to_string())
    .bind(&token.name)
    .bind(&token.hash)
    .bind(token.expires_at_ms)
    .bind(token.last_used_at_ms)
    .bind(token.revoked_at_ms)
    .bind(token.created_at_ms)
    .execute(&store.pool)
    .await
    .map_err(constraint("token exists"))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Conflict(
            "the token's user does not exist".to_owned(),
        ));
    }
    Ok(())
}

/// The token whose secret hashes to `hash`, with its owner.
pub(crate) async fn find(
    store: &SqliteStore,
    hash: &str,
) -> StoreResult<Option<(TokenRecord, User)>> {
    let row: Option<TokenUserRow> = sqlx::query_as(concat!(
        "SELECT ",
        token_columns!(),
        ", ",
        user_columns!(),
        " FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?1"
    ))
    .bind(hash)
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    row.map(decode_with_user).transpose()
}

/// The token `id`.
pub(crate) async fn get(store: &SqliteStore, id: TokenId) -> StoreResult<Option<TokenRecord>> {
    let row: Option<TokenRow> = sqlx::query_as(concat!(
        "SELECT ",
        token_columns!(),
        " FROM tokens t WHERE t.id = ?1"
    ))
    .bind(id.to_string())
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    row.map(decode).transpose()
}

/// The tokens of `user`, revoked ones included, by creation time, then id.
pub(crate) async fn list(store: &SqliteStore, user: UserId) -> StoreResult<Vec<TokenRecord>> {
    let rows: Vec<TokenRow> = sqlx::query_as(concat!(
        "SELECT ",
        token_columns!(),
        " FROM tokens t WHERE t.user_id = ?1 ORDER BY t.created_at_ms, t.id"
    ))
    .bind(user.to_string())
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    rows.into_iter().map(decode).collect()
}

/// Marks the token revoked at `at_ms` unless it already is; true if it exists.
pub(crate) async fn revoke(store: &SqliteStore, id: TokenId, at_ms: i64) -> StoreResult<bool> {
    let done =
        sqlx::query("UPDATE tokens SET revoked_at_ms = COALESCE(revoked_at_ms, ?1) WHERE id = ?2")
            .bind(at_ms)
            .bind(id.to_string())
            .execute(&store.pool)
            .await
            .map_err(StoreError::backend)?;
    Ok(done.rows_affected() > 0)
}

/// Records a use at `at_ms`, keeping the latest; a missing token is ignored.
pub(crate) async fn touch(store: &SqliteStore, id: TokenId, at_ms: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE tokens SET last_used_at_ms = MAX(COALESCE(last_used_at_ms, ?1), ?1) WHERE id = ?2",
    )
    .bind(at_ms)
    .bind(id.to_string())
    .execute(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(())
}
