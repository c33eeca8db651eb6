//! The `users` table: vendor admins and the users of customers.

use distr_core::access::{CustomerId, OrgId, User, UserId};
use distr_core::store::codec;
use distr_core::{StoreError, StoreResult};
use sqlx::types::Uuid;

use super::errors::write_error;
use crate::PostgresStore;

/// The columns of a user row, in the order of [`UserRow`].
macro_rules! user_columns {
    () => {
        "u.id, u.org_id, u.customer_id, u.email, u.role, u.created_at_ms"
    };
}

/// A user as selected by [`user_columns!`].
pub(crate) type UserRow = (Uuid, Uuid, Option<Uuid>, String, String, i64);

pub(crate) fn decode(row: UserRow) -> StoreResult<User> {
    let (id, org_id, customer_id, email, role, created_at_ms) = row;
    Ok(User {
        id: UserId(id),
        org_id: OrgId(org_id),
        customer_id: customer_id.map(CustomerId),
        email,
        role: codec::role(&role)?,
        created_at_ms,
    })
}

/// Creates `user`; [`StoreError::Conflict`] if its id or its email within
/// its customer (or among the vendor's own users) is taken, or its vendor or customer does not exist.
pub(crate) async fn create(store: &PostgresStore, user: &User) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO users (id, org_id, customer_id, email, role, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user.id.0)
    .bind(user.org_id.0)
    .bind(user.customer_id.map(|c| c.0))
    .bind(&user.email)
    .bind(user.role.as_str())
    .bind(user.created_at_ms)
    .execute(&store.pool)
    .await
    .map_err(write_error("user"))?;
    Ok(())
}

/// The user `id`.
pub(crate) async fn get(store: &PostgresStore, id: UserId) -> StoreResult<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users u WHERE u.id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    row.map(decode).transpose()
}

/// Every user of `org` (vendor admins and customer users), or only those of
/// `customer`.
pub(crate) async fn list(
    store: &PostgresStore,
    org: OrgId,
    customer: Option<CustomerId>,
) -> StoreResult<Vec<User>> {
    let rows: Vec<UserRow> = sqlx::query_as(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users u WHERE u.org_id = $1 AND ($2::uuid IS NULL OR u.customer_id = $2)",
        by_creation!("u")
    ))
    .bind(org.0)
    .bind(customer.map(|c| c.0))
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    rows.into_iter().map(decode).collect()
}

/// Deletes the user `id`; true if it existed.
///
/// One statement: its tokens go by the foreign key's `ON DELETE CASCADE` in
/// the same atomic step.
pub(crate) async fn delete(store: &PostgresStore, id: UserId) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id.0)
        .execute(&store.pool)
        .await
        .map_err(StoreError::backend)?;
    Ok(done.rows_affected() > 0)
}
