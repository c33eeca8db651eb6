//! The `entitlements` and `entitlement_items` tables: named grants of
//! artifacts (and tags) to a customer.

use distr_core::access::{ArtifactId, CustomerId, Entitlement, EntitlementId, EntitlementItem};
use distr_core::{StoreError, StoreResult};

use super::errors::constraint;
use super::items::{self, selection_from_sql};
use crate::codec::parse;
use crate::SqliteStore;

const NAME_TAKEN: &str = "an entitlement with this name exists for the customer";

/// Entitlements matching `$filter` (on alias `e`) joined with their items,
/// one row per item (or one item-less row), in listing order and, within an
/// entitlement, item order; the columns are those of [`Row`].
macro_rules! select_entitlements {
    ($filter:literal) => {
        concat!(
            "SELECT e.id, e.org_id, e.customer_id, e.name, e.expires_at_ms, e.created_at_ms, \
             i.artifact_id, i.kind, i.patterns \
             FROM entitlements e LEFT JOIN entitlement_items i ON i.entitlement_id = e.id \
             WHERE ",
            $filter,
            " ORDER BY e.created_at_ms, e.id, i.position"
        )
    };
}

/// A row of [`select_entitlements!`]: the entitlement, then the item's
/// artifact id, selection kind and patterns (all `NULL` without items).
type Row = (
    String,
    String,
    String,
    String,
    Option<i64>,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Groups the rows of [`select_entitlements!`] into entitlements.
fn decode(rows: Vec<Row>) -> StoreResult<Vec<Entitlement>> {
    let mut out: Vec<Entitlement> = Vec::new();
    for row in rows {
        let (id, org_id, customer_id, name, expires_at_ms, created_at_ms, artifact, kind, patterns) =
            row;
        let id: EntitlementId = parse("entitlement id", &id)?;
        // Rows of one entitlement are adjacent.
        if out.last().map(|e| e.id) != Some(id) {
            out.push(Entitlement {
                id,
                org_id: parse("entitlement organisation id", &org_id)?,
                customer_id: parse("entitlement customer id", &customer_id)?,
                name,
                expires_at_ms,
                items: Vec::new(),
                created_at_ms,
            });
        }
        if let (Some(artifact), Some(kind), Some(patterns)) = (artifact, kind, patterns) {
            let item = EntitlementItem {
                artifact_id: parse("entitlement artifact id", &artifact)?,
                tags: selection_from_sql(&kind, &patterns)?,
            };
            if let Some(e) = out.last_mut() {
                e.items.push(item);
            }
        }
    }
    Ok(out)
}

/// Creates `e` with its items; [`StoreError::Conflict`] if its id or its name
/// within the customer is taken, or its customer does not exist.
pub(crate) async fn create(store: &SqliteStore, e: &Entitlement) -> StoreResult<()> {
    let id = e.id.to_string();
    let items = items::encode(e)?;
    let mut tx = store.write().await?;
    sqlx::query(
        "INSERT INTO entitlements (id, org_id, customer_id, name, expires_at_ms, created_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(&id)
    .bind(e.org_id.to_string())
    .bind(e.customer_id.to_string())
    .bind(&e.name)
    .bind(e.expires_at_ms)
    .bind(e.created_at_ms)
    .execute(&mut *tx)
    .await
    .map_err(constraint(NAME_TAKEN))?;
    items::insert(&mut tx, &id, items).await?;
    // The vendor's first entitlement switches it to entitled for good.
    sqlx::query(
        "UPDATE orgs SET access_mode = 'entitled', access_mode_changed_at_ms = ?1, \
         access_mode_changed_by = ?2 WHERE id = ?3 AND access_mode <> 'entitled'",
    )
    .bind(e.created_at_ms)
    .bind(format!("entitlement:{id}"))
    .bind(e.org_id.to_string())
    .execute(&mut *tx)
    .await
    .map_err(StoreError::backend)?;
    tx.commit().await.map_err(StoreError::backend)
}

/// Replaces the name, expiry and items of entitlement `e.id` in one
/// transaction; true if it exists, [`StoreError::Conflict`] (and nothing
/// changed) if another entitlement of its customer has the new name.
pub(crate) async fn update(store: &SqliteStore, e: &Entitlement) -> StoreResult<bool> {
    let id = e.id.to_string();
    let items = items::encode(e)?;
    let mut tx = store.write().await?;
    let done = sqlx::query("UPDATE entitlements SET name = ?1, expires_at_ms = ?2 WHERE id = ?3")
        .bind(&e.name)
        .bind(e.expires_at_ms)
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(constraint(NAME_TAKEN))?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    items::clear(&mut tx, &id).await?;
    items::insert(&mut tx, &id, items).await?;
    tx.commit().await.map_err(StoreError::backend)?;
    Ok(true)
}

/// The entitlement `id` with its items.
pub(crate) async fn get(
    store: &SqliteStore,
    id: EntitlementId,
) -> StoreResult<Option<Entitlement>> {
    let rows: Vec<Row> = sqlx::query_as(select_entitlements!("e.id = ?1"))
        .bind(id.to_string())
        .fetch_all(&store.pool)
        .await
        .map_err(StoreError::backend)?;
    Ok(decode(rows)?.pop())
}

/// The entitlements of `customer`, expired ones included, by creation time,
/// then id.
pub(crate) async fn list(
    store: &SqliteStore,
    customer: CustomerId,
) -> StoreResult<Vec<Entitlement>> {
    let rows: Vec<Row> = sqlx::query_as(select_entitlements!("e.customer_id = ?1"))
        .bind(customer.to_string())
        .fetch_all(&store.pool)
        .await
        .map_err(StoreError::backend)?;
    decode(rows)
}

/// The entitlements with an item naming `artifact`, by creation time, then id.
pub(crate) async fn for_artifact(
    store: &SqliteStore,
    artifact: ArtifactId,
) -> StoreResult<Vec<Entitlement>> {
    let rows: Vec<Row> = sqlx::query_as(select_entitlements!(
        "e.id IN (SELECT entitlement_id FROM entitlement_items WHERE artifact_id = ?1)"
    ))
    .bind(artifact.to_string())
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    decode(rows)
}

/// Deletes the entitlement with its items in one transaction; true if it existed.
pub(crate) async fn delete(store: &SqliteStore, id: EntitlementId) -> StoreResult<bool> {
    let id = id.to_string();
    let mut tx = store.write().await?;
    // The foreign key cascades too; deleting explicitly keeps the semantics
    // independent of the `foreign_keys` pragma.
    items::clear(&mut tx, &id).await?;
    let done = sqlx::query("DELETE FROM entitlements WHERE id = ?1")
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
    tx.commit().await.map_err(StoreError::backend)?;
    Ok(done.rows_affected() > 0)
}
