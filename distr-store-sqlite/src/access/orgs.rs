//! The `orgs` table: vendor organisations.

use distr_core::access::{AccessMode, AccessModeRecord, Org, OrgId};
use distr_core::{StoreError, StoreResult};

use super::errors::constraint;
use crate::codec::parse;
use crate::SqliteStore;

/// An organisation row: id, slug, name, created_at_ms.
type OrgRow = (String, String, String, i64);

fn decode((id, slug, name, created_at_ms): OrgRow) -> StoreResult<Org> {
    Ok(Org {
        id: parse("organisation id", &id)?,
        slug,
        name,
        created_at_ms,
    })
}

/// Creates `org`; [`StoreError::Conflict`] if its id or slug is taken.
pub(crate) async fn create(store: &SqliteStore, org: &Org) -> StoreResult<()> {
    sqlx::query("INSERT INTO orgs (id, slug, name, created_at_ms) VALUES (?1, ?2, ?3, ?4)")
        .bind(org.id.to_string())
        .bind(&org.slug)
        .bind(&org.name)
        .bind(org.created_at_ms)
        .execute(&store.pool)
        .await
        .map_err(constraint("an organisation with this slug exists"))?;
    Ok(())
}

/// The organisation `id`.
pub(crate) async fn get(store: &SqliteStore, id: OrgId) -> StoreResult<Option<Org>> {
    let row: Option<OrgRow> =
        sqlx::query_as("SELECT id, slug, name, created_at_ms FROM orgs WHERE id = ?1")
            .bind(id.to_string())
            .fetch_optional(&store.pool)
            .await
            .map_err(StoreError::backend)?;
    row.map(decode).transpose()
}

/// The organisation with `slug`.
pub(crate) async fn get_by_slug(store: &SqliteStore, slug: &str) -> StoreResult<Option<Org>> {
    let row: Option<OrgRow> =
        sqlx::query_as("SELECT id, slug, name, created_at_ms FROM orgs WHERE slug = ?1")
            .bind(slug)
            .fetch_optional(&store.pool)
            .await
            .map_err(StoreError::backend)?;
    row.map(decode).transpose()
}

/// Every organisation, by creation time, then id.
pub(crate) async fn list(store: &SqliteStore) -> StoreResult<Vec<Org>> {
    let rows: Vec<OrgRow> =
        sqlx::query_as("SELECT id, slug, name, created_at_ms FROM orgs ORDER BY created_at_ms, id")
            .fetch_all(&store.pool)
            .await
            .map_err(StoreError::backend)?;
    rows.into_iter().map(decode).collect()
}

/// The access mode of organisation `id` (entitled when it does not exist).
pub(crate) async fn access_mode(store: &SqliteStore, id: OrgId) -> StoreResult<AccessModeRecord> {
    let row: Option<(String, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT access_mode, access_mode_changed_at_ms, access_mode_changed_by \
         FROM orgs WHERE id = ?1",
    )
    .bind(id.to_string())
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    let Some((mode, changed_at_ms, changed_by)) = row else {
        return Ok(AccessModeRecord::unknown_org());
    };
    Ok(AccessModeRecord {
        mode: parse("organisation access mode", &mode)?,
        changed_at_ms,
        changed_by,
    })
}

/// Sets the access mode of organisation `id`; false if it does not exist.
pub(crate) async fn set_access_mode(
    store: &SqliteStore,
    id: OrgId,
    mode: AccessMode,
    changed_by: &str,
    at_ms: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE orgs SET access_mode = ?1, access_mode_changed_at_ms = ?2, \
         access_mode_changed_by = ?3 WHERE id = ?4",
    )
    .bind(mode.as_str())
    .bind(at_ms)
    .bind(changed_by)
    .bind(id.to_string())
    .execute(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(done.rows_affected() == 1)
}
