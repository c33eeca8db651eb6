//! The `uploads` table: chunked upload sessions.

use distr_core::store::{UploadPart, UploadRecord};
use distr_core::{RepoName, StoreError, StoreResult};

use crate::codec::{from_json, size_to_sql, to_json};
use crate::{repos, PostgresStore};

/// SQLSTATE `serialization_failure`: a concurrent transaction changed the row
/// first (only under `REPEATABLE READ` or `SERIALIZABLE` defaults).
const SERIALIZATION_FAILURE: &str = "40001";

/// The parts of `upload` as JSON and their total size.
fn encode_parts(upload: &UploadRecord) -> StoreResult<(String, i64)> {
    let total = upload
        .parts
        .iter()
        .try_fold(0u64, |acc, p| acc.checked_add(p.size));
    let total = total.map_or_else(|| size_to_sql(u64::MAX), size_to_sql)?;
    Ok((to_json(&upload.parts)?, total))
}

fn conflict(id: &str, why: &str) -> StoreError {
    StoreError::Conflict(format!("upload {id} {why}"))
}

/// Creates the session; [`StoreError::Conflict`] if its id is taken.
pub(crate) async fn create(store: &PostgresStore, upload: &UploadRecord) -> StoreResult<()> {
    let (parts, size) = encode_parts(upload)?;
    let mut tx = store.write().await?;
    let repo_id = repos::ensure(&mut tx, &upload.repo).await?;
    let done = sqlx::query(
        "INSERT INTO uploads (id, repo_id, parts, size, created_at_ms) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&upload.id)
    .bind(repo_id)
    .bind(parts)
    .bind(size)
    .bind(upload.created_at_ms)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::backend)?;
    if done.rows_affected() == 0 {
        // Dropping `tx` rolls back the repository row it may have added.
        return Err(conflict(&upload.id, "exists"));
    }
    tx.commit().await.map_err(StoreError::backend)
}

/// The session `id` if it belongs to `repo`.
pub(crate) async fn get(
    store: &PostgresStore,
    repo: &RepoName,
    id: &str,
) -> StoreResult<Option<UploadRecord>> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT u.parts, u.created_at_ms FROM uploads u JOIN repositories r ON r.id = u.repo_id \
         WHERE u.id = $1 AND r.name = $2",
    )
    .bind(id)
    .bind(repo.as_str())
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    row.map(|(parts, created_at_ms)| {
        let parts: Vec<UploadPart> = from_json("upload parts", &parts)?;
        Ok(UploadRecord {
            id: id.to_owned(),
            repo: repo.clone(),
            parts,
            created_at_ms,
        })
    })
    .transpose()
}

/// Replaces the session's parts if it still holds `expected_size` bytes, in
/// one compare-and-set statement.
///
/// Of concurrent updates, the first takes the row lock; under `READ
/// COMMITTED` the others then re-check the `WHERE` clause against the row it
/// committed, no longer match, and fail with [`StoreError::Conflict`].
pub(crate) async fn update(
    store: &PostgresStore,
    upload: &UploadRecord,
    expected_size: u64,
) -> StoreResult<()> {
    let (parts, size) = encode_parts(upload)?;
    // A size no stored upload can have cannot match.
    let Ok(expected) = i64::try_from(expected_size) else {
        return Err(conflict(&upload.id, "changed or is gone"));
    };
    let done = sqlx::query(
        "UPDATE uploads SET parts = $1, size = $2 \
         WHERE id = $3 AND size = $4 AND repo_id = (SELECT id FROM repositories WHERE name = $5)",
    )
    .bind(parts)
    .bind(size)
    .bind(&upload.id)
    .bind(expected)
    .bind(upload.repo.as_str())
    .execute(&store.pool)
    .await
    .map_err(|e| {
        let lost_race = e
            .as_database_error()
            .and_then(|d| d.code())
            .is_some_and(|c| c == SERIALIZATION_FAILURE);
        if lost_race {
            conflict(&upload.id, "changed or is gone")
        } else {
            StoreError::backend(e)
        }
    })?;
    if done.rows_affected() == 0 {
        return Err(conflict(&upload.id, "changed or is gone"));
    }
    Ok(())
}

/// Removes the session `id` if it belongs to `repo`; true if it did.
pub(crate) async fn delete(store: &PostgresStore, repo: &RepoName, id: &str) -> StoreResult<bool> {
    let done = sqlx::query(
        "DELETE FROM uploads \
         WHERE id = $1 AND repo_id = (SELECT id FROM repositories WHERE name = $2)",
    )
    .bind(id)
    .bind(repo.as_str())
    .execute(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(done.rows_affected() > 0)
}
