//! The `customers` table: customer organisations of a vendor, and deleting a
//! customer with everything it owns.

use distr_core::access::{Customer, CustomerId, OrgId};
use distr_core::{StoreError, StoreResult};
use sqlx::types::Uuid;

use super::errors::write_error;
use crate::PostgresStore;

/// The columns of a customer row, in the order of [`CustomerRow`].
macro_rules! customer_columns {
    () => {
        "c.id, c.org_id, c.name, c.created_at_ms"
    };
}

/// A customer as selected by [`customer_columns!`].
type CustomerRow = (Uuid, Uuid, String, i64);

fn decode((id, org_id, name, created_at_ms): CustomerRow) -> Customer {
    Customer {
        id: CustomerId(id),
        org_id: OrgId(org_id),
        name,
        created_at_ms,
    }
}

/// Creates `customer`; [`StoreError::Conflict`] if its id is taken or its
/// vendor does not exist.
pub(crate) async fn create(store: &PostgresStore, customer: &Customer) -> StoreResult<()> {
    sqlx::query("INSERT INTO customers (id, org_id, name, created_at_ms) VALUES ($1, $2, $3, $4)")
        .bind(customer.id.0)
        .bind(customer.org_id.0)
        .bind(&customer.name)
        .bind(customer.created_at_ms)
        .execute(&store.pool)
        .await
        .map_err(write_error("customer"))?;
    Ok(())
}

/// The customer `id`.
pub(crate) async fn get(store: &PostgresStore, id: CustomerId) -> StoreResult<Option<Customer>> {
    let row: Option<CustomerRow> = sqlx::query_as(concat!(
        "SELECT ",
        customer_columns!(),
        " FROM customers c WHERE c.id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(row.map(decode))
}

/// The customers of `org`.
pub(crate) async fn list(store: &PostgresStore, org: OrgId) -> StoreResult<Vec<Customer>> {
    let rows: Vec<CustomerRow> = sqlx::query_as(concat!(
        "SELECT ",
        customer_columns!(),
        " FROM customers c WHERE c.org_id = $1",
        by_creation!("c")
    ))
    .bind(org.0)
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(rows.into_iter().map(decode).collect())
}

/// Renames the customer (nothing else changes); true if it exists.
pub(crate) async fn rename(store: &PostgresStore, customer: &Customer) -> StoreResult<bool> {
    let done = sqlx::query("UPDATE customers SET name = $2 WHERE id = $1")
        .bind(customer.id.0)
        .bind(&customer.name)
        .execute(&store.pool)
        .await
        .map_err(StoreError::backend)?;
    Ok(done.rows_affected() > 0)
}

/// Deletes the customer `id` with its users, their tokens, and its
/// entitlements with their items, in one transaction; true if it existed.
///
/// The customer row is locked first: rows that refer to it take a key-share
/// lock on it when they are inserted, so no user or entitlement of the
/// customer can be added until this transaction ends. The dependent rows are
/// deleted explicitly, children first; the foreign keys' `ON DELETE CASCADE`
/// is only a safety net.
pub(crate) async fn delete(store: &PostgresStore, id: CustomerId) -> StoreResult<bool> {
    let mut tx = store.write().await?;
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM customers WHERE id = $1 FOR UPDATE")
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
    if found.is_none() {
        return Ok(false);
    }
    for statement in [
        "DELETE FROM tokens WHERE user_id IN (SELECT id FROM users WHERE customer_id = $1)",
        "DELETE FROM users WHERE customer_id = $1",
        "DELETE FROM entitlement_items \
         WHERE entitlement_id IN (SELECT id FROM entitlements WHERE customer_id = $1)",
        "DELETE FROM entitlements WHERE customer_id = $1",
        "DELETE FROM customers WHERE id = $1",
    ] {
        sqlx::query(statement)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
    }
    tx.commit().await.map_err(StoreError::backend)?;
    Ok(true)
}
