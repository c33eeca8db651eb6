//! The `orgs` table: vendor organisations.

use distr_core::access::{AccessMode, AccessModeRecord, Org, OrgId};
use distr_core::store::codec::parse;
use distr_core::{StoreError, StoreResult};
use sqlx::types::Uuid;

use super::errors::write_error;
use crate::PostgresStore;

/// The columns of an organisation row, in the order of [`OrgRow`].
macro_rules! org_columns {
    () => {
        "o.id, o.slug, o.name, o.created_at_ms"
    };
}

/// An organisation as selected by [`org_columns!`].
type OrgRow = (Uuid, String, String, i64);

fn decode((id, slug, name, created_at_ms): OrgRow) -> Org {
    Org {
        id: OrgId(id),
        slug,
        name,
        created_at_ms,
    }
}

/// Creates `org`; [`StoreError::Conflict`] if its id or slug is taken.
pub(crate) async fn create(store: &PostgresStore, org: &Org) -> StoreResult<()> {
    sqlx::query("INSERT INTO orgs (id, slug, name, created_at_ms) VALUES ($1, $2, $3, $4)")
        .bind(org.id.0)
        .bind(&org.slug)
        .bind(&org.name)
        .bind(org.created_at_ms)
        .execute(&store.pool)
        .await
        .map_err(write_error("organisation"))?;
    Ok(())
}

/// The organisation `id`.
pub(crate) async fn get(store: &PostgresStore, id: OrgId) -> StoreResult<Option<Org>> {
    let row: Option<OrgRow> = sqlx::query_as(concat!(
        "SELECT ",
        org_columns!(),
        " FROM orgs o WHERE o.id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(row.map(decode))
}

/// The organisation with `slug`.
pub(crate) async fn get_by_slug(store: &PostgresStore, slug: &str) -> StoreResult<Option<Org>> {
    let row: Option<OrgRow> = sqlx::query_as(concat!(
        "SELECT ",
        org_columns!(),
        " FROM orgs o WHERE o.slug = $1"
    ))
    .bind(slug)
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(row.map(decode))
}

/// Every organisation.
pub(crate) async fn list(store: &PostgresStore) -> StoreResult<Vec<Org>> {
    let rows: Vec<OrgRow> = sqlx::query_as(concat!(
        "SELECT ",
        org_columns!(),
        " FROM orgs o",
        by_creation!("o")
    ))
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(rows.into_iter().map(decode).collect())
}

/// The access mode of organisation `id` (entitled when it does not exist).
pub(crate) async fn access_mode(store: &PostgresStore, id: OrgId) -> StoreResult<AccessModeRecord> {
    let row: Option<(String, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT access_mode, access_mode_changed_at_ms, access_mode_changed_by \
         FROM orgs WHERE id = $1",
    )
    .bind(id.0)
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
    store: &PostgresStore,
    id: OrgId,
    mode: AccessMode,
    changed_by: &str,
    at_ms: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE orgs SET access_mode = $2, access_mode_changed_at_ms = $3, \
         access_mode_changed_by = $4 WHERE id = $1",
    )
    .bind(id.0)
    .bind(mode.as_str())
    .bind(at_ms)
    .bind(changed_by)
    .execute(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(done.rows_affected() == 1)
}
