//! The `artifacts` table: a vendor's artifacts, unique by name per vendor,
//! with the upstream of pull-through artifacts; and the
//! `artifact_sync_status` table: how their upstream syncs went.

use distr_core::access::{Artifact, ArtifactId, ArtifactUpstream, OrgId, SyncStatus};
use distr_core::{StoreError, StoreResult};

use super::errors::constraint;
use crate::codec::parse;
use crate::SqliteStore;
use distr_core::store::codec::{upstream_from_sql, upstream_to_sql};

/// The columns of an artifact row, in the order of [`ArtifactRow`].
macro_rules! artifact_columns {
    () => {
        "id, org_id, name, created_at_ms, upstream_ref, upstream_auth_kind, \
         upstream_username, upstream_secret, upstream_insecure"
    };
}

/// An artifact as selected by [`artifact_columns!`]: id, org_id, name,
/// created_at_ms, then the [`UpstreamColumns`](distr_core::store::codec::UpstreamColumns).
type ArtifactRow = (
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<bool>,
);

fn decode(row: ArtifactRow) -> StoreResult<Artifact> {
    let (id, org_id, name, created_at_ms, reference, kind, username, secret, insecure) = row;
    Ok(Artifact {
        id: parse("artifact id", &id)?,
        org_id: parse("artifact organisation id", &org_id)?,
        name,
        upstream: upstream_from_sql((reference, kind, username, secret, insecure))?,
        created_at_ms,
    })
}

/// A sync status row: last_synced_at_ms, last_sync_attempt_at_ms,
/// last_sync_error.
type SyncStatusRow = (Option<i64>, Option<i64>, Option<String>);

/// Creates `artifact` with its upstream; [`StoreError::Conflict`] if its id
/// or its name within the organisation is taken.
pub(crate) async fn create(store: &SqliteStore, artifact: &Artifact) -> StoreResult<()> {
    let (reference, kind, username, secret, insecure) = upstream_to_sql(artifact.upstream.as_ref());
    sqlx::query(concat!(
        "INSERT INTO artifacts (",
        artifact_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    ))
    .bind(artifact.id.to_string())
    .bind(artifact.org_id.to_string())
    .bind(&artifact.name)
    .bind(artifact.created_at_ms)
    .bind(reference)
    .bind(kind)
    .bind(username)
    .bind(secret)
    .bind(insecure)
    .execute(&store.pool)
    .await
    .map_err(constraint("an artifact with this name exists"))?;
    Ok(())
}

/// The artifact `id`.
pub(crate) async fn get(store: &SqliteStore, id: ArtifactId) -> StoreResult<Option<Artifact>> {
    let row: Option<ArtifactRow> = sqlx::query_as(concat!(
        "SELECT ",
        artifact_columns!(),
        " FROM artifacts WHERE id = ?1"
    ))
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
    let row: Option<ArtifactRow> = sqlx::query_as(concat!(
        "SELECT ",
        artifact_columns!(),
        " FROM artifacts WHERE org_id = ?1 AND name = ?2"
    ))
    .bind(org.to_string())
    .bind(name)
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    row.map(decode).transpose()
}

/// The artifacts of `org`, by creation time, then id.
pub(crate) async fn list(store: &SqliteStore, org: OrgId) -> StoreResult<Vec<Artifact>> {
    let rows: Vec<ArtifactRow> = sqlx::query_as(concat!(
        "SELECT ",
        artifact_columns!(),
        " FROM artifacts WHERE org_id = ?1 ORDER BY created_at_ms, id"
    ))
    .bind(org.to_string())
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    rows.into_iter().map(decode).collect()
}

/// Every artifact with an upstream, of every organisation, by creation time,
/// then id.
pub(crate) async fn list_upstream(store: &SqliteStore) -> StoreResult<Vec<Artifact>> {
    let rows: Vec<ArtifactRow> = sqlx::query_as(concat!(
        "SELECT ",
        artifact_columns!(),
        " FROM artifacts WHERE upstream_ref IS NOT NULL ORDER BY created_at_ms, id"
    ))
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    rows.into_iter().map(decode).collect()
}

/// Sets (or, with `None`, clears) the upstream of the artifact `id`; true if
/// it exists. Moves the access version (the `artifacts` update trigger).
pub(crate) async fn update_upstream(
    store: &SqliteStore,
    id: ArtifactId,
    upstream: Option<&ArtifactUpstream>,
) -> StoreResult<bool> {
    let (reference, kind, username, secret, insecure) = upstream_to_sql(upstream);
    let done = sqlx::query(
        "UPDATE artifacts SET upstream_ref = ?2, upstream_auth_kind = ?3, \
         upstream_username = ?4, upstream_secret = ?5, upstream_insecure = ?6 \
         WHERE id = ?1",
    )
    .bind(id.to_string())
    .bind(reference)
    .bind(kind)
    .bind(username)
    .bind(secret)
    .bind(insecure)
    .execute(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(done.rows_affected() > 0)
}

/// Deletes the artifact with its sync status, in one transaction; true if it
/// existed. Entitlement items naming it are kept, as in the in-memory store.
pub(crate) async fn delete(store: &SqliteStore, id: ArtifactId) -> StoreResult<bool> {
    let id = id.to_string();
    let mut tx = store.write().await?;
    // The foreign key cascades too; deleting explicitly keeps the semantics
    // independent of the `foreign_keys` pragma.
    sqlx::query("DELETE FROM artifact_sync_status WHERE artifact_id = ?1")
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
    let done = sqlx::query("DELETE FROM artifacts WHERE id = ?1")
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
    tx.commit().await.map_err(StoreError::backend)?;
    Ok(done.rows_affected() > 0)
}

/// The sync status of the artifact `id`; the default when it has none (or
/// does not exist).
pub(crate) async fn get_sync_status(
    store: &SqliteStore,
    id: ArtifactId,
) -> StoreResult<SyncStatus> {
    let row: Option<SyncStatusRow> = sqlx::query_as(
        "SELECT last_synced_at_ms, last_sync_attempt_at_ms, last_sync_error \
         FROM artifact_sync_status WHERE artifact_id = ?1",
    )
    .bind(id.to_string())
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(
        row.map_or_else(SyncStatus::default, |(synced, attempt, error)| SyncStatus {
            last_synced_at_ms: synced,
            last_sync_attempt_at_ms: attempt,
            last_sync_error: error,
        }),
    )
}

/// Stores the sync status of the artifact `id`, replacing any; true if the
/// artifact exists (nothing is stored otherwise). Touches no table with an
/// access version trigger, so the access version stays.
pub(crate) async fn put_sync_status(
    store: &SqliteStore,
    id: ArtifactId,
    status: &SyncStatus,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO artifact_sync_status \
         (artifact_id, last_synced_at_ms, last_sync_attempt_at_ms, last_sync_error) \
         SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM artifacts WHERE id = ?1) \
         ON CONFLICT (artifact_id) DO UPDATE SET \
         last_synced_at_ms = excluded.last_synced_at_ms, \
         last_sync_attempt_at_ms = excluded.last_sync_attempt_at_ms, \
         last_sync_error = excluded.last_sync_error",
    )
    .bind(id.to_string())
    .bind(status.last_synced_at_ms)
    .bind(status.last_sync_attempt_at_ms)
    .bind(status.last_sync_error.as_deref())
    .execute(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(done.rows_affected() > 0)
}
