//! The `entitlements` table: named grants of artifacts to customers, with
//! their items (see [`super::items`]).

use distr_core::access::{ArtifactId, CustomerId, Entitlement, EntitlementId, OrgId};
use distr_core::{StoreError, StoreResult};
use sqlx::types::Uuid;

use super::errors::write_error;
use super::items::{self, items_json};
use crate::PostgresStore;

/// The columns of an entitlement row with its items, in the order of
/// [`EntitlementRow`]. One statement reads both, so the items always belong
/// to the version of the entitlement read.
macro_rules! entitlement_columns {
    () => {
        concat!(
            "e.id, e.org_id, e.customer_id, e.name, e.expires_at_ms, e.created_at_ms, ",
            items_json!("e")
        )
    };
}

/// An entitlement as selected by [`entitlement_columns!`].
type EntitlementRow = (Uuid, Uuid, Uuid, String, Option<i64>, i64, String);

fn decode(row: EntitlementRow) -> StoreResult<Entitlement> {
    let (id, org_id, customer_id, name, expires_at_ms, created_at_ms, items) = row;
    Ok(Entitlement {
        id: EntitlementId(id),
        org_id: OrgId(org_id),
        customer_id: CustomerId(customer_id),
        name,
        expires_at_ms,
        items: items::decode(&items)?,
        created_at_ms,
    })
}

/// Creates the entitlement with its items in one transaction;
/// [`StoreError::Conflict`] if its id or its name for the customer is taken,
/// or its vendor or customer does not exist.
///
/// Of concurrent creations with one name, the first to insert holds the
/// unique index entry; the others wait for it to commit, then fail.
pub(crate) async fn create(store: &PostgresStore, e: &Entitlement) -> StoreResult<()> {
    let mut tx = store.write().await?;
    sqlx::query(
        "INSERT INTO entitlements (id, org_id, customer_id, name, expires_at_ms, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(e.id.0)
    .bind(e.org_id.0)
    .bind(e.customer_id.0)
    .bind(&e.name)
    .bind(e.expires_at_ms)
    .bind(e.created_at_ms)
    .execute(&mut *tx)
    .await
    .map_err(write_error("entitlement"))?;
    items::insert(&mut tx, e.id, &e.items).await?;
    // The vendor's first entitlement switches it to entitled for good.
    sqlx::query(
        "UPDATE orgs SET access_mode = 'entitled', access_mode_changed_at_ms = $2, \
         access_mode_changed_by = $3 WHERE id = $1 AND access_mode <> 'entitled'",
    )
    .bind(e.org_id.0)
    .bind(e.created_at_ms)
    .bind(format!("entitlement:{}", e.id))
    .execute(&mut *tx)
    .await
    .map_err(StoreError::backend)?;
    tx.commit().await.map_err(StoreError::backend)
}

/// Replaces the name, expiry and items of the entitlement `e.id` in one
/// transaction; true if it exists. Its vendor, customer and creation time
/// stay. [`StoreError::Conflict`], with nothing changed, if the new name is
/// taken for the customer.
///
/// The `UPDATE` locks the entitlement's row, so concurrent replacements of
/// one entitlement apply one after the other, each replacing all the items.
pub(crate) async fn update(store: &PostgresStore, e: &Entitlement) -> StoreResult<bool> {
    let mut tx = store.write().await?;
    let done = sqlx::query("UPDATE entitlements SET name = $2, expires_at_ms = $3 WHERE id = $1")
        .bind(e.id.0)
        .bind(&e.name)
        .bind(e.expires_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(write_error("entitlement"))?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    items::clear(&mut tx, e.id).await?;
    items::insert(&mut tx, e.id, &e.items).await?;
    tx.commit().await.map_err(StoreError::backend)?;
    Ok(true)
}

/// The entitlement `id` with its items.
pub(crate) async fn get(
    store: &PostgresStore,
    id: EntitlementId,
) -> StoreResult<Option<Entitlement>> {
    let row: Option<EntitlementRow> = sqlx::query_as(concat!(
        "SELECT ",
        entitlement_columns!(),
        " FROM entitlements e WHERE e.id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    row.map(decode).transpose()
}

/// The entitlements of `customer`, expired ones included.
pub(crate) async fn list(
    store: &PostgresStore,
    customer: CustomerId,
) -> StoreResult<Vec<Entitlement>> {
    let rows: Vec<EntitlementRow> = sqlx::query_as(concat!(
        "SELECT ",
        entitlement_columns!(),
        " FROM entitlements e WHERE e.customer_id = $1",
        by_creation!("e")
    ))
    .bind(customer.0)
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    rows.into_iter().map(decode).collect()
}

/// The entitlements with an item naming `artifact`.
pub(crate) async fn for_artifact(
    store: &PostgresStore,
    artifact: ArtifactId,
) -> StoreResult<Vec<Entitlement>> {
    let rows: Vec<EntitlementRow> = sqlx::query_as(concat!(
        "SELECT ",
        entitlement_columns!(),
        " FROM entitlements e WHERE EXISTS (SELECT 1 FROM entitlement_items x \
          WHERE x.artifact_id = $1 AND x.entitlement_id = e.id)",
        by_creation!("e")
    ))
    .bind(artifact.0)
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    rows.into_iter().map(decode).collect()
}

/// Deletes the entitlement `id`; true if it existed.
///
/// One statement: its items go by the foreign key's `ON DELETE CASCADE` in
/// the same atomic step.
pub(crate) async fn delete(store: &PostgresStore, id: EntitlementId) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM entitlements WHERE id = $1")
        .bind(id.0)
        .execute(&store.pool)
        .await
        .map_err(StoreError::backend)?;
    Ok(done.rows_affected() > 0)
}
