//! The `artifacts` table: the artifacts (repositories) of a vendor, with the
//! upstream of pull-through artifacts; and the `artifact_sync_status` table:
//! how their upstream syncs went.

use distr_core::access::{Artifact, ArtifactId, ArtifactUpstream, OrgId, SyncStatus};
use distr_core::{StoreError, StoreResult};
use sqlx::types::Uuid;

use super::errors::{write_error, FOREIGN_KEY_VIOLATION};
use crate::PostgresStore;
use distr_core::store::codec::{upstream_from_sql, upstream_to_sql};

/// The columns of an artifact row, in the order of [`ArtifactRow`].
macro_rules! artifact_columns {
    () => {
        "a.id, a.org_id, a.name, a.created_at_ms, a.upstream_ref, a.upstream_auth_kind, \
         a.upstream_username, a.upstream_secret, a.upstream_insecure"
    };
}

/// An artifact as selected by [`artifact_columns!`]: id, org_id, name,
/// created_at_ms, then the
/// [`UpstreamColumns`](distr_core::store::codec::UpstreamColumns).
type ArtifactRow = (
    Uuid,
    Uuid,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<bool>,
);

/// An artifact row; [`StoreError::Corrupt`] when its upstream is invalid.
fn decode(row: ArtifactRow) -> StoreResult<Artifact> {
    let (id, org_id, name, created_at_ms, reference, kind, username, secret, insecure) = row;
    Ok(Artifact {
        id: ArtifactId(id),
        org_id: OrgId(org_id),
        name,
        upstream: upstream_from_sql((reference, kind, username, secret, insecure))?,
        created_at_ms,
    })
}

/// A sync status row: last_synced_at_ms, last_sync_attempt_at_ms,
/// last_sync_error.
type SyncStatusRow = (Option<i64>, Option<i64>, Option<String>);

/// Creates `artifact` with its upstream; [`StoreError::Conflict`] if its id
/// or its name within the vendor is taken, or its vendor does not exist.
pub(crate) async fn create(store: &PostgresStore, artifact: &Artifact) -> StoreResult<()> {
    let (reference, kind, username, secret, insecure) = upstream_to_sql(artifact.upstream.as_ref());
    sqlx::query(
        "INSERT INTO artifacts (id, org_id, name, created_at_ms, upstream_ref, \
         upstream_auth_kind, upstream_username, upstream_secret, upstream_insecure) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(artifact.id.0)
    .bind(artifact.org_id.0)
    .bind(&artifact.name)
    .bind(artifact.created_at_ms)
    .bind(reference)
    .bind(kind)
    .bind(username)
    .bind(secret)
    .bind(insecure)
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
    row.map(decode).transpose()
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
    row.map(decode).transpose()
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
    rows.into_iter().map(decode).collect()
}

/// Every artifact with an upstream, of every vendor.
pub(crate) async fn list_upstream(store: &PostgresStore) -> StoreResult<Vec<Artifact>> {
    let rows: Vec<ArtifactRow> = sqlx::query_as(concat!(
        "SELECT ",
        artifact_columns!(),
        " FROM artifacts a WHERE a.upstream_ref IS NOT NULL",
        by_creation!("a")
    ))
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    rows.into_iter().map(decode).collect()
}

/// Sets (or, with `None`, clears) the upstream of the artifact `id`; true if
/// it exists. Moves the access version (the `artifacts` trigger).
pub(crate) async fn update_upstream(
    store: &PostgresStore,
    id: ArtifactId,
    upstream: Option<&ArtifactUpstream>,
) -> StoreResult<bool> {
    let (reference, kind, username, secret, insecure) = upstream_to_sql(upstream);
    let done = sqlx::query(
        "UPDATE artifacts SET upstream_ref = $2, upstream_auth_kind = $3, \
         upstream_username = $4, upstream_secret = $5, upstream_insecure = $6 \
         WHERE id = $1",
    )
    .bind(id.0)
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

/// Deletes the artifact `id`; true if it existed. Its sync status goes with
/// it (the foreign key cascades within the statement). Entitlement items
/// naming it are kept, as the in-memory store keeps them.
pub(crate) async fn delete(store: &PostgresStore, id: ArtifactId) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM artifacts WHERE id = $1")
        .bind(id.0)
        .execute(&store.pool)
        .await
        .map_err(StoreError::backend)?;
    Ok(done.rows_affected() > 0)
}

/// The sync status of the artifact `id`; the default when it has none (or
/// does not exist).
pub(crate) async fn get_sync_status(
    store: &PostgresStore,
    id: ArtifactId,
) -> StoreResult<SyncStatus> {
    let row: Option<SyncStatusRow> = sqlx::query_as(
        "SELECT last_synced_at_ms, last_sync_attempt_at_ms, last_sync_error \
         FROM artifact_sync_status WHERE artifact_id = $1",
    )
    .bind(id.0)
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(row.map_or_else(SyncStatus::default, sync_status))
}

fn sync_status((synced, attempt, error): SyncStatusRow) -> SyncStatus {
    SyncStatus {
        last_synced_at_ms: synced,
        last_sync_attempt_at_ms: attempt,
        last_sync_error: error,
    }
}

/// Stores the sync status of the artifact `id`, replacing any, in one
/// statement; true if the artifact exists (nothing is stored otherwise).
/// `artifact_sync_status` has no access version trigger, so the access
/// version stays.
///
/// An artifact deleted concurrently, between the statement's existence check
/// and its insert, fails the foreign key: that is a missing artifact too.
pub(crate) async fn put_sync_status(
    store: &PostgresStore,
    id: ArtifactId,
    status: &SyncStatus,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO artifact_sync_status \
         (artifact_id, last_synced_at_ms, last_sync_attempt_at_ms, last_sync_error) \
         SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM artifacts WHERE id = $1) \
         ON CONFLICT (artifact_id) DO UPDATE SET \
         last_synced_at_ms = excluded.last_synced_at_ms, \
         last_sync_attempt_at_ms = excluded.last_sync_attempt_at_ms, \
         last_sync_error = excluded.last_sync_error",
    )
    .bind(id.0)
    .bind(status.last_synced_at_ms)
    .bind(status.last_sync_attempt_at_ms)
    .bind(status.last_sync_error.as_deref())
    .execute(&store.pool)
    .await;
    match done {
        Ok(done) => Ok(done.rows_affected() > 0),
        Err(e) if is_foreign_key_violation(&e) => Ok(false),
        Err(e) => Err(StoreError::backend(e)),
    }
}

/// True when `e` is a foreign key violation.
fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == FOREIGN_KEY_VIOLATION)
}
