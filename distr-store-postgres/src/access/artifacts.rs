//! The `artifacts` table: the artifacts (repositories) of a vendor.

use distr_core::access::{Artifact, ArtifactId, OrgId};
use distr_core::{StoreError, StoreResult};
use sqlx::types::Uuid;

use super::errors::write_error;
use crate::PostgresStore;

/// The columns of an artifact row, in the order of [`ArtifactRow`].
macro_rules! artifact_columns {
    () => {
        "a.id, a.org_id, a.name, a.created_at_ms"
    };
}

/// An artifact as selected by [`artifact_columns!`].
type ArtifactRow = (Uuid, Uuid, String, i64);

fn decode((id, org_id, name, created_at_ms): ArtifactRow) -> Artifact {
    Artifact {
        id: ArtifactId(id),
        org_id: OrgId(org_id),
        name,
        created_at_ms,
    }
}

/// Creates `artifact`; [`StoreError::Conflict`] if its id or its name within
/// the vendor is taken, or its vendor does not exist.
pub(crate) async fn create(store: &PostgresStore, artifact: &Artifact) -> StoreResult<()> {
    sqlx::query("INSERT INTO artifacts (id, org_id, name, created_at_ms) VALUES ($1, $2, $3, $4)")
        .bind(artifact.id.0)
        .bind(artifact.org_id.0)
        .bind(&artifact.name)
        .bind(artifact.created_at_ms)
        .execute(&store.pool)
        .await
        .map_err(write_error("artifact"))?;
    Ok(())
}

/// The artifact `id`.
pub(crate) async fn get(store: &PostgresStore, id: ArtifactId) -> StoreResult<Option<Artifact>> {
    let row: Option<ArtifactRow> = sqlx::query_as(concat!(
        "SELECT ",
        artifact_columns!(),
        " FROM artifacts a WHERE a.id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(row.map(decode))
}

/// The artifact `name` of `org`.
pub(crate) async fn get_by_name(
    store: &PostgresStore,
    org: OrgId,
    name: &str,
) -> StoreResult<Option<Artifact>> {
    let row: Option<ArtifactRow> = sqlx::query_as(concat!(
        "SELECT ",
        artifact_columns!(),
        " FROM artifacts a WHERE a.org_id = $1 AND a.name = $2"
    ))
    .bind(org.0)
    .bind(name)
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(row.map(decode))
}

/// The artifacts of `org`.
pub(crate) async fn list(store: &PostgresStore, org: OrgId) -> StoreResult<Vec<Artifact>> {
    let rows: Vec<ArtifactRow> = sqlx::query_as(concat!(
        "SELECT ",
        artifact_columns!(),
        " FROM artifacts a WHERE a.org_id = $1",
        by_creation!("a")
    ))
    .bind(org.0)
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(rows.into_iter().map(decode).collect())
}

/// Deletes the artifact `id`; true if it existed. Entitlement items naming
/// it are kept, as the in-memory store keeps them.
pub(crate) async fn delete(store: &PostgresStore, id: ArtifactId) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM artifacts WHERE id = $1")
        .bind(id.0)
        .execute(&store.pool)
        .await
        .map_err(StoreError::backend)?;
    Ok(done.rows_affected() > 0)
}
