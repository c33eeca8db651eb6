//! The `customers` table: customer organisations of a vendor.

use distr_core::access::{Customer, CustomerId, OrgId};
use distr_core::{StoreError, StoreResult};

use super::errors::constraint;
use crate::codec::parse;
use crate::SqliteStore;

/// A customer row: id, org_id, name, created_at_ms.
type CustomerRow = (String, String, String, i64);

fn decode((id, org_id, name, created_at_ms): CustomerRow) -> StoreResult<Customer> {
    Ok(Customer {
        id: parse("customer id", &id)?,
        org_id: parse("customer organisation id", &org_id)?,
        name,
        created_at_ms,
    })
}

/// Creates `customer`; [`StoreError::Conflict`] if its id is taken or its
/// organisation does not exist.
pub(crate) async fn create(store: &SqliteStore, customer: &Customer) -> StoreResult<()> {
    sqlx::query("INSERT INTO customers (id, org_id, name, created_at_ms) VALUES (?1, ?2, ?3, ?4)")
        .bind(customer.id.to_string())
        .bind(customer.org_id.to_string())
        .bind(&customer.name)
        .bind(customer.created_at_ms)
        .execute(&store.pool)
        .await
        .map_err(constraint("customer exists"))?;
    Ok(())
}

/// The customer `id`.
pub(crate) async fn get(store: &SqliteStore, id: CustomerId) -> StoreResult<Option<Customer>> {
    let row: Option<CustomerRow> =
        sqlx::query_as("SELECT id, org_id, name, created_at_ms FROM customers WHERE id = ?1")
            .bind(id.to_string())
            .fetch_optional(&store.pool)
            .await
            .map_err(StoreError::backend)?;
    row.map(decode).transpose()
}

/// The customers of `org`, by creation time, then id.
pub(crate) async fn list(store: &SqliteStore, org: OrgId) -> StoreResult<Vec<Customer>> {
    let rows: Vec<CustomerRow> = sqlx::query_as(
        "SELECT id, org_id, name, created_at_ms FROM customers WHERE org_id = ?1 \
         ORDER BY created_at_ms, id",
    )
    .bind(org.to_string())
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    rows.into_iter().map(decode).collect()
}

/// Renames the customer; true if it exists.
pub(crate) async fn update(store: &SqliteStore, customer: &Customer) -> StoreResult<bool> {
    let done = sqlx::query("UPDATE customers SET name = ?1 WHERE id = ?2")
        .bind(&customer.name)
        .bind(customer.id.to_string())
        .execute(&store.pool)
        .await
        .map_err(StoreError::backend)?;
    Ok(done.rows_affected() > 0)
}

/// Deletes the customer with its users, their tokens, and its entitlements
/// with their items, in one transaction; true if it existed.
pub(crate) async fn delete(store: &SqliteStore, id: CustomerId) -> StoreResult<bool> {
    let id = id.to_string();
    let mut tx = store.write().await?;
    let done = sqlx::query("DELETE FROM customers WHERE id = ?1")
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    // The foreign keys cascade too; deleting explicitly keeps the semantics
    // independent of the `foreign_keys` pragma.
    for statement in [
        "DELETE FROM tokens WHERE user_id IN (SELECT id FROM users WHERE customer_id = ?1)",
        "DELETE FROM users WHERE customer_id = ?1",
        "DELETE FROM entitlement_items WHERE entitlement_id IN \
         (SELECT id FROM entitlements WHERE customer_id = ?1)",
        "DELETE FROM entitlements WHERE customer_id = ?1",
    ] {
        sqlx::query(statement)
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
    }
    tx.commit().await.map_err(StoreError::backend)?;
    Ok(true)
}
