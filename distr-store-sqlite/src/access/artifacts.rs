//! The `artifacts` table: a vendor's artifacts, unique by name per vendor.

use distr_core::access::{Artifact, ArtifactId, OrgId};
use distr_core::{StoreError, StoreResult};

use super::codec::constraint;
use crate::codec::parse;
use crate::SqliteStore;

/// An artifact row: id, org_id, name, created_at_ms.
type ArtifactRow = (String, String, String, i64);

fn decode((id, org_id, name, created_at_ms): ArtifactRow) -> StoreResult<Artifact> {
    Ok(Artifact {
        id: parse("artifact id", &id)?,
        org_id: parse("artifact organisation id", &org_id)?,
        name,
        created_at_ms,
    })
}

/// Creates `artifact`; [`StoreError::Conflict`] if its id or its name within
/// the organisation is taken.
pub(crate) async fn create(store: &SqliteStore, artifact: &Artifact) -> StoreResult<()> {
    sqlx::query("INSERT INTO artifacts (id, org_id, name, created_at_ms) VALUES (?1, ?2, ?3, ?4)")
        .bind(artifact.id.to_string())
        .bind(artifact.org_id.to_string())
        .bind(&artifact.name)
        .bind(artifact.created_at_ms)
        .execute(&store.pool)
        .await
        .map_err(constraint("an artifact with this name exists"))?;
    Ok(())
}

/// The artifact `id`.
pub(crate) async fn get(store: &SqliteStore, id: ArtifactId) -> StoreResult<Option<Artifact>> {
    let row: Option<ArtifactRow> =
        sqlx::query_as("SELECT id, org_id, name, created_at_ms FROM artifacts WHERE id = ?1")
            .bind(id.to_string())
            .fetch_optional(&store.pool)
            .await
            .map_err(StoreError::backend)?;
    row.map(decode).transpose()
}

/// The artifact of `org` named `name`.
pub(crate) async fn get_by_name(
    store: &SqliteStore,
    org: OrgId,
    name: &str,
) -> StoreResult<Option<Artifact>> {
    let row: Option<ArtifactRow> = sqlx::query_as(
        "SELECT id, org_id, name, created_at_ms FROM artifacts WHERE org_id = ?1 AND name = ?2",
    )
    .bind(org.to_string())
    .bind(name)
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    row.map(decode).transpose()
}

/// The artifacts of `org`, by creation time, then id.
pub(crate) async fn list(store: &SqliteStore, org: OrgId) -> StoreResult<Vec<Artifact>> {
    let rows: Vec<ArtifactRow> = sqlx::query_as(
        "SELECT id, org_id, name, created_at_ms FROM artifacts WHERE org_id = ?1 \
         ORDER BY created_at_ms, id",
    )
    .bind(org.to_string())
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    rows.into_iter().map(decode).collect()
}

/// Deletes the artifact; true if it existed. Entitlement items naming it are
/// kept, as in the in-memory store.
pub(crate) async fn delete(store: &SqliteStore, id: ArtifactId) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM artifacts WHERE id = ?1")
        .bind(id.to_string())
        .execute(&store.pool)
        .await
        .map_err(StoreError::backend)?;
    Ok(done.rows_affected() > 0)
}
