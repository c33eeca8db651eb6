//! The `orgs` table: vendor organisations.

use distr_core::access::{Org, OrgId};
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
