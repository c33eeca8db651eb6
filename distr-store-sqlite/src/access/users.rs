//! The `users` table: vendor admins and customer users.

use distr_core::access::{CustomerId, OrgId, User, UserId};
use distr_core::{StoreError, StoreResult};

use super::errors::constraint;
use crate::codec::{parse, parse_opt};
use crate::SqliteStore;
use distr_core::store::codec::role;

/// The columns of a user row (table alias `u`), in the order of [`UserRow`].
macro_rules! user_columns {
    () => {
        "u.id, u.org_id, u.customer_id, u.email, u.role, u.created_at_ms"
    };
}
pub(crate) use user_columns;

/// A user as selected by [`user_columns!`].
pub(crate) type UserRow = (String, String, Option<String>, String, String, i64);

/// Decodes a row of [`user_columns!`].
pub(crate) fn decode(row: UserRow) -> StoreResult<User> {
    let (id, org_id, customer_id, email, role_name, created_at_ms) = row;
    Ok(User {
        id: parse("user id", &id)?,
        org_id: parse("user organisation id", &org_id)?,
        customer_id: parse_opt("user customer id", customer_id.as_deref())?,
        email,
        role: role(&role_name)?,
        created_at_ms,
    })
}

/// Creates `user`; [`StoreError::Conflict`] if its id or its email within its
/// customer (or among the vendor's own users) is taken, or its customer does not exist.
pub(crate) async fn create(store: &SqliteStore, user: &User) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO users (id, org_id, customer_id, email, role, created_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(user.id.to_string())
    .bind(user.org_id.to_string())
    .bind(user.customer_id.map(|c| c.to_string()))
    .bind(&user.email)
    .bind(user.role.as_str())
    .bind(user.created_at_ms)
    .execute(&store.pool)
    .await
    .map_err(constraint(
        "a user with this email exists in the same customer (or among the vendor's own users)",
    ))?;
    Ok(())
}

/// The user `id`.
pub(crate) async fn get(store: &SqliteStore, id: UserId) -> StoreResult<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users u WHERE u.id = ?1"
    ))
    .bind(id.to_string())
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    row.map(decode).transpose()
}

/// The users of `org`, or only those of its `customer`, by creation time, then id.
pub(crate) async fn list(
    store: &SqliteStore,
    org: OrgId,
    customer: Option<CustomerId>,
) -> StoreResult<Vec<User>> {
    let rows: Vec<UserRow> = sqlx::query_as(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users u WHERE u.org_id = ?1 AND (?2 IS NULL OR u.customer_id = ?2) \
          ORDER BY u.created_at_ms, u.id"
    ))
    .bind(org.to_string())
    .bind(customer.map(|c| c.to_string()))
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    rows.into_iter().map(decode).collect()
}

/// Deletes the user and its tokens in one transaction; true if it existed.
pub(crate) async fn delete(store: &SqliteStore, id: UserId) -> StoreResult<bool> {
    let id = id.to_string();
    let mut tx = store.write().await?;
    // The foreign key cascades too; deleting explicitly keeps the semantics
    // independent of the `foreign_keys` pragma.
    sqlx::query("DELETE FROM tokens WHERE user_id = ?1")
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
    let done = sqlx::query("DELETE FROM users WHERE id = ?1")
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
    tx.commit().await.map_err(StoreError::backend)?;
    Ok(done.rows_affected() > 0)
}
